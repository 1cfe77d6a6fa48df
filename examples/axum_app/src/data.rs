//! The wire app's data, in memory, per process: four users, three items, the orders placed and a
//! counter. One lock: every access is a few map operations.

use mizan_host::Identity;
use mizan_host::Mizan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// `items_list`'s page size.
const PAGE_SIZE: i64 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
pub struct User {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub price: f64,
    pub category: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub item_id: i64,
    pub quantity: i64,
}

pub(crate) struct Account {
    pub name: String,
    pub staff: bool,
    pub superuser: bool,
    /// What the predicate `has_reports` reads.
    pub reports: bool,
}

pub(crate) struct Data {
    pub users: BTreeMap<i64, Account>,
    pub items: BTreeMap<i64, Item>,
    pub orders: Vec<Order>,
    /// What `counter_value` reads and `bump_counter` raises.
    pub counter: i64,
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

/// The app's state: what the functions reach with `ctx.state::<State>()` (the app is built
/// with `.state(state.clone())`), the session lookup and the plain handlers share.
#[derive(Clone, Default)]
pub struct State(Arc<Mutex<Data>>);

impl State {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Data> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The app's stand-in for a session: `X-Wire-User: <id>` of a known user, as the header
    /// spells it (`01` is user 1: the kernel canonicalises the subject). `raise` stands for a
    /// session store that fails: the lookup panics.
    pub fn session_identity(&self, user_id: Option<&str>) -> Option<Identity> {
        if user_id == Some("raise") {
            panic!("the session store is down");
        }
        let spelled = user_id.filter(|s| digits(s).is_some())?;
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

/// A subject of ASCII digits as the user id (`None` for anything else).
pub(crate) fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
