//! The IR parity fixture (tests/fixtures/ir/parity.kdl, described in tests/fixtures/ir/README.md)
//! declared code-first in Rust: the kernel's KDL of these functions is byte-identical to the
//! fixture — the same file Python's `@client` registration must export. The fixture is also
//! served as a checked-in IR over the same code (`code_functions` checks it), with its enum
//! deserialized into a Rust enum.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mizan_host::axum::{Ctx, FnError, Mizan as App};
use mizan_host::{Mizan, Upload};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex};
use tower::ServiceExt;

const FIXTURE: &str = include_str!("../../../tests/fixtures/ir/parity.kdl");

// --- types ----------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Mizan)]
#[serde(rename_all = "lowercase")]
enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

#[derive(Serialize, Deserialize, Mizan)]
struct SiteSettings {
    currency: String,
    maintenance: bool,
    features: HashMap<String, bool>,
}

#[derive(Clone, Serialize, Deserialize, Mizan)]
struct Address {
    street: String,
    city: String,
    postcode: Option<String>,
}

#[derive(Clone, Serialize, Deserialize, Mizan)]
struct UserProfile {
    id: i64,
    name: String,
    email: Option<String>,
    address: Address,
    tags: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize, Mizan)]
struct OrderLine {
    product_id: i64,
    quantity: i64,
    unit_price: f64,
}

#[derive(Serialize, Deserialize, Mizan)]
struct OrderLineInput {
    product_id: i64,
    quantity: i64,
}

#[derive(Clone, Serialize, Deserialize, Mizan)]
struct Order {
    id: i64,
    status: OrderStatus,
    lines: Vec<OrderLine>,
    totals: BTreeMap<String, f64>,
    shipping: Option<Address>,
    placed_at: String,
}

#[derive(Serialize, Deserialize, Mizan)]
struct OrderSummary {
    id: i64,
    status: OrderStatus,
    total: f64,
}

#[derive(Serialize, Deserialize, Mizan)]
struct Product {
    id: i64,
    name: String,
    price: f64,
    category: String,
    attributes: HashMap<String, String>,
}

mizan_host::context!(catalog, shared);

// --- a little state ------------------------------------------------------------------------------

static ORDERS: LazyLock<Mutex<BTreeMap<i64, Order>>> = LazyLock::new(|| {
    let line = OrderLine { product_id: 1, quantity: 2, unit_price: 1.5 };
    let order = Order {
        id: 1,
        status: OrderStatus::Pending,
        lines: vec![line],
        totals: BTreeMap::from([("gross".to_string(), 3.0)]),
        shipping: None,
        placed_at: "2026-01-01T00:00:00Z".into(),
    };
    Mutex::new(BTreeMap::from([(1, order)]))
});

fn summary(o: &Order) -> OrderSummary {
    OrderSummary { id: o.id, status: o.status, total: o.totals.values().sum() }
}

fn profile(user_id: i64) -> UserProfile {
    let address = Address { street: "1 Main St".into(), city: "Springfield".into(), postcode: None };
    UserProfile { id: user_id, name: format!("user {user_id}"), email: None, address, tags: vec![] }
}

fn order(order_id: i64) -> Result<Order, FnError> {
    ORDERS.lock().unwrap().get(&order_id).cloned().ok_or_else(|| FnError::not_found("No such order"))
}

// --- reads ---------------------------------------------------------------------------------------

#[mizan_host::client(context = "global", cache = 300)]
fn site_settings() -> SiteSettings {
    SiteSettings { currency: "EUR".into(), maintenance: false, features: HashMap::from([("reviews".to_string(), true)]) }
}

#[mizan_host::client(context = "user", auth = "required")]
async fn user_profile(_ctx: Ctx, user_id: i64) -> Result<UserProfile, FnError> {
    Ok(profile(user_id))
}

#[mizan_host::client(context = "user", auth = "required")]
async fn user_orders(_ctx: Ctx, user_id: i64, status: Option<OrderStatus>) -> Vec<OrderSummary> {
    let orders = ORDERS.lock().unwrap();
    orders.values().filter(|o| user_id > 0 && status.is_none_or(|s| o.status == s)).map(summary).collect()
}

#[mizan_host::client(context = "user", auth = "required", rev = 2)]
fn user_addresses(user_id: i64) -> Vec<Address> {
    vec![profile(user_id).address]
}

#[mizan_host::client(context = "catalog", cache = 3600)]
fn catalog_products(category: Option<String>) -> Vec<Product> {
    let apple = Product { id: 1, name: "apple".into(), price: 1.5, category: "fruit".into(), attributes: HashMap::new() };
    [apple].into_iter().filter(|p| category.as_ref().is_none_or(|c| &p.category == c)).collect()
}

#[mizan_host::client(context = "catalog", cache = 3600)]
fn catalog_categories() -> Vec<String> {
    vec!["fruit".into()]
}

#[mizan_host::client(context = "orders", auth = "required", cache = false)]
fn order_detail(order_id: i64) -> Result<Order, FnError> {
    order(order_id)
}

#[mizan_host::client(context = "orders", auth = "staff")]
fn order_list(#[mizan(default = 1)] page: i64) -> Vec<OrderSummary> {
    ORDERS.lock().unwrap().values().skip(((page.max(1) - 1) * 20) as usize).take(20).map(summary).collect()
}

// --- mutations ------------------------------------------------------------------------------------

#[mizan_host::client(affects = ["user"], merge = ["user"], auth = "required")]
async fn update_profile(_ctx: Ctx, user_id: i64, name: String, email: Option<String>) -> Result<UserProfile, FnError> {
    Ok(UserProfile { name, email, ..profile(user_id) })
}

#[mizan_host::client(affects = ["user_profile"], auth = "required")]
async fn upload_avatar(user_id: i64, image: Upload) -> UserProfile {
    UserProfile { tags: vec![format!("avatar:{}", image.0)], ..profile(user_id) }
}

#[mizan_host::client(affects = ["orders", "user_orders"], merge = ["orders"], auth = "required")]
async fn place_order(user_id: i64, lines: Vec<OrderLineInput>, note: Option<String>) -> Result<Order, FnError> {
    let mut orders = ORDERS.lock().unwrap();
    let id = orders.keys().max().copied().unwrap_or(0) + 1;
    let lines: Vec<OrderLine> =
        lines.into_iter().map(|l| OrderLine { product_id: l.product_id, quantity: l.quantity, unit_price: 1.0 }).collect();
    let total = lines.iter().map(|l| l.quantity as f64 * l.unit_price).sum();
    let placed_at = format!("by {user_id}{}", note.map(|n| format!(": {n}")).unwrap_or_default());
    let o = Order { id, status: OrderStatus::Pending, lines, totals: BTreeMap::from([("gross".into(), total)]), shipping: None, placed_at };
    orders.insert(id, o.clone());
    Ok(o)
}

#[mizan_host::client(affects = ["orders"], merge = ["orders"], auth = "staff")]
async fn set_order_status(order_id: i64, status: OrderStatus) -> Result<Order, FnError> {
    let mut orders = ORDERS.lock().unwrap();
    let o = orders.get_mut(&order_id).ok_or_else(|| FnError::not_found("No such order"))?;
    o.status = status;
    Ok(o.clone())
}

#[mizan_host::predicate]
async fn can_refund(ctx: Ctx) -> bool {
    ctx.identity().is_some_and(|i| i.staff)
}

#[mizan_host::client(affects = ["orders"], auth = can_refund)]
async fn refund_order(order_id: i64, amount: f64) -> Result<Order, FnError> {
    let mut o = order(order_id)?;
    o.totals.insert("refunded".into(), -amount);
    Ok(o)
}

#[mizan_host::client(affects = ["catalog"], auth = "superuser")]
fn reindex_catalog(#[mizan(default)] full: bool) -> i64 {
    if full { 2 } else { 1 }
}

#[mizan_host::client(affects = ["orders", "user_orders"], private)]
async fn payment_webhook(payload: HashMap<String, Value>) {
    let _ = payload;
}

// --- the tests -------------------------------------------------------------------------------------

#[test]
fn the_rust_ir_of_the_parity_fixture_is_byte_identical() {
    let ir = mizan_host::build_ir().unwrap();
    if ir != FIXTURE {
        let first = ir.lines().zip(FIXTURE.lines()).position(|(a, b)| a != b);
        panic!("the Rust IR differs from tests/fixtures/ir/parity.kdl (first differing line: {first:?}):\n{ir}");
    }
    assert_eq!(mizan_host::registry_json().unwrap()["enums"], json!({"OrderStatus": ["pending", "paid", "shipped", "delivered", "cancelled"]}));
}

async fn call(router: &axum::Router, body: Value, user: &str) -> (StatusCode, String) {
    let req = Request::post("/api/mizan/call/").header("x-user", user).body(Body::from(body.to_string())).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_fixture_serves_the_code_with_its_enum() {
    let app = App::builder(FIXTURE)
        .code_functions()
        .unwrap()
        .identity(|parts| {
            let id = parts.headers.get("x-user")?.to_str().ok()?;
            Some(mizan_host::Identity { subject: id.into(), staff: id == "9", ..Default::default() })
        })
        .on_diagnostic(|_| {})
        .build()
        .unwrap();
    let router: axum::Router = app.router();
    // The enum value arrives as the Rust variant and goes back as its serde name.
    let (status, body) = call(&router, json!({"fn": "set_order_status", "args": {"order_id": 1, "status": "paid"}}), "9").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["result"]["status"], "paid");
    assert_eq!(reply["invalidate"], json!([{"context": "orders", "params": {"order_id": 1}}]));
    // A value outside the enum is the kernel's 422, before the function runs.
    let (status, body) = call(&router, json!({"fn": "set_order_status", "args": {"order_id": 1, "status": "lost"}}), "9").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let details: Value = serde_json::from_str(&body).unwrap();
    assert!(details["error"]["details"]["fields"]["status"][0].as_str().unwrap().contains("'pending'"), "{body}");
    // The predicate of `auth = can_refund`.
    let (status, _) = call(&router, json!({"fn": "refund_order", "args": {"order_id": 1, "amount": 1.0}}), "5").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&router, json!({"fn": "refund_order", "args": {"order_id": 1, "amount": 1.0}}), "9").await;
    assert_eq!(status, StatusCode::OK);
}
