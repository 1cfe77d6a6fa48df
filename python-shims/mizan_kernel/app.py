"""The framework-independent host: runs the engine's per-request flow (docs/SERVER.md "What a
host does") for FastAPI (:mod:`mizan_kernel.fastapi`, async) and Django
(:mod:`mizan_kernel.django`, sync).

Per request: ``plan`` → (predicates → ``plan`` again) → ``respond`` | ``call`` (run the function,
``finish_call``, run the purge) | ``fetch`` (read the cache, else run every member,
``finish_fetch``, store the put). The host adds nothing to what the engine says: status,
headers and body are sent as they are. The only decisions here are the host's by design:
running the user's functions, evaluating predicates, the session-revocation hook, and the I/O.
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

from ._jsonio import _NOT_JSON, _dump
from .decorators import _CURRENT, Functions, FunctionSpec, RequestContext, default_functions
from .origin import OriginCache, make_store
from .server import (
    CachePlan,
    Call,
    CheckPredicates,
    Engine,
    FetchOutcome,
    Identity,
    Outcome,
    ProtocolError,
    PurgePlan,
    Request,
    Respond,
    Response,
    purge_covers,
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
    when it cannot be sent as JSON (NaN, an unknown object; logged at error level)."""
    try:
        return Outcome("ok", _dump(value))
    except _NOT_JSON:
        pass
    try:
        text = json.dumps(value, default=_jsonable, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return Outcome("ok", text)
    except _NOT_JSON as e:
        log.error("mizan: `%s` returned a value that is not JSON: %s", name, e)
        return Outcome("exception", f"`{name}` returned a value that is not JSON: {e}")


def raw_query(raw: bytes) -> str:
    """The query string as the engine takes it: the bytes as they arrived, with every byte that
    is not printable ASCII percent-encoded, so raw non-UTF-8 bytes reach the kernel's strict
    decoder (the documented 400 "Invalid query string") instead of a framework's guess."""
    if all(0x21 <= b <= 0x7E for b in raw):
        return raw.decode("ascii")
    return "".join(chr(b) if 0x21 <= b <= 0x7E else f"%{b:02X}" for b in raw)


def raised_outcome(name: str, e: BaseException) -> Outcome:
    """What a function's exception answers. An error raised on purpose (``ProtocolError``,
    ``NotImplementedError``) is the function's answer; anything else is a failure someone must
    look at: logged at error level with its traceback, then a 500 that never leaks it."""
    if not isinstance(e, (ProtocolError, NotImplementedError)):
        log.error("mizan: `%s` raised", name, exc_info=e)
    return Outcome.from_exception(e)


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

    # --- helpers -------------------------------------------------------------------------------

    def to_kdl(self) -> str:
        return self.engine.registry.to_kdl()

    def _revoked(self, plan: Any) -> Optional[Response]:
        ident = plan.identity
        if self.revoked is not None and ident is not None and ident.session_id is not None and self.revoked(ident.session_id):
            return self.engine.error_response("UNAUTHORIZED", "Session revoked")
        return None

    def _diagnostics(self, diagnostics: List[str]) -> None:
        for d in diagnostics:
            log.warning("mizan: %s", d)

    def _missing(self, name: str) -> Outcome:
        log.error("mizan: no implementation registered for `%s`", name)
        return Outcome("exception", f"no implementation registered for `{name}`")

    # --- purges that fail (docs/SERVER.md "When a purge fails") --------------------------------

    def _keep_failed(self, plan: PurgePlan) -> None:
        """Log a failed purge with its plan (the caller is in an ``except``: the traceback goes
        along) and keep it to retry; until then what it covers is served without the cache."""
        log.error(
            "mizan: purge failed; the entries it covers are served without the cache until a retry succeeds; plan %s",
            redis_plan_json(plan),
            exc_info=True,
        )
        with self._pending_lock:
            self._pending = plan if self._pending is None else self.engine.merge_purge_plans(self._pending, plan)
            self._pending_version += 1

    def _snapshot(self) -> "Tuple[Optional[PurgePlan], int]":
        with self._pending_lock:
            return self._pending, self._pending_version

    def _settled(self, version: int) -> Optional[PurgePlan]:
        """A retry of the pending plan of ``version`` succeeded: drop it unless another purge
        failed meanwhile. What is still pending."""
        with self._pending_lock:
            if self._pending_version == version:
                self._pending = None
                log.warning("mizan: a purge that had failed succeeded on retry; the cache is used again")
            return self._pending

    def _fenced(self, pending: Optional[PurgePlan], cache: CachePlan) -> bool:
        return pending is not None and purge_covers(pending, cache.index_keys)

    def _settle_sync(self) -> Optional[PurgePlan]:
        plan, version = self._snapshot()
        if plan is None or self.store is None:
            return plan
        try:
            self.store.purge(plan)
        except Exception:
            return plan
        return self._settled(version)

    async def _settle_async(self) -> Optional[PurgePlan]:
        plan, version = self._snapshot()
        if plan is None or self.store is None:
            return plan
        try:
            await self.store.apurge(plan)
        except Exception:
            return plan
        return self._settled(version)

    # --- sync (Django, WSGI) -------------------------------------------------------------------

    def _answers_sync(self, check: CheckPredicates, request: Any) -> List[Tuple[str, bool]]:
        out = []
        for name in check.predicates:
            fn = self.predicates.get(name)
            if fn is None:
                log.warning("mizan: no predicate named %r: denied", name)
                out.append((name, False))
                continue
            try:
                verdict = fn(check.identity, request)
                if hasattr(verdict, "__await__"):
                    from asgiref.sync import async_to_sync

                    async def _wait(v: Any = verdict) -> Any:
                        return await v

                    verdict = async_to_sync(_wait)()
                out.append((name, bool(verdict)))
            except Exception:
                log.exception("mizan: predicate %r raised: denied", name)
                out.append((name, False))
        return out

    def _run_sync(self, name: str, args: Dict[str, Any]) -> Outcome:
        spec = self.functions.get(name)
        if spec is None:
            return self._missing(name)
        try:
            if spec.is_async:
                from asgiref.sync import async_to_sync

                value = async_to_sync(spec.fn)(**args)
            else:
                value = spec.fn(**args)
        except Exception as e:
            return raised_outcome(name, e)
        return result_outcome(name, value)

    def handle(self, request: Request, http_request: Any = None, identity: Optional[Identity] = None) -> Response:
        """Serve one request (sync): the response to send, exactly."""
        engine = self.engine
        plan = engine.plan(request, identity)
        if type(plan) is Respond:
            return plan.response
        denied = self._revoked(plan)
        if denied is not None:
            return denied
        if type(plan) is CheckPredicates:
            plan = engine.plan(request, identity, None, self._answers_sync(plan, http_request))
            if type(plan) is Respond:
                return plan.response
        token = _CURRENT.set(RequestContext(plan.identity, http_request, self))
        try:
            if type(plan) is Call:
                outcome = self._run_sync(plan.function, plan.args)
                fin = engine.finish_call(plan, outcome)
                if fin.purge is not None and self.store is not None:
                    try:
                        self.store.purge(fin.purge)
                    except Exception:
                        self._keep_failed(fin.purge)
            else:
                store = self.store
                cache = plan.cache if store is not None else None
                if cache is not None and self._pending is not None and self._fenced(self._settle_sync(), cache):
                    cache = None  # a failed purge covers it: no read, no put
                ticket = None
                if cache is not None:
                    try:
                        body, ticket = store.lookup(cache.key)  # type: ignore[union-attr]
                    except Exception:
                        log.exception("mizan: cache read failed (served as a miss)")
                        body = None
                    if body is not None:
                        return engine.finish_fetch(plan.context, cache, FetchOutcome("hit", body)).response
                results = [(m.function, self._run_sync(m.function, m.args)) for m in plan.members]
                fin = engine.finish_fetch(plan.context, cache, FetchOutcome("results", results))
                if fin.cache_put is not None and cache is not None and not self._fenced(self._pending, cache):
                    try:
                        store.put(fin.cache_put, ticket)  # type: ignore[union-attr]
                    except Exception:
                        log.exception("mizan: cache write failed")
        finally:
            _CURRENT.reset(token)
        if fin.diagnostics:
            self._diagnostics(fin.diagnostics)
        return fin.response

    # --- async (FastAPI, ASGI) -----------------------------------------------------------------

    async def _answers_async(self, check: CheckPredicates, request: Any) -> List[Tuple[str, bool]]:
        out = []
        for name in check.predicates:
            fn = self.predicates.get(name)
            if fn is None:
                log.warning("mizan: no predicate named %r: denied", name)
                out.append((name, False))
                continue
            try:
                verdict = fn(check.identity, request)
                if hasattr(verdict, "__await__"):
                    verdict = await verdict
                out.append((name, bool(verdict)))
            except Exception:
                log.exception("mizan: predicate %r raised: denied", name)
                out.append((name, False))
        return out

    def _run_in_thread(self, ctx: RequestContext, calls: List[Tuple[str, Dict[str, Any]]]) -> List[Outcome]:
        token = _CURRENT.set(ctx)
        try:
            return [self._run_sync(name, args) for name, args in calls]
        finally:
            _CURRENT.reset(token)

    async def _run_async(self, ctx: RequestContext, calls: List[Tuple[str, Dict[str, Any]]]) -> List[Outcome]:
        specs = [self.functions.get(name) for name, _ in calls]
        if self.threadpool and not any(s is not None and s.is_async for s in specs):
            from anyio import to_thread

            return await to_thread.run_sync(self._run_in_thread, ctx, calls)
        out: List[Outcome] = []
        for spec, (name, args) in zip(specs, calls):
            if spec is None:
                out.append(self._missing(name))
            elif spec.is_async:
                try:
                    out.append(result_outcome(name, await spec.fn(**args)))
                except Exception as e:
                    out.append(raised_outcome(name, e))
            elif self.threadpool:
                from anyio import to_thread

                out.extend(await to_thread.run_sync(self._run_in_thread, ctx, [(name, args)]))
            else:
                out.append(self._run_sync(name, args))
        return out

    async def ahandle(self, request: Request, http_request: Any = None, identity: Optional[Identity] = None) -> Response:
        """Serve one request (async): the response to send, exactly."""
        engine = self.engine
        plan = engine.plan(request, identity)
        if type(plan) is Respond:
            return plan.response
        denied = self._revoked(plan)
        if denied is not None:
            return denied
        if type(plan) is CheckPredicates:
            plan = engine.plan(request, identity, None, await self._answers_async(plan, http_request))
            if type(plan) is Respond:
                return plan.response
        ctx = RequestContext(plan.identity, http_request, self)
        token = _CURRENT.set(ctx)
        try:
            if type(plan) is Call:
                (outcome,) = await self._run_async(ctx, [(plan.function, plan.args)])
                fin = engine.finish_call(plan, outcome)
                if fin.purge is not None and self.store is not None:
                    try:
                        await self.store.apurge(fin.purge)
                    except Exception:
                        self._keep_failed(fin.purge)
            else:
                store = self.store
                cache = plan.cache if store is not None else None
                if cache is not None and self._pending is not None and self._fenced(await self._settle_async(), cache):
                    cache = None  # a failed purge covers it: no read, no put
                ticket = None
                if cache is not None:
                    try:
                        body, ticket = await store.alookup(cache.key)  # type: ignore[union-attr]
                    except Exception:
                        log.exception("mizan: cache read failed (served as a miss)")
                        body = None
                    if body is not None:
                        return engine.finish_fetch(plan.context, cache, FetchOutcome("hit", body)).response
                members = plan.members
                outcomes = await self._run_async(ctx, [(m.function, m.args) for m in members])
                fin = engine.finish_fetch(
                    plan.context, cache, FetchOutcome("results", [(m.function, o) for m, o in zip(members, outcomes)])
                )
                if fin.cache_put is not None and cache is not None and not self._fenced(self._pending, cache):
                    try:
                        await store.aput(fin.cache_put, ticket)  # type: ignore[union-attr]
                    except Exception:
                        log.exception("mizan: cache write failed")
        finally:
            _CURRENT.reset(token)
        if fin.diagnostics:
            self._diagnostics(fin.diagnostics)
        return fin.response

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
            self._keep_failed(plan)
            raise

    async def _apurge_or_keep(self, plan: PurgePlan) -> List[str]:
        try:
            return await self.store.apurge(plan)  # type: ignore[union-attr]
        except Exception:
            self._keep_failed(plan)
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


__all__ = ["MizanApp", "result_outcome", "raised_outcome", "raw_query"]
