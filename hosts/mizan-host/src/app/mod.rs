//! A Mizan app, host-neutral: the engine, the registered functions and predicates, the origin
//! cache, and the one request flow every host runs ([`Mizan::handle`]). The Axum integration
//! (`mizan_host::axum`, feature `axum`) and the Tauri plugin (`tauri-plugin-mizan`) only turn
//! their request into a [`Request`] (an IPC envelope: [`ipc`]) and send back the [`Response`].
//!
//! Per request (docs/SERVER.md "The exchange"): one kernel exchange, driven by
//! `update(events) -> effects`; this crate performs the effects (the session, the revocation
//! hook, predicates, functions, cache I/O, the pending purge) and sends the `respond` effect's
//! response ([`exchange`]'s interpreter). Every decision is the kernel's.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::keyer::PurgePlan;
use crate::origin::{BoxFuture, OriginCache};
use crate::registry::Registry;
use crate::exchange::ExchangeServer;
use crate::server::{Engine, Identity, Outcome, ProtocolCode, ProtocolError, Response};

mod builder;
mod code_first;
mod ctx;
mod exchange;
pub mod ipc;
mod unwind;

pub use builder::MizanBuilder;
pub use ctx::{Ctx, FnError, HostRequest, error_chain};
pub(crate) use unwind::catch_unwind;

pub(crate) type Handler = Arc<dyn Fn(String, Ctx) -> BoxFuture<'static, Outcome> + Send + Sync>;
pub(crate) type PredicateFn = Arc<dyn Fn(Ctx) -> BoxFuture<'static, bool> + Send + Sync>;
pub(crate) type IdentityFn = Arc<dyn Fn(HostRequest) -> BoxFuture<'static, Option<Identity>> + Send + Sync>;
pub(crate) type RevokedFn = Arc<dyn Fn(&str) -> bool + Send + Sync>;
pub(crate) type DiagnosticFn = Arc<dyn Fn(&str) + Send + Sync>;
pub(crate) type ErrorFn = Arc<dyn Fn(&str) + Send + Sync>;
/// The values of [`MizanBuilder::state`], by type.
pub(crate) type States = HashMap<std::any::TypeId, Arc<dyn std::any::Any + Send + Sync>>;

pub(crate) struct Inner {
    pub(crate) kernel: Kernel,
    pub(crate) registry: Registry,
    pub(crate) engine: Engine,
    /// The request headers the engine reads (the kernel's list, lower-case): all a server
    /// passes it of a request's headers.
    pub(crate) request_headers: Vec<String>,
    /// The request flow: one exchange per request (docs/SERVER.md "The exchange").
    pub(crate) exchange: ExchangeServer,
    /// The same with the `identity` hook, for a session read only when the exchange asks
    /// (`handle_resolving`, `handle_asking`): made at its first use.
    pub(crate) asking: std::sync::OnceLock<ExchangeServer>,
    pub(crate) cache: Option<Arc<dyn OriginCache>>,
    pub(crate) functions: HashMap<String, Handler>,
    pub(crate) predicates: HashMap<String, PredicateFn>,
    pub(crate) identity: Option<IdentityFn>,
    pub(crate) revoked: Option<RevokedFn>,
    pub(crate) diagnostic: DiagnosticFn,
    pub(crate) error: ErrorFn,
    /// Purges that failed, merged, with a version (docs/SERVER.md "When a purge fails"): retried
    /// before the cache is used; what they cover is served without the cache until one succeeds.
    pub(crate) pending: std::sync::Mutex<Option<(PurgePlan, u64)>>,
    pub(crate) states: States,
}

/// A Mizan app: the engine, the registered functions and predicates, the origin cache.
/// `Clone + Send + Sync` (an `Arc`). [`Mizan::handle`] runs one request; a host serves it
/// (`Mizan::router` under Axum, `tauri_plugin_mizan::init(mizan)` in a Tauri app).
#[derive(Clone)]
pub struct Mizan {
    pub(crate) inner: Arc<Inner>,
}


/// The 500 sent when the kernel itself failed (a trap twice in a row): the engine's own
/// envelope and headers, written out.
fn fallback_internal() -> Response {
    Response {
        status: 500,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Cache-Control".into(), "no-store".into()),
        ],
        body: r#"{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}"#.into(),
    }
}

impl Mizan {
    pub fn kernel(&self) -> &Kernel {
        &self.inner.kernel
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The value of type `T` given to [`MizanBuilder::state`], if any.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.states.get(&std::any::TypeId::of::<T>()).and_then(|v| v.downcast_ref::<T>())
    }

    /// The origin-cache store, if one is configured.
    pub fn cache(&self) -> Option<&Arc<dyn OriginCache>> {
        self.inner.cache.as_ref()
    }

    /// Send a line to the app's diagnostics (what `on_diagnostic` receives): hosts outside this
    /// crate (the Tauri plugin) report through it.
    pub fn diagnostic(&self, text: &str) {
        (self.inner.diagnostic)(text)
    }

    /// An engine failure (a trap): logged, answered 500 in the engine's envelope.
    fn internal(&self, e: Error) -> Response {
        self.diagnostic(&format!("kernel failure: {e}"));
        let err = ProtocolError::new(ProtocolCode::InternalError, "Internal server error");
        self.inner.engine.error_response(&err).unwrap_or_else(|_| fallback_internal())
    }

    /// The response for an error the host found itself, in the engine's envelope.
    pub fn error_response(&self, code: ProtocolCode, message: &str) -> Response {
        match self.inner.engine.error_response(&ProtocolError::new(code, message)) {
            Ok(r) => r,
            Err(e) => self.internal(e),
        }
    }

    /// Purge what invalidation entries cover (`["ctx", {"context", "params"?}]`): webhooks,
    /// admin actions. The purged keys; nothing without a cache.
    /// A failure is returned, and kept like a call's: until a retry succeeds, the entries the
    /// plan covers are served without the cache.
    pub async fn purge(&self, entries: &Value) -> Result<Vec<String>> {
        if self.inner.cache.is_none() {
            return Ok(Vec::new());
        }
        let plan = self.inner.engine.purge_plan(entries)?;
        self.purge_or_keep(&plan).await
    }

    /// Purge every origin-cache entry of one user, in every context (GDPR erasure). A failure
    /// is returned and kept, as [`Mizan::purge`]'s.
    pub async fn purge_user(&self, user: &str) -> Result<Vec<String>> {
        if self.inner.cache.is_none() {
            return Ok(Vec::new());
        }
        let plan = self.inner.engine.purge_user_plan(user)?;
        self.purge_or_keep(&plan).await
    }

    async fn purge_or_keep(&self, plan: &PurgePlan) -> Result<Vec<String>> {
        let Some(cache) = &self.inner.cache else { return Ok(Vec::new()) };
        match cache.purge(plan).await {
            Ok(purged) => Ok(purged),
            Err(e) => {
                self.keep_failed(plan, &e);
                Err(e)
            }
        }
    }

    /// Send a failure that needs someone's attention to the app's error log (`on_error`).
    pub fn error(&self, text: &str) {
        (self.inner.error)(text)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Option<(PurgePlan, u64)>> {
        self.inner.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Log a failed purge with its plan and keep it to retry.
    fn keep_failed(&self, plan: &PurgePlan, e: &Error) {
        let json = self.inner.kernel.redis_plan_json(plan).unwrap_or_default();
        self.error(&format!("purge failed: {e}; the entries it covers are served without the cache until a retry succeeds; plan {json}"));
        self.keep_pending(plan);
    }

    /// Merge a failed purge into the pending one (docs/SERVER.md "When a purge fails").
    pub(crate) fn keep_pending(&self, plan: &PurgePlan) {
        let mut pending = self.pending();
        let merged = match pending.take() {
            None => (plan.clone(), 1),
            Some((p, v)) => {
                let merged = self.inner.exchange.merge_purge_plans(&p, plan).unwrap_or_else(|_| {
                    // The kernel failed (a trap): keep both plans whole, never less.
                    let mut both = p.clone();
                    both.scopes.extend(plan.scopes.iter().cloned());
                    both
                });
                (merged, v + 1)
            }
        };
        *pending = Some(merged);
    }
}
