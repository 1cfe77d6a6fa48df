//! The component glue: translate between the WIT contract (`wit/kernel.wit`) and mizan-kernel.
//! No logic lives here; every rule is in the kernel crate, so the native crate and the component
//! cannot disagree.

use mizan_kernel::canon;
use mizan_kernel::ir::Registry as KernelRegistry;
use mizan_kernel::keys::{self as kkeys, KeyInput, Keyer as KernelKeyer};
use mizan_kernel::{header as kheader, invalidation, merge as kmerge};
use std::collections::BTreeMap;

wit_bindgen::generate!({
    path: "../../wit",
    world: "kernel",
});

use exports::mizan::kernel::types::{Error, ErrorCode};
use exports::mizan::kernel::{canon as wcanon, header as wheader, keys as wkeys, merge as wmerge, registry as wregistry};

mod server;
mod store;

pub(crate) struct Kernel;

pub(crate) fn err(e: mizan_kernel::Error) -> Error {
    use mizan_kernel::ErrorCode as K;
    Error {
        code: match e.code {
            K::InvalidJson => ErrorCode::InvalidJson,
            K::InvalidArgument => ErrorCode::InvalidArgument,
            K::InvalidHeader => ErrorCode::InvalidHeader,
            K::InvalidIr => ErrorCode::InvalidIr,
            K::InvalidRegistry => ErrorCode::InvalidRegistry,
            K::NotFound => ErrorCode::NotFound,
        },
        message: e.message,
        details: e.details.map(|d| d.to_string()),
    }
}

pub(crate) type R<T> = Result<T, Error>;

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

impl wheader::Guest for Kernel {
    fn format_invalidate_header(entries_json: String) -> R<String> {
        let value = canon::parse_json(&entries_json, "entries").map_err(err)?;
        kheader::format_header(&invalidation::entries_from_json(&value).map_err(err)?).map_err(err)
    }

    fn parse_invalidate_header(text: String) -> R<String> {
        let entries = kheader::parse_header(&text).map_err(err)?;
        Ok(invalidation::entries_to_json(&entries).to_string())
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

impl wmerge::Guest for Kernel {
    fn apply_merge(bundle_json: String, entry_json: String) -> R<Option<String>> {
        let mut bundle = canon::parse_object(&bundle_json, "bundle").map_err(err)?;
        let entry = kmerge::MergeEntry::from_json(&canon::parse_json(&entry_json, "entry").map_err(err)?).map_err(err)?;
        let changed = kmerge::apply_merge(&mut bundle, &entry).map_err(err)?;
        Ok(changed.then(|| serde_json::Value::Object(bundle).to_string()))
    }
}

export!(Kernel);
