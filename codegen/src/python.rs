//! `mizan_client.py`: a `TypedDict` per IR type and per context bundle, and two classes with one
//! method per context (`fetch_x(*, params…)`) and per call (`call_x(*, args…)`): `MizanApi`
//! over `mizan_kernel.Client`, `AsyncMizanApi` (the same methods, `async`) over `AsyncClient`.
//!
//! TypedDicts rather than dataclasses: the client hands back the decoded JSON (dicts and lists),
//! and a TypedDict types that as it is, with no conversion and nothing to keep in sync.

use crate::api::{Api, CallApi, ContextApi, Param, auth_note, effects_note};
use crate::naming::Names;
use crate::writer::Code;
use mizan_kernel::Result;
use mizan_kernel::ir::TypeRef;

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Module-level names the file imports or uses.
const RESERVED: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "sys", "Any", "Dict", "List",
    "Mapping", "Optional", "Sequence", "TypedDict", "NotRequired", "Literal", "cast", "Client", "AsyncClient",
    "str", "int", "float", "bool",
];

/// Names a method parameter may not take (the method body uses them); such an input gets a
/// trailing `_` (`class` → `class_`) and keeps its name on the wire.
const TAKEN_IN_METHODS: &[&str] = &["self", "cast", "timeout", "optimistic", "params", "args"];

fn py_type(t: &TypeRef) -> String {
    match t {
        TypeRef::String => "str".into(),
        TypeRef::Integer => "int".into(),
        TypeRef::Number => "float".into(),
        TypeRef::Boolean => "bool".into(),
        TypeRef::Null => "None".into(),
        TypeRef::Any | TypeRef::Upload => "Any".into(),
        TypeRef::List(inner) => format!("List[{}]", py_type(inner)),
        TypeRef::Optional(inner) => match **inner {
            TypeRef::Optional(_) | TypeRef::Null => py_type(inner),
            _ => format!("Optional[{}]", py_type(inner)),
        },
        TypeRef::Map(inner) => format!("Dict[str, {}]", py_type(inner)),
        // Quoted: a forward reference (types may refer to types defined further down).
        TypeRef::Named(n) => format!("\"{n}\""),
    }
}

fn py_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_plain_identifier(name: &str) -> bool {
    !KEYWORDS.contains(&name) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A `TypedDict`: the class form, or the functional form when a key is not a Python identifier.
fn typed_dict(code: &mut Code, name: &str, doc: Option<&str>, members: &[(String, String, bool)]) {
    let ty = |t: &String, required: bool| if required { t.clone() } else { format!("NotRequired[{t}]") };
    if members.iter().all(|(m, _, _)| is_plain_identifier(m)) {
        code.line(format!("class {name}(TypedDict):"));
        if let Some(d) = doc {
            code.line(format!("    \"\"\"{d}\"\"\""));
            if !members.is_empty() {
                code.blank();
            }
        }
        for (m, t, required) in members {
            code.line(format!("    {m}: {}", ty(t, *required)));
        }
        if members.is_empty() && doc.is_none() {
            code.line("    pass");
        }
    } else {
        code.line(format!("{name} = TypedDict("));
        code.line(format!("    {},", py_str(name)));
        code.line("    {");
        for (m, t, required) in members {
            code.line(format!("        {}: {},", py_str(m), ty(t, *required)));
        }
        code.line("    },");
        code.line(")");
        if let Some(d) = doc {
            code.line(format!("{name}.__doc__ = {}", py_str(d)));
        }
    }
}

/// A parameter's Python name: the input's, unless that is a keyword or used by the method body.
fn arg_name(name: &str) -> String {
    let mut out = name.to_string();
    while KEYWORDS.contains(&out.as_str()) || TAKEN_IN_METHODS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// `*, a: int, b: Optional[str] = None` and the lines that build the dict `var` from them.
fn signature(params: &[Param], var: &str) -> (Vec<String>, Vec<String>) {
    let mut sig = Vec::new();
    let mut required = Vec::new();
    let mut optional = Vec::new();
    for p in params {
        let py = arg_name(p.name);
        if p.required {
            sig.push(format!("{py}: {}", py_type(&p.ty)));
            required.push(format!("{}: {py}", py_str(p.name)));
        } else {
            let inner = match &p.ty {
                TypeRef::Optional(t) => py_type(t),
                t => py_type(t),
            };
            let inner = if inner == "None" { inner } else { format!("Optional[{inner}]") };
            sig.push(format!("{py}: {inner} = None"));
            optional.push((p.name, py));
        }
    }
    let mut body = vec![format!("{var}: Dict[str, Any] = {{{}}}", required.join(", "))];
    for (wire, py) in optional {
        body.push(format!("if {py} is not None:"));
        body.push(format!("    {var}[{}] = {py}", py_str(wire)));
    }
    (sig, body)
}

fn def_line(asynchronous: bool, name: &str, mut sig: Vec<String>, extra: &[&str], ret: &str) -> String {
    sig.extend(extra.iter().map(|s| s.to_string()));
    let prefix = if asynchronous { "async def" } else { "def" };
    format!("    {prefix} {name}(self, *, {}) -> {ret}:", sig.join(", "))
}

fn context_method(code: &mut Code, c: &ContextApi, asynchronous: bool) {
    let (sig, body) = signature(&c.params, "params");
    code.blank();
    code.line(def_line(asynchronous, &format!("fetch_{}", c.name), sig, &["timeout: Optional[float] = None"], &format!("{}Bundle", c.pascal)));
    let members: Vec<&str> = c.members.iter().map(|f| f.name.as_str()).collect();
    code.line(format!("        \"\"\"Context ``{}``: {}.\"\"\"", c.name, members.join(", ")));
    code.lines("        ", &body);
    let wait = if asynchronous { "await " } else { "" };
    code.line(format!(
        "        return cast({}Bundle, {wait}self.client.fetch({}, params, timeout=timeout))",
        c.pascal,
        py_str(c.name)
    ));
}

fn call_method(code: &mut Code, f: &CallApi, asynchronous: bool) {
    let (sig, body) = signature(&f.args, "args");
    let ret = py_type(&f.function.output);
    code.blank();
    code.line(def_line(
        asynchronous,
        &format!("call_{}", f.function.name),
        sig,
        &["optimistic: Optional[Sequence[Mapping[str, Any]]] = None", "timeout: Optional[float] = None"],
        &ret,
    ));
    let mut doc = format!("Calls `{}`.", f.function.name);
    if let Some(n) = effects_note(f.function) {
        doc.push_str(&format!(" On success it {n}."));
    }
    if let Some(n) = auth_note(f.function) {
        doc.push_str(&format!(" Allowed for {n}."));
    }
    code.line(format!("        \"\"\"{}\"\"\"", doc.replace('`', "``")));
    code.lines("        ", &body);
    let wait = if asynchronous { "await " } else { "" };
    code.line(format!(
        "        return cast({ret}, {wait}self.client.call({}, args, optimistic, timeout=timeout))",
        py_str(&f.function.name)
    ));
}

pub fn generate(api: &Api) -> Result<String> {
    let mut names = Names::new("python", RESERVED);
    for t in &api.types {
        names.claim(&t.name, format!("the type `{}`", t.name));
    }
    for e in &api.enums {
        names.claim(&e.name, format!("the enum `{}`", e.name));
    }
    for c in &api.contexts {
        names.claim(&format!("{}Bundle", c.pascal), format!("the bundle of context `{}`", c.name));
    }
    names.claim("MizanApi", "the client class");
    names.claim("AsyncMizanApi", "the asyncio client class");
    names.finish()?;

    let mut code = Code::new();
    let mut doc = crate::header_lines(api);
    doc.push(String::new());
    doc.push("``MizanApi(client)`` over a :class:`mizan_kernel.Client`, ``AsyncMizanApi(client)`` over an".into());
    doc.push(":class:`mizan_kernel.AsyncClient`: one ``fetch_<context>`` per context, one ``call_<function>``".into());
    doc.push("per function, keyword arguments only (an input named like a Python keyword gets a trailing ``_``).".into());
    code.line(format!("\"\"\"{}", doc[0]));
    code.lines("", &doc[1..]);
    code.line("\"\"\"");
    code.blank();
    code.line("import sys");
    code.line("from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, cast");
    code.blank();
    code.line("from mizan_kernel import AsyncClient, Client");
    code.blank();
    // typing_extensions' TypedDict with its NotRequired: typing's TypedDict before 3.11 does not
    // see typing_extensions.NotRequired when it computes `__required_keys__`.
    code.line("if sys.version_info >= (3, 11):");
    code.line("    from typing import NotRequired, TypedDict");
    code.line("else:");
    code.line("    from typing_extensions import NotRequired, TypedDict");

    for e in &api.enums {
        code.blanks(2);
        let values: Vec<String> = e.values.iter().map(|v| py_str(v)).collect();
        code.line(format!("{} = Literal[{}]", e.name, values.join(", ")));
        code.line(format!("\"\"\"The enum ``{}``: one of these strings.\"\"\"", e.name));
    }
    for t in &api.types {
        code.blanks(2);
        let members: Vec<(String, String, bool)> = t.fields.iter().map(|f| (f.name.clone(), py_type(&f.ty), f.required)).collect();
        typed_dict(&mut code, &t.name, None, &members);
    }
    for c in &api.contexts {
        code.blanks(2);
        let slots: Vec<(String, String, bool)> = c.members.iter().map(|f| (f.name.clone(), py_type(&f.output), true)).collect();
        let doc = format!("The bundle of context ``{}``: one key per member function.", c.name);
        typed_dict(&mut code, &format!("{}Bundle", c.pascal), Some(&doc), &slots);
    }

    for (class, client, asynchronous) in [("MizanApi", "Client", false), ("AsyncMizanApi", "AsyncClient", true)] {
        code.blanks(2);
        code.line(format!("class {class}:"));
        code.line(format!("    \"\"\"The typed API over a :class:`mizan_kernel.{client}`.\"\"\""));
        code.blank();
        code.line(format!("    def __init__(self, client: {client}) -> None:"));
        code.line("        self.client = client");
        for c in &api.contexts {
            context_method(&mut code, c, asynchronous);
        }
        for f in &api.calls {
            call_method(&mut code, f, asynchronous);
        }
    }
    Ok(code.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_body_names_are_renamed() {
        assert_eq!(arg_name("class"), "class_");
        assert_eq!(arg_name("timeout"), "timeout_");
        assert_eq!(arg_name("user_id"), "user_id");
        assert_eq!(py_type(&TypeRef::parse("map<list<optional<Item>>>").unwrap()), "Dict[str, List[Optional[\"Item\"]]]");
    }
}
