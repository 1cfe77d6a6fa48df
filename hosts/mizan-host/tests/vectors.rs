//! Every vector in tests/vectors/kernel-vectors.json, through the component.

use mizan_host::{Kernel, Registry};
use serde_json::{Map, Value};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/kernel-vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors file")).expect("vectors JSON")
}

#[test]
fn cache_key_vectors() {
    let kernel = Kernel::new().unwrap();
    let v = vectors();
    let cases = v["cache_keys"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let secret = case["secret"].as_str().unwrap();
        let context = case["context"].as_str().unwrap();
        let rev = u32::try_from(case["rev"].as_u64().unwrap()).unwrap();
        let user = case.get("user");
        let want = case["key"].as_str().unwrap();
        // The free function, the keyer, the batch form and the rotation form agree.
        let key = kernel.derive_cache_key(secret, context, &case["params"], user, rev).unwrap();
        assert_eq!(key, want, "key of {id}");
        let keyer = kernel.keyer(secret).unwrap();
        assert_eq!(keyer.derive(context, &case["params"], user, rev).unwrap(), want, "keyer key of {id}");
        let mut item = serde_json::json!({"context": context, "params": case["params"], "rev": rev});
        if let Some(u) = user {
            item["user"] = u.clone();
        }
        assert_eq!(keyer.derive_batch(&Value::Array(vec![item])).unwrap(), [want], "batch key of {id}");
        let rotation = kernel
            .derive_cache_key_rotation(&[secret.to_string(), "other-secret".into()], context, &case["params"], user, rev)
            .unwrap();
        assert_eq!(rotation[0], want, "rotation key of {id}");
    }
}

#[test]
fn header_vectors() {
    let kernel = Kernel::new().unwrap();
    let v = vectors();
    for case in v["header"].as_array().unwrap() {
        let header = case["header"].as_str().unwrap();
        assert_eq!(kernel.format_invalidate_header(&case["entries"]).unwrap(), header);
        // Parse is the inverse, with param values back as strings (`stringify`).
        let parsed = kernel.parse_invalidate_header(header).unwrap();
        let entries = case["entries"].as_array().unwrap();
        let parsed = parsed.as_array().unwrap();
        assert_eq!(parsed.len(), entries.len(), "{header}");
        for (p, e) in parsed.iter().zip(entries) {
            match e {
                Value::String(ctx) => assert_eq!(p, &Value::String(ctx.clone()), "{header}"),
                Value::Object(e) => {
                    assert_eq!(p["context"], e["context"], "{header}");
                    let stringified: Map<String, Value> = e["params"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(kernel.stringify(v).unwrap())))
                        .collect();
                    assert_eq!(p["params"], Value::Object(stringified), "{header}");
                }
                other => panic!("unexpected vector entry {other}"),
            }
        }
        // And formatting the parsed entries gives the header back.
        assert_eq!(kernel.format_invalidate_header(&Value::Array(parsed.clone())).unwrap(), header);
    }
}

#[test]
fn merge_vectors() {
    let kernel = Kernel::new().unwrap();
    let v = vectors();
    for case in v["merge"].as_array().unwrap() {
        let registry = Registry::from_json(&kernel, &case["registry"]).unwrap();
        let call = &case["call"];
        let function = call["fn"].as_str().unwrap();
        let merges = registry.resolve_merges(function, &call["args"], &call["result"]).unwrap();
        assert_eq!(merges.merges, case["expect"]["merge"]);
        let invalidation = registry.resolve_invalidation(function, &call["args"], None).unwrap();
        assert_eq!(invalidation.entries, case["expect"]["invalidate"]);
    }
}
