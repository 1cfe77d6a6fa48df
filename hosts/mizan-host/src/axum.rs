//! The Axum integration (feature `axum`): register functions and predicates, get a
//! [`Router`](::axum::Router) that serves the Mizan protocol (`/session/`, `/call/`,
//! `/ctx/{name}/` under `/api/mizan`) through the kernel's engine.
//!
//! ```no_run
//! use mizan_host::axum::{Ctx, FnError, Mizan};
//! use mizan_host::{Identity, MemoryOriginStore};
//! use serde_json::{Value, json};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let kdl = std::fs::read_to_string("mizan.kdl")?;
//! let mizan = Mizan::builder(kdl)
//!     .function("user_profile", |args: Value, _ctx: Ctx| async move {
//!         let id = args["user_id"].as_i64().unwrap_or(0);
//!         if id != 1 { return Err(FnError::not_found("No such user")); }
//!         Ok(json!({"id": id, "name": "alice"}))
//!     })
//!     .predicate("has_reports", |ctx: Ctx| async move { ctx.user() == Some("1") })
//!     .identity(|parts| parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(Identity::user))
//!     .memory_cache()
//!     .build()?;
//! let app = axum::Router::new().merge(mizan.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Per request (docs/SERVER.md "What a host does"): `plan` → (predicates → `plan` again) →
//! `respond` | `call` (run the function, `finish_call`, run the purge) | `fetch` (read the cache,
//! else run every member, `finish_fetch`, store the put). Status, headers and body bytes are the
//! engine's, sent as they are; the host only runs functions and predicates, checks revoked
//! sessions and does the I/O.

use ::axum::Router;
use ::axum::body::Body;
use ::axum::extract::OriginalUri;
use ::axum::http::request::Parts;
use ::axum::http::{HeaderName, HeaderValue, StatusCode};
use ::axum::routing::any;
use http_body_util::BodyExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::keyer::PurgePlan;
use crate::origin::{BoxFuture, MemoryOriginStore, OriginCache};
use crate::registry::Registry;
use crate::server::{
    CachePlan, CallPlan, Engine, EngineConfig, FetchOutcome, FetchPlan, Identity, Lookup, Outcome, Plan, PredicateCheck,
    ProtocolCode, ProtocolError, Request, Response, now_ms,
};

mod code_first;

// --- what a function sees and returns -----------------------------------------------------------

/// What a function (or a predicate) gets besides its arguments: the effective identity (a
/// token's, else the session's), the HTTP request's head, and the app (for purges).
#[derive(Clone)]
pub struct Ctx {
    identity: Option<Identity>,
    parts: Arc<Parts>,
    mizan: Mizan,
}

impl Ctx {
    /// The caller; `None` when anonymous.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The caller's subject (user id); `None` when anonymous.
    pub fn user(&self) -> Option<&str> {
        self.identity.as_ref().map(|i| i.subject.as_str())
    }

    /// The request's method, URI, headers and extensions (a session layer's data…).
    pub fn parts(&self) -> &Parts {
        &self.parts
    }

    /// The app: [`Mizan::purge`], [`Mizan::purge_user`], the engine, the registry.
    pub fn mizan(&self) -> &Mizan {
        &self.mizan
    }
}

/// An error a function returns: a protocol error on purpose (`FnError::not_found("No such
/// item")` → 404 with that message), or anything else (`?` on any `std::error::Error`) → an
/// exception: 500 "Internal server error", its text only in the diagnostics.
#[derive(Debug, Clone)]
pub struct FnError(Outcome);

impl FnError {
    /// An error on purpose with this code and message (the envelope and status are the kernel's;
    /// an `INTERNAL_ERROR`'s message is never sent).
    pub fn new(code: ProtocolCode, message: impl Into<String>) -> FnError {
        FnError(Outcome::Error(ProtocolError::new(code, message)))
    }

    /// With JSON details (e.g. `{"fields": {...}}`).
    pub fn with_details(self, details: &Value) -> FnError {
        match self.0 {
            Outcome::Error(e) => FnError(Outcome::Error(e.with_details(details))),
            other => FnError(other),
        }
    }

    pub fn not_found(message: impl Into<String>) -> FnError {
        Self::new(ProtocolCode::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> FnError {
        Self::new(ProtocolCode::Forbidden, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> FnError {
        Self::new(ProtocolCode::Unauthorized, message)
    }

    pub fn bad_request(message: impl Into<String>) -> FnError {
        Self::new(ProtocolCode::BadRequest, message)
    }

    /// `NOT_IMPLEMENTED` with the kernel's message ("Not implemented").
    pub fn not_implemented() -> FnError {
        Self::new(ProtocolCode::NotImplemented, "")
    }

    /// A 422 `{"fields": fields}` (`fields`: `{"name": ["message", …]}`), "Input validation failed".
    pub fn validation(fields: Value) -> FnError {
        Self::new(ProtocolCode::ValidationError, "Input validation failed").with_details(&serde_json::json!({ "fields": fields }))
    }

    /// An unexpected failure: 500, `text` to the diagnostics only.
    pub fn exception(text: impl Into<String>) -> FnError {
        FnError(Outcome::Exception(text.into()))
    }

    /// The outcome the engine gets.
    pub fn into_outcome(self) -> Outcome {
        self.0
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for FnError {
    /// An exception whose text is the whole error chain, `outer: cause: root cause` (what the
    /// host logs at error level; the client gets 500 "Internal server error").
    fn from(e: E) -> Self {
        FnError::exception(error_chain(&e))
    }
}

/// `error: its source: that one's source…`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

// --- the app ------------------------------------------------------------------------------------

type Handler = Arc<dyn Fn(String, Ctx) -> BoxFuture<'static, Outcome> + Send + Sync>;
type PredicateFn = Arc<dyn Fn(Ctx) -> BoxFuture<'static, bool> + Send + Sync>;
type IdentityFn = Arc<dyn Fn(Arc<Parts>) -> BoxFuture<'static, Option<Identity>> + Send + Sync>;
type RevokedFn = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type DiagnosticFn = Arc<dyn Fn(&str) + Send + Sync>;
type ErrorFn = Arc<dyn Fn(&str) + Send + Sync>;

struct Inner {
    kernel: Kernel,
    registry: Registry,
    engine: Engine,
    cache: Option<Arc<dyn OriginCache>>,
    functions: HashMap<String, Handler>,
    predicates: HashMap<String, PredicateFn>,
    identity: Option<IdentityFn>,
    revoked: Option<RevokedFn>,
    diagnostic: DiagnosticFn,
    error: ErrorFn,
    /// Purges that failed, merged, with a version (docs/SERVER.md "When a purge fails"): retried
    /// before the cache is used; what they cover is served without the cache until one succeeds.
    pending: std::sync::Mutex<Option<(PurgePlan, u64)>>,
}

/// A Mizan app: the engine, the registered functions and predicates, the origin cache.
/// `Clone + Send + Sync` (an `Arc`). [`Mizan::router`] serves it; [`Mizan::handle`] runs one
/// request without Axum.
#[derive(Clone)]
pub struct Mizan {
    inner: Arc<Inner>,
}

/// Settings and registrations for a [`Mizan`] app (see [`Mizan::builder`]).
pub struct MizanBuilder {
    kdl: String,
    kernel: Option<Kernel>,
    config: EngineConfig,
    cache: Option<CacheChoice>,
    functions: HashMap<String, Handler>,
    predicates: HashMap<String, PredicateFn>,
    identity: Option<IdentityFn>,
    revoked: Option<RevokedFn>,
    diagnostic: Option<DiagnosticFn>,
    error: Option<ErrorFn>,
}

enum CacheChoice {
    Memory,
    Store(Arc<dyn OriginCache>),
}

impl Mizan {
    /// Start an app over the registry's KDL IR (what `mizan` emits; `tests/wire/app.kdl`).
    pub fn builder(registry_kdl: impl Into<String>) -> MizanBuilder {
        MizanBuilder {
            kdl: registry_kdl.into(),
            kernel: None,
            config: EngineConfig::default(),
            cache: None,
            functions: HashMap::new(),
            predicates: HashMap::new(),
            identity: None,
            revoked: None,
            diagnostic: None,
            error: None,
        }
    }
}

impl MizanBuilder {
    /// The kernel to run on (default: `Kernel::new()`).
    pub fn kernel(mut self, kernel: Kernel) -> Self {
        self.kernel = Some(kernel);
        self
    }

    /// Register the implementation of a function of the registry.
    ///
    /// `f(args, ctx)`: `args` is the engine's validated, coerced arguments (declared inputs only)
    /// deserialized into `A` (`serde_json::Value`, or a `#[derive(Deserialize)]` struct); the
    /// result `T` is serialized with serde_json. A serialization failure, a deserialization
    /// failure (the struct does not match the registry) and a panic are exceptions: 500.
    pub fn function<A, T, F, Fut>(mut self, name: impl Into<String>, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        T: Serialize + Send + 'static,
        F: Fn(A, Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<T, FnError>> + Send + 'static,
    {
        let name = name.into();
        let label = name.clone();
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |args_json: String, ctx: Ctx| {
            let f = f.clone();
            let label = label.clone();
            Box::pin(async move {
                let args: A = match serde_json::from_str(&args_json) {
                    Ok(a) => a,
                    Err(e) => return Outcome::Exception(format!("`{label}`: arguments {args_json} do not fit its Rust type: {e}")),
                };
                // The closure's synchronous part runs inside the caught future too.
                match catch_unwind(async move { f(args, ctx).await }).await {
                    Ok(Ok(value)) => match serde_json::to_string(&value) {
                        Ok(text) => Outcome::Ok(text),
                        Err(e) => Outcome::Exception(format!("`{label}` returned a value that is not JSON: {e}")),
                    },
                    Ok(Err(e)) => e.into_outcome(),
                    Err(panic) => Outcome::Exception(format!("`{label}` panicked: {panic}")),
                }
            })
        });
        self.functions.insert(name, handler);
        self
    }

    /// Register the predicate `auth="predicate:NAME"` names: `f(ctx)` with the identity to
    /// judge (`ctx.identity()`, `None` when anonymous) and the request's head. An unknown
    /// predicate, or one that panics, denies.
    pub fn predicate<F, Fut>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        let f = Arc::new(f);
        let p: PredicateFn = Arc::new(move |ctx| {
            let f = f.clone();
            Box::pin(async move { catch_unwind(async move { f(ctx).await }).await.unwrap_or(false) })
        });
        self.predicates.insert(name.into(), p);
        self
    }

    /// The session identity of a request (a cookie session, a header…); a valid token
    /// (`X-Mizan-Token`, `Authorization: Bearer`, when their secrets are set) replaces it.
    pub fn identity<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> Option<Identity> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        // Called inside the future, so a panic in it is caught where the future is polled.
        self.identity = Some(Arc::new(move |parts: Arc<Parts>| {
            let f = f.clone();
            Box::pin(async move { f(&parts) })
        }));
        self
    }

    /// [`MizanBuilder::identity`] for a lookup that awaits (a session store).
    pub fn identity_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Arc<Parts>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Identity>> + Send + 'static,
    {
        self.identity = Some(Arc::new(move |parts| Box::pin(f(parts))));
        self
    }

    /// `revoked(session_id)`: a JWT whose `sid` is revoked is answered 401 "Session revoked".
    pub fn revoked<F>(mut self, f: F) -> Self
    where
        F: Fn(&str) -> bool + Send + Sync + 'static,
    {
        self.revoked = Some(Arc::new(f));
        self
    }

    /// Where diagnostics go (exception texts, unresolvable merges, cache errors…); default:
    /// `tracing::warn!`.
    pub fn on_diagnostic<F>(mut self, f: F) -> Self
    where
        F: Fn(&str) + Send + Sync + 'static,
    {
        self.diagnostic = Some(Arc::new(f));
        self
    }

    /// Where failures go that need someone's attention: a function that failed unexpectedly
    /// (its error chain, or its panic), an identity callback that panicked, a purge that failed
    /// (with its plan); default: `tracing::error!`.
    pub fn on_error<F>(mut self, f: F) -> Self
    where
        F: Fn(&str) + Send + Sync + 'static,
    {
        self.error = Some(Arc::new(f));
        self
    }

    /// The kernel's in-memory origin store (one per process). Without a
    /// [`cache_secret`](Self::cache_secret), a random one is made: entries live in this process only.
    pub fn memory_cache(mut self) -> Self {
        self.cache = Some(CacheChoice::Memory);
        self
    }

    /// An origin-cache store (e.g. `RedisOriginStore`); needs a [`cache_secret`](Self::cache_secret),
    /// the same on every process sharing the store.
    pub fn cache(mut self, store: Arc<dyn OriginCache>) -> Self {
        self.cache = Some(CacheChoice::Store(store));
        self
    }

    pub fn cache_secret(mut self, secret: impl Into<String>) -> Self {
        self.config.cache_secret = Some(secret.into());
        self
    }

    /// Verify `X-Mizan-Token` (MWT) with this secret.
    pub fn mwt_secret(mut self, secret: impl Into<String>) -> Self {
        self.config.mwt_secret = Some(secret.into());
        self
    }

    /// Verify `Authorization: Bearer` (JWT access tokens) with this secret.
    pub fn jwt_secret(mut self, secret: impl Into<String>) -> Self {
        self.config.jwt_secret = Some(secret.into());
        self
    }

    /// Bytes; default 1 MiB. Oversize bodies are answered 413.
    pub fn body_limit(mut self, bytes: u32) -> Self {
        self.config.body_limit = Some(bytes);
        self
    }

    /// Default `/api/mizan`.
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        self.config.base_path = Some(path.into());
        self
    }

    /// Every other engine setting (TTLs, leeway); the secrets, base path and body limit set
    /// with the methods above are kept unless set here.
    pub fn config(mut self, config: EngineConfig) -> Self {
        let old = std::mem::take(&mut self.config);
        self.config = EngineConfig {
            base_path: config.base_path.or(old.base_path),
            body_limit: config.body_limit.or(old.body_limit),
            cache_secret: config.cache_secret.or(old.cache_secret),
            mwt_secret: config.mwt_secret.or(old.mwt_secret),
            jwt_secret: config.jwt_secret.or(old.jwt_secret),
            ..config
        };
        self
    }

    /// Parse the registry, create the engine, check the config, log the engine's warnings.
    /// Fails, naming them, when a public function of the registry has no implementation or an
    /// implementation is registered under a name the registry lacks (a typo would otherwise be
    /// a 500 at the first call).
    pub fn build(self) -> Result<Mizan> {
        let kernel = match self.kernel {
            Some(k) => k,
            None => Kernel::new()?,
        };
        let mut config = self.config;
        let cache: Option<Arc<dyn OriginCache>> = match self.cache {
            None => None,
            Some(CacheChoice::Memory) => {
                if config.cache_secret.is_none() {
                    config.cache_secret = Some(random_secret());
                }
                Some(Arc::new(MemoryOriginStore::new(&kernel)?))
            }
            Some(CacheChoice::Store(store)) => {
                if config.cache_secret.is_none() {
                    return Err(Error::Host(
                        "an origin cache needs cache_secret (the same on every process sharing it)".into(),
                    ));
                }
                Some(store)
            }
        };
        if cache.is_none() {
            config.cache_secret = None; // no cache: no cache plans, no X-Mizan-Cache, no purges
        }
        let registry = Registry::from_kdl(&kernel, &self.kdl)?;
        let engine = Engine::new(&kernel, &registry, &config)?;
        let diagnostic: DiagnosticFn = self.diagnostic.unwrap_or_else(|| Arc::new(|d: &str| tracing::warn!("mizan: {d}")));
        for w in engine.warnings()? {
            diagnostic(&w);
        }
        let json = registry.to_json()?;
        let declared = json["functions"].as_object().cloned().unwrap_or_default();
        let mut missing: Vec<String> = declared
            .iter()
            .filter(|(name, f)| !self.functions.contains_key(*name) && !f["private"].as_bool().unwrap_or(false))
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        let mut unknown: Vec<String> = self.functions.keys().filter(|n| !declared.contains_key(*n)).map(|n| format!("`{n}`")).collect();
        missing.sort();
        unknown.sort();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("no implementation for {}", missing.join(", ")));
        }
        if !unknown.is_empty() {
            problems.push(format!("{} registered, but the registry has no such function", unknown.join(", ")));
        }
        if !problems.is_empty() {
            return Err(Error::Registration(problems.join("; ")));
        }
        let error: ErrorFn = self.error.unwrap_or_else(|| Arc::new(|e: &str| tracing::error!("mizan: {e}")));
        Ok(Mizan {
            inner: Arc::new(Inner {
                kernel,
                registry,
                engine,
                cache,
                functions: self.functions,
                predicates: self.predicates,
                identity: self.identity,
                revoked: self.revoked,
                diagnostic,
                error,
                pending: std::sync::Mutex::new(None),
            }),
        })
    }
}

/// 32 random bytes as hex, for an in-process cache's secret: the OS's randomness from
/// `/dev/urandom`, else the keys of std's `RandomState` (which come from it too).
fn random_secret() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::io::Read;
    let mut bytes = [0u8; 32];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok();
    if !from_os {
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    /// The origin-cache store, if one is configured.
    pub fn cache(&self) -> Option<&Arc<dyn OriginCache>> {
        self.inner.cache.as_ref()
    }

    fn diagnostic(&self, text: &str) {
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

    fn error(&self, text: &str) {
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

    async fn answers(&self, check: PredicateCheck, parts: &Arc<Parts>) -> Vec<(String, bool)> {
        let mut out = Vec::with_capacity(check.predicates.len());
        for name in check.predicates {
            let verdict = match self.inner.predicates.get(&name) {
                Some(p) => p(Ctx { identity: check.identity.clone(), parts: parts.clone(), mizan: self.clone() }).await,
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

    /// Serve one request: the response to send, exactly. `parts` is the HTTP request's head
    /// (for functions and predicates), `identity` the session's.
    pub async fn handle(&self, request: &Request, parts: Arc<Parts>, identity: Option<Identity>) -> Response {
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
            let answers = self.answers(check, &parts).await;
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
            Plan::Call(call) => self.call(call, parts).await,
            Plan::Fetch(fetch) => self.fetch(fetch, parts).await,
        }
    }

    async fn call(&self, call: CallPlan, parts: Arc<Parts>) -> Response {
        let ctx = Ctx { identity: call.identity.clone(), parts, mizan: self.clone() };
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

    async fn fetch(&self, fetch: FetchPlan, parts: Arc<Parts>) -> Response {
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
        let ctx = Ctx { identity: fetch.identity.clone(), parts, mizan: self.clone() };
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

    /// An `axum::Router` serving the protocol at the base path (`/api/mizan`, `/api/mizan/`
    /// and everything under it, every method): merge it into the app's router. Unknown paths
    /// under the base and wrong methods are the engine's 404/405 in the same envelope.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let base = self.inner.engine.base_path().trim_end_matches('/').to_string();
        let this = self.clone();
        let handler = move |req: ::axum::extract::Request| {
            let this = this.clone();
            async move { this.serve(req).await }
        };
        let router = Router::new();
        if base.is_empty() {
            router.route("/", any(handler.clone())).route("/{*rest}", any(handler))
        } else {
            router
                .route(&base, any(handler.clone()))
                .route(&format!("{base}/"), any(handler.clone()))
                .route(&format!("{base}/{{*rest}}"), any(handler))
        }
    }

    /// Serve one Axum request (what [`Mizan::router`]'s routes call).
    pub async fn serve(&self, req: ::axum::extract::Request) -> ::axum::response::Response {
        let (parts, body) = req.into_parts();
        let uri = parts.extensions.get::<OriginalUri>().map(|o| o.0.clone()).unwrap_or_else(|| parts.uri.clone());
        let method = parts.method.as_str().to_string();
        let is_head = parts.method == ::axum::http::Method::HEAD;
        let mut headers = Vec::new();
        for (name, value) in &parts.headers {
            if name == "x-mizan-token" || name == ::axum::http::header::AUTHORIZATION {
                headers.push((name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()));
            }
        }
        let body = if is_head || parts.method == ::axum::http::Method::GET {
            Vec::new()
        } else {
            match read_limited(body, self.inner.engine.body_limit()).await {
                Ok(bytes) => bytes,
                Err(too_large) => {
                    let r = if too_large {
                        self.error_response(ProtocolCode::PayloadTooLarge, "Request body too large")
                    } else {
                        self.error_response(ProtocolCode::BadRequest, "Invalid request body")
                    };
                    return to_axum(r);
                }
            }
        };
        let request = Request::new(method, uri.path(), uri.query().unwrap_or(""), headers, body);
        let parts = Arc::new(parts);
        let identity = match &self.inner.identity {
            // The app's session lookup is inside the protocol path: a panic in it is the
            // engine's 500 envelope, like any other failure, never the framework's.
            Some(f) => match catch_unwind(f(parts.clone())).await {
                Ok(identity) => identity,
                Err(panic) => {
                    self.error(&format!("the identity callback panicked: {panic}"));
                    return to_axum(self.error_response(ProtocolCode::InternalError, "Internal server error"));
                }
            },
            None => None,
        };
        to_axum(self.handle(&request, parts, identity).await)
    }
}

/// At most `limit + 1` bytes of the body (enough for the engine to see it is too large).
/// `Err(true)`: a framework limit refused the body; `Err(false)`: the body failed to arrive.
async fn read_limited(mut body: Body, limit: usize) -> std::result::Result<Vec<u8>, bool> {
    let mut buf = Vec::new();
    while buf.len() <= limit {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = limit + 1 - buf.len();
                    buf.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Some(Err(e)) => {
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(s) = source {
                    if s.is::<http_body_util::LengthLimitError>() {
                        return Err(true);
                    }
                    source = s.source();
                }
                return Err(false);
            }
        }
    }
    Ok(buf)
}

/// The engine's response as Axum's: same status, headers in order, body bytes. For `HEAD`
/// hyper sends the headers (with the body's `Content-Length`) and no body.
pub fn to_axum(r: Response) -> ::axum::response::Response {
    let mut out = ::axum::response::Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (name, value) in r.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            headers.append(n, v);
        }
    }
    out
}

/// A future that turns a panic while polling into `Err(message)`.
struct CatchUnwind<F>(Pin<Box<F>>);

fn catch_unwind<F: Future>(f: F) -> CatchUnwind<F> {
    CatchUnwind(Box::pin(f))
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::result::Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.get_mut().0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                Poll::Ready(Err(text))
            }
        }
    }
}
