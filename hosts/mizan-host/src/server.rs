//! The server protocol engine (the WIT `server` interface; docs/SERVER.md): [`Engine`] plans
//! each request and assembles each response, mints and verifies tokens; [`OriginStore`] is the
//! kernel's in-memory origin cache; [`Kernel::redis_put_script`] and friends give the Redis
//! store's scripts.
//!
//! The engine is sans-IO: the host runs the user's functions, evaluates auth predicates, reads
//! and writes its cache and passes `now` (milliseconds since the epoch, [`now_ms`]). The
//! per-request flow is docs/SERVER.md "What a host does"; [`crate::axum`] runs it for Axum.

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use wasmtime::component::ResourceAny;

use crate::bindings::exports::mizan::kernel::server as wit;
use crate::dedicated::{Dedicated, Rebuild};
use crate::error::{Error, Result};
use crate::kernel::{Instance, Kernel, parse};
use crate::keyer::PurgePlan;
use crate::registry::Registry;

/// Milliseconds since the Unix epoch: the `now` every engine and store call takes.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

// --- values -------------------------------------------------------------------------------------

/// A request as received (the WIT `request` record, held as is so `plan` lowers it without a
/// copy). `headers` need only hold those the engine reads (`X-Mizan-Token`, `Authorization`).
#[derive(Clone)]
pub struct Request(wit::Request);

impl Request {
    /// `body`: at most `body_limit + 1` bytes of the request body. It crosses as text when it
    /// is valid UTF-8 (every JSON body), else as bytes, so the kernel judges exactly what arrived.
    pub fn new(
        method: impl Into<String>,
        path: impl Into<String>,
        query: impl Into<String>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Request {
        let body = match String::from_utf8(body) {
            Ok(text) => wit::RequestBody::Text(text),
            Err(e) => wit::RequestBody::Bytes(e.into_bytes()),
        };
        Request(wit::Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: headers.into_iter().map(|(name, value)| wit::HttpHeader { name, value }).collect(),
            body,
            csrf_token: None,
        })
    }

    /// The WIT record, as the exchange's `arrival` carries it.
    pub(crate) fn wit(&self) -> &wit::Request {
        &self.0
    }

    /// Django's CSRF token, answered by `GET /session/`.
    pub fn with_csrf_token(mut self, token: Option<String>) -> Request {
        self.0.csrf_token = token;
        self
    }

    pub fn method(&self) -> &str {
        &self.0.method
    }

    pub fn path(&self) -> &str {
        &self.0.path
    }

    pub fn query(&self) -> &str {
        &self.0.query
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body_len = match &self.0.body {
            wit::RequestBody::Text(t) => t.len(),
            wit::RequestBody::Bytes(b) => b.len(),
        };
        f.debug_struct("Request")
            .field("method", &self.0.method)
            .field("path", &self.0.path)
            .field("query", &self.0.query)
            .field("headers", &self.0.headers.iter().map(|h| &h.name).collect::<Vec<_>>()) // never print tokens
            .field("body_len", &body_len)
            .finish()
    }
}

/// Send exactly this: status, headers in order, body (JSON text). For `HEAD`, the headers only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl From<wit::Response> for Response {
    fn from(r: wit::Response) -> Self {
        Response { status: r.status, headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(), body: r.body }
    }
}

/// The caller; `None` where an identity is optional means anonymous.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub subject: String,
    pub staff: bool,
    pub superuser: bool,
    /// A JWT's `sid`, for the host's revocation check.
    pub session_id: Option<String>,
    /// An MWT's permission-set hash, for the host's staleness check.
    pub perm: Option<String>,
}

impl Identity {
    /// A plain user (not staff, not superuser).
    pub fn user(subject: impl Into<String>) -> Identity {
        Identity { subject: subject.into(), ..Identity::default() }
    }
}

impl From<wit::Identity> for Identity {
    fn from(i: wit::Identity) -> Self {
        Identity { subject: i.subject, staff: i.staff, superuser: i.superuser, session_id: i.session_id, perm: i.perm }
    }
}

impl From<&Identity> for wit::Identity {
    fn from(i: &Identity) -> Self {
        wit::Identity {
            subject: i.subject.clone(),
            staff: i.staff,
            superuser: i.superuser,
            session_id: i.session_id.clone(),
            perm: i.perm.clone(),
        }
    }
}

/// Evaluate these predicates for `identity`, then `plan` again with the answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredicateCheck {
    pub predicates: Vec<String>,
    pub identity: Option<Identity>,
}

/// Run `function` with `args_json` (declared inputs only, coerced) as `identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlan {
    pub function: String,
    /// The arguments as JSON text (an object); [`CallPlan::args`] parses them.
    pub args_json: String,
    pub identity: Option<Identity>,
}

impl CallPlan {
    pub fn args(&self) -> Result<Value> {
        parse(&self.args_json)
    }
}

impl From<&CallPlan> for wit::CallPlan {
    fn from(c: &CallPlan) -> Self {
        wit::CallPlan {
            function: c.function.clone(),
            args_json: c.args_json.clone(),
            identity: c.identity.as_ref().map(Into::into),
        }
    }
}

/// One member of a context to run, with its declared arguments (JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCall {
    pub function: String,
    pub args_json: String,
}

impl MemberCall {
    pub fn args(&self) -> Result<Value> {
        parse(&self.args_json)
    }
}

/// Read `key`; on a miss the finished fetch carries the put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePlan {
    pub key: String,
    pub index_keys: Vec<String>,
    pub ttl_seconds: u64,
    /// For a public entry (no user): the set whose size bounds it.
    pub bound: Option<CacheBound>,
}

/// An entry is stored only while `set` (one of its index keys) holds fewer than `max_entries`
/// live entries: the bound on a context's public (anonymous, shared) entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheBound {
    pub set: String,
    pub max_entries: u32,
}

pub(crate) fn bound_out(b: Option<wit::CacheBound>) -> Option<CacheBound> {
    b.map(|b| CacheBound { set: b.set, max_entries: b.max_entries })
}

fn bound_in(b: &Option<CacheBound>) -> Option<wit::CacheBound> {
    b.as_ref().map(|b| wit::CacheBound { set: b.set.clone(), max_entries: b.max_entries })
}

impl From<wit::CachePlan> for CachePlan {
    fn from(c: wit::CachePlan) -> Self {
        CachePlan { key: c.key, index_keys: c.index_keys, ttl_seconds: c.ttl_seconds, bound: bound_out(c.bound) }
    }
}

impl From<&CachePlan> for wit::CachePlan {
    fn from(c: &CachePlan) -> Self {
        wit::CachePlan { key: c.key.clone(), index_keys: c.index_keys.clone(), ttl_seconds: c.ttl_seconds, bound: bound_in(&c.bound) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPlan {
    pub context: String,
    /// The declared params of the request, coerced (what the key is derived from), JSON text.
    pub params_json: String,
    /// Every member, in UTF-16 name order.
    pub members: Vec<MemberCall>,
    pub identity: Option<Identity>,
    /// `None`: no cache configured, or the context says `cache=False`.
    pub cache: Option<CachePlan>,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Send it (the session endpoint, every error).
    Respond(Response),
    CheckPredicates(PredicateCheck),
    Call(CallPlan),
    Fetch(FetchPlan),
}

impl Plan {
    /// The effective identity of a plan that runs something (`None` for `Respond`).
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Plan::Respond(_) => None,
            Plan::CheckPredicates(c) => c.identity.as_ref(),
            Plan::Call(c) => c.identity.as_ref(),
            Plan::Fetch(f) => f.identity.as_ref(),
        }
    }
}

impl From<wit::Plan> for Plan {
    fn from(p: wit::Plan) -> Self {
        match p {
            wit::Plan::Respond(r) => Plan::Respond(r.into()),
            wit::Plan::CheckPredicates(c) => {
                Plan::CheckPredicates(PredicateCheck { predicates: c.predicates, identity: c.identity.map(Into::into) })
            }
            wit::Plan::Call(c) => {
                Plan::Call(CallPlan { function: c.function, args_json: c.args_json, identity: c.identity.map(Into::into) })
            }
            wit::Plan::Fetch(f) => Plan::Fetch(FetchPlan {
                context: f.context,
                params_json: f.params_json,
                members: f.members.into_iter().map(|m| MemberCall { function: m.function, args_json: m.args_json }).collect(),
                identity: f.identity.map(Into::into),
                cache: f.cache.map(Into::into),
            }),
        }
    }
}

/// The protocol's error codes (docs/SERVER.md "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolCode {
    NotFound,
    BadRequest,
    ValidationError,
    Unauthorized,
    Forbidden,
    NotImplemented,
    InternalError,
    PayloadTooLarge,
    MethodNotAllowed,
}

impl ProtocolCode {
    pub const ALL: [ProtocolCode; 9] = [
        ProtocolCode::NotFound,
        ProtocolCode::BadRequest,
        ProtocolCode::ValidationError,
        ProtocolCode::Unauthorized,
        ProtocolCode::Forbidden,
        ProtocolCode::NotImplemented,
        ProtocolCode::InternalError,
        ProtocolCode::PayloadTooLarge,
        ProtocolCode::MethodNotAllowed,
    ];

    /// The wire spelling: `NOT_FOUND`, `BAD_REQUEST`…
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolCode::NotFound => "NOT_FOUND",
            ProtocolCode::BadRequest => "BAD_REQUEST",
            ProtocolCode::ValidationError => "VALIDATION_ERROR",
            ProtocolCode::Unauthorized => "UNAUTHORIZED",
            ProtocolCode::Forbidden => "FORBIDDEN",
            ProtocolCode::NotImplemented => "NOT_IMPLEMENTED",
            ProtocolCode::InternalError => "INTERNAL_ERROR",
            ProtocolCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ProtocolCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
        }
    }

    /// The code for a wire spelling (the inverse of `as_str`, so the spellings live in one place).
    pub fn parse(text: &str) -> Option<ProtocolCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for ProtocolCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ProtocolCode> for wit::ProtocolCode {
    fn from(c: ProtocolCode) -> Self {
        match c {
            ProtocolCode::NotFound => wit::ProtocolCode::NotFound,
            ProtocolCode::BadRequest => wit::ProtocolCode::BadRequest,
            ProtocolCode::ValidationError => wit::ProtocolCode::ValidationError,
            ProtocolCode::Unauthorized => wit::ProtocolCode::Unauthorized,
            ProtocolCode::Forbidden => wit::ProtocolCode::Forbidden,
            ProtocolCode::NotImplemented => wit::ProtocolCode::NotImplemented,
            ProtocolCode::InternalError => wit::ProtocolCode::InternalError,
            ProtocolCode::PayloadTooLarge => wit::ProtocolCode::PayloadTooLarge,
            ProtocolCode::MethodNotAllowed => wit::ProtocolCode::MethodNotAllowed,
        }
    }
}

/// An error a function raised on purpose, or one the host detected itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ProtocolCode,
    pub message: String,
    /// Details as JSON text (`{"fields": {...}}` for a 422).
    pub details_json: Option<String>,
}

impl ProtocolError {
    pub fn new(code: ProtocolCode, message: impl Into<String>) -> ProtocolError {
        ProtocolError { code, message: message.into(), details_json: None }
    }

    pub fn with_details(mut self, details: &Value) -> ProtocolError {
        self.details_json = Some(details.to_string());
        self
    }
}

impl From<&ProtocolError> for wit::ProtocolError {
    fn from(e: &ProtocolError) -> Self {
        wit::ProtocolError { code: e.code.into(), message: e.message.clone(), details_json: e.details_json.clone() }
    }
}

/// How a function ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function's result as JSON text.
    Ok(String),
    /// An error the function raised on purpose.
    Error(ProtocolError),
    /// An unexpected failure: the text goes to diagnostics, never to the client.
    Exception(String),
}

impl Outcome {
    /// `Ok` with the value's JSON text.
    pub fn ok(value: &Value) -> Outcome {
        Outcome::Ok(value.to_string())
    }
}

pub(crate) fn outcome_wit(o: Outcome) -> wit::Outcome {
    match o {
        Outcome::Ok(text) => wit::Outcome::Ok(text),
        Outcome::Error(e) => wit::Outcome::Error(wit::ProtocolError {
            code: e.code.into(),
            message: e.message,
            details_json: e.details_json,
        }),
        Outcome::Exception(text) => wit::Outcome::Exception(text),
    }
}

/// What a fetch found: the cached body, or every member's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The body the cache held under the plan's key.
    Hit(String),
    /// `(function, outcome)` for every member.
    Results(Vec<(String, Outcome)>),
}

fn fetch_outcome_wit(o: FetchOutcome) -> wit::FetchOutcome {
    match o {
        FetchOutcome::Hit(body) => wit::FetchOutcome::Hit(body),
        FetchOutcome::Results(list) => wit::FetchOutcome::Results(
            list.into_iter().map(|(function, o)| wit::MemberOutcome { function, outcome: outcome_wit(o) }).collect(),
        ),
    }
}

/// Store this after a miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePut {
    pub key: String,
    pub body: String,
    pub index_keys: Vec<String>,
    pub ttl_seconds: u64,
    pub bound: Option<CacheBound>,
}

impl From<&CachePut> for wit::CachePut {
    fn from(c: &CachePut) -> Self {
        wit::CachePut {
            key: c.key.clone(),
            body: c.body.clone(),
            index_keys: c.index_keys.clone(),
            ttl_seconds: c.ttl_seconds,
            bound: bound_in(&c.bound),
        }
    }
}

/// Run `purge` (after the function succeeded), then store `cache_put`, then send `response`;
/// log `diagnostics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub response: Response,
    pub cache_put: Option<CachePut>,
    pub purge: Option<PurgePlan>,
    pub diagnostics: Vec<String>,
}

impl From<wit::Finished> for Finished {
    fn from(f: wit::Finished) -> Self {
        Finished {
            response: f.response.into(),
            cache_put: f.cache_put.map(|c| CachePut {
                key: c.key,
                body: c.body,
                index_keys: c.index_keys,
                ttl_seconds: c.ttl_seconds,
                bound: bound_out(c.bound),
            }),
            purge: f.purge,
            diagnostics: f.diagnostics,
        }
    }
}

/// The engine's settings. `None` takes the default: base path `/api/mizan`, body limit 1 MiB,
/// no cache, safety TTL 24 h, no tokens, MWT and access TTL 300 s, refresh TTL 7 days, no
/// leeway, 1000 public entries per context. The three secrets must differ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineConfig {
    pub base_path: Option<String>,
    pub body_limit: Option<u32>,
    /// Set it to have an origin cache (cache plans, `X-Mizan-Cache`, purges).
    pub cache_secret: Option<String>,
    pub safety_ttl_seconds: Option<u64>,
    /// Verify `X-Mizan-Token` (MWT).
    pub mwt_secret: Option<String>,
    pub mwt_ttl_seconds: Option<u64>,
    /// Verify `Authorization: Bearer` (JWT access tokens).
    pub jwt_secret: Option<String>,
    pub access_ttl_seconds: Option<u64>,
    pub refresh_ttl_seconds: Option<u64>,
    pub token_leeway_seconds: Option<u64>,
    /// Per context, the most public entries (anonymous requests, shared contexts) a store
    /// holds; 0: unbounded.
    pub max_public_entries: Option<u32>,
}

impl From<&EngineConfig> for wit::EngineConfig {
    fn from(c: &EngineConfig) -> Self {
        wit::EngineConfig {
            base_path: c.base_path.clone(),
            body_limit: c.body_limit,
            cache_secret: c.cache_secret.clone(),
            safety_ttl_seconds: c.safety_ttl_seconds,
            mwt_secret: c.mwt_secret.clone(),
            mwt_ttl_seconds: c.mwt_ttl_seconds,
            jwt_secret: c.jwt_secret.clone(),
            access_ttl_seconds: c.access_ttl_seconds,
            refresh_ttl_seconds: c.refresh_ttl_seconds,
            token_leeway_seconds: c.token_leeway_seconds,
            max_public_entries: c.max_public_entries,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// `X-Mizan-Token`.
    Mwt,
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Mwt => "mwt",
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

impl From<TokenKind> for wit::TokenKind {
    fn from(k: TokenKind) -> Self {
        match k {
            TokenKind::Mwt => wit::TokenKind::Mwt,
            TokenKind::Access => wit::TokenKind::Access,
            TokenKind::Refresh => wit::TokenKind::Refresh,
        }
    }
}

/// A verified token's claims; times in seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub kind: TokenKind,
    pub subject: String,
    pub staff: bool,
    pub superuser: bool,
    pub perm: Option<String>,
    pub session_id: Option<String>,
    pub issued_at: u64,
    pub expires_at: u64,
}

impl From<wit::TokenClaims> for TokenClaims {
    fn from(c: wit::TokenClaims) -> Self {
        TokenClaims {
            kind: match c.kind {
                wit::TokenKind::Mwt => TokenKind::Mwt,
                wit::TokenKind::Access => TokenKind::Access,
                wit::TokenKind::Refresh => TokenKind::Refresh,
            },
            subject: c.subject,
            staff: c.staff,
            superuser: c.superuser,
            perm: c.perm,
            session_id: c.session_id,
            issued_at: c.issued_at,
            expires_at: c.expires_at,
        }
    }
}

/// A JWT access/refresh pair; expiry times in seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtPair {
    pub access: String,
    pub refresh: String,
    pub access_expires_at: u64,
    pub refresh_expires_at: u64,
}

// --- the engine ---------------------------------------------------------------------------------

/// One pooled instance holding one engine resource.
struct Resident {
    instance: Instance,
    handle: ResourceAny,
}

struct EngineInner {
    kernel: Kernel,
    registry_json: String,
    config: wit::EngineConfig,
    pool: Mutex<Vec<Resident>>,
    max_idle: usize,
    created: AtomicU64,
    base_path: String,
    body_limit: usize,
}

/// The server protocol engine (the WIT `engine` resource).
///
/// `Send + Sync + Clone` (an `Arc`): share one per app. The engine keeps no state between calls
/// (its registry and config are fixed at creation), so it is pooled like [`Kernel`] calls: each
/// call checks out an instance that holds its own engine resource (creating one — instance +
/// `engine.create` — when none is idle), so concurrent requests never wait on each other. An
/// instance that traps is dropped; the next call builds a fresh one from the kept registry
/// JSON and config, so a trap fails that one call only.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

type Guest<'a> = wit::GuestEngine<'a>;

const DEFAULT_BASE_PATH: &str = "/api/mizan";
const DEFAULT_BODY_LIMIT: usize = 1 << 20;

impl Engine {
    /// An engine over a checked registry. Errors: an empty or reused secret, a base path not
    /// starting with `/` (`invalid-argument`), a bad registry.
    pub fn new(kernel: &Kernel, registry: &Registry, config: &EngineConfig) -> Result<Engine> {
        let json = registry.to_json()?;
        Self::from_json_text(kernel, json.to_string(), config)
    }

    /// An engine over KDL IR text.
    pub fn from_kdl(kernel: &Kernel, kdl: &str, config: &EngineConfig) -> Result<Engine> {
        Self::new(kernel, &Registry::from_kdl(kernel, kdl)?, config)
    }

    /// An engine over the registry's JSON form (what `Registry::to_json` gives).
    pub fn from_json(kernel: &Kernel, registry: &Value, config: &EngineConfig) -> Result<Engine> {
        Self::from_json_text(kernel, registry.to_string(), config)
    }

    fn from_json_text(kernel: &Kernel, registry_json: String, config: &EngineConfig) -> Result<Engine> {
        let engine = Engine {
            inner: Arc::new(EngineInner {
                kernel: kernel.clone(),
                registry_json,
                config: config.into(),
                pool: Mutex::new(Vec::new()),
                max_idle: crate::kernel::DEFAULT_MAX_IDLE,
                created: AtomicU64::new(0),
                base_path: config.base_path.clone().unwrap_or_else(|| DEFAULT_BASE_PATH.to_string()),
                body_limit: config.body_limit.map(|n| n as usize).unwrap_or(DEFAULT_BODY_LIMIT),
            }),
        };
        // Create the first one now: a bad registry or config fails here, not at the first request.
        let first = engine.build()?;
        engine.checkin(first);
        Ok(engine)
    }

    /// The kernel this engine runs on.
    pub fn kernel(&self) -> &Kernel {
        &self.inner.kernel
    }

    /// The base path the engine serves (`/api/mizan` by default).
    pub fn base_path(&self) -> &str {
        &self.inner.base_path
    }

    /// The body limit in bytes: read at most `body_limit() + 1` bytes of a body.
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// How many engine resources were created (the pool's growth plus rebuilds after traps).
    pub fn engines_created(&self) -> u64 {
        self.inner.created.load(Ordering::Relaxed)
    }

    fn pool(&self) -> MutexGuard<'_, Vec<Resident>> {
        self.inner.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn build(&self) -> Result<Resident> {
        let kernel = &self.inner.kernel;
        let mut instance = kernel.instantiate()?;
        let created = instance.bindings.mizan_kernel_server().engine().call_create(
            &mut instance.store,
            &self.inner.registry_json,
            &self.inner.config,
        );
        match created {
            Ok(Ok(handle)) => {
                self.inner.created.fetch_add(1, Ordering::Relaxed);
                Ok(Resident { instance, handle })
            }
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(kernel.trapped(e)),
        }
    }

    fn checkin(&self, resident: Resident) {
        let mut pool = self.pool();
        if pool.len() < self.inner.max_idle {
            pool.push(resident);
        }
    }

    /// Run `f` on a pooled engine; on a trap the instance is dropped, not returned.
    fn call<T, E>(
        &self,
        f: impl FnOnce(&mut wasmtime::Store<crate::kernel::State>, Guest<'_>, ResourceAny) -> wasmtime::Result<Result<T, E>>,
    ) -> Result<T>
    where
        Error: From<E>,
    {
        let pooled = self.pool().pop();
        let mut resident = match pooled {
            Some(r) => r,
            None => self.build()?,
        };
        let Resident { instance, handle } = &mut resident;
        match f(&mut instance.store, instance.bindings.mizan_kernel_server().engine(), *handle) {
            Ok(result) => {
                self.checkin(resident);
                result.map_err(Error::from)
            }
            Err(e) => Err(self.inner.kernel.trapped(e)),
        }
    }

    /// Problems with a usable config (short secrets), to log at start.
    pub fn warnings(&self) -> Result<Vec<String>> {
        self.call(|s, g, h| g.call_warnings(s, h).map(Ok::<_, Error>))
    }

    /// Plan a request. `identity` is the host's session identity (a token header, when
    /// configured, replaces it); `answers` are the verdicts on an earlier
    /// [`Plan::CheckPredicates`] (`&[]` the first time).
    pub fn plan(&self, request: &Request, identity: Option<&Identity>, now: u64, answers: &[(String, bool)]) -> Result<Plan> {
        let identity = identity.map(wit::Identity::from);
        let answers: Vec<wit::PredicateAnswer> =
            answers.iter().map(|(name, allowed)| wit::PredicateAnswer { name: name.clone(), allowed: *allowed }).collect();
        let plan = self.call(|s, g, h| g.call_plan(s, h, &request.0, identity.as_ref(), now, &answers).map(Ok::<_, Error>))?;
        Ok(plan.into())
    }

    /// The response to a call, its purge plan and diagnostics.
    pub fn finish_call(&self, call: &CallPlan, outcome: Outcome) -> Result<Finished> {
        let call = wit::CallPlan::from(call);
        let outcome = outcome_wit(outcome);
        let fin = self.call(|s, g, h| g.call_finish_call(s, h, &call, &outcome).map(Ok::<_, Error>))?;
        Ok(fin.into())
    }

    /// The response to a fetch (and the cache put after a miss). `cache` is the fetch plan's.
    pub fn finish_fetch(&self, context: &str, cache: Option<&CachePlan>, outcome: FetchOutcome) -> Result<Finished> {
        let cache = cache.map(wit::CachePlan::from);
        let outcome = fetch_outcome_wit(outcome);
        let fin = self.call(|s, g, h| g.call_finish_fetch(s, h, context, cache.as_ref(), &outcome).map(Ok::<_, Error>))?;
        Ok(fin.into())
    }

    /// The response for an error the host found itself (revoked session, CSRF, body limit).
    pub fn error_response(&self, error: &ProtocolError) -> Result<Response> {
        let error = wit::ProtocolError::from(error);
        Ok(self.call(|s, g, h| g.call_error_response(s, h, &error).map(Ok::<_, Error>))?.into())
    }

    /// Whether `plan` takes this request's identity from a token header (or refuses it for a
    /// bad or ambiguous one) instead of the session: a CSRF check applies exactly when not.
    pub fn reads_token(&self, request: &Request) -> Result<bool> {
        self.call(|s, g, h| g.call_reads_token(s, h, &request.0).map(Ok::<_, Error>))
    }

    /// Purges that failed, kept to retry: both plans, each scope once (a broad purge of every
    /// context past the kernel's bound). docs/SERVER.md "When a purge fails".
    pub fn merge_purge_plans(&self, pending: &PurgePlan, failed: &PurgePlan) -> Result<PurgePlan> {
        self.call(|s, g, h| g.call_merge_purge_plans(s, h, pending, failed).map(Ok::<_, Error>))
    }

    /// Purge what invalidation entries cover (`["ctx", {"context", "params"?}]`); needs a cache.
    pub fn purge_plan(&self, entries: &Value) -> Result<PurgePlan> {
        let entries = entries.to_string();
        self.call(|s, g, h| g.call_purge_plan(s, h, &entries))
    }

    /// Purge every entry of one user in every context (GDPR erasure); needs a cache.
    pub fn purge_user_plan(&self, user: &str) -> Result<PurgePlan> {
        self.call(|s, g, h| g.call_purge_user_plan(s, h, user))
    }

    /// An MWT for `identity` (its `perm` is carried).
    pub fn mint_mwt(&self, identity: &Identity, now: u64) -> Result<String> {
        let identity = wit::Identity::from(identity);
        self.call(|s, g, h| g.call_mint_mwt(s, h, &identity, now))
    }

    /// Errors are `invalid-argument` with details `{"reason"}`.
    pub fn verify_mwt(&self, token: &str, now: u64) -> Result<TokenClaims> {
        Ok(self.call(|s, g, h| g.call_verify_mwt(s, h, token, now))?.into())
    }

    pub fn mint_jwt_pair(&self, identity: &Identity, session_id: &str, now: u64) -> Result<JwtPair> {
        let identity = wit::Identity::from(identity);
        let p = self.call(|s, g, h| g.call_mint_jwt_pair(s, h, &identity, session_id, now))?;
        Ok(JwtPair {
            access: p.access,
            refresh: p.refresh,
            access_expires_at: p.access_expires_at,
            refresh_expires_at: p.refresh_expires_at,
        })
    }

    /// `kind` is [`TokenKind::Access`] or [`TokenKind::Refresh`].
    pub fn verify_jwt(&self, token: &str, kind: TokenKind, now: u64) -> Result<TokenClaims> {
        Ok(self.call(|s, g, h| g.call_verify_jwt(s, h, token, kind.into(), now))?.into())
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("base_path", &self.inner.base_path)
            .field("body_limit", &self.inner.body_limit)
            .field("engines_created", &self.engines_created())
            .finish_non_exhaustive() // never print the secrets
    }
}

// --- the in-memory origin store -----------------------------------------------------------------

/// What a lookup found (`None`: a miss) and the ticket a later put presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub body: Option<String>,
    pub ticket: u64,
}

/// One bounded step of a purge: what it deleted, and where the next step goes on (`None`: done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeStep {
    pub purged: Vec<String>,
    pub cursor: Option<String>,
}

/// The kernel's in-memory origin cache (the WIT `origin-store` resource): entries, their index
/// sets and purge plans, LRU bounds. One per process; `Send + Sync`, calls serialized by its
/// mutex (it owns one dedicated instance).
///
/// After a trap the store is rebuilt **empty** on the next call: it is a cache, so losing its
/// entries only turns reads into misses (and an empty store holds nothing a purge could miss).
pub struct OriginStore {
    max_entries: u32,
    max_bytes: u64,
    resident: Dedicated,
}

type OriginGuest<'a> = wit::GuestOriginStore<'a>;

impl OriginStore {
    /// Bounds: entries and bytes (keys, bodies and index keys); 0 takes the default (10 000
    /// entries, 64 MiB). Least recently used entries are evicted first.
    pub fn new(kernel: &Kernel, max_entries: u32, max_bytes: u64) -> Result<OriginStore> {
        let resident = Dedicated::new(kernel, Rebuild::Always, &|s, b| {
            b.mizan_kernel_server().origin_store().call_constructor(s, max_entries, max_bytes).map(Ok::<_, wit::Error>)
        })?;
        Ok(OriginStore { max_entries, max_bytes, resident })
    }

    fn call<T>(
        &self,
        f: impl FnOnce(&mut wasmtime::Store<crate::kernel::State>, OriginGuest<'_>, ResourceAny) -> wasmtime::Result<T>,
    ) -> Result<T> {
        let (max_entries, max_bytes) = (self.max_entries, self.max_bytes);
        self.resident.call(
            &|s, b| b.mizan_kernel_server().origin_store().call_constructor(s, max_entries, max_bytes).map(Ok::<_, wit::Error>),
            |s, b, h| f(s, b.mizan_kernel_server().origin_store(), h).map(Ok::<_, Error>),
        )
    }

    /// The body under `key`, if present and not expired (an expired entry is removed).
    pub fn get(&self, key: &str, now: u64) -> Result<Option<String>> {
        self.call(|s, g, h| g.call_get(s, h, key, now))
    }

    /// False when nothing was stored (TTL 0, or larger than the byte bound).
    pub fn put(&self, key: &str, body: &str, index_keys: &[String], ttl_seconds: u64, now: u64) -> Result<bool> {
        self.call(|s, g, h| g.call_put(s, h, key, body, index_keys, ttl_seconds, now))
    }

    /// Delete what the plan matches, every user and rev; the deleted keys, sorted.
    pub fn purge(&self, plan: &PurgePlan) -> Result<Vec<String>> {
        self.call(|s, g, h| g.call_purge(s, h, plan))
    }

    /// [`get`](Self::get) and the ticket a later [`put_entry`](Self::put_entry) presents.
    pub fn lookup(&self, key: &str, now: u64) -> Result<Lookup> {
        let l = self.call(|s, g, h| g.call_lookup(s, h, key, now))?;
        Ok(Lookup { body: l.body, ticket: l.ticket })
    }

    /// Store the engine's put unless a purge of one of its sets started after `ticket`, or its
    /// bound set is full. `ticket: None` skips the first check. False when nothing was stored.
    pub fn put_entry(&self, put: &CachePut, ticket: Option<u64>, now: u64) -> Result<bool> {
        let put = wit::CachePut::from(put);
        self.call(|s, g, h| g.call_put_entry(s, h, &put, ticket, now))
    }

    /// One step of a purge, looking at no more than `limit` set members (0: 256); the first
    /// step (`cursor: None`) fences the puts that read before it.
    pub fn purge_step(&self, plan: &PurgePlan, cursor: Option<&str>, limit: u32) -> Result<PurgeStep> {
        let step = self.call(|s, g, h| g.call_purge_step(s, h, plan, cursor, limit))?;
        Ok(PurgeStep { purged: step.purged, cursor: step.cursor })
    }

    /// Remove expired entries; how many.
    pub fn sweep(&self, now: u64) -> Result<u32> {
        self.call(|s, g, h| g.call_sweep(s, h, now))
    }

    pub fn len(&self) -> Result<u32> {
        self.call(|s, g, h| g.call_len(s, h))
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// How many index sets exist (none is ever empty).
    pub fn index_sets(&self) -> Result<u32> {
        self.call(|s, g, h| g.call_index_sets(s, h))
    }

    pub fn clear(&self) -> Result<()> {
        self.call(|s, g, h| g.call_clear(s, h))
    }
}

impl std::fmt::Debug for OriginStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginStore").field("max_entries", &self.max_entries).field("max_bytes", &self.max_bytes).finish()
    }
}

// --- Redis scripts ------------------------------------------------------------------------------

impl Kernel {
    /// The request headers the engine reads, lower-case (`x-mizan-token`, `authorization`): a
    /// server copies these into [`Request::headers`] and no other.
    pub fn request_headers(&self) -> Result<Vec<String>> {
        self.call_raw(|s, b| b.mizan_kernel_server().call_request_headers(s))
    }

    /// `EVAL put-script 0 prefix key body ttl-seconds index-key…` (docs/SERVER.md "Redis").
    pub fn redis_put_script(&self) -> Result<String> {
        self.call_raw(|s, b| b.mizan_kernel_server().call_redis_put_script(s))
    }

    /// `EVAL purge-script 0 plan-json prefix`; returns the purged keys.
    pub fn redis_purge_script(&self) -> Result<String> {
        self.call_raw(|s, b| b.mizan_kernel_server().call_redis_purge_script(s))
    }

    /// Whether `plan` purges an entry with these index keys.
    pub fn purge_covers(&self, plan: &PurgePlan, index_keys: &[String]) -> Result<bool> {
        self.call_raw(|s, b| b.mizan_kernel_server().call_purge_covers(s, plan, index_keys))
    }

    /// The plan as the purge script's `plan-json` argument.
    pub fn redis_plan_json(&self, plan: &PurgePlan) -> Result<String> {
        self.call_raw(|s, b| b.mizan_kernel_server().call_redis_plan_json(s, plan))
    }
}
