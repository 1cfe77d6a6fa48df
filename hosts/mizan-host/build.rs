//! Locate the component the host embeds (`include_bytes!`) and rebuild when it changes.
//!
//! The component is `<workspace>/target/mizan-kernel.wasm`, built by `scripts/build-component.sh`;
//! `MIZAN_KERNEL_WASM` overrides the path. A missing file is a build error that says what to run.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=MIZAN_KERNEL_WASM");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.join("../..");
    let path = match std::env::var_os("MIZAN_KERNEL_WASM") {
        Some(p) => PathBuf::from(p),
        None => workspace.join("target/mizan-kernel.wasm"),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    if !path.is_file() {
        // `cargo::error` fails the build with this message once the script returns.
        println!("cargo::error=the kernel component {} is missing: run scripts/build-component.sh first", path.display());
        return;
    }
    let path = path.canonicalize().unwrap_or(path);
    println!("cargo:rustc-env=MIZAN_KERNEL_WASM_PATH={}", path.display());
}
