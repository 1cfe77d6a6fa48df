//! The app in a real webview: this crate's binary (the React page of `../dist`, the kernel
//! component running in WebKitGTK) driven over plain W3C WebDriver through `tauri-driver`
//! (which runs `WebKitWebDriver`), on a virtual X display (`Xvfb`).
//!
//! Sign in; add an item to list 1; the item shows, list 1 was fetched exactly once more (its
//! `todos` instance was invalidated), and list 3 (same context, other params), `lists` and `me`
//! were not fetched again. A screenshot goes to `target/tauri-app-webview.png`. Then Bob sees
//! his list and the shared one, not Alice's.
//!
//! Needs `Xvfb`, `tauri-driver` and `WebKitWebDriver` (`scripts/test-tauri.sh` installs them)
//! and `../dist` (`npm run build`). Without the tools the test says SKIP, unless
//! `MIZAN_REQUIRE_WEBVIEW=1` (the test script sets it), when it fails.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A child process killed (with its process group) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // The whole group: tauri-driver's WebKitWebDriver, and the app it started.
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(command: &mut Command) -> Running {
    use std::os::unix::process::CommandExt;
    Running(command.process_group(0).spawn().unwrap_or_else(|e| panic!("cannot start {command:?}: {e}")))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Xvfb on the first free display (it writes the number to `-displayfd`).
fn start_xvfb() -> (Running, String) {
    let mut xvfb = spawn(
        Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x900x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut line = String::new();
    BufReader::new(xvfb.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let display = format!(":{}", line.trim());
    assert!(line.trim().parse::<u32>().is_ok(), "Xvfb did not say its display: {line:?}");
    (xvfb, display)
}

struct Driver {
    agent: ureq::Agent,
    base: String,
    session: String,
}

impl Driver {
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.unwrap_or(json!({}))),
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status();
        let answer: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        answer["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn find(&self, css: &str) -> String {
        let found = self.request("POST", &self.session_path("/element"), Some(json!({"using": "css selector", "value": css})));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_string()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.request("POST", &self.session_path(&format!("/element/{id}/click")), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.request("POST", &self.session_path(&format!("/element/{id}/value")), Some(json!({"text": text})));
    }

    fn script(&self, script: &str) -> Value {
        self.request("POST", &self.session_path("/execute/sync"), Some(json!({"script": script, "args": []})))
    }

    /// The page as the test reads it: who is signed in, each list's items, the request counts.
    fn page(&self) -> Value {
        self.script(
            r#"const list = (id) => {
                 const ul = document.getElementById('list-' + id);
                 if (!ul) return null;
                 return { fetching: ul.dataset.fetching,
                          items: [...ul.querySelectorAll('li')].map((li) => li.textContent),
                          pending: ul.querySelectorAll('li.pending').length };
               };
               return { whoami: document.getElementById('whoami')?.textContent ?? null,
                        lists: { 1: list(1), 2: list(2), 3: list(3) },
                        requests: window.__mizan ? window.__mizan.requests() : null };"#,
        )
    }

    /// Poll the page until `done` holds (30 s at most).
    fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let page = self.page();
            if done(&page) {
                return page;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}; the page: {page}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A screenshot of what is painted: two animation frames first, so the last DOM change is
    /// on screen (under Xvfb a capture right after a change can show the previous paint).
    fn screenshot(&self, to: &Path) {
        use base64::Engine;
        let frames = "const done = arguments[arguments.length - 1]; \
                      requestAnimationFrame(() => requestAnimationFrame(() => done(true)));";
        self.request("POST", &self.session_path("/execute/async"), Some(json!({"script": frames, "args": []})));
        let png = self.request("GET", &self.session_path("/screenshot"), None);
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(to, bytes).unwrap();
    }
}

fn count(page: &Value, name: &str) -> u64 {
    page["requests"][name].as_u64().unwrap_or(0)
}

fn items(page: &Value, list: u32) -> Vec<String> {
    page["lists"][list.to_string()]["items"].as_array().map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

fn settled(page: &Value, list: u32) -> bool {
    let l = &page["lists"][list.to_string()];
    l["fetching"] == "false" && l["pending"] == 0 && !items(page, list).is_empty()
}

#[test]
fn a_mutation_refreshes_the_list_it_affects_and_nothing_else() {
    let tools = ["Xvfb", "tauri-driver", "WebKitWebDriver"];
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        assert!(std::env::var("MIZAN_REQUIRE_WEBVIEW").is_err(), "missing {missing:?} (scripts/test-tauri.sh installs them)");
        eprintln!("SKIP: {} not installed (scripts/test-tauri.sh installs them)", missing.join(", "));
        return;
    }
    let (_xvfb, display) = start_xvfb();
    let (port, native_port) = (free_port(), free_port());
    let _driver = spawn(
        Command::new("tauri-driver")
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("DISPLAY", &display)
            .stdout(Stdio::null()),
    );
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while agent.get(format!("{base}/status")).call().is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "tauri-driver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let app = env!("CARGO_BIN_EXE_mizan-tauri-app");
    let capabilities = json!({"capabilities": {"alwaysMatch": {"tauri:options": {"application": app}}}});
    let mut created: Value = agent.post(format!("{base}/session")).send_json(capabilities).unwrap().body_mut().read_json().unwrap();
    let session = created["value"]["sessionId"].take();
    let driver = Driver { agent, base, session: session.as_str().unwrap_or_else(|| panic!("no session: {created}")).to_string() };

    driver.wait_for("the kernel to load and `me` to answer", |p| p["whoami"] == "Not signed in");
    driver.click("#sign-in-1");
    let before = driver.wait_for("Alice's lists", |p| p["whoami"] == "Signed in as Alice" && settled(p, 1) && settled(p, 3));
    assert!(before["lists"]["2"].is_null(), "Alice sees Bob's list: {before}");
    assert_eq!(items(&before, 1), ["Buy milk"]);

    driver.type_into("#new-1", "Walk the dog");
    driver.click("#add-1");
    let after = driver.wait_for("the new item, confirmed", |p| {
        settled(p, 1) && items(p, 1).iter().filter(|t| *t == "Walk the dog").count() == 1 && count(p, "fetch todos?list_id=1") > count(&before, "fetch todos?list_id=1")
    });
    // Anything still in flight would show now.
    std::thread::sleep(Duration::from_millis(500));
    let after_wait = driver.page();
    assert_eq!(after_wait["requests"], after["requests"], "requests after the page settled");
    assert_eq!(items(&after, 1), ["Buy milk", "Walk the dog"]);
    for (name, more) in [
        ("call add_todo", 1),
        ("fetch todos?list_id=1", 1), // the affected instance: refetched once
        ("fetch todos?list_id=3", 0), // same context, other params: untouched
        ("fetch lists", 0),
        ("fetch me", 0),
    ] {
        assert_eq!(count(&after, name), count(&before, name) + more, "{name}: before {}, after {}", before["requests"], after["requests"]);
    }
    assert_eq!(items(&after, 3), items(&before, 3));

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../target/tauri-app-webview.png");
    let shot: PathBuf = shot.components().collect();
    driver.screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());

    // Identity is the app's: Bob sees his list and the shared one, not Alice's.
    driver.click("#sign-in-2");
    let bob = driver.wait_for("Bob's lists", |p| p["whoami"] == "Signed in as Bob" && settled(p, 2) && settled(p, 3));
    assert!(bob["lists"]["1"].is_null(), "Bob sees Alice's list: {bob}");
    assert_eq!(items(&bob, 2), ["Fix the bike"]);

    driver.request("DELETE", &driver.session_path(""), None);
}
