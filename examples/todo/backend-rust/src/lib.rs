//! The todo example's functions (examples/todo/README.md), declared once with
//! `#[mizan_host::client]`. The same functions as the Python backend
//! (`examples/todo/backend-python/todo_functions.py`): both export `examples/todo/todo.kdl` byte
//! for byte (`tests/ir.rs`, and the Python test), and the frontend's client is generated from it.
//!
//! - `global`: [`me`], who is signed in (`None` when nobody is).
//! - `todos`: [`my_todos`], the caller's own list. Not shared: the origin cache keys its entries
//!   by the caller's identity, so one user's list is never served to another.
//! - `shared`: [`shared_todos`], one list every signed-in user sees (one cache entry for all).
//! - Mutations say what they change: `affects = ["todos"]` (clients refetch that context) and
//!   `merge = ["todos"]` (the result lands in the cached list at once).
//!
//! Host-neutral: nothing here knows about HTTP. The functions read the caller from [`Ctx`] and
//! keep their state in a process-wide [`TodoStore`]; a host registers them with
//! `Mizan::from_code()` (the Axum binary `todo-axum`, or a Tauri app) and says who is calling.

use mizan_host::Mizan;
use serde::{Deserialize, Serialize};

mod store;

pub use mizan_host::app::{Ctx, FnError};
pub use store::{STORE, TodoStore};

/// Titles longer than this (in characters) are refused with a 422, on every backend.
pub const MAX_TITLE: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Mizan)]
pub struct Todo {
    pub id: i64,
    pub title: String,
    pub done: bool,
    /// Who added it (the owner, in a user's own list).
    pub author: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Mizan)]
pub struct User {
    pub name: String,
}

// The context `shared` (its name first, then the flag): one origin-cache entry for every caller.
mizan_host::context!(shared, shared);

fn caller(ctx: &Ctx) -> Result<&str, FnError> {
    // `auth = "required"` already refused anonymous callers; this keeps the type honest.
    ctx.user().ok_or_else(|| FnError::unauthorized("Authentication required"))
}

fn title(title: &str) -> Result<String, FnError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(FnError::validation(serde_json::json!({ "title": ["Title must not be empty"] })));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(FnError::validation(serde_json::json!({ "title": [format!("Title is longer than {MAX_TITLE} characters")] })));
    }
    Ok(title.to_string())
}

// --- reads ---------------------------------------------------------------------------------------

/// Who is signed in; `None` before the login.
#[mizan_host::client(context = "global")]
pub fn me(ctx: Ctx) -> Option<User> {
    ctx.user().map(|name| User { name: name.to_string() })
}

#[mizan_host::client(context = "todos", auth = "required")]
pub fn my_todos(ctx: Ctx) -> Result<Vec<Todo>, FnError> {
    Ok(STORE.own(caller(&ctx)?))
}

#[mizan_host::client(context = "shared", auth = "required")]
pub fn shared_todos() -> Vec<Todo> {
    STORE.shared()
}

// --- mutations -----------------------------------------------------------------------------------

#[mizan_host::client(affects = ["todos"], merge = ["todos"], auth = "required")]
pub fn add_todo(ctx: Ctx, title: String) -> Result<Todo, FnError> {
    let user = caller(&ctx)?;
    Ok(STORE.add_own(user, self::title(&title)?))
}

#[mizan_host::client(affects = ["todos"], merge = ["todos"], auth = "required")]
pub fn toggle_todo(ctx: Ctx, id: i64) -> Result<Todo, FnError> {
    STORE.toggle_own(caller(&ctx)?, id).ok_or_else(|| FnError::not_found("No such todo"))
}

#[mizan_host::client(affects = ["shared"], merge = ["shared"], auth = "required")]
pub fn add_shared_todo(ctx: Ctx, title: String) -> Result<Todo, FnError> {
    let user = caller(&ctx)?;
    Ok(STORE.add_shared(user, self::title(&title)?))
}

#[mizan_host::client(affects = ["shared"], merge = ["shared"], auth = "required")]
pub fn toggle_shared_todo(id: i64) -> Result<Todo, FnError> {
    STORE.toggle_shared(id).ok_or_else(|| FnError::not_found("No such todo"))
}
