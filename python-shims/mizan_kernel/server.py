"""The server protocol engine, tokens, the in-memory origin store and the Redis scripts
(KERNEL.md §2.1, §8, §10; wit/server.wit; docs/SERVER.md).

Thin wrappers: every decision (routing, auth guards, validation and coercion, statuses,
messages, headers, body bytes, cache keys, purge plans, tokens) is the kernel's. A host runs the
user's functions, evaluates predicates and does the I/O; :mod:`mizan_kernel.fastapi` and
:mod:`mizan_kernel.django` are such hosts, built on :class:`MizanApp` (``mizan_kernel.app``).

Times are milliseconds since the epoch (``now_ms()``); values cross as JSON text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from . import _wit
from ._errors import MizanKernelError
from ._jsonio import _json, _loads
from ._types import PurgePlan

JSON = Any

_SERVER = "mizan:kernel/server@0.1.0"
_E = {
    name: _wit.Export(_SERVER, export)
    for name, export in {
        "create": "[static]engine.create",
        "warnings": "[method]engine.warnings",
        "plan": "[method]engine.plan",
        "finish_call": "[method]engine.finish-call",
        "finish_fetch": "[method]engine.finish-fetch",
        "error_response": "[method]engine.error-response",
        "reads_token": "[method]engine.reads-token",
        "merge_purge_plans": "[method]engine.merge-purge-plans",
        "purge_plan": "[method]engine.purge-plan",
        "purge_user_plan": "[method]engine.purge-user-plan",
        "mint_mwt": "[method]engine.mint-mwt",
        "verify_mwt": "[method]engine.verify-mwt",
        "mint_jwt_pair": "[method]engine.mint-jwt-pair",
        "verify_jwt": "[method]engine.verify-jwt",
        "store_new": "[constructor]origin-store",
        "store_get": "[method]origin-store.get",
        "store_put": "[method]origin-store.put",
        "store_purge": "[method]origin-store.purge",
        "store_lookup": "[method]origin-store.lookup",
        "store_put_entry": "[method]origin-store.put-entry",
        "store_purge_step": "[method]origin-store.purge-step",
        "store_sweep": "[method]origin-store.sweep",
        "store_len": "[method]origin-store.len",
        "store_index_sets": "[method]origin-store.index-sets",
        "store_clear": "[method]origin-store.clear",
        "purge_covers": "purge-covers",
        "request_headers": "request-headers",
        "redis_put_script": "redis-put-script",
        "redis_purge_script": "redis-purge-script",
        "redis_plan_json": "redis-plan-json",
    }.items()
}


def now_ms() -> int:
    """Milliseconds since the epoch: the ``now`` the engine and the origin store take."""
    return time.time_ns() // 1_000_000


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """The caller. ``subject`` is the user id as text; ``session_id`` is a JWT's ``sid`` (for
    the host's revocation check), ``perm`` an MWT's permission-set hash."""

    subject: str
    staff: bool = False
    superuser: bool = False
    session_id: Optional[str] = None
    perm: Optional[str] = None

    def _wit(self) -> Tuple[Any, ...]:
        return (self.subject, self.staff, self.superuser, self.session_id, self.perm)


def _identity_in(i: Optional[Identity]) -> Optional[Tuple[Any, ...]]:
    if i is None:
        return None
    if isinstance(i, Identity):
        return (i.subject, i.staff, i.superuser, i.session_id, i.perm)
    if isinstance(i, Mapping):  # the JSON form
        return (i["subject"], bool(i.get("staff")), bool(i.get("superuser")), i.get("session_id"), i.get("perm"))
    raise TypeError(f"identity must be an Identity, a mapping or None, not {type(i).__name__}")


def _identity_out(rec: Optional[Dict[str, Any]]) -> Optional[Identity]:
    if rec is None:
        return None
    return Identity(rec["subject"], rec["staff"], rec["superuser"], rec["session-id"], rec["perm"])


class Request:
    """A request as received. ``headers`` need only hold ``X-Mizan-Token`` and
    ``Authorization``; ``body`` is ``bytes`` (at most ``body_limit + 1`` of them) or ``str``;
    ``path`` may carry ``?query`` when ``query`` is empty; ``csrf_token`` is Django's, for
    ``GET /session/``."""

    __slots__ = ("method", "path", "query", "headers", "body", "csrf_token")

    def __init__(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Sequence[Tuple[str, str]] = (),
        body: Union[bytes, bytearray, memoryview, str] = b"",
        csrf_token: Optional[str] = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.csrf_token = csrf_token

    def __repr__(self) -> str:
        return f"Request({self.method!r}, {self.path!r}, query={self.query!r}, {len(self.body)} body bytes)"

    def _wit(self) -> Tuple[Any, ...]:
        body = self.body
        if isinstance(body, str):
            variant: Tuple[str, Any] = ("text", body)
        else:
            try:  # every JSON body: one decode, then the fast text path
                variant = ("text", str(body, "utf-8"))
            except UnicodeDecodeError:
                variant = ("bytes", bytes(body))
        headers = self.headers
        kind = type(headers)
        # A list or a tuple is taken as it is; typing's isinstance (a mapping?) costs more than
        # the rest of this method, so it runs only for other kinds.
        if kind is dict or (kind is not list and kind is not tuple and isinstance(headers, Mapping)):
            headers = list(headers.items())
        return (self.method, self.path, self.query, headers, variant, self.csrf_token)


@dataclass(frozen=True)
class Response:
    """Send exactly this: ``status``, ``headers`` in order, ``body`` (JSON text)."""

    status: int
    headers: List[Tuple[str, str]]
    body: str

    def header(self, name: str) -> Optional[str]:
        low = name.lower()
        for n, v in self.headers:
            if n.lower() == low:
                return v
        return None

    @property
    def body_bytes(self) -> bytes:
        return self.body.encode()

    def json(self) -> Any:
        return _loads(self.body)


def _response(rec: Dict[str, Any]) -> Response:
    headers = []
    for h in rec["headers"]:  # a loop, not a comprehension (a function call in CPython 3.11): every request
        headers.append((h["name"], h["value"]))
    return Response(rec["status"], headers, rec["body"])


@dataclass(frozen=True)
class CacheBound:
    """A public entry is stored only while ``set`` (one of its index keys) holds fewer than
    ``max_entries`` live entries (docs/SERVER.md "Bounded public entries")."""

    set: str
    max_entries: int


def _bound_out(rec: Optional[Dict[str, Any]]) -> Optional[CacheBound]:
    return None if rec is None else CacheBound(rec["set"], rec["max-entries"])


def _bound_in(b: Any) -> Optional[Tuple[str, int]]:
    if b is None:
        return None
    if isinstance(b, CacheBound):
        return (b.set, b.max_entries)
    return (b["set"], b["max_entries"])


@dataclass(frozen=True)
class CachePlan:
    """Read ``key``; on a miss the finished fetch carries the put. ``bound``: for a public
    entry, the set whose size bounds it."""

    key: str
    index_keys: List[str]
    ttl_seconds: int
    bound: Optional[CacheBound] = None


@dataclass(frozen=True)
class MemberCall:
    function: str
    args_json: str

    @property
    def args(self) -> Dict[str, Any]:
        return _loads(self.args_json)


@dataclass(frozen=True)
class Respond:
    """Send ``response`` (the session endpoint and every error)."""

    response: Response


@dataclass(frozen=True)
class CheckPredicates:
    """Evaluate ``predicates`` for ``identity``, then plan again with the answers."""

    predicates: List[str]
    identity: Optional[Identity]


@dataclass(frozen=True)
class Call:
    """Run ``function`` with ``args`` (declared inputs only, coerced) as ``identity``. Pass it
    back to :meth:`Engine.finish_call` as it is."""

    function: str
    args_json: str
    identity: Optional[Identity]

    @property
    def args(self) -> Dict[str, Any]:
        return _loads(self.args_json)


@dataclass(frozen=True)
class Fetch:
    """Fetch ``context``: read ``cache.key`` first (when there is a cache plan), else run every
    member (in UTF-16 name order) with its declared args."""

    context: str
    params_json: str
    members: List[MemberCall]
    identity: Optional[Identity]
    cache: Optional[CachePlan]

    @property
    def params(self) -> Dict[str, Any]:
        return _loads(self.params_json)


Plan = Union[Respond, CheckPredicates, Call, Fetch]


def _cache_out(rec: Optional[Dict[str, Any]]) -> Optional[CachePlan]:
    if rec is None:
        return None
    return CachePlan(rec["key"], rec["index-keys"], rec["ttl-seconds"], _bound_out(rec["bound"]))


def _plan(v: Tuple[str, Any]) -> Plan:
    tag, p = v
    if tag == "respond":
        return Respond(_response(p))
    if tag == "call":
        return Call(p["function"], p["args-json"], _identity_out(p["identity"]))
    if tag == "fetch":
        return Fetch(
            p["context"],
            p["params-json"],
            [MemberCall(m["function"], m["args-json"]) for m in p["members"]],
            _identity_out(p["identity"]),
            _cache_out(p["cache"]),
        )
    if tag == "check-predicates":
        return CheckPredicates(p["predicates"], _identity_out(p["identity"]))
    raise AssertionError(f"unknown plan {tag}")


@dataclass(frozen=True)
class CachePut:
    """Store ``body`` under ``key`` and in ``index_keys`` for ``ttl_seconds`` (unless its
    ``bound`` set is full)."""

    key: str
    body: str
    index_keys: List[str]
    ttl_seconds: int
    bound: Optional[CacheBound] = None

    def _wit(self) -> Tuple[Any, ...]:
        return (self.key, self.body, self.index_keys, self.ttl_seconds, _bound_in(self.bound))


class Lookup(NamedTuple):
    """What a read found (``body`` ``None``: a miss) and the ticket a later put presents
    (``None``: the store has none, and puts unconditionally)."""

    body: Optional[str]
    ticket: Optional[int]


class PurgeStep(NamedTuple):
    """One bounded step of a purge: what it deleted, and the next step's cursor (``None``: done)."""

    purged: List[str]
    cursor: Optional[str]


@dataclass(frozen=True)
class Finished:
    """Run ``purge`` (the function succeeded), then ``cache_put``, then send ``response``; log
    ``diagnostics``."""

    response: Response
    cache_put: Optional[CachePut]
    purge: Optional[PurgePlan]
    diagnostics: List[str]


def _finished(rec: Dict[str, Any]) -> Finished:
    put = rec["cache-put"]
    purge = rec["purge"]
    return Finished(
        _response(rec["response"]),
        None if put is None else CachePut(put["key"], put["body"], put["index-keys"], put["ttl-seconds"], _bound_out(put["bound"])),
        None if purge is None else PurgePlan._from_wit(purge),
        rec["diagnostics"],
    )


@dataclass(frozen=True)
class Claims:
    """A verified token's claims; times in seconds since the epoch."""

    kind: str
    subject: str
    staff: bool
    superuser: bool
    perm: Optional[str]
    session_id: Optional[str]
    issued_at: int
    expires_at: int

    def identity(self) -> Identity:
        return Identity(self.subject, self.staff, self.superuser, self.session_id, self.perm)


def _claims(rec: Dict[str, Any]) -> Claims:
    return Claims(
        rec["kind"], rec["subject"], rec["staff"], rec["superuser"], rec["perm"], rec["session-id"],
        rec["issued-at"], rec["expires-at"],
    )


@dataclass(frozen=True)
class JwtPair:
    access: str
    refresh: str
    access_expires_at: int
    refresh_expires_at: int


# --- errors and outcomes -----------------------------------------------------------------------

#: Wire codes (the envelope's ``code``) and their statuses.
PROTOCOL_CODES = {
    "NOT_FOUND": 404,
    "BAD_REQUEST": 400,
    "VALIDATION_ERROR": 422,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_IMPLEMENTED": 501,
    "INTERNAL_ERROR": 500,
    "PAYLOAD_TOO_LARGE": 413,
    "METHOD_NOT_ALLOWED": 405,
}


def _code_in(code: str) -> str:
    """``NOT_FOUND`` (the wire spelling) or ``not-found`` (the WIT name) → the WIT name."""
    if type(code) is not str:
        raise TypeError(f"a protocol code is a str, not {type(code).__name__}")
    wit = code.lower().replace("_", "-")
    if wit.upper().replace("-", "_") not in PROTOCOL_CODES:
        raise ValueError(f"unknown protocol code {code!r}: one of {', '.join(PROTOCOL_CODES)}")
    return wit


class ProtocolError(Exception):
    """Raise it from a function to answer with that error on purpose:
    ``raise ProtocolError("NOT_FOUND", "No such item")``. The envelope, status and (for
    ``INTERNAL_ERROR``) the masking of the message are the kernel's."""

    def __init__(self, code: str, message: str = "", details: Any = None) -> None:
        _code_in(code)
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code.upper().replace("-", "_")
        self.message = message
        self.details = details

    def _wit(self) -> Tuple[str, str, Optional[str]]:
        details = None if self.details is None else _json(self.details, "details")
        return (_code_in(self.code), self.message, details)


class NotFound(ProtocolError):
    def __init__(self, message: str = "Not found", details: Any = None) -> None:
        super().__init__("NOT_FOUND", message, details)


class BadRequest(ProtocolError):
    def __init__(self, message: str = "Bad request", details: Any = None) -> None:
        super().__init__("BAD_REQUEST", message, details)


class Unauthorized(ProtocolError):
    def __init__(self, message: str = "Authentication required", details: Any = None) -> None:
        super().__init__("UNAUTHORIZED", message, details)


class Forbidden(ProtocolError):
    def __init__(self, message: str = "Permission denied", details: Any = None) -> None:
        super().__init__("FORBIDDEN", message, details)


class ValidationFailed(ProtocolError):
    """A 422 with ``{"fields": {name: [message]}}``, as the engine's own validation answers."""

    def __init__(self, fields: Mapping[str, Sequence[str]], message: str = "Input validation failed") -> None:
        super().__init__("VALIDATION_ERROR", message, {"fields": {k: list(v) for k, v in fields.items()}})


class Outcome(NamedTuple):
    """What running a function gave: ``Outcome.ok(value)``, ``Outcome.error(code, message)``,
    ``Outcome.exception(text)``. (It is the WIT variant ``(case, payload)`` as it is.)"""

    case: str
    payload: Any

    @staticmethod
    def ok(value: JSON) -> "Outcome":
        return Outcome("ok", _json(value, "result"))

    @staticmethod
    def ok_json(text: str) -> "Outcome":
        return Outcome("ok", text)

    @staticmethod
    def error(code: str, message: str = "", details: Any = None) -> "Outcome":
        return Outcome("error", ProtocolError(code, message, details)._wit())

    @staticmethod
    def exception(text: str) -> "Outcome":
        return Outcome("exception", str(text))

    @staticmethod
    def from_exception(e: BaseException) -> "Outcome":
        """``ProtocolError`` → its error; ``NotImplementedError`` → ``NOT_IMPLEMENTED`` with its
        message (empty: the kernel's "Not implemented"); anything else → an exception (500, its
        text only in the diagnostics)."""
        if isinstance(e, ProtocolError):
            return Outcome("error", e._wit())
        if isinstance(e, NotImplementedError):
            return Outcome("error", ("not-implemented", str(e), None))
        return Outcome("exception", f"{type(e).__name__}: {e}")


class FetchOutcome(NamedTuple):
    """``FetchOutcome.hit(body)`` or ``FetchOutcome.results([(function, Outcome)…])``."""

    case: str
    payload: Any

    @staticmethod
    def hit(body: str) -> "FetchOutcome":
        return FetchOutcome("hit", body)

    @staticmethod
    def results(results: Iterable[Tuple[str, Outcome]]) -> "FetchOutcome":
        return FetchOutcome("results", [(f, o) for f, o in results])


# --- the engine --------------------------------------------------------------------------------

_CONFIG_FIELDS = (
    "base_path",
    "body_limit",
    "cache_secret",
    "safety_ttl_seconds",
    "mwt_secret",
    "mwt_ttl_seconds",
    "jwt_secret",
    "access_ttl_seconds",
    "refresh_ttl_seconds",
    "token_leeway_seconds",
    "max_public_entries",
)


def _config_in(config: Optional[Mapping[str, Any]]) -> Tuple[Any, ...]:
    config = dict(config or {})
    unknown = set(config) - set(_CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"unknown engine config keys: {', '.join(sorted(unknown))}; known: {', '.join(_CONFIG_FIELDS)}")
    return tuple(config.get(k) for k in _CONFIG_FIELDS)


def _registry_json(registry: Any) -> str:
    from . import Registry  # the package's own wrapper (imported late: this module is imported by it)

    if isinstance(registry, Registry):
        return _json(registry.to_json(), "registry")
    if hasattr(registry, "registry_json"):  # mizan_kernel.decorators.Functions
        return _json(registry.registry_json(), "registry")
    if isinstance(registry, bytes):
        registry = registry.decode()
    if isinstance(registry, str):
        if registry.lstrip().startswith("{"):
            return registry
        return _json(Registry.from_kdl(registry).to_json(), "registry")  # KDL IR
    if isinstance(registry, Mapping):
        return _json(registry, "registry")
    raise TypeError("registry must be a Registry, a Functions, the JSON form (dict or text) or KDL IR text")


def _answers_in(answers: Union[Mapping[str, bool], Iterable[Any]]) -> List[Tuple[str, bool]]:
    if isinstance(answers, Mapping):
        return [(n, bool(a)) for n, a in answers.items()]
    out = []
    for a in answers:
        if isinstance(a, Mapping):
            out.append((a["name"], bool(a["allowed"])))
        else:
            name, allowed = a
            out.append((name, bool(allowed)))
    return out


def _call_in(call: Any) -> Tuple[Any, ...]:
    if isinstance(call, Call):
        return (call.function, call.args_json, _identity_in(call.identity))
    if isinstance(call, Mapping):  # {"function", "args" | "args_json", "identity"?}
        args_json = call["args_json"] if "args_json" in call else _json(call.get("args", {}), "args")
        return (call["function"], args_json, _identity_in(call.get("identity")))
    raise TypeError("call must be the plan's Call (or {function, args, identity?})")


def _cache_in(cache: Any) -> Optional[Tuple[Any, ...]]:
    if cache is None:
        return None
    if isinstance(cache, CachePlan):
        return (cache.key, cache.index_keys, cache.ttl_seconds, _bound_in(cache.bound))
    return (cache["key"], cache["index_keys"], cache["ttl_seconds"], _bound_in(cache.get("bound")))


def _plan_in(plan: Any) -> Tuple[Any, ...]:
    if isinstance(plan, PurgePlan):
        scopes = plan.scopes
        return ([(s.base, [(t.has_param, t.param_equals) for t in s.terms]) for s in scopes],)
    if isinstance(plan, Mapping):  # {"scopes": [{"base", "terms": [{"has_param", "param_equals"}]}]}
        return (
            [
                (s["base"], [(t["has_param"], t["param_equals"]) for t in (s.get("terms") or [])])
                for s in plan["scopes"]
            ],
        )
    raise TypeError("plan must be a PurgePlan or its JSON form")


def _subject(user: Any) -> str:
    if isinstance(user, str):
        return user
    if isinstance(user, (int, float)) and not isinstance(user, bool):
        from . import stringify

        return stringify(user)
    raise TypeError(f"a user is a str or a number, not {type(user).__name__}")


class Engine(_wit.Resource):
    """The server protocol engine for one registry and config; stateless between calls, safe to
    share between threads (kernel calls are serialized by the runtime's lock).

    ``registry``: a :class:`~mizan_kernel.Registry`, a ``Functions`` (``@client``), the JSON
    form (dict or text) or KDL IR text. ``config`` keys (all optional; also as keyword
    arguments): ``base_path`` (``/api/mizan``), ``body_limit`` (1 MiB), ``cache_secret`` (none:
    no cache), ``safety_ttl_seconds`` (24 h), ``mwt_secret``, ``mwt_ttl_seconds`` (300),
    ``jwt_secret``, ``access_ttl_seconds`` (300), ``refresh_ttl_seconds`` (7 days),
    ``token_leeway_seconds`` (0), ``max_public_entries`` (1000 per context; 0: unbounded). The
    kernel refuses empty or reused secrets.
    """

    __slots__ = ("_registry_text", "_config", "_registry")

    def __init__(self, registry: Any, config: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        merged = dict(config or {})
        merged.update(kwargs)
        self._registry_text = _registry_json(registry)
        self._config = _config_in(merged)
        self._registry: Any = None
        self._init_resource()

    @classmethod
    def create(cls, registry: Any, config: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> "Engine":
        return cls(registry, config, **kwargs)

    def _create(self, rt: Any) -> int:
        return _wit.invoke(rt, _E["create"], (self._registry_text, self._config))

    def __repr__(self) -> str:
        return f"Engine(base_path={self.base_path!r}, cache={self.cache_enabled})"

    @property
    def base_path(self) -> str:
        return (self._config[0] or "/api/mizan").rstrip("/")

    @property
    def body_limit(self) -> int:
        return self._config[1] or 1024 * 1024

    @property
    def cache_enabled(self) -> bool:
        return self._config[2] is not None

    @property
    def registry(self) -> Any:
        """The registry (a :class:`~mizan_kernel.Registry`), e.g. for ``to_kdl`` or ``manifest``."""
        if self._registry is None:
            from . import Registry

            self._registry = Registry.from_json(self._registry_text)
        return self._registry

    def warnings(self) -> List[str]:
        """Problems with a usable config (short secrets), to log at start."""
        return self._m(_E["warnings"])

    def plan(
        self,
        request: Request,
        identity: Optional[Identity] = None,
        now: Optional[int] = None,
        answers: Union[Mapping[str, bool], Iterable[Any]] = (),
    ) -> Plan:
        """Plan a request. ``identity`` is the host's session identity (a token header, when
        configured, replaces it); ``answers`` the verdicts on an earlier ``CheckPredicates``
        (``{name: allowed}`` or ``[(name, allowed)]``)."""
        req = request._wit() if isinstance(request, Request) else request
        ident = None if identity is None else _identity_in(identity)
        ans = _answers_in(answers) if answers else []
        return _plan(self._m(_E["plan"], req, ident, now_ms() if now is None else now, ans))

    def finish_call(self, call: Call, outcome: Outcome) -> Finished:
        """Assemble a call's response (``outcome``: :class:`Outcome`)."""
        return _finished(self._m(_E["finish_call"], _call_in(call), tuple(outcome)))

    def finish_fetch(self, context: str, cache: Optional[CachePlan], outcome: FetchOutcome) -> Finished:
        """Assemble a fetch's response; ``cache`` is the fetch plan's."""
        return _finished(self._m(_E["finish_fetch"], context, _cache_in(cache), tuple(outcome)))

    def error_response(self, code: Union[str, ProtocolError], message: str = "", details: Any = None) -> Response:
        """The response for an error the host found itself (revoked session, CSRF, body limit)."""
        err = code if isinstance(code, ProtocolError) else ProtocolError(code, message, details)
        return _response(self._m(_E["error_response"], err._wit()))

    def reads_token(self, request: Request) -> bool:
        """Whether :meth:`plan` takes the identity from a token header (or refuses a bad or
        ambiguous one) rather than the session: a CSRF check applies exactly when not."""
        req = request._wit() if isinstance(request, Request) else request
        return self._m(_E["reads_token"], req)

    def merge_purge_plans(self, pending: PurgePlan, failed: PurgePlan) -> PurgePlan:
        """Purges that failed, kept to retry: both plans, each scope once (a broad purge of
        every context past the kernel's bound). docs/SERVER.md "When a purge fails"."""
        return PurgePlan._from_wit(self._m(_E["merge_purge_plans"], _plan_in(pending), _plan_in(failed)))

    def purge_plan(self, entries: Sequence[Union[str, Mapping[str, JSON]]]) -> PurgePlan:
        """What invalidation entries (``"ctx"`` / ``{"context", "params"?}``) cover; needs a cache."""
        return PurgePlan._from_wit(self._m(_E["purge_plan"], _json(entries, "entries")))

    def purge_user_plan(self, user: Union[str, int]) -> PurgePlan:
        """Every entry of one user in every context (GDPR erasure); needs a cache."""
        return PurgePlan._from_wit(self._m(_E["purge_user_plan"], _subject(user)))

    def mint_mwt(self, identity: Identity, now: Optional[int] = None) -> str:
        return self._m(_E["mint_mwt"], _identity_in(identity), now_ms() if now is None else now)

    def verify_mwt(self, token: str, now: Optional[int] = None) -> Claims:
        """Errors: ``MizanKernelError("invalid-argument", details={"reason": …})``."""
        return _claims(self._m(_E["verify_mwt"], token, now_ms() if now is None else now))

    def mint_jwt_pair(self, identity: Identity, session_id: str, now: Optional[int] = None) -> JwtPair:
        rec = self._m(_E["mint_jwt_pair"], _identity_in(identity), session_id, now_ms() if now is None else now)
        return JwtPair(rec["access"], rec["refresh"], rec["access-expires-at"], rec["refresh-expires-at"])

    def verify_jwt(self, token: str, kind: str = "access", now: Optional[int] = None) -> Claims:
        """``kind``: ``"access"`` or ``"refresh"``."""
        if kind not in ("mwt", "access", "refresh"):
            raise ValueError('kind must be "access" or "refresh"')
        return _claims(self._m(_E["verify_jwt"], token, kind, now_ms() if now is None else now))


class OriginStore(_wit.Resource):
    """The kernel's in-memory origin cache (entries, reverse-index sets, purge plans). Bounds:
    0 takes the default (10 000 entries, 64 MiB); least recently used entries go first. After
    a kernel trap it is re-created empty (a cache may always miss). For a host, prefer
    :class:`mizan_kernel.origin.MemoryOriginStore` (the same store behind the common interface)."""

    __slots__ = ("max_entries", "max_bytes")

    def __init__(self, max_entries: int = 0, max_bytes: int = 0) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._init_resource()

    def _create(self, rt: Any) -> int:
        return _wit.invoke(rt, _E["store_new"], (self.max_entries, self.max_bytes))

    def get(self, key: str, now: Optional[int] = None) -> Optional[str]:
        """The body, or ``None`` (a miss; an expired entry is removed)."""
        return self._m(_E["store_get"], key, now_ms() if now is None else now)

    def put(self, key: str, body: str, index_keys: Sequence[str], ttl_seconds: int, now: Optional[int] = None) -> bool:
        """False when nothing was stored (TTL 0, or larger than the byte bound)."""
        return self._m(_E["store_put"], key, body, index_keys, ttl_seconds, now_ms() if now is None else now)

    def purge(self, plan: Union[PurgePlan, Mapping[str, Any]]) -> List[str]:
        """Delete what the plan matches, every user and rev; the deleted keys, sorted."""
        return self._m(_E["store_purge"], _plan_in(plan))

    def lookup(self, key: str, now: Optional[int] = None) -> Lookup:
        """:meth:`get` and the ticket a later :meth:`put_entry` presents."""
        rec = self._m(_E["store_lookup"], key, now_ms() if now is None else now)
        return Lookup(rec["body"], rec["ticket"])

    def put_entry(self, put: CachePut, ticket: Optional[int] = None, now: Optional[int] = None) -> bool:
        """Store the engine's put unless a purge of one of its sets started after ``ticket``
        (``None``: no check) or its bound set is full. False when nothing was stored."""
        return self._m(_E["store_put_entry"], put._wit(), ticket, now_ms() if now is None else now)

    def purge_step(self, plan: Union[PurgePlan, Mapping[str, Any]], cursor: Optional[str] = None, limit: int = 0) -> PurgeStep:
        """One step of a purge over at most ``limit`` set members (0: 256); the first step
        (``cursor=None``) fences the puts that read before it."""
        rec = self._m(_E["store_purge_step"], _plan_in(plan), cursor, limit)
        return PurgeStep(rec["purged"], rec["cursor"])

    def sweep(self, now: Optional[int] = None) -> int:
        return self._m(_E["store_sweep"], now_ms() if now is None else now)

    def __len__(self) -> int:
        return self._m(_E["store_len"])

    def len(self) -> int:
        return self._m(_E["store_len"])

    def index_sets(self) -> int:
        """How many index sets exist (none is ever empty)."""
        return self._m(_E["store_index_sets"])

    def clear(self) -> None:
        self._m(_E["store_clear"])


def purge_covers(plan: Union[PurgePlan, Mapping[str, Any]], index_keys: Sequence[str]) -> bool:
    """Whether ``plan`` purges an entry with these index keys."""
    return _wit.call(_E["purge_covers"], _plan_in(plan), list(index_keys))


def request_headers() -> List[str]:
    """The request headers the engine reads, lower-case (``x-mizan-token``, ``authorization``):
    a server passes the engine these of a request's headers and no other."""
    return _wit.call(_E["request_headers"])  # type: ignore[no-any-return]


def redis_put_script() -> str:
    """``EVALSHA put 0 prefix key body ttl_seconds ticket bound_set bound_max index_key…``;
    1 when stored (docs/SERVER.md "Redis")."""
    return _wit.call(_E["redis_put_script"])


def redis_purge_script() -> str:
    """``EVALSHA purge 0 plan_json prefix cursor``: one bounded step; ``[next_cursor, [keys]]``,
    again with the cursor until it is empty."""
    return _wit.call(_E["redis_purge_script"])


def redis_plan_json(plan: Union[PurgePlan, Mapping[str, Any]]) -> str:
    """A purge plan as the purge script's ``plan_json`` argument."""
    return _wit.call(_E["redis_plan_json"], _plan_in(plan))


__all__ = [
    "Engine",
    "OriginStore",
    "Request",
    "Response",
    "Identity",
    "Respond",
    "CheckPredicates",
    "Call",
    "Fetch",
    "Plan",
    "MemberCall",
    "CacheBound",
    "CachePlan",
    "CachePut",
    "Lookup",
    "PurgeStep",
    "purge_covers",
    "Finished",
    "Claims",
    "JwtPair",
    "Outcome",
    "FetchOutcome",
    "ProtocolError",
    "NotFound",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "ValidationFailed",
    "PROTOCOL_CODES",
    "request_headers",
    "redis_put_script",
    "redis_purge_script",
    "redis_plan_json",
    "now_ms",
    "MizanKernelError",
]
