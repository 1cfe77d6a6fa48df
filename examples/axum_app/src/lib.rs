//! The wire app on Axum: the functions of `tests/wire/app.kdl` (behaviour: tests/wire/README.md
//! "How an app must behave"), the same as `examples/fastapi_app/functions.py`, registered on a
//! [`Mizan`] app from `mizan-host` (feature `axum`) and served by its router.
//!
//! State is in memory, per process: four users, three items, orders. Identity comes from the
//! kernel (a token) or the app's session stand-in (`X-Wire-User: <id>`), and a function reads it
//! from its [`Ctx`].

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::post;
use mizan_host::axum::{Ctx, FnError, Mizan};
use mizan_host::{Identity, Kernel, OriginCache, RedisOriginStore};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The registry: tests/wire/app.kdl, embedded.
pub const APP_KDL: &str = include_str!("../../../tests/wire/app.kdl");

/// The wire suite's secrets (tests/wire/probes.json "config"): test-only values, never reuse them.
pub const CACHE_SECRET: &str = "wire-cache-secret-for-tests-only-0001";
pub const MWT_SECRET: &str = "wire-mwt-secret-for-tests-only-00002";
pub const JWT_SECRET: &str = "wire-jwt-secret-for-tests-only-00003";
pub const WEBHOOK_SECRET: &str = "wire-webhook-secret-for-tests-only-4";
pub const BODY_LIMIT: u32 = 65536;
pub const MAX_PUBLIC_ENTRIES: u32 = 64;
/// How old a webhook's signature may be (Stripe's default tolerance), seconds.
pub const WEBHOOK_TOLERANCE: u64 = 300;
const PAGE_SIZE: i64 = 2;

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub price: f64,
    pub category: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub item_id: i64,
    pub quantity: i64,
}

struct Account {
    name: String,
    staff: bool,
    superuser: bool,
    /// What the predicate `has_reports` reads.
    reports: bool,
}

/// The app's data (one lock: every access is a few map operations).
pub struct Data {
    users: BTreeMap<i64, Account>,
    items: BTreeMap<i64, Item>,
    orders: Vec<Order>,
    /// What `counter_value` reads and `bump_counter` raises.
    counter: i64,
}

impl Default for Data {
    fn default() -> Self {
        let account = |name: &str, staff, superuser, reports| Account { name: name.into(), staff, superuser, reports };
        let item = |id, name: &str, price, category: &str| Item { id, name: name.into(), price, category: category.into() };
        Data {
            users: BTreeMap::from([
                (1, account("alice", false, false, true)),
                (2, account("bob", false, false, false)),
                (3, account("carol", true, false, true)),
                (4, account("root", true, true, false)),
            ]),
            items: BTreeMap::from([
                (1, item(1, "apple", 1.5, "fruit")),
                (2, item(2, "bread", 2.25, "bakery")),
                (3, item(3, "cheese", 7.0, "dairy")),
            ]),
            orders: Vec::new(),
            counter: 0,
        }
    }
}

/// Shared state of the app.
#[derive(Clone, Default)]
pub struct State(Arc<Mutex<Data>>);

impl State {
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The app's stand-in for a session: `X-Wire-User: <id>` of a known user, as the header
    /// spells it (`01` is user 1: the kernel canonicalises the subject). `raise` stands for a
    /// session store that fails: the lookup panics.
    pub fn session_identity(&self, user_id: Option<&str>) -> Option<Identity> {
        if user_id == Some("raise") {
            panic!("the session store is down");
        }
        let spelled = user_id.filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))?;
        let id: i64 = spelled.parse().ok()?;
        let data = self.lock();
        let u = data.users.get(&id)?;
        Some(Identity { subject: spelled.to_string(), staff: u.staff, superuser: u.superuser, ..Identity::default() })
    }

    /// The predicate `has_reports`: a known user whose `reports` is yes.
    pub fn has_reports(&self, identity: Option<&Identity>) -> bool {
        let Some(id) = identity.and_then(|i| digits(&i.subject)) else { return false };
        self.lock().users.get(&id).is_some_and(|u| u.reports)
    }

    /// `items_list`: sorted by id, filtered by a non-empty category, page size 2, page 1 when
    /// absent, null or 0 (Python's `page or 1` and slice semantics).
    pub fn items_list(&self, page: Option<i64>, category: Option<&str>) -> Vec<Item> {
        let items: Vec<Item> = self
            .lock()
            .items
            .values()
            .filter(|i| category.is_none_or(|c| c.is_empty() || i.category == c))
            .cloned()
            .collect();
        let p = match page {
            None | Some(0) => 1,
            Some(p) => p,
        };
        let (start, end) = py_slice(items.len() as i64, (p - 1).saturating_mul(PAGE_SIZE), p.saturating_mul(PAGE_SIZE));
        items[start..end].to_vec()
    }

    pub fn item_count(&self) -> usize {
        self.lock().items.len()
    }
}

/// `seq[start:end]` bounds as Python computes them (negative indices count from the end).
fn py_slice(len: i64, start: i64, end: i64) -> (usize, usize) {
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let (s, e) = (norm(start), norm(end));
    (s as usize, e.max(s) as usize)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn me(ctx: &Ctx) -> Result<i64, FnError> {
    ctx.user().and_then(digits).ok_or_else(|| FnError::unauthorized("Authentication required"))
}

fn may_see(ctx: &Ctx, user_id: i64) -> Result<(), FnError> {
    match ctx.identity() {
        Some(i) if i.subject == user_id.to_string() || i.staff => Ok(()),
        _ => Err(FnError::forbidden("Not your account")),
    }
}

/// A result that cannot be sent as JSON (the Python app returns NaN): serializing it fails, so
/// the host reports an exception and the client gets a 500.
struct NotJson(f64);

impl Serialize for NotJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            Err(serde::ser::Error::custom(format!("{} is not a JSON number", self.0)))
        }
    }
}

/// `fail`'s answers.
#[derive(Serialize)]
#[serde(untagged)]
enum Failed {
    Kind(String),
    NotJson(NotJson),
}

#[derive(Deserialize)]
struct ItemsListArgs {
    page: Option<i64>,
    category: Option<String>,
}

#[derive(Deserialize)]
struct IdArgs {
    id: i64,
}

#[derive(Deserialize)]
struct UserArgs {
    user_id: i64,
}

#[derive(Deserialize)]
struct RenameArgs {
    id: i64,
    name: String,
}

#[derive(Deserialize)]
struct OrderArgs {
    user_id: i64,
    item_id: i64,
    quantity: i64,
}

#[derive(Deserialize)]
struct NameArgs {
    name: String,
}

#[derive(Deserialize)]
struct ReportArgs {
    format: Option<String>,
}

#[derive(Deserialize)]
struct FailArgs {
    kind: String,
}

#[derive(Deserialize)]
struct SearchArgs {
    q: String,
}

#[derive(Deserialize)]
struct CounterArgs {
    pause_ms: u64,
}

/// Stripe's scheme: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
/// (several `v1` during a secret rotation): one `v1` must match (in constant time) and `t` be
/// within the tolerance of `now` (seconds).
pub fn webhook_signature_ok(header: Option<&str>, payload: &[u8], secret: &str, now: u64) -> bool {
    use hmac::{Hmac, Mac};
    let Some(header) = header else { return false };
    let parts: Vec<(&str, &str)> = header.split(',').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
    let stamps: Vec<&str> = parts.iter().filter(|(k, _)| *k == "t").map(|(_, v)| *v).collect();
    let [stamp] = stamps[..] else { return false };
    let Some(t) = stamp.parse::<u64>().ok().filter(|_| stamp.bytes().all(|b| b.is_ascii_digit())) else { return false };
    if now.abs_diff(t) > WEBHOOK_TOLERANCE {
        return false;
    }
    parts.iter().filter(|(k, _)| *k == "v1").any(|(_, sig)| {
        let Ok(sig) = hex::decode(sig) else { return false };
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else { return false };
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        mac.verify_slice(&sig).is_ok()
    })
}

/// Which origin cache the app uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKind {
    None,
    Memory,
    /// A `redis://` URL and the key prefix.
    Redis(String, String),
}

/// The wire app's [`Mizan`]: every function of `app.kdl`, the predicate, the session identity
/// (`X-Wire-User`), revoked sessions (a `sid` starting with `revoked`), the test secrets.
pub async fn mizan(kernel: &Kernel, state: &State, cache: &CacheKind) -> mizan_host::Result<Mizan> {
    let s = state.clone();
    let mut b = Mizan::builder(APP_KDL)
        .kernel(kernel.clone())
        .mwt_secret(MWT_SECRET)
        .jwt_secret(JWT_SECRET)
        .body_limit(BODY_LIMIT)
        .config(mizan_host::EngineConfig { max_public_entries: Some(MAX_PUBLIC_ENTRIES), ..Default::default() })
        .identity(move |parts| s.session_identity(parts.headers.get("x-wire-user").and_then(|v| v.to_str().ok())))
        .revoked(|sid| sid.starts_with("revoked"))
        .on_diagnostic(|d| eprintln!("mizan: {d}"))
        .on_error(|e| eprintln!("mizan error: {e}"));
    b = match cache {
        CacheKind::None => b,
        CacheKind::Memory => b.memory_cache().cache_secret(CACHE_SECRET),
        CacheKind::Redis(url, prefix) => {
            let store: Arc<dyn OriginCache> = Arc::new(RedisOriginStore::connect(kernel, url, prefix).await?);
            b.cache(store).cache_secret(CACHE_SECRET)
        }
    };
    let s = state.clone();
    b = b.predicate("has_reports", move |ctx: Ctx| {
        let allowed = s.has_reports(ctx.identity());
        async move { allowed }
    });

    // --- reads ---------------------------------------------------------------------------------
    let s = state.clone();
    b = b.function("current_user", move |_: Value, ctx: Ctx| {
        let s = s.clone();
        async move {
            let me = me(&ctx)?;
            let name = s.lock().users.get(&me).map_or_else(|| "?".to_string(), |u| u.name.clone());
            Ok(User { id: me, name })
        }
    });
    let s = state.clone();
    b = b.function("items_list", move |a: ItemsListArgs, _ctx: Ctx| {
        let items = s.items_list(a.page, a.category.as_deref());
        async move { Ok(items) }
    });
    let s = state.clone();
    b = b.function("item_count", move |_: Value, _ctx: Ctx| {
        let n = s.item_count();
        async move { Ok(n) }
    });
    let s = state.clone();
    b = b.function("item_detail", move |a: IdArgs, _ctx: Ctx| {
        let item = s.lock().items.get(&a.id).cloned();
        async move { item.ok_or_else(|| FnError::not_found("No such item")) }
    });
    let s = state.clone();
    b = b.function("user_profile", move |a: UserArgs, _ctx: Ctx| {
        let user = s.lock().users.get(&a.user_id).map(|u| User { id: a.user_id, name: u.name.clone() });
        async move { user.ok_or_else(|| FnError::not_found("No such user")) }
    });
    let s = state.clone();
    b = b.function("user_orders", move |a: UserArgs, ctx: Ctx| {
        let s = s.clone();
        async move {
            may_see(&ctx, a.user_id)?;
            let data = s.lock();
            let mine: Vec<Order> = data.orders.iter().filter(|o| o.user_id == a.user_id).cloned().collect();
            Ok(mine[mine.len().saturating_sub(10)..].to_vec())
        }
    });
    let s = state.clone();
    b = b.function("catalog_categories", move |_: Value, _ctx: Ctx| {
        let mut categories: Vec<String> = s.lock().items.values().map(|i| i.category.clone()).collect();
        categories.sort();
        categories.dedup();
        async move { Ok(categories) }
    });
    b = b.function("echo_types", |a: Value, _ctx: Ctx| async move {
        let field = |k: &str| a.get(k).cloned().unwrap_or(Value::Null);
        Ok(json!({"count": field("count"), "ratio": field("ratio"), "flag": field("flag"),
                  "tags": field("tags"), "maybe": field("maybe"), "label": field("label")}))
    });
    let s = state.clone();
    b = b.function("reports_summary", move |_: Value, _ctx: Ctx| {
        let data = s.lock();
        let summary = BTreeMap::from([("items", data.items.len()), ("users", data.users.len())]);
        async move { Ok(summary) }
    });
    b = b.function("subscription_status", |_: Value, _ctx: Ctx| async move { Ok("active") });
    let s = state.clone();
    b = b.function("search_items", move |a: SearchArgs, _ctx: Ctx| {
        let found: Vec<Item> = s.lock().items.values().filter(|i| i.name.contains(&a.q)).cloned().collect();
        async move { Ok(found) }
    });
    let s = state.clone();
    b = b.function("counter_value", move |a: CounterArgs, _ctx: Ctx| {
        // Read first, answer after the pause: a slow query, the window in which a mutation may
        // write and purge.
        let value = s.lock().counter;
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(a.pause_ms)).await;
            Ok(value)
        }
    });

    // --- mutations -----------------------------------------------------------------------------
    let s = state.clone();
    b = b.function("rename_item", move |a: RenameArgs, _ctx: Ctx| {
        let mut data = s.lock();
        let item = data.items.get_mut(&a.id).map(|item| {
            item.name = a.name;
            item.clone()
        });
        async move { item.ok_or_else(|| FnError::not_found("No such item")) }
    });
    let s = state.clone();
    b = b.function("place_order", move |a: OrderArgs, ctx: Ctx| {
        let s = s.clone();
        async move {
            may_see(&ctx, a.user_id)?;
            if a.quantity < 1 {
                return Err(FnError::validation(json!({"quantity": ["Must be at least 1"]})));
            }
            let mut data = s.lock();
            if !data.items.contains_key(&a.item_id) {
                return Err(FnError::not_found("No such item"));
            }
            let order =
                Order { id: data.orders.len() as i64 + 1, user_id: a.user_id, item_id: a.item_id, quantity: a.quantity };
            data.orders.push(order.clone());
            Ok(order)
        }
    });
    let s = state.clone();
    b = b.function("update_profile", move |a: NameArgs, ctx: Ctx| {
        let s = s.clone();
        async move {
            let me = me(&ctx)?;
            let mut data = s.lock();
            let account = data.users.get_mut(&me).ok_or_else(|| FnError::exception(format!("KeyError: {me}")))?;
            account.name = a.name.clone();
            Ok(User { id: me, name: a.name })
        }
    });
    let s = state.clone();
    b = b.function("bump_counter", move |_: Value, _ctx: Ctx| {
        let mut data = s.lock();
        data.counter += 1;
        let value = data.counter;
        async move { Ok(value) }
    });
    b = b.function("forget_user", |a: UserArgs, ctx: Ctx| async move {
        // GDPR erasure: every origin-cache entry of the user, in every context.
        let purged = ctx.mizan().purge_user(&a.user_id.to_string()).await.map_err(|e| FnError::exception(e.to_string()))?;
        Ok(purged.len())
    });
    b = b.function("export_report", |a: ReportArgs, _ctx: Ctx| async move {
        Ok(format!("report.{}", a.format.as_deref().unwrap_or("csv")))
    });
    b = b.function("fail", |a: FailArgs, _ctx: Ctx| async move {
        match a.kind.as_str() {
            "not_found" => Err(FnError::not_found("No such thing")),
            "not_implemented" => Err(FnError::not_implemented()),
            "forbidden" => Err(FnError::forbidden("Nope")),
            "validation" => Err(FnError::validation(json!({"kind": ["Not a good kind"]}))),
            "internal" => Err(FnError::new(
                mizan_host::ProtocolCode::InternalError,
                "the message of a deliberate 500 stays in the log",
            )),
            "boom" => Err(FnError::exception("RuntimeError: database password is hunter2")),
            "not_json" => Ok(Failed::NotJson(NotJson(f64::NAN))),
            _ => Ok(Failed::Kind(a.kind)),
        }
    });
    // `stripe_webhook` is private (a view): served by its own route below, never by /call/.
    b = b.function("stripe_webhook", |_: Value, _ctx: Ctx| async move { Ok(json!({"received": true})) });
    b.build()
}

/// The webhook's own route (a view, outside the protocol): only the payment provider may call
/// it (a valid `Stripe-Signature` over the body, else 401 in the engine's envelope); then run
/// it and purge what its `affects` covers — the kernel resolves the entries, the header and
/// the plan.
async fn stripe_webhook(mizan: Mizan, headers: axum::http::HeaderMap, body: axum::body::Bytes) -> axum::response::Response {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    if !webhook_signature_ok(signature, &body, WEBHOOK_SECRET, mizan_host::now_ms() / 1000) {
        return mizan_host::axum::to_axum(mizan.error_response(mizan_host::ProtocolCode::Unauthorized, "Invalid signature"));
    }
    let result = json!({"received": true});
    let internal = || (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "webhook failed").into_response();
    let Ok(inv) = mizan.registry().resolve_invalidation("stripe_webhook", &json!({}), None) else { return internal() };
    if let Err(e) = mizan.purge(&inv.entries).await {
        eprintln!("mizan: webhook purge failed: {e}");
    }
    let mut resp = result.to_string().into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = inv.header.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert("x-mizan-invalidate", value);
    }
    resp
}

/// The wire app's router: the protocol under `/api/mizan` plus `POST /webhooks/stripe/`.
pub fn router(mizan: &Mizan) -> Router {
    let m = mizan.clone();
    mizan.router().route("/webhooks/stripe/", post(move |headers, body| stripe_webhook(m.clone(), headers, body)))
}

/// `/plain/call/` and `/plain/ctx/items/`: what the Mizan endpoints do for the bench's requests,
/// written as an ordinary Axum app would (parse the body or query, call the same code, JSON out
/// with `Cache-Control: no-store`). For the wrk comparison only (docs/PERFORMANCE.md).
pub fn plain_router(state: &State) -> Router {
    #[derive(Deserialize)]
    struct CallBody {
        #[serde(rename = "fn")]
        function: String,
        #[serde(default)]
        #[allow(dead_code)]
        args: serde_json::Map<String, Value>,
    }
    let json_response = |body: String| {
        let mut resp = body.into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    };
    let s = state.clone();
    let s2 = state.clone();
    Router::new()
        .route(
            "/plain/call/",
            post(move |body: axum::body::Bytes| {
                let s = s.clone();
                async move {
                    let Ok(call) = serde_json::from_slice::<CallBody>(&body) else {
                        return (axum::http::StatusCode::BAD_REQUEST, "bad body").into_response();
                    };
                    if call.function != "item_count" {
                        return (axum::http::StatusCode::NOT_FOUND, "only item_count").into_response();
                    }
                    json_response(json!({"result": s.item_count(), "invalidate": []}).to_string())
                }
            }),
        )
        .route(
            "/plain/ctx/items/",
            axum::routing::get(move |q: axum::extract::RawQuery| {
                let s = s2.clone();
                async move {
                    let mut page = None;
                    let mut category = None;
                    for pair in q.0.unwrap_or_default().split('&') {
                        match pair.split_once('=') {
                            Some(("page", v)) => page = v.parse::<i64>().ok(),
                            Some(("category", v)) => category = Some(v.to_string()),
                            _ => {}
                        }
                    }
                    let bundle = json!({"item_count": s.item_count(), "items_list": s.items_list(page, category.as_deref())});
                    json_response(bundle.to_string())
                }
            }),
        )
}
