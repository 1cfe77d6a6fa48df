//! The canonical KDL IR (KERNEL.md §3; the rules are in `docs/IR.md`).
//!
//! `mizan-ir version=N` (the lowest version that expresses the registry: 1 without enums), then
//! every context, every function, every type and every enum, each sorted by name in UTF-16 order
//! and separated by one blank line; a fixed property order; only non-default values; children
//! indented four spaces; exactly one newline at the end. The output depends on the registry
//! alone, so emitting twice is byte-identical, and `Registry::from_kdl` reads it back into an
//! equal registry.

use super::model::*;
use std::fmt::Write;

const INDENT: &str = "    ";

impl Registry {
    /// The registry as canonical KDL IR text.
    pub fn to_kdl(&self) -> String {
        let mut out = format!("mizan-ir version={}\n", self.ir_version());
        for c in self.contexts_sorted() {
            out.push('\n');
            emit_context(&mut out, c);
        }
        for f in self.functions_sorted() {
            out.push('\n');
            emit_function(&mut out, f);
        }
        for t in self.types_sorted() {
            out.push('\n');
            emit_type(&mut out, t);
        }
        for e in self.enums_sorted() {
            out.push('\n');
            emit_enum(&mut out, e);
        }
        out
    }
}

fn emit_context(out: &mut String, c: &Context) {
    out.push_str("context ");
    out.push_str(&value(&c.name));
    if c.shared {
        out.push_str(" shared=#true");
    }
    let mut members: Vec<&String> = c.members.iter().collect();
    crate::canon::sort_by_utf16(&mut members, |m| m.as_str());
    let lines: Vec<String> = members.iter().map(|m| format!("member {}", value(m))).collect();
    block(out, &lines);
}

fn emit_function(out: &mut String, f: &Function) {
    out.push_str("function ");
    out.push_str(&value(&f.name));
    if let Some(context) = &f.context {
        prop(out, "context", &value(context));
    }
    prop(out, "output", &value(&f.output.spelling()));
    match &f.auth {
        Auth::None => {}
        Auth::Required => prop(out, "auth", "required"),
        Auth::Staff => prop(out, "auth", "staff"),
        Auth::Superuser => prop(out, "auth", "superuser"),
        Auth::Predicate(p) => prop(out, "auth", &value(&format!("predicate:{p}"))),
    }
    for (key, on) in [("private", f.private), ("view", f.view), ("websocket", f.websocket)] {
        if on {
            prop(out, key, "#true");
        }
    }
    if f.rev != 0 {
        prop(out, "rev", &f.rev.to_string());
    }
    match f.cache {
        None => {}
        Some(CacheSetting::Never) => prop(out, "cache", "#false"),
        Some(CacheSetting::Ttl(ttl)) => prop(out, "cache", &ttl.to_string()),
    }
    if let Some(route) = &f.route {
        prop(out, "route", &value(route));
    }

    let mut lines: Vec<String> = f.inputs.iter().map(|i| typed("input", &i.name, &i.ty, i.required)).collect();
    for (node, list) in [("affects", &f.affects), ("merge", &f.merge), ("methods", &f.methods)] {
        if !list.is_empty() {
            let args: Vec<String> = list.iter().map(|v| value(v)).collect();
            lines.push(format!("{node} {}", args.join(" ")));
        }
    }
    if f.form.is_some() || f.form_name.is_some() {
        let mut line = String::from("form");
        if let Some(role) = &f.form {
            prop(&mut line, "role", &value(role));
        }
        if let Some(name) = &f.form_name {
            prop(&mut line, "name", &value(name));
        }
        lines.push(line);
    }
    block(out, &lines);
}

fn emit_type(out: &mut String, t: &ObjectType) {
    out.push_str("type ");
    out.push_str(&value(&t.name));
    if let Some(key) = &t.key {
        prop(out, "key", &value(key));
    }
    let lines: Vec<String> = t.fields.iter().map(|f| typed("field", &f.name, &f.ty, f.required)).collect();
    block(out, &lines);
}

/// `enum NAME { value V … }`: one `value` node per value, in declaration order.
fn emit_enum(out: &mut String, e: &EnumType) {
    out.push_str("enum ");
    out.push_str(&value(&e.name));
    let lines: Vec<String> = e.values.iter().map(|v| format!("value {}", value(v))).collect();
    block(out, &lines);
}

/// `input|field NAME type=T`, with `required=` only where it differs from the default
/// (required unless the type is `optional<…>`).
fn typed(node: &str, name: &str, ty: &TypeRef, required: bool) -> String {
    let mut line = format!("{node} {}", value(name));
    prop(&mut line, "type", &value(&ty.spelling()));
    match (required, matches!(ty, TypeRef::Optional(_))) {
        (false, false) => prop(&mut line, "required", "#false"),
        (true, true) => prop(&mut line, "required", "#true"),
        _ => {}
    }
    line
}

fn prop(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, " {key}={value}");
}

/// ` {` + indented child lines + `}` when there are children; then the node's newline.
fn block(out: &mut String, lines: &[String]) {
    if !lines.is_empty() {
        out.push_str(" {\n");
        for line in lines {
            out.push_str(INDENT);
            out.push_str(line);
            out.push('\n');
        }
        out.push('}');
    }
    out.push('\n');
}

/// A string value: bare when it is a plain identifier that KDL v2 reads back as the same
/// string, quoted (with escapes) otherwise.
fn value(s: &str) -> String {
    if is_bare(s) { s.to_string() } else { quoted(s) }
}

/// A letter or `_`, then letters, digits or `_` — and not one of the words KDL v2 reserves.
fn is_bare(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && !matches!(s, "true" | "false" | "null" | "inf" | "nan")
}

/// A KDL v2 quoted string. Characters KDL forbids or would read differently (controls,
/// newlines, direction marks, BOM) are escaped; everything else is written as is (UTF-8).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{200E}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
                ) =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
