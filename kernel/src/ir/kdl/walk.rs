//! The IR walk: KDL nodes (from `syntax.rs`) into the registry model, one method per IR node
//! (`mizan-ir`, `context`, `function`, `type`, `enum` and their children). Here live the IR's
//! rules on properties and children — which properties a node takes, their value kinds, no
//! duplicates, no type annotations — and the messages that explain a refusal, each pointing at
//! the line and column of the offending node or entry. The walk stops at the first problem.

use super::syntax::{self, Entry, Node, Value};
use super::IR_VERSION;
use crate::error::{Error, ErrorCode, Result};
use crate::ir::build::ContextDecl;
use crate::ir::model::*;
use serde_json::json;
use std::fmt::Display;

/// The version that brought `enum` nodes.
const ENUMS_SINCE: u64 = 2;

const FUNCTION_PROPS: [&str; 9] = ["context", "output", "auth", "private", "view", "websocket", "rev", "cache", "route"];
const FORM_ROLES: [&str; 3] = ["schema", "validate", "submit"];

/// The text being parsed, for turning byte offsets into line and column.
pub(super) struct Source<'a> {
    pub(super) text: &'a str,
}

/// A node's entries, split into positional arguments and (unique, known) properties.
struct Parts<'n> {
    node: &'n Node,
    args: Vec<&'n Entry>,
    props: Vec<(&'n str, &'n Entry)>,
}

impl<'n> Parts<'n> {
    fn prop(&self, key: &str) -> Option<&'n Entry> {
        self.props.iter().find(|(k, _)| *k == key).map(|(_, e)| *e)
    }
}

/// A value's kind alone (for error messages).
fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Bool(_) => "a boolean",
        Value::Null => "#null",
    }
}

/// A value's kind, with the value itself when it is short (for error messages).
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() <= 40 => format!("the string \"{s}\""),
        Value::Integer(v) => format!("the integer {v}"),
        Value::Float(v) => format!("the float {v}"),
        Value::Bool(b) => format!("#{b}"),
        other => kind(other).to_string(),
    }
}

fn children(node: &Node) -> &[Node] {
    node.children.as_deref().unwrap_or(&[])
}

impl Source<'_> {
    /// The whole document: the `mizan-ir` header, then `context`, `function`, `type` and (from
    /// version 2) `enum` nodes, handed to [`Registry::build`] for the name and graph checks.
    pub(super) fn document(&self, nodes: &[Node]) -> Result<Registry> {
        let mut nodes = nodes.iter();
        let version = match nodes.next() {
            Some(header) => self.header(header)?,
            None => return Err(self.error(0, "the IR is empty: it must start with `mizan-ir version=1`")),
        };
        let mut functions = Vec::new();
        let mut contexts = Vec::new();
        let mut types = Vec::new();
        let mut enums = Vec::new();
        for node in nodes {
            match node.name.as_str() {
                "context" => contexts.push(self.context(node)?),
                "function" => functions.push(self.function(node)?),
                "type" => types.push(self.object_type(node)?),
                "enum" if version < ENUMS_SINCE => {
                    return Err(self.at_node(
                        node,
                        format!("`enum` needs `mizan-ir version={ENUMS_SINCE}` (this document is version {version})"),
                    ));
                }
                "enum" => enums.push(self.enum_type(node)?),
                "mizan-ir" => {
                    return Err(self.at_node(node, "`mizan-ir` may appear only once, as the first node"));
                }
                other => {
                    let expected = if version < ENUMS_SINCE { "`context`, `function` or `type`" } else { "`context`, `function`, `type` or `enum`" };
                    return Err(self.at_node(node, format!("unknown node `{other}`: expected {expected}")));
                }
            }
        }
        Registry::build_with_enums(functions, contexts, types, enums)
    }

    /// The error every problem becomes: `InvalidIr`, its message led by the line and column of
    /// `offset`, which `details` also carries for tools that point at the text.
    pub(super) fn error(&self, offset: usize, message: impl Display) -> Error {
        let (line, column) = syntax::line_col(self.text, offset);
        Error::new(ErrorCode::InvalidIr, format!("line {line}, column {column}: {message}"))
            .with_details(json!({ "line": line, "column": column }))
    }

    fn at_node(&self, node: &Node, message: impl Display) -> Error {
        self.error(node.pos, message)
    }

    fn at_entry(&self, entry: &Entry, message: impl Display) -> Error {
        self.error(entry.pos, message)
    }

    /// The first node, `mizan-ir version=N`: the document's version.
    fn header(&self, node: &Node) -> Result<u64> {
        if node.name.as_str() != "mizan-ir" {
            return Err(self.at_node(node, "the first node must be `mizan-ir version=1`"));
        }
        let parts = self.parts(node, &["version"])?;
        if let Some(extra) = parts.args.first() {
            return Err(self.at_entry(extra, "`mizan-ir` takes no arguments, only version=1"));
        }
        self.no_children(node)?;
        let Some(entry) = parts.prop("version") else {
            return Err(self.at_node(node, "`mizan-ir` needs version=1"));
        };
        match &entry.value {
            Value::Integer(v) => match u64::try_from(*v) {
                Ok(v) if (1..=IR_VERSION).contains(&v) => Ok(v),
                _ => Err(self.at_entry(
                    entry,
                    format!("unsupported IR version {v}: this kernel reads versions 1 to {IR_VERSION}"),
                )),
            },
            other => Err(self.at_entry(entry, format!("version must be an integer (version=1), not {}", kind(other)))),
        }
    }

    /// `context NAME [shared=bool] { member NAME… }`
    fn context(&self, node: &Node) -> Result<ContextDecl> {
        let parts = self.parts(node, &["shared"])?;
        let name = self.name_arg(&parts, "context")?;
        let shared = self.opt_bool(&parts, "shared")?.unwrap_or(false);
        let mut members: Option<Vec<String>> = None;
        for child in children(node) {
            match child.name.as_str() {
                "member" => {
                    let p = self.parts(child, &[])?;
                    self.no_children(child)?;
                    members.get_or_insert_with(Vec::new).extend(self.string_args(&p, "member")?);
                }
                other => {
                    return Err(self.at_node(
                        child,
                        format!("unknown node `{other}` in context `{name}`: expected `member`"),
                    ));
                }
            }
        }
        Ok(ContextDecl { name, shared, members })
    }

    /// `function NAME props… { input… affects… merge… methods… form }`
    fn function(&self, node: &Node) -> Result<Function> {
        let parts = self.parts(node, &FUNCTION_PROPS)?;
        let name = self.name_arg(&parts, "function")?;
        let output = match parts.prop("output") {
            Some(entry) => self.type_of(entry)?,
            None => return Err(self.at_node(node, format!("function `{name}` needs output=TYPE"))),
        };
        let mut f = Function::new(name, output);
        if let Some(entry) = parts.prop("context") {
            let context = self.string(entry, "context")?;
            if !is_identifier(&context) {
                return Err(self.at_entry(entry, format!("context=`{context}` is not an identifier")));
            }
            f.context = Some(context);
        }
        if let Some(entry) = parts.prop("auth") {
            f.auth = self.auth(entry)?;
        }
        f.private = self.opt_bool(&parts, "private")?.unwrap_or(false);
        f.view = self.opt_bool(&parts, "view")?.unwrap_or(false);
        f.websocket = self.opt_bool(&parts, "websocket")?.unwrap_or(false);
        if let Some(entry) = parts.prop("rev") {
            f.rev = self.non_negative(entry, "rev")?;
        }
        if let Some(entry) = parts.prop("cache") {
            f.cache = Some(match &entry.value {
                Value::Bool(false) => CacheSetting::Never,
                Value::Integer(_) => CacheSetting::Ttl(self.non_negative(entry, "cache")?),
                other => {
                    return Err(self.at_entry(
                        entry,
                        format!("cache must be #false or a TTL in seconds (a non-negative integer), not {}", describe(other)),
                    ));
                }
            });
        }
        if let Some(entry) = parts.prop("route") {
            f.route = Some(self.string(entry, "route")?);
        }
        for child in children(node) {
            match child.name.as_str() {
                "input" => {
                    let (name, ty, required) = self.typed(child, "input")?;
                    f.inputs.push(Input { name, ty, required });
                }
                "affects" | "merge" | "methods" => {
                    let what = child.name.as_str();
                    let p = self.parts(child, &[])?;
                    self.no_children(child)?;
                    let values = self.string_args(&p, what)?;
                    match what {
                        "affects" => f.affects.extend(values),
                        "merge" => f.merge.extend(values),
                        _ => {
                            for (entry, method) in p.args.iter().zip(values) {
                                if !method.bytes().all(|b| b.is_ascii_uppercase()) || method.is_empty() {
                                    return Err(self.at_entry(
                                        entry,
                                        format!("`{method}` is not an HTTP method (uppercase letters, like POST)"),
                                    ));
                                }
                                f.methods.push(method);
                            }
                        }
                    }
                }
                "form" => {
                    if f.form.is_some() {
                        return Err(self.at_node(child, format!("function `{}` has more than one `form`", f.name)));
                    }
                    let p = self.parts(child, &["role", "name"])?;
                    if let Some(extra) = p.args.first() {
                        return Err(self.at_entry(extra, "`form` takes no arguments, only role= and name="));
                    }
                    self.no_children(child)?;
                    let Some(role_entry) = p.prop("role") else {
                        return Err(self.at_node(child, "`form` needs role=schema, role=validate or role=submit"));
                    };
                    let role = self.string(role_entry, "role")?;
                    if !FORM_ROLES.contains(&role.as_str()) {
                        return Err(self.at_entry(
                            role_entry,
                            format!("unknown form role `{role}`: expected schema, validate or submit"),
                        ));
                    }
                    f.form = Some(role);
                    if let Some(entry) = p.prop("name") {
                        f.form_name = Some(self.string(entry, "name")?);
                    }
                }
                other => {
                    return Err(self.at_node(
                        child,
                        format!(
                            "unknown node `{other}` in function `{}`: expected `input`, `affects`, `merge`, `methods` or `form`",
                            f.name
                        ),
                    ));
                }
            }
        }
        Ok(f)
    }

    /// `type NAME [key=FIELD] { field NAME type=T [required=bool]… }`
    fn object_type(&self, node: &Node) -> Result<ObjectType> {
        let parts = self.parts(node, &["key"])?;
        let name = self.name_arg(&parts, "type")?;
        let key = match parts.prop("key") {
            Some(entry) => Some(self.string(entry, "key")?),
            None => None,
        };
        let mut fields = Vec::new();
        for child in children(node) {
            match child.name.as_str() {
                "field" => {
                    let (name, ty, required) = self.typed(child, "field")?;
                    fields.push(Field { name, ty, required });
                }
                other => {
                    return Err(self.at_node(child, format!("unknown node `{other}` in type `{name}`: expected `field`")));
                }
            }
        }
        Ok(ObjectType { name, fields, key })
    }

    /// `enum NAME { value V… }` (version 2). Whether it has values, and no value twice, is the
    /// graph check's job (the JSON form goes through it too).
    fn enum_type(&self, node: &Node) -> Result<EnumType> {
        let parts = self.parts(node, &[])?;
        let name = self.name_arg(&parts, "enum")?;
        let mut values = Vec::new();
        for child in children(node) {
            match child.name.as_str() {
                "value" => {
                    let p = self.parts(child, &[])?;
                    self.no_children(child)?;
                    values.extend(self.string_args(&p, "value")?);
                }
                other => {
                    return Err(self.at_node(child, format!("unknown node `{other}` in enum `{name}`: expected `value`")));
                }
            }
        }
        Ok(EnumType { name, values })
    }

    /// `input|field NAME type=T [required=bool]`; `required` defaults to "not `optional<…>`".
    fn typed(&self, node: &Node, what: &str) -> Result<(String, TypeRef, bool)> {
        let parts = self.parts(node, &["type", "required"])?;
        let name = self.name_arg(&parts, what)?;
        self.no_children(node)?;
        let ty = match parts.prop("type") {
            Some(entry) => self.type_of(entry)?,
            None => return Err(self.at_node(node, format!("{what} `{name}` needs type=TYPE"))),
        };
        let required = self.opt_bool(&parts, "required")?.unwrap_or(!matches!(ty, TypeRef::Optional(_)));
        Ok((name, ty, required))
    }

    /// Split a node's entries, refusing type annotations, unknown and repeated properties.
    fn parts<'n>(&self, node: &'n Node, allowed: &[&str]) -> Result<Parts<'n>> {
        let what = node.name.as_str();
        if node.ty.is_some() {
            return Err(self.at_node(node, format!("`{what}`: type annotations are not part of the IR")));
        }
        let mut parts = Parts { node, args: Vec::new(), props: Vec::new() };
        for entry in &node.entries {
            if entry.ty.is_some() {
                return Err(self.at_entry(entry, format!("`{what}`: type annotations are not part of the IR")));
            }
            match entry.key.as_deref() {
                None => parts.args.push(entry),
                Some(key) => {
                    if !allowed.contains(&key) {
                        let expected = if allowed.is_empty() {
                            "it takes no properties".to_string()
                        } else {
                            format!("expected {}", allowed.join(", "))
                        };
                        return Err(self.at_entry(entry, format!("unknown property `{key}` on `{what}`: {expected}")));
                    }
                    if parts.prop(key).is_some() {
                        return Err(self.at_entry(entry, format!("duplicate property `{key}` on `{what}`")));
                    }
                    parts.props.push((key, entry));
                }
            }
        }
        Ok(parts)
    }

    /// The single positional argument naming a context, function, type, input or field.
    fn name_arg(&self, parts: &Parts<'_>, what: &str) -> Result<String> {
        let mut args = parts.args.iter();
        let Some(first) = args.next() else {
            return Err(self.at_node(parts.node, format!("`{what}` needs a name")));
        };
        let name = self.string(first, &format!("the {what} name"))?;
        if let Some(extra) = args.next() {
            return Err(self.at_entry(extra, format!("unexpected argument after the {what} name `{name}`")));
        }
        Ok(name)
    }

    /// One or more string arguments (`affects`, `merge`, `methods`, `member`, `value`).
    fn string_args(&self, parts: &Parts<'_>, what: &str) -> Result<Vec<String>> {
        if parts.args.is_empty() {
            return Err(self.at_node(parts.node, format!("`{what}` needs at least one name")));
        }
        parts.args.iter().map(|e| self.string(e, what)).collect()
    }

    fn no_children(&self, node: &Node) -> Result<()> {
        if node.children.is_some() {
            return Err(self.at_node(node, format!("`{}` takes no children block", node.name.as_str())));
        }
        Ok(())
    }

    fn string(&self, entry: &Entry, what: &str) -> Result<String> {
        match &entry.value {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.at_entry(entry, format!("{what} must be a string, not {}", describe(other)))),
        }
    }

    fn opt_bool(&self, parts: &Parts<'_>, key: &str) -> Result<Option<bool>> {
        match parts.prop(key) {
            None => Ok(None),
            Some(entry) => match &entry.value {
                Value::Bool(b) => Ok(Some(*b)),
                other => Err(self.at_entry(entry, format!("{key} must be #true or #false, not {}", describe(other)))),
            },
        }
    }

    fn non_negative(&self, entry: &Entry, what: &str) -> Result<u64> {
        match &entry.value {
            Value::Integer(v) => u64::try_from(*v)
                .map_err(|_| self.at_entry(entry, format!("{what} must be a non-negative integer below 2^64, not {v}"))),
            other => Err(self.at_entry(entry, format!("{what} must be a non-negative integer, not {}", describe(other)))),
        }
    }

    fn type_of(&self, entry: &Entry) -> Result<TypeRef> {
        let what = entry.key.as_deref().unwrap_or("type");
        let text = self.string(entry, what)?;
        TypeRef::parse(&text).map_err(|e| self.at_entry(entry, format!("{what}=\"{text}\": {e}")))
    }

    fn auth(&self, entry: &Entry) -> Result<Auth> {
        let text = self.string(entry, "auth")?;
        Ok(match text.as_str() {
            "required" => Auth::Required,
            "staff" => Auth::Staff,
            "superuser" => Auth::Superuser,
            other => match other.strip_prefix("predicate:") {
                Some(name) if !name.is_empty() => Auth::Predicate(name.to_string()),
                _ => {
                    return Err(self.at_entry(
                        entry,
                        format!("auth=\"{text}\": expected required, staff, superuser or \"predicate:NAME\""),
                    ));
                }
            },
        })
    }
}
