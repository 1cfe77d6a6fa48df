//! The golden Rust clients compile (with `#![deny(warnings)]`) and serve a typed caller:
//! `cargo check` of `tests/codegen/rust-check`, a crate of its own (reqwest stays out of the
//! workspace build) with its own target directory, so only the first run compiles reqwest.

use std::process::Command;

#[test]
fn generated_rust_compiles_and_types_its_callers() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--quiet", "--locked", "--manifest-path", "tests/codegen/rust-check/Cargo.toml", "--target-dir", "target/codegen-rust-check"])
        .current_dir(root)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo check failed:\n{}", String::from_utf8_lossy(&out.stderr));
}
