//! The `X-Mizan-Invalidate` header (KERNEL.md §5): the second transport of the invalidation
//! signal, for view-path responses, htmx and edges.
//!
//! `user;user_id=5, notifications, user;user_id=5;@fn=user_profile` — entries joined by `", "`;
//! each is the context name, then `;key=value` per param (sorted by key in UTF-16 order), then
//! `;@fn=F` for a function entry. Names and stringified values are percent-encoded with
//! `encodeURIComponent` rules. Parsing is the exact inverse (values come back as strings),
//! tolerant of optional whitespace around `,` and `;`, strict about everything else.

use crate::canon;
use crate::error::{Error, ErrorCode, Result};
use crate::invalidation::InvalidateEntry;
use serde_json::{Map, Value, json};

pub const MAX_HEADER_BYTES: usize = 8 * 1024;
pub const MAX_ENTRIES: usize = 256;
pub const MAX_PARAMS_PER_ENTRY: usize = 64;
const FUNCTION_KEY: &str = "@fn";

fn header_error(message: impl Into<String>, position: usize) -> Error {
    let message = message.into();
    Error::new(ErrorCode::InvalidHeader, format!("{message} (at byte {position})"))
        .with_details(json!({ "position": position }))
}

/// JavaScript's `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` becomes
/// `%XX` of its UTF-8 bytes, uppercase hex.
pub fn encode_uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Format entries as the header value. Errors when the result would exceed the limits the parser
/// enforces (the JSON body still carries the entries; a host then omits the header).
pub fn format_header(entries: &[InvalidateEntry]) -> Result<String> {
    if entries.len() > MAX_ENTRIES {
        return Err(Error::new(ErrorCode::InvalidHeader, format!("more than {MAX_ENTRIES} entries")));
    }
    let mut parts = Vec::with_capacity(entries.len());
    for e in entries {
        // What the parser refuses must not be sent (found by fuzzing: the context `*` and an
        // empty param name were formatted as they are).
        if e.context().is_empty() || e.context() == "*" {
            return Err(Error::new(
                ErrorCode::InvalidHeader,
                format!("an entry's context {:?} cannot be sent: the header has no empty context and reserves `*`", e.context()),
            ));
        }
        if e.params().contains_key("") || e.function() == Some("") {
            return Err(Error::new(
                ErrorCode::InvalidHeader,
                format!("an entry for `{}` has an empty param or function name, which the header cannot carry", e.context()),
            ));
        }
        if e.params().len() > MAX_PARAMS_PER_ENTRY {
            return Err(Error::new(
                ErrorCode::InvalidHeader,
                format!("an entry for `{}` has more than {MAX_PARAMS_PER_ENTRY} params", e.context()),
            ));
        }
        let mut part = encode_uri_component(e.context());
        for (k, v) in canon::stringified_params(e.params()) {
            part.push(';');
            part.push_str(&encode_uri_component(&k));
            part.push('=');
            part.push_str(&encode_uri_component(&v));
        }
        if let Some(f) = e.function() {
            part.push_str(";@fn=");
            part.push_str(&encode_uri_component(f));
        }
        parts.push(part);
    }
    let header = parts.join(", ");
    if header.len() > MAX_HEADER_BYTES {
        return Err(Error::new(
            ErrorCode::InvalidHeader,
            format!("the header would be {} bytes, over the {MAX_HEADER_BYTES}-byte limit", header.len()),
        ));
    }
    Ok(header)
}

/// Parse a header value. An empty (or all-whitespace) value is no entries.
pub fn parse_header(text: &str) -> Result<Vec<InvalidateEntry>> {
    if text.len() > MAX_HEADER_BYTES {
        return Err(header_error(format!("the header is over the {MAX_HEADER_BYTES}-byte limit"), MAX_HEADER_BYTES));
    }
    let mut entries = Vec::new();
    if text.trim_matches(is_ows).is_empty() {
        return Ok(entries);
    }
    let mut start = 0;
    for raw in text.split(',') {
        if entries.len() == MAX_ENTRIES {
            return Err(header_error(format!("more than {MAX_ENTRIES} entries"), start));
        }
        entries.push(parse_entry(raw, start)?);
        start += raw.len() + 1;
    }
    Ok(entries)
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Trim optional whitespace, returning the trimmed text and the offset of its first byte.
fn trim_at(raw: &str, offset: usize) -> (&str, usize) {
    let lead = raw.len() - raw.trim_start_matches(is_ows).len();
    (raw.trim_matches(is_ows), offset + lead)
}

fn parse_entry(raw: &str, offset: usize) -> Result<InvalidateEntry> {
    let mut segments = Vec::new();
    let mut at = offset;
    for seg in raw.split(';') {
        segments.push(trim_at(seg, at));
        at += seg.len() + 1;
    }
    let Some(&(name, name_at)) = segments.first() else {
        return Err(header_error("empty entry", offset));
    };
    if name.is_empty() {
        return Err(header_error("empty entry or missing context name", name_at));
    }
    if name == "*" {
        return Err(header_error("`*` (every context) is reserved and not supported", name_at));
    }
    let context = decode(name, name_at)?;
    let mut params = Map::new();
    let mut function = None;
    for &(seg, seg_at) in segments.iter().skip(1) {
        let Some((k, v)) = seg.split_once('=') else {
            return Err(header_error("a param must be key=value", seg_at));
        };
        if k.is_empty() {
            return Err(header_error("empty param name", seg_at));
        }
        let value_at = seg_at + k.len() + 1;
        if k == FUNCTION_KEY {
            if function.is_some() {
                return Err(header_error("`@fn` given twice", seg_at));
            }
            let f = decode(v, value_at)?;
            if f.is_empty() {
                return Err(header_error("empty function name", value_at));
            }
            function = Some(f);
            continue;
        }
        let key = decode(k, seg_at)?;
        if params.contains_key(&key) {
            return Err(header_error(format!("param `{key}` given twice"), seg_at));
        }
        if params.len() == MAX_PARAMS_PER_ENTRY {
            return Err(header_error(format!("more than {MAX_PARAMS_PER_ENTRY} params in one entry"), seg_at));
        }
        params.insert(key, Value::String(decode(v, value_at)?));
    }
    Ok(match function {
        None => InvalidateEntry::scoped(context, params),
        function => InvalidateEntry::Scoped { context, function, params },
    })
}

/// Percent-decode one token. Raw bytes must be visible ASCII other than the delimiters.
fn decode(token: &str, offset: usize) -> Result<String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => out.push(v),
                    None => return Err(header_error("`%` must be followed by two hex digits", offset + i)),
                }
                i += 3;
            }
            b'!'..=b'~' if !b",;=\"\\".contains(&b) => {
                out.push(b);
                i += 1;
            }
            _ => return Err(header_error(format!("unexpected character 0x{b:02X}; encode it as %{b:02X}"), offset + i)),
        }
    }
    String::from_utf8(out).map_err(|_| header_error("percent-encoded bytes are not UTF-8", offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invalidation::{entries_from_json, entries_to_json};

    fn fmt(v: Value) -> String {
        format_header(&entries_from_json(&v).unwrap()).unwrap()
    }

    #[test]
    fn format_examples() {
        assert_eq!(fmt(json!([{"context": "user", "params": {"user_id": 5}}, "notifications"])), "user;user_id=5, notifications");
        assert_eq!(fmt(json!([{"context": "user", "params": {"b": "x y", "a": 1}}])), "user;a=1;b=x%20y");
        assert_eq!(fmt(json!([{"context": "c", "params": {"a": 1, "B": 2}}])), "c;B=2;a=1");
        assert_eq!(
            fmt(json!([{"context": "user", "function": "user_profile", "params": {"user_id": 5}}])),
            "user;user_id=5;@fn=user_profile"
        );
        assert_eq!(fmt(json!([{"context": "a;b", "params": {"k,=": "é,;"}}])), "a%3Bb;k%2C%3D=%C3%A9%2C%3B");
        assert_eq!(fmt(json!([])), "");
    }

    #[test]
    fn parse_is_the_inverse_with_string_values() {
        let text = "user;user_id=5, notifications,user;user_id=5;@fn=user_profile, a%3Bb;k%2C%3D=%C3%A9%2C%3B";
        let parsed = entries_to_json(&parse_header(text).unwrap());
        assert_eq!(
            parsed,
            json!([{"context": "user", "params": {"user_id": "5"}}, "notifications",
                   {"context": "user", "function": "user_profile", "params": {"user_id": "5"}},
                   {"context": "a;b", "params": {"k,=": "é,;"}}])
        );
        assert_eq!(parse_header(" \t ").unwrap(), vec![]);
        assert_eq!(entries_to_json(&parse_header(" user ; user_id=5 ,\tx ").unwrap()), json!([{"context": "user", "params": {"user_id": "5"}}, "x"]));
    }

    #[test]
    fn malformed_headers_are_errors_with_positions() {
        let cases = [
            ("a,,b", 2),
            ("a;=1", 2),
            ("a;k", 2),
            ("a;k=%zz", 4),
            ("a;k=%4", 4),
            ("a;k=1;k=2", 6),
            ("a b", 1),
            ("a;@fn=x;@fn=y", 8),
            ("*", 0),
            (";k=1", 0),
        ];
        for (text, pos) in cases {
            let err = parse_header(text).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidHeader, "{text}");
            assert_eq!(err.details, Some(json!({"position": pos})), "{text}: {}", err.message);
        }
        assert!(parse_header("a;k=%FF").is_err());
        assert!(parse_header(&"a,".repeat(300)).is_err());
        assert!(parse_header(&"x".repeat(MAX_HEADER_BYTES + 1)).is_err());
        let many: String = (0..65).map(|i| format!(";k{i}=1")).collect();
        assert!(parse_header(&format!("a{many}")).is_err());
    }

    #[test]
    fn format_refuses_what_parse_would_refuse() {
        let entries: Vec<_> = (0..257).map(|i| InvalidateEntry::Broad(format!("c{i}"))).collect();
        assert!(format_header(&entries).is_err());
        let long = InvalidateEntry::scoped("c", [("k".to_string(), json!("x".repeat(9000)))].into_iter().collect());
        assert!(format_header(&[long]).is_err());
    }
}
