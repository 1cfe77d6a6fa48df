//! The reverse index and purge plans (KERNEL.md §2.1). The seed's scoped purge recomputed one
//! key with `rev=0` and the mutating user's id and so missed entries under another rev, another
//! user or a superset of params. Here every put names the index sets the entry belongs to, and a
//! purge is a plan over those sets that finds every matching entry, every user, every rev.
//!
//! Index keys are HMACs too, so no raw parameter value or user id is ever a key in the store:
//!
//! | set                      | key                          | members                        |
//! |--------------------------|------------------------------|--------------------------------|
//! | the context              | `idx:{context}:{hex}`        | every entry of the context     |
//! | a param name             | `idx:{context}:n:{hex}`      | entries that have the param    |
//! | a (param, value) pair    | `idx:{context}:v:{hex}`      | entries with that value        |
//! | a user                   | `idx:{context}:u:{hex}`      | entries of that user           |
//! | the public entries       | `idx:{context}:a:{hex}`      | entries with no user (bounded) |
//!
//! The public set is the engine's (docs/SERVER.md "Bounded public entries"): it is added to an
//! anonymous or shared entry's index keys when the engine bounds them, so a store can count them.

use crate::canon::{self, write_json_string};
use crate::error::{Error, Result};
use crate::invalidation::InvalidateEntry;
use crate::keys::{KeyInput, Keyer, Privilege};

/// An entry key and the index sets it belongs to (context first, then names, values, user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEntry {
    pub key: String,
    pub index_keys: Vec<String>,
}

/// One condition of a scope: an entry passes when it is in `param_equals` or not in `has_param`
/// (it has the param with the invalidated value, or it does not have the param at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeTerm {
    pub has_param: String,
    pub param_equals: String,
}

/// The members of `base` that pass every term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeScope {
    pub base: String,
    pub terms: Vec<PurgeTerm>,
}

/// What to delete: the union of its scopes. The host evaluates it against its sets (atomically),
/// deletes the entries, removes them from every index set they belong to and drops emptied sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgePlan {
    pub scopes: Vec<PurgeScope>,
}

impl Keyer {
    fn index_key(&self, context: &str, tag: &str, message: &str) -> String {
        let hex = self.hmac_hex(message);
        if tag.is_empty() {
            format!("idx:{context}:{hex}")
        } else {
            format!("idx:{context}:{tag}:{hex}")
        }
    }

    fn index_message(context: &str, kind: &str, extra: &[(&str, &str)]) -> String {
        let mut out = String::from("{\"c\":");
        write_json_string(&mut out, context);
        out.push_str(",\"i\":");
        write_json_string(&mut out, kind);
        for (k, v) in extra {
            out.push(',');
            write_json_string(&mut out, k);
            out.push(':');
            write_json_string(&mut out, v);
        }
        out.push('}');
        out
    }

    pub fn context_index(&self, context: &str) -> String {
        self.index_key(context, "", &Self::index_message(context, "context", &[]))
    }

    pub fn param_name_index(&self, context: &str, param: &str) -> String {
        self.index_key(context, "n", &Self::index_message(context, "name", &[("p", param)]))
    }

    pub fn param_value_index(&self, context: &str, param: &str, value: &str) -> String {
        self.index_key(context, "v", &Self::index_message(context, "value", &[("p", param), ("v", value)]))
    }

    pub fn user_index(&self, context: &str, user: &str) -> String {
        self.index_key(context, "u", &Self::index_message(context, "user", &[("u", user)]))
    }

    /// The set of a context's entries that belong to no user (anonymous and shared ones).
    pub fn public_index(&self, context: &str) -> String {
        self.index_key(context, "a", &Self::index_message(context, "public", &[]))
    }

    /// The key to put an entry under and the index sets to add it to.
    pub fn index_entry(&self, input: &KeyInput) -> IndexedEntry {
        self.index_entry_for(input, &Privilege::default())
    }

    /// [`index_entry`](Self::index_entry) for a caller with `privilege`: the key carries the
    /// privilege, the index sets do not (a purge of the user or of a param value finds the
    /// entries of every privilege).
    pub fn index_entry_for(&self, input: &KeyInput, privilege: &Privilege) -> IndexedEntry {
        let mut index_keys = vec![self.context_index(&input.context)];
        let params = canon::stringified_params(&input.params);
        for (name, _) in &params {
            index_keys.push(self.param_name_index(&input.context, name));
        }
        for (name, value) in &params {
            index_keys.push(self.param_value_index(&input.context, name, value));
        }
        if let Some(user) = &input.user {
            index_keys.push(self.user_index(&input.context, user));
        }
        IndexedEntry { key: self.derive_for(input, privilege), index_keys }
    }

    /// The plan purging what an invalidation entry covers: a broad entry the whole context; a
    /// scoped one the entries that, for every param, have the same value or lack the param.
    /// A function-level entry purges its context's entries (a context is cached as one bundle).
    pub fn purge_plan(&self, entries: &[InvalidateEntry]) -> PurgePlan {
        let mut scopes: Vec<PurgeScope> = Vec::new();
        for entry in entries {
            let context = entry.context();
            let terms = canon::stringified_params(entry.params())
                .iter()
                .map(|(name, value)| PurgeTerm {
                    has_param: self.param_name_index(context, name),
                    param_equals: self.param_value_index(context, name, value),
                })
                .collect();
            let scope = PurgeScope { base: self.context_index(context), terms };
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        PurgePlan { scopes }
    }

    /// The plan purging every entry of one user in the given contexts (GDPR erasure).
    pub fn purge_user_plan(&self, contexts: &[String], user: &str) -> Result<PurgePlan> {
        if user.is_empty() {
            return Err(Error::invalid_argument("purge_user needs a non-empty user"));
        }
        let mut contexts = contexts.to_vec();
        canon::sort_utf16(&mut contexts);
        contexts.dedup();
        Ok(PurgePlan {
            scopes: contexts
                .iter()
                .map(|c| PurgeScope { base: self.user_index(c, user), terms: vec![] })
                .collect(),
        })
    }
}

impl PurgeScope {
    /// Whether a member of `base` passes every term: `in_set(index_key)` says whether the entry
    /// is in that set.
    pub fn passes(&self, in_set: impl Fn(&str) -> bool) -> bool {
        self.terms.iter().all(|t| in_set(&t.param_equals) || !in_set(&t.has_param))
    }
}

/// A union of pending purge plans larger than this many scopes is replaced by a broad purge of
/// every context (a superset, so still correct, and bounded by the registry's size).
pub const MAX_PENDING_SCOPES: usize = 1024;

impl PurgePlan {
    /// Evaluate the plan against a set lookup (`members(index_key)` → entry keys). This is the
    /// reference semantics; the kernel's in-memory store runs it and the Redis Lua script mirrors it.
    pub fn evaluate<'a, F>(&self, members: F) -> Vec<String>
    where
        F: Fn(&str) -> Option<&'a std::collections::BTreeSet<String>>,
    {
        let mut out: std::collections::BTreeSet<String> = Default::default();
        for scope in &self.scopes {
            let Some(base) = members(&scope.base) else { continue };
            for entry in base {
                if scope.passes(|set| members(set).is_some_and(|s| s.contains(entry))) {
                    out.insert(entry.clone());
                }
            }
        }
        out.into_iter().collect()
    }

    /// Whether the plan purges an entry with these index keys (the entry need not be stored yet:
    /// a host checks a fetch it is about to serve or store against a purge that has not run).
    pub fn covers(&self, index_keys: &[String]) -> bool {
        let has = |k: &str| index_keys.iter().any(|i| i == k);
        self.scopes.iter().any(|s| has(&s.base) && s.passes(has))
    }

    /// Add `other`'s scopes (each once). What a host keeps of purges that failed, to run later.
    pub fn merge(&mut self, other: &PurgePlan) {
        for scope in &other.scopes {
            if !self.scopes.contains(scope) {
                self.scopes.push(scope.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::collections::{BTreeMap, BTreeSet};

    const SECRET: &str = "index-test-secret-32-bytes-long!";

    /// A minimal store of sets, to run plans against what index_entry produced.
    #[derive(Default)]
    struct Sets(BTreeMap<String, BTreeSet<String>>);

    impl Sets {
        fn put(&mut self, keyer: &Keyer, context: &str, params: Value, user: Option<&str>, rev: u64) -> String {
            let input = KeyInput {
                context: context.into(),
                params: params.as_object().cloned().unwrap(),
                user: user.map(str::to_string),
                rev,
            };
            let e = keyer.index_entry(&input);
            for idx in &e.index_keys {
                self.0.entry(idx.clone()).or_default().insert(e.key.clone());
            }
            e.key
        }
        fn purge(&self, plan: &PurgePlan) -> Vec<String> {
            plan.evaluate(|k| self.0.get(k))
        }
    }

    fn scoped(context: &str, params: Value) -> InvalidateEntry {
        InvalidateEntry::scoped(context, params.as_object().cloned().unwrap())
    }

    #[test]
    fn no_raw_values_in_index_keys() {
        let k = Keyer::new(SECRET).unwrap();
        let e = k.index_entry(&KeyInput {
            context: "user".into(),
            params: json!({"email": "alice@example.com"}).as_object().cloned().unwrap(),
            user: Some("alice-id-77".into()),
            rev: 0,
        });
        assert_eq!(e.index_keys.len(), 4);
        for key in &e.index_keys {
            assert!(!key.contains("alice"), "{key}");
            assert!(!key.contains("email"), "{key}");
            assert!(key.starts_with("idx:user:"));
        }
    }

    #[test]
    fn scoped_purge_finds_every_user_rev_and_superset() {
        // Seed defect: purge recomputed one key with rev=0 and the mutating user's id.
        let k = Keyer::new(SECRET).unwrap();
        let mut sets = Sets::default();
        let a = sets.put(&k, "user", json!({"user_id": "5"}), None, 0);
        let b = sets.put(&k, "user", json!({"user_id": 5}), Some("9"), 3);
        let c = sets.put(&k, "user", json!({"user_id": "5", "page": "2"}), Some("1"), 0);
        let d = sets.put(&k, "user", json!({}), Some("2"), 0); // no user_id: may contain user 5
        let other = sets.put(&k, "user", json!({"user_id": "6"}), None, 0);
        let elsewhere = sets.put(&k, "orders", json!({"user_id": "5"}), None, 0);
        let plan = k.purge_plan(&[scoped("user", json!({"user_id": 5}))]);
        let mut expect = vec![a, b, c, d];
        expect.sort();
        assert_eq!(sets.purge(&plan), expect);
        assert!(!sets.purge(&plan).contains(&other));
        assert!(!sets.purge(&plan).contains(&elsewhere));
    }

    #[test]
    fn broad_purge_and_user_purge() {
        let k = Keyer::new(SECRET).unwrap();
        let mut sets = Sets::default();
        let a = sets.put(&k, "feed", json!({"page": "1"}), Some("7"), 0);
        let b = sets.put(&k, "feed", json!({"page": "2"}), None, 0);
        let c = sets.put(&k, "user", json!({}), Some("7"), 0);
        let plan = k.purge_plan(&[InvalidateEntry::Broad("feed".into())]);
        let mut expect = vec![a.clone(), b];
        expect.sort();
        assert_eq!(sets.purge(&plan), expect);
        let plan = k.purge_user_plan(&["user".into(), "feed".into()], "7").unwrap();
        let mut expect = vec![a, c];
        expect.sort();
        assert_eq!(sets.purge(&plan), expect);
        assert!(k.purge_user_plan(&[], "").is_err());
    }

    #[test]
    fn multi_param_purge_is_an_intersection() {
        let k = Keyer::new(SECRET).unwrap();
        let mut sets = Sets::default();
        let hit = sets.put(&k, "t", json!({"a": "1", "b": "2"}), None, 0);
        let partial = sets.put(&k, "t", json!({"a": "1"}), None, 0);
        let _miss = sets.put(&k, "t", json!({"a": "1", "b": "3"}), None, 0);
        let plan = k.purge_plan(&[scoped("t", json!({"a": "1", "b": 2}))]);
        let mut expect = vec![hit, partial];
        expect.sort();
        assert_eq!(sets.purge(&plan), expect);
    }
}
