"""The framework-independent host: an interpreter of the kernel's exchange (docs/SERVER.md "The
exchange") for FastAPI (:mod:`mizan_kernel.fastapi`, async) and Django
(:mod:`mizan_kernel.django`, sync).

Per request the kernel's exchange (:mod:`mizan_kernel._exchange`) says what to do, one effect at a
time, and this module only does it: resolve the session identity, check a revoked session,
evaluate predicates, run the user's functions, read and write the origin cache, purge, keep a
failed purge and hand it back, log, and send the response exactly as given. Every decision is the
kernel's: when the session is needed at all, unknown predicates denied, a missing implementation
as a 500, the purge fence, a cache read failure as a miss, purge → put → respond, the log lines.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import logging
import secrets as _secrets
import threading
import uuid
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from ._jsonio import _NOT_JSON, _dump, _loads
from .decorators import _CURRENT, Functions, FunctionSpec, RequestContext, default_functions
from ._exchange import Effect, Event, ExchangeServer, plan_in, plan_out
from .origin import OriginCache, make_store
from .server import (
    CacheBound,
    CachePut,
    Engine,
    Identity,
    Outcome,
    ProtocolError,
    PurgePlan,
    Request,
    Response,
    _identity_in,
    _identity_out,
    _response,
    now_ms,
    redis_plan_json,
)

log = logging.getLogger("mizan_kernel.server")

Predicate = Callable[[Optional[Identity], Any], Union[bool, Awaitable[bool]]]


def _jsonable(v: Any) -> Any:
    if isinstance(v, enum.Enum):  # a string enum's member (IR enums) goes out as its value
        return v.value
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dataclasses.asdict(v)
    dump = getattr(v, "model_dump", None)  # pydantic v2
    if callable(dump):
        return dump(mode="json")
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


def result_outcome(name: str, value: Any) -> Outcome:
    """A function's return value as the ``ok`` outcome (JSON text), or an exception outcome
    when it cannot be sent as JSON (NaN, an unknown object; the exchange logs it)."""
    try:
        return Outcome("ok", _dump(value))
    except _NOT_JSON:
        pass
    try:
        text = json.dumps(value, default=_jsonable, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return Outcome("ok", text)
    except _NOT_JSON as e:
        return Outcome("exception", f"`{name}` returned a value that is not JSON: {e}")


def raw_query(raw: bytes) -> str:
    """The query string as the engine takes it: the bytes as they arrived, with every byte that
    is not printable ASCII percent-encoded, so raw non-UTF-8 bytes reach the kernel's strict
    decoder (the documented 400 "Invalid query string") instead of a framework's guess."""
    if all(0x21 <= b <= 0x7E for b in raw):
        return raw.decode("ascii")
    return "".join(chr(b) if 0x21 <= b <= 0x7E else f"%{b:02X}" for b in raw)


def _cache_put(rec: Mapping[str, Any]) -> CachePut:
    """A ``put`` effect's entry as the stores take it."""
    bound = rec["bound"]
    return CachePut(
        rec["key"], rec["body"], rec["index-keys"], rec["ttl-seconds"],
        None if bound is None else CacheBound(bound["set"], bound["max-entries"]),
    )


#: The answers still given after ``respond``: a purge or put that came with the response is
#: answered only when it failed (its log line, a failed purge kept pending, before the response
#: is sent).
_FAILED = ("purge-failed", "put-failed")


class _Flow:
    """One request on the host's side of its exchange: what the host needs to perform the
    effects, and the failures it reported, whose tracebacks go with the line the exchange logs
    about each (the line quotes the text the host reported)."""

    __slots__ = ("http_request", "identity", "resolve", "response", "failures")

    def __init__(self, http_request: Any, identity: Optional[Identity], resolve: Optional[Callable[[], Any]]) -> None:
        self.http_request = http_request
        self.identity = identity
        self.resolve = resolve
        self.response: Optional[Response] = None
        self.failures: List[Tuple[str, BaseException]] = []

    def failed(self, case: str, e: BaseException) -> Event:
        """The event reporting a failure (``lookup-failed``, ``raised``…), its text the
        exception's; the traceback is kept for the log line."""
        text = f"{type(e).__name__}: {e}"
        self.failures.append((text, e))
        return (case, text)

    def raised(self, e: BaseException) -> Outcome:
        """A function's exception as its outcome: an error raised on purpose (``ProtocolError``,
        ``NotImplementedError``) is its answer; anything else a 500 that never leaks it, and a
        line the exchange logs at error level (with this traceback)."""
        outcome = Outcome.from_exception(e)
        if outcome.case == "exception":
            self.failures.append((outcome.payload, e))
        return outcome

    def traceback_for(self, line: str) -> Optional[BaseException]:
        for i, (text, e) in enumerate(self.failures):
            if text in line:
                del self.failures[i]
                return e
        return None

    def result(self, name: str, value: Any) -> Outcome:
        return result_outcome(name, value)


class MizanApp:
    """The functions, the engine, the origin store and the flow.

    ``functions``: a :class:`~mizan_kernel.decorators.Functions` (``@functions.client``), a list
    of functions decorated with the module-level ``@client``, or the registry (a ``Registry``,
    KDL IR text or the JSON form) together with ``implementations={name: callable}``.

    ``cache``: ``None`` (no origin cache), ``"memory"`` (the kernel's in-memory store), a
    ``redis://`` URL or an :class:`~mizan_kernel.origin.OriginCache` (e.g. ``RedisOriginStore``).
    ``cache_secret``, ``mwt_secret``, ``jwt_secret``: the three secrets (they must differ); an
    in-memory cache without a ``cache_secret`` gets a random one (entries live in this process
    only). ``predicates``: ``{name: fn(identity, request) -> bool}`` for ``auth="predicate:NAME"``
    (also taken from the ``Functions``); an unknown predicate denies. ``revoked``:
    ``fn(session_id) -> bool`` — a JWT whose ``sid`` is revoked is answered 401 "Session
    revoked". ``threadpool``: run plain ``def`` functions in a worker thread (FastAPI; default).
    Other keyword arguments are engine config (``body_limit``, ``safety_ttl_seconds``,
    ``mwt_ttl_seconds``, ``token_leeway_seconds``…).
    """

    def __init__(
        self,
        functions: Any = None,
        *,
        implementations: Optional[Mapping[str, Callable[..., Any]]] = None,
        cache: Union[None, str, OriginCache] = None,
        base_path: str = "/api/mizan",
        cache_secret: Optional[str] = None,
        mwt_secret: Optional[str] = None,
        jwt_secret: Optional[str] = None,
        predicates: Optional[Mapping[str, Predicate]] = None,
        revoked: Optional[Callable[[str], Any]] = None,
        threadpool: bool = True,
        **engine_config: Any,
    ) -> None:
        registry, specs, preds = _collect(functions, implementations)
        self.functions: Dict[str, FunctionSpec] = specs
        self.predicates: Dict[str, Predicate] = dict(preds)
        self.predicates.update(predicates or {})
        self.store = make_store(cache)
        if self.store is not None and cache_secret is None:
            if cache == "memory":
                cache_secret = _secrets.token_hex(32)
            else:
                raise ValueError("an origin cache needs cache_secret= (the same on every process sharing it)")
        config = dict(engine_config, base_path=base_path)
        if self.store is not None:
            config["cache_secret"] = cache_secret
        if mwt_secret is not None:
            config["mwt_secret"] = mwt_secret
        if jwt_secret is not None:
            config["jwt_secret"] = jwt_secret
        self.engine = Engine(registry, config)
        self._config = config
        for w in self.engine.warnings():
            log.warning("mizan: %s", w)
        self.revoked = revoked
        self.threadpool = threadpool
        self.base_path = self.engine.base_path
        self.body_limit = self.engine.body_limit
        _check_implementations(self.engine.registry.to_json()["functions"], self.functions)
        # Purges that failed, merged, and a version (docs/SERVER.md "When a purge fails").
        self._pending: Optional[PurgePlan] = None
        self._pending_version = 0
        self._pending_lock = threading.Lock()
        # One exchange server per identity hook: a request with no session source is never
        # asked for it (one kernel call less).
        self._servers: Dict[bool, ExchangeServer] = {}

    def to_kdl(self) -> str:
        return self.engine.registry.to_kdl()

    def _server(self, identity: bool) -> ExchangeServer:
        server = self._servers.get(identity)
        if server is None:
            server = self._servers[identity] = ExchangeServer(
                self.engine._registry_text, self._config, identity=identity, revocation=self.revoked is not None
            )
        return server

    # --- the exchange: effects that need no I/O ------------------------------------------------

    def _start(self, request: Request, identity: Optional[Identity], resolve: Optional[Callable[..., Any]]) -> Tuple[ExchangeServer, int, int, List[Effect]]:
        """The request's exchange (one the server kept, or a new one) and its first effects."""
        pending = self._pending
        # A session identity the caller already holds goes in with the arrival (no round trip);
        # a lazy one (`resolve`) is asked for by the exchange only when the request needs it.
        lazy = resolve is not None
        arrival = (request._wit(), None if pending is None else plan_in(pending), now_ms(), None if lazy else _identity_in(identity))
        server = self._servers.get(lazy) or self._server(lazy)
        return (server, *server._start(arrival))

    def _questions(self, flow: "_Flow", effects: List[Effect]) -> List[Effect]:
        """Perform the effects that ask nothing (log, keep-pending, respond); the others, to
        answer. Sets ``flow.response`` on ``respond`` (the last effect)."""
        asks = []
        for effect in effects:
            case = effect[0]
            if case == "respond":
                flow.response = _response(effect[1])
            elif case == "log":
                line = effect[1]
                text = line["text"]
                exc = flow.traceback_for(text) if flow.failures else None
                (log.error if line["level"] == "error" else log.warning)("mizan: %s", text, exc_info=exc)
            elif case == "keep-pending":
                self._keep_pending(plan_out(effect[1]))
            else:
                asks.append(effect)
        return asks

    def _report_failures(self, flow: "_Flow", server: ExchangeServer, handle: int, generation: int, answers: List[Event]) -> None:
        """After the response: a purge or put that came with it is answered only if it failed
        (the exchange logs it, and keeps a failed purge)."""
        for a in answers:
            if a[0] in _FAILED:
                self._questions(flow, server._step(handle, generation, [a for a in answers if a[0] in _FAILED]))
                return

    def _keep_pending(self, plan: PurgePlan) -> None:
        """docs/SERVER.md "When a purge fails": keep it, merged, until a retry succeeds."""
        with self._pending_lock:
            pending = self._pending
            self._pending = plan if pending is None else self.engine.merge_purge_plans(pending, plan)
            self._pending_version += 1

    def _pending_now(self) -> Any:
        pending = self._pending
        return None if pending is None else plan_in(pending)

    def _retried(self, version: int, ok: bool) -> Event:
        """The retry of the pending purge of ``version`` is over: what is still pending."""
        with self._pending_lock:
            if ok and self._pending_version == version:
                self._pending = None
            return ("retried", self._pending_now())

    def _revoked_event(self, sid: str) -> Event:
        try:
            return ("revoked", bool(self.revoked(sid)))  # type: ignore[misc]
        except Exception as e:  # the hook cannot say: refused (500), fail closed
            log.error("mizan: the revocation hook raised", exc_info=e)
            return ("refused", ProtocolError("INTERNAL_ERROR")._wit())

    def _missing_predicate(self, name: str) -> Optional[Event]:
        return None if name in self.predicates else ("missing", None)

    # --- sync (Django, WSGI) -------------------------------------------------------------------

    def handle(
        self,
        request: Request,
        http_request: Any = None,
        identity: Optional[Identity] = None,
        *,
        resolve: Optional[Callable[[], Optional[Identity]]] = None,
    ) -> Response:
        """Serve one request (sync): the response to send, exactly. The session identity is
        ``identity``, or what ``resolve()`` returns when the exchange asks for it (never for a
        request that carries a token)."""
        server, handle, generation, effects = self._start(request, identity, resolve)
        response: Optional[Response] = None
        try:
            if len(effects) == 1 and effects[0][0] == "respond":  # answered at once (errors, /session/)
                response = _response(effects[0][1])
                return response
            flow = _Flow(http_request, identity, resolve)
            while True:
                # Loops, not comprehensions: each comprehension is a function call in
                # CPython 3.11, and these run on every request.
                answers = []
                for e in self._questions(flow, effects):
                    answers.append(self._perform_sync(flow, e))
                response = flow.response
                if response is not None:
                    self._report_failures(flow, server, handle, generation, answers)
                    return response
                effects = server._step(handle, generation, answers)
        finally:
            server._end(handle, generation, response is not None)

    def _perform_sync(self, flow: "_Flow", effect: Effect) -> Event:
        case, v = effect
        store = self.store
        if case == "run":
            return ("ran", (self._run_sync(flow, v), self._pending_now()))
        if case == "lookup":
            try:
                return ("found", tuple(store.lookup(v)))  # type: ignore[union-attr]
            except Exception as e:
                return flow.failed("lookup-failed", e)
        if case == "resolve-identity":
            try:
                return ("identity", _identity_in(flow.resolve() if flow.resolve is not None else flow.identity))
            except Exception as e:
                return flow.failed("identity-failed", e)
        if case == "put":
            try:
                store.put(_cache_put(v["entry"]), v["ticket"])  # type: ignore[union-attr]
                return ("stored", None)
            except Exception as e:
                return flow.failed("put-failed", e)
        if case == "purge":
            try:
                store.purge(plan_out(v))  # type: ignore[union-attr]
                return ("purged", None)
            except Exception as e:
                return flow.failed("purge-failed", e)
        if case == "retry-purge":
            version = self._pending_version
            try:
                store.purge(plan_out(v))  # type: ignore[union-attr]
                return self._retried(version, True)
            except Exception:
                return self._retried(version, False)
        if case == "check-predicates":
            who = _identity_out(v["identity"])
            return ("predicates", [(name, self._verdict_sync(flow, name, who)) for name in v["predicates"]])
        if case == "check-revoked":
            return self._revoked_event(v)
        raise AssertionError(f"mizan: an exchange effect this host does not know: {case}")

    def _verdict_sync(self, flow: "_Flow", name: str, who: Optional[Identity]) -> Tuple[str, Any]:
        missing = self._missing_predicate(name)
        if missing is not None:
            return missing
        try:
            verdict = self.predicates[name](who, flow.http_request)
            if hasattr(verdict, "__await__"):
                from asgiref.sync import async_to_sync

                async def _wait(v: Any = verdict) -> Any:
                    return await v

                verdict = async_to_sync(_wait)()
            return ("allow" if verdict else "deny", None)
        except Exception as e:
            return flow.failed("raised", e)

    def _run_sync(self, flow: "_Flow", run: Dict[str, Any]) -> List[Tuple[str, Any]]:
        token = _CURRENT.set(RequestContext(_identity_out(run["identity"]), flow.http_request, self))
        try:
            out = []
            for c in run["calls"]:
                out.append(self._call_sync(flow, c["function"], c["args-json"]))
            return out
        finally:
            _CURRENT.reset(token)

    def _call_sync(self, flow: "_Flow", name: str, args_json: str) -> Tuple[str, Any]:
        spec = self.functions.get(name)
        if spec is None:
            return ("missing", None)
        try:
            args = {} if args_json == "{}" else _loads(args_json)  # most calls take no args
            if spec.is_async:
                from asgiref.sync import async_to_sync

                value = async_to_sync(spec.fn)(**args)
            else:
                value = spec.fn(**args)
        except Exception as e:
            return ("done", flow.raised(e))
        return ("done", flow.result(name, value))

    # --- async (FastAPI, ASGI) -----------------------------------------------------------------

    async def ahandle(
        self,
        request: Request,
        http_request: Any = None,
        identity: Optional[Identity] = None,
        *,
        resolve: Optional[Callable[[], Any]] = None,
    ) -> Response:
        """Serve one request (async): the response to send, exactly. ``resolve()`` may return
        an awaitable."""
        server, handle, generation, effects = self._start(request, identity, resolve)
        response: Optional[Response] = None
        try:
            if len(effects) == 1 and effects[0][0] == "respond":  # answered at once (errors, /session/)
                response = _response(effects[0][1])
                return response
            flow = _Flow(http_request, identity, resolve)
            while True:
                asks = self._questions(flow, effects)
                answers = []
                for e in asks:
                    answers.append(await self._perform_async(flow, e))
                response = flow.response
                if response is not None:
                    self._report_failures(flow, server, handle, generation, answers)
                    return response
                effects = server._step(handle, generation, answers)
        finally:
            server._end(handle, generation, response is not None)

    async def _perform_async(self, flow: "_Flow", effect: Effect) -> Event:
        case, v = effect
        store = self.store
        if case == "run":
            return ("ran", (await self._run_async(flow, v), self._pending_now()))
        if case == "lookup":
            try:
                return ("found", tuple(await store.alookup(v)))  # type: ignore[union-attr]
            except Exception as e:
                return flow.failed("lookup-failed", e)
        if case == "resolve-identity":
            try:
                who = flow.resolve() if flow.resolve is not None else flow.identity
                if hasattr(who, "__await__"):
                    who = await who  # type: ignore[misc]
                return ("identity", _identity_in(who))
            except Exception as e:
                return flow.failed("identity-failed", e)
        if case == "put":
            try:
                await store.aput(_cache_put(v["entry"]), v["ticket"])  # type: ignore[union-attr]
                return ("stored", None)
            except Exception as e:
                return flow.failed("put-failed", e)
        if case == "purge":
            try:
                await store.apurge(plan_out(v))  # type: ignore[union-attr]
                return ("purged", None)
            except Exception as e:
                return flow.failed("purge-failed", e)
        if case == "retry-purge":
            version = self._pending_version
            try:
                await store.apurge(plan_out(v))  # type: ignore[union-attr]
                return self._retried(version, True)
            except Exception:
                return self._retried(version, False)
        if case == "check-predicates":
            who = _identity_out(v["identity"])
            return ("predicates", [(name, await self._verdict_async(flow, name, who)) for name in v["predicates"]])
        if case == "check-revoked":
            return self._revoked_event(v)
        raise AssertionError(f"mizan: an exchange effect this host does not know: {case}")

    async def _verdict_async(self, flow: "_Flow", name: str, who: Optional[Identity]) -> Tuple[str, Any]:
        missing = self._missing_predicate(name)
        if missing is not None:
            return missing
        try:
            verdict = self.predicates[name](who, flow.http_request)
            if hasattr(verdict, "__await__"):
                verdict = await verdict
            return ("allow" if verdict else "deny", None)
        except Exception as e:
            return flow.failed("raised", e)

    async def _run_async(self, flow: "_Flow", run: Dict[str, Any]) -> List[Tuple[str, Any]]:
        calls = run["calls"]
        specs, any_async = [], False
        for c in calls:  # a loop, not comprehensions: see handle
            spec = self.functions.get(c["function"])
            specs.append(spec)
            any_async = any_async or (spec is not None and spec.is_async)
        if not any_async:
            if not self.threadpool:
                return self._run_sync(flow, run)
            from anyio import to_thread

            return await to_thread.run_sync(self._run_sync, flow, run)
        token = _CURRENT.set(RequestContext(_identity_out(run["identity"]), flow.http_request, self))
        try:
            out: List[Tuple[str, Any]] = []
            for spec, c in zip(specs, calls):
                name = c["function"]
                if spec is None:
                    out.append(("missing", None))
                elif spec.is_async:
                    try:
                        args_json = c["args-json"]
                        value = await spec.fn(**({} if args_json == "{}" else _loads(args_json)))
                    except Exception as e:
                        out.append(("done", flow.raised(e)))
                        continue
                    out.append(("done", flow.result(name, value)))
                elif self.threadpool:
                    from anyio import to_thread

                    one = {"calls": [c], "identity": run["identity"]}
                    out.extend(await to_thread.run_sync(self._run_sync, flow, one))
                else:
                    out.append(self._call_sync(flow, name, c["args-json"]))
            return out
        finally:
            _CURRENT.reset(token)

    # --- purges outside a call (webhooks, GDPR erasure) ----------------------------------------

    def purge_plan(self, entries: Iterable[Any]) -> Optional[PurgePlan]:
        return None if self.store is None else self.engine.purge_plan(list(entries))

    def purge(self, entries: Iterable[Any]) -> List[str]:
        """Purge what invalidation entries cover (``"ctx"`` / ``{"context", "params"?}``). A
        failure is raised, and kept like a call's (served without the cache until a retry
        succeeds)."""
        plan = self.purge_plan(entries)
        return [] if plan is None else self._purge_or_keep(plan)

    def purge_user(self, user: Union[str, int]) -> List[str]:
        """Purge every origin-cache entry of one user, in every context (GDPR erasure). A
        failure is raised and kept, as :meth:`purge`'s."""
        if self.store is None:
            return []
        return self._purge_or_keep(self.engine.purge_user_plan(user))

    def _purge_or_keep(self, plan: PurgePlan) -> List[str]:
        try:
            return self.store.purge(plan)  # type: ignore[union-attr]
        except Exception:
            self._purge_failed(plan)
            raise

    def _purge_failed(self, plan: PurgePlan) -> None:
        """A purge outside an exchange failed (the caller is in an ``except``): logged with its
        plan and traceback, and kept as an exchange's failed purge is."""
        log.error("mizan: purge failed; kept to retry before the cache is used; plan %s", redis_plan_json(plan), exc_info=True)
        self._keep_pending(plan)

    async def _apurge_or_keep(self, plan: PurgePlan) -> List[str]:
        try:
            return await self.store.apurge(plan)  # type: ignore[union-attr]
        except Exception:
            self._purge_failed(plan)
            raise

    async def apurge(self, entries: Iterable[Any]) -> List[str]:
        plan = self.purge_plan(entries)
        return [] if plan is None else await self._apurge_or_keep(plan)

    async def apurge_user(self, user: Union[str, int]) -> List[str]:
        if self.store is None:
            return []
        return await self._apurge_or_keep(self.engine.purge_user_plan(user))


def _check_implementations(declared: Mapping[str, Any], implemented: Mapping[str, Any]) -> None:
    """Fail at start, naming them, when a public function of the registry has no implementation
    or an implementation has a name the registry lacks (a typo would be a 500 at the first call)."""
    missing = sorted(f"`{n}`" for n, f in declared.items() if n not in implemented and not f["private"])
    unknown = sorted(f"`{n}`" for n in implemented if n not in declared)
    problems = []
    if missing:
        problems.append("no implementation for " + ", ".join(missing))
    if unknown:
        problems.append(", ".join(unknown) + " registered, but the registry has no such function")
    if problems:
        raise ValueError("mizan: " + "; ".join(problems))


def _collect(
    functions: Any, implementations: Optional[Mapping[str, Callable[..., Any]]]
) -> Tuple[Any, Dict[str, FunctionSpec], Dict[str, Predicate]]:
    """(registry source for the engine, implementations, predicates)."""
    if isinstance(functions, Functions):
        specs = dict(functions.functions)
        if implementations:
            specs.update(_specs(implementations))
        return functions, specs, dict(functions.predicates)
    if isinstance(functions, (list, tuple)) and all(callable(f) for f in functions):
        chosen = Functions()
        by_fn = {spec.fn: spec for spec in default_functions.functions.values()}
        for f in functions:
            spec = by_fn.get(f)
            if spec is None:
                raise ValueError(f"{getattr(f, '__name__', f)!r} is not decorated with @client")
            chosen.functions[spec.name] = spec
            if spec.entry["context"] in default_functions.contexts:
                chosen.contexts[spec.entry["context"]] = default_functions.contexts[spec.entry["context"]]
        chosen.predicates = dict(default_functions.predicates)
        return chosen, dict(chosen.functions), dict(chosen.predicates)
    if functions is None:
        return _collect(default_functions, implementations)
    # a Registry, KDL text or the JSON form, with implementations by name
    return functions, _specs(implementations or {}), {}


def _specs(impls: Mapping[str, Callable[..., Any]]) -> Dict[str, FunctionSpec]:
    return {name: FunctionSpec(name, fn, {}, None) for name, fn in impls.items()}


__all__ = ["MizanApp", "result_outcome", "raw_query"]
