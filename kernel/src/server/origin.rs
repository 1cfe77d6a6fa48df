//! The in-memory origin cache (KERNEL.md §2.1): entries, their reverse index and purge plans, in
//! one kernel type so the Rust and Python embedded stores are the same code. The host keeps one
//! `OriginStore` behind one lock and passes `now_ms` to every call that needs a clock.
//!
//! Invariants: an index set holds only keys of live entries, and no set is ever empty (an emptied
//! set is dropped — the seed leaked them); the byte and entry bounds hold after every call.
//!
//! **Reads and purges race** (docs/SERVER.md "A fetch that read before a purge"): a fetch that
//! looked up its key, then ran its functions while a mutation wrote and purged, would store the
//! older answer after the purge. So every [`lookup`](OriginStore::lookup) hands out a *ticket*
//! (the store's purge counter), every purge *marks* its scopes' base sets with the counter it
//! raised, and [`put_entry`](OriginStore::put_entry) refuses an entry belonging to a set marked
//! after its ticket. The Redis scripts do the same with `{prefix}purges` and `{prefix}mark:{set}`.
//! Marks are kept for the [`MAX_MARKS`] most recently purged sets; a ticket older than a forgotten
//! mark is refused (a lost put, never a stale entry).

use crate::index::PurgePlan;
use crate::server::engine::CachePut;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
/// How many set members a purge step looks at when the host says 0 (the Redis script's default too).
pub const DEFAULT_PURGE_STEP: usize = 256;
/// How many purged sets keep their mark (the fence against puts that read before the purge).
pub const MAX_MARKS: usize = 4096;

/// What a lookup found, and the ticket a later [`OriginStore::put_entry`] presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub body: Option<String>,
    pub ticket: u64,
}

/// One bounded step of a purge: the entries it deleted, and where the next step goes on (`None`:
/// the purge is complete).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgeStep {
    pub purged: Vec<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    body: String,
    index_keys: Vec<String>,
    expires_at_ms: u64,
    /// Recency stamp, for least-recently-used eviction.
    used: u64,
    bytes: usize,
}

/// What a store holds, for hosts' metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OriginStats {
    pub entries: usize,
    pub index_sets: usize,
    pub bytes: usize,
    pub evictions: u64,
}

#[derive(Debug, Clone)]
pub struct OriginStore {
    entries: BTreeMap<String, Entry>,
    sets: BTreeMap<String, BTreeSet<String>>,
    by_use: BTreeMap<u64, String>,
    by_expiry: BTreeSet<(u64, String)>,
    clock: u64,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    evictions: u64,
    /// The purge counter: tickets are its value at lookup time.
    purges: u64,
    /// Purged base set → the counter of its latest purge; and the same by age, to forget the oldest.
    marks: BTreeMap<String, u64>,
    marks_by_age: BTreeSet<(u64, String)>,
    /// Tickets below this are refused: a mark they would be checked against was forgotten.
    horizon: u64,
}

impl Default for OriginStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)
    }
}

impl OriginStore {
    /// A store bounded to `max_entries` entries and `max_bytes` bytes (keys, bodies and index
    /// keys counted). A bound of 0 means the default.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        OriginStore {
            entries: BTreeMap::new(),
            sets: BTreeMap::new(),
            by_use: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            clock: 0,
            bytes: 0,
            max_entries: if max_entries == 0 { DEFAULT_MAX_ENTRIES } else { max_entries },
            max_bytes: if max_bytes == 0 { DEFAULT_MAX_BYTES } else { max_bytes },
            evictions: 0,
            purges: 0,
            marks: BTreeMap::new(),
            marks_by_age: BTreeSet::new(),
            horizon: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The body stored under `key`, unless it expired (an expired entry is removed).
    pub fn get(&mut self, key: &str, now_ms: u64) -> Option<String> {
        let expires = self.entries.get(key)?.expires_at_ms;
        if now_ms >= expires {
            self.remove(key);
            return None;
        }
        let stamp = self.tick();
        let entry = self.entries.get_mut(key)?;
        self.by_use.remove(&entry.used);
        entry.used = stamp;
        self.by_use.insert(stamp, key.to_string());
        Some(entry.body.clone())
    }

    /// Store `body` under `key` for `ttl_seconds` and add it to its index sets, replacing any
    /// entry under that key. A TTL of 0, or an entry larger than the byte bound, stores nothing.
    /// Returns whether it stored.
    pub fn put(&mut self, key: &str, body: &str, index_keys: &[String], ttl_seconds: u64, now_ms: u64) -> bool {
        self.remove(key);
        let bytes = key.len() + body.len() + index_keys.iter().map(String::len).sum::<usize>();
        if ttl_seconds == 0 || bytes > self.max_bytes {
            return false;
        }
        self.sweep(now_ms);
        while !self.entries.is_empty() && (self.entries.len() + 1 > self.max_entries || self.bytes + bytes > self.max_bytes) {
            let Some((_, oldest)) = self.by_use.pop_first() else { break };
            self.remove(&oldest);
            self.evictions += 1;
        }
        let mut index_keys = index_keys.to_vec();
        index_keys.sort();
        index_keys.dedup();
        for idx in &index_keys {
            self.sets.entry(idx.clone()).or_default().insert(key.to_string());
        }
        let expires_at_ms = now_ms.saturating_add(ttl_seconds.saturating_mul(1000));
        let used = self.tick();
        self.by_use.insert(used, key.to_string());
        self.by_expiry.insert((expires_at_ms, key.to_string()));
        self.bytes += bytes;
        self.entries.insert(key.to_string(), Entry { body: body.to_string(), index_keys, expires_at_ms, used, bytes });
        true
    }

    /// Delete one entry and take it out of every index set it is in; drop emptied sets.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(entry) = self.entries.remove(key) else { return false };
        for idx in &entry.index_keys {
            if let Some(set) = self.sets.get_mut(idx) {
                set.remove(key);
                if set.is_empty() {
                    self.sets.remove(idx);
                }
            }
        }
        self.by_use.remove(&entry.used);
        self.by_expiry.remove(&(entry.expires_at_ms, key.to_string()));
        self.bytes -= entry.bytes;
        true
    }

    /// [`get`](Self::get), with the ticket a put after this read must present.
    pub fn lookup(&mut self, key: &str, now_ms: u64) -> Lookup {
        let ticket = self.purges;
        Lookup { body: self.get(key, now_ms), ticket }
    }

    /// Store the engine's put, unless
    /// - `ticket` (from the [`lookup`](Self::lookup) that missed) is older than a purge of one of
    ///   the entry's sets: the answer may predate that purge's mutation;
    /// - its `bound` set already holds `max_entries` live entries (a public-entry flood) and the
    ///   key is not one of them.
    ///
    /// `ticket: None` stores unconditionally (a warm-up that read nothing). Returns whether it stored.
    pub fn put_entry(&mut self, put: &CachePut, ticket: Option<u64>, now_ms: u64) -> bool {
        if ticket.is_some_and(|t| self.fenced(&put.index_keys, t)) {
            return false;
        }
        if let Some(bound) = &put.bound {
            self.sweep(now_ms);
            let full = self.sets.get(&bound.set).is_some_and(|s| s.len() >= bound.max_entries as usize && !s.contains(&put.key));
            if full {
                return false;
            }
        }
        self.put(&put.key, &put.body, &put.index_keys, put.ttl_seconds, now_ms)
    }

    fn fenced(&self, index_keys: &[String], ticket: u64) -> bool {
        ticket < self.horizon || index_keys.iter().any(|k| self.marks.get(k).is_some_and(|&m| m > ticket))
    }

    /// A purge starts: raise the counter and mark every scope's base set with it.
    fn mark(&mut self, plan: &PurgePlan) {
        self.purges += 1;
        for scope in &plan.scopes {
            if let Some(old) = self.marks.insert(scope.base.clone(), self.purges) {
                self.marks_by_age.remove(&(old, scope.base.clone()));
            }
            self.marks_by_age.insert((self.purges, scope.base.clone()));
        }
        while self.marks.len() > MAX_MARKS {
            let Some((age, set)) = self.marks_by_age.pop_first() else { break };
            self.marks.remove(&set);
            self.horizon = self.horizon.max(age);
        }
    }

    /// Run a purge plan: every entry it matches (every user, every rev) is deleted and removed
    /// from all its index sets. Returns the deleted keys, sorted.
    pub fn purge(&mut self, plan: &PurgePlan) -> Vec<String> {
        let mut step = self.purge_step(plan, None, usize::MAX);
        let mut purged = std::mem::take(&mut step.purged);
        while let Some(cursor) = step.cursor {
            step = self.purge_step(plan, Some(&cursor), usize::MAX);
            purged.append(&mut step.purged);
        }
        purged.sort();
        purged.dedup();
        purged
    }

    /// One bounded step of a purge: look at no more than `limit` (0: [`DEFAULT_PURGE_STEP`]) members of the plan's sets,
    /// delete those that match, and say where to go on. The first step (`cursor: None`) marks the
    /// plan's sets (see the module docs); a host that runs a large purge in steps releases its
    /// lock between them. The Redis purge script takes the same steps.
    pub fn purge_step(&mut self, plan: &PurgePlan, cursor: Option<&str>, limit: usize) -> PurgeStep {
        let (mut scope_at, mut after) = match cursor.and_then(parse_cursor) {
            Some((i, key)) => (i, (!key.is_empty()).then(|| key.to_string())),
            None => {
                if cursor.is_none() {
                    self.mark(plan);
                }
                (0, None)
            }
        };
        let mut budget = if limit == 0 { DEFAULT_PURGE_STEP } else { limit };
        let mut purged = Vec::new();
        while let Some(scope) = plan.scopes.get(scope_at) {
            if budget == 0 {
                break;
            }
            let start = after.as_ref().map_or(Bound::Unbounded, |k| Bound::Excluded(k.clone()));
            let batch: Vec<String> = self
                .sets
                .get(&scope.base)
                .map(|set| set.range::<String, _>((start, Bound::Unbounded)).take(budget).cloned().collect())
                .unwrap_or_default();
            budget -= batch.len();
            after = batch.last().cloned();
            if budget > 0 {
                (scope_at, after) = (scope_at + 1, None);
            }
            for entry in batch {
                if scope.passes(|set| self.sets.get(set).is_some_and(|s| s.contains(&entry))) {
                    self.remove(&entry);
                    purged.push(entry);
                }
            }
        }
        let cursor = plan.scopes.get(scope_at).map(|_| format!("{scope_at}:{}", after.unwrap_or_default()));
        PurgeStep { purged, cursor }
    }

    /// Remove every expired entry; returns how many.
    pub fn sweep(&mut self, now_ms: u64) -> usize {
        let mut removed = 0;
        while let Some((expires, key)) = self.by_expiry.first().cloned() {
            if expires > now_ms {
                break;
            }
            self.remove(&key);
            removed += 1;
        }
        removed
    }

    /// Drop every entry. The purge marks and the counter stay: a put whose ticket predates a
    /// purge is still refused.
    pub fn clear(&mut self) {
        let fresh = Self::new(self.max_entries, self.max_bytes);
        self.entries = fresh.entries;
        self.sets = fresh.sets;
        self.by_use = fresh.by_use;
        self.by_expiry = fresh.by_expiry;
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// The members of one index set (empty when the set does not exist).
    pub fn index_members(&self, index_key: &str) -> Vec<String> {
        self.sets.get(index_key).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn stats(&self) -> OriginStats {
        OriginStats { entries: self.entries.len(), index_sets: self.sets.len(), bytes: self.bytes, evictions: self.evictions }
    }
}

/// `"{scope}:{last key}"` → (scope index, last key seen; empty at a scope's start).
fn parse_cursor(cursor: &str) -> Option<(usize, &str)> {
    let (scope, key) = cursor.split_once(':')?;
    Some((scope.parse().ok()?, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ttl_lru_and_bounds() {
        let mut s = OriginStore::new(2, 1000);
        assert!(s.put("a", "1", &keys(&["i"]), 1, 0));
        assert!(s.put("b", "2", &keys(&["i"]), 10, 0));
        assert_eq!(s.get("a", 500).as_deref(), Some("1"));
        assert!(s.put("c", "3", &keys(&["j"]), 10, 600)); // evicts b (a was used more recently)
        assert!(!s.contains("b"));
        assert_eq!(s.get("a", 1000), None); // expired
        assert_eq!(s.index_members("i"), Vec::<String>::new());
        assert_eq!(s.stats().index_sets, 1);
        assert!(!s.put("big", &"x".repeat(2000), &[], 10, 0));
        assert!(!s.put("zero", "x", &[], 0, 0));
        assert_eq!(s.stats().evictions, 1);
    }
}
