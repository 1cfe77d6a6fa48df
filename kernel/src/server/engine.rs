//! The server protocol engine (KERNEL.md §8): plans each request and assembles each response.
//! The host runs the user's functions, evaluates auth predicates and does the I/O (cache reads and
//! writes, purges); everything a client can observe — statuses, messages, headers, body bytes,
//! cache keys — is decided here.
//!
//! ```text
//! host                                   engine
//! ----                                   ------
//! plan(request, identity, now) ───────▶  route, token, lookup, auth guard, validation
//!      ◀── Respond(response)             (session, every error)
//!      ◀── CheckPredicates(names)  ──▶ host evaluates; plan_with(…, answers) again
//!      ◀── Call{function, args}    ──▶ host runs it; finish_call(call, outcome)
//!      ◀── Fetch{members, cache?}  ──▶ host reads the cache, or runs the members;
//!                                       finish_fetch(context, cache, outcome)
//! finish_* ───────────────────────────▶  Finished{response, cache_put?, purge?, diagnostics}
//! ```

use super::http::{self, ProtocolCode, ProtocolError, Request, Response, messages, push_value};
use super::query;
use super::token::{self, Claims, TokenKind};
use super::validate::{self, FieldErrors, Inputs};
use crate::canon::{utf16_cmp, write_json_string};
use crate::error::{Error, Result};
use crate::header::format_header;
use crate::index::PurgePlan;
use crate::invalidation::entries_to_json;
use crate::ir::{Auth, Function, Registry, is_identifier};
use crate::keys::{KeyInput, Keyer, Privilege, canonical_subject};
use crate::policy::DEFAULT_SAFETY_TTL_SECONDS;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

pub const DEFAULT_BASE_PATH: &str = "/api/mizan";
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Per context, the most entries with no user (anonymous requests, shared contexts) a store holds.
pub const DEFAULT_MAX_PUBLIC_ENTRIES: u32 = 1000;

/// How an engine is set up. `Default` is the spec's defaults with no cache and no tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Where the endpoints are mounted; no trailing slash (`""` mounts them at the root).
    pub base_path: String,
    /// Largest `POST /call/` body, in bytes; a longer one is answered 413.
    pub body_limit: usize,
    /// The origin-cache secret. None: no cache, no `X-Mizan-Cache`, no cache plans, no purges.
    pub cache_secret: Option<String>,
    /// The TTL of a context none of whose functions names one.
    pub safety_ttl_seconds: u64,
    /// The MWT secret. None: `X-Mizan-Token` is not read.
    pub mwt_secret: Option<String>,
    pub mwt_ttl_seconds: u64,
    /// The JWT secret. None: `Authorization: Bearer` is not read.
    pub jwt_secret: Option<String>,
    pub access_ttl_seconds: u64,
    pub refresh_ttl_seconds: u64,
    /// Allowed clock skew on `exp`/`nbf`, seconds. 0 unless configured.
    pub token_leeway_seconds: u64,
    /// Per context, the most public entries (no user: anonymous requests and shared contexts)
    /// a store holds; a put beyond it stores nothing. 0: unbounded. Anyone can make a public
    /// entry by varying a query string, so without it an anonymous flood fills the store.
    pub max_public_entries: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            base_path: DEFAULT_BASE_PATH.to_string(),
            body_limit: DEFAULT_BODY_LIMIT,
            cache_secret: None,
            safety_ttl_seconds: DEFAULT_SAFETY_TTL_SECONDS,
            mwt_secret: None,
            mwt_ttl_seconds: token::DEFAULT_MWT_TTL_SECONDS,
            jwt_secret: None,
            access_ttl_seconds: token::DEFAULT_ACCESS_TTL_SECONDS,
            refresh_ttl_seconds: token::DEFAULT_REFRESH_TTL_SECONDS,
            token_leeway_seconds: 0,
            max_public_entries: DEFAULT_MAX_PUBLIC_ENTRIES,
        }
    }
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("EngineConfig")
            .field("base_path", &self.base_path)
            .field("body_limit", &self.body_limit)
            .field("cache_secret", &set(&self.cache_secret))
            .field("safety_ttl_seconds", &self.safety_ttl_seconds)
            .field("mwt_secret", &set(&self.mwt_secret))
            .field("jwt_secret", &set(&self.jwt_secret))
            .field("token_leeway_seconds", &self.token_leeway_seconds)
            .field("max_public_entries", &self.max_public_entries)
            .finish_non_exhaustive()
    }
}

/// Who is calling. `None` where an identity is optional means anonymous.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub subject: String,
    pub staff: bool,
    pub superuser: bool,
    /// The JWT's `sid`, for the host's revocation check.
    pub session_id: Option<String>,
    /// The MWT's permission-set hash, for the host's staleness check.
    pub perm: Option<String>,
}

impl Identity {
    pub fn user(subject: impl Into<String>) -> Self {
        Identity { subject: subject.into(), ..Default::default() }
    }

    fn from_claims(c: Claims) -> Self {
        Identity { subject: c.subject, staff: c.staff, superuser: c.superuser, session_id: c.session_id, perm: c.perm }
    }

    /// The same identity with its subject in its one spelling ([`canonical_subject`]).
    fn canonical(mut self) -> Self {
        let canonical = canonical_subject(&self.subject);
        if canonical != self.subject.as_str() {
            self.subject = canonical.into_owned();
        }
        self
    }

    /// What the identity may do beyond being its subject (part of its cache keys).
    pub fn privilege(&self) -> Privilege {
        Privilege { staff: self.staff, superuser: self.superuser, perm: self.perm.clone() }
    }
}

/// Run `function` with `args` (declared inputs only, coerced) as `identity`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPlan {
    pub function: String,
    pub args: Map<String, Value>,
    pub identity: Option<Identity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberCall {
    pub function: String,
    pub args: Map<String, Value>,
}

/// Read `key` first; on a miss, after the members ran, the engine returns the put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePlan {
    pub key: String,
    pub index_keys: Vec<String>,
    pub ttl_seconds: u64,
    /// For a public entry: the set whose size bounds it.
    pub bound: Option<CacheBound>,
}

/// An entry is stored only while `set` (one of its index keys) holds fewer than `max_entries`
/// live entries: the bound on a context's public entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheBound {
    pub set: String,
    pub max_entries: u32,
}

/// Fetch a context: on a cache hit serve the stored body, else run every member.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchPlan {
    pub context: String,
    /// The declared params the request carried, coerced (what the cache key is derived from).
    pub params: Map<String, Value>,
    /// Every member, in UTF-16 name order, with the args it declares.
    pub members: Vec<MemberCall>,
    pub identity: Option<Identity>,
    /// None when no cache is configured or the context says `cache=False`.
    pub cache: Option<CachePlan>,
}

/// The auth predicates the host must evaluate (for `identity`) before planning can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredicateCheck {
    pub predicates: Vec<String>,
    pub identity: Option<Identity>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Send this response; nothing to run.
    Respond(Response),
    /// Evaluate these predicates, then call `plan_with` again with the answers.
    CheckPredicates(PredicateCheck),
    Call(CallPlan),
    Fetch(FetchPlan),
}

/// What running a function gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The result, as JSON text.
    Ok(String),
    /// A protocol error the function raised on purpose (`NotFound("No such item")`, 501…).
    Error(ProtocolError),
    /// Anything else; the text goes to `diagnostics`, never to the client.
    Exception(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum FetchOutcome {
    /// The body the cache returned for `CachePlan::key`.
    Hit(String),
    /// One outcome per member, by function name.
    Results(Vec<(String, Outcome)>),
}

/// Store `body` under `key` (and in `index_keys`) for `ttl_seconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePut {
    pub key: String,
    pub body: String,
    pub index_keys: Vec<String>,
    pub ttl_seconds: u64,
    pub bound: Option<CacheBound>,
}

/// A finished request: send `response` after running `purge` (so a client's refetch cannot read
/// a purged entry) and `cache_put`; log `diagnostics`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub response: Response,
    pub cache_put: Option<CachePut>,
    pub purge: Option<PurgePlan>,
    pub diagnostics: Vec<String>,
}

impl Finished {
    fn respond(response: Response) -> Self {
        Finished { response, cache_put: None, purge: None, diagnostics: Vec::new() }
    }

    fn internal(diagnostic: String) -> Self {
        Finished { diagnostics: vec![diagnostic], ..Self::respond(Response::error(&ProtocolError::internal())) }
    }
}

/// A fresh JWT access/refresh pair; the times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtPair {
    pub access: String,
    pub refresh: String,
    pub access_expires_at: u64,
    pub refresh_expires_at: u64,
}

enum Route<'a> {
    Session,
    Call,
    Context(&'a str),
}

enum Credential<'a> {
    None,
    Ambiguous,
    /// The MWT secret and the token.
    Mwt(&'a str, &'a str),
    /// The JWT secret and the access token.
    Bearer(&'a str, &'a str),
}

/// An HTTP token (RFC 9110 `tchar`s): what an auth scheme's name is made of.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

enum Guard {
    Pass,
    Stop(ProtocolError),
    Ask(Vec<String>),
}

pub struct ServerEngine {
    registry: Registry,
    config: EngineConfig,
    keyer: Option<Keyer>,
    warnings: Vec<String>,
}

fn respond(error: ProtocolError) -> Plan {
    Plan::Respond(Response::error(&error))
}

fn check_secret(what: &str, secret: &Option<String>, warnings: &mut Vec<String>) -> Result<()> {
    if let Some(s) = secret {
        if s.is_empty() {
            return Err(Error::invalid_argument(format!("the {what} secret must not be empty")));
        }
        if s.len() < crate::keys::RECOMMENDED_SECRET_BYTES {
            warnings.push(format!(
                "the {what} secret is {} bytes; use at least {} random bytes",
                s.len(),
                crate::keys::RECOMMENDED_SECRET_BYTES
            ));
        }
    }
    Ok(())
}

impl ServerEngine {
    /// Check the config (secrets non-empty and pairwise different, base path well formed) and
    /// build the cache keyer once.
    pub fn new(registry: Registry, mut config: EngineConfig) -> Result<Self> {
        let mut warnings = Vec::new();
        check_secret("cache", &config.cache_secret, &mut warnings)?;
        check_secret("MWT", &config.mwt_secret, &mut warnings)?;
        check_secret("JWT", &config.jwt_secret, &mut warnings)?;
        let named = [("cache", &config.cache_secret), ("MWT", &config.mwt_secret), ("JWT", &config.jwt_secret)];
        for (i, (a, sa)) in named.iter().enumerate() {
            for (b, sb) in &named[i + 1..] {
                if sa.is_some() && sa == sb {
                    return Err(Error::invalid_argument(format!(
                        "the {a} and {b} secrets must differ: one secret is never accepted in place of another"
                    )));
                }
            }
        }
        let base = config.base_path.trim_end_matches('/').to_string();
        if !(base.is_empty() || base.starts_with('/')) || base.contains(['?', '#']) {
            return Err(Error::invalid_argument(format!("base path `{}` must start with `/`", config.base_path)));
        }
        config.base_path = base;
        if config.body_limit == 0 {
            config.body_limit = DEFAULT_BODY_LIMIT;
        }
        if config.safety_ttl_seconds == 0 {
            config.safety_ttl_seconds = DEFAULT_SAFETY_TTL_SECONDS;
        }
        let keyer = config.cache_secret.as_deref().map(Keyer::new).transpose()?;
        Ok(ServerEngine { registry, config, keyer, warnings })
    }

    /// Build from the registry's JSON form (what `@client` decorators and Rust registration build).
    pub fn from_json(registry_json: &str, config: EngineConfig) -> Result<Self> {
        Self::new(Registry::from_json(registry_json)?, config)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Problems with a usable config (short secrets), for the host to log at start.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn cache_enabled(&self) -> bool {
        self.keyer.is_some()
    }

    /// The response for an error the host detected itself (a revoked session, a failed CSRF
    /// check, a framework-level body limit). An internal error's message is replaced.
    pub fn error_response(&self, error: &ProtocolError) -> Response {
        if error.code == ProtocolCode::InternalError {
            return Response::error(&ProtocolError::internal());
        }
        Response::error(error)
    }

    /// [`plan_with`](Self::plan_with) with no predicate answers.
    pub fn plan(&self, request: &Request, identity: Option<&Identity>, now_ms: u64) -> Plan {
        self.plan_with(request, identity, now_ms, &[])
    }

    /// Plan a request. `identity` is the host's own (session) identity; a token header, when the
    /// engine is configured for it, replaces it (and a bad token is a 401, with no fallback).
    /// `answers` are the host's verdicts on the predicates of an earlier `CheckPredicates`.
    pub fn plan_with(&self, request: &Request, identity: Option<&Identity>, now_ms: u64, answers: &[(String, bool)]) -> Plan {
        let (path, path_query) = request.path.split_once('?').unwrap_or((&request.path, ""));
        let query = if request.query.is_empty() { path_query } else { request.query.as_str() };
        let Some(route) = self.route(path) else {
            return respond(ProtocolError::new(ProtocolCode::NotFound, messages::NOT_FOUND));
        };
        // Methods are case-sensitive tokens (RFC 9110 §9.1): `get` is an unknown method.
        let method = request.method.as_str();
        let (allowed, allow) = match route {
            Route::Session | Route::Context(_) => (method == "GET" || method == "HEAD", "GET, HEAD"),
            Route::Call => (method == "POST", "POST"),
        };
        if !allowed {
            let e = ProtocolError::new(ProtocolCode::MethodNotAllowed, messages::METHOD_NOT_ALLOWED);
            return Plan::Respond(Response::error(&e).with_header(http::ALLOW, allow));
        }
        match route {
            Route::Session => {
                let mut body = String::from("{\"csrfToken\":");
                match &request.csrf_token {
                    Some(t) => write_json_string(&mut body, t),
                    None => body.push_str("null"),
                }
                body.push('}');
                Plan::Respond(Response::json(200, body))
            }
            Route::Call => {
                if request.body.len() > self.config.body_limit {
                    return respond(ProtocolError::new(ProtocolCode::PayloadTooLarge, messages::TOO_LARGE));
                }
                match self.identity(request, identity, now_ms) {
                    Ok(identity) => self.plan_call(&request.body, identity, answers),
                    Err(e) => respond(e),
                }
            }
            Route::Context(name) => match self.identity(request, identity, now_ms) {
                Ok(identity) => self.plan_fetch(name, query, identity, answers),
                Err(e) => respond(e),
            },
        }
    }

    fn route<'a>(&self, path: &'a str) -> Option<Route<'a>> {
        let rest = path.strip_prefix(self.config.base_path.as_str())?.strip_prefix('/')?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        match rest {
            "session" => Some(Route::Session),
            "call" => Some(Route::Call),
            _ => {
                let name = rest.strip_prefix("ctx/")?;
                (!name.is_empty() && !name.contains('/')).then_some(Route::Context(name))
            }
        }
    }

    /// The effective identity, its subject canonical: a valid MWT, else a valid bearer JWT, else
    /// the host's.
    fn identity(&self, request: &Request, host: Option<&Identity>, now_ms: u64) -> Result<Option<Identity>, ProtocolError> {
        self.raw_identity(request, host, now_ms).map(|i| i.map(Identity::canonical))
    }

    fn raw_identity(&self, request: &Request, host: Option<&Identity>, now_ms: u64) -> Result<Option<Identity>, ProtocolError> {
        let leeway = self.config.token_leeway_seconds;
        let refuse = |e: token::TokenError| {
            ProtocolError::new(ProtocolCode::Unauthorized, messages::INVALID_TOKEN)
                .with_details(serde_json::json!({"reason": e.reason()}))
        };
        let verified = |secret: &str, text: &str, kind| {
            token::verify(secret, text, kind, now_ms, leeway).map(|c| Some(Identity::from_claims(c))).map_err(refuse)
        };
        match self.credential(request) {
            Credential::None => Ok(host.cloned()),
            Credential::Ambiguous => Err(refuse(token::TokenError::Ambiguous)),
            Credential::Mwt(secret, text) => verified(secret, text, TokenKind::Mwt),
            Credential::Bearer(secret, text) => verified(secret, text, TokenKind::Access),
        }
    }

    /// The token a request authenticates with, if the engine reads one: a non-empty
    /// `X-Mizan-Token` (with an MWT secret), else `Authorization: Bearer` (with a JWT secret).
    /// Given more than once — two lines, or a comma-joined line — it is ambiguous.
    fn credential<'r>(&'r self, request: &'r Request) -> Credential<'r> {
        let lines = |name: &'r str| request.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        if let Some(secret) = &self.config.mwt_secret {
            let parts: Vec<&str> = lines(http::X_MIZAN_TOKEN).flat_map(|v| v.split(',')).map(str::trim).collect();
            match parts.as_slice() {
                [] | [""] => {}
                [one] => return Credential::Mwt(secret, one),
                _ => return Credential::Ambiguous,
            }
        }
        if let Some(secret) = &self.config.jwt_secret {
            // Credentials are the comma-separated parts that start with a scheme (`Bearer x`,
            // `Basic y`); a Digest credential's own `, realm=…` parameters do not.
            let credentials: Vec<(&str, &str)> = lines(http::AUTHORIZATION)
                .flat_map(|v| v.split(','))
                .filter_map(|part| part.trim().split_once(' ').filter(|(scheme, _)| is_token(scheme)))
                .collect();
            let bearer = |c: &&(&str, &str)| c.0.eq_ignore_ascii_case("bearer");
            match (credentials.iter().filter(bearer).count(), credentials.len()) {
                (0, _) => {}
                (1, 1) => return Credential::Bearer(secret, credentials[0].1.trim()),
                _ => return Credential::Ambiguous,
            }
        }
        Credential::None
    }

    /// Whether `plan` takes this request's identity from a token header (or refuses the request
    /// for a bad or ambiguous one) instead of the host's session. A host's CSRF check is about the
    /// session's ambient credential: it applies exactly when this is false.
    pub fn reads_token(&self, request: &Request) -> bool {
        !matches!(self.credential(request), Credential::None)
    }

    /// Whether planning this request would use the host's session identity: a route that
    /// authenticates (`/call/`, `/ctx/…`) with its method allowed and its body within the limit,
    /// and no token header the engine reads. When false, a host need not resolve the session at
    /// all (the exchange never asks it to).
    pub fn needs_session_identity(&self, request: &Request) -> bool {
        let path = request.path.split_once('?').map_or(request.path.as_str(), |(p, _)| p);
        let method = request.method.as_str();
        let uses = match self.route(path) {
            None | Some(Route::Session) => false,
            Some(Route::Call) => method == "POST" && request.body.len() <= self.config.body_limit,
            Some(Route::Context(_)) => method == "GET" || method == "HEAD",
        };
        uses && matches!(self.credential(request), Credential::None)
    }

    /// Static guards of every function first (in order), then predicates.
    fn guard(&self, functions: &[&Function], identity: Option<&Identity>, answers: &[(String, bool)]) -> Guard {
        for f in functions {
            let problem = match (&f.auth, identity) {
                (Auth::None | Auth::Predicate(_), _) => None,
                (Auth::Required | Auth::Staff | Auth::Superuser, None) => {
                    Some((ProtocolCode::Unauthorized, messages::AUTH_REQUIRED))
                }
                (Auth::Staff, Some(i)) if !i.staff => Some((ProtocolCode::Forbidden, messages::STAFF_REQUIRED)),
                (Auth::Superuser, Some(i)) if !i.superuser => Some((ProtocolCode::Forbidden, messages::SUPERUSER_REQUIRED)),
                _ => None,
            };
            if let Some((code, message)) = problem {
                return Guard::Stop(ProtocolError::new(code, message));
            }
        }
        let mut missing: Vec<String> = Vec::new();
        for f in functions {
            if let Auth::Predicate(name) = &f.auth {
                match answers.iter().rev().find(|(n, _)| n == name) {
                    Some((_, false)) => return Guard::Stop(ProtocolError::new(ProtocolCode::Forbidden, messages::PERMISSION_DENIED)),
                    Some((_, true)) => {}
                    None if !missing.contains(name) => missing.push(name.clone()),
                    None => {}
                }
            }
        }
        if missing.is_empty() { Guard::Pass } else { Guard::Ask(missing) }
    }

    fn plan_call(&self, body: &[u8], identity: Option<Identity>, answers: &[(String, bool)]) -> Plan {
        let Some(Value::Object(mut body)) = crate::canon::parse_json_bytes(body) else {
            return respond(ProtocolError::bad_body());
        };
        let name = match body.remove("fn") {
            Some(Value::String(name)) if !name.is_empty() => name,
            _ => return respond(ProtocolError::bad_body()),
        };
        let args = match body.remove("args") {
            None => Map::new(),
            Some(Value::Object(args)) => args,
            Some(_) => return respond(ProtocolError::bad_body()),
        };
        let Some(f) = self.registry.function(&name) else {
            // Named, like an unknown context, so a typo is found from the answer alone; a name
            // that is not an identifier is not echoed.
            let message = if is_identifier(&name) { format!("Function '{name}' not found") } else { messages::FUNCTION_NOT_FOUND.to_string() };
            return respond(ProtocolError::new(ProtocolCode::NotFound, message));
        };
        if f.private {
            return respond(ProtocolError::new(ProtocolCode::Forbidden, messages::NOT_CLIENT_CALLABLE));
        }
        match self.guard(&[f], identity.as_ref(), answers) {
            Guard::Pass => {}
            Guard::Stop(e) => return respond(e),
            Guard::Ask(predicates) => return Plan::CheckPredicates(PredicateCheck { predicates, identity }),
        }
        let mut errors = FieldErrors::default();
        let args = validate::coerce_inputs(&self.registry, f, &Inputs::Json(&args), &mut errors);
        if !errors.is_empty() {
            return respond(validation_error(&errors));
        }
        Plan::Call(CallPlan { function: name, args, identity })
    }

    fn plan_fetch(&self, raw_name: &str, query: &str, identity: Option<Identity>, answers: &[(String, bool)]) -> Plan {
        let name = query::percent_decode(raw_name, false).unwrap_or_default();
        let members: Vec<&Function> = self.registry.members(&name).collect();
        if members.is_empty() {
            let message = if is_identifier(&name) { format!("Context '{name}' not found") } else { messages::CONTEXT_NOT_FOUND.to_string() };
            return respond(ProtocolError::new(ProtocolCode::NotFound, message));
        }
        if members.iter().any(|f| f.private) {
            return respond(ProtocolError::new(ProtocolCode::Forbidden, messages::NOT_CLIENT_CALLABLE));
        }
        match self.guard(&members, identity.as_ref(), answers) {
            Guard::Pass => {}
            Guard::Stop(e) => return respond(e),
            Guard::Ask(predicates) => return Plan::CheckPredicates(PredicateCheck { predicates, identity }),
        }
        let Some(pairs) = query::parse_query(query) else {
            return respond(ProtocolError::new(ProtocolCode::BadRequest, messages::INVALID_QUERY));
        };
        let mut multimap: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            multimap.entry(k).or_default().push(v);
        }
        let mut errors = FieldErrors::default();
        let mut params = Map::new();
        let mut calls = Vec::with_capacity(members.len());
        for f in &members {
            let args = validate::coerce_inputs(&self.registry, f, &Inputs::Query(&multimap), &mut errors);
            for (k, v) in &args {
                if !params.contains_key(k) {
                    params.insert(k.clone(), v.clone());
                }
            }
            calls.push(MemberCall { function: f.name.clone(), args });
        }
        if !errors.is_empty() {
            return respond(validation_error(&errors));
        }
        let cache = self.cache_plan(&name, &params, identity.as_ref());
        Plan::Fetch(FetchPlan { context: name, params, members: calls, identity, cache })
    }

    /// The entry a fetch reads and writes: user-scoped for an authenticated caller unless the
    /// context is `shared`; public for an anonymous one. None when uncacheable.
    ///
    /// The key carries everything about the caller that can change the answer or its permission
    /// (KERNEL.md §8): the subject and its privilege (staff, superuser, token `perm`), because a
    /// function may check them itself (`if not identity.staff: raise Forbidden`) and a hit skips
    /// the function. Auth guards and predicates need not be keyed: `plan` runs them before every
    /// lookup, so a hit is only ever served to a caller they let through. A `shared` context is
    /// the app's promise that its answer depends on no caller: one key for all.
    fn cache_plan(&self, context: &str, params: &Map<String, Value>, identity: Option<&Identity>) -> Option<CachePlan> {
        let keyer = self.keyer.as_ref()?;
        let policy = self.registry.context_policy(context).ok()?;
        let ttl_seconds = policy.effective_ttl(self.config.safety_ttl_seconds).filter(|t| *t > 0)?;
        let shared = self.registry.context(context).is_some_and(|c| c.shared);
        let caller = if shared { None } else { identity };
        let user = caller.map(|i| i.subject.clone());
        let privilege = caller.map(Identity::privilege).unwrap_or_default();
        let public = user.is_none();
        let input = KeyInput { context: context.to_string(), params: params.clone(), user, rev: policy.rev };
        let mut entry = keyer.index_entry_for(&input, &privilege);
        let max = self.config.max_public_entries;
        let bound = (public && max > 0).then(|| CacheBound { set: keyer.public_index(context), max_entries: max });
        if let Some(b) = &bound {
            entry.index_keys.push(b.set.clone());
        }
        Some(CachePlan { key: entry.key, index_keys: entry.index_keys, ttl_seconds, bound })
    }

    fn failure(&self, function: &str, outcome: Outcome) -> Finished {
        match outcome {
            Outcome::Ok(_) => Finished::internal(format!("`{function}`: not a failure")),
            Outcome::Error(e) if e.code == ProtocolCode::InternalError => {
                Finished::internal(format!("`{function}` raised INTERNAL_ERROR: {}", e.message))
            }
            Outcome::Error(mut e) => {
                if e.code == ProtocolCode::NotImplemented && e.message.is_empty() {
                    e.message = messages::NOT_IMPLEMENTED.to_string();
                }
                Finished::respond(Response::error(&e))
            }
            Outcome::Exception(text) => Finished::internal(format!("`{function}` raised: {text}")),
        }
    }

    /// Assemble a call's response. On success: `{"result", "merge"?, "invalidate"}` (merges
    /// first, so a client that reads in order applies them before invalidating), the
    /// `X-Mizan-Invalidate` header when it invalidates, and the purge plan when a cache is
    /// configured. On failure nothing is invalidated or purged.
    pub fn finish_call(&self, call: &CallPlan, outcome: Outcome) -> Finished {
        let text = match outcome {
            Outcome::Ok(text) => text,
            other => return self.failure(&call.function, other),
        };
        let result: Value = match crate::canon::parse_json_unchecked(&text, "the result") {
            Ok(v) => v,
            Err(e) => return Finished::internal(format!("`{}` returned {}", call.function, e.message)),
        };
        let subject = call.identity.as_ref().map(|i| canonical_subject(&i.subject));
        let entries = match self.registry.resolve_invalidation(&call.function, &call.args, subject.as_deref()) {
            Ok(entries) => entries,
            Err(e) => return Finished::internal(format!("finish_call: {e}")),
        };
        let mut diagnostics = Vec::new();
        let merges = match self.registry.resolve_merges(&call.function, &call.args, &result) {
            Ok(m) => m,
            Err(e) => return Finished::internal(format!("finish_call: {e}")),
        };
        diagnostics.extend(merges.diagnostics.iter().map(|d| d.message.clone()));
        let mut body = String::with_capacity(text.len() + 64);
        body.push_str("{\"result\":");
        if !http::push_result(&mut body, &result) {
            return Finished::internal(format!("`{}` returned {}", call.function, crate::canon::out_of_range("the result").message));
        }
        if !merges.merges.is_empty() {
            body.push_str(",\"merge\":");
            push_value(&mut body, &merges.merges_json());
        }
        body.push_str(",\"invalidate\":");
        push_value(&mut body, &entries_to_json(&entries));
        body.push('}');
        let mut response = Response::json(200, body);
        let mut purge = None;
        if !entries.is_empty() {
            match format_header(&entries) {
                Ok(h) => response = response.with_header(http::X_MIZAN_INVALIDATE, h),
                Err(e) => diagnostics.push(format!("X-Mizan-Invalidate omitted (the body carries the entries): {}", e.message)),
            }
            purge = self.keyer.as_ref().map(|k| k.purge_plan(&entries));
        }
        Finished { response, cache_put: None, purge, diagnostics }
    }

    /// [`finish_call`](Self::finish_call) with the args as JSON text (the component's form).
    /// Args that do not parse are a host bug: 500, with the reason in `diagnostics`.
    pub fn finish_call_json(&self, function: &str, args_json: &str, identity: Option<Identity>, outcome: Outcome) -> Finished {
        match crate::canon::parse_object(args_json, "args") {
            Ok(args) => self.finish_call(&CallPlan { function: function.to_string(), args, identity }, outcome),
            Err(e) => Finished::internal(format!("finish_call: {e}")),
        }
    }

    /// Assemble a fetch's response: the flat bundle `{function: result}` in member (UTF-16) order,
    /// `X-Mizan-Cache: HIT|MISS` when a cache is configured, and on a miss the put (when `cache`
    /// is given). One failing member fails the fetch (the first in member order), with no put.
    pub fn finish_fetch(&self, context: &str, cache: Option<&CachePlan>, outcome: FetchOutcome) -> Finished {
        let results = match outcome {
            FetchOutcome::Hit(body) => {
                let mut response = Response::json(200, body);
                if self.keyer.is_some() {
                    response = response.with_header(http::X_MIZAN_CACHE, "HIT");
                }
                return Finished::respond(response);
            }
            FetchOutcome::Results(results) => results,
        };
        let members: Vec<&Function> = self.registry.members(context).collect();
        if members.is_empty() {
            return Finished::internal(format!("finish_fetch: no context named `{context}` with members"));
        }
        let mut diagnostics: Vec<String> = results
            .iter()
            .filter(|(name, _)| !members.iter().any(|f| &f.name == name))
            .map(|(name, _)| format!("finish_fetch: `{name}` is not a member of `{context}`; ignored"))
            .collect();
        let mut values: Vec<(&str, Value)> = Vec::with_capacity(members.len());
        let mut results = results;
        for f in &members {
            let Some(i) = results.iter().position(|(name, _)| name == &f.name) else {
                return Finished::internal(format!("finish_fetch: no outcome for member `{}` of `{context}`", f.name));
            };
            match results.swap_remove(i).1 {
                Outcome::Ok(text) => match crate::canon::parse_json_unchecked(&text, "the result") {
                    Ok(v) => values.push((f.name.as_str(), v)),
                    Err(e) => return Finished::internal(format!("`{}` returned {}", f.name, e.message)),
                },
                failure => {
                    let mut finished = self.failure(&f.name, failure);
                    diagnostics.append(&mut finished.diagnostics);
                    finished.diagnostics = diagnostics;
                    return finished;
                }
            }
        }
        values.sort_by(|a, b| utf16_cmp(a.0, b.0));
        let mut body = String::from("{");
        for (i, (name, value)) in values.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            write_json_string(&mut body, name);
            body.push(':');
            if !http::push_result(&mut body, value) {
                return Finished::internal(format!("`{name}` returned {}", crate::canon::out_of_range("the result").message));
            }
        }
        body.push('}');
        let cache_put = cache.map(|c| CachePut {
            key: c.key.clone(),
            body: body.clone(),
            index_keys: c.index_keys.clone(),
            ttl_seconds: c.ttl_seconds,
            bound: c.bound.clone(),
        });
        let mut response = Response::json(200, body);
        if self.keyer.is_some() {
            response = response.with_header(http::X_MIZAN_CACHE, "MISS");
        }
        Finished { response, cache_put, purge: None, diagnostics }
    }

    /// The plan purging every origin-cache entry of one user, in every context (GDPR erasure).
    pub fn purge_user_plan(&self, user: &str) -> Result<PurgePlan> {
        let keyer = self.keyer.as_ref().ok_or_else(|| Error::invalid_argument("no cache secret is configured"))?;
        let contexts: Vec<String> = self.registry.contexts.keys().cloned().collect();
        keyer.purge_user_plan(&contexts, &canonical_subject(user))
    }

    /// What a host keeps of purges that failed, to retry before its cache serves or stores
    /// anything they cover (docs/SERVER.md "When a purge fails"): `pending` and `failed`
    /// together, each scope once; past [`MAX_PENDING_SCOPES`](crate::index::MAX_PENDING_SCOPES)
    /// scopes, a broad purge of every context instead (a superset, bounded by the registry).
    pub fn merge_purge_plans(&self, pending: &PurgePlan, failed: &PurgePlan) -> PurgePlan {
        let mut merged = pending.clone();
        merged.merge(failed);
        if merged.scopes.len() > crate::index::MAX_PENDING_SCOPES
            && let Some(keyer) = &self.keyer
        {
            let every: Vec<crate::InvalidateEntry> = self.registry.contexts.keys().map(|c| crate::InvalidateEntry::Broad(c.clone())).collect();
            return keyer.purge_plan(&every);
        }
        merged
    }

    /// The plan purging what a JSON list of invalidation entries covers (a webhook, an admin action).
    pub fn purge_plan(&self, entries: &[crate::InvalidateEntry]) -> Result<PurgePlan> {
        let keyer = self.keyer.as_ref().ok_or_else(|| Error::invalid_argument("no cache secret is configured"))?;
        Ok(keyer.purge_plan(entries))
    }

    fn secret<'a>(&self, secret: &'a Option<String>, what: &str) -> Result<&'a str> {
        secret.as_deref().ok_or_else(|| Error::invalid_argument(format!("no {what} secret is configured")))
    }

    /// An MWT for `identity` (its `perm` included), valid for the configured TTL from `now_ms`.
    pub fn mint_mwt(&self, identity: &Identity, now_ms: u64) -> Result<String> {
        let secret = self.secret(&self.config.mwt_secret, "MWT")?;
        let iat = now_ms / 1000;
        token::mint(
            secret,
            &Claims {
                kind: TokenKind::Mwt,
                subject: identity.subject.clone(),
                staff: identity.staff,
                superuser: identity.superuser,
                perm: identity.perm.clone(),
                session_id: None,
                issued_at: iat,
                expires_at: iat.saturating_add(self.config.mwt_ttl_seconds),
            },
        )
    }

    pub fn verify_mwt(&self, token_text: &str, now_ms: u64) -> Result<Claims> {
        let secret = self.secret(&self.config.mwt_secret, "MWT")?;
        token::verify(secret, token_text, TokenKind::Mwt, now_ms, self.config.token_leeway_seconds).map_err(|e| e.to_error())
    }

    /// A JWT access/refresh pair for `identity` in session `session_id`.
    pub fn mint_jwt_pair(&self, identity: &Identity, session_id: &str, now_ms: u64) -> Result<JwtPair> {
        let secret = self.secret(&self.config.jwt_secret, "JWT")?;
        let iat = now_ms / 1000;
        let claims = |kind: TokenKind, ttl: u64| Claims {
            kind,
            subject: identity.subject.clone(),
            staff: identity.staff,
            superuser: identity.superuser,
            perm: None,
            session_id: Some(session_id.to_string()),
            issued_at: iat,
            expires_at: iat.saturating_add(ttl),
        };
        let access = claims(TokenKind::Access, self.config.access_ttl_seconds);
        let refresh = claims(TokenKind::Refresh, self.config.refresh_ttl_seconds);
        Ok(JwtPair {
            access: token::mint(secret, &access)?,
            refresh: token::mint(secret, &refresh)?,
            access_expires_at: access.expires_at,
            refresh_expires_at: refresh.expires_at,
        })
    }

    /// Verify an access or refresh JWT (`kind` must not be `Mwt`).
    pub fn verify_jwt(&self, token_text: &str, kind: TokenKind, now_ms: u64) -> Result<Claims> {
        if kind == TokenKind::Mwt {
            return Err(Error::invalid_argument("verify_jwt takes an access or refresh token; use verify_mwt"));
        }
        let secret = self.secret(&self.config.jwt_secret, "JWT")?;
        token::verify(secret, token_text, kind, now_ms, self.config.token_leeway_seconds).map_err(|e| e.to_error())
    }
}

fn validation_error(errors: &FieldErrors) -> ProtocolError {
    ProtocolError::new(ProtocolCode::ValidationError, messages::VALIDATION_FAILED).with_details(errors.to_details())
}
