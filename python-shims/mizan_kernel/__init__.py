"""The Mizan kernel for Python: cache keys, the invalidation header, registries, merges and the
client store.

Every rule lives in the WebAssembly component (``mizan-kernel.wasm``) that all Mizan hosts run;
this package only translates: Python values go in as JSON text
(``json.dumps(value, ensure_ascii=False, allow_nan=False)``), JSON text comes back as Python
values, kernel errors become :class:`MizanKernelError`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._errors import MizanKernelError
from ._jsonio import _NOT_JSON, _dump, _json, _loads, _not_json
from ._runtime import ResourceOwner, component_path, runtime
from ._store import Store
from .client import AsyncClient, Client, MizanRequestError, Subscription
from .transports import AsyncHttpTransport, AsyncTransport, HttpTransport, Transport, TransportError
from ._types import (
    ContextPolicy,
    IndexedEntry,
    Invalidation,
    MergeResolution,
    PurgePlan,
    PurgeScope,
    PurgeTerm,
)

from .server import Engine, Identity, OriginStore, ProtocolError  # server engine (KERNEL.md §8, §10)
from .origin import MemoryOriginStore, OriginCache, RedisOriginStore  # origin-cache stores (§2.1)
from .decorators import Functions, current_identity, current_user  # @client registries
from .app import MizanApp  # the framework-independent host (FastAPI, Django)

__version__ = "0.1.0"

__all__ = [
    "MizanKernelError",
    "Keyer",
    "Registry",
    "Store",
    "Client",
    "AsyncClient",
    "Subscription",
    "MizanRequestError",
    "Transport",
    "AsyncTransport",
    "HttpTransport",
    "AsyncHttpTransport",
    "TransportError",
    "IndexedEntry",
    "PurgePlan",
    "PurgeScope",
    "PurgeTerm",
    "Invalidation",
    "MergeResolution",
    "ContextPolicy",
    "derive_cache_key",
    "derive_cache_keys",
    "derive_cache_key_rotation",
    "check_secret",
    "format_invalidate_header",
    "parse_invalidate_header",
    "stringify",
    "canonical_json",
    "apply_merge",
    "runtime_info",
    "set_memory_limit",
    "has_store",
    "component_path",
    "Engine",
    "OriginStore",
    "Identity",
    "ProtocolError",
    "OriginCache",
    "MemoryOriginStore",
    "RedisOriginStore",
    "Functions",
    "current_identity",
    "current_user",
    "MizanApp",
]

JSON = Any
#: A user subject: a string, or a number the kernel stringifies like JavaScript's ``String(v)``.
User = Union[str, int, float]


def _user(user: Optional[User]) -> Optional[str]:
    return None if user is None else _json(user, "user")


def _subject(subject: Optional[User]) -> Optional[str]:
    # The kernel takes a subject as text; a number is stringified by the kernel, not here.
    if subject is None or isinstance(subject, str):
        return subject
    return stringify(subject)


# --- canonical values --------------------------------------------------------------------------


def stringify(value: JSON) -> str:
    """JavaScript ``String(v)`` for a scalar, RFC 8785 canonical JSON for arrays and objects."""
    return runtime().call("stringify", _json(value, "value"))


def canonical_json(value: JSON) -> str:
    """RFC 8785 canonical JSON text of a JSON value."""
    return runtime().call("canonical_json", _json(value, "value"))


# --- cache keys --------------------------------------------------------------------------------


def check_secret(secret: str) -> List[str]:
    """Warnings about a usable secret (shorter than 32 bytes); raises for an empty one."""
    return runtime().call("check_secret", secret)


class Keyer(ResourceOwner):
    """Derives origin-cache keys under one secret; the HMAC key schedule is computed once."""

    __slots__ = ()

    def __init__(self, secret: str) -> None:
        if type(secret) is not str:
            raise TypeError(f"secret must be a str, got {type(secret).__name__}")
        self._bind("keyer.create", secret)

    def __repr__(self) -> str:
        return "Keyer(<secret>)"

    def derive(self, context: str, params: Mapping[str, JSON], user: Optional[User] = None, rev: int = 0) -> str:
        """``ctx:{context}:{hex}``; ``user=None`` is a public entry."""
        try:
            p = _dump(params)
            u = None if user is None else _dump(user)
        except _NOT_JSON as e:
            raise _not_json("params or user", e) from None
        return self._rt.method(self, "keyer.derive", context, p, u, rev)

    def derive_batch(self, items: Sequence[Mapping[str, JSON]]) -> List[str]:
        """One key per ``{"context", "params"?, "user"?, "rev"?}`` item, in order, in one call."""
        return self._rt.method(self, "keyer.derive_batch", _json(items, "items"))

    def index_entry(
        self, context: str, params: Mapping[str, JSON], user: Optional[User] = None, rev: int = 0
    ) -> IndexedEntry:
        """The entry key plus the reverse-index keys to add it to on put."""
        rec = self._rt.method(self, "keyer.index_entry", context, _json(params, "params"), _user(user), rev)
        return IndexedEntry(rec["key"], rec["index-keys"])

    def purge_plan(self, entries: Sequence[Union[str, Mapping[str, JSON]]]) -> PurgePlan:
        """The purge plan for invalidation entries (``"ctx"`` or ``{"context", "params"?}``)."""
        return PurgePlan._from_wit(self._rt.method(self, "keyer.purge_plan", _json(entries, "entries")))

    def purge_user_plan(self, contexts: Sequence[str], user: User) -> PurgePlan:
        """Every entry of one user in the given contexts (GDPR erasure)."""
        return PurgePlan._from_wit(self._rt.method(self, "keyer.purge_user_plan", contexts, _subject(user)))


_KEYERS: Dict[str, Keyer] = {}
_KEYERS_MAX = 64


def _keyer(secret: str) -> Keyer:
    keyer = _KEYERS.get(secret)
    if keyer is None:
        keyer = Keyer(secret)
        if len(_KEYERS) >= _KEYERS_MAX:
            _KEYERS.pop(next(iter(_KEYERS)), None)
        _KEYERS[secret] = keyer
    return keyer


def derive_cache_key(
    secret: str, context: str, params: Mapping[str, JSON], user: Optional[User] = None, rev: int = 0
) -> str:
    """``ctx:{context}:{hex}`` (KERNEL.md §2). Uses a cached :class:`Keyer` per secret."""
    return _keyer(secret).derive(context, params, user, rev)


def derive_cache_keys(secret: str, items: Sequence[Mapping[str, JSON]]) -> List[str]:
    """Many keys in one kernel call: ``items`` are ``{"context", "params"?, "user"?, "rev"?}``."""
    return _keyer(secret).derive_batch(items)


def derive_cache_key_rotation(
    secrets: Sequence[str], context: str, params: Mapping[str, JSON], user: Optional[User] = None, rev: int = 0
) -> List[str]:
    """The key under each secret, current first, to read through a rotation window."""
    return runtime().call(
        "derive_cache_key_rotation", secrets, context, _json(params, "params"), _user(user), rev
    )


# --- the X-Mizan-Invalidate header -------------------------------------------------------------


def format_invalidate_header(entries: Sequence[Union[str, Mapping[str, JSON]]]) -> str:
    """Entries (``"ctx"`` or ``{"context", "function"?, "params"?}``) to the header value."""
    return runtime().call("format_invalidate_header", _json(entries, "entries"))


def parse_invalidate_header(text: str) -> List[Any]:
    """The header value to entries (param values as strings); errors carry ``{"position"}``."""
    return _loads(runtime().call("parse_invalidate_header", text))


# --- merges ------------------------------------------------------------------------------------


def apply_merge(bundle: Mapping[str, JSON], entry: Mapping[str, JSON]) -> Optional[Dict[str, Any]]:
    """The bundle with a merge entry applied, or ``None`` when the merge changes nothing."""
    out = runtime().call("apply_merge", _json(bundle, "bundle"), _json(entry, "entry"))
    return None if out is None else _loads(out)


# --- the registry ------------------------------------------------------------------------------


class Registry(ResourceOwner):
    """Functions and contexts, read from KDL IR or the JSON form."""

    __slots__ = ()

    def __init__(self) -> None:
        raise TypeError("use Registry.from_kdl(text) or Registry.from_json(obj)")

    @classmethod
    def from_kdl(cls, text: str) -> "Registry":
        """Parse KDL IR; errors carry ``{"line", "column"}`` or ``{"problems"}``."""
        if type(text) is not str:
            raise TypeError(f"KDL text must be a str, got {type(text).__name__}")
        reg = cls.__new__(cls)
        reg._bind("registry.from_kdl", text)
        return reg

    @classmethod
    def from_json(cls, obj: Union[Mapping[str, JSON], str, bytes]) -> "Registry":
        """Read the JSON form: a dict (what ``@client`` decorators build) or its JSON text."""
        if isinstance(obj, bytes):
            obj = obj.decode()
        text = obj if isinstance(obj, str) else _json(obj, "registry")
        reg = cls.__new__(cls)
        reg._bind("registry.from_json", text)
        return reg

    def to_kdl(self) -> str:
        """The canonical KDL form."""
        return self._rt.method(self, "registry.to_kdl")

    def to_json(self) -> Dict[str, Any]:
        """The full JSON form."""
        return _loads(self._rt.method(self, "registry.to_json"))

    def resolve_invalidation(self, fn: str, args: Mapping[str, JSON], subject: Optional[User] = None) -> Invalidation:
        """What a call to ``fn`` invalidates, as body entries and as the header."""
        rec = self._rt.method(self, "registry.resolve_invalidation", fn, _json(args, "args"), _subject(subject))
        return Invalidation(_loads(rec["entries-json"]), rec["header"])

    def resolve_merges(self, fn: str, args: Mapping[str, JSON], result: JSON) -> MergeResolution:
        """The merge entries of a call to ``fn`` that returned ``result``, with diagnostics."""
        rec = self._rt.method(self, "registry.resolve_merges", fn, _json(args, "args"), _json(result, "result"))
        return MergeResolution(_loads(rec["merges-json"]), _loads(rec["diagnostics-json"]))

    def manifest(
        self, base_url: str = "/api/mizan", view_urls: Optional[Mapping[str, Sequence[str]]] = None
    ) -> Dict[str, Any]:
        """The edge manifest; ``view_urls`` maps context names to extra page routes."""
        urls = None if view_urls is None else _json(view_urls, "view_urls")
        return _loads(self._rt.method(self, "registry.manifest", base_url, urls))

    def context_policy(self, ctx: str) -> ContextPolicy:
        """Effective origin-cache policy of a context: max rev, cacheable, smallest TTL."""
        rec = self._rt.method(self, "registry.context_policy", ctx)
        return ContextPolicy(rec["rev"], rec["cacheable"], rec["ttl-seconds"])


# --- the runtime -------------------------------------------------------------------------------


def has_store() -> bool:
    """Whether the loaded component has the client store interface (newer builds do)."""
    return "store.create" in runtime().available


def runtime_info() -> Dict[str, Any]:
    """Where the component came from and what loading it cost: ``wasm``, ``sha256``,
    ``wasmtime``, ``artifact`` (the cache file), ``loaded`` (``cache`` or ``compiled``),
    ``load_ms``/``compile_ms``, ``instantiate_ms``, ``generation`` (instances created so far),
    ``call_path`` (``fast``, or ``public`` when the installed wasmtime-py failed the layout check
    or ``MIZAN_KERNEL_CALL_PATH=public``)."""
    rt = runtime()
    return dict(rt.info, memory_limit=rt.memory_limit)


def set_memory_limit(nbytes: Optional[int]) -> None:
    """Cap the instance's linear memory (default 256 MiB; ``None`` restores it). Growing past
    the cap makes the kernel trap, which this package turns into ``MizanKernelError("trap")``."""
    runtime().set_memory_limit(nbytes)
