//! A Tauri 2 app whose backend is Mizan code-first functions ([`todos`]), served to the React
//! webview by `tauri-plugin-mizan` through the kernel: the webview's client (the kernel
//! component in WebKit) calls `plugin:mizan|mizan_invoke`, the plugin answers through the same
//! engine as HTTP — auth, validation, invalidation and merges, the origin cache.
//!
//! Identity is the app's: `sign_in`/`sign_out` (commands of this app) set the plugin's
//! `Session`; the frontend then resets its client.

pub mod todos;

use mizan_host::Identity;
use mizan_host::app::Mizan;
use tauri_plugin_mizan::MizanExt;

/// Sign in as one of [`todos::USERS`] (a real app would check a password or an OS account).
#[tauri::command]
fn sign_in(app: tauri::AppHandle, user_id: String) -> Result<(), String> {
    if !todos::USERS.iter().any(|(id, _)| *id == user_id) {
        return Err(format!("no user {user_id}"));
    }
    app.mizan_session().sign_in(Identity::user(user_id));
    Ok(())
}

#[tauri::command]
fn sign_out(app: tauri::AppHandle) {
    app.mizan_session().sign_out();
}

/// The Mizan app over every `#[client]` function linked in, their data, and the kernel's
/// in-memory origin cache.
pub fn mizan() -> mizan_host::Result<Mizan> {
    Mizan::from_code()?.state(todos::Store::default()).memory_cache().on_diagnostic(|d| eprintln!("mizan: {d}")).build()
}

pub fn run() {
    let mizan = mizan().expect("the Mizan app (IR from the code, the kernel component)");
    tauri::Builder::default()
        .plugin(tauri_plugin_mizan::init(mizan))
        .invoke_handler(tauri::generate_handler![sign_in, sign_out])
        .run(tauri::generate_context!())
        .expect("error while running the Tauri app");
}
