//! The registry's JSON form (what `@client` decorators produce and hosts hand the engine): raw
//! text, and the example shop registry with arbitrary subtrees replaced. Never a panic; what
//! reads back emits a JSON form that reads back the same.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mizan_kernel::Registry;
use mizan_kernel_fuzz::json;
use serde_json::Value;
use std::sync::OnceLock;

const SHOP: &str = include_str!("../../../tests/fixtures/ir/shop.kdl");

fn shop() -> &'static Value {
    static SHOP_JSON: OnceLock<Value> = OnceLock::new();
    SHOP_JSON.get_or_init(|| Registry::from_kdl(SHOP).expect("the shop fixture parses").to_json())
}

fn children(v: &Value) -> usize {
    match v {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    }
}

/// The value at `path` (child indices, object children in key order).
fn at_path<'v>(v: &'v mut Value, path: &[usize]) -> &'v mut Value {
    let Some((&i, rest)) = path.split_first() else { return v };
    match v {
        Value::Object(map) => at_path(map.values_mut().nth(i).expect("a path of existing children"), rest),
        Value::Array(items) => at_path(&mut items[i], rest),
        _ => v,
    }
}

/// Replace a few subtrees of `value` (picked by walking down) with generated JSON, or add a key.
fn mutate(u: &mut Unstructured<'_>, value: &mut Value) -> arbitrary::Result<()> {
    for _ in 0..u.int_in_range(1..=4)? {
        let mut path = Vec::new();
        let mut at = &*value;
        while children(at) > 0 && !u.ratio(1, 3)? {
            let i = u.choose_index(children(at))?;
            path.push(i);
            at = match at {
                Value::Object(map) => map.values().nth(i).expect("an existing child"),
                Value::Array(items) => &items[i],
                _ => at,
            };
        }
        let target = at_path(value, &path);
        match target {
            Value::Object(map) if u.arbitrary()? => {
                map.insert(mizan_kernel_fuzz::short_string(u)?, json(u, 2)?);
            }
            _ => *target = json(u, 2)?,
        }
    }
    Ok(())
}

#[derive(Debug)]
struct Input(String);

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        if u.ratio(1, 4)? {
            return Ok(Input(u.arbitrary::<&str>()?.to_string()));
        }
        let mut value = shop().clone();
        mutate(u, &mut value)?;
        Ok(Input(value.to_string()))
    }
}

fuzz_target!(|input: Input| {
    if let Ok(registry) = Registry::from_json(&input.0) {
        let json = registry.to_json();
        let again = Registry::from_json_value(&json).unwrap_or_else(|e| panic!("the emitted JSON form must read back: {e}\n{json}"));
        assert_eq!(again, registry, "JSON round trip changed the registry");
        Registry::from_kdl(&registry.to_kdl()).expect("a registry from JSON must emit KDL that parses");
    }
});
