//! [`MizanBuilder`]: the registry, the functions and predicates, identity, the origin cache and
//! the engine's settings of a [`Mizan`] app.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use super::unwind::catch_unwind;
use super::{Ctx, DiagnosticFn, ErrorFn, FnError, Handler, IdentityFn, Inner, Mizan, PredicateFn, RevokedFn, States};
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::origin::{MemoryOriginStore, OriginCache};
use crate::registry::Registry;
use crate::exchange::{ExchangeServer, Hooks};
use crate::server::{Engine, EngineConfig, Outcome};

/// Settings and registrations for a [`Mizan`] app (see [`Mizan::builder`]).
pub struct MizanBuilder {
    pub(crate) kdl: String,
    pub(crate) kernel: Option<Kernel>,
    config: EngineConfig,
    cache: Option<CacheChoice>,
    pub(crate) functions: HashMap<String, Handler>,
    pub(crate) predicates: HashMap<String, PredicateFn>,
    /// Set by a host's own methods (`identity` under Axum): it knows its request type.
    pub(crate) identity: Option<IdentityFn>,
    revoked: Option<RevokedFn>,
    diagnostic: Option<DiagnosticFn>,
    error: Option<ErrorFn>,
    states: States,
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
            states: States::default(),
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

    /// A value functions and predicates reach with `ctx.state::<T>()` (one per type; a second
    /// `state` of the same type replaces the first): the app's database pool, its in-memory
    /// data. Code-first functions are plain `fn`s, so this is how they get the app's state,
    /// under any host.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(std::any::TypeId::of::<T>(), Arc::new(value));
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
        // Every request is an exchange; the engine serves the rest (purge plans, tokens, IPC).
        // For a session the caller holds (`handle`): it comes with the arrival, a kernel crossing
        // less per request than the exchange asking for it. `handle_resolving` uses a sibling
        // with the `identity` hook (`Inner::asking`).
        let hooks = Hooks { identity: false, revocation: self.revoked.is_some() };
        let exchange = ExchangeServer::new(&kernel, registry.to_json()?.to_string(), &config, hooks)?;
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
                request_headers: kernel.request_headers()?,
                kernel,
                registry,
                engine,
                exchange,
                asking: std::sync::OnceLock::new(),
                cache,
                functions: self.functions,
                predicates: self.predicates,
                identity: self.identity,
                revoked: self.revoked,
                diagnostic,
                error,
                pending: std::sync::Mutex::new(None),
                states: self.states,
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
