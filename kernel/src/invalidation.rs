//! Invalidation resolution (KERNEL.md §4): which cached contexts a mutation's arguments touch.
//!
//! For each `affects` target, in declaration order, duplicates removed:
//! tier 1 binds the arguments whose names the target declares; tier 2 binds one user-scoped param
//! the target declares and tier 1 left unbound to the identity's subject; tier 3, nothing bound,
//! is the broad entry (the bare context name).

use crate::canon;
use crate::error::{Error, Result};
#[cfg(feature = "server")]
use crate::ir::{Registry, USER_SCOPED_PARAMS};
use serde_json::{Map, Value};

/// One invalidation: a whole context, or the instances of a context (or of one of its member
/// functions) whose params match.
#[derive(Debug, Clone, PartialEq)]
pub enum InvalidateEntry {
    /// Every instance of the context. On the wire: the bare string.
    Broad(String),
    /// On the wire: `{"context", "function"?, "params"?}`; `params` values as sent.
    Scoped { context: String, function: Option<String>, params: Map<String, Value> },
}

impl InvalidateEntry {
    /// A context-level entry; with no params it is the broad entry.
    pub fn scoped(context: impl Into<String>, params: Map<String, Value>) -> Self {
        let context = context.into();
        if params.is_empty() {
            InvalidateEntry::Broad(context)
        } else {
            InvalidateEntry::Scoped { context, function: None, params }
        }
    }

    pub fn context(&self) -> &str {
        match self {
            InvalidateEntry::Broad(c) => c,
            InvalidateEntry::Scoped { context, .. } => context,
        }
    }

    pub fn function(&self) -> Option<&str> {
        match self {
            InvalidateEntry::Broad(_) => None,
            InvalidateEntry::Scoped { function, .. } => function.as_deref(),
        }
    }

    pub fn params(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match self {
            InvalidateEntry::Broad(_) => EMPTY.get_or_init(Map::new),
            InvalidateEntry::Scoped { params, .. } => params,
        }
    }

    /// Whether this entry covers an instance of `context` with these params: every param of the
    /// entry equals (after stringify) the instance's param of that name, or the instance lacks it.
    pub fn matches(&self, context: &str, instance_params: &Map<String, Value>) -> bool {
        self.context() == context
            && self.params().iter().all(|(k, v)| match instance_params.get(k) {
                Some(iv) => canon::stringify(iv) == canon::stringify(v),
                None => true,
            })
    }

    pub fn to_json(&self) -> Value {
        match self {
            InvalidateEntry::Broad(c) => Value::String(c.clone()),
            InvalidateEntry::Scoped { context, function, params } => {
                let mut m = Map::new();
                m.insert("context".into(), Value::String(context.clone()));
                if let Some(f) = function {
                    m.insert("function".into(), Value::String(f.clone()));
                }
                if !params.is_empty() {
                    m.insert("params".into(), Value::Object(params.clone()));
                }
                Value::Object(m)
            }
        }
    }

    pub fn from_json(value: &Value) -> Result<Self> {
        match value {
            Value::String(c) if !c.is_empty() => Ok(InvalidateEntry::Broad(c.clone())),
            Value::Object(m) => {
                let context = m
                    .get("context")
                    .and_then(Value::as_str)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| Error::invalid_json("an invalidation entry needs a non-empty \"context\""))?;
                let function = match m.get("function") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(f)) if !f.is_empty() => Some(f.clone()),
                    Some(_) => return Err(Error::invalid_json("\"function\" must be a non-empty string")),
                };
                let params = match m.get("params") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(p)) => p.clone(),
                    Some(_) => return Err(Error::invalid_json("\"params\" must be an object")),
                };
                if let Some(key) = m.keys().find(|k| !matches!(k.as_str(), "context" | "function" | "params")) {
                    return Err(Error::invalid_json(format!("unknown key \"{key}\" in an invalidation entry")));
                }
                Ok(match function {
                    None => InvalidateEntry::scoped(context, params),
                    function => InvalidateEntry::Scoped { context: context.to_string(), function, params },
                })
            }
            _ => Err(Error::invalid_json("an invalidation entry is a context name or an object")),
        }
    }
}

/// Entries as the JSON list of the `invalidate` body field.
pub fn entries_to_json(entries: &[InvalidateEntry]) -> Value {
    Value::Array(entries.iter().map(InvalidateEntry::to_json).collect())
}

pub fn entries_from_json(value: &Value) -> Result<Vec<InvalidateEntry>> {
    match value {
        Value::Array(items) => items.iter().map(InvalidateEntry::from_json).collect(),
        other => Err(Error::invalid_json(format!(
            "invalidation entries must be a JSON array, got {}",
            canon::json_kind(other)
        ))),
    }
}

/// Tier 1 then tier 2 against a set of declared param names.
#[cfg(feature = "server")]
fn scope(declared: &[String], args: &Map<String, Value>, subject: Option<&str>) -> Map<String, Value> {
    let mut params = Map::new();
    for name in declared {
        if let Some(v) = args.get(name) {
            params.insert(name.clone(), v.clone());
        }
    }
    if let Some(subject) = subject {
        let unbound = USER_SCOPED_PARAMS
            .iter()
            .find(|p| declared.iter().any(|d| d == *p) && !params.contains_key(**p));
        if let Some(p) = unbound {
            params.insert(p.to_string(), Value::String(subject.to_string()));
        }
    }
    params
}

#[cfg(feature = "server")]
impl Registry {
    /// The `invalidate` list of a successful call of `function` with `args`. `subject` is the
    /// caller's identity (tier 2), if the host has one.
    pub fn resolve_invalidation(
        &self,
        function: &str,
        args: &Map<String, Value>,
        subject: Option<&str>,
    ) -> Result<Vec<InvalidateEntry>> {
        let f = self
            .function(function)
            .ok_or_else(|| Error::not_found(format!("no function named `{function}`")))?;
        let mut out: Vec<InvalidateEntry> = Vec::new();
        for target in &f.affects {
            let entry = if self.context(target).is_some() {
                InvalidateEntry::scoped(target.clone(), scope(&self.declared_params(target), args, subject))
            } else if let Some(g) = self.function(target) {
                let mut declared: Vec<String> = g.inputs.iter().map(|i| i.name.clone()).collect();
                canon::sort_utf16(&mut declared);
                InvalidateEntry::Scoped {
                    // The graph check guarantees a function target is a context member.
                    context: g.context.clone().unwrap_or_default(),
                    function: Some(g.name.clone()),
                    params: scope(&declared, args, subject),
                }
            } else {
                continue;
            };
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
        Ok(out)
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> Registry {
        Registry::from_json(
            r#"{"functions":{
                "user_profile":{"context":"user","inputs":{"user_id":"integer"}},
                "user_orders":{"context":"user","inputs":{"user_id":"integer","page":"optional<integer>"}},
                "my_feed":{"context":"feed","inputs":{"owner_id":"optional<string>"}},
                "notifications_list":{"context":"notifications"},
                "update_profile":{"inputs":{"user_id":"integer","name":"string"},"affects":["user","notifications","user"]},
                "post":{"inputs":{"text":"string"},"affects":["feed"]},
                "rename":{"inputs":{"user_id":"integer","name":"string"},"affects":["user_profile"]}
            }}"#,
        )
        .unwrap()
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn tier1_scopes_by_argument_name_and_dedups() {
        let r = registry();
        let out = r.resolve_invalidation("update_profile", &args(json!({"user_id": 5, "name": "x"})), None).unwrap();
        assert_eq!(entries_to_json(&out), json!([{"context": "user", "params": {"user_id": 5}}, "notifications"]));
    }

    #[test]
    fn tier2_binds_identity_tier3_broad() {
        let r = registry();
        let out = r.resolve_invalidation("post", &args(json!({"text": "hi"})), Some("42")).unwrap();
        assert_eq!(entries_to_json(&out), json!([{"context": "feed", "params": {"owner_id": "42"}}]));
        let out = r.resolve_invalidation("post", &args(json!({"text": "hi"})), None).unwrap();
        assert_eq!(entries_to_json(&out), json!(["feed"]));
    }

    #[test]
    fn function_target() {
        let r = registry();
        let out = r.resolve_invalidation("rename", &args(json!({"user_id": "7", "name": "n"})), None).unwrap();
        assert_eq!(
            entries_to_json(&out),
            json!([{"context": "user", "function": "user_profile", "params": {"user_id": "7"}}])
        );
        assert!(r.resolve_invalidation("nope", &Map::new(), None).is_err());
    }

    #[test]
    fn matching_rule() {
        let e = InvalidateEntry::scoped("user", args(json!({"user_id": 5})));
        assert!(e.matches("user", &args(json!({"user_id": "5", "page": 2}))));
        assert!(e.matches("user", &args(json!({}))));
        assert!(!e.matches("user", &args(json!({"user_id": 6}))));
        assert!(!e.matches("users", &args(json!({"user_id": 5}))));
    }

    #[test]
    fn entries_json_round_trip_and_errors() {
        let v = json!(["a", {"context": "b", "params": {"x": 1}}, {"context": "c", "function": "f"}]);
        assert_eq!(entries_to_json(&entries_from_json(&v).unwrap()), v);
        for bad in [json!({}), json!([1]), json!([""]), json!([{"context": "a", "extra": 1}]), json!([{"params": {}}])] {
            assert!(entries_from_json(&bad).is_err(), "{bad}");
        }
    }
}
