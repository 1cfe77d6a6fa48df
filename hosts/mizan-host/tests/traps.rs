//! A trap poisons an instance; the host drops it and keeps serving (KERNEL.md §0).

use mizan_host::{Error, Kernel, Registry, Store};
use serde_json::{Value, json};

const LIMIT: usize = 4 << 20;
const SECRET: &str = "test-pin-secret-that-is-32bytes!";

/// A string argument larger than the store's memory cap: lowering it into the guest fails.
fn huge() -> Value {
    Value::String("x".repeat(2 * LIMIT))
}

#[track_caller]
fn assert_trap<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::Trap(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn kernel_keeps_serving_after_a_trap() {
    let kernel = Kernel::builder().memory_limit(LIMIT).build().unwrap();
    let before = kernel.stringify(&json!(1)).unwrap();
    assert_trap(kernel.stringify(&huge()));
    assert_eq!(kernel.stats().traps, 1);
    // The next calls run on a fresh (or another pooled) instance.
    assert_eq!(kernel.stringify(&json!(1)).unwrap(), before);
    let key = kernel.derive_cache_key(SECRET, "user", &json!({"user_id": "5"}), None, 0).unwrap();
    assert_eq!(key, "ctx:user:605a1ca5ad5994e9b765c8d1b330474c2a0d51a7b8fbbdc402f992da7ba902f6");
    // A typed error is not a trap and does not discard the instance.
    let e = kernel.parse_invalidate_header("a;k=%zz").unwrap_err();
    assert_eq!(e.code(), Some(mizan_host::ErrorCode::InvalidHeader));
    assert_eq!(e.as_kernel().unwrap().details, Some(json!({"position": 4})));
    assert_eq!(kernel.stats().traps, 1);
    // Trap every pooled instance in turn: still serving.
    for _ in 0..3 {
        assert_trap(kernel.canonical_json(&huge()));
    }
    assert_eq!(kernel.canonical_json(&json!({"b": 1, "a": [true]})).unwrap(), r#"{"a":[true],"b":1}"#);
    assert_eq!(kernel.stats().traps, 4);
}

#[test]
fn keyer_is_rebuilt_after_a_trap() {
    let kernel = Kernel::builder().memory_limit(LIMIT).build().unwrap();
    let keyer = kernel.keyer(SECRET).unwrap();
    let params = json!({"user_id": "5"});
    let key = keyer.derive("user", &params, None, 0).unwrap();
    let made = kernel.stats().instantiations;
    assert_trap(keyer.derive("user", &json!({"blob": huge()}), None, 0));
    // Rebuilt from the kept secret, transparently: same keys.
    assert_eq!(keyer.derive("user", &params, None, 0).unwrap(), key);
    assert_eq!(keyer.derive_batch(&json!([{"context": "user", "params": params}])).unwrap(), std::slice::from_ref(&key));
    assert_eq!(kernel.stats().instantiations, made + 1);
    // Several traps in a row.
    assert_trap(keyer.derive_batch(&huge()));
    assert_trap(keyer.purge_plan(&json!([huge()])));
    assert_eq!(keyer.index_entry("user", &params, None, 0).unwrap().key, key);
}

#[test]
fn registry_is_rebuilt_after_a_trap() {
    let kernel = Kernel::builder().memory_limit(LIMIT).build().unwrap();
    let kdl = "mizan-ir version=1\ncontext user\nfunction user_profile context=user output=any {\n    input user_id type=integer\n}\nfunction rename output=any {\n    input user_id type=integer\n    affects user\n}\n";
    let registry = Registry::from_kdl(&kernel, kdl).unwrap();
    let args = json!({"user_id": 5});
    let want = registry.resolve_invalidation("rename", &args, None).unwrap();
    assert_eq!(want.header.as_deref(), Some("user;user_id=5"));
    let canonical = registry.to_kdl().unwrap();
    assert_trap(registry.resolve_invalidation("rename", &json!({"user_id": huge()}), None));
    // Rebuilt from the JSON form kept at creation: same registry, same answers.
    assert_eq!(registry.resolve_invalidation("rename", &args, None).unwrap(), want);
    assert_eq!(registry.to_kdl().unwrap(), canonical);
    assert_trap(registry.manifest("https://example.test", Some(&json!({"user": [huge()]}))));
    assert_eq!(registry.context_policy("user").unwrap().rev, 0);
    assert_eq!(kernel.stats().traps, 2);
}

#[test]
fn a_memory_cap_below_the_initial_memory_fails_at_build() {
    let e = Kernel::builder().memory_limit(64 << 10).build().unwrap_err();
    assert!(matches!(e, Error::Host(_)), "{e:?}");
}

#[test]
fn an_instance_that_grew_is_not_returned_to_the_pool() {
    // The component starts with ~1 MiB of memory and small calls grow it by a few pages.
    let kernel = Kernel::builder().memory_limit(64 << 20).retain_memory(4 << 20).build().unwrap();
    assert_eq!(kernel.stats().idle, 1);
    kernel.stringify(&json!(1)).unwrap();
    assert_eq!(kernel.stats().idle, 1, "a small call keeps its instance");
    let big = "y".repeat(8 << 20);
    assert_eq!(kernel.stringify(&Value::String(big.clone())).unwrap(), big);
    assert_eq!(kernel.stats().idle, 0, "the grown instance was dropped");
    assert_eq!(kernel.stats().traps, 0);
    kernel.stringify(&json!(2)).unwrap();
    assert_eq!(kernel.stats().idle, 1);
}

#[test]
fn a_lost_store_says_so_on_every_call() {
    // A client store holds state no source can rebuild: after a trap it must say so, on every
    // call, instead of silently starting empty; the kernel itself keeps serving.
    let kernel = Kernel::builder().memory_limit(LIMIT).build().unwrap();
    let store = Store::new(&kernel, None).unwrap();
    let key = store.subscribe("user", &json!({"user_id": 5}), 0).unwrap();
    assert_trap(store.subscribe("user", &json!({"blob": huge()}), 0));
    for result in [store.instance_count().map(|_| ()), store.unsubscribe(&key, 0), store.tick(1)] {
        match result {
            Err(Error::Trap(msg)) => assert!(msg.contains("its state is lost: create a new one"), "{msg}"),
            other => panic!("expected the lost-state error, got {other:?}"),
        }
    }
    assert!(store.is_lost());
    assert_eq!(kernel.stringify(&json!([1])).unwrap(), "[1]");
    assert_eq!(Store::new(&kernel, None).unwrap().instance_count().unwrap(), 0);
}
