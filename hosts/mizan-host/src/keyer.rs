//! [`Keyer`]: cache keys under one secret (the WIT `keyer` resource), made by [`Kernel::keyer`].

use serde_json::Value;

use crate::dedicated::{Dedicated, Rebuild};
use crate::error::Result;
use crate::kernel::Kernel;

// The WIT records, as bindgen writes them (with `PartialEq, Eq`: lib.rs `additional_derives`).
pub use crate::bindings::exports::mizan::kernel::keys::{IndexedEntry, PurgePlan, PurgeScope, PurgeTerm};

/// Keys under one secret; the kernel computes the HMAC key schedule once, at creation.
///
/// `Send + Sync`; calls on one `Keyer` are serialized (it owns one instance). Give each thread
/// its own `Keyer` — or use [`Kernel::derive_cache_key`], which runs on the pool — when many
/// threads derive at once.
pub struct Keyer {
    secret: String,
    resident: Dedicated,
}

impl Kernel {
    /// A [`Keyer`] for one secret (the secret is checked here).
    pub fn keyer(&self, secret: &str) -> Result<Keyer> {
        Keyer::new(self, secret)
    }
}

impl Keyer {
    fn new(kernel: &Kernel, secret: &str) -> Result<Keyer> {
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
        self.call(|s, k, h| k.call_index_entry(s, h, context, &params, user.as_deref(), rev))
    }

    /// The purge plan for invalidation entries (`"ctx"` or `{"context", "params"?}`).
    pub fn purge_plan(&self, entries: &Value) -> Result<PurgePlan> {
        let entries = entries.to_string();
        self.call(|s, k, h| k.call_purge_plan(s, h, &entries))
    }

    /// Every entry of one user in the given contexts.
    pub fn purge_user_plan(&self, contexts: &[String], user: &str) -> Result<PurgePlan> {
        self.call(|s, k, h| k.call_purge_user_plan(s, h, contexts, user))
    }
}

impl std::fmt::Debug for Keyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyer").finish_non_exhaustive() // never print the secret
    }
}
