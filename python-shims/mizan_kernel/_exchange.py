"""The server exchange (``wit/session.wit`` ``server-exchange``; docs/SERVER.md "The exchange"):
one request from its arrival to its response, driven as ``update(events) -> effects``. A Python
server host is its interpreter: it resolves the session, asks its revocation hook and
predicates, runs functions, does the cache I/O, keeps its process's pending purge and sends the
``respond`` effect's response. Every decision is the kernel's.

Calls take wasmtime-py's public call path (``_public``), as the client session's do (see
``_session``): values are a record as a tuple in WIT field order going in and a dict keyed by WIT
names coming out, a variant ``(case, payload)``, an enum a ``str``, an option ``None`` or the
value. Collected exchanges are dropped through the client session's queue (``_session._DROPS``),
which drops any public-path resource.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import _public, _session
from ._errors import MizanKernelError
from ._runtime import Runtime, runtime

_IFACE = "mizan:kernel/server-exchange@0.1.0"
_EXPORTS = {
    "create": "[static]server.create",
    "warnings": "[method]server.warnings",
    "merge_purge_plans": "[method]server.merge-purge-plans",
    "begin": "[method]server.begin",
    "update": "[method]exchange.update",
    "update_json": "[method]exchange.update-json",
}

_BOUND: Dict[int, Tuple[int, Dict[str, _public.Call]]] = {}


def _calls(rt: Runtime) -> Dict[str, _public.Call]:
    """Under the lock: the runtime ready, collected resources dropped, this interface's calls bound."""
    _session._prepare(rt)
    bound = _BOUND.get(id(rt))
    if bound is not None and bound[0] == rt.generation:
        return bound[1]
    inst, store = rt.instance, rt.store
    iface = inst.get_export_index(store, _IFACE)
    if iface is None:
        raise MizanKernelError("not-found", "this build of the component has no server-exchange interface (rebuild it)")
    calls = {name: _public.Call(export, inst.get_func(store, inst.get_export_index(store, export, iface)), store) for name, export in _EXPORTS.items()}
    _BOUND[id(rt)] = (rt.generation, calls)
    return calls


def _collected(handle: int, generation: int) -> None:
    if handle:
        with _session._DROPS_LOCK:
            _session._DROPS.append((handle, generation))


class Exchange:
    """One request. It lives in the instance it began in: after a trap ``update`` raises
    ``MizanKernelError("trap")`` (answer 500)."""

    __slots__ = ("_rt", "_handle", "_gen", "__weakref__")

    def __init__(self, rt: Runtime, handle: int, generation: int) -> None:
        self._rt, self._handle, self._gen = rt, handle, generation

    def update(self, events: List[Any]) -> List[Tuple[str, Any]]:
        """Events as ``(case, payload)``; the effects as ``(case, payload)``, in order. A misplaced
        event raises ``MizanKernelError("invalid-argument")``."""
        rt = self._rt
        with rt.lock:
            calls = _calls(rt)
            if self._gen != rt.generation:
                raise MizanKernelError("trap", "this exchange was lost when the kernel trapped")
            return calls["update"](rt, (self._handle, events))  # type: ignore[no-any-return]

    def update_json(self, events_json: str) -> str:
        """``update`` in the JSON form of tests/conformance/exchange: one string each way (a call
        with records and variants costs far more on wasmtime-py's public path than the JSON)."""
        rt = self._rt
        with rt.lock:
            calls = _calls(rt)
            if self._gen != rt.generation:
                raise MizanKernelError("trap", "this exchange was lost when the kernel trapped")
            return calls["update_json"](rt, (self._handle, events_json))  # type: ignore[no-any-return]

    def __del__(self) -> None:
        _collected(getattr(self, "_handle", 0), getattr(self, "_gen", 0))


class ExchangeServer:
    """One app: the engine (registry and config, as :class:`~mizan_kernel.server.Engine` takes
    them) and the host's hooks (``identity``: it resolves a session; ``revocation``: it can tell a
    revoked session id). After a trap it is re-created from how it was made."""

    __slots__ = ("_rt", "_handle", "_gen", "_args", "__weakref__")

    def __init__(self, registry: Any, config: Optional[Mapping[str, Any]] = None, *, identity: bool = False, revocation: bool = False) -> None:
        from .server import _config_in, _registry_json

        self._rt = rt = runtime()
        self._args = (_registry_json(registry), _config_in(config), (bool(identity), bool(revocation)))
        self._handle, self._gen = 0, -1
        with rt.lock:
            self._own(_calls(rt))

    def _own(self, calls: Dict[str, _public.Call]) -> int:
        """The server resource of the current instance (made again after a trap)."""
        rt = self._rt
        if self._gen != rt.generation:
            self._handle = calls["create"](rt, self._args)
            self._gen = rt.generation
        return self._handle

    def _m(self, name: str, *args: Any) -> Any:
        rt = self._rt
        with rt.lock:
            calls = _calls(rt)
            return calls[name](rt, (self._own(calls),) + args)

    def warnings(self) -> List[str]:
        return self._m("warnings")  # type: ignore[no-any-return]

    def merge_purge_plans(self, pending: Any, failed: Any) -> Dict[str, Any]:
        """Purge plans as ``(scopes,)`` tuples (scopes ``(base, [(has_param, param_equals)])``)."""
        return self._m("merge_purge_plans", pending, failed)  # type: ignore[no-any-return]

    def begin(self) -> Exchange:
        rt = self._rt
        with rt.lock:
            calls = _calls(rt)
            handle = calls["begin"](rt, (self._own(calls),))
            return Exchange(rt, handle, rt.generation)

    def __del__(self) -> None:
        if getattr(self, "_gen", -1) == getattr(getattr(self, "_rt", None), "generation", None):
            _collected(self._handle, self._gen)
