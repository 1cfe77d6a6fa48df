//! The server protocol engine (KERNEL.md §2.1, §8, §10): the spec's wire vectors, auth rules and
//! messages, validation and coercion, malformed and oversize bodies, cache keys, purges, merges,
//! tokens and the in-memory origin store.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use mizan_kernel::InvalidateEntry;
use mizan_kernel::keys::{KeyInput, Keyer};
use mizan_kernel::server::redis::{REDIS_PURGE_SCRIPT, REDIS_PUT_SCRIPT, plan_from_json, plan_json};
use mizan_kernel::server::token::{self, Claims, TokenError, TokenKind};
use mizan_kernel::server::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const CACHE: &str = "server-cache-secret-32-bytes-ok!";
const MWT: &str = "server-mwt-secret-32-bytes-long!";
const JWT: &str = "server-jwt-secret-32-bytes-long!";
const NOW: u64 = 1_700_000_000_000;

const REGISTRY: &str = r#"{
  "contexts": {"catalog": {"shared": true}},
  "functions": {
    "items_list": {"context": "items", "inputs": {"page": "optional<integer>"}, "output": "list<ItemOutput>", "cache": 60},
    "item_count": {"context": "items", "output": "integer", "rev": 2},
    "user_profile": {"context": "user", "inputs": {"user_id": "integer"}, "output": "Profile", "auth": "required"},
    "user_orders": {"context": "user", "inputs": {"user_id": "integer", "page": {"type": "integer", "required": false}}, "output": "list<string>", "auth": "required"},
    "catalog_list": {"context": "catalog", "inputs": {"q": "optional<string>"}, "output": "list<string>", "cache": 300},
    "staff_report": {"context": "reports", "output": "any", "auth": "staff"},
    "audit_log": {"context": "reports", "inputs": {"day": "string"}, "output": "any", "auth": "predicate:can_audit"},
    "live_prices": {"context": "prices", "output": "any", "cache": false},
    "hidden_member": {"context": "hidden", "output": "any", "private": true},
    "update_item": {"inputs": {"id": "integer", "name": "string"}, "output": "ItemOutput", "affects": ["items"], "merge": ["items"]},
    "update_profile": {"inputs": {"user_id": "integer", "name": "string"}, "output": "Profile", "affects": ["user"], "auth": "required"},
    "post_note": {"inputs": {"text": "string"}, "output": "any", "affects": ["user"], "auth": "required"},
    "noop": {"output": "any"},
    "staff_op": {"output": "any", "auth": "staff"},
    "super_op": {"inputs": {"n": "integer"}, "output": "any", "auth": "superuser"},
    "owner_op": {"inputs": {"n": "integer"}, "output": "any", "auth": "predicate:is_owner"},
    "secret_op": {"output": "any", "private": true},
    "typed": {"inputs": {"count": "integer", "ratio": "number", "flag": "boolean", "tags": "list<string>",
                         "maybe": "optional<integer>", "filter": {"type": "Filter", "required": false},
                         "nothing": {"type": "null", "required": false}, "anything": {"type": "any", "required": false}},
              "output": "any"},
    "typed_read": {"context": "typed_ctx", "inputs": {"count": "integer", "ratio": {"type": "number", "required": false},
                   "flag": {"type": "boolean", "required": false}, "ids": {"type": "list<integer>", "required": false},
                   "filter": {"type": "Filter", "required": false}, "maybe": "optional<integer>"}, "output": "any"}
  },
  "types": {
    "ItemOutput": {"id": "integer", "name": "string"},
    "Profile": {"name": "string"},
    "Filter": {"name": "string", "limit": "optional<integer>"}
  }
}"#;

fn engine_with(config: EngineConfig) -> ServerEngine {
    ServerEngine::from_json(REGISTRY, config).unwrap()
}

fn engine() -> ServerEngine {
    engine_with(EngineConfig::default())
}

fn full_config() -> EngineConfig {
    EngineConfig {
        cache_secret: Some(CACHE.into()),
        mwt_secret: Some(MWT.into()),
        jwt_secret: Some(JWT.into()),
        ..EngineConfig::default()
    }
}

fn cached() -> ServerEngine {
    engine_with(full_config())
}

fn call(body: Value) -> Request {
    Request::post("/api/mizan/call/", body.to_string())
}

fn ctx(name: &str, query: &str) -> Request {
    Request::get(format!("/api/mizan/ctx/{name}/")).with_query(query)
}

fn user(subject: &str) -> Identity {
    Identity::user(subject)
}

fn staff(subject: &str) -> Identity {
    Identity { staff: true, ..Identity::user(subject) }
}

fn responded(plan: Plan) -> Response {
    match plan {
        Plan::Respond(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn body(r: &Response) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("body {:?}: {e}", r.body))
}

/// Status, code and message of an error response, and the headers every response carries.
fn assert_error(r: &Response, status: u16, code: &str, message: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    let b = body(r);
    assert_eq!(b["error"]["code"], code, "{}", r.body);
    if let Some(m) = message {
        assert_eq!(b["error"]["message"], m, "{}", r.body);
    }
    assert_common_headers(r);
}

fn assert_common_headers(r: &Response) {
    assert_eq!(r.headers[0], ("Content-Type".to_string(), "application/json".to_string()));
    assert_eq!(r.headers[1], ("Cache-Control".to_string(), "no-store".to_string()));
}

fn error_of(plan: Plan, status: u16, code: &str, message: &str) -> Response {
    let r = responded(plan);
    assert_error(&r, status, code, Some(message));
    r
}

fn as_call(plan: Plan) -> CallPlan {
    match plan {
        Plan::Call(c) => c,
        other => panic!("expected a call, got {other:?}"),
    }
}

fn as_fetch(plan: Plan) -> FetchPlan {
    match plan {
        Plan::Fetch(f) => f,
        other => panic!("expected a fetch, got {other:?}"),
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The spec's wire vectors.

#[test]
fn wire_vectors() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/kernel-vectors.json")).unwrap();
    let vectors: Value = serde_json::from_str(&text).unwrap();
    let statuses = vectors["error_statuses"].as_object().unwrap();
    for (code, status) in statuses {
        let c = ProtocolCode::parse(code).unwrap_or_else(|| panic!("no protocol code {code}"));
        assert_eq!(u64::from(c.status()), status.as_u64().unwrap(), "{code}");
    }
    let e = engine();
    let wire = vectors["wire"].as_array().unwrap();
    assert!(wire.len() >= 4);
    for v in wire {
        let req = &v["req"];
        let mut request = Request::new(req["method"].as_str().unwrap(), req["path"].as_str().unwrap());
        if let Some(j) = req.get("json") {
            request.body = j.to_string().into_bytes();
        }
        if let Some(raw) = req.get("raw") {
            request.body = raw.as_str().unwrap().as_bytes().to_vec();
        }
        let r = responded(e.plan(&request, None, NOW));
        assert_eq!(u64::from(r.status), v["status_code"].as_u64().unwrap(), "{v}");
        let b = body(&r);
        if let Some(expected) = v.get("body") {
            assert_eq!(&b, expected, "{v}");
        }
        if let Some(code) = v.get("error_code") {
            assert_eq!(&b["error"]["code"], code, "{v}");
            assert_eq!(statuses[code.as_str().unwrap()], json!(r.status), "{v}");
        }
        if let Some(message) = v.get("message") {
            assert_eq!(&b["error"]["message"], message, "{v}");
        }
        for (name, value) in v.get("headers").and_then(Value::as_object).into_iter().flatten() {
            assert_eq!(r.header(name), value.as_str(), "{v}");
        }
        assert_common_headers(&r);
    }
}

#[test]
fn session_endpoint() {
    let e = engine();
    let r = responded(e.plan(&Request::get("/api/mizan/session/"), None, NOW));
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"csrfToken":null}"#));
    let mut req = Request::get("/api/mizan/session");
    req.csrf_token = Some("tok\"en".into());
    let r = responded(e.plan(&req, None, NOW));
    assert_eq!(r.body, r#"{"csrfToken":"tok\"en"}"#);
    assert_eq!(r.headers.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Routing.

#[test]
fn routing_methods_and_base_path() {
    let e = engine();
    error_of(e.plan(&Request::get("/api/mizan/nope/"), None, NOW), 404, "NOT_FOUND", "Not found");
    error_of(e.plan(&Request::get("/elsewhere/session/"), None, NOW), 404, "NOT_FOUND", "Not found");
    error_of(e.plan(&Request::get("/api/mizanx/session/"), None, NOW), 404, "NOT_FOUND", "Not found");
    error_of(e.plan(&Request::get("/api/mizan/ctx//"), None, NOW), 404, "NOT_FOUND", "Not found");
    error_of(e.plan(&Request::get("/api/mizan/ctx/a/b/"), None, NOW), 404, "NOT_FOUND", "Not found");
    let r = error_of(e.plan(&Request::get("/api/mizan/call/"), None, NOW), 405, "METHOD_NOT_ALLOWED", "Method not allowed");
    assert_eq!(r.header("Allow"), Some("POST"));
    let r = error_of(e.plan(&Request::post("/api/mizan/ctx/items/", "{}"), None, NOW), 405, "METHOD_NOT_ALLOWED", "Method not allowed");
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    // Without the trailing slash, HEAD, and the query in the path.
    assert!(matches!(e.plan(&Request::new("POST", "/api/mizan/call").with_query(""), None, NOW), Plan::Respond(r) if r.status == 400));
    // Methods are case-sensitive (RFC 9110 §9.1): `get` is no more GET than PROPFIND is.
    for (method, path, allow) in [
        ("get", "/api/mizan/session/", "GET, HEAD"),
        ("head", "/api/mizan/ctx/items/", "GET, HEAD"),
        ("post", "/api/mizan/call/", "POST"),
        ("Post", "/api/mizan/call/", "POST"),
        ("PROPFIND", "/api/mizan/ctx/items/", "GET, HEAD"),
        ("TRACE", "/api/mizan/call/", "POST"),
        ("OPTIONS", "/api/mizan/session/", "GET, HEAD"),
        ("FOO", "/api/mizan/call/", "POST"),
    ] {
        let r = error_of(e.plan(&Request::new(method, path), None, NOW), 405, "METHOD_NOT_ALLOWED", "Method not allowed");
        assert_eq!(r.header("Allow"), Some(allow), "{method} {path}");
    }
    let f = as_fetch(e.plan(&Request::new("HEAD", "/api/mizan/ctx/items?page=2"), None, NOW));
    assert_eq!(f.params, obj(json!({"page": 2})));
    // Another base path; the root.
    let e = engine_with(EngineConfig { base_path: "/rpc/".into(), ..EngineConfig::default() });
    assert_eq!(responded(e.plan(&Request::get("/rpc/session/"), None, NOW)).status, 200);
    assert_eq!(responded(e.plan(&Request::get("/api/mizan/session/"), None, NOW)).status, 404);
    let e = engine_with(EngineConfig { base_path: String::new(), ..EngineConfig::default() });
    assert_eq!(responded(e.plan(&Request::get("/session/"), None, NOW)).status, 200);
    assert!(ServerEngine::from_json(REGISTRY, EngineConfig { base_path: "api".into(), ..EngineConfig::default() }).is_err());
}

#[test]
fn unknown_function_and_context() {
    let e = engine();
    error_of(e.plan(&call(json!({"fn": "ghost"})), None, NOW), 404, "NOT_FOUND", "Function 'ghost' not found");
    error_of(e.plan(&call(json!({"fn": "no such"})), None, NOW), 404, "NOT_FOUND", "Function not found");
    error_of(e.plan(&ctx("ghost", ""), None, NOW), 404, "NOT_FOUND", "Context 'ghost' not found");
    error_of(e.plan(&ctx("%F0%9F%98%80%20x", ""), None, NOW), 404, "NOT_FOUND", "Context not found");
    error_of(e.plan(&ctx("%zz", ""), None, NOW), 404, "NOT_FOUND", "Context not found");
    // A context name is percent-decoded.
    as_fetch(e.plan(&ctx("it%65ms", ""), None, NOW));
}

// ---------------------------------------------------------------------------------------------
// Malformed and oversize bodies.

#[test]
fn malformed_bodies_are_400_invalid_request_body() {
    let e = engine();
    let bodies: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        b"".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"\"noop\"".to_vec(),
        b"null".to_vec(),
        b"{}".to_vec(),
        br#"{"args": {}}"#.to_vec(),
        br#"{"fn": 5}"#.to_vec(),
        br#"{"fn": ""}"#.to_vec(),
        br#"{"fn": null}"#.to_vec(),
        br#"{"fn": "noop", "args": []}"#.to_vec(),
        br#"{"fn": "noop", "args": "x"}"#.to_vec(),
        br#"{"fn": "noop", "args": null}"#.to_vec(),
        b"{\"fn\": \"noop\xff\"}".to_vec(),
        b"{\"fn\": \"noop\"} trailing".to_vec(),
    ];
    for b in bodies {
        let plan = e.plan(&Request::post("/api/mizan/call/", b.clone()), Some(&user("1")), NOW);
        let r = error_of(plan, 400, "BAD_REQUEST", "Invalid request body");
        assert_eq!(r.body, r#"{"error":{"code":"BAD_REQUEST","message":"Invalid request body"}}"#, "{b:?}");
    }
    // Extra keys are ignored; absent args are {}.
    as_call(e.plan(&call(json!({"fn": "noop", "extra": 1})), None, NOW));
}

#[test]
fn oversize_bodies_are_413_before_anything_else() {
    let e = engine_with(EngineConfig { body_limit: 64, mwt_secret: Some(MWT.into()), ..EngineConfig::default() });
    let pad = 64 - r#"{"fn":"noop","args":{"pad":""}}"#.len();
    let fits = format!(r#"{{"fn":"noop","args":{{"pad":"{}"}}}}"#, "x".repeat(pad));
    assert_eq!(fits.len(), 64);
    as_call(e.plan(&Request::post("/api/mizan/call/", fits.clone()), None, NOW));
    let over = fits.replacen("xx", "xxx", 1);
    let r = error_of(e.plan(&Request::post("/api/mizan/call/", over.clone()), None, NOW), 413, "PAYLOAD_TOO_LARGE", "Request body too large");
    assert_eq!(r.body, r#"{"error":{"code":"PAYLOAD_TOO_LARGE","message":"Request body too large"}}"#);
    // Even with a bad token or a malformed body, size is checked first.
    let req = Request::post("/api/mizan/call/", "x".repeat(65)).with_header("X-Mizan-Token", "garbage");
    error_of(e.plan(&req, None, NOW), 413, "PAYLOAD_TOO_LARGE", "Request body too large");
    // The default limit is 1 MiB.
    assert_eq!(engine().config().body_limit, 1024 * 1024);
    let big = format!(r#"{{"fn":"noop","args":{{"pad":"{}"}}}}"#, "x".repeat(1024 * 1024));
    error_of(engine().plan(&Request::post("/api/mizan/call/", big), None, NOW), 413, "PAYLOAD_TOO_LARGE", "Request body too large");
}

// ---------------------------------------------------------------------------------------------
// Private functions and auth guards.

#[test]
fn private_functions_are_refused() {
    let e = engine();
    error_of(e.plan(&call(json!({"fn": "secret_op"})), Some(&staff("1")), NOW), 403, "FORBIDDEN", "Function is not client-callable");
    error_of(e.plan(&ctx("hidden", ""), Some(&staff("1")), NOW), 403, "FORBIDDEN", "Function is not client-callable");
}

#[test]
fn auth_rules_and_messages() {
    let e = engine();
    let superuser = Identity { superuser: true, ..Identity::user("9") };
    let run = |f: &str, args: Value, who: Option<&Identity>| e.plan(&call(json!({"fn": f, "args": args})), who, NOW);
    // required
    error_of(run("update_profile", json!({"user_id": 1, "name": "a"}), None), 401, "UNAUTHORIZED", "Authentication required");
    as_call(run("update_profile", json!({"user_id": 1, "name": "a"}), Some(&user("1"))));
    // staff
    error_of(run("staff_op", json!({}), None), 401, "UNAUTHORIZED", "Authentication required");
    error_of(run("staff_op", json!({}), Some(&user("1"))), 403, "FORBIDDEN", "Staff access required");
    error_of(run("staff_op", json!({}), Some(&superuser)), 403, "FORBIDDEN", "Staff access required");
    as_call(run("staff_op", json!({}), Some(&staff("1"))));
    // superuser
    error_of(run("super_op", json!({"n": 1}), None), 401, "UNAUTHORIZED", "Authentication required");
    error_of(run("super_op", json!({"n": 1}), Some(&staff("1"))), 403, "FORBIDDEN", "Superuser access required");
    as_call(run("super_op", json!({"n": 1}), Some(&superuser)));
    // none
    as_call(run("noop", json!({}), None));
    // The same rules on a context fetch.
    error_of(e.plan(&ctx("user", "user_id=1"), None, NOW), 401, "UNAUTHORIZED", "Authentication required");
    error_of(e.plan(&ctx("reports", "day=mon"), None, NOW), 401, "UNAUTHORIZED", "Authentication required");
    error_of(e.plan(&ctx("reports", "day=mon"), Some(&user("1")), NOW), 403, "FORBIDDEN", "Staff access required");
}

#[test]
fn auth_runs_before_validation() {
    let e = engine();
    // Anonymous with missing args: 401, not 422.
    error_of(e.plan(&call(json!({"fn": "update_profile"})), None, NOW), 401, "UNAUTHORIZED", "Authentication required");
    error_of(e.plan(&call(json!({"fn": "super_op", "args": {"n": "x"}})), Some(&user("1")), NOW), 403, "FORBIDDEN", "Superuser access required");
    error_of(e.plan(&ctx("user", ""), None, NOW), 401, "UNAUTHORIZED", "Authentication required");
    // A predicate is asked before validation too.
    assert!(matches!(e.plan(&call(json!({"fn": "owner_op", "args": {"n": "x"}})), None, NOW), Plan::CheckPredicates(_)));
    let r = responded(e.plan_with(&call(json!({"fn": "owner_op", "args": {"n": "x"}})), None, NOW, &[("is_owner".into(), true)]));
    assert_error(&r, 422, "VALIDATION_ERROR", Some("Input validation failed"));
}

#[test]
fn predicates_are_asked_then_answered() {
    let e = engine();
    let req = call(json!({"fn": "owner_op", "args": {"n": 3}}));
    let who = user("4");
    match e.plan(&req, Some(&who), NOW) {
        Plan::CheckPredicates(c) => {
            assert_eq!(c.predicates, vec!["is_owner".to_string()]);
            assert_eq!(c.identity, Some(who.clone()));
        }
        other => panic!("{other:?}"),
    }
    error_of(e.plan_with(&req, Some(&who), NOW, &[("is_owner".into(), false)]), 403, "FORBIDDEN", "Permission denied");
    let c = as_call(e.plan_with(&req, Some(&who), NOW, &[("other".into(), false), ("is_owner".into(), true)]));
    assert_eq!(c.args, obj(json!({"n": 3})));
    // Anonymous callers reach the predicate too: the host decides.
    as_call(e.plan_with(&req, None, NOW, &[("is_owner".into(), true)]));
    // Context fetch: static guards first (staff), then the predicate.
    let r = ctx("reports", "day=mon");
    error_of(e.plan(&r, Some(&user("1")), NOW), 403, "FORBIDDEN", "Staff access required");
    assert!(matches!(e.plan(&r, Some(&staff("1")), NOW), Plan::CheckPredicates(c) if c.predicates == ["can_audit"]));
    error_of(e.plan_with(&r, Some(&staff("1")), NOW, &[("can_audit".into(), false)]), 403, "FORBIDDEN", "Permission denied");
    let f = as_fetch(e.plan_with(&r, Some(&staff("1")), NOW, &[("can_audit".into(), true)]));
    assert_eq!(f.members.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Validation and coercion.

#[test]
fn missing_required_is_422_field_required() {
    let e = engine();
    let r = responded(e.plan(&call(json!({"fn": "update_item", "args": {"name": "x", "junk": 1}})), None, NOW));
    assert_error(&r, 422, "VALIDATION_ERROR", Some("Input validation failed"));
    assert_eq!(
        r.body,
        r#"{"error":{"code":"VALIDATION_ERROR","message":"Input validation failed","details":{"fields":{"id":["Field required"]}}}}"#
    );
    let r = responded(e.plan(&call(json!({"fn": "update_item"})), None, NOW));
    assert_eq!(body(&r)["error"]["details"], json!({"fields": {"id": ["Field required"], "name": ["Field required"]}}));
}

#[test]
fn call_args_are_coerced_and_unknown_args_dropped() {
    let e = engine();
    let c = as_call(e.plan(
        &call(json!({"fn": "typed", "args": {
            "count": "42", "ratio": "2.5", "flag": "true", "tags": ["a"], "maybe": null,
            "filter": {"name": "n", "extra": 1}, "nothing": null, "anything": {"x": [1]}, "unknown": 1
        }})),
        None,
        NOW,
    ));
    assert_eq!(
        Value::Object(c.args),
        json!({"count": 42, "ratio": 2.5, "flag": true, "tags": ["a"], "maybe": null,
               "filter": {"name": "n"}, "nothing": null, "anything": {"x": [1]}})
    );
    let c = as_call(e.plan(&call(json!({"fn": "typed", "args": {"count": 5.0, "ratio": 3, "flag": 0, "tags": [], "maybe": "7"}})), None, NOW));
    assert_eq!(Value::Object(c.args), json!({"count": 5, "ratio": 3, "flag": false, "tags": [], "maybe": 7}));
}

#[test]
fn call_type_errors_name_each_path() {
    let e = engine();
    let r = responded(e.plan(
        &call(json!({"fn": "typed", "args": {
            "count": 1.5, "ratio": "x", "flag": "maybe", "tags": ["a", 2], "maybe": "n",
            "filter": {"limit": 1}, "nothing": 0
        }})),
        None,
        NOW,
    ));
    assert_error(&r, 422, "VALIDATION_ERROR", Some("Input validation failed"));
    assert_eq!(
        body(&r)["error"]["details"]["fields"],
        json!({
            "count": ["Input should be a valid integer"],
            "filter.name": ["Field required"],
            "flag": ["Input should be a valid boolean"],
            "maybe": ["Input should be a valid integer"],
            "nothing": ["Input should be null"],
            "ratio": ["Input should be a valid number"],
            "tags.1": ["Input should be a valid string"]
        })
    );
    let r = responded(e.plan(&call(json!({"fn": "typed", "args": {"count": true, "ratio": null, "flag": 2, "tags": "a", "maybe": 1, "filter": []}})), None, NOW));
    assert_eq!(
        body(&r)["error"]["details"]["fields"],
        json!({
            "count": ["Input should be a valid integer"],
            "filter": ["Input should be a valid object"],
            "flag": ["Input should be a valid boolean"],
            "ratio": ["Input should be a valid number"],
            "tags": ["Input should be a valid list"]
        })
    );
}

#[test]
fn query_strings_are_coerced_by_declared_type() {
    let e = engine();
    let f = as_fetch(e.plan(
        &ctx("typed_ctx", "count=7&ratio=0.5&flag=FALSE&ids=1&ids=2&filter=%7B%22name%22%3A%22a+b%22%7D&maybe=&junk=x"),
        None,
        NOW,
    ));
    let expect = json!({"count": 7, "ratio": 0.5, "flag": false, "ids": [1, 2], "filter": {"name": "a b"}, "maybe": null});
    assert_eq!(Value::Object(f.params.clone()), expect);
    assert_eq!(Value::Object(f.members[0].args.clone()), expect);
    // A list as one JSON value (what `stringify` of a list gives); the last of repeated scalars.
    let f = as_fetch(e.plan(&ctx("typed_ctx", "count=1&count=2&ids=%5B3%2C4%5D&flag=1&maybe=null"), None, NOW));
    assert_eq!(Value::Object(f.params), json!({"count": 2, "ids": [3, 4], "flag": true, "maybe": null}));
    let f = as_fetch(e.plan(&ctx("typed_ctx", "count=-3&maybe=5&ratio=1e3"), None, NOW));
    assert_eq!(Value::Object(f.params), json!({"count": -3, "maybe": 5, "ratio": 1000.0}));
    // Errors.
    let r = responded(e.plan(&ctx("typed_ctx", "count=x&ratio=inf&flag=yes&ids=1&ids=a&filter=nope&maybe=z"), None, NOW));
    assert_error(&r, 422, "VALIDATION_ERROR", Some("Input validation failed"));
    assert_eq!(
        body(&r)["error"]["details"]["fields"],
        json!({
            "count": ["Input should be a valid integer"],
            "filter": ["Input should be a valid object"],
            "flag": ["Input should be a valid boolean"],
            "ids.1": ["Input should be a valid integer"],
            "maybe": ["Input should be a valid integer"],
            "ratio": ["Input should be a valid number"]
        })
    );
    let r = responded(e.plan(&ctx("typed_ctx", ""), None, NOW));
    assert_eq!(body(&r)["error"]["details"], json!({"fields": {"count": ["Field required"]}}));
    error_of(e.plan(&ctx("typed_ctx", "count=%zz"), None, NOW), 400, "BAD_REQUEST", "Invalid query string");
}

#[test]
fn only_declared_params_reach_each_member() {
    let e = engine_with(EngineConfig { cache_secret: Some(CACHE.into()), ..EngineConfig::default() });
    let f = as_fetch(e.plan(&ctx("user", "user_id=5&page=2&evil=1"), Some(&user("5")), NOW));
    assert_eq!(f.context, "user");
    let names: Vec<&str> = f.members.iter().map(|m| m.function.as_str()).collect();
    assert_eq!(names, ["user_orders", "user_profile"]);
    assert_eq!(Value::Object(f.members[0].args.clone()), json!({"user_id": 5, "page": 2}));
    assert_eq!(Value::Object(f.members[1].args.clone()), json!({"user_id": 5}));
    assert_eq!(Value::Object(f.params.clone()), json!({"page": 2, "user_id": 5}));
    // The junk param is not in the key either.
    let g = as_fetch(e.plan(&ctx("user", "user_id=5&page=2"), Some(&user("5")), NOW));
    assert_eq!(f.cache, g.cache);
}

// ---------------------------------------------------------------------------------------------
// Cache keys.

fn key_of(context: &str, params: Value, user: Option<&str>, rev: u64) -> String {
    Keyer::new(CACHE).unwrap().derive(&KeyInput {
        context: context.into(),
        params: obj(params),
        user: user.map(str::to_string),
        rev,
    })
}

#[test]
fn cache_key_carries_the_subject_unless_shared_and_public_for_anonymous() {
    let e = cached();
    // Authenticated: user-scoped, even though `items` has no user param.
    let f = as_fetch(e.plan(&ctx("items", "page=2"), Some(&user("7")), NOW));
    let c = f.cache.unwrap();
    assert_eq!(c.key, key_of("items", json!({"page": "2"}), Some("7"), 2));
    // rev is the context's max rev (2), TTL its min TTL (60).
    assert_eq!(c.ttl_seconds, 60);
    assert_eq!(c.index_keys, Keyer::new(CACHE).unwrap().index_entry(&KeyInput {
        context: "items".into(), params: obj(json!({"page": 2})), user: Some("7".into()), rev: 2 }).index_keys);
    // Another user: another key.
    let other = as_fetch(e.plan(&ctx("items", "page=2"), Some(&user("8")), NOW)).cache.unwrap();
    assert_ne!(other.key, c.key);
    // Anonymous: public key.
    let public = as_fetch(e.plan(&ctx("items", "page=2"), None, NOW)).cache.unwrap();
    assert_eq!(public.key, key_of("items", json!({"page": 2}), None, 2));
    // Shared: public key for everyone.
    let shared_a = as_fetch(e.plan(&ctx("catalog", "q=x"), Some(&user("7")), NOW)).cache.unwrap();
    let shared_b = as_fetch(e.plan(&ctx("catalog", "q=x"), None, NOW)).cache.unwrap();
    assert_eq!(shared_a.key, shared_b.key);
    assert_eq!(shared_a.key, key_of("catalog", json!({"q": "x"}), None, 0));
    assert_eq!(shared_a.ttl_seconds, 300);
    // The safety TTL bounds a context that names none.
    let r = as_fetch(e.plan(&ctx("user", "user_id=1"), Some(&user("1")), NOW)).cache.unwrap();
    assert_eq!(r.ttl_seconds, 24 * 60 * 60);
    // cache=False: no cache plan. No cache configured: none either.
    assert!(as_fetch(e.plan(&ctx("prices", ""), None, NOW)).cache.is_none());
    assert!(as_fetch(engine().plan(&ctx("items", ""), None, NOW)).cache.is_none());
}

#[test]
fn fetch_hit_miss_and_put() {
    let e = cached();
    let f = as_fetch(e.plan(&ctx("items", "page=1"), None, NOW));
    let results = vec![
        ("items_list".to_string(), Outcome::Ok(r#"[{"name":"a","id":1}]"#.into())),
        ("item_count".to_string(), Outcome::Ok("1".into())),
    ];
    let done = e.finish_fetch(&f.context, f.cache.as_ref(), FetchOutcome::Results(results));
    let r = &done.response;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"item_count":1,"items_list":[{"id":1,"name":"a"}]}"#);
    assert_eq!(r.header("X-Mizan-Cache"), Some("MISS"));
    assert_common_headers(r);
    let put = done.cache_put.clone().unwrap();
    let plan = f.cache.clone().unwrap();
    assert_eq!((put.key, put.index_keys, put.ttl_seconds, put.body.as_str()), (plan.key, plan.index_keys, 60, r.body.as_str()));
    assert!(done.purge.is_none());
    let hit = e.finish_fetch(&f.context, f.cache.as_ref(), FetchOutcome::Hit(r.body.clone()));
    assert_eq!(hit.response.body, r.body);
    assert_eq!(hit.response.header("X-Mizan-Cache"), Some("HIT"));
    assert!(hit.cache_put.is_none());
    // No cache configured: no header, no put.
    let plain = engine();
    let f = as_fetch(plain.plan(&ctx("prices", ""), None, NOW));
    let done = plain.finish_fetch(&f.context, None, FetchOutcome::Results(vec![("live_prices".into(), Outcome::Ok("{}".into()))]));
    assert_eq!(done.response.header("X-Mizan-Cache"), None);
    assert_eq!(done.response.body, r#"{"live_prices":{}}"#);
    // cache=False with a cache configured: a MISS, never stored.
    let f = as_fetch(e.plan(&ctx("prices", ""), None, NOW));
    let done = e.finish_fetch(&f.context, f.cache.as_ref(), FetchOutcome::Results(vec![("live_prices".into(), Outcome::Ok("{}".into()))]));
    assert_eq!(done.response.header("X-Mizan-Cache"), Some("MISS"));
    assert!(done.cache_put.is_none());
}

#[test]
fn fetch_failures_are_not_cached() {
    let e = cached();
    let f = as_fetch(e.plan(&ctx("items", ""), None, NOW));
    let done = e.finish_fetch(
        &f.context,
        f.cache.as_ref(),
        FetchOutcome::Results(vec![
            ("items_list".into(), Outcome::Exception("db down at 10.0.0.3".into())),
            ("item_count".into(), Outcome::Error(ProtocolError::new(ProtocolCode::NotFound, "No items"))),
        ]),
    );
    // The first failing member in member (UTF-16) order: item_count.
    assert_error(&done.response, 404, "NOT_FOUND", Some("No items"));
    assert!(done.cache_put.is_none());
    let done = e.finish_fetch(
        &f.context,
        f.cache.as_ref(),
        FetchOutcome::Results(vec![
            ("items_list".into(), Outcome::Exception("db down at 10.0.0.3".into())),
            ("item_count".into(), Outcome::Ok("1".into())),
        ]),
    );
    assert_error(&done.response, 500, "INTERNAL_ERROR", Some("Internal server error"));
    assert!(!done.response.body.contains("10.0.0.3"));
    assert!(done.diagnostics.iter().any(|d| d.contains("10.0.0.3")));
    assert!(done.cache_put.is_none());
    // Host bugs: a missing member, a result that is not JSON, an unknown context.
    let done = e.finish_fetch("items", None, FetchOutcome::Results(vec![("item_count".into(), Outcome::Ok("1".into()))]));
    assert_error(&done.response, 500, "INTERNAL_ERROR", Some("Internal server error"));
    let done = e.finish_fetch(
        "items",
        None,
        FetchOutcome::Results(vec![("item_count".into(), Outcome::Ok("{".into())), ("items_list".into(), Outcome::Ok("[]".into()))]),
    );
    assert_eq!(done.response.status, 500);
    assert_eq!(e.finish_fetch("ghost", None, FetchOutcome::Results(vec![])).response.status, 500);
    let done = e.finish_fetch(
        "items",
        None,
        FetchOutcome::Results(vec![
            ("item_count".into(), Outcome::Ok("1".into())),
            ("items_list".into(), Outcome::Ok("[]".into())),
            ("stranger".into(), Outcome::Ok("0".into())),
        ]),
    );
    assert_eq!(done.response.status, 200);
    assert_eq!(done.diagnostics.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Call responses: result, merges, invalidation, purge.

#[test]
fn call_response_merges_before_invalidation_with_header_and_purge() {
    let e = cached();
    let c = as_call(e.plan(&call(json!({"fn": "update_item", "args": {"id": "42", "name": "renamed"}})), None, NOW));
    let done = e.finish_call(&c, Outcome::Ok(r#"{"name":"renamed","id":42}"#.into()));
    let r = &done.response;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        r#"{"result":{"id":42,"name":"renamed"},"merge":[{"context":"items","slot":"items_list","value":{"id":42,"name":"renamed"}}],"invalidate":["items"]}"#
    );
    let (m, i) = (r.body.find("\"merge\"").unwrap(), r.body.find("\"invalidate\"").unwrap());
    assert!(m < i);
    assert_eq!(r.header("X-Mizan-Invalidate"), Some("items"));
    assert_common_headers(r);
    assert_eq!(done.purge, Some(Keyer::new(CACHE).unwrap().purge_plan(&[InvalidateEntry::Broad("items".into())])));
    assert!(done.cache_put.is_none());
    assert!(done.diagnostics.is_empty());
}

#[test]
fn call_without_invalidation_has_empty_list_no_header_no_merge_no_purge() {
    let e = cached();
    let c = as_call(e.plan(&call(json!({"fn": "noop"})), None, NOW));
    let done = e.finish_call(&c, Outcome::Ok("null".into()));
    assert_eq!(done.response.body, r#"{"result":null,"invalidate":[]}"#);
    assert_eq!(done.response.header("X-Mizan-Invalidate"), None);
    assert!(done.purge.is_none());
}

#[test]
fn invalidation_is_scoped_by_args_and_identity() {
    let e = cached();
    let c = as_call(e.plan(&call(json!({"fn": "update_profile", "args": {"user_id": 5, "name": "n"}})), Some(&user("5")), NOW));
    let done = e.finish_call(&c, Outcome::Ok(r#"{"name":"n"}"#.into()));
    assert_eq!(body(&done.response)["invalidate"], json!([{"context": "user", "params": {"user_id": 5}}]));
    assert_eq!(done.response.header("X-Mizan-Invalidate"), Some("user;user_id=5"));
    // Tier 2: no user_id arg, the caller's subject binds it.
    let c = as_call(e.plan(&call(json!({"fn": "post_note", "args": {"text": "hi"}})), Some(&user("9")), NOW));
    let done = e.finish_call(&c, Outcome::Ok("{}".into()));
    assert_eq!(body(&done.response)["invalidate"], json!([{"context": "user", "params": {"user_id": "9"}}]));
    assert_eq!(done.response.header("X-Mizan-Invalidate"), Some("user;user_id=9"));
}

#[test]
fn failures_invalidate_nothing_and_never_leak() {
    let e = cached();
    let c = as_call(e.plan(&call(json!({"fn": "update_item", "args": {"id": 1, "name": "x"}})), None, NOW));
    let cases = [
        (Outcome::Exception("KeyError: 'password' at /srv/app.py:12".into()), 500, "INTERNAL_ERROR", "Internal server error"),
        (Outcome::Error(ProtocolError::new(ProtocolCode::InternalError, "secret detail")), 500, "INTERNAL_ERROR", "Internal server error"),
        (Outcome::Error(ProtocolError::new(ProtocolCode::NotFound, "Item not found")), 404, "NOT_FOUND", "Item not found"),
        (Outcome::Error(ProtocolError::new(ProtocolCode::NotImplemented, "")), 501, "NOT_IMPLEMENTED", "Not implemented"),
        (Outcome::Error(ProtocolError::new(ProtocolCode::Forbidden, "Not yours")), 403, "FORBIDDEN", "Not yours"),
        (Outcome::Ok("{not json".into()), 500, "INTERNAL_ERROR", "Internal server error"),
    ];
    for (outcome, status, code, message) in cases {
        let done = e.finish_call(&c, outcome);
        assert_error(&done.response, status, code, Some(message));
        assert!(done.purge.is_none());
        assert!(done.cache_put.is_none());
        assert_eq!(done.response.header("X-Mizan-Invalidate"), None);
        assert!(!done.response.body.contains("invalidate"));
        assert!(!done.response.body.contains("password") && !done.response.body.contains("secret"));
    }
    let done = e.finish_call(&c, Outcome::Exception("KeyError: 'password'".into()));
    assert!(done.diagnostics[0].contains("password"));
    // A deliberate error keeps its details.
    let err = ProtocolError::new(ProtocolCode::ValidationError, "Bad name").with_details(json!({"fields": {"name": ["Too short"]}}));
    let done = e.finish_call(&c, Outcome::Error(err));
    assert_eq!(
        done.response.body,
        r#"{"error":{"code":"VALIDATION_ERROR","message":"Bad name","details":{"fields":{"name":["Too short"]}}}}"#
    );
    // Host-rendered errors go through the same envelope; internal messages are replaced.
    let r = e.error_response(&ProtocolError::new(ProtocolCode::InternalError, "stack trace"));
    assert_eq!(r.body, r#"{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}"#);
    let r = e.error_response(&ProtocolError::new(ProtocolCode::Unauthorized, "Session revoked"));
    assert_error(&r, 401, "UNAUTHORIZED", Some("Session revoked"));
}

#[test]
fn unresolvable_merges_are_diagnostics() {
    let registry = r#"{"functions":{
        "a":{"context":"c","output":"Item"},"b":{"context":"c","output":"Item"},
        "set":{"output":"Item","merge":["c"],"affects":["c"]}},
        "types":{"Item":{"id":"integer"}}}"#;
    let e = ServerEngine::from_json(registry, EngineConfig::default()).unwrap();
    let c = as_call(e.plan(&call(json!({"fn": "set"})), None, NOW));
    let done = e.finish_call(&c, Outcome::Ok(r#"{"id":1}"#.into()));
    assert_eq!(done.response.body, r#"{"result":{"id":1},"invalidate":["c"]}"#);
    assert_eq!(done.diagnostics.len(), 1);
    assert!(done.diagnostics[0].contains("2 members"), "{:?}", done.diagnostics);
    // No cache configured: no purge plan.
    assert!(done.purge.is_none());
}

// ---------------------------------------------------------------------------------------------
// The origin store and purges.

#[test]
fn purge_runs_only_after_success_and_finds_every_user_and_rev() {
    let e = cached();
    let mut store = OriginStore::default();
    let mut keys = Vec::new();
    // user contexts cached for several users, params and an old rev.
    for (who, q) in [("5", "user_id=5"), ("6", "user_id=5&page=2"), ("7", "user_id=6")] {
        let f = as_fetch(e.plan(&ctx("user", q), Some(&user(who)), NOW));
        let c = f.cache.unwrap();
        assert!(store.put(&c.key, "{}", &c.index_keys, c.ttl_seconds, NOW));
        keys.push(c.key);
    }
    // An entry without the param (it may hold user 5's data), and the same params under
    // another rev (an older deploy).
    let keyer = Keyer::new(CACHE).unwrap();
    let bare = keyer.index_entry(&KeyInput { context: "user".into(), params: Map::new(), user: Some("8".into()), rev: 0 });
    store.put(&bare.key, "{}", &bare.index_keys, 60, NOW);
    keys.push(bare.key);
    let old = keyer.index_entry(&KeyInput { context: "user".into(), params: obj(json!({"user_id": "5"})), user: Some("5".into()), rev: 7 });
    store.put(&old.key, "{}", &old.index_keys, 60, NOW);
    let items = as_fetch(e.plan(&ctx("items", ""), None, NOW)).cache.unwrap();
    store.put(&items.key, "{}", &items.index_keys, 60, NOW);
    assert_eq!(store.len(), 6);

    let c = as_call(e.plan(&call(json!({"fn": "update_profile", "args": {"user_id": 5, "name": "n"}})), Some(&user("1")), NOW));
    // Failure: nothing to purge.
    assert!(e.finish_call(&c, Outcome::Exception("boom".into())).purge.is_none());
    let done = e.finish_call(&c, Outcome::Ok(r#"{"name":"n"}"#.into()));
    let purged = store.purge(done.purge.as_ref().unwrap());
    let mut expect = vec![keys[0].clone(), keys[1].clone(), keys[3].clone(), old.key.clone()];
    expect.sort();
    assert_eq!(purged, expect);
    assert!(store.contains(&keys[2]) && store.contains(&items.key));
    assert_eq!(store.len(), 2);
}

#[test]
fn origin_store_drops_emptied_index_sets() {
    let e = cached();
    let mut store = OriginStore::new(100, 0);
    for who in ["1", "2", "3"] {
        for page in ["1", "2"] {
            let c = as_fetch(e.plan(&ctx("items", &format!("page={page}")), Some(&user(who)), NOW)).cache.unwrap();
            store.put(&c.key, "[]", &c.index_keys, c.ttl_seconds, NOW);
        }
    }
    let before = store.stats();
    assert_eq!(before.entries, 6);
    // context + name(page) + value(page=1) + value(page=2) + 3 users.
    assert_eq!(before.index_sets, 7);
    // A scoped purge of page=1 removes every user's page-1 entry and that value's set.
    let plan = e.purge_plan(&[InvalidateEntry::scoped("items", obj(json!({"page": 1})))]).unwrap();
    assert_eq!(store.purge(&plan).len(), 3);
    assert_eq!(store.stats().index_sets, 6);
    // purge_user: user 2's last entry goes and so does user 2's set.
    assert_eq!(store.purge(&e.purge_user_plan("2").unwrap()).len(), 1);
    assert_eq!(store.stats().index_sets, 5);
    // Broad: everything, every set.
    let plan = e.purge_plan(&[InvalidateEntry::Broad("items".into())]).unwrap();
    assert_eq!(store.purge(&plan).len(), 2);
    assert_eq!(store.stats(), mizan_kernel::server::origin::OriginStats { entries: 0, index_sets: 0, bytes: 0, evictions: 0 });
    // Purging again finds nothing.
    assert!(store.purge(&plan).is_empty());
    assert!(engine().purge_user_plan("1").is_err());
}

#[test]
fn origin_store_expiry_replacement_and_bounds() {
    let mut store = OriginStore::new(3, 0);
    let idx = |s: &str| vec![s.to_string()];
    store.put("a", "1", &idx("i"), 1, 0);
    assert_eq!(store.get("a", 999).as_deref(), Some("1"));
    assert_eq!(store.get("a", 1000), None);
    assert!(store.is_empty());
    assert_eq!(store.stats().index_sets, 0);
    // Replacing an entry moves it to its new sets.
    store.put("b", "1", &idx("i"), 10, 0);
    store.put("b", "2", &idx("j"), 10, 0);
    assert_eq!(store.index_members("i"), Vec::<String>::new());
    assert_eq!(store.index_members("j"), vec!["b".to_string()]);
    assert_eq!(store.get("b", 0).as_deref(), Some("2"));
    // The entry bound evicts the least recently used.
    store.put("c", "3", &idx("j"), 10, 0);
    store.put("d", "4", &idx("j"), 10, 0);
    store.get("b", 1);
    store.put("e", "5", &idx("j"), 10, 1);
    assert!(!store.contains("c") && store.contains("b"));
    assert_eq!(store.len(), 3);
    assert_eq!(store.stats().evictions, 1);
    // sweep removes expired entries and their memberships.
    assert_eq!(store.sweep(20_000), 3);
    assert_eq!(store.stats().index_sets, 0);
    // The byte bound.
    let mut small = OriginStore::new(100, 40);
    small.put("k1", &"x".repeat(20), &idx("s"), 10, 0);
    small.put("k2", &"x".repeat(20), &idx("s"), 10, 0);
    assert!(!small.contains("k1") && small.contains("k2"));
    assert!(small.stats().bytes <= 40);
    small.clear();
    assert!(small.is_empty());
}

#[test]
fn redis_scripts_and_plan_json() {
    let e = cached();
    let plan = e.purge_plan(&[InvalidateEntry::scoped("user", obj(json!({"user_id": 5})))]).unwrap();
    let text = plan_json(&plan);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["scopes"][0]["terms"][0]["has_param"], json!(plan.scopes[0].terms[0].has_param));
    assert_eq!(plan_from_json(&v).unwrap(), plan);
    assert!(plan_from_json(&json!({"scopes": [{"terms": []}]})).is_err());
    // The scripts use only what Redis scripting provides, and the documented arguments.
    for s in [REDIS_PUT_SCRIPT, REDIS_PURGE_SCRIPT] {
        assert!(s.starts_with("-- mizan origin cache"));
        assert!(!s.contains("KEYS["), "scripts take every key through ARGV");
    }
    assert!(REDIS_PURGE_SCRIPT.contains("UNLINK") && REDIS_PURGE_SCRIPT.contains("SISMEMBER") && REDIS_PURGE_SCRIPT.contains("cjson.decode(ARGV[1])"));
    assert!(REDIS_PUT_SCRIPT.contains("'EX', ttl") && REDIS_PUT_SCRIPT.contains("EXPIRE"));
}

// ---------------------------------------------------------------------------------------------
// Tokens.

fn sign(secret: &str, header: &Value, payload: &Value) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(payload.to_string()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fn mwt_header() -> Value {
    json!({"alg": "HS256", "typ": "mwt+jwt"})
}

fn mwt_payload(exp: u64) -> Value {
    json!({"sub": "7", "staff": true, "super": false, "perm": "h", "iat": NOW / 1000, "exp": exp})
}

#[test]
fn mwt_mint_and_verify() {
    let e = cached();
    let who = Identity { staff: true, perm: Some("perm-hash".into()), ..Identity::user("7") };
    let t = e.mint_mwt(&who, NOW).unwrap();
    let c = e.verify_mwt(&t, NOW).unwrap();
    assert_eq!(
        c,
        Claims {
            kind: TokenKind::Mwt,
            subject: "7".into(),
            staff: true,
            superuser: false,
            perm: Some("perm-hash".into()),
            session_id: None,
            issued_at: NOW / 1000,
            expires_at: NOW / 1000 + 300,
        }
    );
    // Expired exactly at exp; no leeway unless configured.
    assert!(e.verify_mwt(&t, NOW + 299_999).is_ok());
    let err = e.verify_mwt(&t, NOW + 300_000).unwrap_err();
    assert_eq!(err.details, Some(json!({"reason": "expired"})));
    let lenient = engine_with(EngineConfig { token_leeway_seconds: 30, ..full_config() });
    assert!(lenient.verify_mwt(&t, NOW + 329_999).is_ok());
    assert!(lenient.verify_mwt(&t, NOW + 330_000).is_err());
    // Deterministic: same input, same token.
    assert_eq!(t, e.mint_mwt(&who, NOW).unwrap());
}

#[test]
fn tokens_refused_for_every_defect() {
    let exp = NOW / 1000 + 60;
    let good = sign(MWT, &mwt_header(), &mwt_payload(exp));
    assert!(token::verify(MWT, &good, TokenKind::Mwt, NOW, 0).is_ok());
    let reason = |t: &str| token::verify(MWT, t, TokenKind::Mwt, NOW, 0).unwrap_err();
    // Tampered payload (staff flipped), tampered signature.
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = URL_SAFE_NO_PAD.encode(json!({"sub": "7", "staff": true, "super": true, "perm": "h", "iat": 0, "exp": exp}).to_string());
    assert_eq!(reason(&format!("{}.{}.{}", parts[0], forged_payload, parts[2])), TokenError::Signature);
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[0] ^= 1;
    assert_eq!(reason(&format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig))), TokenError::Signature);
    // Truncated signature.
    assert_eq!(reason(&format!("{}.{}.{}", parts[0], parts[1], &parts[2][..8])), TokenError::Signature);
    // alg none (with and without a signature) and other algorithms.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "mwt+jwt"}).to_string()),
        URL_SAFE_NO_PAD.encode(mwt_payload(exp).to_string())
    );
    assert_eq!(reason(&none), TokenError::Algorithm);
    for alg in ["none", "None", "HS512", "HS384", "RS256", "hs256", "ES256"] {
        let t = sign(MWT, &json!({"alg": alg, "typ": "mwt+jwt"}), &mwt_payload(exp));
        assert_eq!(reason(&t), TokenError::Algorithm, "{alg}");
    }
    assert_eq!(reason(&sign(MWT, &json!({"typ": "mwt+jwt"}), &mwt_payload(exp))), TokenError::Malformed);
    // Missing exp; exp of the wrong type; expired; not yet valid.
    let mut p = mwt_payload(exp);
    p.as_object_mut().unwrap().remove("exp");
    assert_eq!(reason(&sign(MWT, &mwt_header(), &p)), TokenError::MissingExp);
    p["exp"] = json!("soon");
    assert_eq!(reason(&sign(MWT, &mwt_header(), &p)), TokenError::Claims);
    assert_eq!(reason(&sign(MWT, &mwt_header(), &mwt_payload(NOW / 1000))), TokenError::Expired);
    let mut p = mwt_payload(exp);
    p["nbf"] = json!(NOW / 1000 + 10);
    assert_eq!(reason(&sign(MWT, &mwt_header(), &p)), TokenError::NotYetValid);
    // Claims of the wrong type or missing.
    for (k, v) in [("sub", json!(7)), ("sub", json!("")), ("staff", json!("yes")), ("perm", json!(1))] {
        let mut p = mwt_payload(exp);
        p[k] = v;
        assert_eq!(reason(&sign(MWT, &mwt_header(), &p)), TokenError::Claims, "{k}");
    }
    // Wrong secret.
    assert_eq!(reason(&sign(JWT, &mwt_header(), &mwt_payload(exp))), TokenError::Signature);
    // Wrong kind, even under the same secret: an access JWT is not an MWT and vice versa.
    let access = sign(MWT, &json!({"alg": "HS256", "typ": "JWT"}), &json!({"sub": "7", "sid": "s", "type": "access", "exp": exp}));
    assert_eq!(reason(&access), TokenError::WrongKind);
    assert_eq!(token::verify(MWT, &good, TokenKind::Access, NOW, 0), Err(TokenError::WrongKind));
    let mut p = mwt_payload(exp);
    p["type"] = json!("access");
    assert_eq!(reason(&sign(MWT, &mwt_header(), &p)), TokenError::WrongKind);
    assert_eq!(reason(&sign(MWT, &json!({"alg": "HS256"}), &mwt_payload(exp))), TokenError::WrongKind);
    // Malformed shapes.
    for t in ["", "a", "a.b", "a.b.c.d", "!!!.e30.", &format!("{}=.{}.{}", parts[0], parts[1], parts[2]), &"a".repeat(9000)] {
        assert_eq!(reason(t), TokenError::Malformed, "{t:.40}");
    }
    let crit = sign(MWT, &json!({"alg": "HS256", "typ": "mwt+jwt", "crit": ["exp"]}), &mwt_payload(exp));
    assert_eq!(reason(&crit), TokenError::Malformed);
    let not_object = sign(MWT, &mwt_header(), &json!([1]));
    assert_eq!(reason(&not_object), TokenError::Malformed);
    // An empty secret accepts nothing.
    assert!(token::verify("", &good, TokenKind::Mwt, NOW, 0).is_err());
}

#[test]
fn jwt_pairs() {
    let e = cached();
    let who = Identity { superuser: true, ..Identity::user("u1") };
    let pair = e.mint_jwt_pair(&who, "sess-1", NOW).unwrap();
    assert_eq!(pair.access_expires_at, NOW / 1000 + 300);
    assert_eq!(pair.refresh_expires_at, NOW / 1000 + 7 * 24 * 3600);
    let a = e.verify_jwt(&pair.access, TokenKind::Access, NOW).unwrap();
    assert_eq!((a.subject.as_str(), a.session_id.as_deref(), a.superuser, a.staff), ("u1", Some("sess-1"), true, false));
    let r = e.verify_jwt(&pair.refresh, TokenKind::Refresh, NOW + 3_600_000).unwrap();
    assert_eq!(r.kind, TokenKind::Refresh);
    // The kinds do not cross.
    assert!(e.verify_jwt(&pair.access, TokenKind::Refresh, NOW).is_err());
    assert!(e.verify_jwt(&pair.refresh, TokenKind::Access, NOW).is_err());
    assert!(e.verify_mwt(&pair.access, NOW).is_err());
    assert!(e.verify_jwt(&e.mint_mwt(&who, NOW).unwrap(), TokenKind::Access, NOW).is_err());
    assert!(e.verify_jwt(&pair.access, TokenKind::Mwt, NOW).is_err());
    // Expiry.
    assert!(e.verify_jwt(&pair.access, TokenKind::Access, NOW + 300_000).is_err());
    // The payload's claims, in order.
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(pair.access.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(
        payload,
        format!(r#"{{"sub":"u1","sid":"sess-1","staff":false,"super":true,"type":"access","iat":{},"exp":{}}}"#, NOW / 1000, NOW / 1000 + 300)
    );
    // Missing pieces.
    assert!(e.mint_jwt_pair(&who, "", NOW).is_err());
    assert!(e.mint_mwt(&Identity::user(""), NOW).is_err());
    assert!(engine().mint_mwt(&who, NOW).is_err());
    assert!(engine().verify_jwt(&pair.access, TokenKind::Access, NOW).is_err());
    let no_sid = sign(JWT, &json!({"alg": "HS256", "typ": "JWT"}), &json!({"sub": "u1", "type": "access", "exp": NOW / 1000 + 60}));
    assert_eq!(e.verify_jwt(&no_sid, TokenKind::Access, NOW).unwrap_err().details, Some(json!({"reason": "claims"})));
}

#[test]
fn secrets_must_differ_and_be_non_empty() {
    for (c, m, j) in [(Some(CACHE), Some(CACHE), None), (None, Some(MWT), Some(MWT)), (Some(JWT), None, Some(JWT))] {
        let config = EngineConfig {
            cache_secret: c.map(str::to_string),
            mwt_secret: m.map(str::to_string),
            jwt_secret: j.map(str::to_string),
            ..EngineConfig::default()
        };
        let err = ServerEngine::from_json(REGISTRY, config).err().unwrap();
        assert!(err.message.contains("must differ"), "{err}");
    }
    for field in 0..3 {
        let mut config = EngineConfig::default();
        let empty = Some(String::new());
        match field {
            0 => config.cache_secret = empty,
            1 => config.mwt_secret = empty,
            _ => config.jwt_secret = empty,
        }
        assert!(ServerEngine::from_json(REGISTRY, config).is_err());
    }
    let e = engine_with(EngineConfig { mwt_secret: Some("short".into()), ..EngineConfig::default() });
    assert_eq!(e.warnings().len(), 1);
    assert!(!format!("{:?}", e.config()).contains("short"));
}

/// `http::REQUEST_HEADERS` (WIT `request-headers`) is the whole of what the engine reads of a
/// request's headers: a host that passes these alone gets every plan it would get passing all.
#[test]
fn the_request_headers_list_is_all_the_engine_reads() {
    let e = cached();
    let host = staff("host-user");
    let mwt = e.mint_mwt(&Identity::user("token-user"), NOW).unwrap();
    let pair = e.mint_jwt_pair(&staff("jwt-user"), "s1", NOW).unwrap();
    let req = call(json!({"fn": "update_profile", "args": {"user_id": 1, "name": "n"}}));
    let all = [
        ("X-Mizan-Token", mwt.as_str()),
        ("Authorization", &format!("Bearer {}", pair.access)),
        ("Cookie", "sessionid=x"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("Content-Type", "application/json"),
    ];
    for set in 0..(1u32 << all.len()) {
        let chosen: Vec<_> = all.iter().enumerate().filter(|(i, _)| set & (1 << i) != 0).map(|(_, h)| *h).collect();
        let (mut every, mut listed) = (req.clone(), req.clone());
        for &(name, value) in &chosen {
            every = every.with_header(name, value);
            if http::REQUEST_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                listed = listed.with_header(name, value);
            }
        }
        assert_eq!(format!("{:?}", e.plan(&every, Some(&host), NOW)), format!("{:?}", e.plan(&listed, Some(&host), NOW)), "{chosen:?}");
    }
}

#[test]
fn token_headers_set_the_identity_or_refuse_with_no_fallback() {
    let e = cached();
    let host = staff("host-user");
    let who = Identity { perm: Some("p".into()), ..Identity::user("token-user") };
    let mwt = e.mint_mwt(&who, NOW).unwrap();
    let req = call(json!({"fn": "update_profile", "args": {"user_id": 1, "name": "n"}}));
    // A valid MWT replaces the host's identity.
    let c = as_call(e.plan(&req.clone().with_header("x-mizan-token", &mwt), Some(&host), NOW));
    assert_eq!(c.identity, Some(who.clone()));
    // Expired, tampered, `none`: 401 even though the host has a session.
    let expired = e.plan(&req.clone().with_header("X-Mizan-Token", &mwt), Some(&host), NOW + 300_000);
    let r = error_of(expired, 401, "UNAUTHORIZED", "Invalid token");
    assert_eq!(body(&r)["error"]["details"], json!({"reason": "expired"}));
    let tampered = format!("{}x", mwt);
    error_of(e.plan(&req.clone().with_header("X-Mizan-Token", &tampered), Some(&host), NOW), 401, "UNAUTHORIZED", "Invalid token");
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"mwt+jwt"}"#), mwt.split('.').nth(1).unwrap());
    let r = error_of(e.plan(&req.clone().with_header("X-Mizan-Token", &none), Some(&host), NOW), 401, "UNAUTHORIZED", "Invalid token");
    assert_eq!(body(&r)["error"]["details"], json!({"reason": "algorithm"}));
    // A JWT access token in the MWT header is refused; in Authorization it is accepted.
    let pair = e.mint_jwt_pair(&staff("jwt-user"), "s1", NOW).unwrap();
    error_of(e.plan(&req.clone().with_header("X-Mizan-Token", &pair.access), None, NOW), 401, "UNAUTHORIZED", "Invalid token");
    let c = as_call(e.plan(&req.clone().with_header("Authorization", format!("Bearer {}", pair.access)), None, NOW));
    assert_eq!(c.identity.as_ref().map(|i| (i.subject.as_str(), i.staff, i.session_id.as_deref())), Some(("jwt-user", true, Some("s1"))));
    // A refresh token is not an access token.
    let r = error_of(e.plan(&req.clone().with_header("Authorization", format!("bearer {}", pair.refresh)), None, NOW), 401, "UNAUTHORIZED", "Invalid token");
    assert_eq!(body(&r)["error"]["details"], json!({"reason": "wrong-kind"}));
    // Other schemes are not ours; an empty token header is no token.
    let c = as_call(e.plan(&req.clone().with_header("Authorization", "Basic dTpw").with_header("X-Mizan-Token", " "), Some(&host), NOW));
    assert_eq!(c.identity, Some(host.clone()));
    // Not configured: the headers are not read.
    let c = as_call(engine().plan(&req.clone().with_header("X-Mizan-Token", "junk").with_header("Authorization", "Bearer junk"), Some(&host), NOW));
    assert_eq!(c.identity, Some(host.clone()));
    // The token's identity keys the cache: its subject and its permission set.
    let f = as_fetch(e.plan(&ctx("items", "").with_header("X-Mizan-Token", &mwt), Some(&host), NOW));
    let input = KeyInput { context: "items".into(), params: Map::new(), user: Some("token-user".into()), rev: 2 };
    let privilege = mizan_kernel::keys::Privilege { perm: Some("p".into()), ..Default::default() };
    assert_eq!(f.cache.unwrap().key, Keyer::new(CACHE).unwrap().derive_for(&input, &privilege));
    // The session endpoint does not look at tokens.
    assert_eq!(responded(e.plan(&Request::get("/api/mizan/session/").with_header("X-Mizan-Token", "junk"), None, NOW)).status, 200);
}

// ---------------------------------------------------------------------------------------------
// JSON forms, and never a panic.

#[test]
fn json_forms() {
    let e = cached();
    let plan = e.plan(&ctx("items", "page=1"), Some(&user("1")), NOW);
    let v = json_form::plan(&plan);
    assert_eq!(v["fetch"]["context"], "items");
    assert_eq!(v["fetch"]["members"][0], json!({"function": "item_count", "args": {}}));
    assert_eq!(v["fetch"]["identity"]["subject"], "1");
    let cache = json_form::cache_plan_from(&v["fetch"]["cache"]).unwrap();
    assert_eq!(cache, as_fetch(plan).cache);
    assert_eq!(json_form::identity_from(&json!({"subject": "1"})).unwrap(), Some(user("1")));
    assert_eq!(json_form::identity_from(&Value::Null).unwrap(), None);
    assert!(json_form::identity_from(&json!(5)).is_err());
    assert_eq!(json_form::outcome_from(&json!({"ok": {"a": 1}})).unwrap(), Outcome::Ok(r#"{"a":1}"#.into()));
    assert!(matches!(json_form::outcome_from(&json!({"error": {"code": "NOT_FOUND", "message": "x"}})).unwrap(), Outcome::Error(e) if e.code == ProtocolCode::NotFound));
    assert!(json_form::outcome_from(&json!({"error": {"code": "TEAPOT"}})).is_err());
    let r = json_form::plan(&e.plan(&Request::get("/api/mizan/session/"), None, NOW));
    assert_eq!(r["respond"]["headers"][1], json!(["Cache-Control", "no-store"]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn planning_never_panics(
        method in prop::sample::select(vec!["GET", "POST", "HEAD", "PUT", "get"]),
        path in prop::sample::select(vec!["/api/mizan/call/", "/api/mizan/ctx/items/", "/api/mizan/ctx/typed_ctx", "/api/mizan/session/", "/api/mizan/ctx/%"]),
        tail in "[a-z%/?&=]{0,8}",
        query in "[a-z0-9%&=+\\[\\]{}\",]{0,40}",
        body in prop::collection::vec(any::<u8>(), 0..200),
        token in "[A-Za-z0-9._-]{0,60}",
    ) {
        let e = cached();
        let req = Request { method: method.into(), path: format!("{path}{tail}"), query, headers: vec![
            ("X-Mizan-Token".into(), token.clone()), ("Authorization".into(), format!("Bearer {token}"))], body, csrf_token: None };
        let _ = e.plan(&req, Some(&user("1")), NOW);
        let _ = e.plan_with(&req, None, NOW, &[("is_owner".into(), true), ("can_audit".into(), false)]);
    }

    #[test]
    fn call_bodies_never_panic(args in "\\{(\"[a-z]{1,5}\":(-?[0-9]{1,25}(\\.[0-9]{1,3})?|\"[a-z0-9]{0,6}\"|true|null|\\[\\]|\\{\\}),?){0,6}\\}") {
        let e = cached();
        for f in ["typed", "update_item", "super_op"] {
            let b = format!(r#"{{"fn":"{f}","args":{}}}"#, args.trim_end_matches(",}").replace(",}", "}"));
            if let Plan::Call(c) = e.plan(&Request::post("/api/mizan/call/", b), Some(&user("1")), NOW) {
                let _ = e.finish_call(&c, Outcome::Ok(args.clone()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The Redis scripts against a live server: `MIZAN_TEST_REDIS=127.0.0.1:6379 cargo test -p
// mizan-kernel --test server redis_live` (skipped without the variable; it FLUSHALLs the server).
// The same entries go into an `OriginStore` and into Redis through the put script; after every
// purge both hold the same entries, the same index sets and the same members.

mod resp {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    #[derive(Debug, Clone, PartialEq)]
    pub enum Reply {
        Status(String),
        Error(String),
        Int(i64),
        Bulk(Option<String>),
        Array(Vec<Reply>),
    }

    pub struct Conn {
        w: TcpStream,
        r: BufReader<TcpStream>,
    }

    impl Conn {
        pub fn connect(addr: &str) -> Conn {
            let s = TcpStream::connect(addr).expect("connect to MIZAN_TEST_REDIS");
            Conn { w: s.try_clone().unwrap(), r: BufReader::new(s) }
        }

        pub fn cmd<S: AsRef<str>>(&mut self, args: &[S]) -> Reply {
            let mut out = format!("*{}\r\n", args.len());
            for a in args {
                out.push_str(&format!("${}\r\n{}\r\n", a.as_ref().len(), a.as_ref()));
            }
            self.w.write_all(out.as_bytes()).unwrap();
            self.read()
        }

        fn read(&mut self) -> Reply {
            let mut line = String::new();
            self.r.read_line(&mut line).unwrap();
            let line = line.trim_end();
            let (kind, rest) = line.split_at(1);
            match kind {
                "+" => Reply::Status(rest.into()),
                "-" => Reply::Error(rest.into()),
                ":" => Reply::Int(rest.parse().unwrap()),
                "$" => {
                    let n: i64 = rest.parse().unwrap();
                    if n < 0 {
                        return Reply::Bulk(None);
                    }
                    let mut buf = vec![0; n as usize + 2];
                    self.r.read_exact(&mut buf).unwrap();
                    buf.truncate(n as usize);
                    Reply::Bulk(Some(String::from_utf8(buf).unwrap()))
                }
                "*" => {
                    let n: i64 = rest.parse().unwrap();
                    Reply::Array((0..n).map(|_| self.read()).collect())
                }
                _ => panic!("unexpected reply {line}"),
            }
        }

        /// An array reply of strings, sorted.
        pub fn strings<S: AsRef<str>>(&mut self, args: &[S]) -> Vec<String> {
            match self.cmd(args) {
                Reply::Array(items) => {
                    let mut v: Vec<String> = items
                        .into_iter()
                        .map(|r| match r {
                            Reply::Bulk(Some(s)) => s,
                            other => panic!("{other:?}"),
                        })
                        .collect();
                    v.sort();
                    v
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

/// `EVAL put` with the script's arguments: no ticket check and no bound unless given.
fn redis_put(c: &mut resp::Conn, prefix: &str, key: &str, body: &str, ttl: u64, ticket: Option<u64>, bound: Option<(&str, u32)>, index_keys: &[String]) -> resp::Reply {
    let (set, max) = bound.map_or((String::new(), "0".to_string()), |(s, m)| (s.to_string(), m.to_string()));
    let mut args = vec!["EVAL".to_string(), REDIS_PUT_SCRIPT.into(), "0".into(), prefix.into(), key.into(), body.into(), ttl.to_string()];
    args.extend([ticket.map(|t| t.to_string()).unwrap_or_default(), set, max]);
    args.extend(index_keys.iter().cloned());
    c.cmd(&args)
}

/// Run a purge in steps of `limit` members, as a host does; the purged keys, sorted, and the steps.
fn redis_purge(c: &mut resp::Conn, prefix: &str, plan: &mizan_kernel::index::PurgePlan, limit: u32) -> (Vec<String>, usize) {
    let (mut cursor, mut purged, mut steps) = (String::new(), Vec::new(), 0);
    loop {
        steps += 1;
        let reply = c.cmd(&["EVAL", REDIS_PURGE_SCRIPT, "0", &plan_json(plan), prefix, &cursor, &limit.to_string()]);
        let resp::Reply::Array(parts) = reply else { panic!("{reply:?}") };
        let [resp::Reply::Bulk(Some(next)), resp::Reply::Array(keys)] = &parts[..] else { panic!("{parts:?}") };
        purged.extend(keys.iter().map(|k| match k {
            resp::Reply::Bulk(Some(s)) => s.clone(),
            other => panic!("{other:?}"),
        }));
        if next.is_empty() {
            break;
        }
        cursor = next.clone();
    }
    purged.sort();
    purged.dedup();
    (purged, steps)
}

/// Every key but the purge counter and the marks.
fn redis_data_keys(c: &mut resp::Conn, prefix: &str) -> Vec<String> {
    c.strings(&["KEYS", "*"]).into_iter().filter(|k| !k.starts_with(&format!("{prefix}mark:")) && *k != format!("{prefix}purges")).collect()
}

/// The live tests FLUSHALL the one server: one at a time.
static LIVE_REDIS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn redis_live_scripts_match_the_origin_store() {
    let Ok(addr) = std::env::var("MIZAN_TEST_REDIS") else { return };
    let _one_at_a_time = LIVE_REDIS.lock().unwrap_or_else(|e| e.into_inner());
    for prefix in ["", "{mizan}:"] {
        let mut c = resp::Conn::connect(&addr);
        assert_eq!(c.cmd(&["FLUSHALL"]), resp::Reply::Status("OK".into()));
        let keyer = Keyer::new(CACHE).unwrap();
        let mut mem = OriginStore::default();
        let mut entries = Vec::new();
        for context in ["user", "items"] {
            for who in [None, Some("1"), Some("2")] {
                for params in [json!({}), json!({"user_id": 5}), json!({"user_id": "5", "page": 2}), json!({"user_id": 6}), json!({"page": 2})] {
                    for rev in [0, 3] {
                        let e = keyer.index_entry(&KeyInput { context: context.into(), params: obj(params.clone()), user: who.map(str::to_string), rev });
                        let body = format!("body-{}", entries.len());
                        mem.put(&e.key, &body, &e.index_keys, 600, 0);
                        assert_eq!(redis_put(&mut c, prefix, &e.key, &body, 600, None, None, &e.index_keys), resp::Reply::Int(1));
                        entries.push(e);
                    }
                }
            }
        }
        let plans = [
            keyer.purge_plan(&[InvalidateEntry::scoped("user", obj(json!({"user_id": 5})))]),
            keyer.purge_user_plan(&["items".to_string(), "user".to_string()], "2").unwrap(),
            keyer.purge_plan(&[InvalidateEntry::scoped("items", obj(json!({"user_id": "6", "page": 2})))]),
            keyer.purge_plan(&[InvalidateEntry::Broad("items".into())]),
            keyer.purge_plan(&[InvalidateEntry::Broad("user".into())]),
        ];
        for (i, plan) in plans.iter().enumerate() {
            let expect = mem.purge(plan);
            assert!(!expect.is_empty());
            // In steps of 7 members (several steps per plan) and of the default size.
            let limit = if i % 2 == 0 { 7 } else { mizan_kernel::server::redis::DEFAULT_PURGE_BATCH };
            let (purged, steps) = redis_purge(&mut c, prefix, plan, limit);
            assert_eq!(purged, expect);
            assert!(limit > 7 || steps > 1 || expect.len() < 7, "a small limit takes several steps");
            let mut live: Vec<String> = entries.iter().filter(|e| mem.contains(&e.key)).map(|e| format!("{prefix}{}", e.key)).collect();
            live.sort();
            let stored: Vec<String> = c.strings(&["KEYS", &format!("{prefix}ctx:*")]).into_iter().filter(|k| !k.ends_with(":idx")).collect();
            assert_eq!(stored, live);
            assert_eq!(c.strings(&["KEYS", &format!("{prefix}ctx:*:idx")]).len(), live.len());
            let sets = c.strings(&["KEYS", &format!("{prefix}idx:*")]);
            assert_eq!(sets.len(), mem.stats().index_sets);
            for set in &sets {
                assert_eq!(c.strings(&["SMEMBERS", set.as_str()]), mem.index_members(&set[prefix.len()..]));
                assert!(matches!(c.cmd(&["TTL", set.as_str()]), resp::Reply::Int(t) if t > 0 && t <= 600));
            }
        }
        assert!(redis_data_keys(&mut c, prefix).is_empty(), "nothing left behind");
        // A replaced entry leaves its old index sets; a TTL of 0 stores nothing.
        let e = &entries[0];
        redis_put(&mut c, prefix, &e.key, "v1", 100, None, None, &e.index_keys);
        redis_put(&mut c, prefix, &e.key, "v2", 50, None, None, &["idx:other".to_string()]);
        assert_eq!(redis_data_keys(&mut c, prefix).len(), 3);
        assert_eq!(c.cmd(&["GET", &format!("{prefix}{}", e.key)]), resp::Reply::Bulk(Some("v2".into())));
        assert_eq!(redis_put(&mut c, prefix, "k", "b", 0, None, None, &["idx:x".to_string()]), resp::Reply::Int(0));
        assert_eq!(redis_purge(&mut c, prefix, &Default::default(), 10), (vec![], 1));
        c.cmd(&["FLUSHALL"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Big integers (issue 8, item 2): every integer is its digits, in keys, the header, the index,
// bodies; `integer` inputs are signed 64-bit on every backend.

#[test]
fn integers_past_2_pow_53_keep_their_digits_in_keys_index_and_header() {
    let e = cached();
    let key = |page: &str| as_fetch(e.plan(&ctx("items", &format!("page={page}")), None, NOW)).cache.unwrap();
    let (a, b) = (key("9007199255600047"), key("9007199255600048"));
    assert_ne!(a.key, b.key, "a double would make these one key");
    assert_ne!(a.index_keys, b.index_keys);
    assert_eq!(key("09007199255600048").key, b.key, "leading zeros are coerced away");
    assert_eq!(a.key, key_of("items", json!({"page": "9007199255600047"}), None, 2));
    // The call's body, header and purge plan carry the same digits.
    let c = as_call(e.plan(&call(json!({"fn": "update_profile", "args": {"user_id": 9007199254740993_i64, "name": "n"}})), Some(&user("1")), NOW));
    let done = e.finish_call(&c, Outcome::Ok(r#"{"name":"n","id":9007199254740993}"#.into()));
    assert_eq!(
        done.response.body,
        r#"{"result":{"id":9007199254740993,"name":"n"},"invalidate":[{"context":"user","params":{"user_id":9007199254740993}}]}"#
    );
    assert_eq!(done.response.header("X-Mizan-Invalidate"), Some("user;user_id=9007199254740993"));
    let keyer = Keyer::new(CACHE).unwrap();
    let exact = keyer.purge_plan(&[InvalidateEntry::scoped("user", obj(json!({"user_id": "9007199254740993"})))]);
    assert_eq!(done.purge, Some(exact));
}

#[test]
fn integer_inputs_are_signed_64_bit_everywhere() {
    let e = cached();
    for (value, message) in [
        ("9223372036854775808", "Input should be less than or equal to 9223372036854775807"),
        ("18446744073709551615", "Input should be less than or equal to 9223372036854775807"),
        ("100000000000000000000", "Input should be less than or equal to 9223372036854775807"),
        ("-9223372036854775809", "Input should be greater than or equal to -9223372036854775808"),
    ] {
        let r = error_of(e.plan(&ctx("user", &format!("user_id={value}")), Some(&user("1")), NOW), 422, "VALIDATION_ERROR", "Input validation failed");
        assert_eq!(body(&r)["error"]["details"], json!({"fields": {"user_id": [message]}}), "{value}");
        let text = format!(r#"{{"fn":"update_profile","args":{{"user_id":{value},"name":"n"}}}}"#);
        let r = error_of(e.plan(&Request::post("/api/mizan/call/", text), Some(&user("1")), NOW), 422, "VALIDATION_ERROR", "Input validation failed");
        assert_eq!(body(&r)["error"]["details"], json!({"fields": {"user_id": [message]}}), "{value}");
    }
    let c = as_call(e.plan(&Request::post("/api/mizan/call/", r#"{"fn":"update_profile","args":{"user_id":9223372036854775807,"name":"n"}}"#), Some(&user("1")), NOW));
    assert_eq!(c.args["user_id"].to_string(), "9223372036854775807");
}

#[test]
fn numbers_of_any_size_pass_through_and_numbers_past_a_double_are_refused() {
    let e = cached();
    // A `number` input keeps an integer's digits past 2^64.
    let text = r#"{"fn":"typed","args":{"count":1,"ratio":123456789012345678901234567890,"flag":true,"tags":[]}}"#;
    let c = as_call(e.plan(&Request::post("/api/mizan/call/", text), None, NOW));
    let mut args = String::new();
    mizan_kernel::canon::write_json_map(&mut args, &c.args);
    assert!(args.contains(r#""ratio":123456789012345678901234567890"#), "{args}");
    // A result keeps its digits; host spellings of the same float are one spelling.
    let done = e.finish_call(&c, Outcome::Ok("[18446744073709551616, 1E21, 2.50, -0]".into()));
    assert_eq!(done.response.body, r#"{"result":[18446744073709551616,1e+21,2.5,0],"invalidate":[]}"#);
    // Beyond a double: a request body is malformed, a result is a host failure.
    let r = responded(e.plan(&Request::post("/api/mizan/call/", r#"{"fn":"typed","args":{"ratio":1e400}}"#), None, NOW));
    assert_error(&r, 400, "BAD_REQUEST", Some("Invalid request body"));
    let done = e.finish_call(&c, Outcome::Ok("1e400".into()));
    assert_error(&done.response, 500, "INTERNAL_ERROR", Some("Internal server error"));
    assert!(done.diagnostics[0].contains("out of range"), "{:?}", done.diagnostics);
}

// ---------------------------------------------------------------------------------------------
// Authorization and the cache (issue 8, item 1): a hit never outlives the authorization that
// produced it. Subjects are canonical (item 5).

/// The registry of the issue's scenario: `user_orders` checks "caller is the user or staff"
/// itself, inside the function, which a hit would skip.
const ACCOUNTS: &str = r#"{"functions": {
  "user_orders": {"context": "user", "inputs": {"user_id": "integer"}, "output": "any", "auth": "required"},
  "report_summary": {"context": "reports", "output": "any", "auth": "predicate:can_read"},
  "forget": {"inputs": {"user_id": "integer"}, "output": "any", "auth": "superuser"},
  "rename_me": {"inputs": {"name": "string"}, "output": "any", "auth": "required", "affects": ["user"]}
}}"#;

fn accounts() -> ServerEngine {
    ServerEngine::from_json(ACCOUNTS, full_config()).unwrap()
}

#[test]
fn a_privileged_answer_is_never_served_to_a_plain_caller() {
    let e = accounts();
    let alice = user("1");
    let q = ctx("user", "user_id=2");
    // Plain alice: the function refuses (403 "Not your account") and nothing is stored.
    let plain = as_fetch(e.plan(&q, Some(&alice), NOW)).cache.unwrap();
    let refused = e.finish_fetch("user", Some(&plain), FetchOutcome::Results(vec![(
        "user_orders".into(),
        Outcome::Error(ProtocolError::new(ProtocolCode::Forbidden, "Not your account")),
    )]));
    assert_eq!(refused.response.status, 403);
    assert!(refused.cache_put.is_none());
    // The same subject with an MWT saying staff: the function allows it, 200 MISS, stored.
    let mwt = e.mint_mwt(&Identity { staff: true, ..alice.clone() }, NOW).unwrap();
    let as_staff = as_fetch(e.plan(&q.clone().with_header("X-Mizan-Token", &mwt), Some(&alice), NOW)).cache.unwrap();
    let served = e.finish_fetch("user", Some(&as_staff), FetchOutcome::Results(vec![("user_orders".into(), Outcome::Ok("[\"bob's orders\"]".into()))]));
    assert_eq!(served.response.header("X-Mizan-Cache"), Some("MISS"));
    assert_eq!(served.cache_put.as_ref().unwrap().key, as_staff.key);
    // Back on her plain session: another key, so the staff answer cannot be a hit for her.
    assert_ne!(as_staff.key, plain.key);
    assert_eq!(as_fetch(e.plan(&q, Some(&alice), NOW)).cache.unwrap().key, plain.key);
    // Every privilege input has its own key; the subject's index set is shared, so a purge of
    // the user (or of the param) finds the entries of every privilege.
    let variants = [
        Identity { superuser: true, ..alice.clone() },
        Identity { perm: Some("h1".into()), ..alice.clone() },
        Identity { perm: Some("h2".into()), ..alice.clone() },
        Identity { session_id: Some("s".into()), ..alice.clone() },
    ];
    let keys: Vec<CachePlan> = variants.iter().map(|i| as_fetch(e.plan(&q, Some(i), NOW)).cache.unwrap()).collect();
    assert_ne!(keys[0].key, plain.key);
    assert_ne!(keys[1].key, keys[2].key);
    assert_eq!(keys[3].key, plain.key, "a session id is not a privilege");
    for k in &keys {
        assert_eq!(k.index_keys, plain.index_keys);
    }
    // A plain user's key is §2's key exactly (the spec's vectors hold).
    assert_eq!(plain.key, key_of("user", json!({"user_id": 2}), Some("1"), 0));
}

#[test]
fn guards_and_predicates_run_before_every_lookup() {
    let e = accounts();
    // The predicate is asked on every request, before any cache plan exists: a hit for someone
    // the predicate now refuses cannot happen.
    let q = ctx("reports", "");
    assert!(matches!(e.plan(&q, Some(&user("1")), NOW), Plan::CheckPredicates(_)));
    error_of(e.plan_with(&q, Some(&user("1")), NOW, &[("can_read".into(), false)]), 403, "FORBIDDEN", "Permission denied");
    assert!(as_fetch(e.plan_with(&q, Some(&user("1")), NOW, &[("can_read".into(), true)])).cache.is_some());
    // A static guard likewise: anonymous is refused before the lookup.
    error_of(e.plan(&ctx("user", "user_id=1"), None, NOW), 401, "UNAUTHORIZED", "Authentication required");
}

#[test]
fn subjects_are_canonical_on_every_path() {
    let e = accounts();
    let q = ctx("user", "user_id=1");
    let key = |i: &Identity| as_fetch(e.plan(&q, Some(i), NOW)).cache.unwrap().key;
    assert_eq!(key(&user("01")), key(&user("1")));
    assert_eq!(key(&user("-01")), key(&user("-1")));
    assert_eq!(key(&user("000")), key(&user("0")));
    assert_ne!(key(&user("a01")), key(&user("a1")), "only integer subjects are rewritten");
    // The plan carries the canonical subject: the function sees `1`.
    let f = as_fetch(e.plan(&q, Some(&user("007")), NOW));
    assert_eq!(f.identity.unwrap().subject, "7");
    // A token's subject too.
    let mwt = e.mint_mwt(&user("0042"), NOW).unwrap();
    let f = as_fetch(e.plan(&q.clone().with_header("X-Mizan-Token", &mwt), None, NOW));
    assert_eq!(f.identity.unwrap().subject, "42");
    // Purge by user and identity-scoped invalidation use the same spelling.
    assert_eq!(e.purge_user_plan("01").unwrap(), e.purge_user_plan("1").unwrap());
    let c = as_call(e.plan(&call(json!({"fn": "rename_me", "args": {"name": "n"}})), Some(&user("05")), NOW));
    let done = e.finish_call(&c, Outcome::Ok("null".into()));
    assert_eq!(done.response.header("X-Mizan-Invalidate"), Some("user;user_id=5"));
    let host_spelled = CallPlan { identity: Some(user("0005")), ..c };
    assert_eq!(e.finish_call(&host_spelled, Outcome::Ok("null".into())).response.header("X-Mizan-Invalidate"), Some("user;user_id=5"));
    // The key API's JSON user as well.
    assert_eq!(mizan_kernel::keys::user_subject(&json!("09")).unwrap(), Some("9".into()));
}

#[test]
fn a_credential_given_twice_is_refused_as_ambiguous() {
    let e = cached();
    let host = user("1");
    let a = e.mint_mwt(&user("2"), NOW).unwrap();
    let b = e.mint_mwt(&user("3"), NOW).unwrap();
    let pair = e.mint_jwt_pair(&user("4"), "s", NOW).unwrap();
    let req = || ctx("user", "user_id=1");
    let ambiguous = |r: Request| {
        let r = error_of(e.plan(&r, Some(&host), NOW), 401, "UNAUTHORIZED", "Invalid token");
        assert_eq!(body(&r)["error"]["details"], json!({"reason": "ambiguous"}));
    };
    // Two lines (FastAPI, Axum) or one comma-joined line (WSGI, proxies): the same answer.
    ambiguous(req().with_header("X-Mizan-Token", &a).with_header("X-Mizan-Token", &b));
    ambiguous(req().with_header("X-Mizan-Token", format!("{a},{b}")));
    ambiguous(req().with_header("X-Mizan-Token", &a).with_header("x-mizan-token", ""));
    ambiguous(req().with_header("X-Mizan-Token", format!("{a},")));
    ambiguous(req().with_header("Authorization", format!("Bearer {}", pair.access)).with_header("Authorization", format!("Bearer {}", pair.access)));
    ambiguous(req().with_header("Authorization", format!("Bearer {}, Bearer {}", pair.access, pair.access)));
    ambiguous(req().with_header("Authorization", "Basic dTpw").with_header("Authorization", format!("Bearer {}", pair.access)));
    ambiguous(req().with_header("Authorization", format!("Basic dTpw,Bearer {}", pair.access)));
    // One of each is not ambiguous: the MWT comes first, as always.
    let f = as_fetch(e.plan(&req().with_header("X-Mizan-Token", &a).with_header("Authorization", format!("Bearer {}", pair.access)), Some(&host), NOW));
    assert_eq!(f.identity.unwrap().subject, "2");
    // Another scheme alone (with its own commas) is not ours.
    let f = as_fetch(e.plan(&req().with_header("Authorization", r#"Digest username="u", realm="r""#), Some(&host), NOW));
    assert_eq!(f.identity, Some(host.clone()));
    // Unconfigured headers are not read, so they are never ambiguous.
    let f = as_fetch(engine().plan(&req().with_header("X-Mizan-Token", "x").with_header("X-Mizan-Token", "y"), Some(&host), NOW));
    assert_eq!(f.identity, Some(host.clone()));
}

#[test]
fn reads_token_says_when_the_session_is_not_used() {
    let e = cached();
    let t = e.mint_mwt(&user("2"), NOW).unwrap();
    let r = || call(json!({"fn": "noop"}));
    assert!(!e.reads_token(&r()));
    assert!(!e.reads_token(&r().with_header("X-Mizan-Token", "  ")), "an empty token header is no token");
    assert!(!e.reads_token(&r().with_header("Authorization", "Basic dTpw")), "another scheme is not a token");
    assert!(e.reads_token(&r().with_header("X-Mizan-Token", &t)));
    assert!(e.reads_token(&r().with_header("X-Mizan-Token", "junk")), "a bad token is refused, never the session");
    assert!(e.reads_token(&r().with_header("Authorization", "Bearer junk")));
    assert!(e.reads_token(&r().with_header("X-Mizan-Token", "a").with_header("X-Mizan-Token", "b")));
    assert!(!engine().reads_token(&r().with_header("X-Mizan-Token", &t)), "no MWT secret: not read");
}

// ---------------------------------------------------------------------------------------------
// A fetch that read before a purge never stores its answer after it (issue 8, item 4), and the
// public entries of a context are bounded (item 7): the in-memory store and the Redis scripts
// alike.

#[test]
fn a_put_that_read_before_a_purge_is_refused() {
    let e = cached();
    let mut store = OriginStore::default();
    let plan = as_fetch(e.plan(&ctx("user", "user_id=5"), Some(&user("5")), NOW)).cache.unwrap();
    let put = |body: &str| CachePut { key: plan.key.clone(), body: body.into(), index_keys: plan.index_keys.clone(), ttl_seconds: 60, bound: None };
    // The fetch reads (miss, ticket), runs its functions; meanwhile a mutation purges.
    let read = store.lookup(&plan.key, 0);
    assert_eq!(read.body, None);
    let purge = e.purge_plan(&[InvalidateEntry::scoped("user", obj(json!({"user_id": 5})))]).unwrap();
    store.purge(&purge);
    assert!(!store.put_entry(&put("old answer"), Some(read.ticket), 1), "the old answer must not outlive the purge");
    assert_eq!(store.get(&plan.key, 2), None);
    // A fetch that read after the purge stores.
    let read = store.lookup(&plan.key, 3);
    assert!(store.put_entry(&put("new answer"), Some(read.ticket), 3));
    assert_eq!(store.get(&plan.key, 4).as_deref(), Some("new answer"));
    // A purge of another context, or of another user, does not fence this entry.
    let read = store.lookup("other", 5);
    store.purge(&e.purge_plan(&[InvalidateEntry::Broad("items".into())]).unwrap());
    store.purge(&e.purge_user_plan("6").unwrap());
    assert!(store.put_entry(&put("still fine"), Some(read.ticket), 5));
    // Purging the user fences the user's entries; no ticket stores unconditionally.
    let read = store.lookup("other", 6);
    store.purge(&e.purge_user_plan("5").unwrap());
    assert!(!store.put_entry(&put("x"), Some(read.ticket), 6));
    assert!(store.put_entry(&put("warm-up"), None, 6));
    // clear() keeps the marks.
    let read = store.lookup("other", 7);
    store.purge(&e.purge_user_plan("5").unwrap());
    store.clear();
    assert!(!store.put_entry(&put("x"), Some(read.ticket), 7));
}

#[test]
fn forgotten_marks_refuse_old_tickets() {
    let mut store = OriginStore::default();
    let early = store.lookup("k", 0).ticket;
    let plan = |i: usize| mizan_kernel::index::PurgePlan { scopes: vec![mizan_kernel::index::PurgeScope { base: format!("idx:c{i}"), terms: vec![] }] };
    for i in 0..mizan_kernel::server::origin::MAX_MARKS + 1 {
        store.purge(&plan(i));
    }
    let put = CachePut { key: "k".into(), body: "b".into(), index_keys: vec!["idx:unrelated".into()], ttl_seconds: 60, bound: None };
    assert!(!store.put_entry(&put, Some(early), 0), "a ticket older than a forgotten mark is refused");
    let late = store.lookup("k", 0).ticket;
    assert!(store.put_entry(&put, Some(late), 0));
}

#[test]
fn purges_run_in_bounded_steps() {
    let e = cached();
    let mut store = OriginStore::default();
    for page in 0..25 {
        let c = as_fetch(e.plan(&ctx("items", &format!("page={page}")), Some(&user("1")), NOW)).cache.unwrap();
        store.put(&c.key, "b", &c.index_keys, 60, 0);
    }
    let other = as_fetch(e.plan(&ctx("user", "user_id=1"), Some(&user("1")), NOW)).cache.unwrap();
    store.put(&other.key, "b", &other.index_keys, 60, 0);
    let plan = e.purge_plan(&[InvalidateEntry::Broad("items".into())]).unwrap();
    let mut step = store.purge_step(&plan, None, 10);
    let (mut purged, mut steps) = (step.purged.len(), 1);
    while let Some(cursor) = step.cursor.clone() {
        assert!(step.purged.len() <= 10);
        step = store.purge_step(&plan, Some(&cursor), 10);
        purged += step.purged.len();
        steps += 1;
    }
    assert_eq!((purged, steps), (25, 3));
    assert_eq!(store.len(), 1);
    // A cursor that is not one restarts the plan (it matches nothing more here).
    assert_eq!(store.purge_step(&plan, Some("junk"), 10), PurgeStep { purged: vec![], cursor: None });
}

#[test]
fn public_entries_are_bounded_per_context() {
    let e = engine_with(EngineConfig { max_public_entries: 3, ..full_config() });
    let mut store = OriginStore::default();
    let public = |page: u32| as_fetch(e.plan(&ctx("items", &format!("page={page}")), None, NOW)).cache.unwrap();
    let put_of = |c: &CachePlan| CachePut { key: c.key.clone(), body: "b".into(), index_keys: c.index_keys.clone(), ttl_seconds: 60, bound: c.bound.clone() };
    let first = public(0);
    let bound = first.bound.clone().expect("an anonymous entry is bounded");
    assert_eq!(bound.max_entries, 3);
    assert_eq!(first.index_keys.last(), Some(&bound.set), "the public set is one of its index keys");
    for page in 0..3 {
        assert!(store.put_entry(&put_of(&public(page)), None, 0));
    }
    assert!(!store.put_entry(&put_of(&public(3)), None, 0), "the context's public entries are full");
    assert!(store.put_entry(&put_of(&public(1)), None, 0), "replacing one of them is fine");
    // Other contexts, user entries, and shared contexts of their own are counted apart.
    let mine = as_fetch(e.plan(&ctx("items", "page=9"), Some(&user("1")), NOW)).cache.unwrap();
    assert!(mine.bound.is_none());
    assert!(store.put_entry(&put_of(&mine), None, 0));
    let shared = as_fetch(e.plan(&ctx("catalog", "q=x"), Some(&user("1")), NOW)).cache.unwrap();
    assert!(shared.bound.is_some(), "a shared entry has no user: it is public");
    assert!(store.put_entry(&put_of(&shared), None, 0));
    // Expired entries leave room.
    assert!(store.put_entry(&put_of(&public(3)), None, 61_000));
    // Unbounded when configured so.
    let free = engine_with(EngineConfig { max_public_entries: 0, ..full_config() });
    assert!(as_fetch(free.plan(&ctx("items", "page=1"), None, NOW)).cache.unwrap().bound.is_none());
}

#[test]
fn pending_purges_merge_and_cover() {
    let e = cached();
    let a = e.purge_plan(&[InvalidateEntry::scoped("user", obj(json!({"user_id": 5})))]).unwrap();
    let b = e.purge_user_plan("7").unwrap();
    let merged = e.merge_purge_plans(&a, &b);
    assert_eq!(merged.scopes.len(), a.scopes.len() + b.scopes.len());
    assert_eq!(e.merge_purge_plans(&merged, &a), merged, "each scope once");
    // covers: user 5's entries and entries without user_id, not user 6's; user 7's anywhere.
    let keys = |q: &str, who: &str| as_fetch(e.plan(&ctx("user", q), Some(&user(who)), NOW)).cache.unwrap().index_keys;
    assert!(merged.covers(&keys("user_id=5", "1")));
    assert!(!merged.covers(&keys("user_id=6", "1")));
    assert!(merged.covers(&keys("user_id=6", "7")));
    assert!(!a.covers(&as_fetch(e.plan(&ctx("items", ""), None, NOW)).cache.unwrap().index_keys));
    // Past the bound: every context, broadly.
    let mut many = mizan_kernel::index::PurgePlan::default();
    let mut collapsed = false;
    for i in 0..=mizan_kernel::index::MAX_PENDING_SCOPES {
        many = e.merge_purge_plans(&many, &e.purge_user_plan(&format!("u{i}")).unwrap());
        assert!(many.scopes.len() <= mizan_kernel::index::MAX_PENDING_SCOPES);
        if many.scopes.len() == e.registry().contexts.len() && many.covers(&keys("user_id=6", "1")) {
            collapsed = true;
        }
    }
    assert!(collapsed, "past the bound the pending plan is every context, broadly");
}

#[test]
fn redis_live_tickets_bounds_and_steps() {
    let Ok(addr) = std::env::var("MIZAN_TEST_REDIS") else { return };
    let _one_at_a_time = LIVE_REDIS.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = "{mizan}:";
    let mut c = resp::Conn::connect(&addr);
    c.cmd(&["FLUSHALL"]);
    let e = engine_with(EngineConfig { max_public_entries: 3, ..full_config() });
    let ticket = |c: &mut resp::Conn| match c.cmd(&["GET", &format!("{prefix}purges")]) {
        resp::Reply::Bulk(Some(n)) => n.parse::<u64>().unwrap(),
        _ => 0,
    };
    // A put whose ticket predates a purge of its set is refused; a later one stores.
    let plan = as_fetch(e.plan(&ctx("user", "user_id=5"), Some(&user("5")), NOW)).cache.unwrap();
    let t = ticket(&mut c);
    redis_purge(&mut c, prefix, &e.purge_plan(&[InvalidateEntry::scoped("user", obj(json!({"user_id": 5})))]).unwrap(), 256);
    assert_eq!(redis_put(&mut c, prefix, &plan.key, "old", 60, Some(t), None, &plan.index_keys), resp::Reply::Int(0));
    let t = ticket(&mut c);
    assert_eq!(redis_put(&mut c, prefix, &plan.key, "new", 60, Some(t), None, &plan.index_keys), resp::Reply::Int(1));
    assert!(matches!(c.cmd(&["TTL", &format!("{prefix}mark:{}", plan.index_keys[0])]), resp::Reply::Int(t) if t > 0 && t <= 86_400));
    // Public entries: three per context, replacements allowed, expired members make room.
    let public = |page: u32| as_fetch(e.plan(&ctx("items", &format!("page={page}")), None, NOW)).cache.unwrap();
    for page in 0..3 {
        let p = public(page);
        let b = p.bound.clone().unwrap();
        assert_eq!(redis_put(&mut c, prefix, &p.key, "b", 60, None, Some((&b.set, b.max_entries)), &p.index_keys), resp::Reply::Int(1));
    }
    let (p3, p1) = (public(3), public(1));
    let b = p3.bound.clone().unwrap();
    assert_eq!(redis_put(&mut c, prefix, &p3.key, "b", 60, None, Some((&b.set, 3)), &p3.index_keys), resp::Reply::Int(0));
    assert_eq!(redis_put(&mut c, prefix, &p1.key, "b2", 60, None, Some((&b.set, 3)), &p1.index_keys), resp::Reply::Int(1));
    c.cmd(&["DEL", &format!("{prefix}{}", public(0).key)]); // as if it expired
    assert_eq!(redis_put(&mut c, prefix, &p3.key, "b", 60, None, Some((&b.set, 3)), &p3.index_keys), resp::Reply::Int(1));
    assert_eq!(c.cmd(&["SCARD", &format!("{prefix}{}", b.set)]), resp::Reply::Int(3));
    c.cmd(&["FLUSHALL"]);
}
