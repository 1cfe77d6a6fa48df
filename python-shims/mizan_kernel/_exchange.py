"""The server exchange (``wit/session.wit`` ``server-exchange``; docs/SERVER.md "The exchange"):
one request from its arrival to its response, driven as ``update(events) -> effects``. A Python
server host is its interpreter: it resolves the session, asks its revocation hook and
predicates, runs functions, does the cache I/O, keeps its process's pending purge and sends the
``respond`` effect's response. Every decision is the kernel's.

Calls go through ``_wit`` (the typed lean path, or wasmtime-py's public path where the layout
check failed), with its conventions: a record is a tuple in WIT field order going in and a dict
keyed by WIT names coming out, a variant ``(case, payload)``, an enum a ``str``, an option
``None`` or the value.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import _runtime as R
from . import _wit
from ._errors import MizanKernelError

_IFACE = "mizan:kernel/server-exchange@0.1.0"
_E = {
    name: _wit.Export(_IFACE, export)
    for name, export in {
        "create": "[static]server.create",
        "warnings": "[method]server.warnings",
        "merge_purge_plans": "[method]server.merge-purge-plans",
        "begin": "[method]server.begin",
        "update": "[method]exchange.update",
        "update_json": "[method]exchange.update-json",
    }.items()
}


class Exchange:
    """One request. It lives in the instance it began in: after a trap its calls raise
    ``MizanKernelError("trap")`` (answer 500)."""

    __slots__ = ("_rt", "_handle", "_gen", "__weakref__")

    def __init__(self, rt: R.Runtime, handle: int) -> None:
        self._rt, self._handle, self._gen = rt, handle, rt.generation

    def _call(self, ex: _wit.Export, arg: Any) -> Any:
        rt = self._rt
        with rt.lock:
            if rt.poisoned or rt.pending_drops:
                rt._prepare()
            if self._gen != rt.generation:
                raise MizanKernelError("trap", "this exchange was lost when the kernel trapped")
            return _wit.invoke(rt, ex, (self._handle, arg))

    def update(self, events: List[Any]) -> List[Tuple[str, Any]]:
        """Events as ``(case, payload)``; the effects as ``(case, payload)``, in order. A misplaced
        event raises ``MizanKernelError("invalid-argument")``."""
        return self._call(_E["update"], events)  # type: ignore[no-any-return]

    def update_json(self, events_json: str) -> str:
        """``update`` in the JSON form of tests/conformance/exchange: one string each way."""
        return self._call(_E["update_json"], events_json)  # type: ignore[no-any-return]

    def __del__(self) -> None:
        handle = getattr(self, "_handle", 0)
        rt = getattr(self, "_rt", None)
        if handle and rt is not None:
            rt.pending_drops.append((handle, self._gen))  # dropped under the lock at the next call


class ExchangeServer(_wit.Resource):
    """One app: the engine (registry and config, as :class:`~mizan_kernel.server.Engine` takes
    them) and the host's hooks (``identity``: it resolves a session; ``revocation``: it can tell a
    revoked session id). After a trap it is re-created from how it was made."""

    __slots__ = ("_args",)

    def __init__(self, registry: Any, config: Optional[Mapping[str, Any]] = None, *, identity: bool = False, revocation: bool = False) -> None:
        from .server import _config_in, _registry_json

        self._args = (_registry_json(registry), _config_in(config), (bool(identity), bool(revocation)))
        self._init_resource()

    def _create(self, rt: R.Runtime) -> int:
        return _wit.invoke(rt, _E["create"], self._args)  # type: ignore[no-any-return]

    def warnings(self) -> List[str]:
        return self._m(_E["warnings"])  # type: ignore[no-any-return]

    def merge_purge_plans(self, pending: Any, failed: Any) -> Dict[str, Any]:
        """Purge plans as ``(scopes,)`` tuples (scopes ``(base, [(has_param, param_equals)])``)."""
        return self._m(_E["merge_purge_plans"], pending, failed)  # type: ignore[no-any-return]

    def begin(self, arrival: Tuple[Any, ...]) -> Tuple[Exchange, List[Tuple[str, Any]]]:
        """A new exchange for one request, and the effects its arrival asks for. ``arrival``:
        ``(request, pending, now, identity)`` (``identity``: the session, for a host without the
        ``identity`` hook; else the exchange asks for it)."""
        begun = self._m(_E["begin"], arrival)
        return Exchange(self._rt, begun["exchange"]), begun["effects"]
