//! One cached context instance: `(context, canonical params)` and everything known about it.

use super::errors::RequestError;
use serde_json::{Map, Value};

/// A few named values kept sorted by name: an instance's stringified params, its slot versions.
/// A sorted list, not a map: a handful of entries, and each distinct map type costs the browser
/// component kilobytes of code.
pub type Named<V> = Vec<(String, V)>;

/// The value named `name` in a sorted list.
pub fn named<'a, V>(list: &'a Named<V>, name: &str) -> Option<&'a V> {
    list.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok().map(|i| &list[i].1)
}

fn set_named<V>(list: &mut Named<V>, name: &str, value: V) {
    match list.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
        Ok(i) => list[i].1 = value,
        Err(i) => list.insert(i, (name.to_string(), value)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Idle,
    Loading,
    Success,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Loading => "loading",
            Status::Success => "success",
            Status::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub key: String,
    pub context: String,
    /// Params as first given (values as sent; two spellings of one value share the instance).
    pub params: Map<String, Value>,
    /// The params stringified once, at creation: invalidation matching compares these strings
    /// instead of stringifying every instance's values on every invalidation.
    pub canonical: Named<String>,
    /// The params as JSON text, serialized once (what requests and views carry).
    pub params_json: String,
    pub query: String,
    pub status: Status,
    /// The request in flight, if any (one per instance: de-duplication).
    pub in_flight: Option<u64>,
    pub data: Option<Map<String, Value>>,
    /// Per-slot versions: a slot whose version did not change kept its value (structural sharing).
    pub slot_versions: Named<u64>,
    pub error: Option<RequestError>,
    pub updated_at: Option<u64>,
    /// Explicitly invalidated since the last successful fetch.
    pub invalidated: bool,
    /// Invalidated while a fetch was running: refetch once it settles.
    pub refetch_after_settle: bool,
    pub subscribers: u32,
    /// Failed attempts of the current fetch, and when the next one is due.
    pub attempts: u32,
    pub retry_at: Option<u64>,
    /// When an unobserved instance is dropped.
    pub gc_at: Option<u64>,
    /// Logical clock of the last use, for the LRU bound.
    pub last_used: u64,
    /// The store's drain epoch in which the key went into its list of changed keys (0: never):
    /// equal to the current epoch means listed already. A drain moves to the next epoch instead
    /// of looking every listed key up again to clear a flag.
    pub(crate) marked_in: u64,
    /// The store's number for this instance, never given twice (its context index, its requests
    /// and the session's views hold numbers, not keys): `store::table`.
    pub(crate) id: u64,
}

impl Instance {
    pub fn new(key: String, context: String, params: Map<String, Value>, query: String) -> Self {
        // Params come as a map sorted by name: the list is sorted too.
        let canonical = params.iter().map(|(k, v)| (k.clone(), crate::canon::stringify(v))).collect();
        let params_json = crate::canon::map_json_text(&params);
        Instance {
            key,
            context,
            params,
            canonical,
            params_json,
            query,
            status: Status::Idle,
            in_flight: None,
            data: None,
            slot_versions: Vec::new(),
            error: None,
            updated_at: None,
            invalidated: false,
            refetch_after_settle: false,
            subscribers: 0,
            attempts: 0,
            retry_at: None,
            gc_at: None,
            last_used: 0,
            marked_in: 0,
            id: 0,
        }
    }

    /// The matching rule of KERNEL.md §7 against an entry's stringified params: every param of
    /// the entry equals the instance's param of that name, or the instance lacks it.
    pub fn matches(&self, entry_params: &[(String, String)]) -> bool {
        entry_params.iter().all(|(k, v)| named(&self.canonical, k).is_none_or(|mine| mine == v))
    }

    pub fn is_stale(&self, now: u64, stale_time: u64) -> bool {
        match self.updated_at {
            None => true,
            Some(at) => self.invalidated || now.saturating_sub(at) >= stale_time,
        }
    }

    /// Replace the bundle, bumping the version of each slot whose value changed.
    pub fn set_data(&mut self, bundle: Map<String, Value>, next_version: &mut u64) {
        let old = self.data.take().unwrap_or_default();
        // The bundle is sorted by slot name, so the versions are too.
        let mut versions = Vec::with_capacity(bundle.len());
        for (slot, value) in &bundle {
            let version = match (old.get(slot), named(&self.slot_versions, slot)) {
                (Some(previous), Some(v)) if previous == value => *v,
                _ => {
                    *next_version += 1;
                    *next_version
                }
            };
            versions.push((slot.clone(), version));
        }
        self.slot_versions = versions;
        self.data = Some(bundle);
    }

    /// Set one slot's value (merge, optimistic patch, rollback) with a new version.
    pub fn bump_slot(&mut self, slot: &str, next_version: &mut u64) -> u64 {
        *next_version += 1;
        set_named(&mut self.slot_versions, slot, *next_version);
        *next_version
    }

    pub fn snapshot(&self, now: u64, stale_time: u64) -> Value {
        // Inserted one by one, not collected: `collect` into a BTreeMap sorts first, with a stable
        // sort of its own in the browser component (a few KB of code for a handful of slots).
        let mut slot_versions = Map::new();
        for (k, v) in &self.slot_versions {
            slot_versions.insert(k.clone(), Value::from(*v));
        }
        crate::canon::object(vec![
            ("key", Value::from(self.key.as_str())),
            ("context", Value::from(self.context.as_str())),
            ("params", Value::Object(self.params.clone())),
            ("status", Value::from(self.status.as_str())),
            ("is_fetching", Value::from(self.in_flight.is_some())),
            ("is_stale", Value::from(self.is_stale(now, stale_time))),
            ("data", Value::from(self.data.clone())),
            ("error", Value::from(self.error.as_ref().map(RequestError::to_json))),
            ("updated_at", Value::from(self.updated_at)),
            ("slot_versions", Value::Object(slot_versions)),
            ("subscribers", Value::from(self.subscribers)),
        ])
    }
}
