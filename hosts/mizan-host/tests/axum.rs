//! The Axum integration end to end in process (`tower::ServiceExt::oneshot` on the router), and
//! the Redis origin store against a real `redis-server` when one is installed.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mizan_host::axum::{Ctx, FnError, Mizan};
use mizan_host::{Identity, Kernel, OriginCache, RedisOriginStore};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower::ServiceExt;

const KDL: &str = r#"mizan-ir version=1
context item {
    member item_detail
}
function item_detail context=item output=any {
    input id type=integer
}
function rename output=any auth=required {
    input id type=integer
    input name type=string
    affects item
}
function secret output=any auth="predicate:is_admin"
function crash output=any
"#;

fn app(runs: Arc<AtomicUsize>) -> Mizan {
    Mizan::builder(KDL)
        .function("item_detail", move |args: Value, _ctx: Ctx| {
            runs.fetch_add(1, Ordering::SeqCst);
            async move {
                match args["id"].as_i64() {
                    Some(1) => Ok(json!({"id": 1, "name": "apple"})),
                    _ => Err(FnError::not_found("No such item")),
                }
            }
        })
        .function("rename", |args: Value, ctx: Ctx| async move { Ok(json!({"by": ctx.user(), "name": args["name"]})) })
        .function("secret", |_: Value, _ctx: Ctx| async move { Ok("s3cret") })
        .function("crash", |_: Value, _ctx: Ctx| async move {
            if true {
                panic!("boom");
            }
            Ok(0)
        })
        .predicate("is_admin", |ctx: Ctx| async move { ctx.user() == Some("9") })
        .identity(|parts| parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(Identity::user))
        .revoked(|sid| sid == "gone")
        .memory_cache()
        .body_limit(1024)
        .on_diagnostic(|_| {})
        .build()
        .unwrap()
}

async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, Vec<(String, String)>, String) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string())).collect();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn call(body: &str, user: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/api/mizan/call/");
    if let Some(u) = user {
        b = b.header("x-user", u);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_router_serves_the_protocol_through_the_engine() {
    let runs = Arc::new(AtomicUsize::new(0));
    let mizan = app(runs.clone());
    let router: axum::Router = mizan.router();

    let (status, headers, body) = send(&router, Request::get("/api/mizan/session/").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"csrfToken":null}"#));
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    // Everything under the base path is the engine's, including 404 and 405.
    let (status, _, body) = send(&router, Request::get("/api/mizan/nope").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, r#"{"error":{"code":"NOT_FOUND","message":"Not found"}}"#));
    let (status, headers, _) = send(&router, Request::get("/api/mizan/call/").body(Body::empty()).unwrap()).await;
    assert_eq!((status, header(&headers, "allow")), (StatusCode::METHOD_NOT_ALLOWED, Some("POST")));

    // Miss, then hit: the function runs once.
    let get = || Request::get("/api/mizan/ctx/item/?id=1").body(Body::empty()).unwrap();
    let (status, headers, miss) = send(&router, get()).await;
    assert_eq!((status, header(&headers, "x-mizan-cache")), (StatusCode::OK, Some("MISS")));
    assert_eq!(miss, r#"{"item_detail":{"id":1,"name":"apple"}}"#);
    let (_, headers, hit) = send(&router, get()).await;
    assert_eq!((header(&headers, "x-mizan-cache"), hit), (Some("HIT"), miss.clone()));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // A function's own error.
    let (status, _, body) = send(&router, Request::get("/api/mizan/ctx/item/?id=2").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, r#"{"error":{"code":"NOT_FOUND","message":"No such item"}}"#));

    // A mutation purges the entry, after it succeeded; the session identity reaches the function.
    let (status, headers, body) = send(&router, call(r#"{"fn":"rename","args":{"id":"1","name":"pear"}}"#, Some("5"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"result":{"by":"5","name":"pear"},"invalidate":[{"context":"item","params":{"id":1}}]}"#);
    assert_eq!(header(&headers, "x-mizan-invalidate"), Some("item;id=1"));
    let (_, headers, _) = send(&router, get()).await;
    assert_eq!(header(&headers, "x-mizan-cache"), Some("MISS"));
    assert_eq!(runs.load(Ordering::SeqCst), 3); // 1, 2 (the 404), 1 again
    // purge_user / purge from the app.
    assert_eq!(mizan.purge(&json!(["item"])).await.unwrap().len(), 1);

    // Predicates, panics, body limit, HEAD.
    let (status, _, _) = send(&router, call(r#"{"fn":"secret"}"#, Some("5"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = send(&router, call(r#"{"fn":"secret"}"#, Some("9"))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"result":"s3cret","invalidate":[]}"#));
    let (status, _, body) = send(&router, call(r#"{"fn":"crash"}"#, None)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, r#"{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}"#)
    );
    let big = format!(r#"{{"fn":"secret","pad":"{}"}}"#, "x".repeat(2000));
    let (status, _, body) = send(&router, call(&big, None)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, r#"{"error":{"code":"PAYLOAD_TOO_LARGE","message":"Request body too large"}}"#)
    );
    let (status, headers, body) = send(&router, Request::head("/api/mizan/session/").body(Body::empty()).unwrap()).await;
    assert_eq!((status, header(&headers, "content-type")), (StatusCode::OK, Some("application/json")));
    let _ = body; // hyper drops a HEAD body on the wire; in process it is still there.

    // Nested under another path: the original URI is what the engine routes.
    let nested: axum::Router = axum::Router::new().nest("/outer", mizan.router());
    let (status, _, _) = send(&nested, Request::get("/outer/api/mizan/session/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_revoked_session_is_refused() {
    let kernel = Kernel::new().unwrap();
    let mizan = Mizan::builder(KDL)
        .kernel(kernel)
        .jwt_secret("axum-test-jwt-secret-of-32-bytes!!!")
        .function("rename", |_: Value, _ctx: Ctx| async move { Ok(1) })
        .function("item_detail", |_: Value, _ctx: Ctx| async move { Ok(1) })
        .function("secret", |_: Value, _ctx: Ctx| async move { Ok(1) })
        .function("crash", |_: Value, _ctx: Ctx| async move { Ok(1) })
        .revoked(|sid| sid == "gone")
        .on_diagnostic(|_| {})
        .build()
        .unwrap();
    let now = mizan_host::now_ms();
    let pair = mizan.engine().mint_jwt_pair(&Identity::user("5"), "gone", now).unwrap();
    let req = Request::post("/api/mizan/call/")
        .header("authorization", format!("Bearer {}", pair.access))
        .body(Body::from(r#"{"fn":"rename","args":{"id":1,"name":"x"}}"#))
        .unwrap();
    let (status, _, body) = send(&mizan.router(), req).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, r#"{"error":{"code":"UNAUTHORIZED","message":"Session revoked"}}"#)
    );
}

#[test]
fn a_cache_store_needs_a_secret() {
    let store: Arc<dyn OriginCache> = Arc::new(mizan_host::MemoryOriginStore::new(&Kernel::new().unwrap()).unwrap());
    let e = Mizan::builder(KDL).cache(store).on_diagnostic(|_| {}).build().err().unwrap();
    assert!(e.to_string().contains("cache_secret"), "{e}");
}

/// A throwaway redis-server on a free port, or `None` (the test says it skipped) when none is installed.
struct RedisServer(std::process::Child, u16);

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(RedisServer(child, port));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_redis_store_runs_the_kernel_scripts() {
    let Some(server) = RedisServer::start() else {
        eprintln!("SKIP: redis-server is not installed (apt-get install -y redis-server)");
        return;
    };
    let kernel = Kernel::new().unwrap();
    let url = format!("redis://127.0.0.1:{}/0", server.1);
    let store = RedisOriginStore::connect(&kernel, &url, "t:").await.unwrap();
    let mizan = Mizan::builder(KDL)
        .kernel(kernel.clone())
        .cache(Arc::new(store.clone()))
        .cache_secret("axum-test-cache-secret-of-32-bytes!")
        .function("item_detail", |args: Value, _ctx: Ctx| async move { Ok(json!({"id": args["id"]})) })
        .function("rename", |_: Value, _ctx: Ctx| async move { Ok(1) })
        .function("secret", |_: Value, _ctx: Ctx| async move { Ok(0) })
        .function("crash", |_: Value, _ctx: Ctx| async move { Ok(0) })
        .identity(|parts| parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(Identity::user))
        .on_diagnostic(|d| panic!("diagnostic: {d}"))
        .build()
        .unwrap();
    let router: axum::Router = mizan.router();
    let get = |id: u32, user: &str| Request::get(format!("/api/mizan/ctx/item/?id={id}")).header("x-user", user).body(Body::empty()).unwrap();
    for (id, user) in [(1, "a"), (1, "b"), (2, "a")] {
        let (_, headers, _) = send(&router, get(id, user)).await;
        assert_eq!(header(&headers, "x-mizan-cache"), Some("MISS"));
    }
    let (_, headers, _) = send(&router, get(1, "a")).await;
    assert_eq!(header(&headers, "x-mizan-cache"), Some("HIT"));

    // The layout: prefixed entries with companions, index sets; nothing unprefixed.
    let mut conn = store.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert!(keys.iter().all(|k| k.starts_with("t:ctx:item:") || k.starts_with("t:idx:item")), "{keys:?}");
    let data_keys = |keys: Vec<String>| -> Vec<String> { keys.into_iter().filter(|k| !k.starts_with("t:mark:") && k != "t:purges").collect() };
    assert_eq!(keys.iter().filter(|k| k.starts_with("t:ctx:") && !k.ends_with(":idx")).count(), 3);

    // The scripts were flushed (a restart, a failover): NOSCRIPT → SCRIPT LOAD → retry.
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut conn).await.unwrap();
    let (status, _, _) = send(&router, Request::post("/api/mizan/call/").header("x-user", "a")
        .body(Body::from(r#"{"fn":"rename","args":{"id":1,"name":"x"}}"#)).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // id=1 purged for every user; id=2 left.
    let (_, headers, _) = send(&router, get(1, "b")).await;
    assert_eq!(header(&headers, "x-mizan-cache"), Some("MISS"));
    let (_, headers, _) = send(&router, get(2, "a")).await;
    assert_eq!(header(&headers, "x-mizan-cache"), Some("HIT"));
    // Purge by user, then a broad purge leaves no key behind.
    assert_eq!(mizan.purge_user("b").await.unwrap().len(), 1);
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut conn).await.unwrap();
    assert_eq!(mizan.purge(&json!(["item"])).await.unwrap().len(), 1); // (2, a) is left
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert!(data_keys(keys).is_empty(), "nothing left but the purge counter and marks");
    assert_eq!(store.get("ctx:item:nope").await.unwrap().body, None);
}

// --- debuggable servers (issue 8) ----------------------------------------------------------------

fn all_but(skip: &str, extra: Option<&str>) -> mizan_host::Result<Mizan> {
    let mut b = Mizan::builder(KDL).on_diagnostic(|_| {});
    for name in ["item_detail", "rename", "secret", "crash"].into_iter().filter(|n| *n != skip).chain(extra) {
        b = b.function(name, |_: Value, _ctx: Ctx| async move { Ok(0) });
    }
    b.build()
}

#[test]
fn a_missing_or_unknown_implementation_fails_at_start_naming_it() {
    let e = all_but("secret", None).err().expect("a registry function without an implementation");
    assert_eq!(e.to_string(), "mizan-host registration: no implementation for `secret`");
    let e = all_but("", Some("renamee")).err().expect("an implementation the registry lacks");
    assert_eq!(e.to_string(), "mizan-host registration: `renamee` registered, but the registry has no such function");
    assert!(all_but("", None).is_ok());
}

#[derive(Debug)]
struct Outer(Inner);
#[derive(Debug)]
struct Inner;
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading the order failed")
    }
}
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
impl std::error::Error for Inner {}

#[tokio::test]
async fn failures_are_logged_at_error_level_with_their_chain_and_answered_in_the_envelope() {
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = errors.clone();
    let mizan = Mizan::builder(KDL)
        .function("item_detail", |_: Value, _ctx: Ctx| async move {
            let failed: Result<u32, Outer> = Err(Outer(Inner));
            Ok(failed?)
        })
        .function("crash", |_: Value, _ctx: Ctx| async move {
            if true {
                panic!("boom");
            }
            Ok(0)
        })
        .function("rename", |_: Value, _ctx: Ctx| async move { Ok(0) })
        .function("secret", |_: Value, _ctx: Ctx| async move { Ok(0) })
        .identity(|parts| {
            if parts.headers.contains_key("x-explode") {
                panic!("the session store is down");
            }
            None
        })
        .on_diagnostic(|_| {})
        .on_error(move |e| seen.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap();
    let router = mizan.router();
    let internal = r#"{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}"#;
    let (status, _, body) = send(&router, Request::get("/api/mizan/ctx/item/?id=1").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_str()), (StatusCode::INTERNAL_SERVER_ERROR, internal));
    let (status, _, body) = send(&router, Request::post("/api/mizan/call/").body(Body::from(r#"{"fn":"crash"}"#)).unwrap()).await;
    assert_eq!((status, body.as_str()), (StatusCode::INTERNAL_SERVER_ERROR, internal));
    // The identity callback is inside the protocol path: its failure is the engine's envelope,
    // on a public context too.
    let req = Request::get("/api/mizan/ctx/item/?id=1").header("x-explode", "1").body(Body::empty()).unwrap();
    let (status, headers, body) = send(&router, req).await;
    assert_eq!((status, body.as_str(), header(&headers, "cache-control")), (StatusCode::INTERNAL_SERVER_ERROR, internal, Some("no-store")));
    // Asked only when the exchange needs the session, as on every host: `/session/` and a route
    // the engine refuses first never run it.
    let req = Request::get("/api/mizan/session/").header("x-explode", "1").body(Body::empty()).unwrap();
    let (status, _, body) = send(&router, req).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"csrfToken":null}"#));
    let req = Request::get("/api/mizan/nowhere/").header("x-explode", "1").body(Body::empty()).unwrap();
    assert_eq!(send(&router, req).await.0, StatusCode::NOT_FOUND);
    let errors = errors.lock().unwrap().clone();
    assert_eq!(
        errors,
        [
            "`item_detail` failed: loading the order failed: connection refused",
            "`crash` failed: `crash` panicked: boom",
            // The kernel's line (`identity-failed`), the same on every host.
            "the identity callback failed: the session store is down",
        ]
    );
}

// --- the read/put race and failed purges (issue 8, items 3 and 4) ----------------------------------

/// The race, made deterministic: the fetch reads the count and then waits at a gate while a
/// call bumps the count and purges; only then may the fetch store what it read.
fn racing_app(store: Arc<dyn OriginCache>, gate: Arc<tokio::sync::Notify>, reached: Arc<tokio::sync::Notify>) -> Mizan {
    let count = Arc::new(AtomicUsize::new(0));
    let (read, write) = (count.clone(), count);
    Mizan::builder(KDL)
        .function("item_detail", move |_: Value, _ctx: Ctx| {
            let seen = read.load(Ordering::SeqCst);
            let (gate, reached) = (gate.clone(), reached.clone());
            async move {
                reached.notify_one();
                gate.notified().await;
                Ok(json!({"count": seen}))
            }
        })
        .function("rename", move |_: Value, _ctx: Ctx| {
            write.fetch_add(1, Ordering::SeqCst);
            async move { Ok(0) }
        })
        .function("secret", |_: Value, _ctx: Ctx| async move { Ok(0) })
        .function("crash", |_: Value, _ctx: Ctx| async move { Ok(0) })
        .identity(|_| Some(Identity::user("7")))
        .cache(store)
        .cache_secret("axum-test-cache-secret-of-32-bytes!")
        .on_diagnostic(|_| {})
        .on_error(|_| {})
        .build()
        .unwrap()
}

async fn read_then_purge_then_put(store: Arc<dyn OriginCache>) {
    let (gate, reached) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let mizan = racing_app(store, gate.clone(), reached.clone());
    let router = mizan.router();
    let get = || Request::get("/api/mizan/ctx/item/?id=1").body(Body::empty()).unwrap();
    let fetch = tokio::spawn({
        let router = router.clone();
        async move { send(&router, get()).await }
    });
    reached.notified().await; // the fetch has read count 0 and waits
    let call = Request::post("/api/mizan/call/").body(Body::from(r#"{"fn":"rename","args":{"id":1,"name":"x"}}"#)).unwrap();
    assert_eq!(send(&router, call).await.0, StatusCode::OK); // count 1, item purged
    gate.notify_one();
    let (_, headers, body) = fetch.await.unwrap();
    assert_eq!((header(&headers, "x-mizan-cache"), body.as_str()), (Some("MISS"), r#"{"item_detail":{"count":0}}"#));
    // The next read must not be the old answer from the cache: it runs the function (a hit
    // would answer without reaching the gate).
    let mut next = tokio::spawn({
        let router = router.clone();
        async move { send(&router, get()).await }
    });
    tokio::select! {
        _ = reached.notified() => gate.notify_one(),
        answered = &mut next => panic!("served without running the function: {:?}", answered.unwrap()),
    }
    let (_, headers, body) = next.await.unwrap();
    assert_eq!((header(&headers, "x-mizan-cache"), body.as_str()), (Some("MISS"), r#"{"item_detail":{"count":1}}"#));
}

#[tokio::test]
async fn a_read_that_started_before_a_purge_never_stores_its_answer_memory() {
    read_then_purge_then_put(Arc::new(mizan_host::MemoryOriginStore::new(&Kernel::new().unwrap()).unwrap())).await;
}

#[tokio::test]
async fn a_read_that_started_before_a_purge_never_stores_its_answer_redis() {
    let Some(server) = RedisServer::start() else {
        eprintln!("SKIP: redis-server is not installed");
        return;
    };
    let kernel = Kernel::new().unwrap();
    let store = RedisOriginStore::connect(&kernel, &format!("redis://127.0.0.1:{}/0", server.1), "race:").await.unwrap();
    read_then_purge_then_put(Arc::new(store)).await;
}

#[tokio::test]
async fn a_failed_purge_never_leaves_a_stale_entry_served() {
    let Some(server) = RedisServer::start() else {
        eprintln!("SKIP: redis-server is not installed");
        return;
    };
    let kernel = Kernel::new().unwrap();
    let store = RedisOriginStore::connect(&kernel, &format!("redis://127.0.0.1:{}/0", server.1), "fail:").await.unwrap();
    let mut admin = store.connection();
    let count = Arc::new(AtomicUsize::new(0));
    let (read, write) = (count.clone(), count);
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = errors.clone();
    let mizan = Mizan::builder(KDL)
        .function("item_detail", move |_: Value, _ctx: Ctx| {
            let n = read.load(Ordering::SeqCst);
            async move { Ok(json!({"count": n})) }
        })
        .function("rename", move |_: Value, _ctx: Ctx| {
            write.fetch_add(1, Ordering::SeqCst);
            async move { Ok(0) }
        })
        .function("secret", |_: Value, _ctx: Ctx| async move { Ok(0) })
        .function("crash", |_: Value, _ctx: Ctx| async move { Ok(0) })
        .identity(|_| Some(Identity::user("7")))
        .cache(Arc::new(store))
        .cache_secret("axum-test-cache-secret-of-32-bytes!")
        .on_diagnostic(|_| {})
        .on_error(move |e| seen.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap();
    let router = mizan.router();
    let get = || Request::get("/api/mizan/ctx/item/?id=1").body(Body::empty()).unwrap();
    let rename = || Request::post("/api/mizan/call/").body(Body::from(r#"{"fn":"rename","args":{"id":1,"name":"x"}}"#)).unwrap();
    send(&router, get()).await;
    let (_, headers, body) = send(&router, get()).await;
    assert_eq!((header(&headers, "x-mizan-cache"), body.as_str()), (Some("HIT"), r#"{"item_detail":{"count":0}}"#));
    // Redis is full: reads work, every script that writes is refused (OOM) — the purge fails.
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1").query_async(&mut admin).await.unwrap();
    let (status, headers, _) = send(&router, rename()).await;
    assert_eq!((status, header(&headers, "x-mizan-invalidate")), (StatusCode::OK, Some("item;id=1")), "the mutation happened");
    assert!(errors.lock().unwrap().iter().any(|e| e.starts_with("purge failed:") && e.contains("plan {\"scopes\"")), "{errors:?}");
    // The stale entry is still in Redis, but it is never served: the failed purge covers it.
    let (_, headers, body) = send(&router, get()).await;
    assert_eq!((header(&headers, "x-mizan-cache"), body.as_str()), (Some("MISS"), r#"{"item_detail":{"count":1}}"#));
    let stale: Vec<String> = redis::cmd("KEYS").arg("fail:ctx:*").query_async(&mut admin).await.unwrap();
    assert!(!stale.is_empty(), "the entry the purge missed is still there");
    // Redis recovers: the next request retries the purge, which succeeds; the cache is used again.
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("0").query_async(&mut admin).await.unwrap();
    let (_, headers, body) = send(&router, get()).await;
    assert_eq!((header(&headers, "x-mizan-cache"), body.as_str()), (Some("MISS"), r#"{"item_detail":{"count":1}}"#));
    let (_, headers, body) = send(&router, get()).await;
    assert_eq!((header(&headers, "x-mizan-cache"), body.as_str()), (Some("HIT"), r#"{"item_detail":{"count":1}}"#));
}
