//! [`Keyer`]: cache keys under one secret (the WIT `keyer` resource).

use serde_json::Value;

use crate::dedicated::{Dedicated, Rebuild};
use crate::error::Result;
use crate::kernel::Kernel;

/// An origin-cache key and the reverse-index sets the entry belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEntry {
    pub key: String,
    pub index_keys: Vec<String>,
}

/// An entry passes a term when it is in `param_equals` or not in `has_param`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeTerm {
    pub has_param: String,
    pub param_equals: String,
}

/// The members of the `base` set that pass every term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeScope {
    pub base: String,
    pub terms: Vec<PurgeTerm>,
}

/// Purge the union of the scopes; remove purged entries from their index sets; drop empty sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgePlan {
    pub scopes: Vec<PurgeScope>,
}

impl From<crate::bindings::exports::mizan::kernel::keys::PurgePlan> for PurgePlan {
    fn from(p: crate::bindings::exports::mizan::kernel::keys::PurgePlan) -> Self {
        PurgePlan {
            scopes: p
                .scopes
                .into_iter()
                .map(|s| PurgeScope {
                    base: s.base,
                    terms: s
                        .terms
                        .into_iter()
                        .map(|t| PurgeTerm { has_param: t.has_param, param_equals: t.param_equals })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Keys under one secret; the kernel computes the HMAC key schedule once, at creation.
///
/// `Send + Sync`; calls on one `Keyer` are serialized (it owns one instance). Give each thread
/// its own `Keyer` — or use [`Kernel::derive_cache_key`], which runs on the pool — when many
/// threads derive at once.
pub struct Keyer {
    secret: String,
    resident: Dedicated,
}

impl Keyer {
    pub(crate) fn new(kernel: &Kernel, secret: &str) -> Result<Keyer> {
        let resident = Dedicated::new(kernel, Rebuild::Always, &|s, b| b.mizan_kernel_keys().keyer().call_create(s, secret))?;
        Ok(Keyer { secret: secret.to_string(), resident })
    }

    fn call<T, E>(
        &self,
        f: impl FnOnce(
            &mut wasmtime::Store<crate::kernel::State>,
            crate::bindings::exports::mizan::kernel::keys::GuestKeyer<'_>,
            wasmtime::component::ResourceAny,
        ) -> wasmtime::Result<Result<T, E>>,
    ) -> Result<T>
    where
        crate::Error: From<E>,
    {
        let secret = self.secret.as_str();
        self.resident.call(&|s, b| b.mizan_kernel_keys().keyer().call_create(s, secret), |s, b, h| {
            f(s, b.mizan_kernel_keys().keyer(), h)
        })
    }

    /// The kernel this keyer runs on.
    pub fn kernel(&self) -> &Kernel {
        self.resident.kernel()
    }

    /// `ctx:{context}:{hex}`; `params` a JSON object, `user` a JSON string or number.
    pub fn derive(&self, context: &str, params: &Value, user: Option<&Value>, rev: u32) -> Result<String> {
        let params = params.to_string();
        let user = user.map(Value::to_string);
        self.call(|s, k, h| k.call_derive(s, h, context, &params, user.as_deref(), rev))
    }

    /// `items`: `[{"context", "params"?, "user"?, "rev"?}, …]`; one key per item, in order.
    pub fn derive_batch(&self, items: &Value) -> Result<Vec<String>> {
        let items = items.to_string();
        self.call(|s, k, h| k.call_derive_batch(s, h, &items))
    }

    /// The entry's key and the index sets it belongs to.
    pub fn index_entry(&self, context: &str, params: &Value, user: Option<&Value>, rev: u32) -> Result<IndexedEntry> {
        let params = params.to_string();
        let user = user.map(Value::to_string);
        let e = self.call(|s, k, h| k.call_index_entry(s, h, context, &params, user.as_deref(), rev))?;
        Ok(IndexedEntry { key: e.key, index_keys: e.index_keys })
    }

    /// The purge plan for invalidation entries (`"ctx"` or `{"context", "params"?}`).
    pub fn purge_plan(&self, entries: &Value) -> Result<PurgePlan> {
        let entries = entries.to_string();
        Ok(self.call(|s, k, h| k.call_purge_plan(s, h, &entries))?.into())
    }

    /// Every entry of one user in the given contexts.
    pub fn purge_user_plan(&self, contexts: &[String], user: &str) -> Result<PurgePlan> {
        Ok(self.call(|s, k, h| k.call_purge_user_plan(s, h, contexts, user))?.into())
    }
}

impl std::fmt::Debug for Keyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyer").finish_non_exhaustive() // never print the secret
    }
}
