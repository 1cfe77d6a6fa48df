//! Building a registry: derive context membership and run the graph check (KERNEL.md §3).
//! Every parser ends here, so the same registry is rejected for the same reasons whatever
//! syntax it came in.

use super::model::*;
use crate::canon::{sort_by_utf16, sort_utf16};
use crate::error::{Error, ErrorCode, Result};
use serde_json::json;
use std::collections::BTreeMap;

/// A context as declared: its flags, and optionally the members it lists (which must then agree
/// with the functions' `context`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContextDecl {
    pub name: String,
    pub shared: bool,
    pub members: Option<Vec<String>>,
}

/// The roles a form function may have.
pub const FORM_ROLES: [&str; 3] = ["schema", "validate", "submit"];

/// The context whose members may not take required params (they are mounted with no arguments).
pub const GLOBAL_CONTEXT: &str = "global";

impl Registry {
    /// Assemble and check a registry without enums; see [`Registry::build_with_enums`].
    pub fn build(functions: Vec<Function>, contexts: Vec<ContextDecl>, types: Vec<ObjectType>) -> Result<Registry> {
        Self::build_with_enums(functions, contexts, types, Vec::new())
    }

    /// Assemble and check a registry. All problems are reported at once: the error's `details`
    /// is `{"problems": [..]}`.
    pub fn build_with_enums(
        functions: Vec<Function>,
        contexts: Vec<ContextDecl>,
        types: Vec<ObjectType>,
        enums: Vec<EnumType>,
    ) -> Result<Registry> {
        let mut problems: Vec<String> = Vec::new();
        let mut reg = Registry::default();

        for e in enums {
            if !is_identifier(&e.name) {
                problems.push(format!("enum name `{}` is not an identifier", e.name));
            }
            if e.values.is_empty() {
                problems.push(format!("enum `{}` has no values; it needs at least one", e.name));
            }
            for (i, v) in e.values.iter().enumerate() {
                if e.values[..i].contains(v) {
                    problems.push(format!("enum `{}` has the value \"{v}\" twice", e.name));
                }
            }
            if reg.enums.contains_key(&e.name) {
                problems.push(format!("duplicate enum `{}`", e.name));
            }
            reg.enums.insert(e.name.clone(), e);
        }

        for t in types {
            if !is_identifier(&t.name) {
                problems.push(format!("type name `{}` is not an identifier", t.name));
            }
            let mut seen: Vec<&str> = Vec::new();
            for f in &t.fields {
                if seen.contains(&f.name.as_str()) {
                    problems.push(format!("type `{}` has the field `{}` twice", t.name, f.name));
                }
                seen.push(&f.name);
            }
            if let Some(key) = &t.key
                && !t.fields.iter().any(|f| &f.name == key) {
                    problems.push(format!("type `{}` names the key field `{key}`, which it does not have", t.name));
                }
            if reg.types.contains_key(&t.name) {
                problems.push(format!("duplicate type `{}`", t.name));
            }
            if reg.enums.contains_key(&t.name) {
                problems.push(format!("`{}` names both a type and an enum", t.name));
            }
            let mut t = t;
            sort_by_utf16(&mut t.fields, |f| f.name.as_str());
            reg.types.insert(t.name.clone(), t);
        }

        for mut f in functions {
            if !is_identifier(&f.name) {
                problems.push(format!("function name `{}` is not an identifier", f.name));
            }
            if reg.functions.contains_key(&f.name) {
                problems.push(format!("duplicate function `{}`", f.name));
            }
            if let Some(c) = f.context.as_deref().filter(|c| !is_identifier(c)) {
                problems.push(format!("function `{}` names the context `{c}`, which is not an identifier", f.name));
            }
            for m in f.methods.iter().filter(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase())) {
                problems.push(format!("function `{}` has the method `{m}`; methods are upper-case letters", f.name));
            }
            match (&f.form, &f.form_name) {
                (Some(role), _) if !FORM_ROLES.contains(&role.as_str()) => {
                    problems.push(format!("function `{}` has the form role `{role}`; it must be schema, validate or submit", f.name));
                }
                (None, Some(_)) => problems.push(format!("function `{}` names a form without a form role", f.name)),
                _ => {}
            }
            let mut seen: Vec<&str> = Vec::new();
            for i in &f.inputs {
                if seen.contains(&i.name.as_str()) {
                    problems.push(format!("function `{}` has the input `{}` twice", f.name, i.name));
                }
                seen.push(&i.name);
            }
            sort_by_utf16(&mut f.inputs, |i| i.name.as_str());
            reg.functions.insert(f.name.clone(), f);
        }

        for c in &contexts {
            if !is_identifier(&c.name) {
                problems.push(format!("context name `{}` is not an identifier", c.name));
            }
            if reg.contexts.contains_key(&c.name) {
                problems.push(format!("duplicate context `{}`", c.name));
            }
            reg.contexts.insert(c.name.clone(), Context { name: c.name.clone(), shared: c.shared, members: vec![] });
        }
        // Membership comes from each function's `context`; a context only named there is implied.
        let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in reg.functions.values() {
            if let Some(c) = &f.context {
                members.entry(c.clone()).or_default().push(f.name.clone());
            }
        }
        for (c, mut names) in members {
            sort_utf16(&mut names);
            let ctx = reg.contexts.entry(c.clone()).or_insert_with(|| Context { name: c.clone(), ..Default::default() });
            ctx.members = names;
        }
        for c in &contexts {
            if let Some(listed) = &c.members {
                let mut listed = listed.clone();
                sort_utf16(&mut listed);
                let actual = reg.contexts.get(&c.name).map(|c| c.members.clone()).unwrap_or_default();
                if listed != actual {
                    problems.push(format!(
                        "context `{}` lists members [{}] but the functions naming it are [{}]",
                        c.name,
                        listed.join(", "),
                        actual.join(", ")
                    ));
                }
            }
        }

        problems.extend(reg.graph_problems());
        if problems.is_empty() {
            Ok(reg)
        } else {
            let message = if problems.len() == 1 {
                problems[0].clone()
            } else {
                format!("{} (and {} more problems)", problems[0], problems.len() - 1)
            };
            Err(Error::new(ErrorCode::InvalidRegistry, message).with_details(json!({ "problems": problems })))
        }
    }

    /// Whether `name` is a declared object type or enum (what a named type reference may name).
    fn declares_type(&self, name: &str) -> bool {
        self.types.contains_key(name) || self.enums.contains_key(name)
    }

    /// The graph rules: every reference resolves, and no function is both a read and a mutation.
    fn graph_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for name in self.contexts.keys() {
            if self.functions.contains_key(name) {
                problems.push(format!("`{name}` names both a context and a function"));
            }
        }
        for f in self.functions_sorted() {
            for target in &f.affects {
                if !self.contexts.contains_key(target) && !self.functions.contains_key(target) {
                    problems.push(format!("function `{}` affects `{target}`, which is no known context or function", f.name));
                } else if let Some(g) = self.functions.get(target)
                    && g.context.is_none() {
                        problems.push(format!(
                            "function `{}` affects the function `{target}`, which is not a context member",
                            f.name
                        ));
                    }
            }
            for target in &f.merge {
                if !self.contexts.contains_key(target) {
                    problems.push(format!("function `{}` merges into `{target}`, which is no known context", f.name));
                }
            }
            if f.context.is_some() && !f.affects.is_empty() {
                problems.push(format!("function `{}` is both a context member and declares affects", f.name));
            }
            let mut refs: Vec<&TypeRef> = f.inputs.iter().map(|i| &i.ty).collect();
            refs.push(&f.output);
            for ty in refs {
                if let Some(n) = ty.named().filter(|n| !self.declares_type(n)) {
                    problems.push(format!("function `{}` uses the unknown type `{n}`", f.name));
                }
            }
            if f.context.as_deref() == Some(GLOBAL_CONTEXT) {
                for i in f.inputs.iter().filter(|i| i.required) {
                    problems.push(format!(
                        "function `{}` is in the `global` context but requires the param `{}`",
                        f.name, i.name
                    ));
                }
            }
        }
        for t in self.types_sorted() {
            for field in &t.fields {
                if let Some(n) = field.ty.named().filter(|n| !self.declares_type(n)) {
                    problems.push(format!("type `{}` field `{}` uses the unknown type `{n}`", t.name, field.name));
                }
            }
        }
        for c in self.contexts_sorted() {
            let ws = self.members(&c.name).filter(|f| f.websocket).count();
            if ws > 0 && ws < c.members.len() {
                problems.push(format!("context `{}` mixes websocket and non-websocket members", c.name));
            }
        }
        problems
    }
}
