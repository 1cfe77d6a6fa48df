//! The registry's data model (KERNEL.md §3): functions, contexts, named object types and named
//! string enums.
//! Both concrete syntaxes (KDL in `kdl/`, JSON in `json.rs`) read into and write out of this.

use crate::canon::{sort_by_utf16, sort_utf16};
use std::collections::BTreeMap;

/// A type in the IR. `Named` refers to an object type declared in `Registry::types` or a string
/// enum declared in `Registry::enums` (the graph check keeps the two name spaces apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    String,
    Integer,
    Number,
    Boolean,
    Null,
    Any,
    Upload,
    List(Box<TypeRef>),
    Optional(Box<TypeRef>),
    Map(Box<TypeRef>),
    Named(String),
}

/// Who may call a function. `Predicate` names a check the host implements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    Required,
    Staff,
    Superuser,
    Predicate(String),
}

/// A function's `cache=` hint. Absent means "cache, bounded by the host's safety TTL".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSetting {
    Never,
    Ttl(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub name: String,
    pub ty: TypeRef,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: TypeRef,
    pub required: bool,
}

/// A named object type. `key` is the field merges upsert list items by (`id` when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectType {
    pub name: String,
    pub fields: Vec<Field>,
    pub key: Option<String>,
}

/// A named string enum (IR version 2): a value of this type is one of `values`, which keep their
/// declaration order (generated code lists them in that order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumType {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// The context this function is a member of (a read), if any.
    pub context: Option<String>,
    pub inputs: Vec<Input>,
    pub output: TypeRef,
    /// Context and/or function names this mutation invalidates, in declaration order.
    pub affects: Vec<String>,
    /// Context names whose slots receive this mutation's result.
    pub merge: Vec<String>,
    pub auth: Auth,
    /// Not client-callable; still part of the invalidation graph.
    pub private: bool,
    /// Mizan-owned URL pattern for a view-path function.
    pub route: Option<String>,
    pub methods: Vec<String>,
    /// Returns a rendered response (view path) rather than data (rpc path).
    pub view: bool,
    pub websocket: bool,
    pub rev: u64,
    pub cache: Option<CacheSetting>,
    /// Form role (`schema`, `validate`, `submit`) and form name, for form functions.
    pub form: Option<String>,
    pub form_name: Option<String>,
}

impl Function {
    /// A function with just a name and an output type; everything else at its default.
    pub fn new(name: impl Into<String>, output: TypeRef) -> Self {
        Function {
            name: name.into(),
            context: None,
            inputs: Vec::new(),
            output,
            affects: Vec::new(),
            merge: Vec::new(),
            auth: Auth::None,
            private: false,
            route: None,
            methods: Vec::new(),
            view: false,
            websocket: false,
            rev: 0,
            cache: None,
            form: None,
            form_name: None,
        }
    }

    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    pub name: String,
    /// Data identical for every caller: origin-cache entries are not keyed by user.
    pub shared: bool,
    /// Member function names, sorted in UTF-16 order. Derived from the functions' `context`.
    pub members: Vec<String>,
}

/// Functions, contexts, types and enums. Build it with [`Registry::build`] (or a parser), which derives
/// context membership and runs the graph check, so a `Registry` in hand is always consistent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Registry {
    pub functions: BTreeMap<String, Function>,
    pub contexts: BTreeMap<String, Context>,
    pub types: BTreeMap<String, ObjectType>,
    pub enums: BTreeMap<String, EnumType>,
}

/// The params that make a context user-scoped (manifest `user_scoped`, tier-2 identity binding).
pub const USER_SCOPED_PARAMS: [&str; 4] = ["user_id", "user", "owner_id", "account_id"];

impl Registry {
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.get(name)
    }

    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.get(name)
    }

    /// Member functions of a context, in UTF-16 name order.
    pub fn members<'a>(&'a self, context: &str) -> impl Iterator<Item = &'a Function> + 'a {
        self.contexts
            .get(context)
            .map(|c| c.members.as_slice())
            .unwrap_or(&[])
            .iter()
            .filter_map(|name| self.functions.get(name))
    }

    /// `declared(C)`: the union of the input names of every function in the context, sorted.
    pub fn declared_params(&self, context: &str) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for f in self.members(context) {
            for i in &f.inputs {
                if !names.contains(&i.name) {
                    names.push(i.name.clone());
                }
            }
        }
        sort_utf16(&mut names);
        names
    }

    /// Whether a context has one of the user-scoped params among its declared params.
    pub fn is_user_scoped(&self, context: &str) -> bool {
        self.declared_params(context).iter().any(|p| USER_SCOPED_PARAMS.contains(&p.as_str()))
    }

    /// Functions sorted by name in UTF-16 order (the canonical order of every emitted list).
    pub fn functions_sorted(&self) -> Vec<&Function> {
        let mut v: Vec<&Function> = self.functions.values().collect();
        sort_by_utf16(&mut v, |x| x.name.as_str());
        v
    }

    pub fn contexts_sorted(&self) -> Vec<&Context> {
        let mut v: Vec<&Context> = self.contexts.values().collect();
        sort_by_utf16(&mut v, |x| x.name.as_str());
        v
    }

    pub fn types_sorted(&self) -> Vec<&ObjectType> {
        let mut v: Vec<&ObjectType> = self.types.values().collect();
        sort_by_utf16(&mut v, |x| x.name.as_str());
        v
    }

    pub fn enums_sorted(&self) -> Vec<&EnumType> {
        let mut v: Vec<&EnumType> = self.enums.values().collect();
        sort_by_utf16(&mut v, |x| x.name.as_str());
        v
    }

    /// The lowest IR version that expresses this registry (docs/IR.md, "Versioning"): 2 when it
    /// declares an enum, else 1 — so a registry without enums emits exactly what it always did.
    pub fn ir_version(&self) -> u64 {
        if self.enums.is_empty() { 1 } else { 2 }
    }
}

impl TypeRef {
    /// The IR spelling: `string`, `list<T>`, `optional<T>`, `map<T>`, or a type name.
    pub fn spelling(&self) -> String {
        match self {
            TypeRef::String => "string".into(),
            TypeRef::Integer => "integer".into(),
            TypeRef::Number => "number".into(),
            TypeRef::Boolean => "boolean".into(),
            TypeRef::Null => "null".into(),
            TypeRef::Any => "any".into(),
            TypeRef::Upload => "upload".into(),
            TypeRef::List(t) => format!("list<{}>", t.spelling()),
            TypeRef::Optional(t) => format!("optional<{}>", t.spelling()),
            TypeRef::Map(t) => format!("map<{}>", t.spelling()),
            TypeRef::Named(n) => n.clone(),
        }
    }

    /// Parse the IR spelling. Nesting is bounded so adversarial input cannot exhaust the stack.
    pub fn parse(text: &str) -> Result<TypeRef, String> {
        Self::parse_depth(text.trim(), 0)
    }

    fn parse_depth(text: &str, depth: usize) -> Result<TypeRef, String> {
        const MAX_DEPTH: usize = 32;
        if depth > MAX_DEPTH {
            return Err(format!("type nests deeper than {MAX_DEPTH} levels"));
        }
        let generic = |prefix: &str| -> Option<&str> {
            text.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('<')).and_then(|rest| rest.strip_suffix('>'))
        };
        if let Some(inner) = generic("list") {
            return Ok(TypeRef::List(Box::new(Self::parse_depth(inner.trim(), depth + 1)?)));
        }
        if let Some(inner) = generic("optional") {
            return Ok(TypeRef::Optional(Box::new(Self::parse_depth(inner.trim(), depth + 1)?)));
        }
        if let Some(inner) = generic("map") {
            return Ok(TypeRef::Map(Box::new(Self::parse_depth(inner.trim(), depth + 1)?)));
        }
        Ok(match text {
            "string" => TypeRef::String,
            "integer" => TypeRef::Integer,
            "number" => TypeRef::Number,
            "boolean" => TypeRef::Boolean,
            "null" => TypeRef::Null,
            "any" => TypeRef::Any,
            "upload" => TypeRef::Upload,
            name if is_identifier(name) => TypeRef::Named(name.to_string()),
            other => return Err(format!("`{other}` is not a type")),
        })
    }

    /// Named types this type refers to, at any depth.
    pub fn named(&self) -> Option<&str> {
        match self {
            TypeRef::List(t) | TypeRef::Optional(t) | TypeRef::Map(t) => t.named(),
            TypeRef::Named(n) => Some(n),
            _ => None,
        }
    }
}

/// Names of functions, contexts, types, fields and inputs: a letter or `_`, then letters, digits
/// or `_` (Unicode, as in Python and JavaScript identifiers), at most 128 bytes.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}
