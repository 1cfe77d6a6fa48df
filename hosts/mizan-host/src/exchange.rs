//! [`ExchangeServer`]: the WIT `server-exchange` interface (wit/session.wit). A host serves one
//! request as one [`Exchange`]: `update(events) -> effects`, performing each effect (session,
//! revocation, predicates, functions, cache I/O) and sending the `respond` effect's response.
//! The event and effect types are the WIT's own, re-exported here. [`crate::app::Mizan::handle`]
//! is the interpreter every Rust host (Axum, Tauri) runs.
//!
//! **Instances.** The server keeps a few *homes*: instances, each holding one `server` resource.
//! An exchange lives in the home it began in and locks it only for the microseconds of each
//! `update`, never while the host awaits user code, so many requests share a home and
//! concurrency does not grow the number of instances. A home that traps is rebuilt on its next
//! use; the exchanges that lived in it fail with [`Error::Trap`] (their requests answer 500).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::bindings::exports::mizan::kernel::server as wit_server;
use crate::bindings::exports::mizan::kernel::server_exchange as wit;
use crate::error::{Error, Result};
use crate::kernel::{Instance, Kernel, State};
use crate::server::EngineConfig;

type KernelResult = std::result::Result<Vec<Effect>, crate::bindings::exports::mizan::kernel::types::Error>;

pub use wit::{Arrival, Begun, Effect, Event, Found, Hooks, LogLevel, LogLine, PredicateVerdict, Put, Ran, Run, RunOutcome, Verdict};

/// Every WIT type an event or an effect carries (wit/session.wit `server-exchange`, and the
/// records it uses from wit/server.wit and wit/kernel.wit), for interpreters outside this crate.
pub mod types {
    pub use crate::bindings::exports::mizan::kernel::keys::{PurgePlan, PurgeScope, PurgeTerm};
    pub use crate::bindings::exports::mizan::kernel::server::{
        CacheBound, CachePut, HttpHeader, Identity, MemberCall, Outcome, PredicateCheck, ProtocolCode, ProtocolError, Request,
        RequestBody, Response,
    };
    pub use super::{Arrival, Begun, Effect, Event, Found, Hooks, LogLevel, LogLine, PredicateVerdict, Put, Ran, Run, RunOutcome, Verdict};
}

/// How many homes a server keeps at most: enough for every core to update an exchange at once.
fn max_homes() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get()).clamp(1, 16)
}

struct Resident {
    instance: Instance,
    server: ResourceAny,
}

#[derive(Default)]
struct HomeState {
    resident: Option<Resident>,
    /// Bumped when the resident is lost, so exchanges of the old one know their handle is gone.
    generation: u64,
}

#[derive(Default)]
struct Home(Mutex<HomeState>);

impl Home {
    fn lock(&self) -> MutexGuard<'_, HomeState> {
        self.0.lock().unwrap_or_else(|poisoned| {
            // A panic mid-call: the instance's state is unknown, so drop it.
            let mut guard = poisoned.into_inner();
            guard.resident = None;
            guard.generation += 1;
            self.0.clear_poison();
            guard
        })
    }
}

struct Inner {
    kernel: Kernel,
    registry_json: String,
    config: wit_server::EngineConfig,
    hooks: Hooks,
    homes: Vec<Home>,
    next: AtomicUsize,
}

/// One app's engine and hooks (the WIT `server` resource), behind its homes. `Send + Sync +
/// Clone` (an `Arc`).
#[derive(Clone)]
pub struct ExchangeServer {
    inner: Arc<Inner>,
}

impl ExchangeServer {
    /// Errors as [`crate::Engine::from_json`]'s (a bad registry or config).
    pub fn new(kernel: &Kernel, registry_json: String, config: &EngineConfig, hooks: Hooks) -> Result<ExchangeServer> {
        let server = ExchangeServer::homeless(kernel.clone(), registry_json, config.into(), hooks);
        // Build the first home now: a bad registry or config fails here, not at the first request.
        let mut first = server.inner.homes[0].lock();
        first.resident = Some(server.build()?);
        drop(first);
        Ok(server)
    }

    pub fn hooks(&self) -> Hooks {
        self.inner.hooks
    }

    /// The same engine (registry and config) with other hooks: a server of its own, its homes
    /// built at its first request (the registry and config were checked by this one).
    pub fn with_hooks(&self, hooks: Hooks) -> ExchangeServer {
        let inner = &self.inner;
        ExchangeServer::homeless(inner.kernel.clone(), inner.registry_json.clone(), inner.config.clone(), hooks)
    }

    /// A server whose homes are all still to be built.
    fn homeless(kernel: Kernel, registry_json: String, config: wit_server::EngineConfig, hooks: Hooks) -> ExchangeServer {
        let homes = (0..max_homes()).map(|_| Home::default()).collect();
        ExchangeServer { inner: Arc::new(Inner { kernel, registry_json, config, hooks, homes, next: AtomicUsize::new(0) }) }
    }

    fn build(&self) -> Result<Resident> {
        let kernel = &self.inner.kernel;
        let mut instance = kernel.instantiate()?;
        let guest = instance.bindings.mizan_kernel_server_exchange().server();
        match guest.call_create(&mut instance.store, &self.inner.registry_json, &self.inner.config, self.inner.hooks) {
            Ok(Ok(server)) => Ok(Resident { instance, server }),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(kernel.trapped(e)),
        }
    }

    /// A free home (one no other thread is updating), else the next in turn.
    fn pick(&self) -> (usize, MutexGuard<'_, HomeState>) {
        let homes = &self.inner.homes;
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..homes.len() {
            let at = (start + i) % homes.len();
            if let Ok(guard) = homes[at].0.try_lock() {
                return (at, guard);
            }
        }
        let at = start % homes.len();
        (at, homes[at].lock())
    }

    /// A new exchange for one request, and the effects its arrival asks for.
    pub fn begin(&self, arrival: &Arrival) -> Result<(Exchange, Vec<Effect>)> {
        let (home, mut state) = self.pick();
        if state.resident.is_none() {
            state.resident = Some(self.build()?);
        }
        let generation = state.generation;
        let Some(resident) = state.resident.as_mut() else { unreachable!("built above") };
        let guest = resident.instance.bindings.mizan_kernel_server_exchange().server();
        match guest.call_begin(&mut resident.instance.store, resident.server, arrival) {
            Ok(begun) => Ok((Exchange { server: self.clone(), home, generation, handle: Some(begun.exchange) }, begun.effects)),
            Err(e) => {
                state.resident = None;
                state.generation += 1;
                Err(self.inner.kernel.trapped(e))
            }
        }
    }

    /// The pending purge after another failed (`server.merge-purge-plans`).
    pub fn merge_purge_plans(&self, pending: &crate::PurgePlan, failed: &crate::PurgePlan) -> Result<crate::PurgePlan> {
        let (_, mut state) = self.pick();
        if state.resident.is_none() {
            state.resident = Some(self.build()?);
        }
        let Some(resident) = state.resident.as_mut() else { unreachable!("built above") };
        let guest = resident.instance.bindings.mizan_kernel_server_exchange().server();
        match guest.call_merge_purge_plans(&mut resident.instance.store, resident.server, pending, failed) {
            Ok(plan) => Ok(plan),
            Err(e) => {
                state.resident = None;
                state.generation += 1;
                Err(self.inner.kernel.trapped(e))
            }
        }
    }
}

impl std::fmt::Debug for ExchangeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeServer").field("homes", &self.inner.homes.len()).finish_non_exhaustive()
    }
}

/// One request, from arrival to response (the WIT `exchange` resource). Dropping it frees the
/// resource in its home.
pub struct Exchange {
    server: ExchangeServer,
    home: usize,
    generation: u64,
    handle: Option<ResourceAny>,
}

impl Exchange {
    /// Apply `events` in order; the effects to perform, in order. `Err`: a misplaced event (a
    /// host bug) or a trap of the home; answer 500.
    pub fn update(&mut self, events: &[Event]) -> Result<Vec<Effect>> {
        self.call(|guest, store, handle| guest.call_update(store, handle, events))
    }

    /// The next request, once this exchange has responded: its first effects, as
    /// [`ExchangeServer::begin`] gives a new exchange's. `Err` before the response (a host bug).
    pub fn arrive(&mut self, arrival: &Arrival) -> Result<Vec<Effect>> {
        self.call(|guest, store, handle| guest.call_arrive(store, handle, arrival))
    }

    /// One call on the exchange in its home; a trap rebuilds the home and loses the exchange.
    fn call(&mut self, f: impl FnOnce(&wit::GuestExchange<'_>, &mut Store<State>, ResourceAny) -> wasmtime::Result<KernelResult>) -> Result<Vec<Effect>> {
        let inner = &self.server.inner;
        let mut state = inner.homes[self.home].lock();
        let handle = self.handle.filter(|_| state.generation == self.generation);
        let (Some(handle), Some(resident)) = (handle, state.resident.as_mut()) else {
            self.handle = None;
            return Err(Error::Trap("this exchange's instance trapped earlier; its state is lost".into()));
        };
        let guest = resident.instance.bindings.mizan_kernel_server_exchange().exchange();
        match f(&guest, &mut resident.instance.store, handle) {
            Ok(result) => result.map_err(Error::from),
            Err(e) => {
                state.resident = None;
                state.generation += 1;
                self.handle = None;
                Err(inner.kernel.trapped(e))
            }
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let Some(handle) = self.handle.take() else { return };
        let mut state = self.server.inner.homes[self.home].lock();
        if state.generation != self.generation {
            return;
        }
        if let Some(resident) = state.resident.as_mut()
            && handle.resource_drop(&mut resident.instance.store).is_err()
        {
            state.resident = None;
            state.generation += 1;
        }
    }
}
