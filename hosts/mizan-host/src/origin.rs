//! Origin-cache stores behind one interface (KERNEL.md §2.1; docs/SERVER.md "Redis").
//!
//! A store does three things: `get(key)` (the body and a *ticket*), `put(cache_put, ticket)`
//! (the entry and its reverse-index sets, unless a purge of its sets started after the ticket
//! was handed out, or its public-entry bound is full) and `purge(plan)` (every user, every rev,
//! in bounded atomic steps). Keys, index keys, TTLs, bounds and purge plans all come from the
//! engine ([`crate::FetchPlan::cache`], [`crate::Finished::cache_put`], [`crate::Finished::purge`],
//! [`crate::Engine::purge_user_plan`]); a store never derives or matches anything itself — the
//! in-memory store is the kernel's, the Redis one runs the kernel's scripts.
//!
//! - [`MemoryOriginStore`]: the kernel's own in-memory store ([`OriginStore`]), one per process.
//! - `RedisOriginStore` (feature `redis`): the distributed store, running the kernel's two Lua
//!   scripts with `EVALSHA`.

use std::future::Future;
use std::pin::Pin;

use crate::error::Result;
use crate::kernel::Kernel;
use crate::keyer::PurgePlan;
use crate::server::{CachePut, Lookup, OriginStore, now_ms};

/// A boxed, `Send` future: what the [`OriginCache`] methods return (the trait stays
/// object-safe, so an app holds an `Arc<dyn OriginCache>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The interface every origin-cache store implements. Errors are [`crate::Error::Cache`] (an
/// unreachable Redis…) or kernel errors; the Axum integration logs them, serves a read as a
/// miss, skips a failed put, and keeps a failed purge to retry, serving what it covers without
/// the cache until it succeeds (docs/SERVER.md "When a purge fails").
pub trait OriginCache: Send + Sync + 'static {
    /// The body stored under `key` (`None`: a miss) and the ticket a put after this read presents.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Lookup>>;
    /// Store the entry and add it to its index sets, unless a purge of one of its sets started
    /// after `ticket` (from the `get` that missed; `None`: no check) or its bound set is full.
    /// Whether it stored.
    fn put<'a>(&'a self, put: &'a CachePut, ticket: Option<u64>) -> BoxFuture<'a, Result<bool>>;
    /// Delete what the plan matches (every user, every rev), in bounded steps; the deleted keys,
    /// sorted.
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

    pub fn get_now(&self, key: &str) -> Result<Lookup> {
        self.store.lookup(key, now_ms())
    }

    pub fn put_now(&self, put: &CachePut, ticket: Option<u64>) -> Result<bool> {
        self.store.put_entry(put, ticket, now_ms())
    }

    /// The purge in steps of 256 set members, each one kernel call: other requests use the store
    /// between them.
    pub fn purge_now(&self, plan: &PurgePlan) -> Result<Vec<String>> {
        let mut step = self.store.purge_step(plan, None, 0)?;
        let mut purged = std::mem::take(&mut step.purged);
        while let Some(cursor) = step.cursor {
            step = self.store.purge_step(plan, Some(&cursor), 0)?;
            purged.append(&mut step.purged);
        }
        purged.sort();
        purged.dedup();
        Ok(purged)
    }
}

impl OriginCache for MemoryOriginStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Lookup>> {
        Box::pin(std::future::ready(self.get_now(key)))
    }

    fn put<'a>(&'a self, put: &'a CachePut, ticket: Option<u64>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(std::future::ready(self.put_now(put, ticket)))
    }

    fn purge<'a>(&'a self, plan: &'a PurgePlan) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(std::future::ready(self.purge_now(plan)))
    }
}
