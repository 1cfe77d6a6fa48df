//! The app's server functions, declared once in Rust (code-first): the IR is derived from them,
//! and the Tauri plugin serves them to the webview through the kernel. Nothing here knows about
//! Tauri: `Ctx` is the host-neutral context, so the same functions serve over Axum too.
//!
//! Three users' view of three lists: alice owns list 1, bob owns list 2, list 3 is shared.
//! `todos` (one list's items) is what `add_todo`/`toggle_todo` affect and merge into; `lists`
//! and `me` are contexts no mutation touches.

use mizan_host::Mizan;
use mizan_host::app::{Ctx, FnError};
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
pub struct User {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
pub struct TodoList {
    pub id: i64,
    pub name: String,
    pub shared: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Mizan)]
pub struct Todo {
    pub id: i64,
    pub list_id: i64,
    pub title: String,
    pub done: bool,
}

mizan_host::context!(me);
mizan_host::context!(lists);
mizan_host::context!(todos);

/// The users the app knows (its sign-in command accepts these ids).
pub const USERS: [(&str, &str); 2] = [("1", "Alice"), ("2", "Bob")];

/// The app's data, in memory: given to the app with `MizanBuilder::state(Store::default())`,
/// reached by each function through its `Ctx` (so two apps in one process do not share it).
#[derive(Default)]
pub struct Store(Mutex<Db>);

struct Db {
    /// Each list with its owner's user id (`None`: shared with everyone).
    lists: Vec<(TodoList, Option<&'static str>)>,
    todos: Vec<Todo>,
}

impl Default for Db {
    fn default() -> Self {
        let list = |id, name: &str, owner: Option<&'static str>| (TodoList { id, name: name.into(), shared: owner.is_none() }, owner);
        let todo = |id, list_id, title: &str| Todo { id, list_id, title: title.into(), done: false };
        Db {
            lists: vec![list(1, "Alice's list", Some("1")), list(2, "Bob's list", Some("2")), list(3, "Shared list", None)],
            todos: vec![todo(1, 1, "Buy milk"), todo(2, 2, "Fix the bike"), todo(3, 3, "Plan the trip")],
        }
    }
}

fn db(ctx: &Ctx) -> Result<MutexGuard<'_, Db>, FnError> {
    let store = ctx.state::<Store>().ok_or_else(|| FnError::exception("the app has no todos::Store state"))?;
    Ok(store.0.lock().unwrap_or_else(|e| e.into_inner()))
}

fn user_id(ctx: &Ctx) -> &str {
    ctx.user().unwrap_or_default() // every caller below is `auth = "required"`
}

/// The list, if the caller may see it; a list they may not see does not exist for them.
fn visible_list(db: &Db, ctx: &Ctx, list_id: i64) -> Result<TodoList, FnError> {
    db.lists
        .iter()
        .find(|(l, owner)| l.id == list_id && owner.is_none_or(|o| o == user_id(ctx)))
        .map(|(l, _)| l.clone())
        .ok_or_else(|| FnError::not_found("No such list"))
}

/// Who is signed in (anonymous: `null`).
#[mizan_host::client(context = "me")]
pub fn whoami(ctx: &Ctx) -> Option<User> {
    let id = ctx.user()?;
    USERS.iter().find(|(uid, _)| *uid == id).map(|(id, name)| User { id: id.to_string(), name: name.to_string() })
}

/// The lists the caller may see: their own and the shared one.
#[mizan_host::client(context = "lists", auth = "required")]
pub fn my_lists(ctx: &Ctx) -> Result<Vec<TodoList>, FnError> {
    let db = db(ctx)?;
    Ok(db.lists.iter().filter(|(_, owner)| owner.is_none_or(|o| o == user_id(ctx))).map(|(l, _)| l.clone()).collect())
}

/// One list's items.
#[mizan_host::client(context = "todos", auth = "required")]
pub fn todo_items(ctx: &Ctx, list_id: i64) -> Result<Vec<Todo>, FnError> {
    let db = db(ctx)?;
    visible_list(&db, ctx, list_id)?;
    Ok(db.todos.iter().filter(|t| t.list_id == list_id).cloned().collect())
}

/// Add an item: invalidates that list's `todos` (only that list: the entry is scoped by
/// `list_id`) and merges the new item into it.
#[mizan_host::client(affects = ["todos"], merge = ["todos"], auth = "required")]
pub fn add_todo(ctx: &Ctx, list_id: i64, title: String) -> Result<Todo, FnError> {
    let title = title.trim().to_string();
    if title.is_empty() {
        return Err(FnError::validation(serde_json::json!({"title": ["Must not be blank"]})));
    }
    let mut db = db(ctx)?;
    visible_list(&db, ctx, list_id)?;
    let id = db.todos.iter().map(|t| t.id).max().unwrap_or(0) + 1;
    let todo = Todo { id, list_id, title, done: false };
    db.todos.push(todo.clone());
    Ok(todo)
}

/// Tick an item off (or back on).
#[mizan_host::client(affects = ["todos"], merge = ["todos"], auth = "required")]
pub fn toggle_todo(ctx: &Ctx, list_id: i64, todo_id: i64) -> Result<Todo, FnError> {
    let mut db = db(ctx)?;
    visible_list(&db, ctx, list_id)?;
    let todo = db.todos.iter_mut().find(|t| t.id == todo_id && t.list_id == list_id).ok_or_else(|| FnError::not_found("No such item"))?;
    todo.done = !todo.done;
    Ok(todo.clone())
}
