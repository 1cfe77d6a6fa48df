//! The todo example (`examples/todo`) as a Tauri 2 app: its Rust functions (the crate
//! `mizan-todo`, code-first and host-neutral, the same one its Axum server links) served by
//! `tauri-plugin-mizan` through the kernel, and its React page built for the Tauri transport
//! (`npm run build:tauri` in `examples/todo/frontend`) in each window.
//!
//! One window per user: the window labelled `alice` runs as alice, `bob` as bob (the plugin's
//! per-webview identity), so one app shows both users' own lists and the shared one side by
//! side. Any other window is anonymous: the kernel answers its `auth="required"` reads 401.

use mizan_host::Identity;
use mizan_host::app::Mizan;
use mizan_todo as _; // link the functions: their `#[client]` registrations come with them
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tauri::Manager;

/// The users, one window each (tauri.conf.json labels the windows with these names).
pub const USERS: [&str; 2] = ["alice", "bob"];

/// The Mizan app over every `#[client]` function linked in, with the kernel's in-memory
/// origin cache (the shared list is one entry for both users; each own list one per user).
pub fn mizan() -> mizan_host::Result<Mizan> {
    Mizan::from_code()?.memory_cache().on_diagnostic(|d| eprintln!("mizan: {d}")).build()
}

/// Who a window's requests run as: its label, when it names a user.
pub fn window_identity(label: &str) -> Option<Identity> {
    USERS.contains(&label).then(|| Identity::user(label))
}

/// How many requests each window made over IPC, by what they asked for (`alice fetch todos`,
/// `bob call add_shared_todo`): what the plugin's `on_request` saw. The webview test reads it
/// to tell which contexts a mutation made the client refetch.
#[derive(Default)]
pub struct RequestLog(Mutex<BTreeMap<String, u64>>);

impl RequestLog {
    fn count(&self, window: &str, envelope: &Value) {
        let field = |k: &str| envelope[k].as_str().unwrap_or("?").to_string();
        let what = match envelope["op"].as_str() {
            Some("fetch") => format!("fetch {}", field("context")),
            Some("call") => format!("call {}", field("fn")),
            Some(op) => op.to_string(),
            None => "?".to_string(),
        };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(format!("{window} {what}")).or_default() += 1;
    }
}

/// The request counts so far.
#[tauri::command]
fn request_log(log: tauri::State<'_, RequestLog>) -> BTreeMap<String, u64> {
    log.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

pub fn run() {
    let mizan = mizan().expect("the Mizan app (IR from the code, the kernel component)");
    let plugin = tauri_plugin_mizan::Builder::new(mizan)
        .identity(|webview| window_identity(webview.label()))
        .on_request(|webview, envelope, _reply| webview.state::<RequestLog>().count(webview.label(), envelope))
        .build();
    tauri::Builder::default()
        .manage(RequestLog::default())
        .plugin(plugin)
        .invoke_handler(tauri::generate_handler![request_log])
        .run(tauri::generate_context!())
        .expect("error while running the Tauri app");
}
