//! Code-first functions end to end: `#[client]` functions, a `#[predicate]`, `context!`
//! declarations and `#[derive(Mizan)]` types in this test binary → the registry JSON → the
//! kernel's IR; the same functions served by the Axum integration (a request in, the typed
//! function runs, the response out); arguments the kernel refuses (its 422) and arguments only
//! the Rust type refuses (a 422 in the kernel's envelope, not a panic or a 500); a given IR that
//! disagrees with the code refused at start, naming the function.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mizan_host::Mizan; // the derive (macro namespace)…
use mizan_host::axum::{Ctx, FnError, Mizan as App};
use mizan_host::{Identity, Kernel, Upload};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use tower::ServiceExt;

// --- the functions ------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
struct Profile {
    id: i64,
    name: String,
    email: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
#[serde(rename_all = "camelCase")]
#[mizan(key = "itemId")]
struct Item {
    item_id: i64,
    name: String,
    #[serde(rename = "price")]
    unit_price: f64,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(skip)]
    #[allow(dead_code)]
    cost: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
struct ItemFilter {
    category: Option<String>,
    max_price: Option<f64>,
}

/// A newtype is its inner type.
#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
struct Note(String);

mizan_host::context!(catalog, shared);
mizan_host::context!(subscription);

static USERS: LazyLock<Mutex<BTreeMap<i64, Profile>>> = LazyLock::new(|| {
    let p = |id, name: &str| (id, Profile { id, name: name.into(), email: None });
    Mutex::new(BTreeMap::from([p(1, "alice"), p(2, "bob")]))
});
static PROFILE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[mizan_host::client(context = "user")]
async fn user_profile(ctx: Ctx, user_id: i64) -> Result<Profile, FnError> {
    PROFILE_RUNS.fetch_add(1, Ordering::SeqCst);
    let _caller: Option<&str> = ctx.user();
    USERS.lock().unwrap().get(&user_id).cloned().ok_or_else(|| FnError::not_found("No such user"))
}

#[mizan_host::client(affects = ["user"], merge = ["user"], auth = "required")]
async fn update_profile(ctx: &Ctx, user_id: i64, name: String, note: Option<Note>) -> Result<Profile, FnError> {
    if ctx.user() != Some(user_id.to_string().as_str()) {
        return Err(FnError::forbidden("Not your profile"));
    }
    let mut users = USERS.lock().unwrap();
    let p = users.get_mut(&user_id).ok_or_else(|| FnError::not_found("No such user"))?;
    p.name = name;
    p.email = note.map(|n| n.0);
    Ok(p.clone())
}

/// A plain (sync) function with a defaulted input and a nested optional struct.
#[mizan_host::client(context = "catalog", cache = 60)]
fn catalog_items(#[mizan(default = 1)] page: i64, filter: Option<ItemFilter>) -> Vec<Item> {
    let all = [(1, "apple", 1.5), (2, "bread", 2.25), (3, "cheese", 7.0)];
    all.iter()
        .filter(|(_, _, price)| filter.as_ref().and_then(|f| f.max_price).is_none_or(|max| *price <= max))
        .skip(((page.max(1) - 1) * 2) as usize)
        .take(2)
        .map(|(id, name, price)| Item { item_id: *id, name: (*name).into(), unit_price: *price, tags: vec![], cost: 0.0 })
        .collect()
}

#[mizan_host::predicate]
async fn is_staff(ctx: Ctx) -> bool {
    ctx.identity().is_some_and(|i| i.staff)
}

/// `u8`: the IR says integer, the Rust type takes 0..=255 only.
#[mizan_host::client(affects = ["catalog"], auth = is_staff, rev = 2)]
async fn restock(item_id: i64, quantity: u8, sizes: Vec<u16>) -> Result<BTreeMap<String, i64>, FnError> {
    Ok(BTreeMap::from([("item_id".to_string(), item_id), ("quantity".to_string(), quantity as i64), ("sizes".to_string(), sizes.len() as i64)]))
}

#[mizan_host::client(private, affects = ["subscription"], cache = false, methods = ["post"], route = "/webhooks/stripe/", view)]
async fn stripe_webhook(payload: Value) -> Value {
    payload
}

#[mizan_host::client(name = "contact_submit", form = "submit", form_name = "contact")]
async fn contact(message: String, attachment: Option<Upload>) -> BTreeMap<String, String> {
    BTreeMap::from([("message".to_string(), message), ("attachment".to_string(), attachment.map(|u| u.0.to_string()).unwrap_or_default())])
}

/// `not_null`: `tags` may be left out (`None`), not sent as null; `amount` keeps its digits.
#[mizan_host::client]
fn echo_tags(#[mizan(not_null)] tags: Option<Vec<String>>, amount: serde_json::Number) -> Value {
    json!({"tags": tags, "amount": amount})
}

#[mizan_host::client(affects = ["user_profile"])]
async fn explode(user_id: i64) -> i64 {
    if user_id > 0 {
        panic!("boom");
    }
    user_id
}

// --- the IR -------------------------------------------------------------------------------------

const EXPECTED_IR: &str = r#"mizan-ir version=1

context catalog shared=#true {
    member catalog_items
}

context subscription

context user {
    member user_profile
}

function catalog_items context=catalog output="list<Item>" cache=60 {
    input filter type="optional<ItemFilter>"
    input page type=integer required=#false
}

function contact_submit output="map<string>" {
    input attachment type="optional<upload>"
    input message type=string
    form role=submit name=contact
}

function echo_tags output=any {
    input amount type=number
    input tags type="list<string>" required=#false
}

function explode output=integer {
    input user_id type=integer
    affects user_profile
}

function restock output="map<integer>" auth="predicate:is_staff" rev=2 {
    input item_id type=integer
    input quantity type=integer
    input sizes type="list<integer>"
    affects catalog
}

function stripe_webhook output=any private=#true view=#true cache=#false route="/webhooks/stripe/" {
    input payload type=any
    affects subscription
    methods POST
}

function update_profile output=Profile auth=required {
    input name type=string
    input note type="optional<string>"
    input user_id type=integer
    affects user
    merge user
}

function user_profile context=user output=Profile {
    input user_id type=integer
}

type Item key=itemId {
    field itemId type=integer
    field name type=string
    field price type=number
    field tags type="list<string>" required=#false
}

type ItemFilter {
    field category type="optional<string>"
    field max_price type="optional<number>"
}

type Profile {
    field email type="optional<string>"
    field id type=integer
    field name type=string
}
"#;

#[test]
fn the_kernel_writes_the_ir_of_the_code() {
    let ir = mizan_host::build_ir().unwrap();
    assert_eq!(ir, EXPECTED_IR, "got:\n{ir}");
    let names: Vec<&str> = mizan_host::code_first::functions().iter().map(|f| f.name).collect();
    assert_eq!(names, ["catalog_items", "contact_submit", "echo_tags", "explode", "restock", "stripe_webhook", "update_profile", "user_profile"]);
    let f = mizan_host::code_first::functions().into_iter().find(|f| f.name == "contact_submit").unwrap();
    assert!(f.rust_path.ends_with("code_first::contact"), "{}", f.rust_path);
    assert!(f.file.ends_with("tests/code_first.rs"), "{}", f.file);
}

#[test]
fn emit_mizan_ir_prints_it() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(mizan_host::emit_ir(&mut out, &mut err), std::process::ExitCode::SUCCESS);
    assert_eq!((String::from_utf8(out).unwrap().as_str(), err.as_slice()), (EXPECTED_IR, &b""[..]));
}

#[test]
fn the_registry_json_is_what_the_code_declares() {
    let json = mizan_host::registry_json().unwrap();
    assert_eq!(json["contexts"], json!({"catalog": {"shared": true}, "subscription": {"shared": false}}));
    assert_eq!(json["functions"]["catalog_items"]["inputs"], json!({"page": {"type": "integer", "required": false}, "filter": "optional<ItemFilter>"}));
    assert_eq!(json["functions"]["restock"]["auth"], "predicate:is_staff");
    assert_eq!(json["types"]["Item"]["key"], "itemId");
    let predicates: Vec<&str> = mizan_host::code_first::predicates().iter().map(|p| p.name).collect();
    assert_eq!(predicates, ["is_staff"]);
}

#[test]
fn a_given_ir_must_be_the_code_s() {
    let kernel = Kernel::new().unwrap();
    // The code's own IR, in any formatting, passes.
    let reordered: String = EXPECTED_IR.replace("mizan-ir version=1\n", "mizan-ir version=1\n// checked in\n");
    assert!(mizan_host::check_ir(&kernel, &reordered).is_ok());
    // A function missing from the IR, one only in the IR, and one declared differently.
    let stale = EXPECTED_IR
        .replace("function explode output=integer {\n    input user_id type=integer\n    affects user_profile\n}\n\n", "")
        .replace("function restock output=\"map<integer>\"", "function restock output=any")
        .replace("type Item key=itemId", "function legacy output=any\n\ntype Item key=itemId");
    let err = App::builder(stale).kernel(kernel.clone()).code_functions().err().expect("a stale IR is refused").to_string();
    assert!(err.starts_with("mizan-host registration: the IR and the #[client] functions disagree"), "{err}");
    assert!(err.contains("function `explode` is in the code (") && err.contains("tests/code_first.rs:"), "{err}");
    assert!(err.contains("function `legacy` is in the IR but not in the code"), "{err}");
    assert!(err.contains("function `restock` differs between the code and the IR (output)"), "{err}");
    // A bad IR is the kernel's error.
    let err = mizan_host::check_ir(&kernel, "mizan-ir version=99\n").unwrap_err();
    assert_eq!(err.code(), Some(mizan_host::ErrorCode::InvalidIr));
}

// --- served ---------------------------------------------------------------------------------------

fn app() -> App {
    App::from_code()
        .unwrap()
        .identity(|parts| {
            let id = parts.headers.get("x-user")?.to_str().ok()?;
            Some(Identity { subject: id.to_string(), staff: id == "9", ..Identity::default() })
        })
        .memory_cache()
        .on_diagnostic(|_| {})
        .build()
        .unwrap()
}

async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, Option<String>, String) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let invalidate = resp.headers().get("x-mizan-invalidate").map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, invalidate, String::from_utf8(body.to_vec()).unwrap())
}

fn call(body: Value, user: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/api/mizan/call/");
    if let Some(u) = user {
        b = b.header("x-user", u);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn code_first_functions_serve_the_protocol() {
    let router: axum::Router = app().router();

    // A read: the query's "1" is coerced by the kernel, deserialized into `user_id: i64`.
    let before = PROFILE_RUNS.load(Ordering::SeqCst);
    let (status, _, body) = send(&router, get("/api/mizan/ctx/user/?user_id=1")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"user_profile":{"email":null,"id":1,"name":"alice"}}"#));
    let (_, _, again) = send(&router, get("/api/mizan/ctx/user/?user_id=1")).await;
    assert_eq!(again, body);
    assert_eq!(PROFILE_RUNS.load(Ordering::SeqCst), before + 1, "the second read is a cache hit");
    let (status, _, body) = send(&router, get("/api/mizan/ctx/user/?user_id=7")).await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, r#"{"error":{"code":"NOT_FOUND","message":"No such user"}}"#));

    // A mutation: typed arguments (the newtype, the option), the caller from `Ctx`, the
    // invalidation and the merge in the reply.
    let (status, header, body) =
        send(&router, call(json!({"fn": "update_profile", "args": {"user_id": 2, "name": "robert", "note": "hi"}}), Some("2"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(header.as_deref(), Some("user;user_id=2"));
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["result"], json!({"email": "hi", "id": 2, "name": "robert"}));
    assert_eq!(reply["invalidate"], json!([{"context": "user", "params": {"user_id": 2}}]));
    assert!(reply["merge"].is_array(), "{body}");
    let (status, _, _) = send(&router, call(json!({"fn": "update_profile", "args": {"user_id": 2, "name": "x"}}), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "auth=required is the kernel's guard");
    let (status, _, body) = send(&router, call(json!({"fn": "update_profile", "args": {"user_id": 1, "name": "x"}}), Some("2"))).await;
    assert_eq!((status, body.as_str()), (StatusCode::FORBIDDEN, r#"{"error":{"code":"FORBIDDEN","message":"Not your profile"}}"#));

    // A sync function, a defaulted input, a nested optional struct from the query string.
    let (status, _, body) = send(&router, get("/api/mizan/ctx/catalog/")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"catalog_items":[{"itemId":1,"name":"apple","price":1.5,"tags":[]},{"itemId":2,"name":"bread","price":2.25,"tags":[]}]}"#));
    let (_, _, body) = send(&router, get("/api/mizan/ctx/catalog/?page=2")).await;
    assert_eq!(body, r#"{"catalog_items":[{"itemId":3,"name":"cheese","price":7.0,"tags":[]}]}"#);
    let (_, _, body) = send(&router, get("/api/mizan/ctx/catalog/?filter=%7B%22max_price%22%3A2%7D")).await;
    assert_eq!(body, r#"{"catalog_items":[{"itemId":1,"name":"apple","price":1.5,"tags":[]}]}"#);

    // The predicate `is_staff`, registered with `#[predicate]`.
    let restock = json!({"fn": "restock", "args": {"item_id": 1, "quantity": 3, "sizes": [1, 2]}});
    let (status, _, _) = send(&router, call(restock.clone(), Some("5"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, header, body) = send(&router, call(restock, Some("9"))).await;
    assert_eq!((status, header.as_deref()), (StatusCode::OK, Some("catalog")));
    assert_eq!(body, r#"{"result":{"item_id":1,"quantity":3,"sizes":2},"invalidate":["catalog"]}"#);

    // A renamed form function with an upload; a private one is not callable.
    let (status, _, body) = send(&router, call(json!({"fn": "contact_submit", "args": {"message": "hello", "attachment": {"name": "a.txt"}}}), None)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"result":{"attachment":"{\"name\":\"a.txt\"}","message":"hello"},"invalidate":[]}"#));
    let (status, _, _) = send(&router, call(json!({"fn": "stripe_webhook", "args": {"payload": 1}}), None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // `not_null`: left out is `None`; null is the kernel's 422; a number keeps its digits.
    let (_, _, body) = send(&router, call(json!({"fn": "echo_tags", "args": {"amount": 2.50}}), None)).await;
    assert_eq!(body, r#"{"result":{"amount":2.5,"tags":null},"invalidate":[]}"#);
    let raw = r#"{"fn": "echo_tags", "args": {"amount": 18446744073709551616, "tags": ["a"]}}"#;
    let (_, _, body) = send(&router, Request::post("/api/mizan/call/").body(Body::from(raw)).unwrap()).await;
    assert_eq!(body, r#"{"result":{"amount":18446744073709551616,"tags":["a"]},"invalidate":[]}"#);
    let (status, _, body) = send(&router, call(json!({"fn": "echo_tags", "args": {"amount": 1, "tags": null}}), None)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains(r#""tags":["#), "{body}");

    // A panic is an exception: 500 in the engine's envelope.
    let (status, _, body) = send(&router, call(json!({"fn": "explode", "args": {"user_id": 1}}), None)).await;
    assert_eq!((status, body.as_str()), (StatusCode::INTERNAL_SERVER_ERROR, r#"{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}"#));
}

#[tokio::test]
async fn bad_arguments_are_the_kernel_s_422() {
    let router: axum::Router = app().router();
    // What the IR refuses: the kernel answers before the function runs.
    let (status, _, body) = send(&router, call(json!({"fn": "update_profile", "args": {"user_id": "x"}}), Some("2"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        r#"{"error":{"code":"VALIDATION_ERROR","message":"Input validation failed","details":{"fields":{"name":["Field required"],"user_id":["Input should be a valid integer"]}}}}"#
    );
    // What only the Rust type refuses (300 is an integer, not a u8; -1 not a u16): the same
    // 422 envelope, every field listed with serde's message and the kernel's dotted path; the
    // function does not run.
    let (status, header, body) =
        send(&router, call(json!({"fn": "restock", "args": {"item_id": 1, "quantity": 300, "sizes": [1, -1]}}), Some("9"))).await;
    assert_eq!((status, header), (StatusCode::UNPROCESSABLE_ENTITY, None));
    assert_eq!(
        body,
        r#"{"error":{"code":"VALIDATION_ERROR","message":"Input validation failed","details":{"fields":{"quantity":["invalid value: integer `300`, expected u8"],"sizes.1":["invalid value: integer `-1`, expected u16"]}}}}"#
    );
    let (status, _, body) = send(&router, get("/api/mizan/ctx/user/?user_id=99999999999999999999")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
