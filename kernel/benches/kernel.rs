//! Kernel benchmarks: key derivation (single, batch of 100), header parse/format, invalidation
//! resolution on a registry of 200 functions, the server engine's per-request calls (plan a
//! fetch, finish it; plan and finish a call), the client store. `cargo bench -p mizan-kernel`.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use mizan_kernel::header::{format_header, parse_header};
use mizan_kernel::keys::{KeyInput, Keyer, derive_cache_key};
use mizan_kernel::Registry;
use serde_json::{Map, Value, json};

const SECRET: &str = "test-pin-secret-that-is-32bytes!";

fn params(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// 100 contexts of 1 read each plus 100 mutations, each affecting two contexts.
pub fn registry_200() -> Registry {
    let mut functions = Map::new();
    for i in 0..100 {
        functions.insert(
            format!("read_{i}"),
            json!({"context": format!("ctx_{i}"), "inputs": {"user_id": "integer", "page": "optional<integer>"}, "output": "any"}),
        );
        functions.insert(
            format!("write_{i}"),
            json!({"inputs": {"user_id": "integer", "name": "string"}, "output": "any",
                   "affects": [format!("ctx_{i}"), format!("ctx_{}", (i + 1) % 100)]}),
        );
    }
    Registry::from_json_value(&json!({"functions": functions})).unwrap()
}

fn bench(c: &mut Criterion) {
    let keyer = Keyer::new(SECRET).unwrap();
    let input = KeyInput { user: Some("5".into()), ..KeyInput::new("user", params(json!({"user_id": 5, "tab": "orders"}))) };
    c.bench_function("derive_cache_key (secret each call)", |b| b.iter(|| derive_cache_key(SECRET, black_box(&input)).unwrap()));
    c.bench_function("keyer.derive", |b| b.iter(|| keyer.derive(black_box(&input))));
    let batch = Value::Array((0..100).map(|i| json!({"context": "user", "params": {"user_id": i}, "user": i})).collect()).to_string();
    c.bench_function("keyer.derive_batch_json (100)", |b| b.iter(|| keyer.derive_batch_json(black_box(&batch)).unwrap()));

    let text = "user;user_id=5, notifications, items;page=2;q=caf%C3%A9%20latte";
    let entries = parse_header(text).unwrap();
    c.bench_function("parse_header (3 entries)", |b| b.iter(|| parse_header(black_box(text)).unwrap()));
    c.bench_function("format_header (3 entries)", |b| b.iter(|| format_header(black_box(&entries)).unwrap()));

    let registry = registry_200();
    let args = params(json!({"user_id": 5, "name": "x"}));
    c.bench_function("resolve_invalidation (200 functions)", |b| {
        b.iter(|| registry.resolve_invalidation(black_box("write_42"), black_box(&args), None).unwrap())
    });
}

/// The client store: 10 000 observed instances, one mutation response invalidating 1 % of them,
/// then the refetches answered so the next iteration starts from the same state.
fn bench_store(c: &mut Criterion) {
    use mizan_kernel::store::{Effect, Store, StoreConfig};
    let mut store = Store::new(StoreConfig { max_instances: 20_000, ..Default::default() });
    let mut now = 1;
    for i in 0..10_000 {
        store.subscribe("todos", &params(json!({"list_id": i})), now);
    }
    let answer_all = |store: &mut Store, now: u64| {
        for e in store.drain(now).effects {
            if let Effect::Fetch { request_id, .. } = e {
                store.fetch_ok(request_id, json!({"todos": [{"id": request_id}]}), now);
            }
        }
    };
    answer_all(&mut store, now);
    let body = json!({"result": null, "invalidate": (0..100).map(|i| json!({"context": "todos", "params": {"list_id": i * 100}})).collect::<Vec<_>>()});
    c.bench_function("store: invalidate 1% of 10k instances + drain", |b| {
        b.iter(|| {
            now += 1;
            let id = store.mutate("touch", json!({}), &[]).unwrap();
            let call = store.drain(now).effects.into_iter().find_map(|e| match e { Effect::Call { request_id, .. } => Some(request_id), _ => None }).unwrap();
            store.call_ok(call, black_box(&body), None).unwrap();
            let d = store.drain(now);
            assert_eq!(d.changed.len(), 100);
            for e in d.effects {
                if let Effect::Fetch { request_id, .. } = e {
                    store.fetch_ok(request_id, json!({"todos": []}), now);
                }
            }
            store.drain(now);
            store.release_mutation(id);
        })
    });
}

/// The client session, as the JS client benchmark drives it: 10 000 hydrated, observed instances
/// (`todos` × list × page, a 3-item bundle each); one call answer invalidates one list (100
/// instances): 100 requests and 100 views out; then the refetches are answered.
fn bench_session(c: &mut Criterion) {
    use mizan_kernel::session::{Answer, CallWait, ClientSession, Event, HttpAnswer, InstanceRef, Outcome, SessionConfig};
    let config = SessionConfig::from_json(r#"{"stale_time_ms": 1000000000000, "gc_time_ms": 1000000000000, "max_instances": 20000}"#).unwrap();
    let bundle = |l: u64, p: u64| json!({"todo_list": (0..3).map(|i| json!({"id": l * 100_000 + p * 10 + i, "title": format!("todo {l}/{p}/{i}"), "done": i == 0})).collect::<Vec<_>>()});
    let instances: Vec<_> = (0..100).flat_map(|l| (0..100).map(move |p| (l, p))).map(|(l, p)| json!({"context": "todos", "params": {"list_id": l, "page": p}, "data": bundle(l, p)})).collect();
    let payload = json!({"version": 1, "instances": instances}).to_string();
    let subscribes: Vec<Event> = (0..100)
        .flat_map(|l| (0..100).map(move |p| (l, p)))
        .map(|(l, p)| Event::Subscribe(InstanceRef { context: "todos".into(), params_json: json!({"list_id": l, "page": p}).to_string() }))
        .collect();
    c.bench_function("session: hydrate + observe 10k instances", |b| {
        b.iter(|| {
            let mut s = ClientSession::new(config.clone());
            s.update(vec![Event::Hydrate { payload_json: payload.clone(), held: true }], 1);
            let out = s.update(subscribes.clone(), 1);
            assert!(out.requests.is_empty());
        })
    });
    let mut s = ClientSession::new(config.clone());
    s.update(vec![Event::Hydrate { payload_json: payload.clone(), held: true }], 1);
    s.update(subscribes.clone(), 1);
    let mut now = 1;
    let mut waiter = 0;
    let http = |request: u64, body: String, invalidate: Option<String>| {
        Event::Answer(Answer { request, outcome: Outcome::Http(HttpAnswer { status: 200, body, invalidate }) })
    };
    // Timed: the call's answer in, 100 requests and 100 views out (what the JS benchmark times).
    // Not timed: starting the call, and answering the refetches so the next iteration starts
    // from the same state.
    c.bench_function("session: a call answer invalidating 100 of 10k observed", |b| {
        b.iter_custom(|iters| {
            let mut timed = std::time::Duration::ZERO;
            for _ in 0..iters {
                now += 1;
                waiter += 1;
                let list = waiter % 100;
                let call = s.update(vec![Event::Call(CallWait { waiter, function: "add".into(), args_json: "{}".into(), optimistic_json: None })], now);
                let body = json!({"result": 1, "invalidate": [{"context": "todos", "params": {"list_id": list}}]}).to_string();
                let answer = http(call.requests[0].id, body, Some(format!("todos;list_id={list}")));
                let t0 = std::time::Instant::now();
                let out = s.update(vec![black_box(answer)], now);
                timed += t0.elapsed();
                assert_eq!((out.requests.len(), out.views.len()), (100, 100));
                let answers = out.requests.iter().map(|r| http(r.id, bundle(list, 0).to_string(), None)).collect();
                s.update(answers, now);
            }
            timed
        })
    });
}

/// The server engine on a typical request: plan `GET /ctx/items/?page=2&category=fruit` with a
/// cache, finish the fetch with two members' results (integers and floats), plan and finish a
/// call that invalidates.
fn bench_server(c: &mut Criterion) {
    use mizan_kernel::server::{EngineConfig, FetchOutcome, Outcome, Plan, Request, ServerEngine};
    let registry = json!({"functions": {
        "items_list": {"context": "items", "inputs": {"page": "optional<integer>", "category": {"type": "string", "required": false}}, "output": "any", "cache": 60},
        "item_count": {"context": "items", "output": "integer"},
        "rename_item": {"inputs": {"id": "integer", "name": "string"}, "output": "any", "affects": ["items", "item"], "merge": ["items"]},
        "item_detail": {"context": "item", "inputs": {"id": "integer"}, "output": "any"}
    }});
    let config = EngineConfig { cache_secret: Some(SECRET.into()), ..EngineConfig::default() };
    let engine = ServerEngine::from_json(&registry.to_string(), config).unwrap();
    let fetch = Request::get("/api/mizan/ctx/items/").with_query("page=2&category=fruit");
    c.bench_function("engine.plan (fetch, cached context)", |b| b.iter(|| engine.plan(black_box(&fetch), None, 0)));
    let Plan::Fetch(plan) = engine.plan(&fetch, None, 0) else { panic!("not a fetch") };
    let items: Vec<Value> = (0..20).map(|i| json!({"id": i, "name": format!("item {i}"), "price": 1.25 * i as f64, "category": "fruit"})).collect();
    let results = vec![
        ("item_count".to_string(), Outcome::Ok("20".into())),
        ("items_list".to_string(), Outcome::Ok(Value::Array(items).to_string())),
    ];
    c.bench_function("engine.finish_fetch (2 members, 20 items)", |b| {
        b.iter(|| engine.finish_fetch("items", plan.cache.as_ref(), black_box(FetchOutcome::Results(results.clone()))))
    });
    let call = Request::post("/api/mizan/call/", r#"{"fn":"rename_item","args":{"id":7,"name":"pear"}}"#);
    c.bench_function("engine.plan + finish_call (invalidating call)", |b| {
        b.iter(|| {
            let Plan::Call(plan) = engine.plan(black_box(&call), None, 0) else { panic!("not a call") };
            engine.finish_call(&plan, Outcome::Ok(r#"{"id":7,"name":"pear","price":1.5,"category":"fruit"}"#.into()))
        })
    });
    // The same work through the exchange (what the hosts drive), for a call that invalidates
    // nothing: the engine's two steps against the exchange's two.
    use mizan_kernel::server::exchange::{Arrival, Event, Hooks, RunOutcome, Server};
    let count = Request::post("/api/mizan/call/", r#"{"fn":"item_count","args":{}}"#);
    // Both take an owned copy of the request, as a component call lifts one.
    c.bench_function("engine.plan + finish_call (item_count)", |b| {
        b.iter(|| {
            let request = black_box(&count).clone();
            let Plan::Call(plan) = engine.plan(&request, None, 0) else { panic!("not a call") };
            engine.finish_call(&plan, Outcome::Ok("3".into()))
        })
    });
    let server = Server::new(ServerEngine::from_json(&registry.to_string(), EngineConfig { cache_secret: Some(SECRET.into()), ..EngineConfig::default() }).unwrap(), Hooks::default());
    let (mut exchange, _) = server.begin(Arrival { request: count.clone(), pending: None, now_ms: 0, identity: None });
    exchange.update(vec![Event::Ran { outcomes: vec![RunOutcome::Done(Outcome::Ok("3".into()))], pending: None }]).unwrap();
    c.bench_function("exchange arrive + update(ran) (item_count, a kept exchange)", |b| {
        b.iter(|| {
            let arrival = Arrival { request: black_box(&count).clone(), pending: None, now_ms: 0, identity: None };
            exchange.next(arrival).unwrap();
            exchange.update(vec![Event::Ran { outcomes: vec![RunOutcome::Done(Outcome::Ok("3".into()))], pending: None }]).unwrap()
        })
    });
}

criterion_group!(benches, bench, bench_store, bench_session, bench_server);
criterion_main!(benches);
