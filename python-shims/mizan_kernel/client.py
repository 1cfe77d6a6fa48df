"""Python clients over the kernel's client store (KERNEL.md §7): :class:`Client` (threads) and
:class:`AsyncClient` (asyncio).

Both are thin hosts. The store decides everything — de-duplication, staleness, retries and
their backoff, invalidation matching, merges, optimistic rollback, gc; the client only performs
the effects :meth:`Store.drain` hands it (``fetch``, ``call``, ``session`` through a transport,
``schedule`` as a timer), feeds the answers back, and tells subscribers which instances changed.

Time is ``time.monotonic()`` in milliseconds (:func:`now_ms`): immune to wall-clock jumps, so a
clock change never makes data fresh or stale. Snapshot ``updated_at`` values are on that clock
(milliseconds since an arbitrary start, comparable with :func:`now_ms`, not epoch time).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ._errors import MizanKernelError
from ._jsonio import _json
from ._runtime import runtime
from ._store import Store
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
    """A fetch or a call that failed, as the store reports it: ``code`` (``NOT_FOUND``,
    ``VALIDATION_ERROR``, ``INTERNAL_ERROR``, ``NETWORK_ERROR``, ``HTTP_418``…), ``message`` and
    the server's ``details`` (or ``None``)."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details

    def __reduce__(self) -> Any:
        return (type(self), (self.code, self.message, self.details))

    @classmethod
    def _of(cls, error: Optional[Mapping[str, Any]]) -> "MizanRequestError":
        error = error or {}
        return cls(str(error.get("code", "UNKNOWN")), str(error.get("message", "Request failed")), error.get("details"))


_CANCELLED = {"code": "CANCELLED", "message": "The client was reset while the request was pending"}
_PENDING = object()


def _entries(entries: Union[Entry, Sequence[Entry]]) -> List[Entry]:
    return [entries] if isinstance(entries, (str, Mapping)) else list(entries)


class Subscription:
    """An observed instance: the store keeps it fresh (refetching it when invalidated) until
    :meth:`close`. ``key`` is the store's instance key."""

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


class _Core:
    """Store bookkeeping shared by both clients. Every method here runs with exclusive access
    to the store (the sync client's lock, or the asyncio loop's thread)."""

    _store: Store
    _closed: bool

    def _init_core(self, store_config: Mapping[str, JSON]) -> None:
        config = dict(store_config)
        # The store's retry jitter is seeded by the host, with a random value (tests pass one).
        config.setdefault("seed", secrets.randbits(63))
        self._store = Store(config)
        self._subs: Dict[str, List[Subscription]] = {}
        # (context, params) → instance key, learned from the store (it owns canonicalization).
        self._keys: Dict[str, str] = {}
        self._idents: Dict[str, Set[str]] = {}
        # Fetch request in flight per instance, and instances waiting for a retry timer: only so
        # that blocking `fetch` knows when an instance has settled.
        self._current: Dict[str, int] = {}
        self._retrying: Set[str] = set()
        self._inflight = 0
        self._session_rid: Optional[int] = None
        self._waits: Dict[int, Any] = {}
        self._abandoned: Set[int] = set()
        self._notes: Deque[Tuple[Subscription, Snapshot]] = deque()
        self._closed = False
        self._broken: Optional[BaseException] = None
        self._store.start()

    # --- hooks of the concrete clients ---

    def _start(self, kind: str, effect: Dict[str, Any]) -> None:
        raise NotImplementedError

    def _set_timer(self, now: int, delay_ms: int) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        raise NotImplementedError

    # --- bookkeeping ---

    def _check_open(self) -> None:
        if self._broken is not None:
            raise self._broken
        if self._closed:
            raise RuntimeError("the Mizan client is closed")

    @staticmethod
    def _ident(context: str, params: Mapping[str, JSON]) -> str:
        # The invalidation header of one entry is the kernel's canonical, stringified, sorted
        # spelling of (context, params): `5` and `"5"` give one text, like one instance key.
        try:
            return runtime().call("format_invalidate_header", _json([{"context": context, "params": dict(params)}], "params"))
        except MizanKernelError:
            return "\0" + context + "\0" + runtime().call("canonical_json", _json(dict(params), "params"))

    def _remember(self, context: str, params: Mapping[str, JSON], key: str) -> None:
        if key in self._idents:
            return
        ident = self._ident(context, params)
        self._keys[ident] = key
        self._idents.setdefault(key, set()).add(ident)

    def _forget(self, key: str) -> None:
        for ident in self._idents.pop(key, ()):
            if self._keys.get(ident) == key:
                del self._keys[ident]
        self._current.pop(key, None)
        self._retrying.discard(key)

    def _key_of(self, context: str, params: Optional[Mapping[str, JSON]]) -> Optional[str]:
        return self._keys.get(self._ident(context, dict(params or {})))

    def _pump(self, now: Optional[int] = None) -> None:
        """Drain the store: start its effects, queue notifications, settle waited mutations."""
        now = now_ms() if now is None else now
        drained = self._store.drain(now)
        for effect in drained["effects"]:
            kind = effect["type"]
            if kind == "fetch":
                self._current[effect["key"]] = effect["request_id"]
                self._retrying.discard(effect["key"])
                self._inflight += 1
                self._start(kind, effect)
            elif kind in ("call", "session"):
                if kind == "session":
                    self._session_rid = effect["request_id"]
                self._inflight += 1
                self._start(kind, effect)
            elif kind == "schedule":
                self._set_timer(now, int(effect["delay_ms"]))
        for key in drained["changed"]:
            snap = self._store.snapshot(key, now)
            if snap is None:  # dropped: gc, eviction, remove
                self._forget(key)
                continue
            if key not in self._idents:  # created by hydrate
                self._remember(snap["context"], snap["params"], key)
            for sub in self._subs.get(key, ()):
                self._notes.append((sub, snap))
        for mid in drained["mutations"]:
            if mid in self._waits:
                m = self._store.mutation(mid)
                if m is None or m["status"] != "pending":
                    if mid in self._abandoned:  # its caller timed out: nobody reads the result
                        self._abandoned.discard(mid)
                        del self._waits[mid]
                        if m is not None:
                            self._store.release_mutation(mid)
                    else:
                        self._waits[mid] = m
        self._wake()

    def _result(self, kind: str, effect: Dict[str, Any], body: JSON, header: Optional[str], error: Optional[JSON]) -> None:
        """Feed one transport answer back to the store (then the caller pumps)."""
        self._inflight -= 1
        now = now_ms()
        rid = effect["request_id"]
        if kind == "fetch":
            key = effect["key"]
            current = self._current.get(key) == rid
            if current:
                del self._current[key]
            if error is None:
                try:
                    self._store.fetch_ok(rid, body, now)
                except MizanKernelError as e:
                    if e.code == "trap":
                        raise
                    # Not sendable as JSON (NaN from a lenient parser): the store rejects `null`.
                    self._store.fetch_ok(rid, None, now)
            else:
                self._store.fetch_err(rid, error, now)
                if current:
                    snap = self._store.snapshot(key, now)
                    if snap is not None and snap["status"] != "error" and not snap["is_fetching"]:
                        self._retrying.add(key)  # the store scheduled a retry
        elif kind == "call":
            if error is None:
                try:
                    self._store.call_ok(rid, body, header)
                except MizanKernelError as e:
                    if e.code == "trap":
                        raise
                    # The store failed the mutation already (malformed body or header), unless the
                    # body never reached it (not sendable as JSON): then this fails it.
                    self._store.call_err(rid, {"status": 502, "code": "INVALID_RESPONSE", "message": e.message})
            else:
                self._store.call_err(rid, error)
        else:  # session
            if error is None and isinstance(body, dict):
                try:
                    self._store.session_ok(rid, body)
                except MizanKernelError as e:
                    if e.code == "trap":
                        raise
            elif error is not None:
                log.warning("mizan: GET /session/ failed: %s", error)
            if self._session_rid == rid:
                self._session_rid = None

    def _settled(self, key: str) -> Optional[Snapshot]:
        """The instance's snapshot once it has settled (no request running, no retry waiting)."""
        if key in self._retrying:
            return None
        snap = self._store.snapshot(key, now_ms())
        if snap is None:
            return {"status": "error", "error": _CANCELLED, "data": None}
        if snap["is_fetching"] or snap["status"] not in ("success", "error"):
            return None
        return snap

    def _idle(self) -> bool:
        return self._inflight == 0 and not self._retrying and not self._notes

    @staticmethod
    def _bundle(snap: Snapshot) -> Dict[str, JSON]:
        if snap["status"] == "error":
            raise MizanRequestError._of(snap["error"])
        return snap["data"]

    @staticmethod
    def _outcome(m: Optional[Mapping[str, Any]]) -> JSON:
        if m is None:
            raise MizanRequestError._of(_CANCELLED)
        if m["status"] == "error":
            raise MizanRequestError._of(m["error"])
        return m["result"]

    def _fail(self, e: BaseException) -> None:
        """The store is gone (a kernel trap): every waiter and later call raises ``e``."""
        log.error("mizan: the client store failed: %s", e)
        self._broken = e
        self._wake()

    # --- operations shared by both clients (exclusive access held by the caller) ---

    def _do_subscribe(self, context: str, params: Optional[Mapping[str, JSON]], callback: Optional[Callback]) -> Subscription:
        self._check_open()
        p = dict(params or {})
        key = self._store.subscribe(context, p, now_ms())
        self._remember(context, p, key)
        sub = Subscription(self, key, context, p, callback)
        self._subs.setdefault(key, []).append(sub)
        self._pump()
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
        if not self._closed and self._broken is None:
            self._store.unsubscribe(sub.key, now_ms())
            self._pump()

    def _do_snapshot(self, context: str, params: Optional[Mapping[str, JSON]]) -> Optional[Snapshot]:
        key = self._key_of(context, params)
        return None if key is None else self._store.snapshot(key, now_ms())

    def _do_prefetch(self, context: str, params: Optional[Mapping[str, JSON]]) -> None:
        self._check_open()
        p = dict(params or {})
        key = self._store.prefetch(context, p, now_ms())
        self._remember(context, p, key)
        self._pump()

    def _do_refetch(self, key: str) -> None:
        self._check_open()
        self._store.refetch(key)
        self._pump()

    def _do_invalidate(self, entries: Union[Entry, Sequence[Entry]]) -> None:
        self._check_open()
        self._store.invalidate(_entries(entries))
        self._pump()

    def _do_remove(self, entries: Optional[Union[Entry, Sequence[Entry]]]) -> None:
        self._check_open()
        self._store.remove(None if entries is None else _entries(entries))
        self._pump()

    def _do_reset(self) -> None:
        self._check_open()
        self._store.reset()
        self._pump()

    def _do_focus(self) -> None:
        self._check_open()
        self._store.focus(now_ms())
        self._pump()

    def _do_online(self) -> None:
        self._check_open()
        self._store.online(now_ms())
        self._pump()

    def _do_hydrate(self, payload: Mapping[str, JSON]) -> None:
        self._check_open()
        self._store.hydrate(payload, now_ms())
        self._pump()

    def _do_tick(self) -> None:
        if self._closed or self._broken is not None:
            return
        now = now_ms()
        self._store.tick(now)
        self._pump(now)

    def _begin_fetch(self, context: str, params: Optional[Mapping[str, JSON]]) -> str:
        self._check_open()
        p = dict(params or {})
        now = now_ms()
        key = self._store.subscribe(context, p, now)
        self._remember(context, p, key)
        self._pump(now)
        return key

    def _end_fetch(self, key: str) -> None:
        if not self._closed and self._broken is None:
            self._store.unsubscribe(key, now_ms())
            self._pump()

    def _begin_call(self, fn: str, args: Optional[Mapping[str, JSON]], optimistic: Optional[Sequence[Mapping[str, JSON]]]) -> int:
        self._check_open()
        mid = self._store.mutate(fn, dict(args or {}), None if optimistic is None else list(optimistic))
        self._waits[mid] = _PENDING
        self._pump()
        return mid

    def _end_call(self, mid: int) -> Optional[Mapping[str, Any]]:
        m = self._waits.pop(mid)
        if m is not None:
            self._store.release_mutation(mid)
        return m

    def _abandon_call(self, mid: int) -> None:
        if self._waits.get(mid, _PENDING) is _PENDING:
            self._abandoned.add(mid)
        else:
            self._end_call(mid)


class Client(_Core):
    """A synchronous Mizan client over the kernel store, for scripts, CLIs and desktop apps.

    ``Client("http://127.0.0.1:8000/api/mizan", stale_time_ms=30_000)``: the keyword arguments
    other than ``transport``, ``headers``, ``timeout`` and ``max_workers`` are the store's
    configuration (``stale_time_ms``, ``gc_time_ms``, ``retries``, ``retry_base_ms``,
    ``retry_max_ms``, ``max_instances``, ``refetch_on_focus``, ``refetch_on_reconnect``, ``seed``).

    Threads: requests run on a pool of ``max_workers`` I/O threads; timers (retries, gc) and
    subscriber callbacks run on one background thread (``mizan-client``). Every store access
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
        **store_config: JSON,
    ) -> None:
        if (base_url is None) == (transport is None):
            raise TypeError("Client needs a base URL or a transport (one of them)")
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._deadline: Optional[int] = None
        self._delivering = False
        self._init_core(store_config)  # raises on a bad store configuration, before any thread
        self._owns_transport = transport is None
        self.transport: Transport = transport if transport is not None else HttpTransport(base_url, headers=headers, timeout=timeout)  # type: ignore[arg-type]
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="mizan-client-io")
        self._thread = threading.Thread(target=self._run, name="mizan-client", daemon=True)
        self._thread.start()
        with self._lock:
            self._pump()  # GET /session/

    def __repr__(self) -> str:
        return f"Client({self.transport!r}{', closed' if self._closed else ''})"

    # --- hooks ---

    def _start(self, kind: str, effect: Dict[str, Any]) -> None:
        try:
            self._pool.submit(self._perform, kind, effect)
        except RuntimeError:  # the pool is shut down: the client is closing
            self._inflight -= 1

    def _set_timer(self, now: int, delay_ms: int) -> None:
        self._deadline = now + delay_ms

    def _wake(self) -> None:
        self._cond.notify_all()

    # --- threads ---

    def _perform(self, kind: str, effect: Dict[str, Any]) -> None:
        """On an I/O thread: one request, then its answer into the store."""
        body: JSON = None
        header: Optional[str] = None
        error: Optional[JSON] = None
        try:
            if kind == "fetch":
                body = self.transport.fetch(effect["context"], effect["params"], effect["query"])
            elif kind == "call":
                body, header = self.transport.call(effect["fn"], effect["args"], effect.get("csrf_token"))
            else:
                body = self.transport.session()
        except TransportError as e:
            error = e.error
        except Exception as e:  # a transport bug: report it as a failed request rather than hang
            log.exception("mizan: transport %s failed", kind)
            error = {"network": True, "message": f"{type(e).__name__}: {e}"}
        with self._lock:
            if self._closed or self._broken is not None:
                return
            try:
                self._result(kind, effect, body, header, error)
                self._pump()
            except MizanKernelError as e:
                self._fail(e)

    def _run(self) -> None:
        """The background thread: fires the store's timer and delivers notifications in order."""
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
                    wait = None if self._deadline is None or self._broken is not None else max(0, self._deadline - now_ms()) / 1000
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
        if self._deadline is not None and self._broken is None and now_ms() >= self._deadline:
            self._deadline = None
            try:
                self._do_tick()
            except MizanKernelError as e:
                self._fail(e)

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

    # --- the API ---

    def fetch(self, context: str, params: Optional[Mapping[str, JSON]] = None, *, timeout: Optional[float] = None) -> Dict[str, JSON]:
        """The bundle ``{function: value}`` of ``(context, params)``: cached data when it is
        fresh, else the answer of a request (shared with any other caller fetching the same
        instance; retried by the store's policy). Raises :class:`MizanRequestError`, or
        ``TimeoutError`` after ``timeout`` seconds."""
        with self._lock:
            key = self._begin_fetch(context, params)
            try:
                snap = self._wait(lambda: self._settled(key), timeout)
            finally:
                self._end_fetch(key)
        return self._bundle(snap)

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
        Raises :class:`MizanRequestError` (nothing is invalidated then)."""
        with self._lock:
            self._check_open()
            end = None if timeout is None else time.monotonic() + timeout
            # The first call waits for GET /session/ so that it carries the CSRF token.
            self._wait(lambda: self._session_rid is None, timeout)
            mid = self._begin_call(fn, args, optimistic)
            try:
                self._wait(lambda: self._waits.get(mid) is not _PENDING, None if end is None else end - time.monotonic())
            except BaseException:
                self._abandon_call(mid)
                raise
            m = self._end_call(mid)
        return self._outcome(m)

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
            return self._store.snapshot(key, now_ms())

    def _refetch_key(self, key: str) -> None:
        with self._lock:
            self._do_refetch(key)

    def snapshot(self, context: str, params: Optional[Mapping[str, JSON]] = None) -> Optional[Snapshot]:
        """The cached state of ``(context, params)``, or ``None`` when the store holds no such
        instance. Never fetches."""
        with self._lock:
            return self._do_snapshot(context, params)

    def prefetch(self, context: str, params: Optional[Mapping[str, JSON]] = None) -> None:
        """Warm the cache without observing and without waiting."""
        with self._lock:
            self._do_prefetch(context, params)

    def invalidate(self, entries: Union[Entry, Sequence[Entry]]) -> None:
        """Mark matching instances stale (``"ctx"`` or ``{"context", "params"?, "function"?}``);
        observed ones refetch, the others when next used. Keeps data."""
        with self._lock:
            self._do_invalidate(entries)

    def remove(self, entries: Optional[Union[Entry, Sequence[Entry]]] = None) -> None:
        """Drop the data of matching instances (all with ``None``) at once."""
        with self._lock:
            self._do_remove(entries)

    def reset(self) -> None:
        """Identity changed (login, logout): drop every instance's data, cancel pending calls
        (they raise ``CANCELLED``) and fetch a new session. Observed instances refetch."""
        with self._lock:
            self._do_reset()

    def focus(self) -> None:
        """The app regained focus: stale observed instances refetch (``refetch_on_focus``)."""
        with self._lock:
            self._do_focus()

    def online(self) -> None:
        """The network came back: stale observed instances refetch, waiting retries go now."""
        with self._lock:
            self._do_online()

    def dehydrate(self) -> Dict[str, JSON]:
        """``{"version": 1, "instances": [...]}``: successful instances, for SSR."""
        with self._lock:
            return self._store.dehydrate()

    def hydrate(self, payload: Mapping[str, JSON]) -> None:
        """Seed instances from :meth:`dehydrate` output (dated now, on this client's clock)."""
        with self._lock:
            self._do_hydrate(payload)

    def wait_idle(self, timeout: Optional[float] = None) -> None:
        """Block until no request runs, no retry waits and every notification was delivered
        (e.g. after :meth:`call`, until the refetches it caused are done)."""
        on_bg = threading.current_thread() is self._thread
        with self._lock:
            self._wait(lambda: self._idle() and (on_bg or not self._delivering), timeout)

    def close(self) -> None:
        """Stop the background thread and the I/O pool; close the transport if the client made
        it. Waiting calls raise ``RuntimeError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
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
    ``call``, ``wait_idle``, ``close``). Requests run as tasks, the store's timer is a
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
        **store_config: JSON,
    ) -> None:
        if (base_url is None) == (transport is None):
            raise TypeError("AsyncClient needs a base URL or a transport (one of them)")
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._callback_tasks: Set["asyncio.Task[Any]"] = set()
        self._waiters: List["asyncio.Future[None]"] = []
        self._delivery_scheduled = False
        self._init_core(store_config)
        self._owns_transport = transport is None
        self.transport: AsyncTransport = (
            transport if transport is not None else AsyncHttpTransport(base_url, headers=headers, timeout=timeout)  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        return f"AsyncClient({self.transport!r}{', closed' if self._closed else ''})"

    def _enter(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        self._check_open()
        if self._loop is None:
            self._loop = loop
            self._pump()  # GET /session/
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

    def _start(self, kind: str, effect: Dict[str, Any]) -> None:
        self._task(self._perform(kind, effect))

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
        try:
            self._do_tick()
        except MizanKernelError as e:
            self._fail(e)

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

    async def _perform(self, kind: str, effect: Dict[str, Any]) -> None:
        body: JSON = None
        header: Optional[str] = None
        error: Optional[JSON] = None
        try:
            if kind == "fetch":
                body = await self.transport.fetch(effect["context"], effect["params"], effect["query"])
            elif kind == "call":
                body, header = await self.transport.call(effect["fn"], effect["args"], effect.get("csrf_token"))
            else:
                body = await self.transport.session()
        except TransportError as e:
            error = e.error
        except Exception as e:  # a transport bug: report it as a failed request rather than hang
            log.exception("mizan: transport %s failed", kind)
            error = {"network": True, "message": f"{type(e).__name__}: {e}"}
        if self._closed or self._broken is not None:
            return
        try:
            self._result(kind, effect, body, header, error)
            self._pump()
        except MizanKernelError as e:
            self._fail(e)

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

    # --- the API ---

    async def fetch(self, context: str, params: Optional[Mapping[str, JSON]] = None, *, timeout: Optional[float] = None) -> Dict[str, JSON]:
        """See :meth:`Client.fetch`."""
        self._enter()
        key = self._begin_fetch(context, params)
        try:
            snap = await self._wait(lambda: self._settled(key), timeout)
        finally:
            self._end_fetch(key)
        return self._bundle(snap)

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
        end = None if timeout is None else time.monotonic() + timeout
        await self._wait(lambda: self._session_rid is None, timeout)
        mid = self._begin_call(fn, args, optimistic)
        try:
            await self._wait(lambda: self._waits.get(mid) is not _PENDING, None if end is None else end - time.monotonic())
        except BaseException:
            self._abandon_call(mid)
            raise
        return self._outcome(self._end_call(mid))

    def subscribe(self, context: str, params: Optional[Mapping[str, JSON]] = None, callback: Optional[Callback] = None) -> Subscription:
        """See :meth:`Client.subscribe`; ``callback`` runs on the loop (sync, or a coroutine
        function whose coroutine becomes a task). Call from the running loop."""
        self._enter()
        return self._do_subscribe(context, params, callback)

    def _unsubscribe(self, sub: Subscription) -> None:
        self._do_unsubscribe(sub)

    def _snapshot_key(self, key: str) -> Optional[Snapshot]:
        return self._store.snapshot(key, now_ms())

    def _refetch_key(self, key: str) -> None:
        self._enter()
        self._do_refetch(key)

    def snapshot(self, context: str, params: Optional[Mapping[str, JSON]] = None) -> Optional[Snapshot]:
        """See :meth:`Client.snapshot`."""
        return self._do_snapshot(context, params)

    def prefetch(self, context: str, params: Optional[Mapping[str, JSON]] = None) -> None:
        self._enter()
        self._do_prefetch(context, params)

    def invalidate(self, entries: Union[Entry, Sequence[Entry]]) -> None:
        self._enter()
        self._do_invalidate(entries)

    def remove(self, entries: Optional[Union[Entry, Sequence[Entry]]] = None) -> None:
        self._enter()
        self._do_remove(entries)

    def reset(self) -> None:
        self._enter()
        self._do_reset()

    def focus(self) -> None:
        self._enter()
        self._do_focus()

    def online(self) -> None:
        self._enter()
        self._do_online()

    def dehydrate(self) -> Dict[str, JSON]:
        return self._store.dehydrate()

    def hydrate(self, payload: Mapping[str, JSON]) -> None:
        self._enter()
        self._do_hydrate(payload)

    async def wait_idle(self, timeout: Optional[float] = None) -> None:
        """See :meth:`Client.wait_idle`; includes the tasks of coroutine callbacks (other than
        the one calling)."""
        me = asyncio.current_task()
        await self._wait(
            lambda: self._idle() and not self._delivery_scheduled and not (self._callback_tasks - {me}), timeout
        )

    async def close(self) -> None:
        """Cancel running requests and the timer; close the transport if the client made it."""
        if self._closed:
            return
        self._closed = True
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
