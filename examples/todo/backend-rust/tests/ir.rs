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
