//! Code-first Mizan: functions declared once, in Rust, with `#[mizan_host::client(…)]`.
//!
//! ```ignore
//! use mizan_host::app::{Ctx, FnError};
//! use mizan_host::Mizan;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Mizan)]
//! struct Profile { id: i64, name: String }
//!
//! mizan_host::context!(catalog, shared);
//!
//! #[mizan_host::client(context = "user")]
//! async fn user_profile(ctx: Ctx, user_id: i64) -> Result<Profile, FnError> { … }
//!
//! #[mizan_host::client(affects = ["user"], merge = ["user"], auth = "required")]
//! async fn update_profile(ctx: Ctx, user_id: i64, name: String) -> Result<Profile, FnError> { … }
//! ```
//!
//! Each `#[client]` submits a [`ClientFn`] (each `#[predicate]` a [`PredicateFn`], each
//! [`context!`](crate::context) a [`ContextDecl`]) that `inventory` collects when the program
//! is linked. [`registry_json`] turns them into the registry's JSON form; the **kernel** parses
//! and graph-checks it and writes the canonical KDL ([`build_registry`], [`build_ir`]). The
//! host only lists what the code declares: every rule about what makes a valid registry is the
//! kernel's, so a code-first registry is refused for exactly the reasons a KDL one is.
//!
//! [`emit_ir_main`] is the whole body of an `emit-mizan-ir` binary (the IR for codegen's
//! `[source.rust]`), and `mizan_host::app::MizanBuilder::code_functions` serves the collected
//! functions, checking a given IR against them.

mod call;
mod types;

pub use call::{AnyCtx, Args, downcast_ctx, result_outcome, value_outcome};
pub use types::{IrType, MapKey, Member, TypeSet, Upload};

use serde_json::{Map, Value, json};
use std::any::TypeId;
use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::origin::BoxFuture;
use crate::registry::Registry;
use crate::server::Outcome;

/// The request-context type a function or predicate takes (the `Ctx` parameter).
#[derive(Clone, Copy)]
pub struct CtxType {
    pub id: fn() -> TypeId,
    pub name: fn() -> &'static str,
}

/// `cache = false | SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    Never,
    Ttl(u64),
}

/// A function's inputs and output in IR types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub inputs: Vec<Member>,
    pub output: String,
}

/// What `#[client]` registers: the function's registry entry and the shim that calls it.
pub struct ClientFn {
    /// The IR name (the function's, or `name = "…"`).
    pub name: &'static str,
    /// `module::function`, for messages.
    pub rust_path: &'static str,
    pub file: &'static str,
    pub line: u32,
    pub context: Option<&'static str>,
    pub affects: &'static [&'static str],
    pub merge: &'static [&'static str],
    /// `required`, `staff`, `superuser` or `predicate:NAME`.
    pub auth: Option<&'static str>,
    pub private: bool,
    pub view: bool,
    pub websocket: bool,
    pub rev: u64,
    pub cache: Option<Cache>,
    pub route: Option<&'static str>,
    pub methods: &'static [&'static str],
    pub form: Option<&'static str>,
    pub form_name: Option<&'static str>,
    /// The inputs and output in IR types (declaring named types into the set).
    pub signature: fn(&mut TypeSet) -> Signature,
    /// The context parameter's type; `None` when the function takes none.
    pub ctx: Option<CtxType>,
    /// Run it: the engine's arguments (JSON text) and the host's context → the outcome.
    pub call: fn(String, AnyCtx) -> BoxFuture<'static, Outcome>,
}

/// What `#[predicate]` registers.
pub struct PredicateFn {
    pub name: &'static str,
    pub rust_path: &'static str,
    pub ctx: Option<CtxType>,
    pub call: fn(AnyCtx) -> BoxFuture<'static, bool>,
}

/// What [`context!`](crate::context) registers: a context's flags (and its existence, for a
/// context no function reads yet).
pub struct ContextDecl {
    pub name: &'static str,
    pub shared: bool,
    pub file: &'static str,
    pub line: u32,
}

inventory::collect!(ClientFn);
inventory::collect!(PredicateFn);
inventory::collect!(ContextDecl);

/// Declare a context and its flags, once, at module level:
///
/// ```ignore
/// mizan_host::context!(catalog, shared);   // same data for every caller
/// mizan_host::context!(subscription);      // exists with no members yet (only invalidated)
/// ```
///
/// A context named only by `#[client(context = "…")]` exists anyway, not shared.
#[macro_export]
macro_rules! context {
    ($name:ident $(,)?) => {
        $crate::context!(@submit $name, false);
    };
    ($name:ident, shared $(,)?) => {
        $crate::context!(@submit $name, true);
    };
    ($name:ident, shared = $shared:literal $(,)?) => {
        $crate::context!(@submit $name, $shared);
    };
    (@submit $name:ident, $shared:expr) => {
        $crate::__private::inventory::submit! {
            $crate::code_first::ContextDecl {
                name: ::std::stringify!($name),
                shared: $shared,
                file: ::std::file!(),
                line: ::std::line!(),
            }
        }
    };
}

/// Every `#[client]` function linked into this program, by IR name.
pub fn functions() -> Vec<&'static ClientFn> {
    let mut all: Vec<&'static ClientFn> = inventory::iter::<ClientFn>.into_iter().collect();
    all.sort_by_key(|f| (f.name, f.rust_path));
    all
}

/// Every `#[predicate]` linked into this program, by name.
pub fn predicates() -> Vec<&'static PredicateFn> {
    let mut all: Vec<&'static PredicateFn> = inventory::iter::<PredicateFn>.into_iter().collect();
    all.sort_by_key(|p| (p.name, p.rust_path));
    all
}

/// Every [`context!`](crate::context) declaration linked into this program, by name.
pub fn contexts() -> Vec<&'static ContextDecl> {
    let mut all: Vec<&'static ContextDecl> = inventory::iter::<ContextDecl>.into_iter().collect();
    all.sort_by_key(|c| (c.name, c.file, c.line));
    all
}

/// One function's entry in the registry's JSON form.
fn function_json(f: &ClientFn, types: &mut TypeSet) -> Value {
    let sig = (f.signature)(types);
    let cache = match f.cache {
        None => Value::Null,
        Some(Cache::Never) => json!(false),
        Some(Cache::Ttl(t)) => json!(t),
    };
    json!({
        "context": f.context, "inputs": types::members_json(&sig.inputs), "output": sig.output,
        "affects": f.affects, "merge": f.merge, "auth": f.auth,
        "private": f.private, "view": f.view, "websocket": f.websocket,
        "route": f.route, "methods": f.methods, "rev": f.rev, "cache": cache,
        "form": f.form, "form_name": f.form_name,
    })
}

/// The registry's JSON form (what `Registry::from_json` reads) for these functions and context
/// declarations. Refused here, before the kernel sees it, is only what JSON objects cannot
/// carry: two functions with one name, two Rust types with one IR name, one context declared
/// shared and not shared.
pub fn registry_json_of(functions: &[&ClientFn], contexts: &[&ContextDecl]) -> Result<Value> {
    let mut problems = Vec::new();
    let mut types = TypeSet::new();
    let mut entries = Map::new();
    let mut seen: BTreeMap<&str, &ClientFn> = BTreeMap::new();
    for f in functions {
        if let Some(first) = seen.get(f.name) {
            problems.push(format!(
                "two functions are named `{}`: {} ({}:{}) and {} ({}:{})",
                f.name, first.rust_path, first.file, first.line, f.rust_path, f.file, f.line
            ));
            continue;
        }
        seen.insert(f.name, f);
        entries.insert(f.name.to_string(), function_json(f, &mut types));
    }
    let mut declared: BTreeMap<&str, &ContextDecl> = BTreeMap::new();
    for c in contexts {
        match declared.get(c.name) {
            Some(first) if first.shared != c.shared => problems.push(format!(
                "context `{}` is declared shared at {}:{} and not shared at {}:{}",
                c.name,
                if first.shared { first.file } else { c.file },
                if first.shared { first.line } else { c.line },
                if first.shared { c.file } else { first.file },
                if first.shared { c.line } else { first.line },
            )),
            Some(_) => {}
            None => {
                declared.insert(c.name, c);
            }
        }
    }
    problems.extend(types.problems().iter().cloned());
    if !problems.is_empty() {
        return Err(Error::Registration(problems.join("; ")));
    }
    let contexts: Map<String, Value> = declared.iter().map(|(name, c)| (name.to_string(), json!({"shared": c.shared}))).collect();
    let enums = types.enums_json();
    // The IR version: 2 when there are enums (docs/IR.md), so a registry without them stays 1.
    let version = if enums.is_empty() { 1 } else { 2 };
    Ok(json!({"version": version, "contexts": contexts, "functions": entries, "types": types.types_json(), "enums": enums}))
}

/// The registry JSON form of everything linked into this program.
pub fn registry_json() -> Result<Value> {
    registry_json_of(&functions(), &contexts())
}

/// The kernel's registry of everything linked into this program: parsed and graph-checked by
/// the kernel (an `affects` naming nothing is an `invalid-registry` error listing every problem).
pub fn build_registry(kernel: &Kernel) -> Result<Registry> {
    Registry::from_json(kernel, &registry_json()?)
}

/// The canonical KDL IR of everything linked into this program, written by the kernel.
pub fn build_ir() -> Result<String> {
    build_registry(&Kernel::new()?)?.to_kdl()
}

/// The body of an `emit-mizan-ir` binary: print [`build_ir`] to stdout (for codegen's
/// `[source.rust]`: `cargo run --bin emit-mizan-ir`), or the error to stderr with exit code 1.
///
/// ```ignore
/// // src/bin/emit-mizan-ir.rs
/// use my_app as _; // link the library that holds the #[client] functions
/// fn main() -> std::process::ExitCode {
///     mizan_host::emit_ir_main()
/// }
/// ```
///
/// The `use` matters: a library the binary never names is not linked, and its registrations
/// with it (the binary then warns that it found no functions).
pub fn emit_ir_main() -> std::process::ExitCode {
    emit_ir(&mut std::io::stdout().lock(), &mut std::io::stderr().lock())
}

/// [`emit_ir_main`] writing to `out` and `err`.
pub fn emit_ir(out: &mut impl std::io::Write, err: &mut impl std::io::Write) -> std::process::ExitCode {
    if functions().is_empty() {
        let _ = writeln!(
            err,
            "emit-mizan-ir: warning: no #[client] function is linked into this binary \
             (add `use your_library as _;` to name the crate that declares them)"
        );
    }
    match build_ir() {
        Ok(kdl) => match out.write_all(kdl.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(err, "emit-mizan-ir: cannot write the IR: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Err(e) => {
            let _ = writeln!(err, "emit-mizan-ir: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Check that `kdl` is the IR of the code: the same functions, contexts and types, each with
/// the same entry. Both sides go through the kernel's canonical JSON form, so formatting and
/// order do not matter. Every disagreement is listed by name in one
/// [`Error::Registration`]; `Ok` holds the KDL's registry.
pub fn check_ir(kernel: &Kernel, kdl: &str) -> Result<Registry> {
    let given = Registry::from_kdl(kernel, kdl)?;
    let code = build_registry(kernel)?;
    let (given_json, code_json) = (given.to_json()?, code.to_json()?);
    let mut problems = Vec::new();
    for (section, what) in [("functions", "function"), ("contexts", "context"), ("types", "type"), ("enums", "enum")] {
        let empty = Map::new();
        let g = given_json[section].as_object().unwrap_or(&empty);
        let c = code_json[section].as_object().unwrap_or(&empty);
        for (name, entry) in c {
            match g.get(name) {
                None => {
                    let place = functions().into_iter().find(|f| f.name == name).map(|f| format!(" ({}:{})", f.file, f.line));
                    problems.push(format!("{what} `{name}` is in the code{} but not in the IR", place.unwrap_or_default()));
                }
                Some(other) if other != entry => {
                    let keys: std::collections::BTreeSet<&str> = match (entry, other) {
                        (Value::Object(a), Value::Object(b)) => {
                            a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).map(String::as_str).collect()
                        }
                        _ => Default::default(),
                    };
                    let keys: Vec<&str> = keys.into_iter().collect();
                    problems.push(format!("{what} `{name}` differs between the code and the IR ({})", keys.join(", ")));
                }
                Some(_) => {}
            }
        }
        for name in g.keys().filter(|n| !c.contains_key(*n)) {
            problems.push(format!("{what} `{name}` is in the IR but not in the code"));
        }
    }
    if problems.is_empty() {
        Ok(given)
    } else {
        Err(Error::Registration(format!(
            "the IR and the #[client] functions disagree (regenerate the IR with `cargo run --bin emit-mizan-ir`): {}",
            problems.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests;
