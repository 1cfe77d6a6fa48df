//! The golden Rust clients compile (with `#![deny(warnings)]`), serve a typed caller, decode
//! server answers and encode params as the server reads them: `cargo test` of
//! `tests/codegen/rust-check`, a crate of its own (reqwest stays out of the workspace build) with
//! its own target directory, so only the first run compiles reqwest.

use std::process::Command;

#[test]
fn generated_rust_compiles_and_round_trips_the_wire_format() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--quiet", "--locked", "--manifest-path", "tests/codegen/rust-check/Cargo.toml", "--target-dir", "target/codegen-rust-check"])
        .current_dir(root)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo test failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
