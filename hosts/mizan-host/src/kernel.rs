//! [`Kernel`]: the engine, the pre-linked component and the instance pool.

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};

use crate::artifact::{self, ArtifactInfo, CacheConfig};
use crate::bindings;
use crate::error::{Error, Result};

/// The component bytes, embedded at build time (`scripts/build-component.sh` makes them).
pub static COMPONENT: &[u8] = include_bytes!(env!("MIZAN_KERNEL_WASM_PATH"));

/// Default cap on one instance's linear memory.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;
/// Default number of idle instances the pool keeps.
pub const DEFAULT_MAX_IDLE: usize = 16;
/// Default: an instance whose memory grew past this is dropped instead of returned to the pool.
pub const DEFAULT_RETAIN_MEMORY: usize = 16 << 20;

/// The data of every store: the memory cap, and how large the memory has grown.
pub(crate) struct State {
    limits: StoreLimits,
    /// The largest size the linear memory has been granted.
    memory_bytes: usize,
    /// `memory_bytes` right after instantiation (the component's initial memory).
    initial_bytes: usize,
}

impl ResourceLimiter for State {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_bytes = self.memory_bytes.max(desired);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// One instance of the component in its own store.
pub(crate) struct Instance {
    pub(crate) store: Store<State>,
    pub(crate) bindings: bindings::Kernel,
}

/// Counters, for monitoring and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Instances created (pool growth, dedicated instances, replacements after traps).
    pub instantiations: u64,
    /// Calls that trapped (each discarded its instance).
    pub traps: u64,
    /// Instances idle in the pool right now.
    pub idle: usize,
}

struct Inner {
    engine: Engine,
    pre: bindings::KernelPre<State>,
    pool: Mutex<Vec<Instance>>,
    memory_limit: usize,
    max_idle: usize,
    retain_memory: usize,
    artifact: ArtifactInfo,
    instantiations: AtomicU64,
    traps: AtomicU64,
}

/// The Mizan kernel, running as a WebAssembly component under wasmtime.
///
/// Cheap to clone (an `Arc`), `Send + Sync`: share one per process. Each call checks an instance
/// out of a pool (creating one when the pool is empty), runs, and puts it back. An instance that
/// traps is dropped, never reused; the next call gets a fresh one.
#[derive(Clone)]
pub struct Kernel {
    inner: Arc<Inner>,
}

/// Settings for [`Kernel`]; [`Kernel::new`] uses the defaults.
#[derive(Debug, Clone)]
pub struct KernelBuilder {
    memory_limit: usize,
    max_idle: usize,
    retain_memory: usize,
    cache: CacheConfig,
}

impl Default for KernelBuilder {
    fn default() -> Self {
        KernelBuilder {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            max_idle: DEFAULT_MAX_IDLE,
            retain_memory: DEFAULT_RETAIN_MEMORY,
            cache: CacheConfig::Default,
        }
    }
}

impl KernelBuilder {
    /// Cap on each instance's linear memory, in bytes (default 256 MiB). An input that needs
    /// more traps that instance instead of growing the host.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// How many idle instances the pool keeps (default 16); extra ones are dropped on return.
    pub fn max_idle(mut self, n: usize) -> Self {
        self.max_idle = n;
        self
    }

    /// An instance whose memory grew beyond this many bytes (default 16 MiB) is dropped after
    /// its call instead of going back to the pool, so one huge input does not pin memory.
    pub fn retain_memory(mut self, bytes: usize) -> Self {
        self.retain_memory = bytes;
        self
    }

    /// Where to cache the compiled artifact (default: [`CacheConfig::Default`]).
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    pub fn build(self) -> Result<Kernel> {
        let engine = Engine::new(&Config::new()).map_err(|e| Error::Host(format!("cannot create the engine: {e:?}")))?;
        let (component, artifact) = artifact::load_component(&engine, COMPONENT, &self.cache)?;
        let linker = Linker::<State>::new(&engine); // the component imports nothing
        let pre = linker
            .instantiate_pre(&component)
            .and_then(bindings::KernelPre::new)
            .map_err(|e| Error::Host(format!("cannot link the kernel component: {e:?}")))?;
        let kernel = Kernel {
            inner: Arc::new(Inner {
                engine,
                pre,
                pool: Mutex::new(Vec::new()),
                memory_limit: self.memory_limit,
                max_idle: self.max_idle,
                retain_memory: self.retain_memory,
                artifact,
                instantiations: AtomicU64::new(0),
                traps: AtomicU64::new(0),
            }),
        };
        // Instantiate once now: a memory limit below the component's initial memory fails here.
        let first = kernel.instantiate()?;
        kernel.checkin(first);
        Ok(kernel)
    }
}

fn json(v: &Value) -> String {
    v.to_string()
}

/// JSON text from the kernel to a value (the kernel only emits valid JSON).
pub(crate) fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::Host(format!("the kernel returned invalid JSON ({e}): {text}")))
}

impl Kernel {
    /// The kernel with default settings (see [`KernelBuilder`]).
    pub fn new() -> Result<Kernel> {
        KernelBuilder::default().build()
    }

    pub fn builder() -> KernelBuilder {
        KernelBuilder::default()
    }

    /// How the compiled component was obtained (cache hit, compile) and how long it took.
    pub fn artifact(&self) -> &ArtifactInfo {
        &self.inner.artifact
    }

    /// The engine (e.g. to compare configurations); the host needs nothing else from it.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn stats(&self) -> Stats {
        Stats {
            instantiations: self.inner.instantiations.load(Ordering::Relaxed),
            traps: self.inner.traps.load(Ordering::Relaxed),
            idle: self.pool().len(),
        }
    }

    fn pool(&self) -> MutexGuard<'_, Vec<Instance>> {
        // The lock is held only to push or pop, so a poisoned pool is still consistent.
        self.inner.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new instance in a new store with the memory cap.
    pub(crate) fn instantiate(&self) -> Result<Instance> {
        let limits = StoreLimitsBuilder::new().memory_size(self.inner.memory_limit).trap_on_grow_failure(true).build();
        let mut store = Store::new(&self.inner.engine, State { limits, memory_bytes: 0, initial_bytes: 0 });
        store.limiter(|state| state);
        let bindings = self
            .inner
            .pre
            .instantiate(&mut store)
            .map_err(|e| Error::Host(format!("cannot instantiate the kernel component: {e:?}")))?;
        store.data_mut().initial_bytes = store.data().memory_bytes;
        self.inner.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok(Instance { store, bindings })
    }

    fn checkout(&self) -> Result<Instance> {
        let pooled = self.pool().pop();
        match pooled {
            Some(instance) => Ok(instance),
            None => self.instantiate(),
        }
    }

    fn checkin(&self, instance: Instance) {
        let state = instance.store.data();
        if state.memory_bytes > self.inner.retain_memory.max(state.initial_bytes) {
            return;
        }
        let mut pool = self.pool();
        if pool.len() < self.inner.max_idle {
            pool.push(instance);
        }
    }

    /// Record a trap and turn wasmtime's error into [`Error::Trap`].
    pub(crate) fn trapped(&self, e: wasmtime::Error) -> Error {
        self.inner.traps.fetch_add(1, Ordering::Relaxed);
        Error::Trap(format!("{e:?}"))
    }

    /// Run `f` on a pooled instance; on a trap the instance is dropped, not returned.
    pub(crate) fn call<T, E>(
        &self,
        f: impl FnOnce(&mut Store<State>, &bindings::Kernel) -> wasmtime::Result<Result<T, E>>,
    ) -> Result<T>
    where
        Error: From<E>,
    {
        let mut instance = self.checkout()?;
        match f(&mut instance.store, &instance.bindings) {
            Ok(result) => {
                self.checkin(instance);
                result.map_err(Error::from)
            }
            Err(e) => Err(self.trapped(e)),
        }
    }

    /// Run `f`, which cannot fail in the kernel (only trap), on a pooled instance.
    pub(crate) fn call_raw<T>(&self, f: impl FnOnce(&mut Store<State>, &bindings::Kernel) -> wasmtime::Result<T>) -> Result<T> {
        self.call(|s, b| f(s, b).map(Ok::<_, Error>))
    }

    /// JavaScript `String(v)` for a scalar, RFC 8785 canonical JSON for arrays and objects.
    pub fn stringify(&self, value: &Value) -> Result<String> {
        let text = json(value);
        self.call(|s, b| b.mizan_kernel_canon().call_stringify(s, &text))
    }

    /// RFC 8785 canonical JSON text of any value.
    pub fn canonical_json(&self, value: &Value) -> Result<String> {
        let text = json(value);
        self.call(|s, b| b.mizan_kernel_canon().call_canonical_json(s, &text))
    }

    /// Warnings about a usable secret (shorter than 32 bytes); an error for an empty one.
    pub fn check_secret(&self, secret: &str) -> Result<Vec<String>> {
        self.call(|s, b| b.mizan_kernel_keys().call_check_secret(s, secret))
    }

    /// `ctx:{context}:{hex}`. `params` is a JSON object; `user` a JSON string or number.
    /// Deriving many keys under one secret? [`Kernel::keyer`] computes the HMAC schedule once.
    pub fn derive_cache_key(
        &self,
        secret: &str,
        context: &str,
        params: &Value,
        user: Option<&Value>,
        rev: u32,
    ) -> Result<String> {
        let params = json(params);
        let user = user.map(json);
        self.call(|s, b| b.mizan_kernel_keys().call_derive_cache_key(s, secret, context, &params, user.as_deref(), rev))
    }

    /// The key under each secret, current first, for reading through a rotation window.
    pub fn derive_cache_key_rotation(
        &self,
        secrets: &[String],
        context: &str,
        params: &Value,
        user: Option<&Value>,
        rev: u32,
    ) -> Result<Vec<String>> {
        let params = json(params);
        let user = user.map(json);
        self.call(|s, b| {
            b.mizan_kernel_keys().call_derive_cache_key_rotation(s, secrets, context, &params, user.as_deref(), rev)
        })
    }

    /// Entries (`["ctx", {"context", "function"?, "params"?}]`) to an `X-Mizan-Invalidate` value.
    pub fn format_invalidate_header(&self, entries: &Value) -> Result<String> {
        let text = json(entries);
        self.call(|s, b| b.mizan_kernel_header().call_format_invalidate_header(s, &text))
    }

    /// An `X-Mizan-Invalidate` value to entries (param values as strings); errors carry
    /// `{"position"}`.
    pub fn parse_invalidate_header(&self, text: &str) -> Result<Value> {
        let entries = self.call(|s, b| b.mizan_kernel_header().call_parse_invalidate_header(s, text))?;
        parse(&entries)
    }

    /// Apply a merge entry to a cached bundle: the new bundle, or `None` when nothing changes.
    pub fn apply_merge(&self, bundle: &Value, entry: &Value) -> Result<Option<Value>> {
        let bundle = json(bundle);
        let entry = json(entry);
        let merged = self.call(|s, b| b.mizan_kernel_merge().call_apply_merge(s, &bundle, &entry))?;
        merged.as_deref().map(parse).transpose()
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("memory_limit", &self.inner.memory_limit)
            .field("max_idle", &self.inner.max_idle)
            .field("artifact", &self.inner.artifact)
            .field("stats", &self.stats())
            .finish()
    }
}
