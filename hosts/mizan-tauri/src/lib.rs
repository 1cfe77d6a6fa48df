//! # tauri-plugin-mizan
//!
//! A Tauri 2 plugin that serves a Mizan app to the app's webviews over IPC: the command
//! `plugin:mizan|mizan_invoke` that `@mizan/kernel-wasm/client`'s `tauriTransport` speaks. Each
//! envelope (`{op: "fetch", context, params}`, `{op: "call", fn, args}`, `{op: "session"}`) is
//! answered by [`Mizan::handle_ipc`](mizan_host::app::Mizan::handle_ipc): the same kernel
//! engine and request flow as the Axum integration's HTTP — validation, auth guards, predicates,
//! errors, invalidation and merges in the reply, the origin cache. An error is the bare
//! `{code, message, details?}` the transport re-wraps.
//!
//! ```ignore
//! use mizan_host::app::{Ctx, FnError, Mizan};
//! use tauri_plugin_mizan::MizanExt;
//!
//! #[mizan_host::client(context = "todos", auth = "required")]
//! async fn todo_list(ctx: Ctx) -> Result<Vec<Todo>, FnError> { … }
//!
//! #[tauri::command]
//! fn sign_in(app: tauri::AppHandle, user: String) { app.mizan_session().sign_in(Identity::user(user)) }
//!
//! let mizan = Mizan::from_code()?.memory_cache().build()?;
//! tauri::Builder::default()
//!     .plugin(tauri_plugin_mizan::init(mizan))
//!     .invoke_handler(tauri::generate_handler![sign_in])
//!     .run(tauri::generate_context!())?;
//! ```
//!
//! **Identity.** Requests run as the app's [`Session`] (signed in and out by the app's own
//! commands, anonymous until then), or as [`Builder::identity`] decides per webview. The kernel
//! enforces `auth=` on it exactly as over HTTP: anonymous callers of `auth="required"` get 401.
//!
//! **Permissions.** The app grants `mizan:default` in a capability (`src-tauri/capabilities/`);
//! it allows `mizan_invoke` from the app's own webviews. Remote content needs a capability of its
//! own (Tauri's rule for every plugin command).

use mizan_host::Identity;
use mizan_host::app::{HostRequest, Mizan};
use serde_json::Value;
use std::sync::{Arc, RwLock};
use tauri::plugin::{Builder as PluginBuilder, TauriPlugin};
use tauri::{Manager, Runtime, State, Webview};

pub use mizan_host;

/// The plugin's name: its commands are `plugin:mizan|…`, its permissions `mizan:…`.
pub const PLUGIN_NAME: &str = "mizan";

/// Who the app's user is, as the app says (a login command): every request from the webviews
/// runs as this identity unless [`Builder::identity`] decides otherwise. Managed by the plugin:
/// `app.mizan_session()` ([`MizanExt`]) or `app.state::<Session>()`.
#[derive(Debug, Default)]
pub struct Session(RwLock<Option<Identity>>);

impl Session {
    /// From now on, requests run as `identity`. Tell the webview's client to `reset()` (data
    /// cached for the previous identity must not be shown to this one).
    pub fn sign_in(&self, identity: Identity) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(identity);
    }

    /// From now on, requests are anonymous.
    pub fn sign_out(&self) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The identity requests run as; `None` when anonymous.
    pub fn identity(&self) -> Option<Identity> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

type IdentityFn<R> = Box<dyn Fn(&Webview<R>) -> Option<Identity> + Send + Sync>;
type ObserverFn<R> = Box<dyn Fn(&Webview<R>, &Value, &Reply) + Send + Sync>;

/// What `mizan_invoke` answers: the response body, or the bare `{code, message, details?}`.
pub type Reply = mizan_host::app::ipc::Reply;

/// What the plugin manages: the app, how a request's identity is found, who watches replies.
struct Served<R: Runtime> {
    mizan: Mizan,
    identity: Option<IdentityFn<R>>,
    observer: Option<ObserverFn<R>>,
}

/// The plugin over `mizan` (built with `Mizan::from_code()` or `Mizan::builder(kdl)`), with
/// identities from the app's [`Session`].
pub fn init<R: Runtime>(mizan: Mizan) -> TauriPlugin<R> {
    Builder::new(mizan).build()
}

/// The plugin, with settings ([`init`] takes the defaults).
pub struct Builder<R: Runtime> {
    mizan: Mizan,
    identity: Option<IdentityFn<R>>,
    observer: Option<ObserverFn<R>>,
}

impl<R: Runtime> Builder<R> {
    pub fn new(mizan: Mizan) -> Self {
        Builder { mizan, identity: None, observer: None }
    }

    /// Find each request's identity from the webview that sent it (e.g. one signed-in user per
    /// window), instead of the app's [`Session`].
    pub fn identity<F>(mut self, f: F) -> Self
    where
        F: Fn(&Webview<R>) -> Option<Identity> + Send + Sync + 'static,
    {
        self.identity = Some(Box::new(f));
        self
    }

    /// Called with each envelope and its reply, after the reply is made (metrics, a request
    /// log, a debugging panel). It sees what the webview sees: no exception text.
    pub fn on_request<F>(mut self, f: F) -> Self
    where
        F: Fn(&Webview<R>, &Value, &Reply) + Send + Sync + 'static,
    {
        self.observer = Some(Box::new(f));
        self
    }

    pub fn build(self) -> TauriPlugin<R> {
        let served = Served { mizan: self.mizan, identity: self.identity, observer: self.observer };
        PluginBuilder::new(PLUGIN_NAME)
            .invoke_handler(tauri::generate_handler![mizan_invoke])
            .setup(move |app, _api| {
                app.manage(served);
                app.manage(Session::default());
                Ok(())
            })
            .build()
    }
}

/// `app.mizan()` and `app.mizan_session()` on anything that reaches the app (an `App`, an
/// `AppHandle`, a `Webview`, a `Window`).
pub trait MizanExt<R: Runtime> {
    /// The app the plugin serves (for purges: `app.mizan().purge(&entries)`).
    fn mizan(&self) -> &Mizan;
    /// The identity requests run as.
    fn mizan_session(&self) -> &Session;
}

impl<R: Runtime, M: Manager<R>> MizanExt<R> for M {
    fn mizan(&self) -> &Mizan {
        &self.state::<Served<R>>().inner().mizan
    }

    fn mizan_session(&self) -> &Session {
        self.state::<Session>().inner()
    }
}

/// `invoke('plugin:mizan|mizan_invoke', {envelope})`. Functions and predicates get the invoking
/// webview as the host request: `ctx.request::<tauri::Webview>()` (its `app_handle()` reaches the
/// app's state). An absent `envelope` is answered like any malformed one (400).
#[tauri::command]
async fn mizan_invoke<R: Runtime>(
    webview: Webview<R>,
    served: State<'_, Served<R>>,
    session: State<'_, Session>,
    envelope: Option<Value>,
) -> Reply {
    let envelope = envelope.unwrap_or(Value::Null);
    let host: HostRequest = Arc::new(webview.clone());
    let reply = match &served.identity {
        // Read only when the exchange asks for the session, as on every host; a panic in it is
        // the kernel's `identity-failed` (a 500, logged), and the webview's promise settles.
        Some(identify) => {
            let webview = &webview;
            served.mizan.handle_ipc_asking(&envelope, host, move || Box::pin(async move { identify(webview) })).await
        }
        None => served.mizan.handle_ipc(&envelope, host, session.identity()).await,
    };
    if let Some(observe) = &served.observer {
        observe(&webview, &envelope, &reply);
    }
    reply
}
