//! An IPC envelope (`Mizan::handle_ipc`, what the Tauri plugin calls) is answered exactly as
//! the HTTP request it stands for: for each case the same app answers both, and the IPC reply
//! is the HTTP body (on success) or the HTTP envelope's `error` object (on failure). A context
//! fetched over IPC is a cache hit over HTTP: the params give the same key.

use axum::body::Body;
use axum::http::Request;
use mizan_host::app::HostRequest;
use mizan_host::axum::{Ctx, FnError, Mizan};
use mizan_host::{Identity, Kernel};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const KDL: &str = r#"mizan-ir version=1
context items {
    member item_list
}
type Item key=id {
    field id type=integer
    field name type=string
}
function item_list context=items output="list<Item>" {
    input page type=integer
    input tags type="list<string>" required=#false
    input exact type=boolean required=#false
    input q type="optional<string>" required=#false
}
function add_item output=Item auth=required {
    input name type=string
    affects items
    merge items
}
function only_admin output=any auth="predicate:is_admin"
function crash output=any
"#;

fn app() -> Mizan {
    Mizan::builder(KDL)
        .function("item_list", |args: Value, _ctx: Ctx| async move {
            if args["page"] == 99 {
                return Err(FnError::not_found("No such page"));
            }
            Ok(json!([{"id": 1, "name": format!("{args}")}]))
        })
        .function("add_item", |args: Value, ctx: Ctx| async move {
            Ok(json!({"id": 2, "name": format!("{} by {}", args["name"].as_str().unwrap_or(""), ctx.user().unwrap_or(""))}))
        })
        .function("only_admin", |_: Value, _ctx: Ctx| async move { Ok("yes") })
        .function("crash", |_: Value, _ctx: Ctx| async move { Err::<Value, _>(FnError::exception("db password is hunter2")) })
        .predicate("is_admin", |ctx: Ctx| async move { ctx.user() == Some("9") })
        .identity(|parts| parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(Identity::user))
        .memory_cache()
        .body_limit(256)
        .on_diagnostic(|_| {})
        .build()
        .unwrap()
}

/// The HTTP answer as an IPC reply would carry it, with the `X-Mizan-Cache` header.
async fn over_http(mizan: &Mizan, req: Request<Body>) -> (Result<Value, Value>, Option<String>) {
    let resp = mizan.router::<()>().oneshot(req).await.unwrap();
    let ok = resp.status().is_success();
    let cache = resp.headers().get("x-mizan-cache").map(|v| v.to_str().unwrap().to_string());
    let body: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
    (if ok { Ok(body) } else { Err(body["error"].clone()) }, cache)
}

async fn over_ipc(mizan: &Mizan, envelope: Value, user: Option<&str>) -> Result<Value, Value> {
    let host: HostRequest = Arc::new(());
    mizan.handle_ipc(&envelope, host, user.map(Identity::user)).await
}

/// `GET /ctx/{context}/` with the query `@mizan/kernel-wasm/client` sends for these params.
fn fetch_request(kernel: &Kernel, context: &str, params: &Value, user: Option<&str>) -> Request<Body> {
    let key = kernel.instance_key(context, params).unwrap();
    let query = key.strip_prefix(context).unwrap().trim_start_matches('?');
    let mut b = Request::get(format!("/api/mizan/ctx/{context}/?{query}"));
    if let Some(u) = user {
        b = b.header("x-user", u);
    }
    b.body(Body::empty()).unwrap()
}

fn call_request(body: &Value, user: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/api/mizan/call/");
    if let Some(u) = user {
        b = b.header("x-user", u);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn fetches_answer_as_over_http_and_share_the_cache() {
    let kernel = Kernel::new().unwrap();
    let cases = [
        json!({"page": 1}),
        json!({"page": "2", "tags": ["a", "b c"], "exact": true, "q": null}),
        json!({"page": 3, "q": "x&y=z", "unknown": 5}),
        json!({"page": 99}),                // the function's own 404
        json!({"page": "one"}),             // 422
        json!({"tags": ["a"]}),             // 422: page missing
    ];
    for (i, params) in cases.iter().enumerate() {
        // A fresh app for each way, so both answer the first fetch (a miss).
        let (http_app, ipc_app) = (app(), app());
        let (http, _) = over_http(&http_app, fetch_request(&kernel, "items", params, Some("5"))).await;
        let ipc = over_ipc(&ipc_app, json!({"op": "fetch", "context": "items", "params": params}), Some("5")).await;
        assert_eq!(ipc, http, "case {i}: {params}");
        // The IPC fetch stored its bundle under the key HTTP reads.
        if ipc.is_ok() {
            let (again, cache) = over_http(&ipc_app, fetch_request(&kernel, "items", params, Some("5"))).await;
            assert_eq!((again, cache.as_deref()), (http, Some("HIT")), "case {i}");
        }
    }
    let mizan = app();
    for (envelope, http_path) in [
        (json!({"op": "fetch", "context": "nope"}), "/api/mizan/ctx/nope/"),
        (json!({"op": "session"}), "/api/mizan/session/"),
    ] {
        let (http, _) = over_http(&mizan, Request::get(http_path).body(Body::empty()).unwrap()).await;
        assert_eq!(over_ipc(&mizan, envelope, None).await, http);
    }
}

#[tokio::test]
async fn calls_answer_as_over_http() {
    let big = "x".repeat(300);
    let cases = [
        (json!({"fn": "add_item", "args": {"name": "pen"}}), Some("5")), // result, merge, invalidate
        (json!({"fn": "add_item", "args": {"name": "pen"}}), None),      // 401
        (json!({"fn": "add_item", "args": {"name": 5}}), Some("5")),     // 422
        (json!({"fn": "add_item", "args": {"name": big}}), Some("5")),   // 413 (limit 256)
        (json!({"fn": "only_admin"}), Some("5")),                        // predicate: 403
        (json!({"fn": "only_admin"}), Some("9")),                        // predicate: allowed
        (json!({"fn": "nope"}), None),                                   // 404
        (json!({"fn": "crash"}), None),                                  // 500, nothing leaked
        (json!({"fn": 5}), None),                                        // 400
        (json!({"fn": "add_item", "args": [1]}), Some("5")),             // 400
    ];
    let mizan = app();
    for (i, (body, user)) in cases.iter().enumerate() {
        let (http, _) = over_http(&mizan, call_request(body, *user)).await;
        let mut envelope = body.clone();
        envelope["op"] = json!("call");
        assert_eq!(over_ipc(&mizan, envelope, *user).await, http, "case {i}: {body}");
    }
    let added = over_ipc(&mizan, json!({"op": "call", "fn": "add_item", "args": {"name": "pen"}}), Some("5")).await.unwrap();
    assert_eq!(added["invalidate"], json!(["items"]));
    assert_eq!(added["merge"][0]["slot"], "item_list");
    let crash = over_ipc(&mizan, json!({"op": "call", "fn": "crash"}), None).await.unwrap_err();
    assert_eq!(crash, json!({"code": "INTERNAL_ERROR", "message": "Internal server error"}));
}

#[tokio::test]
async fn envelopes_that_are_none_of_the_three_are_a_400() {
    let mizan = app();
    let invalid = json!({"code": "BAD_REQUEST", "message": "Invalid request body"});
    for envelope in [
        json!(null),
        json!([]),
        json!({}),
        json!({"op": "delete"}),
        json!({"op": "fetch"}),
        json!({"op": "fetch", "context": 5}),
        json!({"op": "fetch", "context": "items", "params": [1]}),
    ] {
        assert_eq!(over_ipc(&mizan, envelope.clone(), None).await, Err(invalid.clone()), "{envelope}");
    }
    // A context name is one path segment: it cannot reach another endpoint.
    let other = over_ipc(&mizan, json!({"op": "fetch", "context": "../../session"}), None).await;
    assert_eq!(other.unwrap_err()["code"], "NOT_FOUND");
}

#[tokio::test]
async fn functions_reach_the_apps_state() {
    struct Greeting(&'static str);
    let mizan = Mizan::builder(KDL)
        .state(Greeting("hello"))
        .state(7_u8)
        .function("only_admin", |_: Value, ctx: Ctx| async move {
            Ok(json!([ctx.state::<Greeting>().map(|g| g.0), ctx.state::<u8>(), ctx.state::<u16>()]))
        })
        .predicate("is_admin", |ctx: Ctx| async move { ctx.state::<u8>() == Some(&7) })
        // build() refuses an app with a public function left unimplemented.
        .function("item_list", |_: Value, _| async { Ok(json!([])) })
        .function("add_item", |_: Value, _| async { Ok(json!(null)) })
        .function("crash", |_: Value, _| async { Ok(json!(null)) })
        .on_diagnostic(|_| {})
        .build()
        .unwrap();
    let reply = over_ipc(&mizan, json!({"op": "call", "fn": "only_admin"}), Some("1")).await.unwrap();
    assert_eq!(reply["result"], json!(["hello", 7, null]));
    assert_eq!(mizan.state::<Greeting>().map(|g| g.0), Some("hello"));
}
