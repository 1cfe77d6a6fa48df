"""The todo example's functions (examples/todo/README.md), registered with ``@functions.client``.

The same functions as the Rust backend (``examples/todo/backend-rust/src/lib.rs``): both export
``examples/todo/todo.kdl`` byte for byte (a test checks it), answer alike, and the frontend's
generated client is written from that IR.

- ``global``: ``me``, who is signed in (``None`` when nobody is).
- ``todos``: ``my_todos``, the caller's own list. Not ``shared``: the origin cache keys its
  entries by the caller's identity, so one user's list is never served to another.
- ``shared``: ``shared_todos``, one list every signed-in user sees (``shared``: one cache entry
  for everyone).
- Mutations say what they change: ``affects=["todos"]`` (the client refetches that context) and
  ``merge=["todos"]`` (the result lands in the cached list at once). An add to the shared list
  touches ``shared`` only, so nobody's own list is refetched.

The state is in memory, per process: one list per user name, one shared list.
"""

from __future__ import annotations

import threading
from typing import Dict, List, Optional, TypedDict

from mizan_kernel.decorators import Functions, current_user
from mizan_kernel.server import NotFound, ProtocolError, ValidationFailed


class Todo(TypedDict):
    id: int
    title: str
    done: bool
    #: who added it (the owner, in a user's own list)
    author: str


class User(TypedDict):
    name: str


#: Titles longer than this are refused (422), on every backend.
MAX_TITLE = 200

functions = Functions()
functions.context("shared", shared=True)


class TodoStore:
    """Every list, behind one lock (FastAPI runs plain ``def`` functions in worker threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_id = 1
        self.own: Dict[str, List[Todo]] = {}
        self.shared: List[Todo] = []

    def add(self, todos: List[Todo], title: str, author: str) -> Todo:
        with self.lock:
            todo: Todo = {"id": self.next_id, "title": title, "done": False, "author": author}
            self.next_id += 1
            todos.append(todo)
            return dict(todo)  # type: ignore[return-value]

    def toggle(self, todos: List[Todo], todo_id: int) -> Todo:
        with self.lock:
            for todo in todos:
                if todo["id"] == todo_id:
                    todo["done"] = not todo["done"]
                    return dict(todo)  # type: ignore[return-value]
        raise NotFound("No such todo")

    def snapshot(self, todos: List[Todo]) -> List[Todo]:
        with self.lock:
            return [dict(t) for t in todos]  # type: ignore[misc]

    def own_list(self, user: str) -> List[Todo]:
        with self.lock:
            return self.own.setdefault(user, [])


STORE = TodoStore()


def _caller() -> str:
    user = current_user()
    if user is None:  # auth=True already refused anonymous callers; this keeps the type honest
        raise ProtocolError("UNAUTHORIZED", "Authentication required")
    return user


def _title(title: str) -> str:
    title = title.strip()
    if not title:
        raise ValidationFailed({"title": ["Title must not be empty"]})
    if len(title) > MAX_TITLE:
        raise ValidationFailed({"title": [f"Title is longer than {MAX_TITLE} characters"]})
    return title


# --- reads -------------------------------------------------------------------------------------


@functions.client(context="global")
def me() -> Optional[User]:
    """Who is signed in; ``None`` before the login."""
    user = current_user()
    return None if user is None else {"name": user}


@functions.client(context="todos", auth=True)
def my_todos() -> List[Todo]:
    return STORE.snapshot(STORE.own_list(_caller()))


@functions.client(context="shared", auth=True)
def shared_todos() -> List[Todo]:
    return STORE.snapshot(STORE.shared)


# --- mutations ---------------------------------------------------------------------------------


@functions.client(affects=["todos"], merge=["todos"], auth=True)
def add_todo(title: str) -> Todo:
    user = _caller()
    return STORE.add(STORE.own_list(user), _title(title), user)


@functions.client(affects=["todos"], merge=["todos"], auth=True)
def toggle_todo(id: int) -> Todo:
    return STORE.toggle(STORE.own_list(_caller()), id)


@functions.client(affects=["shared"], merge=["shared"], auth=True)
def add_shared_todo(title: str) -> Todo:
    return STORE.add(STORE.shared, _title(title), _caller())


@functions.client(affects=["shared"], merge=["shared"], auth=True)
def toggle_shared_todo(id: int) -> Todo:
    _caller()
    return STORE.toggle(STORE.shared, id)
