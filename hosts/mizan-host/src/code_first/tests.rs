//! What the host refuses before the kernel sees a registry, and the messages. The
//! registrations below are this test binary's only ones; each test picks the ones it needs
//! with `registry_json_of`.

use super::*;

#[derive(serde::Serialize, serde::Deserialize, crate::Mizan)]
#[mizan(name = "Same")]
struct SameA {
    a: i64,
}

#[derive(serde::Serialize, serde::Deserialize, crate::Mizan)]
#[mizan(name = "Same")]
struct SameB {
    b: String,
}

#[crate::client]
fn clash_a() -> SameA {
    SameA { a: 1 }
}

#[crate::client]
fn clash_b() -> SameB {
    SameB { b: String::new() }
}

#[crate::client(name = "twin")]
fn twin_one() {}

#[crate::client(name = "twin")]
fn twin_two() {}

#[crate::client(affects = ["nowhere"])]
fn dangling() {}

/// A context parameter of a type no host gives.
#[crate::client]
fn odd_context(#[mizan(ctx)] _ctx: String) -> i64 {
    1
}

crate::context!(flip, shared);
crate::context!(flip);
crate::context!(twice, shared = true);
crate::context!(twice, shared);

fn pick(names: &[&str]) -> Vec<&'static ClientFn> {
    functions().into_iter().filter(|f| names.contains(&f.rust_path.rsplit("::").next().unwrap_or(""))).collect()
}

fn problem(result: Result<Value>) -> String {
    match result {
        Err(Error::Registration(m)) => m,
        other => panic!("expected a registration error, got {other:?}"),
    }
}

#[test]
fn two_functions_with_one_name() {
    let m = problem(registry_json_of(&pick(&["twin_one", "twin_two"]), &[]));
    assert!(m.starts_with("two functions are named `twin`: "), "{m}");
    assert!(m.contains("code_first::tests::twin_one (hosts/mizan-host/src/code_first/tests.rs:"), "{m}");
    assert!(m.contains("code_first::tests::twin_two ("), "{m}");
}

#[test]
fn two_types_with_one_name() {
    let m = problem(registry_json_of(&pick(&["clash_a", "clash_b"]), &[]));
    assert!(m.contains("two Rust types are named `Same` in the IR: mizan_host::code_first::tests::SameA and mizan_host::code_first::tests::SameB"), "{m}");
    assert!(registry_json_of(&pick(&["clash_a"]), &[]).is_ok());
}

#[test]
fn contexts_declared_twice() {
    let flips: Vec<&ContextDecl> = contexts().into_iter().filter(|c| c.name == "flip").collect();
    let m = problem(registry_json_of(&[], &flips));
    assert!(m.starts_with("context `flip` is declared shared at hosts/mizan-host/src/code_first/tests.rs:"), "{m}");
    let twice: Vec<&ContextDecl> = contexts().into_iter().filter(|c| c.name == "twice").collect();
    assert_eq!(twice.len(), 2);
    assert_eq!(registry_json_of(&[], &twice).unwrap()["contexts"], serde_json::json!({"twice": {"shared": true}}));
}

#[test]
fn graph_problems_are_the_kernel_s_and_emit_reports_them() {
    let kernel = Kernel::new().unwrap();
    let json = registry_json_of(&pick(&["dangling"]), &[]).unwrap();
    let err = Registry::from_json(&kernel, &json).unwrap_err();
    assert_eq!(err.code(), Some(crate::ErrorCode::InvalidRegistry));
    assert!(err.to_string().contains("nowhere"), "{err}");

    // emit-mizan-ir over everything here: the host's own problems first, exit code 1.
    let (mut out, mut errs) = (Vec::new(), Vec::new());
    assert_eq!(emit_ir(&mut out, &mut errs), std::process::ExitCode::FAILURE);
    let errs = String::from_utf8(errs).unwrap();
    assert!(out.is_empty());
    assert!(errs.starts_with("emit-mizan-ir: mizan-host registration: two functions are named `twin`"), "{errs}");
}

#[test]
fn the_context_type_is_recorded() {
    let f = pick(&["odd_context"])[0];
    let ctx = f.ctx.expect("the #[mizan(ctx)] parameter");
    assert_eq!((ctx.name)(), "alloc::string::String");
    assert_eq!((ctx.id)(), TypeId::of::<String>());
    assert!(pick(&["dangling"])[0].ctx.is_none());
}
