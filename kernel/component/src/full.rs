//! Glue for the interfaces only `world kernel` has: canon, keys, registry (and, in their own
//! files, store and server).

use crate::exports::mizan::kernel::{canon as wcanon, keys as wkeys, registry as wregistry};
use crate::{Kernel, R, err};
use mizan_kernel::canon;
use mizan_kernel::ir::Registry as KernelRegistry;
use mizan_kernel::keys::{self as kkeys, KeyInput, Keyer as KernelKeyer};
use mizan_kernel::{header as kheader, invalidation};
use std::collections::BTreeMap;

fn key_input(context: String, params_json: String, user_json: Option<String>, rev: u32) -> R<KeyInput> {
    KeyInput::from_json(&context, &params_json, user_json.as_deref(), u64::from(rev)).map_err(err)
}

/// A kernel purge plan as the WIT record (shared by the `keys` and `server` interfaces).
pub(crate) fn plan(p: mizan_kernel::index::PurgePlan) -> wkeys::PurgePlan {
    wkeys::PurgePlan {
        scopes: p
            .scopes
            .into_iter()
            .map(|s| wkeys::PurgeScope {
                base: s.base,
                terms: s
                    .terms
                    .into_iter()
                    .map(|t| wkeys::PurgeTerm { has_param: t.has_param, param_equals: t.param_equals })
                    .collect(),
            })
            .collect(),
    }
}

impl wcanon::Guest for Kernel {
    fn stringify(value_json: String) -> R<String> {
        Ok(canon::stringify(&canon::parse_json(&value_json, "value").map_err(err)?))
    }

    fn canonical_json(value_json: String) -> R<String> {
        Ok(canon::canonical_json(&canon::parse_json(&value_json, "value").map_err(err)?))
    }
}

impl wkeys::Guest for Kernel {
    type Keyer = Keyer;

    fn check_secret(secret: String) -> R<Vec<String>> {
        kkeys::check_secret(&secret).map_err(err)
    }

    fn derive_cache_key(secret: String, context: String, params_json: String, user_json: Option<String>, rev: u32) -> R<String> {
        kkeys::derive_cache_key(&secret, &key_input(context, params_json, user_json, rev)?).map_err(err)
    }

    fn derive_cache_key_rotation(
        secrets: Vec<String>,
        context: String,
        params_json: String,
        user_json: Option<String>,
        rev: u32,
    ) -> R<Vec<String>> {
        kkeys::derive_rotation(&secrets, &key_input(context, params_json, user_json, rev)?).map_err(err)
    }
}

pub struct Keyer(KernelKeyer);

impl wkeys::GuestKeyer for Keyer {
    fn create(secret: String) -> R<wkeys::Keyer> {
        Ok(wkeys::Keyer::new(Keyer(KernelKeyer::new(&secret).map_err(err)?)))
    }

    fn derive(&self, context: String, params_json: String, user_json: Option<String>, rev: u32) -> R<String> {
        Ok(self.0.derive(&key_input(context, params_json, user_json, rev)?))
    }

    fn derive_batch(&self, items_json: String) -> R<Vec<String>> {
        self.0.derive_batch_json(&items_json).map_err(err)
    }

    fn index_entry(&self, context: String, params_json: String, user_json: Option<String>, rev: u32) -> R<wkeys::IndexedEntry> {
        let e = self.0.index_entry(&key_input(context, params_json, user_json, rev)?);
        Ok(wkeys::IndexedEntry { key: e.key, index_keys: e.index_keys })
    }

    fn purge_plan(&self, entries_json: String) -> R<wkeys::PurgePlan> {
        let value = canon::parse_json(&entries_json, "entries").map_err(err)?;
        let entries = invalidation::entries_from_json(&value).map_err(err)?;
        Ok(plan(self.0.purge_plan(&entries)))
    }

    fn purge_user_plan(&self, contexts: Vec<String>, user: String) -> R<wkeys::PurgePlan> {
        Ok(plan(self.0.purge_user_plan(&contexts, &user).map_err(err)?))
    }
}

pub struct Registry(KernelRegistry);

impl wregistry::Guest for Kernel {
    type Registry = Registry;
}

impl wregistry::GuestRegistry for Registry {
    fn from_kdl(text: String) -> R<wregistry::Registry> {
        Ok(wregistry::Registry::new(Registry(KernelRegistry::from_kdl(&text).map_err(err)?)))
    }

    fn from_json(text: String) -> R<wregistry::Registry> {
        Ok(wregistry::Registry::new(Registry(KernelRegistry::from_json(&text).map_err(err)?)))
    }

    fn to_kdl(&self) -> String {
        self.0.to_kdl()
    }

    fn to_json(&self) -> String {
        self.0.to_json().to_string()
    }

    fn resolve_invalidation(&self, function: String, args_json: String, subject: Option<String>) -> R<wregistry::Invalidation> {
        let args = canon::parse_object(&args_json, "args").map_err(err)?;
        let entries = self.0.resolve_invalidation(&function, &args, subject.as_deref()).map_err(err)?;
        Ok(wregistry::Invalidation {
            entries_json: invalidation::entries_to_json(&entries).to_string(),
            header: kheader::format_header(&entries).ok(),
        })
    }

    fn resolve_merges(&self, function: String, args_json: String, result_json: String) -> R<wregistry::MergeResolution> {
        let args = canon::parse_object(&args_json, "args").map_err(err)?;
        let result = canon::parse_json(&result_json, "result").map_err(err)?;
        let res = self.0.resolve_merges(&function, &args, &result).map_err(err)?;
        let diagnostics: Vec<_> = res.diagnostics.iter().map(|d| d.to_json()).collect();
        Ok(wregistry::MergeResolution {
            merges_json: res.merges_json().to_string(),
            diagnostics_json: serde_json::Value::Array(diagnostics).to_string(),
        })
    }

    fn manifest(&self, base_url: String, view_urls_json: Option<String>) -> R<String> {
        let view_urls: BTreeMap<String, Vec<String>> = match view_urls_json {
            None => BTreeMap::new(),
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                err(mizan_kernel::Error::invalid_json(format!(
                    "view_urls must map context names to lists of routes: {e}"
                )))
            })?,
        };
        Ok(self.0.manifest(&base_url, &view_urls).to_string())
    }

    fn context_policy(&self, context: String) -> R<wregistry::ContextPolicy> {
        let p = self.0.context_policy(&context).map_err(err)?;
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(wregistry::ContextPolicy { rev: clamp(p.rev), cacheable: p.cacheable, ttl_seconds: p.ttl_seconds.map(clamp) })
    }
}

