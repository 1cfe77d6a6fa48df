//! Shared pieces of the fuzz targets: JSON values and texts built from the fuzzer's bytes.
//! Structured inputs reach deeper than raw bytes (most random bytes are not JSON, so a raw-text
//! target mostly tests the JSON parser); each target still mixes in raw text where the kernel
//! receives text.

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Map, Number, Value};

/// A JSON value, bounded in depth by the generator.
pub fn json(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let pick = if depth == 0 { u.int_in_range(0..=5)? } else { u.int_in_range(0..=7)? };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Number(Number::from(u.arbitrary::<i64>()?)),
        3 => Value::Number(Number::from(u.arbitrary::<u64>()?)),
        4 => Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        5 => Value::String(short_string(u)?),
        6 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array((0..n).map(|_| json(u, depth - 1)).collect::<arbitrary::Result<_>>()?)
        }
        _ => Value::Object(object(u, depth - 1)?),
    })
}

/// A JSON object whose keys come from `names` (so they hit declared inputs) or are arbitrary.
pub fn object(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Map<String, Value>> {
    let n = u.int_in_range(0..=4)?;
    let mut map = Map::new();
    for _ in 0..n {
        let key = if u.arbitrary()? { (*u.choose(NAMES)?).to_string() } else { short_string(u)? };
        map.insert(key, json(u, depth)?);
    }
    Ok(map)
}

/// Names that appear in the fixtures' registries (inputs, contexts, functions), so that
/// generated params, args and entries often refer to something that exists.
pub const NAMES: &[&str] = &[
    "user_id", "page", "category", "name", "id", "message", "count", "ratio", "flag", "tags", "ids", "filter", "limit",
    "user", "items", "catalog", "global", "prices", "typed_ctx", "update_profile", "set_item_name", "contact_submit",
    "items_list", "user_orders", "user_profile", "typed", "typed_read", "context", "params", "function", "slot", "value",
    "op", "key", "csrfToken", "status", "code", "error",
];

/// A short string: often a name from `NAMES` or a number's spelling, else arbitrary text.
pub fn short_string(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0..=3)? {
        0 => (*u.choose(NAMES)?).to_string(),
        1 => u.arbitrary::<i64>()?.to_string(),
        _ => {
            let s: &str = u.arbitrary()?;
            s.chars().take(24).collect()
        }
    })
}

/// Text that is either arbitrary or the JSON of a generated value (most often the latter).
pub fn json_text(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<String> {
    if u.ratio(1, 8)? {
        let s: &str = u.arbitrary()?;
        Ok(s.to_string())
    } else {
        Ok(json(u, depth)?.to_string())
    }
}

/// A `Value` wrapper so targets can take JSON through `#[derive(Arbitrary)]`.
#[derive(Debug, Clone)]
pub struct Json(pub Value);

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Json(json(u, 3)?))
    }
}

/// JSON text (see [`json_text`]) through `#[derive(Arbitrary)]`.
#[derive(Debug, Clone)]
pub struct JsonText(pub String);

impl<'a> Arbitrary<'a> for JsonText {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(JsonText(json_text(u, 3)?))
    }
}
