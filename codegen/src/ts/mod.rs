//! TypeScript: `mizan.ts` (stage 1: types, `fetchXxx`, `callXxx`; framework-agnostic) and one
//! file per framework (`react.ts`, `vue.ts`, `svelte.ts`) importing it as `api`.
//!
//! Object types are emitted as `type` aliases, not interfaces: an alias of an object type is
//! assignable to the client's `JsonObject` (`{ [key: string]: Json }`), an interface is not.

pub mod react;
pub mod stage1;
pub mod svelte;
pub mod vue;

use crate::api::{Api, CallApi, ContextApi, Param, auth_note, effects_note};
use crate::naming::Names;
use crate::writer::Code;
use mizan_kernel::ir::TypeRef;

/// The stage 1 module, as the framework files import it.
pub const STAGE1_FILE: &str = "mizan.ts";
pub const STAGE1_IMPORT: &str = "./mizan.js";

/// Names a TypeScript file may not declare: reserved words, the predefined types, the globals
/// generated code uses, and the namespaces the files import.
pub const RESERVED: &[&str] = &[
    "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else", "enum",
    "export", "extends", "false", "finally", "for", "function", "if", "import", "in", "instanceof", "new", "null",
    "return", "super", "switch", "this", "throw", "true", "try", "typeof", "var", "void", "while", "with",
    "implements", "interface", "let", "package", "private", "protected", "public", "static", "yield", "await",
    "any", "unknown", "never", "number", "string", "boolean", "symbol", "object", "bigint", "undefined", "type",
    "Array", "Error", "Promise", "Record", "Omit", "Json", "MizanClient", "Optimistic", "DehydratedState",
    "MutationOptions", "api", "React", "mizanReact", "mizanVue", "mizanSvelte", "vue", "svelte",
];

/// A TypeScript type for an IR type; named types get `prefix` (`api.` in the framework files).
pub fn ts_type(t: &TypeRef, prefix: &str) -> String {
    match t {
        TypeRef::String => "string".into(),
        TypeRef::Integer | TypeRef::Number => "number".into(),
        TypeRef::Boolean => "boolean".into(),
        TypeRef::Null => "null".into(),
        // `upload` crosses as JSON today (the transports send JSON bodies).
        TypeRef::Any | TypeRef::Upload => "Json".into(),
        TypeRef::List(inner) => {
            let elem = ts_type(inner, prefix);
            if matches!(**inner, TypeRef::Optional(_)) { format!("({elem})[]") } else { format!("{elem}[]") }
        }
        TypeRef::Optional(inner) => match **inner {
            TypeRef::Optional(_) | TypeRef::Null => ts_type(inner, prefix),
            _ => format!("{} | null", ts_type(inner, prefix)),
        },
        TypeRef::Map(inner) => format!("{{ [key: string]: {} }}", ts_type(inner, prefix)),
        TypeRef::Named(n) => format!("{prefix}{n}"),
    }
}

/// A property name: bare when it is an ASCII identifier, else a quoted string.
pub fn prop(name: &str) -> String {
    let mut chars = name.chars();
    let ident = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident { name.to_string() } else { quote(name) }
}

/// A single-quoted JavaScript string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `export type Name = { … };` with one line per member (`{ [key: string]: never }` if none).
pub fn object_type(code: &mut Code, name: &str, members: &[(String, String, bool)]) {
    if members.is_empty() {
        code.line(format!("export type {name} = {{ [key: string]: never }};"));
        return;
    }
    code.line(format!("export type {name} = {{"));
    for (member, ty, required) in members {
        code.line(format!("  {}{}: {ty};", prop(member), if *required { "" } else { "?" }));
    }
    code.line("};");
}

pub fn param_members(params: &[Param], prefix: &str) -> Vec<(String, String, bool)> {
    params.iter().map(|p| (p.name.to_string(), ts_type(&p.ty, prefix), p.required)).collect()
}

/// `/** … */` (one line) or a multi-line block.
pub fn doc(code: &mut Code, indent: &str, lines: &[String]) {
    match lines {
        [] => {}
        [one] => code.line(format!("{indent}/** {one} */")),
        many => {
            code.line(format!("{indent}/**"));
            for l in many {
                code.line(format!("{indent} * {l}"));
            }
            code.line(format!("{indent} */"));
        }
    }
}

/// The generated-file header as `//` comments.
pub fn header(code: &mut Code, api: &Api) {
    code.lines("// ", crate::header_lines(api));
}

/// Whether every param is optional (the params argument can default to `{}`).
pub fn all_optional(params: &[Param]) -> bool {
    params.iter().all(|p| !p.required)
}

/// Claim the names stage 1 declares (also checked by the framework files, which import them).
pub fn claim_stage1(names: &mut Names, api: &Api) {
    for t in &api.types {
        names.claim(&t.name, format!("the type `{}`", t.name));
    }
    for e in &api.enums {
        names.claim(&e.name, format!("the enum `{}`", e.name));
    }
    for c in &api.contexts {
        names.claim(&format!("{}Params", c.pascal), format!("the params of context `{}`", c.name));
        names.claim(&format!("{}Bundle", c.pascal), format!("the bundle of context `{}`", c.name));
        names.claim(&format!("fetch{}", c.pascal), format!("the fetch of context `{}`", c.name));
    }
    for f in &api.calls {
        names.claim(&format!("{}Args", f.pascal), format!("the args of function `{}`", f.function.name));
        names.claim(&format!("{}Result", f.pascal), format!("the result of function `{}`", f.function.name));
        names.claim(&format!("call{}", f.pascal), format!("the call of function `{}`", f.function.name));
    }
    for fixed in ["CallOptions", "setDefaultClient", "getDefaultClient", "defaultClient"] {
        names.claim(fixed, "a name of the stage 1 module");
    }
}

/// The start of a framework file: the header, its imports, then stage 1 as `api`.
pub fn framework_preamble(code: &mut Code, api: &Api, imports: &[&str]) {
    header(code, api);
    code.lines("", imports);
    code.line("import type { DehydratedState, MizanClient, MutationOptions } from '@mizan/kernel-wasm/client';");
    code.line(format!("import * as api from '{STAGE1_IMPORT}';"));
}

/// `export type {name}<A, R> = …`: an adapter's mutation object with `mutate`/`mutateAsync`
/// taking the typed arguments (the adapter's own take any JSON object).
pub fn typed_mutation(code: &mut Code, name: &str, base: &str) {
    code.blank();
    code.line("/** A mutation's state and actions, with typed arguments and result. */");
    code.line(format!("export type {name}<A, R> = Omit<{base}<R>, 'mutate' | 'mutateAsync'> & {{"));
    code.line("  mutate(args: A, options?: MutationOptions<R>): Promise<R | undefined>;");
    code.line("  mutateAsync(args: A, options?: MutationOptions<R>): Promise<R>;");
    code.line("};");
}

/// Doc lines of a context's hook.
pub fn context_doc(c: &ContextApi) -> Vec<String> {
    let members: Vec<&str> = c.members.iter().map(|f| f.name.as_str()).collect();
    vec![format!("Context `{}`: {}.", c.name, members.join(", "))]
}

/// Doc lines of a mutation's hook.
pub fn call_doc(f: &CallApi) -> Vec<String> {
    let mut lines = vec![format!("Calls `{}`.", f.function.name)];
    lines.extend(effects_note(f.function).map(|n| format!("On success it {n}.")));
    lines.extend(auth_note(f.function).map(|n| format!("Allowed for {n}.")));
    lines
}

/// The names every framework file declares per context and per call.
pub fn claim_hooks(names: &mut Names, api: &Api) {
    for c in &api.contexts {
        names.claim(&format!("use{}", c.pascal), format!("the hook of context `{}`", c.name));
    }
    for f in &api.calls {
        names.claim(&format!("use{}Mutation", f.pascal), format!("the hook of function `{}`", f.function.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        let t = TypeRef::parse("list<optional<map<Item>>>").unwrap();
        assert_eq!(ts_type(&t, "api."), "({ [key: string]: api.Item } | null)[]");
        assert_eq!(ts_type(&TypeRef::parse("optional<null>").unwrap(), ""), "null");
        assert_eq!(ts_type(&TypeRef::Upload, ""), "Json");
        assert_eq!(prop("user_id"), "user_id");
        assert_eq!(prop("été"), "'été'");
        assert_eq!(quote("it's\n"), "'it\\'s\\n'");
    }
}
