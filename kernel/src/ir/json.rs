//! The registry as JSON: what hosts that build a registry in code (Python's `@client`, Rust
//! closures) hand the kernel, and what the golden fixtures use. `to_json` writes the full form;
//! `from_json` also reads the shorthand the fixtures use:
//!
//! ```json
//! {"contexts": {"items": ["items_list"]},
//!  "functions": {"items_list": {"context": "items", "inputs": {"page": "integer", "state": "Status"}, "output": "list<ItemOutput>"}},
//!  "types": {"ItemOutput": {"id": "integer", "name": "string"}},
//!  "enums": {"Status": ["draft", "live"]}}
//! ```
//!
//! The full form's `version` is the IR version (docs/IR.md): 2 when there are enums, else 1, and
//! `enums` (`{"Status": {"values": [...]}}`) is written only when there are some, so a registry
//! without enums has the same JSON form as before enums existed.

use super::build::ContextDecl;
use super::kdl::IR_VERSION;
use super::model::*;
use crate::canon;
use crate::error::{Error, Result};
use serde_json::{Map, Value, json};

/// The keys of the JSON form's top-level object (all optional).
const TOP_LEVEL_KEYS: [&str; 5] = ["version", "contexts", "functions", "types", "enums"];

fn bad(path: &str, msg: &str) -> Error {
    Error::invalid_json(format!("registry JSON: {path}: {msg}"))
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| bad(path, "must be an object"))
}

fn string_list(v: Option<&Value>, path: &str) -> Result<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| bad(path, "must list strings")))
            .collect(),
        Some(_) => Err(bad(path, "must be a string or a list of strings")),
    }
}

fn type_of(v: &Value, path: &str) -> Result<TypeRef> {
    let s = v.as_str().ok_or_else(|| bad(path, "a type must be a string"))?;
    TypeRef::parse(s).map_err(|e| bad(path, &e))
}

fn flag(m: &Map<String, Value>, key: &str, path: &str) -> Result<bool> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(&format!("{path}.{key}"), "must be a boolean")),
    }
}

fn opt_string(m: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(&format!("{path}.{key}"), "must be a string")),
    }
}

/// `{"name": "T"}` or `{"name": {"type": "T", "required": bool}}`.
fn typed_members(v: Option<&Value>, path: &str) -> Result<Vec<(String, TypeRef, bool)>> {
    let Some(v) = v else { return Ok(vec![]) };
    let mut out = Vec::new();
    for (name, spec) in object(v, path)? {
        let p = format!("{path}.{name}");
        let (ty, required) = match spec {
            Value::Object(m) => {
                let ty = type_of(m.get("type").unwrap_or(&Value::Null), &format!("{p}.type"))?;
                let required = match m.get("required") {
                    None | Some(Value::Null) => !matches!(ty, TypeRef::Optional(_)),
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(bad(&format!("{p}.required"), "must be a boolean")),
                };
                (ty, required)
            }
            other => {
                let ty = type_of(other, &p)?;
                let required = !matches!(ty, TypeRef::Optional(_));
                (ty, required)
            }
        };
        out.push((name.clone(), ty, required));
    }
    Ok(out)
}

fn auth_of(v: Option<&Value>, path: &str) -> Result<Auth> {
    Ok(match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Auth::None,
        Some(Value::Bool(true)) => Auth::Required,
        Some(Value::String(s)) => match s.as_str() {
            "required" => Auth::Required,
            "staff" => Auth::Staff,
            "superuser" => Auth::Superuser,
            other => match other.strip_prefix("predicate:") {
                Some(name) if !name.is_empty() => Auth::Predicate(name.to_string()),
                _ => return Err(bad(path, "must be required, staff, superuser or predicate:NAME")),
            },
        },
        Some(_) => return Err(bad(path, "must be a string or a boolean")),
    })
}

fn auth_json(auth: &Auth) -> Value {
    match auth {
        Auth::None => Value::Null,
        Auth::Required => json!("required"),
        Auth::Staff => json!("staff"),
        Auth::Superuser => json!("superuser"),
        Auth::Predicate(p) => json!(format!("predicate:{p}")),
    }
}

fn function_of(name: &str, v: &Value) -> Result<Function> {
    let path = format!("functions.{name}");
    let m = object(v, &path)?;
    let output = match m.get("output") {
        None | Some(Value::Null) => TypeRef::Any,
        Some(t) => type_of(t, &format!("{path}.output"))?,
    };
    let mut f = Function::new(name, output);
    f.context = opt_string(m, "context", &path)?;
    f.inputs = typed_members(m.get("inputs"), &format!("{path}.inputs"))?
        .into_iter()
        .map(|(name, ty, required)| Input { name, ty, required })
        .collect();
    f.affects = string_list(m.get("affects"), &format!("{path}.affects"))?;
    f.merge = string_list(m.get("merge"), &format!("{path}.merge"))?;
    f.auth = auth_of(m.get("auth"), &format!("{path}.auth"))?;
    f.private = flag(m, "private", &path)?;
    f.view = flag(m, "view", &path)?;
    f.websocket = flag(m, "websocket", &path)?;
    f.route = opt_string(m, "route", &path)?;
    f.methods = string_list(m.get("methods"), &format!("{path}.methods"))?;
    f.rev = match m.get("rev") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().ok_or_else(|| bad(&format!("{path}.rev"), "must be a non-negative integer"))?,
    };
    f.cache = match m.get("cache") {
        None | Some(Value::Null) | Some(Value::Bool(true)) => None,
        Some(Value::Bool(false)) => Some(CacheSetting::Never),
        Some(v) => Some(CacheSetting::Ttl(
            v.as_u64().ok_or_else(|| bad(&format!("{path}.cache"), "must be false or a TTL in seconds"))?,
        )),
    };
    f.form = opt_string(m, "form", &path)?;
    f.form_name = opt_string(m, "form_name", &path)?;
    Ok(f)
}

impl Registry {
    /// Read the JSON form (full or shorthand) and run the same graph check as the KDL parser.
    pub fn from_json(text: &str) -> Result<Registry> {
        let root = canon::parse_json(text, "registry")?;
        Self::from_json_value(&root)
    }

    pub fn from_json_value(root: &Value) -> Result<Registry> {
        let root = object(root, "registry")?;
        // Unknown keys are refused, so that any JSON object is not silently an empty registry.
        if let Some(key) = root.keys().find(|k| !TOP_LEVEL_KEYS.contains(&k.as_str())) {
            return Err(bad(key, &format!("unknown key (a registry has {})", TOP_LEVEL_KEYS.join(", "))));
        }
        let version = match root.get("version") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=IR_VERSION).contains(&n) => Some(n),
                _ => return Err(bad("version", &format!("must be an IR version from 1 to {IR_VERSION}"))),
            },
        };
        let mut contexts = Vec::new();
        if let Some(v) = root.get("contexts") {
            for (name, spec) in object(v, "contexts")? {
                let path = format!("contexts.{name}");
                let decl = match spec {
                    Value::Array(_) => ContextDecl {
                        name: name.clone(),
                        shared: false,
                        members: Some(string_list(Some(spec), &path)?),
                    },
                    Value::Object(m) => ContextDecl {
                        name: name.clone(),
                        shared: flag(m, "shared", &path)?,
                        members: match m.get("members") {
                            None => None,
                            some => Some(string_list(some, &format!("{path}.members"))?),
                        },
                    },
                    _ => return Err(bad(&path, "must be a list of members or an object")),
                };
                contexts.push(decl);
            }
        }
        let mut functions = Vec::new();
        if let Some(v) = root.get("functions") {
            for (name, spec) in object(v, "functions")? {
                functions.push(function_of(name, spec)?);
            }
        }
        // Context membership named only in `contexts` (the shorthand) also sets the function's context.
        for decl in &contexts {
            for member in decl.members.iter().flatten() {
                if let Some(f) = functions.iter_mut().find(|f| &f.name == member)
                    && f.context.is_none() {
                        f.context = Some(decl.name.clone());
                    }
            }
        }
        let mut types = Vec::new();
        if let Some(v) = root.get("types") {
            for (name, spec) in object(v, "types")? {
                let path = format!("types.{name}");
                let m = object(spec, &path)?;
                let (fields_value, key) = match m.get("fields") {
                    Some(fields @ Value::Object(_)) => (Some(fields), opt_string(m, "key", &path)?),
                    _ => (Some(spec), None),
                };
                let fields = typed_members(fields_value, &path)?
                    .into_iter()
                    .map(|(name, ty, required)| Field { name, ty, required })
                    .collect();
                types.push(ObjectType { name: name.clone(), fields, key });
            }
        }
        let mut enums = Vec::new();
        if let Some(v) = root.get("enums") {
            for (name, spec) in object(v, "enums")? {
                let path = format!("enums.{name}");
                let values = match spec {
                    Value::Array(_) => spec,
                    Value::Object(m) => m.get("values").unwrap_or(&Value::Null),
                    _ => return Err(bad(&path, "must be a list of values or {\"values\": [...]}")),
                };
                let Value::Array(values) = values else { return Err(bad(&format!("{path}.values"), "must be a list of strings")) };
                let values = values
                    .iter()
                    .map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad(&path, "enum values must be strings")))
                    .collect::<Result<Vec<_>>>()?;
                enums.push(EnumType { name: name.clone(), values });
            }
        }
        if version == Some(1) && !enums.is_empty() {
            return Err(bad("enums", "enums need version 2 (this registry says version 1)"));
        }
        Registry::build_with_enums(functions, contexts, types, enums)
    }

    /// The full JSON form, object keys sorted, every list in canonical order.
    pub fn to_json(&self) -> Value {
        let mut contexts = Map::new();
        for c in self.contexts_sorted() {
            contexts.insert(c.name.clone(), json!({"shared": c.shared, "members": c.members}));
        }
        let mut functions = Map::new();
        for f in self.functions_sorted() {
            let mut inputs = Map::new();
            for i in &f.inputs {
                inputs.insert(i.name.clone(), json!({"type": i.ty.spelling(), "required": i.required}));
            }
            let cache = match f.cache {
                None => Value::Null,
                Some(CacheSetting::Never) => json!(false),
                Some(CacheSetting::Ttl(t)) => json!(t),
            };
            functions.insert(
                f.name.clone(),
                json!({
                    "context": f.context, "inputs": inputs, "output": f.output.spelling(),
                    "affects": f.affects, "merge": f.merge, "auth": auth_json(&f.auth),
                    "private": f.private, "view": f.view, "websocket": f.websocket,
                    "route": f.route, "methods": f.methods, "rev": f.rev, "cache": cache,
                    "form": f.form, "form_name": f.form_name,
                }),
            );
        }
        let mut types = Map::new();
        for t in self.types_sorted() {
            let mut fields = Map::new();
            for fl in &t.fields {
                fields.insert(fl.name.clone(), json!({"type": fl.ty.spelling(), "required": fl.required}));
            }
            types.insert(t.name.clone(), json!({"fields": fields, "key": t.key}));
        }
        let mut out = json!({"version": self.ir_version(), "contexts": contexts, "functions": functions, "types": types});
        if !self.enums.is_empty() {
            let enums: Map<String, Value> =
                self.enums_sorted().into_iter().map(|e| (e.name.clone(), json!({"values": e.values}))).collect();
            out["enums"] = Value::Object(enums);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_and_full_form_agree() {
        let r = Registry::from_json(
            r#"{"contexts":{"items":["items_list"]},
                "functions":{"items_list":{"context":"items","inputs":{},"output":"list<ItemOutput>"},
                             "set_item_name":{"inputs":{"id":"integer","name":"string"},"output":"ItemOutput","merge":["items"]}},
                "types":{"ItemOutput":{"id":"integer","name":"string"}}}"#,
        )
        .unwrap();
        let again = Registry::from_json_value(&r.to_json()).unwrap();
        assert_eq!(r, again);
        assert_eq!(r.contexts["items"].members, vec!["items_list".to_string()]);
    }

    #[test]
    fn bad_shapes_are_errors() {
        for text in [
            "[]",
            r#"{"functions":{"f":{"rev":-1}}}"#,
            r#"{"functions":{"f":{"cache":"x"}}}"#,
            r#"{"functions":{"f":{"output":"list<"}}}"#,
            r#"{"functions":{"f":{"auth":"wizard"}}}"#,
            r#"{"contexts":{"c":5}}"#,
            r#"{"version":3}"#,
            r#"{"version":1,"enums":{"E":["a"]}}"#,
            r#"{"enums":{"E":"a"}}"#,
            r#"{"enums":{"E":[1]}}"#,
            r#"{"enums":{"E":{"values":"a"}}}"#,
            r#"{"not":"a registry"}"#,
            r#"{"functions":{},"function":{"f":{}}}"#,
        ] {
            assert!(Registry::from_json(text).is_err(), "{text}");
        }
    }
}

#[cfg(test)]
mod graph_rules_shared_with_kdl {
    use super::*;

    /// Rules the KDL grammar implies hold for the JSON form too, so any registry emits KDL that parses.
    /// (Input and field names may be any string: aliases exist; the emitter quotes them.)
    #[test]
    fn names_methods_and_form_roles() {
        for text in [
            r#"{"functions":{"f":{"context":"not a name"}}}"#,
            r#"{"functions":{"f":{"methods":["post"]}}}"#,
            r#"{"functions":{"f":{"form":"wizard"}}}"#,
            r#"{"functions":{"f":{"form_name":"contact"}}}"#,
        ] {
            assert!(Registry::from_json(text).is_err(), "{text}");
        }
        let ok = Registry::from_json(r#"{"functions":{"f":{"context":"c","methods":["POST"],"form":"submit","form_name":"contact"}}}"#).unwrap();
        assert_eq!(Registry::from_kdl(&ok.to_kdl()).unwrap(), ok);
    }
}
