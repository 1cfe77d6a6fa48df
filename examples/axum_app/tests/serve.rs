//! The built `axum_app` binary, served for real on a free port: answers the session endpoint,
//! and passes the wire probe suite (tests/wire/run_wire.py) with the in-memory store when
//! `python3` is installed. (Having this test also makes `cargo test --workspace` build the
//! binary that python-shims/tests/test_server_wire.py runs with Redis and without a cache.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct App(Child, u16);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> App {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_axum_app"))
        .args(["--port", &port.to_string()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let app = App(child, port);
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "axum_app did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    app
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_the_protocol() {
    let app = start(&["--no-cache"]);
    let resp = get(app.1, "/api/mizan/session/");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("cache-control: no-store\r\n"), "{resp}");
    assert!(resp.ends_with("\r\n\r\n{\"csrfToken\":null}"), "{resp}");
    let resp = get(app.1, "/api/mizan/ctx/catalog/");
    assert!(resp.ends_with(r#"{"catalog_categories":["bakery","dairy","fruit"]}"#), "{resp}");
}

#[test]
fn passes_the_wire_probes_with_the_memory_store() {
    let python = ["python3", "python"].into_iter().find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(python) = python else {
        eprintln!("SKIP: no python3 to run tests/wire/run_wire.py");
        return;
    };
    let app = start(&["--cache", "memory"]);
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/wire/run_wire.py");
    let out = Command::new(python).arg(runner).arg(format!("http://127.0.0.1:{}", app.1)).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(" 0 failed"), "{text}");
}
