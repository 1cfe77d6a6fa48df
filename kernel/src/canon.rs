//! Canonical values (KERNEL.md §1): the one stringification and the one canonical JSON text that
//! cache keys, the invalidation header and invalidation matching are built on. Hosts hand the
//! kernel JSON text and never stringify on their own; that is the drift this module removes.

use crate::error::{Error, Result};
use serde_json::Value;
use std::cmp::Ordering;

/// Parse JSON text coming from a host. `what` names the argument in the error message.
/// Numbers keep their digits (serde_json's `arbitrary_precision`); one too large for a double
/// (`1e400`) is refused, as JSON parsers that read numbers as doubles refuse or mangle it.
pub fn parse_json(text: &str, what: &str) -> Result<Value> {
    let value = parse_json_unchecked(text, what)?;
    if !all_finite(&value) {
        return Err(out_of_range(what));
    }
    Ok(value)
}

/// [`parse_json`] without the walk for numbers out of range: for text the kernel writes back
/// at once with [`write_json`], which reports them (one pass instead of two on a function's
/// result, the bulk of a response).
pub fn parse_json_unchecked(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::invalid_json(format!("{what} is not valid JSON: {e}"))
            .with_details(serde_json::json!({"line": e.line(), "column": e.column()}))
    })
}

pub fn out_of_range(what: &str) -> Error {
    Error::invalid_json(format!("{what} is not valid JSON: a number is out of range"))
}

/// A JSON object of these members, moved in. What the client's snapshots and payloads are built
/// with instead of `json!`, which serializes each interpolated value into a new one: serde_json's
/// value serializer was in the browser component for that alone.
pub fn object(members: Vec<(&str, Value)>) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in members {
        map.insert(k.to_owned(), v);
    }
    Value::Object(map)
}

/// Parse JSON bytes from outside (a request body, a function's result), refusing numbers out of
/// a double's range like [`parse_json`]. `None` for anything that is not such JSON.
pub fn parse_json_bytes(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(bytes).ok().filter(all_finite)
}

/// No number in `value` is out of a double's range (a fraction or exponent that overflows).
/// Integers of any size are finite: they are kept as digits.
fn all_finite(value: &Value) -> bool {
    match value {
        Value::Number(n) => is_integer(n) || n.as_f64().is_some(),
        Value::Array(items) => items.iter().all(all_finite),
        Value::Object(map) => map.values().all(all_finite),
        _ => true,
    }
}

/// Written without a fraction or an exponent: JSON's integers, of any size.
pub fn is_integer(n: &serde_json::Number) -> bool {
    !n.as_str().contains(['.', 'e', 'E'])
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

/// JavaScript `String(v)` for scalars, except that an integer prints as its exact digits at any
/// size (KERNEL.md §1); RFC 8785 canonical JSON for arrays and objects (with the same integers).
pub fn stringify(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            let mut out = String::new();
            write_number_ecmascript(&mut out, n);
            out
        }
        Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        Value::Null => "null".to_string(),
        Value::Array(_) | Value::Object(_) => canonical_json(value),
    }
}

/// How a fraction or exponent number is written; integers are always their digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NumberForm {
    /// ECMAScript `Number::toString` (`1.0` → `1`, `1e21` → `1e+21`): keys, header, index.
    EcmaScript,
    /// serde_json's shortest round-trip form of the double (`1.0` → `1.0`, `1E21` → `1e+21`):
    /// response bodies, so whatever a host's JSON library wrote (`1.50`, `1E21`), every host
    /// sends the same bytes.
    Serde,
}

/// Append a number. An integer is its digits as written (JSON allows no leading zeros; `-0` is
/// `0`), never through a double, so `9007199254740993` and `18446744073709551615` stay exact.
/// Returns false for a number beyond a double's range (written `null`), which `parse_json`
/// refuses and `parse_json_unchecked` lets through for the writer to report.
pub fn write_number(out: &mut String, n: &serde_json::Number, form: NumberForm) -> bool {
    match form {
        NumberForm::EcmaScript => write_number_ecmascript(out, n),
        NumberForm::Serde => write_number_serde(out, n),
    }
}

// One function per form, which the kernel's writers call directly rather than `write_number`
// with a form chosen at run time: the browser component writes only ECMAScript numbers (keys,
// the header), and so links only ryu-js (zmij's code stays out of it).
fn write_number_ecmascript(out: &mut String, n: &serde_json::Number) -> bool {
    write_number_with(out, n, |out, f| out.push_str(ryu_js::Buffer::new().format(f)))
}

fn write_number_serde(out: &mut String, n: &serde_json::Number) -> bool {
    write_number_with(out, n, |out, f| out.push_str(zmij::Buffer::new().format_finite(f)))
}

fn write_number_with(out: &mut String, n: &serde_json::Number, format: impl FnOnce(&mut String, f64)) -> bool {
    let text = n.as_str();
    if is_integer(n) {
        out.push_str(if text == "-0" { "0" } else { text });
        return true;
    }
    let Some(f) = n.as_f64() else {
        out.push_str("null");
        return false;
    };
    format(out, f);
    true
}

/// The number in the one spelling [`write_json`] sends (`1E3` and `1000.0` alike are `1000.0`;
/// integers their digits), so equal inputs are equal values whatever a host's JSON library wrote.
pub fn normalize_number(n: &serde_json::Number) -> serde_json::Number {
    let mut text = String::new();
    if !write_number_serde(&mut text, n) {
        return n.clone();
    }
    serde_json::from_str(&text).unwrap_or_else(|_| n.clone())
}

/// RFC 8785 canonical JSON text: compact, keys in UTF-16 order, raw UTF-8, RFC 8785 string
/// escaping, ECMAScript numbers — except integers, which keep their digits at any size (RFC 8785
/// prints every number through a double; KERNEL.md §1 asks for exact integers, which is also
/// why this is not the `serde_json_canonicalizer` crate any more).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(&mut out, value);
    out
}

fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            out.push('{');
            for (i, k) in utf16_order(&keys).into_iter().filter_map(|i| keys.get(i)).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                if let Some(v) = map.get(*k) {
                    write_canonical(out, v);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, v);
            }
            out.push(']');
        }
        Value::Number(n) => {
            write_number_ecmascript(out, n);
        }
        scalar => write_scalar(out, scalar),
    }
}

fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => write_json_string(out, s),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        _ => out.push_str("null"),
    }
}

/// Compact JSON text as the kernel sends it (response bodies, args, params): object keys in
/// code-point order (serde_json's map), integers as their digits, other numbers in serde_json's
/// form of the double, JSON-standard string escaping. Whatever spelling a host's JSON library
/// used for a number, the bytes out are the same.
///
/// Returns false when a number was beyond a double's range (see [`write_number`]).
pub fn write_json(out: &mut String, value: &Value) -> bool {
    write_json_with(out, value, write_number_serde)
}

/// [`write_json`] of an object.
pub fn write_json_map(out: &mut String, map: &serde_json::Map<String, Value>) -> bool {
    write_json_map_with(out, map, write_number_serde)
}

/// Compact JSON text with every number as it was written (serde_json's `Value::to_string` with
/// `arbitrary_precision`, byte for byte): what the client session hands its host (views,
/// results, snapshots). Its own writer rather than serde_json's serializer, so the browser
/// component links one JSON writer, not two (and not the serializer's float formatter).
pub fn json_text(value: &Value) -> String {
    let mut out = String::new();
    write_json_with(&mut out, value, write_number_as_written);
    out
}

/// [`json_text`] of an object.
pub fn map_json_text(map: &serde_json::Map<String, Value>) -> String {
    let mut out = String::new();
    write_json_map_with(&mut out, map, write_number_as_written);
    out
}

fn write_number_as_written(out: &mut String, n: &serde_json::Number) -> bool {
    out.push_str(n.as_str());
    true
}

/// The one JSON writer, with the number writer given: numbers are all that differ between
/// [`write_json`] (normalized) and [`json_text`] (as written).
fn write_json_with(out: &mut String, value: &Value, number: fn(&mut String, &serde_json::Number) -> bool) -> bool {
    match value {
        Value::Object(map) => write_json_map_with(out, map, number),
        Value::Array(items) => {
            out.push('[');
            let mut finite = true;
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                finite &= write_json_with(out, v, number);
            }
            out.push(']');
            finite
        }
        Value::Number(n) => number(out, n),
        scalar => {
            write_scalar(out, scalar);
            true
        }
    }
}

fn write_json_map_with(
    out: &mut String,
    map: &serde_json::Map<String, Value>,
    number: fn(&mut String, &serde_json::Number) -> bool,
) -> bool {
    out.push('{');
    let mut finite = true;
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, k);
        out.push(':');
        finite &= write_json_with(out, v, number);
    }
    out.push('}');
    finite
}

/// [`write_json`] into a new string.
pub fn to_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

/// Order strings by UTF-16 code units (RFC 8785 and JavaScript's default sort). It differs from
/// Rust's byte order only when a character above U+FFFF meets one in U+E000..U+FFFF.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The permutation that puts `keys` in UTF-16 order (stable).
pub fn utf16_order(keys: &[&str]) -> Vec<usize> {
    // Equal keys keep their order: the index breaks the tie.
    sorted_order(keys.len(), &|a, b| match (keys.get(a), keys.get(b)) {
        (Some(x), Some(y)) => utf16_cmp(x, y).then(a.cmp(&b)),
        _ => a.cmp(&b),
    })
}

/// The permutation that sorts `len` items, compared by index. Every sort in the kernel goes
/// through this one sort of indices, with the comparison behind a `dyn`: each element type or
/// closure sorted directly is a copy of the standard library's sort in the component (3–4 KB
/// each; they added up to a tenth of it).
fn sorted_order(len: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_unstable_by(|&a, &b| cmp(a, b));
    order
}

/// Reorder `items` by a permutation of their indices.
fn permute<T>(items: &mut Vec<T>, order: Vec<usize>) {
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.into_iter().filter_map(|i| slots.get_mut(i).and_then(Option::take)));
}

/// Sort items by `cmp` (not stable: for items no two of which are equal, such as unique keys).
pub fn sort_with<T>(items: &mut Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) {
    let order = sorted_order(items.len(), &|a, b| match (items.get(a), items.get(b)) {
        (Some(x), Some(y)) => cmp(x, y),
        _ => a.cmp(&b),
    });
    permute(items, order);
}

/// Sort items by a string key in UTF-16 order, stably.
pub fn sort_by_utf16<T>(items: &mut Vec<T>, key: impl Fn(&T) -> &str) {
    let order = utf16_order(&items.iter().map(&key).collect::<Vec<_>>());
    permute(items, order);
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
    // Copy the runs between characters that need escaping whole (they are ASCII, so every
    // boundary is a char boundary): most strings are one run.
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(s.get(run..i).unwrap_or_default());
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        run = i + 1;
    }
    out.push_str(s.get(run..).unwrap_or_default());
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
        // Integers are their digits at any size (KERNEL.md §1), never through a double.
        assert_eq!(s("123456789012345678901"), "123456789012345678901");
        assert_eq!(s("9007199254740993"), "9007199254740993");
        assert_eq!(s("18446744073709551615"), "18446744073709551615");
        assert_eq!(s("-9223372036854775809"), "-9223372036854775809");
        assert_eq!(s("12.5e-1"), "1.25");
        assert_eq!(s("100000000000000000000.0"), "100000000000000000000");
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
    fn the_one_sort_orders_stably_by_utf16_and_by_any_comparison() {
        // Equal keys keep their order; U+1F600 (a surrogate pair) sorts before U+FB01.
        assert_eq!(utf16_order(&["b", "ﬁ", "a", "😀", "a"]), vec![2, 4, 0, 3, 1]);
        let mut v = vec![(3u64, "x".to_string()), (1, "z".into()), (1, "y".into())];
        sort_with(&mut v, <(u64, String)>::cmp);
        assert_eq!(v, vec![(1, "y".to_string()), (1, "z".into()), (3, "x".into())]);
    }

    #[test]
    fn string_escaping_matches_json_stringify() {
        let mut out = String::new();
        write_json_string(&mut out, "a\"b\\c\n\u{1}é\u{7f}");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\u{7f}\"");
        assert_eq!(out, canonical_json(&json!("a\"b\\c\n\u{1}é\u{7f}")));
    }

    #[test]
    fn numbers_beyond_a_double_are_refused_integers_of_any_size_kept() {
        assert!(parse_json("{\"x\": 1e400}", "params").is_err());
        assert!(parse_json("[-1.5e999]", "params").is_err());
        assert!(parse_json_bytes(b"[1e400]").is_none());
        let big = parse_json("[123456789012345678901234567890, 1e308]", "params").unwrap();
        assert_eq!(canonical_json(&big), "[123456789012345678901234567890,1e+308]");
        assert_eq!(to_json(&big), "[123456789012345678901234567890,1e+308]");
    }

    #[test]
    fn response_json_normalizes_number_spellings() {
        // Hosts spell numbers differently (1E21, 1.50, -0): one form out.
        let v = parse_json(r#"{"b":[1E21,7.0,1.50,-0,0.1,-0.0],"a":"é\n"}"#, "v").unwrap();
        assert_eq!(to_json(&v), r#"{"a":"é\n","b":[1e+21,7.0,1.5,0,0.1,-0.0]}"#);
    }

    #[test]
    fn json_text_is_serde_json_to_string_byte_for_byte() {
        let text = r#"{"b":[1E21,7.0,1.50,-0,0.1,-0.0,123456789012345678901234567890],"a":"é\n\u0001\"\\","c":{"z":null,"y":true}}"#;
        let v = parse_json(text, "v").unwrap();
        assert_eq!(json_text(&v), v.to_string());
        // serde_json's parser keeps a number's digits but spells its exponent `e+`.
        assert_eq!(json_text(&v), r#"{"a":"é\n\u0001\"\\","b":[1e+21,7.0,1.50,-0,0.1,-0.0,123456789012345678901234567890],"c":{"y":true,"z":null}}"#);
    }

    #[test]
    fn malformed_json_is_an_error_with_position() {
        let err = parse_json("{\"a\":", "params").unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::InvalidJson);
        assert!(err.details.is_some());
        assert!(parse_object("[1]", "params").is_err());
    }
}
