//! The Rust host's exchange interpreter: requests in flight share the exchange's homes (an
//! exchange locks its instance only per `update`, never while a function runs), and every
//! answer is still the right one.

use mizan_host::app::{Ctx, HostRequest, Mizan};
use mizan_host::{Kernel, Request};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const KDL: &str = r#"mizan-ir version=1
context slow
function slow_value context=slow output=any {
    input n type=integer
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_the_homes_instead_of_one_instance_each() {
    let kernel = Kernel::new().unwrap();
    let mizan = Mizan::builder(KDL)
        .kernel(kernel.clone())
        .function("slow_value", |args: Value, _ctx: Ctx| async move {
            tokio::time::sleep(Duration::from_millis(50)).await; // every request is in flight at once
            Ok(json!({"n": args["n"]}))
        })
        .build()
        .unwrap();
    let before = kernel.stats().instantiations;
    const IN_FLIGHT: usize = 48;
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|n| {
            let mizan = mizan.clone();
            tokio::spawn(async move {
                let request = Request::new("GET", "/api/mizan/ctx/slow/", format!("n={n}"), Vec::new(), Vec::new());
                let host: HostRequest = Arc::new(());
                (n, mizan.handle(&request, host, None).await)
            })
        })
        .collect();
    for t in tasks {
        let (n, response) = t.await.unwrap();
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(response.body, format!(r#"{{"slow_value":{{"n":{n}}}}}"#));
    }
    let made = kernel.stats().instantiations - before;
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get()).clamp(1, 16) as u64;
    assert!(made <= cores, "{made} instances for {IN_FLIGHT} requests in flight (at most one home per core: {cores})");
    assert_eq!(kernel.stats().traps, 0);
}
