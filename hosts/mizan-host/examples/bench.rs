//! Per-call cost of the wasmtime host against the native crate doing the same work:
//! `cargo run --release -p mizan-host --example bench`.
//!
//! Each figure is the median, over 101 rounds, of the mean time per call within a round
//! (a round runs long enough to cover ~1 ms, so on a shared machine most rounds run without
//! being preempted). Both sides start from the same Rust values and
//! end with the same Rust values (so the host's JSON text conversions are counted).

use mizan_host::{ArtifactSource, CacheConfig, Kernel, Registry};
use mizan_kernel as native;
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The same bindings the host generates, for the raw-call baseline.
mod raw {
    wasmtime::component::bindgen!({ path: "../../wit", world: "kernel" });
}

const SECRET: &str = "test-pin-secret-that-is-32bytes!";
const ROUNDS: usize = 101;

/// Median ns per call of `f`.
fn measure(mut f: impl FnMut()) -> f64 {
    // Calibrate: iterations per ~1 ms round.
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(1) {
        f();
        n += 1;
    }
    let mut per_call: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[ROUNDS / 2]
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 10_000.0 { format!("{:.1} µs", ns / 1000.0) } else { format!("{ns:.0} ns") }
}

fn row(name: &str, wasm: f64, native: f64) {
    println!("{name:<44} {:>10} {:>10} {:>7.1}x", fmt_ns(wasm), fmt_ns(native), wasm / native);
}

fn key_input(params: &Value, user: Option<&Value>) -> native::KeyInput {
    native::KeyInput {
        context: "user".into(),
        params: params.as_object().cloned().unwrap(),
        user: user.map(|u| native::keys::user_subject(u).unwrap()).unwrap_or_default(),
        rev: 0,
    }
}

fn registry_kdl(n_contexts: usize) -> String {
    let mut kdl = String::from("mizan-ir version=1\n");
    for i in 0..n_contexts {
        kdl.push_str(&format!("function q{i} context=c{i} output=any {{\n    input id type=integer\n}}\n"));
    }
    for i in 0..n_contexts {
        let next = (i + 1) % n_contexts;
        kdl.push_str(&format!(
            "function m{i} output=any {{\n    input id type=integer\n    input name type=string\n    affects c{i} c{next}\n}}\n"
        ));
    }
    kdl
}

fn main() {
    // --- Startup ---------------------------------------------------------------------------
    // Compile by hand (no cache) to time it; the same component serves the raw-call baseline.
    let engine = wasmtime::Engine::new(&wasmtime::Config::new()).unwrap();
    let start = Instant::now();
    let component = wasmtime::component::Component::new(&engine, mizan_host::COMPONENT).unwrap();
    let compile = start.elapsed();
    let kernel = Kernel::new().unwrap();
    let kernel = if kernel.artifact().source == ArtifactSource::Loaded {
        kernel
    } else {
        Kernel::new().unwrap() // now cached
    };
    assert_eq!(kernel.artifact().source, ArtifactSource::Loaded);
    let cache_dir = kernel.artifact().path.as_ref().and_then(|p| p.parent()).unwrap().to_path_buf();
    let mut loads: Vec<Duration> = (0..9)
        .map(|_| Kernel::builder().cache(CacheConfig::Dir(cache_dir.clone())).build().unwrap().artifact().load_time)
        .collect();
    loads.sort();
    println!("mizan-host bench (wasmtime 48, release); component {} bytes", mizan_host::COMPONENT.len());
    println!("compile (Component::new):                  {compile:?}");
    println!("load cached artifact (read+sha256+deserialize), median of 9: {:?}", loads[4]);

    let fresh = Kernel::builder().max_idle(0).build().unwrap(); // every call instantiates
    let instantiate_call = measure(|| {
        black_box(fresh.stringify(black_box(&json!(1))).unwrap());
    });
    let keyer_create = measure(|| {
        black_box(kernel.keyer(black_box(SECRET)).unwrap());
    });
    println!("fresh instance + trivial call:             {}", fmt_ns(instantiate_call));
    println!("Kernel::keyer (instance + create):         {}", fmt_ns(keyer_create));

    // --- Raw wasmtime calls: text in, text out, one store, no pool (the floor under the API) ---
    let linker = wasmtime::component::Linker::<()>::new(&engine);
    let pre = raw::KernelPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let raw = pre.instantiate(&mut store).unwrap();
    let raw_stringify = measure(|| {
        black_box(raw.mizan_kernel_canon().call_stringify(&mut store, black_box("1")).unwrap().unwrap());
    });
    let raw_check = measure(|| {
        black_box(raw.mizan_kernel_keys().call_check_secret(&mut store, black_box(SECRET)).unwrap().unwrap());
    });
    let raw_derive = measure(|| {
        let k = raw.mizan_kernel_keys();
        black_box(k.call_derive_cache_key(&mut store, SECRET, "user", black_box(r#"{"tab":"orders","user_id":5}"#), Some("5"), 0).unwrap().unwrap());
    });
    println!("raw bindings call, stringify(\"1\"):        {}", fmt_ns(raw_stringify));
    println!("raw bindings call, check-secret:            {}", fmt_ns(raw_check));
    println!("raw bindings call, derive-cache-key:        {}", fmt_ns(raw_derive));
    println!();
    println!("{:<44} {:>10} {:>10} {:>8}", "operation (median per call)", "wasm host", "native", "ratio");

    // --- Trivial call ------------------------------------------------------------------------
    let one = json!(1);
    let w = measure(|| {
        black_box(kernel.stringify(black_box(&one)).unwrap());
    });
    let n = measure(|| {
        black_box(native::canon::stringify(black_box(&one)));
    });
    row("stringify(1) (trivial call)", w, n);

    // --- Keys --------------------------------------------------------------------------------
    let params = json!({"user_id": 5, "tab": "orders"});
    let user = json!(5);
    let w = measure(|| {
        black_box(kernel.derive_cache_key(SECRET, "user", black_box(&params), Some(&user), 0).unwrap());
    });
    let n = measure(|| {
        black_box(native::keys::derive_cache_key(SECRET, &key_input(black_box(&params), Some(&user))).unwrap());
    });
    row("derive-cache-key (Kernel, secret per call)", w, n);

    let keyer = kernel.keyer(SECRET).unwrap();
    let native_keyer = native::Keyer::new(SECRET).unwrap();
    let w = measure(|| {
        black_box(keyer.derive("user", black_box(&params), Some(&user), 0).unwrap());
    });
    let n = measure(|| {
        black_box(native_keyer.derive(&key_input(black_box(&params), Some(&user))));
    });
    row("derive (Keyer)", w, n);

    let items = Value::Array(
        (0..100).map(|i| json!({"context": "items", "params": {"id": i, "page": i % 4}, "user": i % 9})).collect(),
    );
    let w = measure(|| {
        black_box(keyer.derive_batch(black_box(&items)).unwrap());
    });
    let n = measure(|| {
        black_box(native_keyer.derive_batch_json(&black_box(&items).to_string()).unwrap());
    });
    row("derive-batch of 100 (Keyer)", w, n);
    println!("{:<44} {:>10} {:>10}", "  per key", fmt_ns(w / 100.0), fmt_ns(n / 100.0));

    // --- Header ------------------------------------------------------------------------------
    let entries = json!(["notifications", {"context": "user", "params": {"user_id": 5, "tab": "a b"}},
                          {"context": "items", "params": {"category": "tools", "page": 2}}]);
    let header = kernel.format_invalidate_header(&entries).unwrap();
    let w = measure(|| {
        black_box(kernel.parse_invalidate_header(black_box(&header)).unwrap());
    });
    let n = measure(|| {
        let parsed = native::header::parse_header(black_box(&header)).unwrap();
        black_box(native::invalidation::entries_to_json(&parsed));
    });
    row("parse-invalidate-header (3 entries)", w, n);
    let w = measure(|| {
        black_box(kernel.format_invalidate_header(black_box(&entries)).unwrap());
    });
    let n = measure(|| {
        let e = native::invalidation::entries_from_json(black_box(&entries)).unwrap();
        black_box(native::header::format_header(&e).unwrap());
    });
    row("format-invalidate-header (3 entries)", w, n);

    // --- Registry ----------------------------------------------------------------------------
    let kdl = registry_kdl(100);
    let registry = Registry::from_kdl(&kernel, &kdl).unwrap();
    let native_registry = native::Registry::from_kdl(&kdl).unwrap();
    assert_eq!(native_registry.functions_sorted().len(), 200);
    let args = json!({"id": 7, "name": "x"});
    let want = registry.resolve_invalidation("m42", &args, None).unwrap();
    assert_eq!(want.header.as_deref(), Some("c42;id=7, c43;id=7"));
    let w = measure(|| {
        black_box(registry.resolve_invalidation("m42", black_box(&args), None).unwrap());
    });
    let n = measure(|| {
        let args = black_box(&args).as_object().unwrap();
        let entries = native_registry.resolve_invalidation("m42", args, None).unwrap();
        black_box((native::invalidation::entries_to_json(&entries), native::header::format_header(&entries).ok()));
    });
    row("resolve-invalidation (200 functions)", w, n);
    let w = measure(|| {
        black_box(Registry::from_kdl(&kernel, black_box(&kdl)).unwrap());
    });
    let n = measure(|| {
        black_box(native::Registry::from_kdl(black_box(&kdl)).unwrap());
    });
    row("Registry::from_kdl (200 functions)", w, n);
    let w = measure(|| {
        black_box(registry.to_json().unwrap());
    });
    let n = measure(|| {
        black_box(native_registry.to_json());
    });
    row("Registry::to_json (200 functions)", w, n);
}
