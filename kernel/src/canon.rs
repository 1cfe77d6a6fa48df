//! Canonical values (KERNEL.md §1): the one stringification and the one canonical JSON text that
//! cache keys, the invalidation header and invalidation matching are built on. Hosts hand the
//! kernel JSON text and never stringify on their own; that is the drift this module removes.

use crate::error::{Error, Result};
use serde_json::Value;
use std::cmp::Ordering;

/// Parse JSON text coming from a host. `what` names the argument in the error message.
pub fn parse_json(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::invalid_json(format!("{what} is not valid JSON: {e}"))
            .with_details(serde_json::json!({"line": e.line(), "column": e.column()}))
    })
}

/// Parse JSON text that must be an object (params, args).
pub fn parse_object(text: &str, what: &str) -> Result<serde_json::Map<String, Value>> {
    match parse_json(text, what)? {
        Value::Object(map) => Ok(map),
        other => Err(Error::invalid_json(format!(
            "{what} must be a JSON object, got {}",
            json_kind(&other)
        ))),
    }
}

pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// JavaScript `String(v)` for scalars; RFC 8785 canonical JSON for arrays and objects.
pub fn stringify(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => format_number(n),
        Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        Value::Null => "null".to_string(),
        Value::Array(_) | Value::Object(_) => canonical_json(value),
    }
}

/// ECMAScript `Number::toString`: every JSON number is an IEEE double to JavaScript, so an
/// integer past 2^53 prints as JavaScript prints it, identically on every host.
fn format_number(n: &serde_json::Number) -> String {
    // serde_json parses every JSON number into u64, i64 or a finite f64.
    let f = n.as_f64().unwrap_or(0.0);
    let mut buffer = ryu_js::Buffer::new();
    buffer.format(f).to_string()
}

/// RFC 8785 canonical JSON text: compact, keys in UTF-16 order, ECMAScript numbers, raw UTF-8.
pub fn canonical_json(value: &Value) -> String {
    // The canonicalizer only fails for non-finite floats, which a serde_json Value cannot hold.
    serde_json_canonicalizer::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// Order strings by UTF-16 code units (RFC 8785 and JavaScript's default sort). It differs from
/// Rust's byte order only when a character above U+FFFF meets one in U+E000..U+FFFF.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The permutation that puts `keys` in UTF-16 order (stable). Every UTF-16 sort in the kernel
/// goes through this one concrete sort: each `sort_by` with its own closure is a separate copy
/// of the sort in the component, and they added up to a tenth of its size.
pub fn utf16_order(keys: &[&str]) -> Vec<usize> {
    let mut tagged: Vec<(Vec<u16>, usize)> =
        keys.iter().enumerate().map(|(i, k)| (k.encode_utf16().collect(), i)).collect();
    // Indices are unique, so the unstable sort is stable with respect to equal keys.
    tagged.sort_unstable();
    tagged.into_iter().map(|(_, i)| i).collect()
}

/// Sort items by a string key in UTF-16 order, stably.
pub fn sort_by_utf16<T>(items: &mut Vec<T>, key: impl Fn(&T) -> &str) {
    let order = utf16_order(&items.iter().map(&key).collect::<Vec<_>>());
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.into_iter().filter_map(|i| slots.get_mut(i).and_then(Option::take)));
}

/// Sort names in UTF-16 order, in place.
pub fn sort_utf16(names: &mut Vec<String>) {
    sort_by_utf16(names, |s| s.as_str());
}

/// Object entries with their values stringified, sorted by key in UTF-16 order.
pub fn stringified_params(params: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        params.iter().map(|(k, v)| (k.clone(), stringify(v))).collect();
    sort_by_utf16(&mut out, |p| p.0.as_str());
    out
}

/// Append `s` as a JSON string literal with RFC 8785 escaping (the ECMAScript `JSON.stringify`
/// rules): `"` and `\` escaped, control characters as `\b \f \n \r \t` or `\u00xx`, all else raw.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(text: &str) -> String {
        stringify(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn scalars_follow_javascript_string() {
        assert_eq!(s("\"abc\""), "abc");
        assert_eq!(s("5"), "5");
        assert_eq!(s("1.0"), "1");
        assert_eq!(s("1e21"), "1e+21");
        assert_eq!(s("1e-7"), "1e-7");
        assert_eq!(s("0.1"), "0.1");
        assert_eq!(s("-0"), "0");
        assert_eq!(s("-0.0"), "0");
        assert_eq!(s("123456789012345678901"), "123456789012345680000");
        assert_eq!(s("9007199254740993"), "9007199254740992");
        assert_eq!(s("true"), "true");
        assert_eq!(s("false"), "false");
        assert_eq!(s("null"), "null");
    }

    #[test]
    fn containers_are_canonical_json_not_object_object() {
        // Seed defect (KERNEL.md §11): the TypeScript adapter produced "[object Object]".
        assert_eq!(s(r#"{"b":1,"a":[true,null,"x"]}"#), r#"{"a":[true,null,"x"],"b":1}"#);
        assert_eq!(s("[1.0, \"é\", {\"z\": {}}]"), r#"[1,"é",{"z":{}}]"#);
        assert_ne!(s(r#"{"a":1}"#), "[object Object]");
    }

    #[test]
    fn utf16_order_differs_from_code_point_order_above_bmp() {
        // U+1F600 is a surrogate pair starting 0xD83D, below U+FB01 in UTF-16 but above in code points.
        assert_eq!(utf16_cmp("😀", "ﬁ"), Ordering::Less);
        assert_eq!("😀".cmp("ﬁ"), Ordering::Greater);
        assert_eq!(canonical_json(&json!({"ﬁ": 1, "😀": 2})), r#"{"😀":2,"ﬁ":1}"#);
    }

    #[test]
    fn string_escaping_matches_json_stringify() {
        let mut out = String::new();
        write_json_string(&mut out, "a\"b\\c\n\u{1}é\u{7f}");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\u{7f}\"");
        assert_eq!(out, canonical_json(&json!("a\"b\\c\n\u{1}é\u{7f}")));
    }

    #[test]
    fn malformed_json_is_an_error_with_position() {
        let err = parse_json("{\"a\":", "params").unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::InvalidJson);
        assert!(err.details.is_some());
        assert!(parse_object("[1]", "params").is_err());
    }
}
