"""A small Mizan protocol server for the client tests (stdlib only: ThreadingHTTPServer).

Serves ``/api/mizan/session/``, ``/api/mizan/ctx/{name}/`` and ``/api/mizan/call/`` for a tiny
in-memory app (users with names; items). Each call's ``invalidate`` list, ``X-Mizan-Invalidate``
header and merges come from the kernel (``Registry.resolve_invalidation``/``resolve_merges`` on
the KDL registry below), as a real backend's would. For the tests it counts requests, can hold
requests at a gate, and can be told to fail the next requests of a path (an HTTP status,
``"drop"``: close the socket without answering, or ``"garbage"``: a 200 that is not JSON).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qsl, unquote, urlsplit

import mizan_kernel as mk

BASE = "/api/mizan"

KDL = """
mizan-ir version=1

context user {
    member user_profile
}

context items {
    member items_list
}

function user_profile context=user output=User {
    input user_id type=integer
}

function items_list context=items output="list<Item>" {
    input category type=string required=#false
}

function rename_user output=User {
    input user_id type=integer
    input name type=string
    affects user
}

function set_item_name output=Item {
    input id type=integer
    input name type=string
    affects items
    merge items
}

type User {
    field id type=integer
    field name type=string
}

type Item {
    field id type=integer
    field name type=string
    field category type=string
}
"""


class ApiError(Exception):
    STATUS = {"NOT_FOUND": 404, "BAD_REQUEST": 400, "VALIDATION_ERROR": 422, "FORBIDDEN": 403, "INTERNAL_ERROR": 500}

    def __init__(self, code: str, message: str, details: Any = None, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details
        self.status = status or self.STATUS.get(code, 500)

    def envelope(self) -> Dict[str, Any]:
        err: Dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            err["details"] = self.details
        return {"error": err}


def _int(args: Dict[str, Any], name: str) -> int:
    if name not in args:
        raise ApiError("VALIDATION_ERROR", "Invalid input", {"fields": {name: ["Field required"]}})
    try:
        return int(args[name])
    except (TypeError, ValueError):
        raise ApiError("VALIDATION_ERROR", "Invalid input", {"fields": {name: ["Must be an integer"]}}) from None


def _str(args: Dict[str, Any], name: str) -> str:
    if not isinstance(args.get(name), str):
        raise ApiError("VALIDATION_ERROR", "Invalid input", {"fields": {name: ["Field required"]}})
    return args[name]


class App:
    """Users and items, in memory."""

    def __init__(self) -> None:
        self.registry = mk.Registry.from_kdl(KDL)
        self.users: Dict[int, Dict[str, Any]] = {1: {"id": 1, "name": "Ada"}, 2: {"id": 2, "name": "Grace"}}
        self.items: List[Dict[str, Any]] = [
            {"id": 1, "name": "apple", "category": "fruit"},
            {"id": 2, "name": "leek", "category": "vegetable"},
        ]
        self.reads: Dict[str, Tuple[Callable[[Dict[str, Any]], Any], Tuple[str, ...]]] = {
            "user_profile": (self.user_profile, ("user_id",)),
            "items_list": (self.items_list, ("category",)),
        }
        self.contexts = {"user": ["user_profile"], "items": ["items_list"]}
        self.mutations: Dict[str, Callable[[Dict[str, Any]], Any]] = {
            "rename_user": self.rename_user,
            "set_item_name": self.set_item_name,
        }

    def user_profile(self, args: Dict[str, Any]) -> Any:
        user = self.users.get(_int(args, "user_id"))
        if user is None:
            raise ApiError("NOT_FOUND", "User not found")
        return dict(user)

    def items_list(self, args: Dict[str, Any]) -> Any:
        cat = args.get("category")
        return [dict(i) for i in self.items if cat is None or i["category"] == cat]

    def rename_user(self, args: Dict[str, Any]) -> Any:
        user = self.users.get(_int(args, "user_id"))
        if user is None:
            raise ApiError("NOT_FOUND", "User not found")
        user["name"] = _str(args, "name")
        return dict(user)

    def set_item_name(self, args: Dict[str, Any]) -> Any:
        item_id = _int(args, "id")
        for item in self.items:
            if item["id"] == item_id:
                item["name"] = _str(args, "name")
                return dict(item)
        raise ApiError("NOT_FOUND", "Item not found")


Action = Union[int, str]


class MizanTestServer:
    """``with MizanTestServer() as server: Client(server.base_url)``."""

    def __init__(self) -> None:
        self.app = App()
        self.csrf_token = "csrf-test-token-1234"
        self.header_only = False  # answer calls with `invalidate: []` and only the header
        self.counts: Counter = Counter()  # by path, and by path?query
        self.requests: List[Dict[str, Any]] = []
        self._failures: Dict[str, Deque[Action]] = {}
        self._gates: Dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.mizan = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="mizan-test-server", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{BASE}"

    def start(self) -> "MizanTestServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        for gate in list(self._gates.values()):
            gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "MizanTestServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- test controls ---

    def count(self, target: str) -> int:
        """Requests received for ``target``: a path (``/api/mizan/ctx/user/``) or a path with
        its query (``/api/mizan/ctx/user/?user_id=1``); a path without BASE gets it prepended."""
        if not target.startswith(BASE):
            target = BASE + target
        with self._lock:
            return self.counts[target]

    def fail(self, path: str, *actions: Action) -> None:
        """The next requests to ``path`` (prefix) answer each action in turn: an HTTP status
        with an error envelope, ``"drop"`` (the connection closes without an answer) or
        ``"garbage"`` (a 200 whose body is not JSON)."""
        if not path.startswith(BASE):
            path = BASE + path
        with self._lock:
            self._failures.setdefault(path, deque()).extend(actions)

    def gate(self, path: str) -> threading.Event:
        """Hold requests to ``path`` (prefix) until the returned event is set."""
        if not path.startswith(BASE):
            path = BASE + path
        event = threading.Event()
        with self._lock:
            self._gates[path] = event
        return event

    def ungate(self, path: str) -> None:
        if not path.startswith(BASE):
            path = BASE + path
        with self._lock:
            gate = self._gates.pop(path, None)
        if gate is not None:
            gate.set()

    # --- serving ---

    def _take(self, target: str) -> Tuple[Optional[Action], Optional[threading.Event]]:
        with self._lock:
            action = None
            for prefix, queue in self._failures.items():
                if target.startswith(prefix) and queue:
                    action = queue.popleft()
                    break
            gate = next((g for p, g in self._gates.items() if target.startswith(p)), None)
            return action, gate

    def handle(self, h: "_Handler", method: str) -> None:
        url = urlsplit(h.path)
        target = url.path + (f"?{url.query}" if url.query else "")
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self._lock:
            self.counts[url.path] += 1
            if url.query:
                self.counts[target] += 1
            self.requests.append({"method": method, "path": url.path, "query": url.query, "headers": dict(h.headers), "body": raw})
        action, gate = self._take(target)
        if gate is not None:
            gate.wait(10)
        if action == "drop":
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if action == "garbage":  # a 200 that is not JSON (a proxy's error page, say)
            data = b"<html>oops</html>"
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        if isinstance(action, int):
            code = "INTERNAL_ERROR" if action >= 500 else "BAD_REQUEST"
            return h.send_json(action, {"error": {"code": code, "message": f"Injected failure {action}"}})
        try:
            status, body, headers = self.route(method, url.path, url.query, raw, h)
        except ApiError as e:
            status, body, headers = e.status, e.envelope(), {}
        except Exception:  # pragma: no cover - a bug in this server
            status, body, headers = 500, {"error": {"code": "INTERNAL_ERROR", "message": "Internal server error"}}, {}
        h.send_json(status, body, headers)

    def route(self, method: str, path: str, query: str, raw: bytes, h: "_Handler") -> Tuple[int, Any, Dict[str, str]]:
        if path == f"{BASE}/session/" and method == "GET":
            return 200, {"csrfToken": self.csrf_token}, {"Set-Cookie": f"csrftoken={self.csrf_token}; Path=/"}
        if path.startswith(f"{BASE}/ctx/") and method == "GET":
            name = unquote(path[len(f"{BASE}/ctx/"):].rstrip("/"))
            members = self.app.contexts.get(name)
            if members is None:
                raise ApiError("NOT_FOUND", f"Unknown context: {name}")
            params = dict(parse_qsl(query, keep_blank_values=True))
            bundle = {}
            for fn in sorted(members):
                impl, declared = self.app.reads[fn]
                bundle[fn] = impl({k: v for k, v in params.items() if k in declared})
            return 200, bundle, {}
        if path == f"{BASE}/call/" and method == "POST":
            if h.headers.get("X-CSRFToken") != self.csrf_token:
                raise ApiError("FORBIDDEN", "CSRF token missing or incorrect")
            try:
                req = json.loads(raw)
            except ValueError:
                raise ApiError("BAD_REQUEST", "Invalid request body") from None
            if not isinstance(req, dict) or not isinstance(req.get("fn"), str) or not isinstance(req.get("args", {}), dict):
                raise ApiError("BAD_REQUEST", "Invalid request body")
            fn, args = req["fn"], req.get("args", {})
            impl = self.app.mutations.get(fn)
            if impl is None:
                raise ApiError("NOT_FOUND", f"Unknown function: {fn}")
            with self._lock:
                result = impl(args)
            inv = self.app.registry.resolve_invalidation(fn, args)
            merges = self.app.registry.resolve_merges(fn, args, result).merge
            body: Dict[str, Any] = {"result": result, "invalidate": [] if self.header_only else inv.invalidate}
            if merges:
                body["merge"] = merges
            headers = {"X-Mizan-Invalidate": inv.header} if inv.invalidate and inv.header else {}
            return 200, body, headers
        raise ApiError("NOT_FOUND", "Not found")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that went away (closed, reset, a test that dropped it): not news
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.mizan.handle(self, "GET")  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self.server.mizan.handle(self, "POST")  # type: ignore[attr-defined]

    def send_json(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
        data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":  # a manual run: python tests/mizan_server.py
    with MizanTestServer() as s:
        print(s.base_url, flush=True)
        threading.Event().wait()
