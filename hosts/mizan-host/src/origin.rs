//! Origin-cache stores behind one interface (KERNEL.md §2.1; docs/SERVER.md "Redis").
//!
//! A store does three things: `get(key)`, `put(cache_put)` (the entry and its reverse-index
//! sets) and `purge(plan)` (every user, every rev, atomically). Keys, index keys, TTLs and purge
//! plans all come from the engine ([`crate::FetchPlan::cache`], [`crate::Finished::cache_put`],
//! [`crate::Finished::purge`], [`crate::Engine::purge_user_plan`]); a store never derives or
//! matches anything itself.
//!
//! - [`MemoryOriginStore`]: the kernel's own in-memory store ([`OriginStore`]), one per process.
//! - `RedisOriginStore` (feature `redis`): the distributed store, running the kernel's two Lua
//!   scripts with `EVALSHA`.

use std::future::Future;
use std::pin::Pin;

use crate::error::Result;
use crate::kernel::Kernel;
use crate::keyer::PurgePlan;
use crate::server::{CachePut, OriginStore, now_ms};

/// A boxed, `Send` future: what the [`OriginCache`] methods return (the trait stays
/// object-safe, so an app holds an `Arc<dyn OriginCache>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The interface every origin-cache store implements. Errors are [`crate::Error::Cache`] (an
/// unreachable Redis…) or kernel errors; the Axum integration logs them and serves a read as a
/// miss, a failed put or purge as done (the TTL bounds what is left).
pub trait OriginCache: Send + Sync + 'static {
    /// The body stored under `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>>>;
    /// Store the entry and add it to its index sets.
    fn put<'a>(&'a self, put: &'a CachePut) -> BoxFuture<'a, Result<()>>;
    /// Delete what the plan matches (every user, every rev); the deleted keys, sorted.
    fn purge<'a>(&'a self, plan: &'a PurgePlan) -> BoxFuture<'a, Result<Vec<String>>>;
}

/// The kernel's in-memory origin store for one process: entries, their index sets, purge plans
/// evaluated by the kernel, LRU bounds. Every call holds the store's one lock (the kernel call
/// is a few microseconds, so the futures are ready at once). Times are the wall clock
/// ([`now_ms`]), as the engine's.
#[derive(Debug)]
pub struct MemoryOriginStore {
    store: OriginStore,
}

impl MemoryOriginStore {
    /// With the default bounds (10 000 entries, 64 MiB).
    pub fn new(kernel: &Kernel) -> Result<MemoryOriginStore> {
        Self::with_bounds(kernel, 0, 0)
    }

    /// Bounds on entries and bytes (keys, bodies and index keys); 0 takes the default.
    pub fn with_bounds(kernel: &Kernel, max_entries: u32, max_bytes: u64) -> Result<MemoryOriginStore> {
        Ok(MemoryOriginStore { store: OriginStore::new(kernel, max_entries, max_bytes)? })
    }

    /// The kernel resource underneath (`len`, `index_sets`, `sweep`, `clear`).
    pub fn store(&self) -> &OriginStore {
        &self.store
    }

    pub fn get_now(&self, key: &str) -> Result<Option<String>> {
        self.store.get(key, now_ms())
    }

    pub fn put_now(&self, put: &CachePut) -> Result<()> {
        self.store.put(&put.key, &put.body, &put.index_keys, put.ttl_seconds, now_ms()).map(|_| ())
    }
}

impl OriginCache for MemoryOriginStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(std::future::ready(self.get_now(key)))
    }

    fn put<'a>(&'a self, put: &'a CachePut) -> BoxFuture<'a, Result<()>> {
        Box::pin(std::future::ready(self.put_now(put)))
    }

    fn purge<'a>(&'a self, plan: &'a PurgePlan) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(std::future::ready(self.store.purge(plan)))
    }
}
