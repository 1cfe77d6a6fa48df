"""Python clients over the kernel's client session (``wit/session.wit``): :class:`Client`
(threads) and :class:`AsyncClient` (asyncio).

Both are interpreters. The session decides everything — requests and their ids, the session
start and its CSRF token, de-duplication, staleness, retries and their backoff, what an answer
means, when a fetch or a call has settled, invalidation, merges, optimistic rollback, gc; a
client sends it events (``update(events, now)``) and performs what comes back: the requests
(through a transport), the views of changed instances (to subscribers), the settled waiters
(to the callers of :meth:`~Client.fetch` and :meth:`~Client.call`) and the one timer.

After a kernel trap the rule is the same on every host: keep the subscriptions, create a new
session and replay them; pending calls and fetches raise ``TRAP``.

Time is ``time.monotonic()`` in milliseconds (:func:`now_ms`): immune to wall-clock jumps, so a
clock change never makes data fresh or stale. Snapshot ``updated_at`` values are on that clock
(milliseconds since an arbitrary start, comparable with :func:`now_ms`, not epoch time).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import secrets
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._errors import MizanKernelError, kernel_error
from ._jsonio import _json
from ._session import ClientSession, instance_key
from .transports import AsyncHttpTransport, AsyncTransport, HttpTransport, Transport, TransportError

JSON = Any
Entry = Union[str, Mapping[str, JSON]]
Snapshot = Dict[str, Any]
Callback = Callable[[Snapshot], Any]

__all__ = ["Client", "AsyncClient", "Subscription", "MizanRequestError", "now_ms"]

log = logging.getLogger("mizan_kernel.client")


def now_ms() -> int:
    """The clients' clock: ``time.monotonic()`` in whole milliseconds."""
    return time.monotonic_ns() // 1_000_000


class MizanRequestError(Exception):
    """A fetch or a call that did not succeed: ``code`` (``NOT_FOUND``, ``VALIDATION_ERROR``,
    ``INTERNAL_ERROR``, ``NETWORK_ERROR``, ``INVALID_RESPONSE``, ``HTTP_418``…, or the client's
    own ``RESET``, ``CLOSED``, ``TRAP``), ``message``, the server's ``details`` (or ``None``) and
    the HTTP ``status`` it came with (or ``None``)."""

    def __init__(self, code: str, message: str, details: Any = None, status: Optional[int] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details
        self.status = status

    def __reduce__(self) -> Any:
        return (type(self), (self.code, self.message, self.details, self.status))

    @classmethod
    def _of(cls, record: Mapping[str, Any]) -> "MizanRequestError":
        """From the session's ``request-error`` record."""
        details = record.get("details-json")
        return cls(record["code"], record["message"], None if details is None else json.loads(details), record.get("status"))


#: What a host settles its pending waiters with after a trap (the session that knew them is gone).
_TRAP = ("TRAP", "The kernel trapped; the client started over")
_PENDING = object()


def _entries(entries: Union[Entry, Sequence[Entry]]) -> List[Entry]:
    return [entries] if isinstance(entries, (str, Mapping)) else list(entries)


def _ref(context: str, params: Optional[Mapping[str, JSON]]) -> Tuple[str, str]:
    return (context, _json(dict(params or {}), "params"))


def _refused(results: List[Any]) -> Any:
    """The result of one event, or the kernel's refusal raised."""
    case, value = results[0]
    if case == "err":
        raise kernel_error(value)
    return value


class Subscription:
    """An observed instance: the session keeps it fresh (refetching it when invalidated) until
    :meth:`close`. ``key`` is the instance key."""

    __slots__ = ("_owner", "key", "context", "params", "callback", "_closed")

    def __init__(self, owner: "_Core", key: str, context: str, params: Dict[str, JSON], callback: Optional[Callback]) -> None:
        self._owner = owner
        self.key = key
        self.context = context
        self.params = params
        self.callback = callback
        self._closed = False

    def __repr__(self) -> str:
        return f"Subscription({self.key!r}{', closed' if self._closed else ''})"

    @property
    def closed(self) -> bool:
        return self._closed

    def snapshot(self) -> Optional[Snapshot]:
        """The instance's current state (``status``, ``is_fetching``, ``is_stale``, ``data``,
        ``error``, ``updated_at``, ``slot_versions``, ``subscribers``…)."""
        return self._owner._snapshot_key(self.key)

    @property
    def data(self) -> Optional[Dict[str, JSON]]:
        snap = self.snapshot()
        return None if snap is None else snap["data"]

    def refetch(self) -> None:
        """Fetch now, unless a request for the instance is already running."""
        self._owner._refetch_key(self.key)

    def close(self) -> None:
        """Stop observing; the instance is collected ``gc_time_ms`` later if nobody else observes it."""
        self._owner._unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _decoded(value: JSON, invalidate: Optional[str] = None) -> Tuple[str, Any]:
    """An operation transport's answer as the session's outcome (``unusable`` if not JSON)."""
    try:
        return ("decoded", (_json(value, "answer"), invalidate))
    except (MizanKernelError, TypeError, ValueError) as e:
        return ("unusable", str(e))


def _failed(e: BaseException) -> Tuple[str, str]:
    if isinstance(e, TransportError):
        return ("failed", _json(e.error, "error"))
    return ("failed", _json({"network": True, "message": f"{type(e).__name__}: {e}"}, "error"))


class _Core:
    """The interpreter both clients share. Every method here runs with exclusive access to the
    session (the sync client's lock, or the asyncio loop's thread)."""

    _session: ClientSession
    _closed: bool

    def _init_core(self, transport: Any, config: Mapping[str, JSON]) -> None:
        self._config = dict(config)
        # The retry jitter is seeded by the host, with a random value (tests pass one).
        self._config.setdefault("seed", secrets.randbits(63))
        self._http = callable(getattr(transport, "request", None))
        self._config["transport"] = "http" if self._http else "operation"
        self._session = ClientSession(self._config)
        self._subs: Dict[str, List[Subscription]] = {}
        self._views: Dict[str, Snapshot] = {}  # the views, applied: what callbacks get
        self._waits: Dict[int, Any] = {}  # waiter → _PENDING, or ("ok" | "err", value)
        self._kinds: Dict[int, str] = {}
        self._ids = itertools.count(1)
        self._notes: Deque[Tuple[Subscription, Snapshot]] = deque()
        self._closed = False

    # --- hooks of the concrete clients ---

    def _start(self, request: Dict[str, Any]) -> None:
        raise NotImplementedError

    def _set_timer(self, now: int, delay_ms: int) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        raise NotImplementedError

    # --- the interpreter ---

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the Mizan client is closed")

    def _send(self, events: List[Any]) -> List[Any]:
        """One ``update``; performs its output and returns the events' results. A trap since the
        last update (elsewhere in the process) starts over first; a trap in this update starts
        over and raises."""
        if self._session.lost:
            self._restart()
        now = now_ms()
        try:
            out = self._session.update(events, now)
        except MizanKernelError as e:
            if e.code != "trap":
                raise
            self._restart()
            raise
        self._perform(out, now)
        return out["results"]  # type: ignore[no-any-return]

    def _perform(self, out: Dict[str, Any], now: int) -> None:
        for v in out["views"]:
            self._view(v)
        for r in out["requests"]:
            self._start(r)
        for s in out["settled"]:
            self._settle(s["waiter"], s["outcome"])
        timer = out["timer"]
        if timer is not None:
            self._set_timer(now, int(timer["delay-ms"]))
        self._wake()

    def _view(self, v: Dict[str, Any]) -> None:
        key = v["key"]
        prev = self._views.get(key)
        if v["gone"]:
            self._views.pop(key, None)
            return
        if v["instance"] is not None:
            context, params = v["instance"]["context"], json.loads(v["instance"]["params-json"])
        else:
            context, params = (prev["context"], prev["params"]) if prev else (None, None)
        data: Optional[Dict[str, JSON]] = None
        versions: Dict[str, int] = {}
        if v["slots"] is not None:
            values = dict(v["values"])
            held = prev["data"] if prev and prev["data"] is not None else {}
            data = {}
            for slot, version in v["slots"]:
                versions[slot] = version
                # The session sends only the values this client does not hold.
                data[slot] = json.loads(values[slot]) if slot in values else held[slot]
        error = v["error"]
        snap = {
            "key": key,
            "context": context,
            "params": params,
            "status": v["status"],
            "is_fetching": v["fetching"],
            "is_stale": v["stale"],
            "data": data,
            "error": None if error is None else {"code": error["code"], "message": error["message"], "details": MizanRequestError._of(error).details},
            "updated_at": v["updated-at"],
            "slot_versions": versions,
        }
        self._views[key] = snap
        for sub in self._subs.get(key, ()):
            self._notes.append((sub, snap))

    def _settle(self, waiter: int, outcome: Tuple[str, Any]) -> None:
        kind = self._kinds.pop(waiter, None)
        case, value = outcome
        if kind == "start":
            if case == "err":
                log.warning("mizan: GET session/ failed: %s", MizanRequestError._of(value))
            return
        if waiter not in self._waits:  # its caller gave up (timeout)
            return
        if case == "err":
            self._waits[waiter] = ("err", MizanRequestError._of(value))
        elif kind == "fetch":
            # The settled data, as its own objects (a caller may change what it gets).
            snap = self._session.snapshot(value, now_ms())
            self._waits[waiter] = ("ok", None if snap is None else json.loads(snap)["data"])
        else:
            self._waits[waiter] = ("ok", json.loads(value))

    def _restart(self) -> None:
        """The kernel trapped: a new session, the subscriptions replayed, waiters failed."""
        log.error("mizan: the kernel trapped; the client starts over and replays its subscriptions")
        self._session = ClientSession(self._config)
        self._views.clear()
        for w in list(self._waits):
            if self._waits[w] is _PENDING:
                self._waits[w] = ("err", MizanRequestError(*_TRAP))
        self._kinds = {w: k for w, k in self._kinds.items() if k == "start"}
        events: List[Any] = [("start", None)]
        for key, subs in self._subs.items():
            events.extend(("subscribe", (s.context, _json(s.params, "params"))) for s in subs if not s._closed)
        now = now_ms()
        self._perform(self._session.update(events, now), now)

    def _waiter(self, kind: str) -> int:
        w = next(self._ids)
        self._kinds[w] = kind
        if kind != "start":
            self._waits[w] = _PENDING
        return w

    def _outcome(self, waiter: int) -> JSON:
        case, value = self._waits.pop(waiter)
        if case == "err":
            raise value
        return value

    def _give_up(self, waiter: int) -> None:
        """A caller stopped waiting (timeout): the session stops observing for it."""
        if self._waits.pop(waiter, None) is _PENDING and not self._closed:
            self._send([("cancel", waiter)])

    def _idle(self) -> bool:
        return not self._notes and self._session.idle()

    # --- requests ---

    def _http_request(self, request: Dict[str, Any]) -> Tuple[str, str, List[Tuple[str, str]], Optional[str], Optional[float]]:
        h = request["http"]
        timeout = request["timeout-ms"] / 1000 if request["timeout-ms"] else None
        return h["method"].upper(), h["path"], h["headers"], h["body"], timeout

    def _answer(self, request: Dict[str, Any], outcome: Any, session: ClientSession) -> None:
        """Feed one outcome back (exclusive access held by the caller). Ids of a session that a
        trap replaced mean nothing to its successor: such answers are dropped."""
        if not self._closed and session is self._session:
            self._send([("answer", (request["id"], outcome))])

    # --- operations shared by both clients (exclusive access held by the caller) ---

    def _do_start_session(self) -> None:
        self._send([("start", self._waiter("start"))])

    def _do_subscribe(self, context: str, params: Optional[Mapping[str, JSON]], callback: Optional[Callback]) -> Subscription:
        self._check_open()
        p = dict(params or {})
        ref = (context, _json(p, "params"))
        # The view makes sure this client holds a snapshot to hand the callback right away.
        key = _refused(self._send([("subscribe", ref), ("view", ref)]))
        sub = Subscription(self, key, context, p, callback)
        self._subs.setdefault(key, []).append(sub)
        snap = self._views.get(key)
        if snap is not None:
            self._notes.append((sub, snap))
            self._wake()
        return sub

    def _do_unsubscribe(self, sub: Subscription) -> None:
        if sub._closed:
            return
        sub._closed = True
        subs = self._subs.get(sub.key)
        if subs is not None:
            subs[:] = [s for s in subs if s is not sub]
            if not subs:
                del self._subs[sub.key]
        if not self._closed:
            self._send([("unsubscribe", sub.key)])

    def _do_snapshot_key(self, key: str) -> Optional[Snapshot]:
        text = self._session.snapshot(key, now_ms())
        return None if text is None else json.loads(text)

    def _do_snapshot(self, context: str, params: Optional[Mapping[str, JSON]]) -> Optional[Snapshot]:
        return self._do_snapshot_key(instance_key(*_ref(context, params)))

    def _do(self, event: Any) -> Any:
        self._check_open()
        return _refused(self._send([event]))

    def _begin_fetch(self, context: str, params: Optional[Mapping[str, JSON]]) -> int:
        self._check_open()
        w = self._waiter("fetch")
        try:
            _refused(self._send([("fetch", (w, _ref(context, params), False))]))
        except BaseException:
            self._waits.pop(w, None)
            raise
        return w

    def _begin_call(self, fn: str, args: Optional[Mapping[str, JSON]], optimistic: Optional[Sequence[Mapping[str, JSON]]]) -> int:
        self._check_open()
        w = self._waiter("call")
        event = ("call", (w, fn, _json(dict(args or {}), "args"), None if optimistic is None else _json(list(optimistic), "optimistic")))
        try:
            _refused(self._send([event]))
        except BaseException:
            self._waits.pop(w, None)
            raise
        return w

    def _do_close(self) -> None:
        if not self._closed:
            self._send([("close", None)])
            self._closed = True


class Client(_Core):
    """A synchronous Mizan client, for scripts, CLIs and desktop apps.

    ``Client("http://127.0.0.1:8000/api/mizan", stale_time_ms=30_000)``: the keyword arguments
    other than ``transport``, ``headers``, ``timeout`` (seconds, per request) and
    ``max_workers`` are the session's configuration (``stale_time_ms``, ``gc_time_ms``,
    ``retries``, ``retry_base_ms``, ``retry_max_ms``, ``max_instances``, ``refetch_on_focus``,
    ``refetch_on_reconnect``, ``seed``).

    Threads: requests run on a pool of ``max_workers`` I/O threads; the timer (retries, gc) and
    subscriber callbacks run on one background thread (``mizan-client``). Every session access
    holds one lock, so a client can be shared by any number of threads.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        *,
        transport: Optional[Transport] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: float = 10.0,
        max_workers: int = 8,
        **config: JSON,
    ) -> None:
        if (base_url is None) == (transport is None):
            raise TypeError("Client needs a base URL or a transport (one of them)")
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._deadline: Optional[int] = None
        self._delivering = False
        config.setdefault("request_timeout_ms", int(timeout * 1000))
        self._owns_transport = transport is None
        self.transport: Transport = transport if transport is not None else HttpTransport(base_url, headers=headers, timeout=timeout)  # type: ignore[arg-type]
        try:
            self._init_core(self.transport, config)  # raises on a bad configuration, before any thread
        except BaseException:
            if self._owns_transport:
                self.transport.close()
            raise
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="mizan-client-io")
        self._thread = threading.Thread(target=self._run, name="mizan-client", daemon=True)
        self._thread.start()
        with self._lock:
            self._do_start_session()  # GET session/: calls wait for its CSRF token

    def __repr__(self) -> str:
        return f"Client({self.transport!r}{', closed' if self._closed else ''})"

    # --- hooks ---

    def _start(self, request: Dict[str, Any]) -> None:
        try:
            self._pool.submit(self._perform_request, request)
        except RuntimeError:  # the pool is shut down: the client is closing
            pass

    def _set_timer(self, now: int, delay_ms: int) -> None:
        self._deadline = now + delay_ms

    def _wake(self) -> None:
        self._cond.notify_all()

    # --- threads ---

    def _perform_request(self, request: Dict[str, Any]) -> None:
        """On an I/O thread: one request, then what came of it into the session."""
        session = self._session
        try:
            if self._http:
                outcome: Any = ("http", self.transport.request(*self._http_request(request)))  # type: ignore[attr-defined]
            else:
                case, op = request["op"]
                if case == "fetch":
                    outcome = _decoded(self.transport.fetch(op["context"], json.loads(op["params-json"]), op["query"]))
                elif case == "call":
                    outcome = _decoded(*self.transport.call(op["function"], json.loads(op["args-json"]), op["csrf-token"]))
                else:
                    outcome = _decoded(self.transport.session())
        except Exception as e:  # a failure, or a transport bug: an answer either way, never a hang
            if not isinstance(e, TransportError):
                log.exception("mizan: transport failed")
            outcome = _failed(e)
        with self._lock:
            try:
                self._answer(request, outcome, session)
            except MizanKernelError as e:  # a trap: _send started over already
                log.error("mizan: %s", e)

    def _run(self) -> None:
        """The background thread: fires the session's timer and delivers notifications in order."""
        while True:
            with self._lock:
                while True:
                    if self._closed:
                        return
                    if self._notes:
                        notes = list(self._notes)
                        self._notes.clear()
                        self._delivering = True
                        break
                    self._fire_due_timer()
                    if self._notes:
                        continue
                    wait = None if self._deadline is None else max(0, self._deadline - now_ms()) / 1000
                    self._cond.wait(wait)
            try:
                for sub, snap in notes:
                    if not sub._closed and sub.callback is not None:
                        try:
                            sub.callback(snap)
                        except Exception:
                            log.exception("mizan: subscriber callback for %s raised", sub.key)
            finally:
                with self._lock:
                    self._delivering = False
                    self._cond.notify_all()

    def _fire_due_timer(self) -> None:
        if self._deadline is not None and now_ms() >= self._deadline and not self._closed:
            self._deadline = None
            try:
                self._send([("tick", None)])
            except MizanKernelError as e:
                log.error("mizan: %s", e)

    def _wait(self, pred: Callable[[], Any], timeout: Optional[float]) -> Any:
        """Wait (lock held) until ``pred()`` is truthy. A waiter fires a due timer itself, so a
        callback blocking the background thread cannot stall retries."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            value = pred()
            if value:
                return value
            self._check_open()
            self._fire_due_timer()
            value = pred()
            if value:
                return value
            waits = []
            if end is not None:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the Mizan request did not settle in time")
                waits.append(remaining)
            if self._deadline is not None:
                waits.append(max(0.0, (self._deadline - now_ms()) / 1000))
            self._cond.wait(min(waits) if waits else None)

    def _settled(self, waiter: int) -> Callable[[], bool]:
        return lambda: self._waits.get(waiter) is not _PENDING

    def _await(self, waiter: int, timeout: Optional[float]) -> JSON:
        try:
            self._wait(self._settled(waiter), timeout)
        except BaseException:
            self._give_up(waiter)
            raise
        return self._outcome(waiter)

    # --- the API ---

    def fetch(self, context: str, params: Optional[Mapping[str, JSON]] = None, *, timeout: Optional[float] = None) -> Dict[str, JSON]:
        """The bundle ``{function: value}`` of ``(context, params)``: cached data when it is
        fresh, else the answer of a request (shared with any other caller fetching the same
        instance; retried by the session's policy). Raises :class:`MizanRequestError`, or
        ``TimeoutError`` after ``timeout`` seconds."""
        with self._lock:
            return self._await(self._begin_fetch(context, params), timeout)  # type: ignore[no-any-return]

    def call(
        self,
        fn: str,
        args: Optional[Mapping[str, JSON]] = None,
        optimistic: Optional[Sequence[Mapping[str, JSON]]] = None,
        *,
        timeout: Optional[float] = None,
    ) -> JSON:
        """Call a mutation; returns its ``result``. ``optimistic``: merge entries
        (``{"context", "slot", "value", "params"?}``) applied at once and rolled back exactly if
        the call fails. On success the server's merges are applied, then its invalidations
        (body and ``X-Mizan-Invalidate`` header): observed instances refetch in the background.
        The call goes once ``GET session/`` settled, with its CSRF token. Raises
        :class:`MizanRequestError` (nothing is invalidated then)."""
        with self._lock:
            return self._await(self._begin_call(fn, args, optimistic), timeout)

    def subscribe(self, context: str, params: Optional[Mapping[str, JSON]] = None, callback: Optional[Callback] = None) -> Subscription:
        """Observe ``(context, params)``: fetched now unless fresh, refetched whenever it is
        invalidated, kept until :meth:`Subscription.close`. ``callback(snapshot)`` runs on the
        background thread, once per change of this instance (the first right away), in order."""
        with self._lock:
            return self._do_subscribe(context, params, callback)

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._do_unsubscribe(sub)

    def _snapshot_key(self, key: str) -> Optional[Snapshot]:
        with self._lock:
            return self._do_snapshot_key(key)

    def _refetch_key(self, key: str) -> None:
        with self._lock:
            self._do(("refetch", key))

    def snapshot(self, context: str, params: Optional[Mapping[str, JSON]] = None) -> Optional[Snapshot]:
        """The cached state of ``(context, params)``, or ``None`` when the cache holds no such
        instance. Never fetches."""
        with self._lock:
            return self._do_snapshot(context, params)

    def prefetch(self, context: str, params: Optional[Mapping[str, JSON]] = None) -> None:
        """Warm the cache without observing and without waiting."""
        with self._lock:
            self._do(("prefetch", _ref(context, params)))

    def invalidate(self, entries: Union[Entry, Sequence[Entry]]) -> None:
        """Mark matching instances stale (``"ctx"`` or ``{"context", "params"?, "function"?}``);
        observed ones refetch, the others when next used. Keeps data."""
        with self._lock:
            self._do(("invalidate", _json(_entries(entries), "entries")))

    def remove(self, entries: Optional[Union[Entry, Sequence[Entry]]] = None) -> None:
        """Drop the data of matching instances (all with ``None``) at once."""
        with self._lock:
            self._do(("remove", None if entries is None else _json(_entries(entries), "entries")))

    def reset(self) -> None:
        """Identity changed (login, logout): drop every instance's data, fail pending calls and
        fetches (they raise ``RESET``) and fetch a new session. Observed instances refetch."""
        with self._lock:
            self._do(("reset", None))

    def focus(self) -> None:
        """The app regained focus: stale observed instances refetch (``refetch_on_focus``)."""
        with self._lock:
            self._do(("focus", None))

    def online(self) -> None:
        """The network came back: stale observed instances refetch, waiting retries go now."""
        with self._lock:
            self._do(("online", None))

    def dehydrate(self) -> Dict[str, JSON]:
        """``{"version": 1, "instances": [...]}``: successful instances, for SSR."""
        with self._lock:
            return json.loads(self._session.dehydrate())  # type: ignore[no-any-return]

    def hydrate(self, payload: Mapping[str, JSON]) -> None:
        """Seed instances from :meth:`dehydrate` output (dated now, on this client's clock)."""
        with self._lock:
            self._do(("hydrate", (_json(payload, "payload"), False)))

    def wait_idle(self, timeout: Optional[float] = None) -> None:
        """Block until no request runs, no retry waits and every notification was delivered
        (e.g. after :meth:`call`, until the refetches it caused are done)."""
        on_bg = threading.current_thread() is self._thread
        with self._lock:
            self._wait(lambda: self._idle() and (on_bg or not self._delivering), timeout)

    def close(self) -> None:
        """Stop the background thread and the I/O pool; close the transport if the client made
        it. Waiting calls raise ``CLOSED``; later use raises ``RuntimeError``."""
        with self._lock:
            if self._closed:
                return
            self._do_close()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_transport:
            self.transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncClient(_Core):
    """The asyncio Mizan client: :class:`Client`'s API with ``await`` on what waits (``fetch``,
    ``call``, ``wait_idle``, ``close``). Requests run as tasks, the session's timer is a
    ``loop.call_later``, callbacks run on the loop (a coroutine callback becomes a task). A client
    is bound to the event loop it is first used on; methods that start requests need it running.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        *,
        transport: Optional[AsyncTransport] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: float = 10.0,
        **config: JSON,
    ) -> None:
        if (base_url is None) == (transport is None):
            raise TypeError("AsyncClient needs a base URL or a transport (one of them)")
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._tasks: set = set()
        self._callback_tasks: set = set()
        self._waiters: List["asyncio.Future[None]"] = []
        self._delivery_scheduled = False
        config.setdefault("request_timeout_ms", int(timeout * 1000))
        self._owns_transport = transport is None
        self.transport: AsyncTransport = (
            transport if transport is not None else AsyncHttpTransport(base_url, headers=headers, timeout=timeout)  # type: ignore[arg-type]
        )
        self._init_core(self.transport, config)

    def __repr__(self) -> str:
        return f"AsyncClient({self.transport!r}{', closed' if self._closed else ''})"

    def _enter(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        self._check_open()
        if self._loop is None:
            self._loop = loop
            self._do_start_session()  # GET session/
        elif loop is not self._loop:
            raise RuntimeError("an AsyncClient is bound to the event loop it was first used on")
        return loop

    # --- hooks ---

    def _task(self, coro: Any) -> "asyncio.Task[Any]":
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _callback_done(self, task: "asyncio.Task[Any]") -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("mizan: subscriber callback raised", exc_info=task.exception())
        self._wake()

    def _start(self, request: Dict[str, Any]) -> None:
        self._task(self._perform_request(request))

    def _set_timer(self, now: int, delay_ms: int) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(delay_ms / 1000, self._on_timer)

    def _wake(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()
        if self._notes and not self._delivery_scheduled and self._loop is not None:
            self._delivery_scheduled = True
            self._loop.call_soon(self._deliver)

    # --- the loop's work ---

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        try:
            self._send([("tick", None)])
        except MizanKernelError as e:
            log.error("mizan: %s", e)

    def _deliver(self) -> None:
        self._delivery_scheduled = False
        while self._notes:
            sub, snap = self._notes.popleft()
            if sub._closed or sub.callback is None:
                continue
            try:
                out = sub.callback(snap)
                if inspect.isawaitable(out):
                    task = self._task(out)
                    self._callback_tasks.add(task)
                    task.add_done_callback(self._callback_done)
            except Exception:
                log.exception("mizan: subscriber callback for %s raised", sub.key)
        self._wake()  # wait_idle waiters

    async def _perform_request(self, request: Dict[str, Any]) -> None:
        session = self._session
        try:
            if self._http:
                outcome: Any = ("http", await self.transport.request(*self._http_request(request)))  # type: ignore[attr-defined]
            else:
                case, op = request["op"]
                if case == "fetch":
                    outcome = _decoded(await self.transport.fetch(op["context"], json.loads(op["params-json"]), op["query"]))
                elif case == "call":
                    outcome = _decoded(*await self.transport.call(op["function"], json.loads(op["args-json"]), op["csrf-token"]))
                else:
                    outcome = _decoded(await self.transport.session())
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a failure, or a transport bug: an answer either way, never a hang
            if not isinstance(e, TransportError):
                log.exception("mizan: transport failed")
            outcome = _failed(e)
        try:
            self._answer(request, outcome, session)
        except MizanKernelError as e:  # a trap: _send started over already
            log.error("mizan: %s", e)

    async def _wait(self, pred: Callable[[], Any], timeout: Optional[float]) -> Any:
        loop = self._enter()
        end = None if timeout is None else loop.time() + timeout
        while True:
            value = pred()
            if value:
                return value
            self._check_open()
            remaining = None
            if end is not None:
                remaining = end - loop.time()
                if remaining <= 0:
                    raise TimeoutError("the Mizan request did not settle in time")
            fut: "asyncio.Future[None]" = loop.create_future()
            self._waiters.append(fut)
            await asyncio.wait({fut}, timeout=remaining)

    async def _await(self, waiter: int, timeout: Optional[float]) -> JSON:
        try:
            await self._wait(lambda: self._waits.get(waiter) is not _PENDING, timeout)
        except BaseException:
            self._give_up(waiter)
            raise
        return self._outcome(waiter)

    # --- the API ---

    async def fetch(self, context: str, params: Optional[Mapping[str, JSON]] = None, *, timeout: Optional[float] = None) -> Dict[str, JSON]:
        """See :meth:`Client.fetch`."""
        self._enter()
        return await self._await(self._begin_fetch(context, params), timeout)  # type: ignore[no-any-return]

    async def call(
        self,
        fn: str,
        args: Optional[Mapping[str, JSON]] = None,
        optimistic: Optional[Sequence[Mapping[str, JSON]]] = None,
        *,
        timeout: Optional[float] = None,
    ) -> JSON:
        """See :meth:`Client.call`."""
        self._enter()
        return await self._await(self._begin_call(fn, args, optimistic), timeout)

    def subscribe(self, context: str, params: Optional[Mapping[str, JSON]] = None, callback: Optional[Callback] = None) -> Subscription:
        """See :meth:`Client.subscribe`; ``callback`` runs on the loop (sync, or a coroutine
        function whose coroutine becomes a task). Call from the running loop."""
        self._enter()
        return self._do_subscribe(context, params, callback)

    def _unsubscribe(self, sub: Subscription) -> None:
        self._do_unsubscribe(sub)

    def _snapshot_key(self, key: str) -> Optional[Snapshot]:
        return self._do_snapshot_key(key)

    def _refetch_key(self, key: str) -> None:
        self._enter()
        self._do(("refetch", key))

    def snapshot(self, context: str, params: Optional[Mapping[str, JSON]] = None) -> Optional[Snapshot]:
        """See :meth:`Client.snapshot`."""
        return self._do_snapshot(context, params)

    def prefetch(self, context: str, params: Optional[Mapping[str, JSON]] = None) -> None:
        self._enter()
        self._do(("prefetch", _ref(context, params)))

    def invalidate(self, entries: Union[Entry, Sequence[Entry]]) -> None:
        self._enter()
        self._do(("invalidate", _json(_entries(entries), "entries")))

    def remove(self, entries: Optional[Union[Entry, Sequence[Entry]]] = None) -> None:
        self._enter()
        self._do(("remove", None if entries is None else _json(_entries(entries), "entries")))

    def reset(self) -> None:
        self._enter()
        self._do(("reset", None))

    def focus(self) -> None:
        self._enter()
        self._do(("focus", None))

    def online(self) -> None:
        self._enter()
        self._do(("online", None))

    def dehydrate(self) -> Dict[str, JSON]:
        return json.loads(self._session.dehydrate())  # type: ignore[no-any-return]

    def hydrate(self, payload: Mapping[str, JSON]) -> None:
        self._enter()
        self._do(("hydrate", (_json(payload, "payload"), False)))

    async def wait_idle(self, timeout: Optional[float] = None) -> None:
        """See :meth:`Client.wait_idle`; includes the tasks of coroutine callbacks (other than
        the one calling)."""
        me = asyncio.current_task()
        await self._wait(lambda: self._idle() and not self._delivery_scheduled and not (self._callback_tasks - {me}), timeout)

    async def close(self) -> None:
        """Cancel running requests and the timer; close the transport if the client made it."""
        if self._closed:
            return
        self._do_close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._wake()
        if self._owns_transport:
            await self.transport.aclose()

    aclose = close

    async def __aenter__(self) -> "AsyncClient":
        self._enter()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
