//! In-process figures for docs/PERFORMANCE.md "Server (Rust)":
//!
//! 1. Kernel overhead per request: the engine calls one request costs (`plan`, then
//!    `finish_call` / `finish_fetch` with the function's result already given: no user work, no
//!    HTTP, no store I/O), against what a plain handler does for the same request in Rust
//!    (parse the JSON body or the query string, serialize the same result).
//! 2. The same requests through the whole Axum router in process (`tower::ServiceExt::oneshot`,
//!    no sockets): the Mizan router (in-memory store) against plain Axum handlers
//!    (`plain_router`) returning the same JSON.
//! 3. The engine's pool against one engine instance behind a mutex, 2 threads planning at once.
//!
//! `cargo run --release -p mizan-axum-app --bin axum_bench` — medians of 7 rounds.

use axum::body::Body;
use axum::http::Request as HttpRequest;
use mizan_axum_app::{CACHE_SECRET, CacheKind, JWT_SECRET, MWT_SECRET, State, ir, mizan, plain_router, router};
use mizan_host::{Engine, EngineConfig, FetchOutcome, Identity, Kernel, Outcome, Plan, Request};
use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Instant;
use tower::ServiceExt;

const ROUNDS: usize = 7;
const N: usize = 2000;

/// Median over rounds of the mean time per iteration, in microseconds.
fn time(mut f: impl FnMut()) -> f64 {
    for _ in 0..200 {
        f();
    }
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..N {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / N as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

async fn time_async<F, Fut>(mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..200 {
        f().await;
    }
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..N {
            f().await;
        }
        rounds.push(t.elapsed().as_secs_f64() * 1e6 / N as f64);
    }
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn config(cache: bool) -> EngineConfig {
    EngineConfig {
        cache_secret: cache.then(|| CACHE_SECRET.to_string()),
        mwt_secret: Some(MWT_SECRET.into()),
        jwt_secret: Some(JWT_SECRET.into()),
        body_limit: Some(65536),
        ..EngineConfig::default()
    }
}

fn row(name: &str, kernel: f64, plain: Option<f64>) {
    let plain = plain.map_or(String::new(), |p| format!("{p:>10.2}"));
    println!("{name:<70} {kernel:>10.2} {plain}");
}

fn in_process(kernel: &Kernel, app_kdl: &str, state: &State) {
    let e = Engine::from_kdl(kernel, app_kdl, &config(true)).unwrap();
    let e0 = Engine::from_kdl(kernel, app_kdl, &config(false)).unwrap();
    let carol = Identity { subject: "3".into(), staff: true, ..Identity::default() };
    println!("{:<70} {:>10} {:>10}", "request (µs per request)", "kernel", "plain Rust");
    println!("{}", "-".repeat(92));

    let call_body = br#"{"fn":"item_count","args":{}}"#.to_vec();
    let call_req = Request::new("POST", "/api/mizan/call/", "", vec![], call_body.clone());
    let k = time(|| {
        let Plan::Call(p) = e.plan(&call_req, None, 0, &[]).unwrap() else { panic!() };
        black_box(e.finish_call(&p, Outcome::Ok("3".into())).unwrap());
    });
    let p = time(|| {
        let body: Value = serde_json::from_slice(&call_body).unwrap();
        assert_eq!(body["fn"], "item_count");
        black_box(serde_json::to_vec(&json!({"result": state.item_count(), "invalidate": []})).unwrap());
    });
    row("POST /call/ item_count: plan + finish_call", k, Some(p));

    let rename_body = br#"{"fn":"rename_item","args":{"id":1,"name":"apple"}}"#.to_vec();
    let rename_req = Request::new("POST", "/api/mizan/call/", "", vec![], rename_body.clone());
    let item = json!({"id": 1, "name": "apple", "price": 1.5, "category": "fruit"});
    let item_text = item.to_string();
    let k = time(|| {
        let Plan::Call(p) = e.plan(&rename_req, Some(&carol), 0, &[]).unwrap() else { panic!() };
        black_box(e.finish_call(&p, Outcome::Ok(item_text.clone())).unwrap());
    });
    let p = time(|| {
        let body: Value = serde_json::from_slice(&rename_body).unwrap();
        let id = body["args"]["id"].clone();
        let out = json!({"result": item, "invalidate": ["items", {"context": "item", "params": {"id": id}}]});
        black_box(serde_json::to_vec(&out).unwrap());
    });
    row("POST /call/ rename_item (invalidate, merge, purge plan)", k, Some(p));

    let fetch_req = Request::new("GET", "/api/mizan/ctx/items/", "page=1", vec![], vec![]);
    let count = "3".to_string();
    let list = serde_json::to_string(&state.items_list(Some(1), None)).unwrap();
    let results = || FetchOutcome::Results(vec![("item_count".into(), Outcome::Ok(count.clone())), ("items_list".into(), Outcome::Ok(list.clone()))]);
    let k = time(|| {
        let Plan::Fetch(p) = e0.plan(&fetch_req, None, 0, &[]).unwrap() else { panic!() };
        black_box(e0.finish_fetch(&p.context, p.cache.as_ref(), results()).unwrap());
    });
    let p = time(|| {
        let page: i64 = "page=1".split_once('=').unwrap().1.parse().unwrap();
        let bundle = json!({"item_count": state.item_count(), "items_list": state.items_list(Some(page), None)});
        black_box(serde_json::to_vec(&bundle).unwrap());
    });
    row("GET /ctx/items/?page=1 (no cache): plan + finish_fetch", k, Some(p));

    let Plan::Fetch(first) = e.plan(&fetch_req, Some(&carol), 0, &[]).unwrap() else { panic!() };
    let cached = e.finish_fetch(&first.context, first.cache.as_ref(), results()).unwrap().response.body;
    let k = time(|| {
        let Plan::Fetch(p) = e.plan(&fetch_req, Some(&carol), 0, &[]).unwrap() else { panic!() };
        black_box(e.finish_fetch(&p.context, p.cache.as_ref(), FetchOutcome::Hit(cached.clone())).unwrap());
    });
    row("GET /ctx/items/?page=1 (cache hit): plan (key) + finish_fetch", k, None);
    let k = time(|| {
        let Plan::Fetch(p) = e.plan(&fetch_req, Some(&carol), 0, &[]).unwrap() else { panic!() };
        black_box(e.finish_fetch(&p.context, p.cache.as_ref(), results()).unwrap());
    });
    row("GET /ctx/items/?page=1 (cache miss): plan (key, index keys) + finish_fetch (put)", k, None);
    let sess = Request::new("GET", "/api/mizan/session/", "", vec![], vec![]);
    row("GET /session/: plan", time(|| drop(black_box(e.plan(&sess, None, 0, &[]).unwrap()))), None);
}

async fn through_router(kernel: &Kernel) {
    let state = State::default();
    let m = mizan(kernel, &state, &CacheKind::Memory).await.unwrap();
    let app = router(&m).merge(plain_router(&state));
    println!();
    println!("{:<70} {:>10} {:>10}", "through the Axum router in process (µs per request)", "Mizan", "plain Axum");
    println!("{}", "-".repeat(92));
    let send = |req: HttpRequest<Body>| {
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await.unwrap();
            assert!(resp.status().is_success());
            black_box(axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap());
        }
    };
    let call = |path: &str| HttpRequest::post(path).header("content-type", "application/json").body(Body::from(r#"{"fn":"item_count","args":{}}"#)).unwrap();
    let k = time_async(|| send(call("/api/mizan/call/"))).await;
    let p = time_async(|| send(call("/plain/call/"))).await;
    row("POST /call/ item_count", k, Some(p));
    let get = |path: &str| HttpRequest::get(path).body(Body::empty()).unwrap();
    let k = time_async(|| send(get("/api/mizan/ctx/items/?page=1"))).await;
    let p = time_async(|| send(get("/plain/ctx/items/?page=1"))).await;
    row("GET /ctx/items/?page=1 (Mizan: cache hit; plain: runs both functions)", k, Some(p));
    let k = time_async(|| send(get("/api/mizan/session/"))).await;
    row("GET /session/", k, None);
}

/// 2 threads × 4000 plans of a cached read: the pool (one engine per pooled instance) against
/// one engine instance behind a mutex (every call serialized). Wall time per plan.
fn pool_vs_mutex(kernel: &Kernel, app_kdl: &str) {
    let e = Engine::from_kdl(kernel, app_kdl, &config(true)).unwrap();
    let lock = Mutex::new(());
    let req = Request::new("GET", "/api/mizan/ctx/items/", "page=1", vec![], vec![]);
    let run = |serialize: bool| {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..4000 {
                            let _guard = serialize.then(|| lock.lock().unwrap());
                            black_box(e.plan(&req, None, 0, &[]).unwrap());
                        }
                    });
                }
            });
            best = best.min(t.elapsed().as_secs_f64() * 1e6 / 8000.0);
        }
        best
    };
    let pooled = run(false);
    let serialized = run(true);
    println!();
    println!("2 threads planning GET /ctx/items/?page=1 (wall µs per plan, best of 5)");
    println!("  pool (one engine per pooled instance): {pooled:.2}   one instance behind a mutex: {serialized:.2}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let kernel = Kernel::new().unwrap();
    println!(
        "mizan axum bench (wasmtime 48, {}); component loaded: {:?}",
        if cfg!(debug_assertions) { "DEBUG build: use --release" } else { "release" },
        kernel.artifact().source
    );
    // The IR of the app's #[client] functions (tests/wire/app.kdl).
    let app_kdl = ir(&kernel).unwrap();
    let mut creates: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            black_box(Engine::from_kdl(&kernel, &app_kdl, &config(true)).unwrap());
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    creates.sort_by(f64::total_cmp);
    println!("Engine::from_kdl (registry parse + to_json + instance + engine.create): {:.0} µs", creates[10]);
    in_process(&kernel, &app_kdl, &State::default());
    through_router(&kernel).await;
    pool_vs_mutex(&kernel, &app_kdl);
}
