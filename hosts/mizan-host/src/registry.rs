//! [`Registry`]: the function/context registry and what is resolved against it (the WIT
//! `registry` resource).

use serde_json::Value;

use crate::dedicated::{Dedicated, Rebuild};
use crate::error::Result;
use crate::kernel::{Kernel, parse};

/// The `invalidate` body list and the matching `X-Mizan-Invalidate` header (none when the
/// entries exceed the header limits).
#[derive(Debug, Clone, PartialEq)]
pub struct Invalidation {
    pub entries: Value,
    pub header: Option<String>,
}

/// The `merge` body list and one diagnostic per merge target without a unique slot.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeResolution {
    pub merges: Value,
    pub diagnostics: Value,
}

/// Effective origin-cache policy of a context: the WIT record as bindgen writes it (with
/// `PartialEq, Eq`: lib.rs `additional_derives`).
pub use crate::bindings::exports::mizan::kernel::registry::ContextPolicy;

/// A checked registry, resident in its own instance. `Send + Sync`; calls are serialized.
///
/// The text the registry was created from (KDL IR or the JSON form) is kept on the host side:
/// if a call traps, the instance is rebuilt from it on the next call. (Asking the kernel for
/// the JSON form at creation instead cost more than the parse itself: see docs/hosts/rust.md.)
pub struct Registry {
    source: Source,
    resident: Dedicated,
}

/// What a registry was created from; the kernel is deterministic, so parsing it again gives
/// the same registry.
enum Source {
    Kdl(String),
    Json(String),
}

impl Source {
    fn create(&self, s: &mut wasmtime::Store<crate::kernel::State>, b: &crate::bindings::Kernel) -> Created {
        let r = b.mizan_kernel_registry().registry();
        match self {
            Source::Kdl(text) => r.call_from_kdl(s, text),
            Source::Json(text) => r.call_from_json(s, text),
        }
    }
}

type Created = wasmtime::Result<Result<wasmtime::component::ResourceAny, crate::bindings::exports::mizan::kernel::types::Error>>;

type Guest<'a> = crate::bindings::exports::mizan::kernel::registry::GuestRegistry<'a>;

impl Registry {
    /// Parse KDL IR; errors carry `{"line", "column"}` or `{"problems"}`.
    pub fn from_kdl(kernel: &Kernel, text: &str) -> Result<Registry> {
        Self::create(kernel, Source::Kdl(text.to_string()))
    }

    /// Read the JSON form (what `@client` decorators build).
    pub fn from_json(kernel: &Kernel, value: &Value) -> Result<Registry> {
        Self::create(kernel, Source::Json(value.to_string()))
    }

    fn create(kernel: &Kernel, source: Source) -> Result<Registry> {
        let resident = Dedicated::new(kernel, Rebuild::Always, &|s, b| source.create(s, b))?;
        Ok(Registry { source, resident })
    }

    fn call<T, E>(
        &self,
        f: impl FnOnce(&mut wasmtime::Store<crate::kernel::State>, Guest<'_>, wasmtime::component::ResourceAny) -> wasmtime::Result<Result<T, E>>,
    ) -> Result<T>
    where
        crate::Error: From<E>,
    {
        self.resident.call(&|s, b| self.source.create(s, b), |s, b, h| f(s, b.mizan_kernel_registry().registry(), h))
    }

    /// The kernel this registry runs on.
    pub fn kernel(&self) -> &Kernel {
        self.resident.kernel()
    }

    /// The canonical KDL form.
    pub fn to_kdl(&self) -> Result<String> {
        self.call(|s, r, h| r.call_to_kdl(s, h).map(Ok::<_, crate::Error>))
    }

    /// The full JSON form.
    pub fn to_json(&self) -> Result<Value> {
        let text = self.call(|s, r, h| r.call_to_json(s, h).map(Ok::<_, crate::Error>))?;
        parse(&text)
    }

    /// What a call of `function` with `args` invalidates (`subject`: the caller's user id).
    pub fn resolve_invalidation(&self, function: &str, args: &Value, subject: Option<&str>) -> Result<Invalidation> {
        let args = args.to_string();
        let inv = self.call(|s, r, h| r.call_resolve_invalidation(s, h, function, &args, subject))?;
        Ok(Invalidation { entries: parse(&inv.entries_json)?, header: inv.header })
    }

    /// What a call of `function` with `args` returning `result` merges into cached bundles.
    pub fn resolve_merges(&self, function: &str, args: &Value, result: &Value) -> Result<MergeResolution> {
        let args = args.to_string();
        let result = result.to_string();
        let res = self.call(|s, r, h| r.call_resolve_merges(s, h, function, &args, &result))?;
        Ok(MergeResolution { merges: parse(&res.merges_json)?, diagnostics: parse(&res.diagnostics_json)? })
    }

    /// The edge manifest; `view_urls` maps context names to extra page routes.
    pub fn manifest(&self, base_url: &str, view_urls: Option<&Value>) -> Result<Value> {
        let view_urls = view_urls.map(Value::to_string);
        let text = self.call(|s, r, h| r.call_manifest(s, h, base_url, view_urls.as_deref()))?;
        parse(&text)
    }

    /// Effective origin-cache policy of a context.
    pub fn context_policy(&self, context: &str) -> Result<ContextPolicy> {
        self.call(|s, r, h| r.call_context_policy(s, h, context))
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match self.source {
            Source::Kdl(_) => "kdl",
            Source::Json(_) => "json",
        };
        f.debug_struct("Registry").field("source", &source).finish_non_exhaustive()
    }
}
