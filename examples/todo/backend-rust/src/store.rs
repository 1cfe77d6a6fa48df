//! The example's state: in memory, per process. One list per user name and one shared list,
//! ids from one counter, behind one lock (every access is a few vector operations).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};

use crate::Todo;

#[derive(Default)]
struct Lists {
    next_id: i64,
    own: HashMap<String, Vec<Todo>>,
    shared: Vec<Todo>,
}

/// Every todo list of this process.
#[derive(Default)]
pub struct TodoStore {
    lists: Mutex<Lists>,
}

/// The process's store, which the functions use.
pub static STORE: LazyLock<TodoStore> = LazyLock::new(TodoStore::default);

impl TodoStore {
    fn lock(&self) -> MutexGuard<'_, Lists> {
        // A panic while holding the lock leaves whole vectors behind: the data is still usable.
        self.lists.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `user`'s own list, oldest first.
    pub fn own(&self, user: &str) -> Vec<Todo> {
        self.lock().own.get(user).cloned().unwrap_or_default()
    }

    /// The shared list, oldest first.
    pub fn shared(&self) -> Vec<Todo> {
        self.lock().shared.clone()
    }

    pub fn add_own(&self, user: &str, title: String) -> Todo {
        let mut lists = self.lock();
        let todo = lists.next(title, user);
        lists.own.entry(user.to_string()).or_default().push(todo.clone());
        todo
    }

    pub fn add_shared(&self, author: &str, title: String) -> Todo {
        let mut lists = self.lock();
        let todo = lists.next(title, author);
        lists.shared.push(todo.clone());
        todo
    }

    /// Flip `done` of the todo `id` in `user`'s list; `None` when the list has no such todo.
    pub fn toggle_own(&self, user: &str, id: i64) -> Option<Todo> {
        toggle(self.lock().own.get_mut(user)?, id)
    }

    pub fn toggle_shared(&self, id: i64) -> Option<Todo> {
        toggle(&mut self.lock().shared, id)
    }
}

impl Lists {
    fn next(&mut self, title: String, author: &str) -> Todo {
        self.next_id += 1;
        Todo { id: self.next_id, title, done: false, author: author.to_string() }
    }
}

fn toggle(todos: &mut [Todo], id: i64) -> Option<Todo> {
    let todo = todos.iter_mut().find(|t| t.id == id)?;
    todo.done = !todo.done;
    Some(todo.clone())
}
