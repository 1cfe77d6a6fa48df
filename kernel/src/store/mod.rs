//! The reconciled client store (KERNEL.md §7): the cache every frontend shares. Sans-IO: it
//! never fetches, sleeps or reads a clock. Hosts call it with `now` and with request results;
//! it answers with effects (`fetch`, `call`, `session`, `schedule`) and the keys of the instances
//! whose snapshot changed, so adapters notify only those.
//!
//! Defaults are TanStack Query's: stale time 0, gc time 5 min, 3 retries with exponential
//! backoff capped at 30 s (network errors and 5xx only), refetch on focus and reconnect.
//! Beyond TanStack: server-driven invalidation, an invalidation that lands during a fetch refetches
//! once the fetch settles, repeated invalidations coalesce, a bound on cached instances, and
//! `reset` drops every user's data at once on identity change.

mod effects;
mod errors;
mod instance;
mod table;

pub use effects::{Drained, Effect, MAX_TIMER_DELAY_MS};
pub use errors::{RequestError, status_of_code};
pub use instance::{Instance, Named, Status, named};


use crate::canon::{self, stringify};
use crate::error::{Error, Result};
use crate::header::{encode_uri_component, parse_header};
use crate::invalidation::{InvalidateEntry, entries_from_json};
use crate::merge::{MergeEntry, apply_merge};
use serde_json::{Map, Value};
use rustc_hash::FxBuildHasher;
use std::collections::{HashMap, HashSet};
use table::Instances;

/// Instance keys are looked up on every step; a hash map does it in one comparison where a
/// `BTreeMap` compares long shared prefixes (`todos?list_id=…`) a dozen times. A fixed hasher
/// (FxHash): no randomness in the kernel, and the same behaviour on every host. Where the order
/// of instances shows (effects, dehydrate), keys are sorted.
pub type KeyMap<V> = HashMap<String, V, FxBuildHasher>;
type KeySet = HashSet<String, FxBuildHasher>;

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub stale_time_ms: u64,
    pub gc_time_ms: u64,
    pub retries: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// At most this many instances are kept; unobserved ones are evicted, least recently used first.
    pub max_instances: usize,
    pub refetch_on_focus: bool,
    pub refetch_on_reconnect: bool,
    /// Seeds the retry jitter. Hosts pass a random value; tests a fixed one.
    pub seed: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            stale_time_ms: 0,
            gc_time_ms: 5 * 60 * 1000,
            retries: 3,
            retry_base_ms: 1000,
            retry_max_ms: 30_000,
            max_instances: 1000,
            refetch_on_focus: true,
            refetch_on_reconnect: true,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl StoreConfig {
    /// Read `{"stale_time_ms"?, "gc_time_ms"?, "retries"?, …}`; absent keys keep their defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        let m = canon::parse_object(text, "store config")?;
        let mut c = StoreConfig::default();
        for (k, v) in &m {
            let int = || v.as_u64().ok_or_else(|| Error::invalid_argument(format!("store config `{k}` must be a non-negative integer")));
            let flag = || v.as_bool().ok_or_else(|| Error::invalid_argument(format!("store config `{k}` must be a boolean")));
            match k.as_str() {
                "stale_time_ms" => c.stale_time_ms = int()?,
                "gc_time_ms" => c.gc_time_ms = int()?,
                "retries" => c.retries = u32::try_from(int()?).unwrap_or(u32::MAX),
                "retry_base_ms" => c.retry_base_ms = int()?,
                "retry_max_ms" => c.retry_max_ms = int()?,
                "max_instances" => c.max_instances = usize::try_from(int()?).unwrap_or(usize::MAX).max(1),
                "refetch_on_focus" => c.refetch_on_focus = flag()?,
                "refetch_on_reconnect" => c.refetch_on_reconnect = flag()?,
                "seed" => c.seed = int()?,
                other => return Err(Error::invalid_argument(format!("unknown store config key `{other}`"))),
            }
        }
        Ok(c)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutationStatus {
    Pending,
    Success,
    Error,
}

/// An optimistic change to one slot, kept to roll it back exactly.
#[derive(Debug, Clone)]
struct Patch {
    key: String,
    slot: String,
    previous: Value,
    /// The slot version the patch set; a rollback only touches a slot nobody changed since.
    version: u64,
}

#[derive(Debug, Clone)]
struct Mutation {
    function: String,
    status: MutationStatus,
    result: Option<Value>,
    error: Option<RequestError>,
    patches: Vec<Patch>,
}

#[derive(Debug, Clone)]
enum Request {
    /// A fetch of the instance with this number (`Instance::id`): a number, not a copy of its key.
    Fetch(u64),
    Call(u64),
    Session,
}

pub struct Store {
    config: StoreConfig,
    /// By number (what the context index and the requests name them by) and by key.
    instances: Instances,
    /// Per context (an app has a handful: a sorted list).
    by_context: Named<ContextIndex>,
    requests: HashMap<u64, Request, FxBuildHasher>,
    /// Mutations by id, oldest first (a few at a time).
    mutations: Vec<(u64, Mutation)>,
    next_id: u64,
    next_version: u64,
    use_clock: u64,
    rng: u64,
    effects: Vec<Effect>,
    changed: Vec<String>,
    /// The number of each key's instance in `changed` when it was listed (0: it had none).
    changed_ids: Vec<u64>,
    /// Keys in `changed` whose instance is gone (an instance marks itself with `Instance::marked_in`).
    changed_gone: KeySet,
    /// The number of the current drain period (from 1): an instance whose `marked_in` equals it
    /// is in `changed` already.
    epoch: u64,
    changed_mutations: Vec<u64>,
    started: bool,
    csrf_token: Option<String>,
    scheduled_at: Option<u64>,
    /// The next wake-up as last computed (valid while `timers_dirty` is false).
    next_at: Option<u64>,
    /// Some retry or gc time changed since the next wake-up was computed: `drain` rescans only
    /// then, so invalidating 1 % of 10 000 instances does not walk all of them for timers.
    timers_dirty: bool,
    /// `fetch` effects carry only the request id (the client session finds the instance by it,
    /// `fetch_of`, instead of copying its key, context, params and query into every effect).
    lean_effects: bool,
}

/// Where to find a context's instances by param: an invalidation of `{list_id: 7}` among 10 000
/// lists looks at the one instance with that value (plus any lacking the param), not at all.
/// Instances are named by their number here (small integer sets, not copies of their keys).
#[derive(Default)]
struct ContextIndex {
    ids: IdSet,
    /// Per param name (a handful): the instances that have it, and by stringified value.
    params: Named<ParamIndex>,
}

#[derive(Default)]
struct ParamIndex {
    having: IdSet,
    by_value: KeyMap<IdSet>,
}

/// A set of instance numbers. A hash set, not a BTreeSet: the component has the hash map code
/// anyway, each BTree instantiation is several KB more of it; and unlike a sorted vector, dropping
/// 10 000 instances one by one (gc, eviction) stays linear. Unordered: `Store::matching` sorts
/// what it returns.
#[derive(Default)]
struct IdSet(HashSet<u64, FxBuildHasher>);

impl IdSet {
    fn one(id: u64) -> Self {
        let mut set = IdSet::default();
        set.0.insert(id);
        set
    }

    fn insert(&mut self, id: u64) {
        self.0.insert(id);
    }

    fn remove(&mut self, id: u64) {
        self.0.remove(&id);
    }

    fn contains(&self, id: u64) -> bool {
        self.0.contains(&id)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn to_vec(&self) -> Vec<u64> {
        self.0.iter().copied().collect()
    }
}

impl ContextIndex {
    fn insert(&mut self, inst: &Instance) {
        self.ids.insert(inst.id);
        for (k, v) in &inst.canonical {
            let i = match self.params.binary_search_by(|(p, _)| p.cmp(k)) {
                Ok(i) => i,
                Err(i) => {
                    self.params.insert(i, (k.clone(), ParamIndex::default()));
                    i
                }
            };
            let p = &mut self.params[i].1;
            p.having.insert(inst.id);
            match p.by_value.get_mut(v) {
                Some(set) => set.insert(inst.id),
                None => {
                    p.by_value.insert(v.clone(), IdSet::one(inst.id));
                }
            }
        }
    }

    fn remove(&mut self, inst: &Instance) {
        self.ids.remove(inst.id);
        for (k, v) in &inst.canonical {
            let Ok(i) = self.params.binary_search_by(|(p, _)| p.cmp(k)) else { continue };
            let p = &mut self.params[i].1;
            p.having.remove(inst.id);
            if let Some(set) = p.by_value.get_mut(v) {
                set.remove(inst.id);
                if set.is_empty() {
                    p.by_value.remove(v);
                }
            }
            if p.having.is_empty() {
                self.params.remove(i);
            }
        }
    }

    /// Instances an entry with these (stringified, sorted) params may cover: those with the first
    /// param's value, plus those without that param, in no order. The caller checks the remaining
    /// params and sorts.
    fn candidates(&self, wanted: &[(String, String)]) -> Vec<u64> {
        let Some((name, value)) = wanted.first() else { return self.ids.to_vec() };
        let param = named(&self.params, name);
        let mut out: Vec<u64> = param.and_then(|p| p.by_value.get(value)).map(IdSet::to_vec).unwrap_or_default();
        let having = param.map(|p| &p.having);
        if having.map_or(0, IdSet::len) < self.ids.len() {
            out.extend(self.ids.0.iter().filter(|id| !having.is_some_and(|h| h.contains(**id))));
        }
        out
    }
}

/// The instance key: the context, then the canonical query string. Params whose values
/// stringify alike (`5` and `"5"`) are the same instance: they are the same request.
pub fn instance_key(context: &str, params: &Map<String, Value>) -> (String, String) {
    let query = canon::stringified_params(params)
        .iter()
        .map(|(k, v)| format!("{}={}", encode_uri_component(k), encode_uri_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let key = if query.is_empty() { context.to_string() } else { format!("{context}?{query}") };
    (key, query)
}

impl Store {
    pub fn new(config: StoreConfig) -> Self {
        let rng = config.seed;
        Store {
            config,
            instances: Instances::default(),
            by_context: Vec::new(),
            requests: HashMap::default(),
            mutations: Vec::new(),
            next_id: 0,
            next_version: 0,
            use_clock: 0,
            rng,
            effects: Vec::new(),
            changed: Vec::new(),
            changed_ids: Vec::new(),
            changed_gone: KeySet::default(),
            epoch: 1,
            changed_mutations: Vec::new(),
            started: false,
            csrf_token: None,
            scheduled_at: None,
            next_at: None,
            timers_dirty: false,
            lean_effects: false,
        }
    }

    /// A store whose `fetch` effects carry only the request id (see `lean_effects`).
    pub(crate) fn lean(config: StoreConfig) -> Self {
        Store { lean_effects: true, ..Store::new(config) }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh id from the store's counter, for a request the store does not track itself (the
    /// client session's `GET /session/`): ids never collide with the store's own.
    pub fn next_request_id(&mut self) -> u64 {
        self.id()
    }

    fn mark(&mut self, key: &str) {
        let (instances, mut fetching) = self.split_for_fetches();
        match instances.get_mut(key) {
            Some(inst) => fetching.mark(inst),
            None => {
                if !self.changed_gone.contains(key) {
                    self.changed_gone.insert(key.to_string());
                    self.changed.push(key.to_string());
                    self.changed_ids.push(0);
                }
            }
        }
    }

    /// The keys of the instances `keep` selects, in key order (what effects and outputs follow).
    fn sorted_keys(&self, keep: impl Fn(&Instance) -> bool) -> Vec<String> {
        let mut keys: Vec<String> = self.instances.values().filter(|i| keep(i)).map(|i| i.key.clone()).collect();
        // Sorted directly, not through `canon::sort_with`: this sort of strings (one copy, shared
        // with `matching`) is on the invalidation path, where the indirection showed.
        keys.sort_unstable();
        keys
    }

    /// The keys of the instances numbered `ids`, in that order (for the paths that still work
    /// by key: removal and merges, off the invalidation path).
    fn keys_of(&self, ids: Vec<u64>) -> Vec<String> {
        ids.into_iter().filter_map(|id| self.instances.by_id(id)).map(|i| i.key.clone()).collect()
    }

    fn mark_mutation(&mut self, id: u64) {
        if !self.changed_mutations.contains(&id) {
            self.changed_mutations.push(id);
        }
    }

    /// splitmix64: a deterministic jitter source seeded by the host.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Exponential backoff with jitter: half the capped delay fixed, half random.
    pub(crate) fn backoff(&mut self, attempt: u32) -> u64 {
        let exp = self.config.retry_base_ms.saturating_mul(1u64 << (attempt.saturating_sub(1)).min(32));
        let delay = exp.min(self.config.retry_max_ms);
        let half = delay / 2;
        half + if half > 0 { self.random() % (half + 1) } else { 0 }
    }

    /// Ask for `GET /session/` once.
    pub fn start(&mut self) {
        if !self.started {
            self.started = true;
            let request_id = self.id();
            self.requests.insert(request_id, Request::Session);
            self.effects.push(Effect::Session { request_id });
        }
    }

    pub fn session_ok(&mut self, request_id: u64, body: &Value) {
        if let Some(Request::Session) = self.requests.remove(&request_id) {
            self.csrf_token = body.get("csrfToken").and_then(Value::as_str).map(str::to_string);
        }
    }

    fn get_or_create(&mut self, context: &str, params: &Map<String, Value>) -> String {
        let (key, query) = instance_key(context, params);
        self.get_or_create_keyed(key, query, context, params)
    }

    /// `get_or_create` with the key already computed (`instance_key`), so a caller that needs
    /// the key first (the session, to see the instance before the call) derives it once.
    fn get_or_create_keyed(&mut self, key: String, query: String, context: &str, params: &Map<String, Value>) -> String {
        if !self.instances.contains_key(&key) {
            let mut inst = Instance::new(key.clone(), context.to_string(), params.clone(), query);
            // Dropped and made again since the last drain: its key is in `changed` already.
            if self.changed_gone.contains(&key) {
                inst.marked_in = self.epoch;
            }
            let id = self.instances.add(inst);
            if let Some(inst) = self.instances.by_id(id) {
                match self.by_context.binary_search_by(|(c, _)| c.as_str().cmp(context)) {
                    Ok(i) => self.by_context[i].1.insert(inst),
                    Err(i) => {
                        let mut index = ContextIndex::default();
                        index.insert(inst);
                        self.by_context.insert(i, (context.to_string(), index));
                    }
                }
            }
            self.evict_over_bound(&key);
        }
        self.use_clock += 1;
        let clock = self.use_clock;
        if let Some(inst) = self.instances.get_mut(&key) {
            inst.last_used = clock;
        }
        key
    }

    fn drop_instance(&mut self, key: &str) {
        if let Some(inst) = self.instances.remove(key) {
            self.timers_dirty = true;
            if let Ok(i) = self.by_context.binary_search_by(|(c, _)| c.as_str().cmp(&inst.context)) {
                self.by_context[i].1.remove(&inst);
                if self.by_context[i].1.ids.is_empty() {
                    self.by_context.remove(i);
                }
            }
            if let Some(id) = inst.in_flight {
                self.requests.remove(&id);
            }
            self.mark(key);
        }
    }

    /// Keep at most `max_instances`: evict unobserved instances, least recently used first.
    fn evict_over_bound(&mut self, keep: &str) {
        let over = self.instances.len().saturating_sub(self.config.max_instances);
        if over == 0 {
            return;
        }
        let mut candidates: Vec<(u64, String)> = self
            .instances
            .values()
            .filter(|i| i.subscribers == 0 && i.key != keep)
            .map(|i| (i.last_used, i.key.clone()))
            .collect();
        // Keys are unique, so no two elements are equal: the unstable sort gives the same order,
        // and shares its code with the kernel's other sorts (canon::sort_with).
        canon::sort_with(&mut candidates, <(u64, String)>::cmp);
        for (_, key) in candidates.into_iter().take(over) {
            self.drop_instance(&key);
        }
    }

    fn start_fetch(&mut self, key: &str) {
        let (instances, mut fetching) = self.split_for_fetches();
        let Some(inst) = instances.get_mut(key) else { return };
        if inst.in_flight.is_none() {
            fetching.start(inst);
        }
    }

    /// The instances, and beside them the parts of the store a fetch's start writes: a caller
    /// holding an instance starts its fetch without looking it up again.
    fn split_for_fetches(&mut self) -> (&mut Instances, Fetching<'_>) {
        let fetching = Fetching {
            next_id: &mut self.next_id,
            requests: &mut self.requests,
            effects: &mut self.effects,
            changed: &mut self.changed,
            changed_ids: &mut self.changed_ids,
            timers_dirty: &mut self.timers_dirty,
            epoch: self.epoch,
            lean_effects: self.lean_effects,
        };
        (&mut self.instances, fetching)
    }

    fn needs_fetch(&self, key: &str, now: u64) -> bool {
        self.instances.get(key).is_some_and(|i| {
            i.in_flight.is_none() && i.retry_at.is_none() && (i.status == Status::Error || i.is_stale(now, self.config.stale_time_ms))
        })
    }

    /// Observe an instance; fetches it when it has no fresh data. Returns its key.
    pub fn subscribe(&mut self, context: &str, params: &Map<String, Value>, now: u64) -> String {
        let (key, query) = instance_key(context, params);
        self.subscribe_keyed(key, query, context, params, now)
    }

    /// `subscribe` with the key from `instance_key(context, params)`.
    pub fn subscribe_keyed(&mut self, key: String, query: String, context: &str, params: &Map<String, Value>, now: u64) -> String {
        let key = self.get_or_create_keyed(key, query, context, params);
        if let Some(inst) = self.instances.get_mut(&key) {
            inst.subscribers += 1;
            if inst.gc_at.take().is_some() {
                self.timers_dirty = true;
            }
        }
        self.mark(&key);
        if self.needs_fetch(&key, now) {
            self.start_fetch(&key);
        }
        key
    }

    /// Stop observing; the last subscriber leaving starts the gc timer.
    pub fn unsubscribe(&mut self, key: &str, now: u64) -> Result<()> {
        let gc = self.config.gc_time_ms;
        let inst = self.instances.get_mut(key).ok_or_else(|| Error::not_found(format!("no instance `{key}`")))?;
        if inst.subscribers > 0 {
            inst.subscribers -= 1;
            if inst.subscribers == 0 {
                inst.gc_at = Some(now.saturating_add(gc));
                self.timers_dirty = true;
            }
        }
        self.mark(key);
        Ok(())
    }

    /// Fetch now unless a request is already running (explicit `refetch`).
    pub fn refetch(&mut self, key: &str) -> Result<()> {
        if !self.instances.contains_key(key) {
            return Err(Error::not_found(format!("no instance `{key}`")));
        }
        self.start_fetch(key);
        Ok(())
    }

    /// Warm the cache without observing (the instance is collected after `gc_time`).
    pub fn prefetch(&mut self, context: &str, params: &Map<String, Value>, now: u64) -> String {
        let (key, query) = instance_key(context, params);
        self.prefetch_keyed(key, query, context, params, now)
    }

    /// `prefetch` with the key from `instance_key(context, params)`.
    pub fn prefetch_keyed(&mut self, key: String, query: String, context: &str, params: &Map<String, Value>, now: u64) -> String {
        let key = self.get_or_create_keyed(key, query, context, params);
        if let Some(inst) = self.instances.get_mut(&key)
            && inst.subscribers == 0 && inst.gc_at.is_none() {
                inst.gc_at = Some(now.saturating_add(self.config.gc_time_ms));
                self.timers_dirty = true;
            }
        if self.needs_fetch(&key, now) {
            self.start_fetch(&key);
        }
        key
    }

    fn take_fetch(&mut self, request_id: u64) -> Option<String> {
        let Some(Request::Fetch(id)) = self.requests.remove(&request_id) else { return None };
        match self.instances.by_id_mut(id) {
            Some(inst) if inst.in_flight == Some(request_id) => {
                inst.in_flight = None;
                Some(inst.key.clone())
            }
            // Superseded (removed, reset, evicted): the answer is for data nobody holds any more.
            _ => None,
        }
    }

    /// After a fetch settled: an invalidation that came while it ran fetches once more.
    fn settle(&mut self, key: &str) {
        let Some(inst) = self.instances.get_mut(key) else { return };
        if inst.refetch_after_settle {
            inst.refetch_after_settle = false;
            inst.invalidated = true;
            if inst.subscribers > 0 {
                self.start_fetch(key);
            }
        }
    }

    pub fn fetch_ok(&mut self, request_id: u64, body: Value, now: u64) {
        let Some(key) = self.take_fetch(request_id) else { return };
        let Value::Object(bundle) = body else {
            let err = RequestError::invalid_response("A context fetch must answer with a JSON object");
            self.fail_fetch(&key, err, now, false);
            return;
        };
        let mut version = self.next_version;
        if let Some(inst) = self.instances.get_mut(&key) {
            inst.set_data(bundle, &mut version);
            inst.status = Status::Success;
            inst.error = None;
            inst.updated_at = Some(now);
            inst.invalidated = false;
            inst.attempts = 0;
        }
        self.next_version = version;
        self.mark(&key);
        self.settle(&key);
    }

    /// The answer to a fetch is not a usable body (not JSON): fail it without a retry, as
    /// `fetch_ok` does for a body that is not an object. Asking again would get the same answer.
    pub fn fetch_invalid(&mut self, request_id: u64, error: RequestError, now: u64) {
        let Some(key) = self.take_fetch(request_id) else { return };
        self.fail_fetch(&key, error, now, false);
    }

    pub fn fetch_err(&mut self, request_id: u64, error: RequestError, now: u64) {
        let Some(key) = self.take_fetch(request_id) else { return };
        let retryable = error.retryable();
        self.fail_fetch(&key, error, now, retryable);
    }

    fn fail_fetch(&mut self, key: &str, error: RequestError, now: u64, retryable: bool) {
        let retries = self.config.retries;
        let attempts = self.instances.get(key).map_or(0, |i| i.attempts);
        if retryable && attempts < retries {
            let delay = self.backoff(attempts + 1);
            if let Some(inst) = self.instances.get_mut(key) {
                inst.attempts += 1;
                inst.retry_at = Some(now.saturating_add(delay));
                self.timers_dirty = true;
                // The retry fetches after any invalidation that came meanwhile.
                inst.refetch_after_settle = false;
            }
        } else if let Some(inst) = self.instances.get_mut(key) {
            inst.status = Status::Error;
            inst.error = Some(error);
            inst.attempts = 0;
        }
        self.mark(key);
        if self.instances.get(key).is_some_and(|i| i.retry_at.is_none()) {
            self.settle(key);
        }
    }

    /// Numbers of the instances of `context` an entry with these params covers. The entry's
    /// values are stringified once here, not once per instance.
    /// Results are in key order, as a scan of the context would give them.
    fn matching(&self, context: &str, params: &Map<String, Value>) -> Vec<u64> {
        let Some(index) = named(&self.by_context, context) else { return Vec::new() };
        let wanted = canon::stringified_params(params);
        // The candidates match the first param already (by the index); only the others are
        // checked.
        let rest = wanted.get(1..).unwrap_or_default();
        let mut found: Vec<(&str, u64)> = index
            .candidates(&wanted)
            .into_iter()
            .filter_map(|id| self.instances.by_id(id))
            .filter(|i| rest.is_empty() || i.matches(rest))
            .map(|i| (i.key.as_str(), i.id))
            .collect();
        // Sorted by the instances' own keys, borrowed (keys are unique: no two elements equal).
        // They share a prefix (the context, often the first param): compared after it.
        let shared = found.first().map_or(0, |(first, _)| {
            found.iter().fold(first.len(), |n, (k, _)| n.min(common_prefix(first.as_bytes(), k.as_bytes())))
        });
        found.sort_unstable_by(|a, b| a.0.as_bytes()[shared..].cmp(&b.0.as_bytes()[shared..]));
        found.into_iter().map(|(_, id)| id).collect()
    }

    /// `matching` for every entry, each instance once (in the order first matched).
    fn matching_all(&self, entries: &[InvalidateEntry]) -> Vec<u64> {
        match entries {
            // One entry (the common case) matches each instance once: nothing to de-duplicate.
            [entry] => self.matching(entry.context(), entry.params()),
            _ => {
                let mut ids = Vec::new();
                let mut seen: HashSet<u64, FxBuildHasher> = HashSet::default();
                for entry in entries {
                    ids.extend(self.matching(entry.context(), entry.params()).into_iter().filter(|id| seen.insert(*id)));
                }
                ids
            }
        }
    }

    /// Mark matching instances stale; observed ones refetch (after a running fetch settles),
    /// unobserved ones when next observed. Repeated invalidations coalesce into one refetch.
    pub fn invalidate(&mut self, entries: &[InvalidateEntry]) {
        let ids = self.matching_all(entries);
        // One lookup per instance, by number: its fetch starts on the instance at hand.
        let (instances, mut fetching) = self.split_for_fetches();
        for id in ids {
            let Some(inst) = instances.by_id_mut(id) else { continue };
            inst.invalidated = true;
            if inst.in_flight.is_some() {
                inst.refetch_after_settle = true;
            } else if inst.subscribers > 0 && inst.retry_at.is_none() {
                fetching.start(inst); // marks it
                continue;
            }
            fetching.mark(inst);
        }
    }

    /// Drop data at once (no stale data shown): instances matching `entries`, or all with `None`.
    /// Observed instances start over (loading) and fetch again; running requests are ignored.
    pub fn remove(&mut self, entries: Option<&[InvalidateEntry]>) {
        let keys: Vec<String> = match entries {
            None => self.sorted_keys(|_| true),
            Some(entries) => self.keys_of(self.matching_all(entries)),
        };
        for key in keys {
            let Some(inst) = self.instances.get(&key) else { continue };
            if inst.subscribers == 0 {
                self.drop_instance(&key);
                continue;
            }
            let fresh = {
                let mut fresh = Instance::new(inst.key.clone(), inst.context.clone(), inst.params.clone(), inst.query.clone());
                fresh.subscribers = inst.subscribers;
                fresh.last_used = inst.last_used;
                // The same instance to the index and to the list of changed keys.
                fresh.id = inst.id;
                fresh.marked_in = inst.marked_in;
                fresh
            };
            if let Some(id) = inst.in_flight {
                self.requests.remove(&id);
            }
            self.instances.replace(fresh);
            self.timers_dirty = true;
            self.mark(&key);
            self.start_fetch(&key);
        }
    }

    /// Identity changed (login, logout, switch): drop every instance's data and forget pending
    /// mutations, so one user never sees another's data; ask for a new session.
    pub fn reset(&mut self) {
        self.remove(None);
        let pending: Vec<u64> = self.mutations.iter().map(|(id, _)| *id).collect();
        self.mutations.clear();
        self.requests.retain(|_, r| !matches!(r, Request::Call(_) | Request::Session));
        self.effects.retain(|e| !matches!(e, Effect::Call { .. } | Effect::Session { .. }));
        for id in pending {
            self.mark_mutation(id);
        }
        self.csrf_token = None;
        self.started = false;
        self.start();
    }

    /// Apply merge entries to every matching instance. Returns the patches applied.
    fn apply_merges(&mut self, merges: &[MergeEntry]) -> Result<Vec<Patch>> {
        let mut patches = Vec::new();
        for m in merges {
            for key in self.keys_of(self.matching(&m.context, &m.params)) {
                let mut version = self.next_version;
                let Some(inst) = self.instances.get_mut(&key) else { continue };
                let Some(data) = inst.data.as_mut() else { continue };
                let previous = data.get(&m.slot).cloned();
                if apply_merge(data, m)? {
                    let v = inst.bump_slot(&m.slot, &mut version);
                    self.next_version = version;
                    if let Some(previous) = previous {
                        patches.push(Patch { key: key.clone(), slot: m.slot.clone(), previous, version: v });
                    }
                    self.mark(&key);
                }
            }
        }
        Ok(patches)
    }

    /// Start a mutation: apply the optimistic patch (merge entries) at once and ask for the call.
    pub fn mutate(&mut self, function: &str, args: Value, optimistic: &[MergeEntry]) -> Result<u64> {
        if !args.is_object() {
            return Err(Error::invalid_json("mutation args must be a JSON object"));
        }
        let patches = self.apply_merges(optimistic)?;
        let mutation_id = self.id();
        let request_id = self.id();
        self.mutations.push((
            mutation_id,
            Mutation { function: function.to_string(), status: MutationStatus::Pending, result: None, error: None, patches },
        ));
        self.requests.insert(request_id, Request::Call(mutation_id));
        self.effects.push(Effect::Call {
            request_id,
            mutation_id,
            function: function.to_string(),
            args,
            csrf_token: self.csrf_token.clone(),
        });
        self.mark_mutation(mutation_id);
        Ok(mutation_id)
    }

    fn take_call(&mut self, request_id: u64) -> Option<u64> {
        match self.requests.remove(&request_id) {
            Some(Request::Call(id)) if self.mutation_ref(id).is_some() => Some(id),
            _ => None,
        }
    }

    /// A call succeeded: merges first, then the body's and the header's invalidations.
    pub fn call_ok(&mut self, request_id: u64, body: &Value, header: Option<&str>) -> Result<()> {
        let Some(id) = self.take_call(request_id) else { return Ok(()) };
        let parsed = Self::parse_call_body(body, header);
        let (result, merges, entries) = match parsed {
            Ok(p) => p,
            Err(e) => {
                let error = RequestError::invalid_response(e.message.clone());
                self.fail_mutation(id, error);
                return Err(e);
            }
        };
        // Optimistic patches are now superseded by the server's answer.
        if let Some(m) = self.mutation_mut(id) {
            m.patches.clear();
        }
        let merged = self.apply_merges(&merges);
        self.invalidate(&entries);
        if let Some(m) = self.mutation_mut(id) {
            m.status = MutationStatus::Success;
            m.result = Some(result);
        }
        self.mark_mutation(id);
        merged.map(|_| ())
    }

    fn parse_call_body(body: &Value, header: Option<&str>) -> Result<(Value, Vec<MergeEntry>, Vec<InvalidateEntry>)> {
        let m = body.as_object().ok_or_else(|| Error::invalid_json("a call response must be a JSON object"))?;
        let result = m.get("result").cloned().unwrap_or(Value::Null);
        let merges = match m.get("merge") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(items)) => items.iter().map(MergeEntry::from_json).collect::<Result<_>>()?,
            Some(_) => return Err(Error::invalid_json("\"merge\" must be a list")),
        };
        let mut entries = match m.get("invalidate") {
            None | Some(Value::Null) => vec![],
            Some(v) => entries_from_json(v)?,
        };
        if let Some(h) = header {
            for e in parse_header(h)? {
                if !entries.iter().any(|x| same_entry(x, &e)) {
                    entries.push(e);
                }
            }
        }
        Ok((result, merges, entries))
    }

    /// A call failed: nothing is invalidated; optimistic patches roll back exactly.
    pub fn call_err(&mut self, request_id: u64, error: RequestError) {
        if let Some(id) = self.take_call(request_id) {
            self.fail_mutation(id, error);
        }
    }

    fn fail_mutation(&mut self, id: u64, error: RequestError) {
        let patches = self.mutation_mut(id).map(|m| std::mem::take(&mut m.patches)).unwrap_or_default();
        for p in patches.into_iter().rev() {
            let mut version = self.next_version;
            let Some(inst) = self.instances.get_mut(&p.key) else { continue };
            if instance::named(&inst.slot_versions, &p.slot) != Some(&p.version) {
                continue; // a fetch or another merge replaced the slot since: keep the newer value
            }
            if let Some(data) = inst.data.as_mut() {
                data.insert(p.slot.clone(), p.previous);
                inst.bump_slot(&p.slot, &mut version);
                self.next_version = version;
                self.mark(&p.key);
            }
        }
        if let Some(m) = self.mutation_mut(id) {
            m.status = MutationStatus::Error;
            m.error = Some(error);
        }
        self.mark_mutation(id);
    }

    fn mutation_ref(&self, id: u64) -> Option<&Mutation> {
        self.mutations.iter().find(|(m, _)| *m == id).map(|(_, m)| m)
    }

    fn mutation_mut(&mut self, id: u64) -> Option<&mut Mutation> {
        self.mutations.iter_mut().find(|(m, _)| *m == id).map(|(_, m)| m)
    }

    /// A settled mutation's outcome (`None` while pending or when unknown).
    pub fn mutation_outcome(&self, id: u64) -> Option<std::result::Result<&Value, &RequestError>> {
        let m = self.mutation_ref(id)?;
        match m.status {
            MutationStatus::Pending => None,
            MutationStatus::Success => Some(Ok(m.result.as_ref().unwrap_or(&Value::Null))),
            MutationStatus::Error => m.error.as_ref().map(Err),
        }
    }

    /// True while the mutation exists and has not settled.
    pub fn mutation_pending(&self, id: u64) -> bool {
        self.mutation_ref(id).is_some_and(|m| m.status == MutationStatus::Pending)
    }

    /// True when some instance waits for a retry.
    pub fn retrying(&self) -> bool {
        self.instances.values().any(|i| i.retry_at.is_some())
    }

    /// Forget a settled mutation's state.
    pub fn release_mutation(&mut self, id: u64) {
        if self.mutation_ref(id).is_some_and(|m| m.status != MutationStatus::Pending) {
            self.mutations.retain(|(m, _)| *m != id);
        }
    }

    /// Timers: due retries fetch again, unobserved instances past their gc time are dropped.
    pub fn tick(&mut self, now: u64) {
        self.scheduled_at = None;
        self.timers_dirty = true;
        let due_retries = self.sorted_keys(|i| i.retry_at.is_some_and(|t| t <= now));
        for key in due_retries {
            if let Some(inst) = self.instances.get_mut(&key) {
                inst.retry_at = None;
            }
            self.start_fetch(&key);
        }
        let expired = self.sorted_keys(|i| i.subscribers == 0 && i.gc_at.is_some_and(|t| t <= now));
        for key in expired {
            self.drop_instance(&key);
        }
    }

    fn refetch_stale_observed(&mut self, now: u64, include_waiting_retries: bool) {
        let stale_time = self.config.stale_time_ms;
        let keys = self.sorted_keys(|i| {
            i.subscribers > 0
                && i.in_flight.is_none()
                && ((include_waiting_retries && i.retry_at.is_some())
                    || (i.retry_at.is_none() && (i.status == Status::Error || i.is_stale(now, stale_time))))
        });
        for key in keys {
            self.start_fetch(&key);
        }
    }

    /// The window regained focus.
    pub fn focus(&mut self, now: u64) {
        if self.config.refetch_on_focus {
            self.refetch_stale_observed(now, false);
        }
    }

    /// The network came back: stale observed instances refetch, waiting retries go at once.
    pub fn online(&mut self, now: u64) {
        if self.config.refetch_on_reconnect {
            self.refetch_stale_observed(now, true);
        }
    }

    /// `{"version": 1, "instances": [{"context", "params", "data"}]}` of every successful
    /// instance, for SSR (`window.__MIZAN_SSR_DATA__`).
    pub fn dehydrate(&self) -> Value {
        let instances: Vec<Value> = self
            .sorted_keys(|i| i.status == Status::Success)
            .iter()
            .filter_map(|k| self.instances.get(k))
            .map(|i| {
                canon::object(vec![
                    ("context", Value::from(i.context.as_str())),
                    ("params", Value::Object(i.params.clone())),
                    ("data", Value::from(i.data.clone())),
                ])
            })
            .collect();
        canon::object(vec![("version", Value::from(1)), ("instances", Value::Array(instances))])
    }

    /// Seed instances from a dehydrated payload. The client's own clock dates them (a server
    /// clock ahead of the client's would otherwise keep them fresh too long); instances that
    /// already have data keep it.
    pub fn hydrate(&mut self, payload: &Value, now: u64) -> Result<()> {
        self.hydrate_owned(payload.clone(), now).map(|_| ())
    }

    /// `hydrate`, consuming the payload (its params and data move into the store). Returns, per
    /// payload instance, the key it seeded, or `None` when that instance kept its own data.
    pub fn hydrate_owned(&mut self, payload: Value, now: u64) -> Result<Vec<Option<String>>> {
        let Value::Object(mut payload) = payload else {
            return Err(Error::invalid_json("a hydration payload needs an \"instances\" list"));
        };
        let Some(Value::Array(items)) = payload.remove("instances") else {
            return Err(Error::invalid_json("a hydration payload needs an \"instances\" list"));
        };
        let mut seeded = Vec::with_capacity(items.len());
        for item in items {
            let Value::Object(mut item) = item else { return Err(Error::invalid_json("hydrated instance needs \"context\"")) };
            let Some(Value::String(context)) = item.remove("context") else {
                return Err(Error::invalid_json("hydrated instance needs \"context\""));
            };
            let params = match item.remove("params") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(p)) => p,
                Some(_) => return Err(Error::invalid_json("hydrated \"params\" must be an object")),
            };
            let Some(Value::Object(data)) = item.remove("data") else {
                return Err(Error::invalid_json("hydrated \"data\" must be an object"));
            };
            let key = self.get_or_create(&context, &params);
            let mut version = self.next_version;
            let Some(inst) = self.instances.get_mut(&key) else {
                seeded.push(None);
                continue;
            };
            if inst.data.is_some() {
                seeded.push(None);
                continue;
            }
            inst.set_data(data, &mut version);
            inst.status = Status::Success;
            inst.updated_at = Some(now);
            if inst.subscribers == 0 && inst.gc_at.is_none() {
                inst.gc_at = Some(now.saturating_add(self.config.gc_time_ms));
                self.timers_dirty = true;
            }
            self.next_version = version;
            self.mark(&key);
            seeded.push(Some(key));
        }
        Ok(seeded)
    }

    pub fn instance(&self, key: &str) -> Option<&Instance> {
        self.instances.get(key)
    }

    /// The instance numbered `id` (`Drained::changed_ids`), while it exists.
    pub fn instance_by_id(&self, id: u64) -> Option<&Instance> {
        self.instances.by_id(id)
    }

    /// The instance the running fetch `request_id` is for (none once it settled or the
    /// instance went): what a lean `fetch` effect names.
    pub fn fetch_of(&self, request_id: u64) -> Option<&Instance> {
        match self.requests.get(&request_id)? {
            Request::Fetch(id) => self.instances.by_id(*id).filter(|i| i.in_flight == Some(request_id)),
            _ => None,
        }
    }

    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    pub fn snapshot(&self, key: &str, now: u64) -> Option<Value> {
        self.instances.get(key).map(|i| i.snapshot(now, self.config.stale_time_ms))
    }

    pub fn mutation_snapshot(&self, id: u64) -> Option<Value> {
        self.mutation_ref(id).map(|m| {
            let status = match m.status {
                MutationStatus::Pending => "pending",
                MutationStatus::Success => "success",
                MutationStatus::Error => "error",
            };
            canon::object(vec![
                ("id", Value::from(id)),
                ("fn", Value::from(m.function.as_str())),
                ("status", Value::from(status)),
                ("result", Value::from(m.result.clone())),
                ("error", Value::from(m.error.as_ref().map(RequestError::to_json))),
            ])
        })
    }

    /// When the store next needs a `tick`: the earliest retry, or gc of an unobserved instance.
    /// Rescans the instances only when some timer changed since the last call.
    pub fn next_timer(&mut self) -> Option<u64> {
        if self.timers_dirty {
            self.timers_dirty = false;
            self.next_at = self
                .instances
                .values()
                .flat_map(|i| [i.retry_at, if i.subscribers == 0 { i.gc_at } else { None }])
                .flatten()
                .min();
        }
        self.next_at
    }

    /// Hand over the effects and changes since the last drain, plus a `schedule` effect when the
    /// next timer moved.
    pub fn drain(&mut self, now: u64) -> Drained {
        if self.timers_dirty {
            let next = self.next_timer();
            if next.is_some() && next != self.scheduled_at
                && let Some(at) = next {
                    self.effects.push(Effect::Schedule { at_ms: at, delay_ms: at.saturating_sub(now).min(MAX_TIMER_DELAY_MS) });
                }
            self.scheduled_at = next;
        }
        // Every key listed so far is unlisted at once: a new epoch.
        self.epoch += 1;
        self.changed_gone.clear();
        Drained {
            effects: std::mem::take(&mut self.effects),
            changed: std::mem::take(&mut self.changed),
            changed_ids: std::mem::take(&mut self.changed_ids),
            mutations: std::mem::take(&mut self.changed_mutations),
        }
    }
}

/// What starting a fetch writes besides its instance (`Store::split_for_fetches`).
struct Fetching<'a> {
    next_id: &'a mut u64,
    requests: &'a mut HashMap<u64, Request, FxBuildHasher>,
    effects: &'a mut Vec<Effect>,
    changed: &'a mut Vec<String>,
    changed_ids: &'a mut Vec<u64>,
    timers_dirty: &'a mut bool,
    epoch: u64,
    lean_effects: bool,
}

impl Fetching<'_> {
    /// Start fetching `inst` (none running): its request id, the request filed, the `fetch`
    /// effect, the instance marked changed.
    fn start(&mut self, inst: &mut Instance) {
        *self.next_id += 1;
        let request_id = *self.next_id;
        inst.in_flight = Some(request_id);
        if inst.retry_at.take().is_some() {
            *self.timers_dirty = true;
        }
        inst.refetch_after_settle = false;
        if inst.data.is_none() {
            inst.status = Status::Loading;
        }
        let effect = if self.lean_effects {
            // The request id alone: the session finds the instance by it (`Store::fetch_of`).
            Effect::Fetch { request_id, key: String::new(), context: String::new(), params: Map::new(), query: String::new() }
        } else {
            Effect::Fetch {
                request_id,
                key: inst.key.clone(),
                context: inst.context.clone(),
                params: inst.params.clone(),
                query: inst.query.clone(),
            }
        };
        self.requests.insert(request_id, Request::Fetch(inst.id));
        self.effects.push(effect);
        self.mark(inst);
    }

    /// `Store::mark` of an instance at hand.
    fn mark(&mut self, inst: &mut Instance) {
        if inst.marked_in != self.epoch {
            inst.marked_in = self.epoch;
            self.changed.push(inst.key.clone());
            self.changed_ids.push(inst.id);
        }
    }
}

/// The length of the longest common prefix of `a` and `b`, in bytes.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Two entries that invalidate the same instances (a header repeats the body with string values).
fn same_entry(a: &InvalidateEntry, b: &InvalidateEntry) -> bool {
    a.context() == b.context()
        && a.function() == b.function()
        && a.params().len() == b.params().len()
        && a.params().iter().all(|(k, v)| b.params().get(k).is_some_and(|w| stringify(v) == stringify(w)))
}

#[cfg(test)]
mod tests;
