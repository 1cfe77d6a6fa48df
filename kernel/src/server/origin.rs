//! The in-memory origin cache (KERNEL.md §2.1): entries, their reverse index and purge plans, in
//! one kernel type so the Rust and Python embedded stores are the same code. The host keeps one
//! `OriginStore` behind one lock and passes `now_ms` to every call that needs a clock.
//!
//! Invariants: an index set holds only keys of live entries, and no set is ever empty (an emptied
//! set is dropped — the seed leaked them); the byte and entry bounds hold after every call.

use crate::index::PurgePlan;
use std::collections::{BTreeMap, BTreeSet};

pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

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

    /// Run a purge plan: every entry it matches (every user, every rev) is deleted and removed
    /// from all its index sets. Returns the deleted keys, sorted.
    pub fn purge(&mut self, plan: &PurgePlan) -> Vec<String> {
        let doomed = plan.evaluate(|k| self.sets.get(k));
        for key in &doomed {
            self.remove(key);
        }
        doomed
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

    pub fn clear(&mut self) {
        let evictions = self.evictions;
        *self = Self::new(self.max_entries, self.max_bytes);
        self.evictions = evictions;
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
