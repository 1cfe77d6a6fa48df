//! The Rust functions export the example's IR byte for byte: `examples/todo/todo.kdl`, which the
//! Python functions export too (python-shims/tests/test_todo_example.py) and the frontend's
//! client is generated from.

use mizan_todo as _;

#[test]
fn the_functions_export_todo_kdl_byte_for_byte() {
    let ir = mizan_host::build_ir().expect("the functions make a registry");
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../todo.kdl")).unwrap();
    assert_eq!(ir, committed, "the Rust functions' IR differs from examples/todo/todo.kdl");
}

/// README.md "Quick start" (Rust), as written, on the example's IR.
#[test]
fn the_readmes_rust_quick_start_is_true_against_the_example() -> mizan_host::Result<()> {
    use mizan_host::{Kernel, Registry};
    use serde_json::json;

    let secret = "test-pin-secret-that-is-32bytes!";
    let kernel = Kernel::new()?;
    let key = kernel.derive_cache_key(secret, "todos", &json!({}), Some(&json!("alice")), 0)?;
    assert_eq!(key, "ctx:todos:96f7ae6189ea5c6b09e00e3f3dfe99ccf942c66434430e6c60c404e6bb5fd348");
    let kdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../todo.kdl")).unwrap();
    let registry = Registry::from_kdl(&kernel, &kdl)?;
    let inv = registry.resolve_invalidation("add_todo", &json!({"title": "milk"}), Some("alice"))?;
    assert_eq!(inv.entries, json!(["todos"]));
    assert_eq!(inv.header.as_deref(), Some("todos"));
    Ok(())
}
