//! The wire app's functions (tests/wire/README.md "How an app must behave"), declared once with
//! `#[mizan_host::client]`: the same functions as `examples/fastapi_app/functions.py`. Their IR
//! is `tests/wire/app.kdl`, byte for byte (`tests/ir.rs`).
//!
//! Each function reads the app's [`State`] from its [`Ctx`] and the caller's identity (the
//! kernel's token, or the session stand-in `X-Wire-User`).

use mizan_host::app::{Ctx, FnError};
use mizan_host::{ProtocolCode, context};
use serde::Serialize;
use serde_json::{Number, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::data::{Item, Order, State, User, digits};

// Every caller gets the same categories: one origin-cache entry for all.
context!(catalog, shared);

fn state(ctx: &Ctx) -> Result<&State, FnError> {
    ctx.state::<State>().ok_or_else(|| FnError::exception("the app was built without its State"))
}

/// The caller's user id (`auth = "required"` already refused anonymous callers).
fn me(ctx: &Ctx) -> Result<i64, FnError> {
    ctx.user().and_then(digits).ok_or_else(|| FnError::unauthorized("Authentication required"))
}

/// The caller is `user_id`, or staff.
fn may_see(ctx: &Ctx, user_id: i64) -> Result<(), FnError> {
    match ctx.identity() {
        Some(i) if i.subject == user_id.to_string() || i.staff => Ok(()),
        _ => Err(FnError::forbidden("Not your account")),
    }
}

#[mizan_host::predicate]
fn has_reports(ctx: Ctx) -> bool {
    ctx.state::<State>().is_some_and(|s| s.has_reports(ctx.identity()))
}

// --- reads ---------------------------------------------------------------------------------------

#[mizan_host::client(context = "global", auth = "required")]
fn current_user(ctx: Ctx) -> Result<User, FnError> {
    let me = me(&ctx)?;
    let name = state(&ctx)?.lock().users.get(&me).map_or_else(|| "?".to_string(), |u| u.name.clone());
    Ok(User { id: me, name })
}

/// `category` empty or absent: every category.
#[mizan_host::client(context = "items", cache = 60)]
fn items_list(ctx: Ctx, page: Option<i64>, #[mizan(default)] category: String) -> Result<Vec<Item>, FnError> {
    Ok(state(&ctx)?.items_list(page, Some(&category)))
}

#[mizan_host::client(context = "items")]
fn item_count(ctx: Ctx) -> Result<usize, FnError> {
    Ok(state(&ctx)?.item_count())
}

#[mizan_host::client(context = "item")]
fn item_detail(ctx: Ctx, id: i64) -> Result<Item, FnError> {
    state(&ctx)?.lock().items.get(&id).cloned().ok_or_else(|| FnError::not_found("No such item"))
}

#[mizan_host::client(context = "user", rev = 2)]
fn user_profile(ctx: Ctx, user_id: i64) -> Result<User, FnError> {
    let data = state(&ctx)?.lock();
    data.users.get(&user_id).map(|u| User { id: user_id, name: u.name.clone() }).ok_or_else(|| FnError::not_found("No such user"))
}

/// The user's last ten orders (`page` is declared, as in the Python app, and unused).
#[mizan_host::client(context = "user", auth = "required")]
fn user_orders(ctx: Ctx, user_id: i64, page: Option<i64>) -> Result<Vec<Order>, FnError> {
    let _ = page;
    may_see(&ctx, user_id)?;
    let data = state(&ctx)?.lock();
    let mine: Vec<Order> = data.orders.iter().filter(|o| o.user_id == user_id).cloned().collect();
    Ok(mine[mine.len().saturating_sub(10)..].to_vec())
}

#[mizan_host::client(context = "catalog", cache = 3600)]
fn catalog_categories(ctx: Ctx) -> Result<Vec<String>, FnError> {
    let mut categories: Vec<String> = state(&ctx)?.lock().items.values().map(|i| i.category.clone()).collect();
    categories.sort();
    categories.dedup();
    Ok(categories)
}

/// The coerced inputs as the function got them. `ratio` is a [`Number`]: its digits come back
/// as sent (`18446744073709551616`, which an `f64` would round), as in the Python apps.
#[mizan_host::client(context = "echo", cache = false)]
fn echo_types(
    count: i64,
    ratio: Number,
    flag: bool,
    #[mizan(not_null)] tags: Option<Vec<String>>,
    maybe: Option<i64>,
    #[mizan(not_null)] label: Option<String>,
) -> Value {
    json!({"count": count, "ratio": ratio, "flag": flag, "tags": tags, "maybe": maybe, "label": label})
}

#[mizan_host::client(context = "reports", auth = has_reports)]
fn reports_summary(ctx: Ctx) -> Result<BTreeMap<String, usize>, FnError> {
    let data = state(&ctx)?.lock();
    Ok(BTreeMap::from([("items".to_string(), data.items.len()), ("users".to_string(), data.users.len())]))
}

#[mizan_host::client(context = "subscription", auth = "required")]
fn subscription_status() -> String {
    "active".to_string()
}

/// Items whose name contains `q`: anyone can make a public cache entry per `q`.
#[mizan_host::client(context = "search", cache = 60)]
fn search_items(ctx: Ctx, q: String) -> Result<Vec<Item>, FnError> {
    Ok(state(&ctx)?.lock().items.values().filter(|i| i.name.contains(&q)).cloned().collect())
}

/// The counter, read first and answered after `pause_ms`: a slow query, the window in which a
/// mutation may write and purge. `tag` only makes the cache key differ between test runs.
#[mizan_host::client(context = "counter", cache = 60)]
async fn counter_value(ctx: Ctx, pause_ms: u64, #[mizan(default)] tag: String) -> Result<i64, FnError> {
    let _ = tag;
    let value = state(&ctx)?.lock().counter;
    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    Ok(value)
}

// --- mutations -----------------------------------------------------------------------------------

#[mizan_host::client(affects = ["items", "item"], merge = ["items"], auth = "staff")]
fn rename_item(ctx: Ctx, id: i64, name: String) -> Result<Item, FnError> {
    let mut data = state(&ctx)?.lock();
    let item = data.items.get_mut(&id).ok_or_else(|| FnError::not_found("No such item"))?;
    item.name = name;
    Ok(item.clone())
}

#[mizan_host::client(affects = ["user"], auth = "required")]
fn place_order(ctx: Ctx, user_id: i64, item_id: i64, quantity: i64) -> Result<Order, FnError> {
    may_see(&ctx, user_id)?;
    if quantity < 1 {
        return Err(FnError::validation(json!({"quantity": ["Must be at least 1"]})));
    }
    let mut data = state(&ctx)?.lock();
    if !data.items.contains_key(&item_id) {
        return Err(FnError::not_found("No such item"));
    }
    let order = Order { id: data.orders.len() as i64 + 1, user_id, item_id, quantity };
    data.orders.push(order.clone());
    Ok(order)
}

/// `affects` names a function: the caller's own `user_profile` entries.
#[mizan_host::client(affects = ["user_profile"], auth = "required")]
fn update_profile(ctx: Ctx, name: String) -> Result<User, FnError> {
    let me = me(&ctx)?;
    let mut data = state(&ctx)?.lock();
    let account = data.users.get_mut(&me).ok_or_else(|| FnError::exception(format!("KeyError: {me}")))?;
    account.name = name.clone();
    Ok(User { id: me, name })
}

#[mizan_host::client(affects = ["counter"])]
fn bump_counter(ctx: Ctx) -> Result<i64, FnError> {
    let mut data = state(&ctx)?.lock();
    data.counter += 1;
    Ok(data.counter)
}

/// GDPR erasure: every origin-cache entry of the user, in every context.
#[mizan_host::client(auth = "superuser")]
async fn forget_user(ctx: Ctx, user_id: i64) -> Result<usize, FnError> {
    let purged = ctx.mizan().purge_user(&user_id.to_string()).await.map_err(|e| FnError::exception(e.to_string()))?;
    Ok(purged.len())
}

#[mizan_host::client(auth = has_reports)]
fn export_report(#[mizan(default = "csv".to_string())] format: String) -> String {
    format!("report.{format}")
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

/// `fail`'s answers (IR `any`).
#[derive(Serialize)]
#[serde(untagged)]
enum Failed {
    Kind(String),
    NotJson(NotJson),
}

impl mizan_host::IrType for Failed {
    fn ir_type(_: &mut mizan_host::code_first::TypeSet) -> String {
        "any".to_string()
    }
}

/// Each `kind` is one way a function fails (tests/wire/README.md); any other is echoed.
#[mizan_host::client]
fn fail(kind: String) -> Result<Failed, FnError> {
    match kind.as_str() {
        "not_found" => Err(FnError::not_found("No such thing")),
        "not_implemented" => Err(FnError::not_implemented()),
        "forbidden" => Err(FnError::forbidden("Nope")),
        "validation" => Err(FnError::validation(json!({"kind": ["Not a good kind"]}))),
        "internal" => Err(FnError::new(ProtocolCode::InternalError, "the message of a deliberate 500 stays in the log")),
        "boom" => Err(FnError::exception("RuntimeError: database password is hunter2")),
        "not_json" => Ok(Failed::NotJson(NotJson(f64::NAN))),
        _ => Ok(Failed::Kind(kind)),
    }
}

/// Private (a view): never served by `/call/`; the app's own route runs it after checking the
/// payment provider's signature (`crate::webhook`), and purges what its `affects` covers.
#[mizan_host::client(private, view, cache = false, route = "/webhooks/stripe/", methods = ["POST"], affects = ["subscription"])]
pub fn stripe_webhook() -> Value {
    json!({"received": true})
}
