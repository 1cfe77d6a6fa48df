//! One `Kernel` shared by threads gives the same answers as a single thread.

use mizan_host::Kernel;
use serde_json::json;
use std::sync::Arc;

const SECRET: &str = "test-pin-secret-that-is-32bytes!";
const N: usize = 1000;

fn derive_all(kernel: &Kernel) -> Vec<String> {
    (0..N)
        .map(|i| {
            let user = json!(i % 7);
            kernel.derive_cache_key(SECRET, "items", &json!({"id": i, "page": i % 3}), Some(&user), (i % 2) as u32).unwrap()
        })
        .collect()
}

#[test]
fn four_threads_derive_the_same_keys_as_one() {
    let kernel = Kernel::new().unwrap();
    let single = Arc::new(derive_all(&kernel));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let kernel = kernel.clone();
            std::thread::spawn(move || derive_all(&kernel))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), *single);
    }
    let stats = kernel.stats();
    assert_eq!(stats.traps, 0);
    assert!(stats.idle >= 1 && stats.idle <= mizan_host::DEFAULT_MAX_IDLE, "{stats:?}");
}

#[test]
fn a_shared_keyer_serializes_calls() {
    let kernel = Kernel::new().unwrap();
    let keyer = Arc::new(kernel.keyer(SECRET).unwrap());
    let want: Vec<String> =
        (0..200).map(|i| kernel.derive_cache_key(SECRET, "c", &json!({"i": i}), None, 0).unwrap()).collect();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let keyer = Arc::clone(&keyer);
            std::thread::spawn(move || (0..200).map(|i| keyer.derive("c", &json!({"i": i}), None, 0).unwrap()).collect::<Vec<_>>())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), want);
    }
}

#[test]
fn the_pool_keeps_at_most_max_idle_instances() {
    let kernel = Kernel::builder().max_idle(2).build().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let kernel = kernel.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    kernel.stringify(&json!(i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(kernel.stats().idle <= 2);
}
