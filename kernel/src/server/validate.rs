//! Input validation and coercion against the IR types (KERNEL.md §8).
//!
//! Two sources: a call's JSON `args` (typed values, coerced leniently: `"5"` is an integer 5) and a
//! context fetch's query string (every value a string, coerced by the declared type). Only declared
//! inputs are kept; unknown ones are dropped. Every problem is collected, keyed by a dotted path
//! (`ids.1`, `filter.name`), and the engine answers 422 with `{"fields": {path: [message]}}`.

use crate::ir::{Function, Registry, TypeRef};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

pub const FIELD_REQUIRED: &str = "Field required";
pub const NOT_STRING: &str = "Input should be a valid string";
pub const NOT_INTEGER: &str = "Input should be a valid integer";
/// `integer` inputs are signed 64-bit: what a Rust `i64`, a SQL `BIGINT` and every typed backend
/// hold, so no backend fails (or answers differently) on a value another one accepted.
pub const INTEGER_TOO_LARGE: &str = "Input should be less than or equal to 9223372036854775807";
pub const INTEGER_TOO_SMALL: &str = "Input should be greater than or equal to -9223372036854775808";
pub const NOT_NUMBER: &str = "Input should be a valid number";
pub const NOT_BOOLEAN: &str = "Input should be a valid boolean";
pub const NOT_NULL: &str = "Input should be null";
pub const NOT_LIST: &str = "Input should be a valid list";
pub const NOT_OBJECT: &str = "Input should be a valid object";
pub const TOO_DEEP: &str = "Input nests too deeply";

/// Nesting bound for values checked against nested types.
const MAX_DEPTH: usize = 64;

/// Problems by dotted path, each path's messages in the order found, duplicates dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, path: &str, message: &str) {
        let list = self.0.entry(path.to_string()).or_default();
        if !list.iter().any(|m| m == message) {
            list.push(message.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `{"fields": {path: [message…]}}`.
    pub fn to_details(&self) -> Value {
        let fields: Map<String, Value> = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), Value::Array(v.iter().cloned().map(Value::String).collect())))
            .collect();
        let mut details = Map::new();
        details.insert("fields".into(), Value::Object(fields));
        Value::Object(details)
    }
}

/// Where a function's inputs come from.
pub enum Inputs<'a> {
    /// A call's `args` object.
    Json(&'a Map<String, Value>),
    /// A fetch's query string: every value of each name, in order.
    Query(&'a BTreeMap<String, Vec<String>>),
}

/// The declared inputs of `f`, coerced; problems go to `errors`.
pub fn coerce_inputs(registry: &Registry, f: &Function, inputs: &Inputs<'_>, errors: &mut FieldErrors) -> Map<String, Value> {
    let mut out = Map::new();
    for input in &f.inputs {
        let coerced = match inputs {
            Inputs::Json(args) => match args.get(&input.name) {
                Some(v) => coerce_json(registry, &input.ty, v, &input.name, 0, errors),
                None => None,
            },
            Inputs::Query(query) => match query.get(&input.name) {
                Some(values) if !values.is_empty() => coerce_query(registry, &input.ty, values, &input.name, errors),
                _ => None,
            },
        };
        let present = match inputs {
            Inputs::Json(args) => args.contains_key(&input.name),
            Inputs::Query(query) => query.get(&input.name).is_some_and(|v| !v.is_empty()),
        };
        match coerced {
            Some(v) => {
                out.insert(input.name.clone(), v);
            }
            None if !present && input.required => errors.add(&input.name, FIELD_REQUIRED),
            None => {}
        }
    }
    out
}

fn join(path: &str, part: &str) -> String {
    format!("{path}.{part}")
}

/// A decimal integer in the signed 64-bit range, or the message saying why not.
fn parse_integer(text: &str) -> Result<Number, &'static str> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NOT_INTEGER);
    }
    match text.parse::<i64>() {
        Ok(i) => Ok(Number::from(i)),
        Err(_) if text.starts_with('-') => Err(INTEGER_TOO_SMALL),
        Err(_) => Err(INTEGER_TOO_LARGE),
    }
}

/// A JSON number as an `integer` input: an integer in range, or a double with no fraction that
/// a double holds exactly (`5.0`).
fn integer_of(n: &Number) -> Result<Number, &'static str> {
    if crate::canon::is_integer(n) {
        return parse_integer(n.as_str());
    }
    match n.as_f64() {
        // The bound keeps the conversion exact.
        Some(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => Ok(Number::from(f as i64)),
        _ => Err(NOT_INTEGER),
    }
}

fn parse_number(text: &str) -> Option<Number> {
    if let Ok(n) = parse_integer(text) {
        return Some(n);
    }
    // Rust's float syntax is wider than JSON's ("inf", "NaN", "+1", "1."): accept only what a
    // JSON number or a plain decimal looks like, and only finite values.
    let t = text.strip_prefix('-').unwrap_or(text);
    let ok_chars = t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if t.is_empty() || !ok_chars || !t.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    // A JSON number keeps its digits (a `number` input may be an integer past 2^64).
    if let Ok(n) = serde_json::from_str::<Number>(text) {
        return (crate::canon::is_integer(&n) || n.as_f64().is_some()).then(|| crate::canon::normalize_number(&n));
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite()).and_then(Number::from_f64)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A JSON value against a type. Lenient where a client may send a string for a scalar.
pub fn coerce_json(registry: &Registry, ty: &TypeRef, value: &Value, path: &str, depth: usize, errors: &mut FieldErrors) -> Option<Value> {
    if depth > MAX_DEPTH {
        errors.add(path, TOO_DEEP);
        return None;
    }
    let fail = |errors: &mut FieldErrors, message: &str| {
        errors.add(path, message);
        None
    };
    match ty {
        TypeRef::Any | TypeRef::Upload => Some(value.clone()),
        TypeRef::String => match value {
            Value::String(_) => Some(value.clone()),
            _ => fail(errors, NOT_STRING),
        },
        TypeRef::Integer => match value {
            Value::Number(n) => match integer_of(n) {
                Ok(n) => Some(Value::Number(n)),
                Err(message) => fail(errors, message),
            },
            Value::String(s) => match parse_integer(s) {
                Ok(n) => Some(Value::Number(n)),
                Err(message) => fail(errors, message),
            },
            _ => fail(errors, NOT_INTEGER),
        },
        TypeRef::Number => match value {
            Value::Number(n) => Some(Value::Number(crate::canon::normalize_number(n))),
            Value::String(s) => match parse_number(s) {
                Some(n) => Some(Value::Number(n)),
                None => fail(errors, NOT_NUMBER),
            },
            _ => fail(errors, NOT_NUMBER),
        },
        TypeRef::Boolean => match value {
            Value::Bool(_) => Some(value.clone()),
            Value::String(s) => match parse_bool(s) {
                Some(b) => Some(Value::Bool(b)),
                None => fail(errors, NOT_BOOLEAN),
            },
            Value::Number(n) if n.as_u64() == Some(0) => Some(Value::Bool(false)),
            Value::Number(n) if n.as_u64() == Some(1) => Some(Value::Bool(true)),
            _ => fail(errors, NOT_BOOLEAN),
        },
        TypeRef::Null => match value {
            Value::Null => Some(Value::Null),
            _ => fail(errors, NOT_NULL),
        },
        TypeRef::Optional(inner) => match value {
            Value::Null => Some(Value::Null),
            _ => coerce_json(registry, inner, value, path, depth + 1, errors),
        },
        TypeRef::List(inner) => match value {
            Value::Array(items) => {
                let before = errors.0.len();
                let out: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| coerce_json(registry, inner, v, &join(path, &i.to_string()), depth + 1, errors))
                    .collect();
                (errors.0.len() == before).then_some(Value::Array(out))
            }
            _ => fail(errors, NOT_LIST),
        },
        TypeRef::Map(inner) => match value {
            Value::Object(m) => {
                let before = errors.0.len();
                let out: Map<String, Value> = m
                    .iter()
                    .filter_map(|(k, v)| {
                        coerce_json(registry, inner, v, &join(path, k), depth + 1, errors).map(|v| (k.clone(), v))
                    })
                    .collect();
                (errors.0.len() == before).then_some(Value::Object(out))
            }
            _ => fail(errors, NOT_OBJECT),
        },
        TypeRef::Named(name) if registry.enums.contains_key(name) => {
            let values = &registry.enums[name].values;
            match value {
                Value::String(s) if values.contains(s) => Some(value.clone()),
                _ => fail(errors, &one_of(values)),
            }
        }
        TypeRef::Named(name) => {
            // A name the registry does not declare says nothing about the shape: pass it on.
            let Some(t) = registry.types.get(name) else { return Some(value.clone()) };
            let Value::Object(m) = value else { return fail(errors, NOT_OBJECT) };
            let before = errors.0.len();
            let mut out = Map::new();
            for field in &t.fields {
                let fpath = join(path, &field.name);
                match m.get(&field.name) {
                    Some(v) => {
                        if let Some(v) = coerce_json(registry, &field.ty, v, &fpath, depth + 1, errors) {
                            out.insert(field.name.clone(), v);
                        }
                    }
                    None if field.required => errors.add(&fpath, FIELD_REQUIRED),
                    None => {}
                }
            }
            (errors.0.len() == before).then_some(Value::Object(out))
        }
    }
}

/// The message for a value outside an enum, as pydantic words it: `Input should be 'a', 'b' or 'c'`.
fn one_of(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("Input should be {} or {last}", rest.join(", ")),
        _ => format!("Input should be {}", quoted.join("")),
    }
}

/// Query-string values (all the values of one name) against a type.
pub fn coerce_query(registry: &Registry, ty: &TypeRef, values: &[String], path: &str, errors: &mut FieldErrors) -> Option<Value> {
    let last = values.last().map(String::as_str).unwrap_or_default();
    match ty {
        // `?ids=1&ids=2`, or one JSON array `?ids=[1,2]` (what `stringify` of a list produces).
        TypeRef::List(inner) => {
            if let [one] = values
                && one.starts_with('[')
            {
                return coerce_json_text(registry, ty, one, path, errors, NOT_LIST);
            }
            let before = errors.0.len();
            let out: Vec<Value> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| coerce_query(registry, inner, std::slice::from_ref(v), &join(path, &i.to_string()), errors))
                .collect();
            (errors.0.len() == before).then_some(Value::Array(out))
        }
        TypeRef::Optional(inner) => match inner.as_ref() {
            TypeRef::String | TypeRef::Any | TypeRef::Upload => Some(Value::String(last.to_string())),
            _ if last.is_empty() || last == "null" => Some(Value::Null),
            _ => coerce_query(registry, inner, values, path, errors),
        },
        TypeRef::Null => {
            if last.is_empty() || last == "null" {
                Some(Value::Null)
            } else {
                errors.add(path, NOT_NULL);
                None
            }
        }
        TypeRef::Map(_) => coerce_json_text(registry, ty, last, path, errors, NOT_OBJECT),
        TypeRef::Named(name) if registry.types.contains_key(name) => {
            coerce_json_text(registry, ty, last, path, errors, NOT_OBJECT)
        }
        // Scalars, enums, `any` and unknown names: the last value, as a string, checked as JSON would be.
        _ => coerce_json(registry, ty, &Value::String(last.to_string()), path, 0, errors),
    }
}

fn coerce_json_text(registry: &Registry, ty: &TypeRef, text: &str, path: &str, errors: &mut FieldErrors, message: &str) -> Option<Value> {
    match crate::canon::parse_json_bytes(text.as_bytes()) {
        Some(v) => coerce_json(registry, ty, &v, path, 0, errors),
        None => {
            errors.add(path, message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_from_strings() {
        assert_eq!(parse_integer("-12"), Ok(Number::from(-12)));
        assert_eq!(parse_integer("007"), Ok(Number::from(7)));
        assert_eq!(parse_integer("9223372036854775807"), Ok(Number::from(i64::MAX)));
        assert_eq!(parse_integer("9223372036854775808"), Err(INTEGER_TOO_LARGE));
        assert_eq!(parse_integer("18446744073709551615"), Err(INTEGER_TOO_LARGE));
        assert_eq!(parse_integer("-9223372036854775809"), Err(INTEGER_TOO_SMALL));
        assert_eq!(parse_integer("1.0"), Err(NOT_INTEGER));
        assert_eq!(parse_integer("+1"), Err(NOT_INTEGER));
        assert_eq!(parse_integer(""), Err(NOT_INTEGER));
        assert_eq!(parse_number("2.5").map(|n| n.to_string()), Some("2.5".into()));
        assert_eq!(parse_number("7"), Some(Number::from(7)));
        assert_eq!(parse_number("18446744073709551616").map(|n| n.to_string()), Some("18446744073709551616".into()));
        let n = |t: &str| serde_json::from_str::<Number>(t).unwrap();
        assert_eq!(integer_of(&n("5.0")), Ok(Number::from(5)));
        assert_eq!(integer_of(&n("-0")), Ok(Number::from(0)));
        assert_eq!(integer_of(&n("1e20")), Err(NOT_INTEGER));
        assert_eq!(integer_of(&n("9223372036854775808")), Err(INTEGER_TOO_LARGE));
        for bad in ["inf", "NaN", "-", ".5", "1e999", "0x1", " 1"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn nested_paths() {
        let r = Registry::from_json(r#"{"functions":{"f":{"inputs":{"p":"P"}}},"types":{"P":{"ids":"list<integer>","name":"string"}}}"#).unwrap();
        let mut errors = FieldErrors::default();
        let out = coerce_json(&r, &TypeRef::Named("P".into()), &json!({"ids": [1, "x"]}), "p", 0, &mut errors);
        assert_eq!(out, None);
        assert_eq!(errors.to_details(), json!({"fields": {"p.ids.1": [NOT_INTEGER], "p.name": [FIELD_REQUIRED]}}));
    }

    #[test]
    fn enums_accept_only_their_values() {
        let r = Registry::from_json(
            r#"{"functions":{"f":{"inputs":{"s":"Status"}}},"types":{"P":{"tags":"list<Status>"}},"enums":{"Status":["draft","live"],"One":["x"]}}"#,
        )
        .unwrap();
        let status = TypeRef::Named("Status".into());
        let mut errors = FieldErrors::default();
        assert_eq!(coerce_json(&r, &status, &json!("live"), "s", 0, &mut errors), Some(json!("live")));
        assert!(errors.is_empty());
        for bad in [json!("LIVE"), json!(1), json!(null), json!(["live"])] {
            assert_eq!(coerce_json(&r, &status, &bad, "s", 0, &mut errors), None, "{bad}");
        }
        assert_eq!(errors.to_details(), json!({"fields": {"s": ["Input should be 'draft' or 'live'"]}}));
        let mut errors = FieldErrors::default();
        let out = coerce_json(&r, &TypeRef::Named("P".into()), &json!({"tags": ["draft", "gone"]}), "p", 0, &mut errors);
        assert_eq!(out, None);
        assert_eq!(errors.to_details(), json!({"fields": {"p.tags.1": ["Input should be 'draft' or 'live'"]}}));
        let mut errors = FieldErrors::default();
        let query = ["draft".to_string()];
        assert_eq!(coerce_query(&r, &status, &query, "s", &mut errors), Some(json!("draft")));
        assert_eq!(coerce_query(&r, &TypeRef::Named("One".into()), &query, "o", &mut errors), None);
        assert_eq!(errors.to_details(), json!({"fields": {"o": ["Input should be 'x'"]}}));
    }
}
