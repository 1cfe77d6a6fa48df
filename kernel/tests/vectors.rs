//! Every vector in tests/vectors/kernel-vectors.json (the project's copy of the spec's vectors),
//! reproduced by the native crate. The component hosts replay the same file.

use mizan_kernel::Registry;
use mizan_kernel::canon::stringify;
use mizan_kernel::header::{format_header, parse_header};
use mizan_kernel::invalidation::{entries_from_json, entries_to_json};
use mizan_kernel::keys::{KeyInput, Keyer, user_subject};
use serde_json::{Map, Value};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/kernel-vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors file")).expect("vectors JSON")
}

#[test]
fn cache_key_vectors() {
    let v = vectors();
    let cases = v["cache_keys"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let input = KeyInput {
            context: case["context"].as_str().unwrap().to_string(),
            params: case["params"].as_object().cloned().unwrap(),
            user: user_subject(case.get("user").unwrap_or(&Value::Null)).unwrap(),
            rev: case["rev"].as_u64().unwrap(),
        };
        assert_eq!(input.message(), case["message"].as_str().unwrap(), "message of {id}");
        let keyer = Keyer::new(case["secret"].as_str().unwrap()).unwrap();
        assert_eq!(keyer.derive(&input), case["key"].as_str().unwrap(), "key of {id}");
    }
}

#[test]
fn header_vectors() {
    let v = vectors();
    for case in v["header"].as_array().unwrap() {
        let entries = entries_from_json(&case["entries"]).unwrap();
        let header = case["header"].as_str().unwrap();
        assert_eq!(format_header(&entries).unwrap(), header);
        // Parse is the inverse, with values back as strings.
        let parsed = parse_header(header).unwrap();
        assert_eq!(parsed.len(), entries.len());
        for (p, e) in parsed.iter().zip(&entries) {
            assert_eq!(p.context(), e.context());
            let stringified: Map<String, Value> =
                e.params().iter().map(|(k, v)| (k.clone(), Value::String(stringify(v)))).collect();
            assert_eq!(p.params(), &stringified);
        }
    }
}

#[test]
fn merge_vectors() {
    let v = vectors();
    for case in v["merge"].as_array().unwrap() {
        let registry = Registry::from_json_value(&case["registry"]).unwrap();
        let call = &case["call"];
        let function = call["fn"].as_str().unwrap();
        let args = call["args"].as_object().cloned().unwrap();
        let merges = registry.resolve_merges(function, &args, &call["result"]).unwrap();
        assert_eq!(merges.merges_json(), case["expect"]["merge"]);
        let invalidate = registry.resolve_invalidation(function, &args, None).unwrap();
        assert_eq!(entries_to_json(&invalidate), case["expect"]["invalidate"]);
    }
}
