//! [`ClientSession`]: the client session (the WIT `client-session` interface): a Rust client
//! (a Tauri backend, a CLI) is an interpreter of its [`Output`]: perform the requests, set the
//! one timer, show the views, settle the waiters. The event and output types are the WIT's own
//! (re-exported from this module), so nothing is mirrored by hand.

use wasmtime::component::ResourceAny;

use crate::bindings::exports::mizan::kernel::client_session as wit;
use crate::dedicated::{Dedicated, Rebuild};
use crate::error::{Error, Result};
use crate::kernel::{Kernel, State};

pub use wit::{
    Answer, CallOp, CallWait, DecodedAnswer, Event, FetchOp, FetchWait, HttpAnswer, HttpMethod, HttpRequest, Hydration, InstanceRef, Operation, Outcome, Output,
    Request, RequestError, RequestKind, Settlement, Status, Timer, View,
};

type Guest<'a> = wit::GuestSession<'a>;

/// One client session, resident in its own instance. `Send + Sync`; calls are serialized.
///
/// **Traps.** After a call traps, this session and its state are gone: every later call returns
/// [`Error::Trap`] ([`ClientSession::is_lost`]). The rule every host follows: keep your list of
/// subscriptions, create a new session and replay it (`Start` if you had started, then one
/// `Subscribe` each), and settle your pending waiters with `TRAP`.
pub struct ClientSession {
    resident: Dedicated,
}

impl ClientSession {
    /// `config`: the store's keys plus `request_timeout_ms` (wit/session.wit).
    pub fn new(kernel: &Kernel, config: Option<&serde_json::Value>) -> Result<ClientSession> {
        let config = config.map(serde_json::Value::to_string);
        let resident = Dedicated::new(kernel, Rebuild::Never, &|s, b| {
            b.mizan_kernel_client_session().session().call_create(s, config.as_deref())
        })?;
        Ok(ClientSession { resident })
    }

    fn call<T>(&self, f: impl FnOnce(&mut wasmtime::Store<State>, Guest<'_>, ResourceAny) -> wasmtime::Result<T>) -> Result<T> {
        // `Rebuild::Never`: `create` is never called again.
        self.resident.call(&|_, _| unreachable!("a session is never rebuilt"), |s, b, h| {
            f(s, b.mizan_kernel_client_session().session(), h).map(Ok::<_, Error>)
        })
    }

    /// True once a call trapped; create a new session and replay (see the type's docs).
    pub fn is_lost(&self) -> bool {
        self.resident.is_empty()
    }

    /// Apply `events` in order; the output says what to do.
    pub fn update(&self, events: &[Event], now: u64) -> Result<Output> {
        self.call(|s, g, h| g.call_update(s, h, events, now))
    }

    /// The store's snapshot of an instance (with `subscribers`), or `None`.
    pub fn snapshot(&self, key: &str, now: u64) -> Result<Option<serde_json::Value>> {
        let text = self.call(|s, g, h| g.call_snapshot(s, h, key, now))?;
        text.as_deref().map(crate::kernel::parse).transpose()
    }

    /// `{"version": 1, "instances": [...]}` for SSR.
    pub fn dehydrate(&self) -> Result<serde_json::Value> {
        crate::kernel::parse(&self.call(|s, g, h| g.call_dehydrate(s, h))?)
    }

    pub fn instance_count(&self) -> Result<u32> {
        self.call(|s, g, h| g.call_instance_count(s, h))
    }

    /// No request running, no retry waiting, no call held.
    pub fn idle(&self) -> Result<bool> {
        self.call(|s, g, h| g.call_idle(s, h))
    }
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession").field("lost", &self.is_lost()).finish()
    }
}
