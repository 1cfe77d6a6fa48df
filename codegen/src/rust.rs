//! `mizan_client.rs`: a module to `include!`/`mod` into a Rust crate that depends on `serde`
//! (derive), `serde_json` and `reqwest` (feature `json`). Serde structs per IR type, per context
//! params and bundle, per call args; `MizanClient` with `async fn fetch_x(&params)` and
//! `async fn call_x(&args)` over plain HTTP (`GET {base}/ctx/{name}/?…`, `POST {base}/call/`).
//!
//! No cache: a Rust CLI or service calling a Mizan backend wants the typed request, and the
//! kernel's client store lives in the hosts (`mizan-host`), not in a generated file.

use crate::api::{Api, Param, auth_note, effects_note};
use crate::naming::{Names, pascal_value};
use crate::writer::Code;
use mizan_kernel::Result;
use mizan_kernel::ir::{EnumType, ObjectType, Registry, TypeRef};
use std::collections::{BTreeMap, BTreeSet};

/// Keywords usable as raw identifiers (`r#type`).
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in", "let",
    "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "type",
    "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];
/// Keywords that cannot be raw identifiers: a field so named gets a trailing `_`.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Top-level names: keywords, and what the generated code names (std types, serde, reqwest).
const RESERVED: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in", "let",
    "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "type",
    "unsafe", "use", "where", "while", "async", "await", "dyn", "self", "Self", "super", "crate", "String", "Vec",
    "Option", "Some", "None", "Box", "Result", "Ok", "Err", "BTreeMap", "Serialize", "Deserialize", "Value",
    "DeserializeOwned", "Default", "Debug", "Clone", "PartialEq",
];

fn rust_type(t: &TypeRef, boxed: bool) -> String {
    match t {
        TypeRef::String => "String".into(),
        TypeRef::Integer => "i64".into(),
        TypeRef::Number => "f64".into(),
        TypeRef::Boolean => "bool".into(),
        TypeRef::Null => "()".into(),
        TypeRef::Any | TypeRef::Upload => "serde_json::Value".into(),
        TypeRef::List(inner) => format!("Vec<{}>", rust_type(inner, false)),
        TypeRef::Optional(inner) => match **inner {
            TypeRef::Optional(_) => rust_type(inner, boxed),
            _ => format!("Option<{}>", rust_type(inner, boxed)),
        },
        TypeRef::Map(inner) => format!("BTreeMap<String, {}>", rust_type(inner, false)),
        TypeRef::Named(n) if boxed => format!("Box<{n}>"),
        TypeRef::Named(n) => n.clone(),
    }
}

/// The named type a type embeds by value (not behind a `Vec` or a map), if any.
fn embedded(t: &TypeRef) -> Option<&str> {
    match t {
        TypeRef::Optional(inner) => embedded(inner),
        TypeRef::Named(n) => Some(n),
        _ => None,
    }
}

/// Fields `(type, field)` that must be boxed: those embedding by value a type that embeds the
/// containing one back (a struct cannot contain itself without indirection).
fn boxed_fields(registry: &Registry) -> BTreeSet<(String, String)> {
    let edges: BTreeMap<&str, Vec<&str>> = registry
        .types
        .values()
        .map(|t| (t.name.as_str(), t.fields.iter().filter_map(|f| embedded(&f.ty)).collect()))
        .collect();
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n) {
                stack.extend(edges.get(n).into_iter().flatten().copied());
            }
        }
        false
    };
    let mut out = BTreeSet::new();
    for t in registry.types.values() {
        for f in &t.fields {
            if embedded(&f.ty).is_some_and(|n| reaches(n, &t.name)) {
                out.insert((t.name.clone(), f.name.clone()));
            }
        }
    }
    out
}

/// The Rust field name, and the wire name when they differ.
fn field_name(name: &str) -> (String, Option<String>) {
    if NOT_RAW.contains(&name) {
        (format!("{name}_"), Some(name.to_string()))
    } else if KEYWORDS.contains(&name) {
        (format!("r#{name}"), None)
    } else {
        (name.to_string(), None)
    }
}

struct FieldSpec {
    name: String,
    ty: String,
    required: bool,
}

/// A serde struct. Fields that are not required are `Option`s, left out when `None` and
/// `None` when absent.
fn write_struct(code: &mut Code, name: &str, doc: &str, fields: &[FieldSpec]) {
    code.line(format!("/// {doc}"));
    let default = if fields.iter().all(|f| !f.required) { ", Default" } else { "" };
    code.line(format!("#[derive(Debug, Clone, PartialEq, Serialize, Deserialize{default})]"));
    if fields.is_empty() {
        code.line(format!("pub struct {name} {{}}"));
        return;
    }
    code.line(format!("pub struct {name} {{"));
    for f in fields {
        let (rust, wire) = field_name(&f.name);
        let mut attrs = Vec::new();
        if let Some(w) = wire {
            attrs.push(format!("rename = {}", rust_str(&w)));
        }
        let ty = if f.required {
            f.ty.clone()
        } else {
            attrs.push("default".into());
            attrs.push("skip_serializing_if = \"Option::is_none\"".into());
            if f.ty.starts_with("Option<") { f.ty.clone() } else { format!("Option<{}>", f.ty) }
        };
        if !attrs.is_empty() {
            code.line(format!("    #[serde({})]", attrs.join(", ")));
        }
        code.line(format!("    pub {rust}: {ty},"));
    }
    code.line("}");
}

/// A unit-only enum, each variant renamed to its string. Variant names come from the values
/// (`in transit` → `InTransit`, `self` → `Self_`); two values that give one name are refused.
fn write_enum(code: &mut Code, e: &EnumType) -> Result<()> {
    let mut variants = Names::new("rust", &[]);
    let variant = |v: &str| match pascal_value(v) {
        keyword if keyword == "Self" => "Self_".to_string(), // the one keyword a variant name can hit
        name => name,
    };
    let named: Vec<(String, &String)> = e.values.iter().map(|v| (variant(v), v)).collect();
    for (variant, value) in &named {
        variants.claim(variant, format!("the value {value:?} of the enum `{}`", e.name));
    }
    variants.finish()?;
    code.line(format!("/// The enum `{}`.", e.name));
    code.line("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]");
    code.line(format!("pub enum {} {{", e.name));
    for (variant, value) in &named {
        code.line(format!("    #[serde(rename = {})]", rust_str(value)));
        code.line(format!("    {variant},"));
    }
    code.line("}");
    code.blank();
    code.line(format!("impl {} {{", e.name));
    code.line("    /// Every value, in the declared order.");
    let all: Vec<String> = named.iter().map(|(v, _)| format!("{}::{v}", e.name)).collect();
    code.line(format!("    pub const ALL: [{}; {}] = [{}];", e.name, named.len(), all.join(", ")));
    code.blank();
    code.line("    /// The value on the wire.");
    code.line("    pub fn as_str(self) -> &'static str {");
    code.line("        match self {");
    for (variant, value) in &named {
        code.line(format!("            {}::{variant} => {},", e.name, rust_str(value)));
    }
    code.line("        }");
    code.line("    }");
    code.line("}");
    Ok(())
}

fn rust_str(s: &str) -> String {
    format!("{s:?}")
}

fn param_fields(params: &[Param]) -> Vec<FieldSpec> {
    params.iter().map(|p| FieldSpec { name: p.name.to_string(), ty: rust_type(&p.ty, false), required: p.required }).collect()
}

fn type_fields(t: &ObjectType, boxed: &BTreeSet<(String, String)>) -> Vec<FieldSpec> {
    t.fields
        .iter()
        .map(|f| FieldSpec {
            name: f.name.clone(),
            ty: rust_type(&f.ty, boxed.contains(&(t.name.clone(), f.name.clone()))),
            required: f.required,
        })
        .collect()
}

fn method_name(prefix: &str, name: &str) -> String {
    let joined = format!("{prefix}_{name}");
    if KEYWORDS.contains(&joined.as_str()) { format!("r#{joined}") } else { joined }
}

pub fn generate(api: &Api, registry: &Registry) -> Result<String> {
    let mut names = Names::new("rust", RESERVED);
    for t in &api.types {
        names.claim(&t.name, format!("the type `{}`", t.name));
    }
    for e in &api.enums {
        names.claim(&e.name, format!("the enum `{}`", e.name));
    }
    for c in &api.contexts {
        names.claim(&format!("{}Params", c.pascal), format!("the params of context `{}`", c.name));
        names.claim(&format!("{}Bundle", c.pascal), format!("the bundle of context `{}`", c.name));
    }
    for f in &api.calls {
        names.claim(&format!("{}Args", f.pascal), format!("the args of function `{}`", f.function.name));
    }
    for fixed in ["MizanClient", "MizanError", "query_pairs"] {
        names.claim(fixed, "a name of the Rust module");
    }
    names.finish()?;

    let mut code = Code::new();
    code.lines("//! ", crate::header_lines(api));
    code.line("//!");
    code.line("//! Needs `serde` (feature `derive`), `serde_json` and `reqwest` (feature `json`).");
    code.line("#![allow(dead_code, non_snake_case, non_camel_case_types, clippy::all)]");
    code.blank();
    code.line("use serde::{Deserialize, Serialize};");
    code.line("use std::collections::BTreeMap;");

    for e in &api.enums {
        code.blank();
        write_enum(&mut code, e)?;
    }
    let boxed = boxed_fields(registry);
    for t in &api.types {
        code.blank();
        write_struct(&mut code, &t.name, &format!("The type `{}`.", t.name), &type_fields(t, &boxed));
    }
    for c in &api.contexts {
        code.blank();
        write_struct(&mut code, &format!("{}Params", c.pascal), &format!("The params of context `{}`.", c.name), &param_fields(&c.params));
        code.blank();
        let slots: Vec<FieldSpec> =
            c.members.iter().map(|f| FieldSpec { name: f.name.clone(), ty: rust_type(&f.output, false), required: true }).collect();
        write_struct(&mut code, &format!("{}Bundle", c.pascal), &format!("The bundle of context `{}`: one field per member function.", c.name), &slots);
    }
    for f in &api.calls {
        code.blank();
        write_struct(&mut code, &format!("{}Args", f.pascal), &format!("The arguments of `{}`.", f.function.name), &param_fields(&f.args));
    }

    code.blank();
    code.lines("", CLIENT.lines());
    for c in &api.contexts {
        code.blank();
        let members: Vec<&str> = c.members.iter().map(|f| f.name.as_str()).collect();
        code.line(format!("    /// Context `{}`: {}.", c.name, members.join(", ")));
        code.line(format!(
            "    pub async fn {}(&self, params: &{p}Params) -> Result<{p}Bundle, MizanError> {{",
            method_name("fetch", c.name),
            p = c.pascal
        ));
        code.line(format!("        self.fetch({}, params).await", rust_str(c.name)));
        code.line("    }");
    }
    for f in &api.calls {
        code.blank();
        code.line(format!("    /// Calls `{}`.", f.function.name));
        if let Some(n) = effects_note(f.function) {
            code.line(format!("    /// On success it {n}."));
        }
        if let Some(n) = auth_note(f.function) {
            code.line(format!("    /// Allowed for {n}."));
        }
        code.line(format!(
            "    pub async fn {}(&self, args: &{}Args) -> Result<{}, MizanError> {{",
            method_name("call", &f.function.name),
            f.pascal,
            rust_type(&f.function.output, false)
        ));
        code.line(format!("        self.call({}, args).await", rust_str(&f.function.name)));
        code.line("    }");
    }
    code.line("}");
    Ok(code.finish())
}

/// The fixed part: the error type and the client with its two requests.
const CLIENT: &str = r#"/// A failed request: the server's error envelope, or the transport's failure.
#[derive(Debug)]
pub enum MizanError {
    /// `{"error": {"code", "message", "details"?}}` with the HTTP status.
    Server { status: u16, code: String, message: String, details: Option<serde_json::Value> },
    /// Connection, TLS, timeout, or a body that is not what the IR says.
    Http(reqwest::Error),
    /// Params or args that do not serialize to JSON.
    Encode(serde_json::Error),
}

impl std::fmt::Display for MizanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MizanError::Server { status, code, message, .. } => write!(f, "{code} ({status}): {message}"),
            MizanError::Http(e) => write!(f, "{e}"),
            MizanError::Encode(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MizanError {}

impl From<reqwest::Error> for MizanError {
    fn from(e: reqwest::Error) -> Self {
        MizanError::Http(e)
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    details: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct CallEnvelope<R> {
    result: R,
}

/// Params as query pairs: strings as they are, other scalars as JSON text, lists and objects
/// as JSON (the server reads each by the type the IR declares).
pub fn query_pairs(params: &impl Serialize) -> Result<Vec<(String, String)>, serde_json::Error> {
    let value = serde_json::to_value(params)?;
    let mut pairs = Vec::new();
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            let text = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            pairs.push((k, text));
        }
    }
    Ok(pairs)
}

/// The typed client: `MizanClient::new("http://127.0.0.1:8000/api/mizan")`, or `with_http`
/// to bring a `reqwest::Client` (default headers such as `Authorization`, timeouts, TLS).
#[derive(Debug, Clone)]
pub struct MizanClient {
    http: reqwest::Client,
    base_url: String,
}

impl MizanClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_http(reqwest::Client::new(), base_url)
    }

    pub fn with_http(http: reqwest::Client, base_url: impl Into<String>) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_string();
        MizanClient { http, base_url }
    }

    async fn read<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, MizanError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response.json::<T>().await?);
        }
        let text = response.text().await?;
        Err(match serde_json::from_str::<ErrorEnvelope>(&text) {
            Ok(envelope) => MizanError::Server {
                status: status.as_u16(),
                code: envelope.error.code,
                message: envelope.error.message,
                details: envelope.error.details,
            },
            Err(_) => MizanError::Server { status: status.as_u16(), code: format!("HTTP_{}", status.as_u16()), message: text, details: None },
        })
    }

    /// `GET {base}/ctx/{context}/?params`: the context's bundle.
    pub async fn fetch<P: Serialize, B: serde::de::DeserializeOwned>(&self, context: &str, params: &P) -> Result<B, MizanError> {
        let pairs = query_pairs(params).map_err(MizanError::Encode)?;
        let url = format!("{}/ctx/{context}/", self.base_url);
        Self::read(self.http.get(url).query(&pairs).send().await?).await
    }

    /// `POST {base}/call/` with `{"fn", "args"}`: the function's result.
    pub async fn call<A: Serialize, R: serde::de::DeserializeOwned>(&self, function: &str, args: &A) -> Result<R, MizanError> {
        let body = serde_json::json!({ "fn": function, "args": args });
        let url = format!("{}/call/", self.base_url);
        let envelope: CallEnvelope<R> = Self::read(self.http.post(url).json(&body).send().await?).await?;
        Ok(envelope.result)
    }"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_types_are_boxed_only_where_needed() {
        let r = Registry::from_kdl(
            "mizan-ir version=1\nfunction f output=Node\ntype Node {\n field next type=\"optional<Node>\"\n field children type=\"list<Node>\"\n field leaf type=\"optional<Leaf>\"\n}\ntype Leaf {\n field v type=integer\n}\n",
        )
        .unwrap();
        let boxed = boxed_fields(&r);
        assert_eq!(boxed.into_iter().collect::<Vec<_>>(), vec![("Node".to_string(), "next".to_string())]);
        assert_eq!(rust_type(&TypeRef::parse("optional<Node>").unwrap(), true), "Option<Box<Node>>");
        assert_eq!(field_name("type"), ("r#type".to_string(), None));
        assert_eq!(field_name("self"), ("self_".to_string(), Some("self".to_string())));
    }
}
