//! A Mizan app, host-neutral: the engine, the registered functions and predicates, the origin
//! cache, and the one request flow every host runs ([`Mizan::handle`]). The Axum integration
//! (`mizan_host::axum`, feature `axum`) and the Tauri plugin (`tauri-plugin-mizan`) only turn
//! their request into a [`Request`] (an IPC envelope: [`ipc`]) and send back the [`Response`].
//!
//! Per request (docs/SERVER.md "What a host does"): `plan` → (predicates → `plan` again) →
//! `respond` | `call` (run the function, `finish_call`, run the purge) | `fetch` (read the cache,
//! else run every member, `finish_fetch`, store the put). Status, headers and body bytes are the
//! engine's; the host only runs functions and predicates, checks revoked sessions and does the
//! I/O.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::keyer::PurgePlan;
use crate::origin::{BoxFuture, OriginCache};
use crate::registry::Registry;
use crate::server::{
    CachePlan, CallPlan, Engine, FetchOutcome, FetchPlan, Identity, Lookup, Outcome, Plan, PredicateCheck, ProtocolCode,
    ProtocolError, Request, Response, now_ms,
};

mod builder;
mod code_first;
mod ctx;
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

    /// Run a call's purge. A failure is logged with its plan and kept: until a retry succeeds,
    /// the entries it covers are neither read from nor stored in the cache, so a stale entry
    /// is never served (docs/SERVER.md "When a purge fails").
    async fn run_purge(&self, plan: &PurgePlan) {
        let _ = self.purge_or_keep(plan).await;
    }

    /// Log a failed purge with its plan and keep it to retry.
    fn keep_failed(&self, plan: &PurgePlan, e: &Error) {
        let json = self.inner.kernel.redis_plan_json(plan).unwrap_or_default();
        self.error(&format!("purge failed: {e}; the entries it covers are served without the cache until a retry succeeds; plan {json}"));
        let mut pending = self.pending();
        let merged = match pending.take() {
            None => (plan.clone(), 1),
            Some((p, v)) => {
                let merged = self.inner.engine.merge_purge_plans(&p, plan).unwrap_or_else(|_| {
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

    /// Retry the pending purges (if any); what they still cover (`None`: nothing pending).
    async fn settle_pending(&self) -> Option<PurgePlan> {
        let (plan, version) = self.pending().clone()?;
        let cache = self.inner.cache.as_ref()?;
        match cache.purge(&plan).await {
            Ok(_) => {
                let mut pending = self.pending();
                if pending.as_ref().is_some_and(|(_, v)| *v == version) {
                    *pending = None;
                    drop(pending);
                    self.diagnostic("a purge that had failed succeeded on retry; the cache is used again");
                    return None;
                }
                pending.as_ref().map(|(p, _)| p.clone())
            }
            Err(_) => Some(plan),
        }
    }

    /// Whether a pending (failed) purge covers this entry: then it is served without the cache.
    fn fenced(&self, pending: Option<&PurgePlan>, cache: &CachePlan) -> bool {
        pending.is_some_and(|p| self.inner.kernel.purge_covers(p, &cache.index_keys).unwrap_or(true))
    }

    /// The host's revocation check on a plan's identity (a JWT `sid`).
    fn revoked(&self, plan: &Plan) -> Option<Response> {
        let revoked = self.inner.revoked.as_ref()?;
        let sid = plan.identity()?.session_id.as_deref()?;
        revoked(sid).then(|| self.error_response(ProtocolCode::Unauthorized, "Session revoked"))
    }

    async fn answers(&self, check: PredicateCheck, request: &HostRequest) -> Vec<(String, bool)> {
        let mut out = Vec::with_capacity(check.predicates.len());
        for name in check.predicates {
            let verdict = match self.inner.predicates.get(&name) {
                Some(p) => p(Ctx { identity: check.identity.clone(), request: request.clone(), mizan: self.clone() }).await,
                None => {
                    self.diagnostic(&format!("no predicate named {name:?}: denied"));
                    false
                }
            };
            out.push((name, verdict));
        }
        out
    }

    async fn run(&self, function: &str, args_json: String, ctx: Ctx) -> Outcome {
        let outcome = match self.inner.functions.get(function) {
            Some(handler) => handler(args_json, ctx).await,
            None => Outcome::Exception(format!("no implementation registered for `{function}`")),
        };
        if let Outcome::Exception(text) = &outcome {
            self.error(&format!("`{function}` failed: {text}"));
        }
        outcome
    }

    /// The session identity of a host's request, from the resolver the host set (Axum:
    /// `MizanBuilder::identity`); `None` without one. The app's session lookup is inside the
    /// protocol path: when it panics, the answer is the engine's 500 envelope (`Err`), like any
    /// other failure, never the framework's.
    pub async fn identify(&self, host_request: HostRequest) -> std::result::Result<Option<Identity>, Response> {
        match &self.inner.identity {
            Some(f) => match catch_unwind(f(host_request)).await {
                Ok(identity) => Ok(identity),
                Err(panic) => {
                    self.error(&format!("the identity callback panicked: {panic}"));
                    Err(self.error_response(ProtocolCode::InternalError, "Internal server error"))
                }
            },
            None => Ok(None),
        }
    }

    /// Serve one request, whatever carried it: the response to send, exactly. `host_request` is
    /// the host's own request (what [`Ctx::request`] gives functions and predicates), `identity`
    /// the session's (a valid token in the request replaces it, in the engine).
    pub async fn handle(&self, request: &Request, host_request: HostRequest, identity: Option<Identity>) -> Response {
        let engine = &self.inner.engine;
        let now = now_ms();
        let mut plan = match engine.plan(request, identity.as_ref(), now, &[]) {
            Ok(p) => p,
            Err(e) => return self.internal(e),
        };
        if let Plan::Respond(r) = plan {
            return r;
        }
        if let Some(denied) = self.revoked(&plan) {
            return denied;
        }
        if let Plan::CheckPredicates(check) = plan {
            let answers = self.answers(check, &host_request).await;
            plan = match engine.plan(request, identity.as_ref(), now, &answers) {
                Ok(p) => p,
                Err(e) => return self.internal(e),
            };
        }
        match plan {
            Plan::Respond(r) => r,
            Plan::CheckPredicates(_) => {
                self.internal(Error::Host("the engine asked for predicates again after answers".into()))
            }
            Plan::Call(call) => self.call(call, host_request).await,
            Plan::Fetch(fetch) => self.fetch(fetch, host_request).await,
        }
    }

    async fn call(&self, call: CallPlan, request: HostRequest) -> Response {
        let ctx = Ctx { identity: call.identity.clone(), request, mizan: self.clone() };
        let outcome = self.run(&call.function, call.args_json.clone(), ctx).await;
        let fin = match self.inner.engine.finish_call(&call, outcome) {
            Ok(f) => f,
            Err(e) => return self.internal(e),
        };
        if let Some(plan) = &fin.purge {
            self.run_purge(plan).await; // before the response, so a refetch cannot read a purged entry
        }
        for d in &fin.diagnostics {
            self.diagnostic(d);
        }
        fin.response
    }

    async fn fetch(&self, fetch: FetchPlan, request: HostRequest) -> Response {
        let engine = &self.inner.engine;
        let mut cache_plan = fetch.cache.clone().filter(|_| self.inner.cache.is_some());
        let any_pending = self.pending().is_some();
        if let Some(plan) = &cache_plan
            && any_pending
        {
            let pending = self.settle_pending().await;
            if self.fenced(pending.as_ref(), plan) {
                cache_plan = None; // a failed purge covers it: no read, no put
            }
        }
        let mut ticket = None;
        if let (Some(store), Some(plan)) = (&self.inner.cache, &cache_plan) {
            match store.get(&plan.key).await {
                Ok(Lookup { body: Some(body), .. }) => {
                    return match engine.finish_fetch(&fetch.context, Some(plan), FetchOutcome::Hit(body)) {
                        Ok(fin) => fin.response,
                        Err(e) => self.internal(e),
                    };
                }
                Ok(Lookup { body: None, ticket: t }) => ticket = Some(t),
                Err(e) => self.diagnostic(&format!("cache read failed (served as a miss): {e}")),
            }
        }
        let ctx = Ctx { identity: fetch.identity.clone(), request, mizan: self.clone() };
        let mut results = Vec::with_capacity(fetch.members.len());
        for m in fetch.members {
            let outcome = self.run(&m.function, m.args_json, ctx.clone()).await;
            results.push((m.function, outcome));
        }
        let fin = match engine.finish_fetch(&fetch.context, cache_plan.as_ref(), FetchOutcome::Results(results)) {
            Ok(f) => f,
            Err(e) => return self.internal(e),
        };
        if let (Some(put), Some(store), Some(plan)) = (&fin.cache_put, &self.inner.cache, &cache_plan) {
            // A purge may have failed while the members ran.
            let pending = { self.pending().as_ref().map(|(p, _)| p.clone()) };
            if !self.fenced(pending.as_ref(), plan)
                && let Err(e) = store.put(put, ticket).await
            {
                self.diagnostic(&format!("cache write failed: {e}"));
            }
        }
        for d in &fin.diagnostics {
            self.diagnostic(d);
        }
        fin.response
    }
}
