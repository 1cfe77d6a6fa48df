//! The server engine, the in-memory origin store and the client store through the host API:
//! the pooled engine under threads, and what a trap does to each (KERNEL.md §0).

use mizan_host::{
    CallPlan, Engine, EngineConfig, Error, FetchOutcome, Identity, Kernel, OriginStore, Outcome, Plan, ProtocolCode,
    ProtocolError, Request, Store, TokenKind,
};
use serde_json::{Value, json};

const KDL: &str = "mizan-ir version=1\ncontext items {\n    member items_list\n}\nfunction items_list context=items output=any {\n    input page type=integer required=#false\n}\nfunction rename output=any auth=required {\n    input id type=integer\n    affects items\n}\n";
const CACHE_SECRET: &str = "server-test-cache-secret-32-bytes!!";
const MWT_SECRET: &str = "server-test-mwt-secret-32-bytes!!!!";
const LIMIT: usize = 4 << 20;

fn config() -> EngineConfig {
    EngineConfig { cache_secret: Some(CACHE_SECRET.into()), mwt_secret: Some(MWT_SECRET.into()), ..EngineConfig::default() }
}

fn get(path: &str, query: &str) -> Request {
    Request::new("GET", path, query, vec![], vec![])
}

fn post(body: &Value) -> Request {
    Request::new("POST", "/api/mizan/call/", "", vec![], body.to_string().into_bytes())
}

#[track_caller]
fn assert_trap<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::Trap(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_call_and_a_fetch_through_the_engine() {
    let kernel = Kernel::new().unwrap();
    let engine = Engine::from_kdl(&kernel, KDL, &config()).unwrap();
    assert_eq!(engine.base_path(), "/api/mizan");
    assert_eq!(engine.body_limit(), 1 << 20);

    let Plan::Respond(r) = engine.plan(&get("/api/mizan/session/", ""), None, 0, &[]).unwrap() else { panic!() };
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"csrfToken":null}"#));
    assert_eq!(r.headers[..2], [("Content-Type".into(), "application/json".into()), ("Cache-Control".into(), "no-store".into())]);

    // Auth before anything else; then a call as a user.
    let body = json!({"fn": "rename", "args": {"id": "7"}});
    let Plan::Respond(r) = engine.plan(&post(&body), None, 0, &[]).unwrap() else { panic!() };
    assert_eq!(r.status, 401);
    let alice = Identity::user("1");
    let Plan::Call(call) = engine.plan(&post(&body), Some(&alice), 0, &[]).unwrap() else { panic!() };
    assert_eq!(call.args().unwrap(), json!({"id": 7})); // coerced
    assert_eq!(call.identity.as_ref(), Some(&alice));
    let fin = engine.finish_call(&call, Outcome::ok(&json!({"ok": true}))).unwrap();
    assert_eq!(fin.response.body, r#"{"result":{"ok":true},"invalidate":["items"]}"#);
    assert!(fin.response.headers.contains(&("X-Mizan-Invalidate".into(), "items".into())));
    assert!(fin.purge.is_some());
    // A failed call purges nothing.
    let err = ProtocolError::new(ProtocolCode::NotFound, "No such item");
    let fin = engine.finish_call(&call, Outcome::Error(err)).unwrap();
    assert_eq!((fin.response.status, fin.purge), (404, None));

    // A fetch: miss (put), then hit.
    let Plan::Fetch(fetch) = engine.plan(&get("/api/mizan/ctx/items/", "page=2"), None, 0, &[]).unwrap() else { panic!() };
    assert_eq!(fetch.members[0].args().unwrap(), json!({"page": 2}));
    let cache = fetch.cache.clone().unwrap();
    let results = FetchOutcome::Results(vec![("items_list".into(), Outcome::ok(&json!([1, 2])))]);
    let fin = engine.finish_fetch(&fetch.context, Some(&cache), results).unwrap();
    assert!(fin.response.headers.contains(&("X-Mizan-Cache".into(), "MISS".into())));
    let put = fin.cache_put.unwrap();
    assert_eq!((put.key.as_str(), put.body.as_str()), (cache.key.as_str(), r#"{"items_list":[1,2]}"#));
    let fin = engine.finish_fetch(&fetch.context, Some(&cache), FetchOutcome::Hit(put.body.clone())).unwrap();
    assert!(fin.response.headers.contains(&("X-Mizan-Cache".into(), "HIT".into())));

    // Tokens: minted, verified, and honoured by plan.
    let token = engine.mint_mwt(&alice, 1_000_000).unwrap();
    assert_eq!(engine.verify_mwt(&token, 1_000_000).unwrap().subject, "1");
    let e = engine.verify_mwt(&token, 1_000_000 + 301_000).unwrap_err();
    assert_eq!(e.as_kernel().unwrap().details, Some(json!({"reason": "expired"})));
    let req = Request::new("POST", "/api/mizan/call/", "", vec![("X-Mizan-Token".into(), token)], body.to_string().into_bytes());
    assert!(matches!(engine.plan(&req, None, 1_000_000, &[]).unwrap(), Plan::Call(_)));
    assert!(engine.verify_jwt("x.y.z", TokenKind::Access, 0).is_err());

    // Config errors are typed.
    let reused = EngineConfig { mwt_secret: Some(CACHE_SECRET.into()), ..config() };
    assert!(Engine::from_kdl(&kernel, KDL, &reused).unwrap_err().as_kernel().is_some());
}

#[test]
fn the_engine_pool_serves_threads_and_survives_a_trap() {
    let kernel = Kernel::builder().memory_limit(LIMIT).build().unwrap();
    let engine = Engine::from_kdl(&kernel, KDL, &config()).unwrap();
    let req = get("/api/mizan/ctx/items/", "page=1");
    let Plan::Fetch(want) = engine.plan(&req, None, 0, &[]).unwrap() else { panic!() };
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    let Plan::Fetch(got) = engine.plan(&req, None, 0, &[]).unwrap() else { panic!() };
                    assert_eq!(got, want);
                }
            });
        }
    });
    assert!(engine.engines_created() <= 4, "{}", engine.engines_created());

    // A body larger than the instance's memory cap traps that instance only.
    let huge = Request::new("POST", "/api/mizan/call/", "", vec![], vec![b'x'; 2 * LIMIT]);
    assert_trap(engine.plan(&huge, None, 0, &[]));
    let Plan::Fetch(again) = engine.plan(&req, None, 0, &[]).unwrap() else { panic!() };
    assert_eq!(again, want);
    let call = CallPlan { function: "rename".into(), args_json: r#"{"id":1}"#.into(), identity: None };
    assert_trap(engine.finish_call(&call, Outcome::Ok(format!("\"{}\"", "x".repeat(2 * LIMIT)))));
    assert_eq!(engine.finish_call(&call, Outcome::Ok("1".into())).unwrap().response.status, 200);
    assert!(kernel.stats().traps >= 2);
}

#[test]
fn the_origin_store_is_rebuilt_empty_after_a_trap() {
    let kernel = Kernel::builder().memory_limit(LIMIT).build().unwrap();
    let engine = Engine::from_kdl(&kernel, KDL, &config()).unwrap();
    let store = OriginStore::new(&kernel, 0, 0).unwrap();
    let idx = vec!["idx:items:a".to_string(), "idx:items:u:b".to_string()];
    assert!(store.put("ctx:items:1", "{}", &idx, 60, 0).unwrap());
    assert_eq!(store.get("ctx:items:1", 1).unwrap().as_deref(), Some("{}"));
    assert_eq!(store.get("ctx:items:1", 61_000).unwrap(), None); // expired
    assert!(store.put("ctx:items:1", "{}", &idx, 60, 0).unwrap());
    assert_eq!((store.len().unwrap(), store.index_sets().unwrap()), (1, 2));
    let plan = engine.purge_plan(&json!(["items"])).unwrap();
    assert_eq!(plan.scopes.len(), 1);
    assert!(!store.put("ctx:items:2", "{}", &idx, 0, 0).unwrap()); // TTL 0 stores nothing

    assert_trap(store.put("k", &"x".repeat(2 * LIMIT), &[], 60, 0));
    assert!(store.is_empty().unwrap()); // rebuilt, empty: a cache loses nothing that matters
    assert!(store.put("k", "1", &[], 60, 0).unwrap());
    assert_eq!(store.get("k", 0).unwrap().as_deref(), Some("1"));
    store.clear().unwrap();
    assert_eq!(store.len().unwrap(), 0);
}

#[test]
fn the_client_store_is_lost_after_a_trap() {
    let kernel = Kernel::builder().memory_limit(LIMIT).build().unwrap();
    let store = Store::new(&kernel, Some(&json!({"stale_time_ms": 1000}))).unwrap();
    store.start().unwrap();
    let key = store.subscribe("items", &json!({"page": 1}), 0).unwrap();
    assert_eq!(key, kernel.instance_key("items", &json!({"page": 1})).unwrap());
    let drained = store.drain(0).unwrap();
    assert!(drained["effects"].as_array().is_some_and(|e| !e.is_empty()), "{drained}");
    assert_eq!(store.instance_count().unwrap(), 1);
    assert_eq!(store.unsubscribe("no-such-key", 0).unwrap_err().code(), Some(mizan_host::ErrorCode::NotFound));
    assert!(!store.is_lost());

    assert_trap(store.subscribe("items", &json!({"blob": "x".repeat(2 * LIMIT)}), 0));
    assert!(store.is_lost());
    // Its state is gone: every call fails, and says so, until the app creates a new store.
    assert_trap(store.instance_count());
    assert_trap(store.drain(0));
    let fresh = Store::new(&kernel, None).unwrap();
    assert_eq!(fresh.instance_count().unwrap(), 0);
}

#[test]
fn redis_scripts_come_from_the_kernel() {
    let kernel = Kernel::new().unwrap();
    assert!(kernel.redis_put_script().unwrap().contains("redis.call"));
    assert!(kernel.redis_purge_script().unwrap().contains("redis.call"));
    let engine = Engine::from_kdl(&kernel, KDL, &config()).unwrap();
    let plan = engine.purge_user_plan("5").unwrap();
    let text = kernel.redis_plan_json(&plan).unwrap();
    assert!(serde_json::from_str::<Value>(&text).unwrap()["scopes"].is_array());
}
