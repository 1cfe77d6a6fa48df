//! [`Store`]: the reconciled client store (the WIT `store` interface, KERNEL.md §7).
//!
//! A thin wrapper: JSON values in, JSON values out, `now` in milliseconds from the host. The
//! store is sans-IO: the host performs the effects [`Store::drain`] hands it (`fetch`, `call`,
//! `session`, `schedule`…) and feeds the results back (`fetch_ok`, `call_ok`, `tick`…).

use serde_json::Value;
use wasmtime::component::ResourceAny;

use crate::bindings::exports::mizan::kernel::store as wit;
use crate::dedicated::{Dedicated, Rebuild};
use crate::error::{Error, Result};
use crate::kernel::{Kernel, State, parse};

type Guest<'a> = wit::GuestStore<'a>;

/// One client cache, resident in its own instance. `Send + Sync`; calls are serialized.
///
/// **Traps.** The store holds state that cannot be rebuilt (instances, data, mutations, request
/// ids), so unlike [`crate::Keyer`] or [`crate::Registry`] it is not recreated behind your back:
/// after a call traps (a kernel bug, or the instance's memory cap), that call and every later
/// call on this `Store` return [`Error::Trap`]. Create a new `Store` (and start it again) to go
/// on; [`Store::is_lost`] tells.
pub struct Store {
    resident: Dedicated,
}

fn json(v: &Value) -> String {
    v.to_string()
}

impl Store {
    /// `config`: `{"stale_time_ms"?, "gc_time_ms"?, "retries"?, "retry_base_ms"?,
    /// "retry_max_ms"?, "max_instances"?, "refetch_on_focus"?, "refetch_on_reconnect"?, "seed"?}`.
    pub fn new(kernel: &Kernel, config: Option<&Value>) -> Result<Store> {
        let config = config.map(json);
        let resident =
            Dedicated::new(kernel, Rebuild::Never, &|s, b| b.mizan_kernel_store().store().call_create(s, config.as_deref()))?;
        Ok(Store { resident })
    }

    fn call<T, E>(
        &self,
        f: impl FnOnce(&mut wasmtime::Store<State>, Guest<'_>, ResourceAny) -> wasmtime::Result<Result<T, E>>,
    ) -> Result<T>
    where
        Error: From<E>,
    {
        // `Rebuild::Never`: `create` is never called again.
        self.resident.call(&|_, _| unreachable!("a Store is never rebuilt"), |s, b, h| f(s, b.mizan_kernel_store().store(), h))
    }

    fn unit(&self, f: impl FnOnce(&mut wasmtime::Store<State>, Guest<'_>, ResourceAny) -> wasmtime::Result<()>) -> Result<()> {
        self.call(|s, g, h| f(s, g, h).map(Ok::<_, Error>))
    }

    /// True once a call trapped: every call fails from then on; create a new store.
    pub fn is_lost(&self) -> bool {
        self.resident.is_empty()
    }

    /// The kernel this store runs on.
    pub fn kernel(&self) -> &Kernel {
        self.resident.kernel()
    }

    /// Ask for `GET /session/` (once).
    pub fn start(&self) -> Result<()> {
        self.unit(|s, g, h| g.call_start(s, h))
    }

    pub fn session_ok(&self, request_id: u64, body: &Value) -> Result<()> {
        let body = json(body);
        self.call(|s, g, h| g.call_session_ok(s, h, request_id, &body))
    }

    /// Observe `(context, params)`; fetches when there is no fresh data. Returns the instance key.
    pub fn subscribe(&self, context: &str, params: &Value, now: u64) -> Result<String> {
        let params = json(params);
        self.call(|s, g, h| g.call_subscribe(s, h, context, &params, now))
    }

    pub fn unsubscribe(&self, key: &str, now: u64) -> Result<()> {
        self.call(|s, g, h| g.call_unsubscribe(s, h, key, now))
    }

    /// Warm the cache without observing; returns the instance key.
    pub fn prefetch(&self, context: &str, params: &Value, now: u64) -> Result<String> {
        let params = json(params);
        self.call(|s, g, h| g.call_prefetch(s, h, context, &params, now))
    }

    pub fn refetch(&self, key: &str) -> Result<()> {
        self.call(|s, g, h| g.call_refetch(s, h, key))
    }

    pub fn fetch_ok(&self, request_id: u64, body: &Value, now: u64) -> Result<()> {
        let body = json(body);
        self.call(|s, g, h| g.call_fetch_ok(s, h, request_id, &body, now))
    }

    /// `error`: `{"network": true}`, `{"status", "body"?}` or a bare `{"code", "message"}`.
    pub fn fetch_err(&self, request_id: u64, error: &Value, now: u64) -> Result<()> {
        let error = json(error);
        self.call(|s, g, h| g.call_fetch_err(s, h, request_id, &error, now))
    }

    /// Start a mutation; `optimistic` is a list of merge entries applied at once. The mutation id.
    pub fn mutate(&self, function: &str, args: &Value, optimistic: Option<&Value>) -> Result<u64> {
        let args = json(args);
        let optimistic = optimistic.map(json);
        self.call(|s, g, h| g.call_mutate(s, h, function, &args, optimistic.as_deref()))
    }

    /// The call's JSON body and its `X-Mizan-Invalidate` header, if any.
    pub fn call_ok(&self, request_id: u64, body: &Value, header: Option<&str>) -> Result<()> {
        let body = json(body);
        self.call(|s, g, h| g.call_call_ok(s, h, request_id, &body, header))
    }

    pub fn call_err(&self, request_id: u64, error: &Value) -> Result<()> {
        let error = json(error);
        self.call(|s, g, h| g.call_call_err(s, h, request_id, &error))
    }

    pub fn release_mutation(&self, mutation_id: u64) -> Result<()> {
        self.unit(|s, g, h| g.call_release_mutation(s, h, mutation_id))
    }

    /// Mark matching instances stale (server push, view responses); keeps data.
    pub fn invalidate(&self, entries: &Value) -> Result<()> {
        let entries = json(entries);
        self.call(|s, g, h| g.call_invalidate(s, h, &entries))
    }

    /// Drop data of matching instances at once (all with `None`).
    pub fn remove(&self, entries: Option<&Value>) -> Result<()> {
        let entries = entries.map(json);
        self.call(|s, g, h| g.call_remove(s, h, entries.as_deref()))
    }

    /// Identity changed: drop every instance's data, forget mutations, new session.
    pub fn reset(&self) -> Result<()> {
        self.unit(|s, g, h| g.call_reset(s, h))
    }

    pub fn tick(&self, now: u64) -> Result<()> {
        self.unit(|s, g, h| g.call_tick(s, h, now))
    }

    pub fn focus(&self, now: u64) -> Result<()> {
        self.unit(|s, g, h| g.call_focus(s, h, now))
    }

    pub fn online(&self, now: u64) -> Result<()> {
        self.unit(|s, g, h| g.call_online(s, h, now))
    }

    /// `{"version": 1, "instances": [{"context", "params", "data"}]}` for SSR.
    pub fn dehydrate(&self) -> Result<Value> {
        let text = self.call(|s, g, h| g.call_dehydrate(s, h).map(Ok::<_, Error>))?;
        parse(&text)
    }

    pub fn hydrate(&self, payload: &Value, now: u64) -> Result<()> {
        let payload = json(payload);
        self.call(|s, g, h| g.call_hydrate(s, h, &payload, now))
    }

    /// `{"key", "context", "params", "status", "is_fetching", "is_stale", "data", "error",
    /// "updated_at", "slot_versions", "subscribers"}`, or `None` for an unknown key.
    pub fn snapshot(&self, key: &str, now: u64) -> Result<Option<Value>> {
        let text = self.call(|s, g, h| g.call_snapshot(s, h, key, now).map(Ok::<_, Error>))?;
        text.as_deref().map(parse).transpose()
    }

    /// `{"id", "fn", "status", "result", "error"}`, or `None` for an unknown id.
    pub fn mutation(&self, mutation_id: u64) -> Result<Option<Value>> {
        let text = self.call(|s, g, h| g.call_mutation(s, h, mutation_id).map(Ok::<_, Error>))?;
        text.as_deref().map(parse).transpose()
    }

    pub fn instance_count(&self) -> Result<u32> {
        self.call(|s, g, h| g.call_instance_count(s, h).map(Ok::<_, Error>))
    }

    /// `{"effects": [...], "changed": [keys], "mutations": [ids]}` since the last drain.
    pub fn drain(&self, now: u64) -> Result<Value> {
        let text = self.call(|s, g, h| g.call_drain(s, h, now).map(Ok::<_, Error>))?;
        parse(&text)
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("lost", &self.is_lost()).finish()
    }
}

impl Kernel {
    /// The key `subscribe` would give `(context, params)`, without touching any store.
    pub fn instance_key(&self, context: &str, params: &Value) -> Result<String> {
        let params = json(params);
        self.call(|s, b| b.mizan_kernel_store().call_instance_key(s, context, &params))
    }
}
