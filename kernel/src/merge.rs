//! Merges (KERNEL.md §6). Server side: route a mutation's result into the one context slot whose
//! type structurally matches it. Client side: apply a merge entry to a cached bundle. A merge
//! never fetches; an unresolvable merge is reported as a diagnostic, never dropped silently.

use crate::canon;
use crate::error::{Error, Result};
#[cfg(feature = "server")]
use crate::ir::{Registry, TypeRef};
use serde_json::{Map, Value, json};

/// The default field list items are upserted by.
pub const DEFAULT_KEY_FIELD: &str = "id";

#[derive(Debug, Clone, PartialEq)]
pub struct MergeEntry {
    pub context: String,
    pub slot: String,
    pub value: Value,
    pub params: Map<String, Value>,
    /// The key field for upserts into a list slot, when the IR names one other than `id`.
    pub key: Option<String>,
}

/// Why a merge target produced no entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// `merge-no-slot` or `merge-ambiguous-slot`.
    pub code: String,
    pub message: String,
    pub context: String,
    pub candidates: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergeResolution {
    pub merges: Vec<MergeEntry>,
    pub diagnostics: Vec<Diagnostic>,
}

impl MergeEntry {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("context".into(), json!(self.context));
        if let Some(k) = &self.key {
            m.insert("key".into(), json!(k));
        }
        if !self.params.is_empty() {
            m.insert("params".into(), Value::Object(self.params.clone()));
        }
        m.insert("slot".into(), json!(self.slot));
        m.insert("value".into(), self.value.clone());
        Value::Object(m)
    }

    pub fn from_json(value: &Value) -> Result<Self> {
        let m = value.as_object().ok_or_else(|| Error::invalid_json("a merge entry must be an object"))?;
        let text = |k: &str| -> Result<String> {
            m.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Error::invalid_json(format!("a merge entry needs a string \"{k}\"")))
        };
        Ok(MergeEntry {
            context: text("context")?,
            slot: text("slot")?,
            value: m.get("value").cloned().ok_or_else(|| Error::invalid_json("a merge entry needs a \"value\""))?,
            params: match m.get("params") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(p)) => p.clone(),
                Some(_) => return Err(Error::invalid_json("merge \"params\" must be an object")),
            },
            key: match m.get("key") {
                None | Some(Value::Null) => None,
                Some(Value::String(k)) => Some(k.clone()),
                Some(_) => return Err(Error::invalid_json("merge \"key\" must be a string")),
            },
        })
    }

    pub fn key_field(&self) -> &str {
        self.key.as_deref().unwrap_or(DEFAULT_KEY_FIELD)
    }
}

impl Diagnostic {
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message, "context": self.context, "candidates": self.candidates})
    }
}

impl MergeResolution {
    pub fn merges_json(&self) -> Value {
        Value::Array(self.merges.iter().map(MergeEntry::to_json).collect())
    }
}

#[cfg(feature = "server")]
impl Registry {
    /// Structural equality of two types: named object types compare by their fields and enums by
    /// their values, so two names for the same shape match. Bounded depth guards recursive types.
    pub fn types_equal(&self, a: &TypeRef, b: &TypeRef) -> bool {
        self.types_equal_depth(a, b, 0)
    }

    fn types_equal_depth(&self, a: &TypeRef, b: &TypeRef, depth: usize) -> bool {
        if depth > 16 {
            return a == b;
        }
        match (a, b) {
            (TypeRef::List(x), TypeRef::List(y))
            | (TypeRef::Optional(x), TypeRef::Optional(y))
            | (TypeRef::Map(x), TypeRef::Map(y)) => self.types_equal_depth(x, y, depth + 1),
            (TypeRef::Named(x), TypeRef::Named(y)) if x == y => true,
            (TypeRef::Named(x), TypeRef::Named(y)) => match (self.types.get(x), self.types.get(y)) {
                (Some(tx), Some(ty)) => {
                    tx.fields.len() == ty.fields.len()
                        && tx.fields.iter().zip(&ty.fields).all(|(fx, fy)| {
                            fx.name == fy.name
                                && fx.required == fy.required
                                && self.types_equal_depth(&fx.ty, &fy.ty, depth + 1)
                        })
                }
                _ => matches!((self.enums.get(x), self.enums.get(y)), (Some(ex), Some(ey)) if ex.values == ey.values),
            },
            _ => a == b,
        }
    }

    /// Does a slot of type `slot` accept a mutation result of type `result`? Equal types replace;
    /// a `list<T>` slot accepts a `T` (upsert); an `optional<T>` slot accepts a `T`. `any` matches
    /// nothing: it says nothing about the shape.
    fn slot_accepts(&self, slot: &TypeRef, result: &TypeRef) -> bool {
        if matches!(result, TypeRef::Any) || matches!(slot, TypeRef::Any) {
            return false;
        }
        match slot {
            TypeRef::List(inner) | TypeRef::Optional(inner) if self.types_equal(inner, result) => true,
            _ => self.types_equal(slot, result),
        }
    }

    /// The `merge` list of a successful call, plus a diagnostic per target that has no unique slot.
    pub fn resolve_merges(&self, function: &str, args: &Map<String, Value>, result: &Value) -> Result<MergeResolution> {
        let f = self
            .function(function)
            .ok_or_else(|| Error::not_found(format!("no function named `{function}`")))?;
        let mut out = MergeResolution::default();
        for context in &f.merge {
            let candidates: Vec<String> = self
                .members(context)
                .filter(|m| self.slot_accepts(&m.output, &f.output))
                .map(|m| m.name.clone())
                .collect();
            let [slot] = candidates.as_slice() else {
                let (code, why) = if candidates.is_empty() {
                    ("merge-no-slot", "no member of the context has a type matching".to_string())
                } else {
                    ("merge-ambiguous-slot", format!("{} members of the context match", candidates.len()))
                };
                out.diagnostics.push(Diagnostic {
                    code: code.into(),
                    message: format!(
                        "merge of `{function}` into `{context}` dropped: {why} the result type `{}`",
                        f.output.spelling()
                    ),
                    context: context.clone(),
                    candidates,
                });
                continue;
            };
            let declared = self.declared_params(context);
            let params: Map<String, Value> = declared
                .iter()
                .filter_map(|name| args.get(name).map(|v| (name.clone(), v.clone())))
                .collect();
            let key = f
                .output
                .named()
                .and_then(|n| self.types.get(n))
                .and_then(|t| t.key.clone())
                .filter(|k| k != DEFAULT_KEY_FIELD);
            out.merges.push(MergeEntry { context: context.clone(), slot: slot.clone(), value: result.clone(), params, key });
        }
        Ok(out)
    }
}

/// Apply a merge to one cached bundle (function name → value). Returns whether it changed.
/// An object slot is replaced; a list slot receiving an object upserts it by the key field
/// (replace in place, else append); a list slot receiving a list is replaced. A bundle without
/// the slot is left alone: a merge never invents data a fetch has not brought.
pub fn apply_merge(bundle: &mut Map<String, Value>, entry: &MergeEntry) -> Result<bool> {
    let Some(current) = bundle.get_mut(&entry.slot) else { return Ok(false) };
    match (current, &entry.value) {
        (Value::Array(items), Value::Object(obj)) => {
            let key = entry.key_field();
            let id = obj.get(key).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "cannot upsert into `{}`: the merged object has no key field `{key}`",
                    entry.slot
                ))
            })?;
            let id = canon::stringify(id);
            let position = items
                .iter()
                .position(|item| item.get(key).is_some_and(|v| canon::stringify(v) == id));
            match position.and_then(|i| items.get_mut(i)) {
                Some(existing) if existing == &entry.value => Ok(false),
                Some(existing) => {
                    *existing = entry.value.clone();
                    Ok(true)
                }
                None => {
                    items.push(entry.value.clone());
                    Ok(true)
                }
            }
        }
        (current, value) => {
            if current == value {
                return Ok(false);
            }
            *current = value.clone();
            Ok(true)
        }
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;

    fn registry() -> Registry {
        Registry::from_json(
            r#"{"functions":{
                "items_list":{"context":"items","output":"list<ItemOutput>"},
                "item_count":{"context":"items","output":"integer"},
                "featured":{"context":"items","output":"Item2"},
                "profile":{"context":"user","inputs":{"user_id":"integer"},"output":"Profile"},
                "profile_copy":{"context":"user","inputs":{"user_id":"integer"},"output":"Profile"},
                "set_item_name":{"inputs":{"id":"integer","name":"string"},"output":"ItemOutput","merge":["items"]},
                "set_profile":{"inputs":{"user_id":"integer"},"output":"Profile","merge":["user"]},
                "noop":{"output":"any","merge":["items"]}
            },
            "types":{"ItemOutput":{"id":"integer","name":"string"},
                     "Item2":{"fields":{"sku":"string"},"key":"sku"},
                     "Profile":{"name":"string"}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn list_slot_matches_element_type() {
        let r = registry();
        let args = json!({"id": 42, "name": "renamed"}).as_object().cloned().unwrap();
        let res = r.resolve_merges("set_item_name", &args, &json!({"id": 42, "name": "renamed"})).unwrap();
        assert_eq!(res.merges_json(), json!([{"context": "items", "slot": "items_list", "value": {"id": 42, "name": "renamed"}}]));
        assert!(res.diagnostics.is_empty());
    }

    #[test]
    fn enums_compare_by_their_values() {
        let r = Registry::from_json(r#"{"enums":{"A":["x","y"],"B":["x","y"],"C":["y","x"]},"types":{"T":{"x":"string"}}}"#).unwrap();
        let named = |n: &str| TypeRef::Named(n.into());
        assert!(r.types_equal(&named("A"), &named("B")));
        assert!(r.types_equal(&TypeRef::List(Box::new(named("A"))), &TypeRef::List(Box::new(named("B")))));
        assert!(!r.types_equal(&named("A"), &named("C")), "declaration order is part of an enum");
        assert!(!r.types_equal(&named("A"), &named("T")));
        assert!(!r.types_equal(&named("A"), &TypeRef::String));
    }

    #[test]
    fn ambiguity_and_no_match_are_diagnostics_not_silence() {
        // Seed defect: the seed promised a warning and logged nothing.
        let r = registry();
        let args = json!({"user_id": 5}).as_object().cloned().unwrap();
        let res = r.resolve_merges("set_profile", &args, &json!({"name": "x"})).unwrap();
        assert!(res.merges.is_empty());
        assert_eq!(res.diagnostics[0].code, "merge-ambiguous-slot");
        assert_eq!(res.diagnostics[0].candidates, vec!["profile", "profile_copy"]);
        let res = r.resolve_merges("noop", &Map::new(), &json!(null)).unwrap();
        assert_eq!(res.diagnostics[0].code, "merge-no-slot");
    }

    #[test]
    fn apply_replaces_upserts_and_appends() {
        let mut bundle = json!({"items_list": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "featured": {"sku": "x"}})
            .as_object()
            .cloned()
            .unwrap();
        let e = |slot: &str, value: Value| MergeEntry { context: "items".into(), slot: slot.into(), value, params: Map::new(), key: None };
        assert!(apply_merge(&mut bundle, &e("items_list", json!({"id": "2", "name": "B"}))).unwrap());
        assert!(apply_merge(&mut bundle, &e("items_list", json!({"id": 3, "name": "c"}))).unwrap());
        assert_eq!(bundle["items_list"], json!([{"id": 1, "name": "a"}, {"id": "2", "name": "B"}, {"id": 3, "name": "c"}]));
        assert!(!apply_merge(&mut bundle, &e("items_list", json!({"id": 3, "name": "c"}))).unwrap());
        assert!(apply_merge(&mut bundle, &e("featured", json!({"sku": "y"}))).unwrap());
        assert!(apply_merge(&mut bundle, &e("items_list", json!([]))).unwrap());
        assert_eq!(bundle["items_list"], json!([]));
        assert!(!apply_merge(&mut bundle, &e("absent", json!(1))).unwrap());
        bundle.insert("items_list".into(), json!([{"id": 1}]));
        assert!(apply_merge(&mut bundle, &e("items_list", json!({"name": "no id"}))).is_err());
    }
}
