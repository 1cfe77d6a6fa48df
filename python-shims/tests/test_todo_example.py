"""The todo example's FastAPI backend (examples/todo/backend-python): its functions export
examples/todo/todo.kdl byte for byte (the Rust backend's test checks the same file), and the
stand-in login gives each user their own list. The browser test (examples/todo/frontend/e2e)
drives both backends through the generated client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "examples" / "todo" / "backend-python"
TODO_KDL = REPO / "examples" / "todo" / "todo.kdl"


def test_python_m_mizan_kernel_ir_of_the_app_is_todo_kdl() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mizan_kernel", "ir", "app:app"], cwd=BACKEND, capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == TODO_KDL.read_text(encoding="utf-8")


@pytest.fixture()
def server() -> Iterator[str]:
    """The example's app.py on a free port of 127.0.0.1 (in-memory origin cache)."""
    proc = subprocess.Popen(
        [sys.executable, str(BACKEND / "app.py"), "--port", "0", "--cache", "memory", "--frontend", str(BACKEND / "none")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert " on http://" in line, line
        yield line.rsplit(" on ", 1)[1].strip().rstrip("/")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_each_user_sees_their_own_list_and_the_shared_one(server: str) -> None:
    import httpx

    with httpx.Client(base_url=server) as alice, httpx.Client(base_url=server) as bob:
        assert alice.get("/api/mizan/ctx/global/").json() == {"me": None}
        assert alice.get("/api/mizan/ctx/todos/").json()["error"]["code"] == "UNAUTHORIZED"
        assert alice.post("/auth/login", json={"name": "Alice!"}).status_code == 400
        assert alice.post("/auth/login", json={"name": "alice"}).json() == {"name": "alice"}
        assert bob.post("/auth/login", json={"name": "bob"}).status_code == 200
        assert alice.get("/api/mizan/ctx/todos/").json() == {"my_todos": []}  # cached for alice

        added = alice.post("/api/mizan/call/", json={"fn": "add_todo", "args": {"title": " milk "}})
        assert added.headers["x-mizan-invalidate"] == "todos"
        milk = {"id": 1, "title": "milk", "done": False, "author": "alice"}
        assert added.json() == {"result": milk, "merge": [{"context": "todos", "slot": "my_todos", "value": milk}], "invalidate": ["todos"]}
        shared = alice.post("/api/mizan/call/", json={"fn": "add_shared_todo", "args": {"title": "trip"}}).json()
        assert shared["invalidate"] == ["shared"]

        assert alice.get("/api/mizan/ctx/todos/").json() == {"my_todos": [milk]}
        assert bob.get("/api/mizan/ctx/todos/").json() == {"my_todos": []}
        assert bob.get("/api/mizan/ctx/shared/").json()["shared_todos"][0]["title"] == "trip"
        # Bob cannot toggle alice's todo: it is not in his list.
        assert bob.post("/api/mizan/call/", json={"fn": "toggle_todo", "args": {"id": 1}}).json()["error"]["code"] == "NOT_FOUND"
        empty = bob.post("/api/mizan/call/", json={"fn": "add_todo", "args": {"title": "  "}}).json()
        assert empty["error"]["details"] == {"fields": {"title": ["Title must not be empty"]}}

        alice.post("/auth/logout")
        assert alice.get("/api/mizan/ctx/global/").json() == {"me": None}


def test_the_readmes_python_quick_starts_are_true_against_the_example(server: str) -> None:
    """README.md "Quick start" (Python) and "Quick start: client cache" (mk.Client), as written."""
    import mizan_kernel as mk

    secret = "test-pin-secret-that-is-32bytes!"
    assert mk.derive_cache_key(secret, "todos", {}, user="alice") == "ctx:todos:96f7ae6189ea5c6b09e00e3f3dfe99ccf942c66434430e6c60c404e6bb5fd348"
    registry = mk.Registry.from_kdl(TODO_KDL.read_text(encoding="utf-8"))
    inv = registry.resolve_invalidation("add_todo", {"title": "milk"})
    assert (inv.invalidate, inv.header) == (["todos"], "todos")

    with mk.Client(server + "/api/mizan", headers={"Cookie": "todo_user=alice"}) as client:
        todos = client.fetch("todos")["my_todos"]
        assert todos == []
        sub = client.subscribe("todos")
        client.call("add_todo", {"title": "milk"})
        client.wait_idle(timeout=10)
        assert [t["title"] for t in sub.data["my_todos"]] == ["milk"]
        sub.close()
