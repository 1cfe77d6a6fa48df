"""The server exchange (``wit/session.wit`` ``server-exchange``; docs/SERVER.md "The exchange"):
one request from its arrival to its response, driven as ``update(events) -> effects``. A Python
server host is its interpreter (:class:`~mizan_kernel.app.MizanApp`): it resolves the session,
asks its revocation hook and predicates, runs functions, does the cache I/O, keeps its process's
pending purge and sends the ``respond`` effect's response. Every decision is the kernel's.

The calls are on a request's hot path (``start`` plus one ``update`` per question the exchange
asks), so they take ``_wit``'s typed lean path (the component's own types compiled once per
process), or wasmtime-py's public path when ``_layout`` refuses the fast one. Values follow
``_wit``: a record is a tuple in WIT field order going in and a dict keyed by WIT names coming
out, a variant ``(case, payload)``, an enum a ``str``, an option ``None`` or the value.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import _runtime as R
from . import _wit
from ._errors import MizanKernelError
from ._types import PurgePlan

_IFACE = "mizan:kernel/server-exchange@0.1.0"
_E = {
    name: _wit.Export(_IFACE, export)
    for name, export in {
        "create": "[static]server.create",
        "warnings": "[method]server.warnings",
        "merge_purge_plans": "[method]server.merge-purge-plans",
        "begin": "[method]server.begin",
        "update": "[method]exchange.update",
        "done": "[method]exchange.done",
    }.items()
}

Event = Tuple[str, Any]
Effect = Tuple[str, Any]


def plan_in(plan: Any) -> Tuple[Any, ...]:
    """A purge plan (:class:`PurgePlan`, or its JSON form) as the WIT record."""
    from .server import _plan_in

    return _plan_in(plan)


def plan_out(rec: Mapping[str, Any]) -> PurgePlan:
    """A purge plan record (an effect's payload) as a :class:`PurgePlan`."""
    return PurgePlan._from_wit(rec)  # type: ignore[arg-type]


class Exchange:
    """One request. It lives in the instance it began in: after a trap ``update`` raises
    ``MizanKernelError("trap")`` (answer 500). It is dropped once it has responded (or when
    collected), under the lock of the next kernel call."""

    __slots__ = ("_rt", "_handle", "_gen", "__weakref__")

    def __init__(self, rt: R.Runtime, handle: int, generation: int) -> None:
        self._rt, self._handle, self._gen = rt, handle, generation

    def _update(self, rt: R.Runtime, events: List[Event]) -> List[Effect]:
        if self._gen != rt.generation or not self._handle:
            raise MizanKernelError("trap", "this exchange was lost when the kernel trapped")
        effects: List[Effect] = _wit.invoke(rt, _E["update"], (self._handle, events))
        if effects and effects[-1][0] == "respond":  # over: free it now
            rt.pending_drops.append((self._handle, self._gen))
            self._handle = 0
        return effects

    def update(self, events: List[Event]) -> List[Effect]:
        """Events as ``(case, payload)``; the effects as ``(case, payload)``, in order. A misplaced
        event raises ``MizanKernelError("invalid-argument")``."""
        rt = self._rt
        with rt.lock:
            if rt.poisoned or rt.pending_drops:
                rt._prepare()
            return self._update(rt, events)

    def done(self) -> bool:
        """Whether it has responded."""
        if not self._handle:
            return True
        rt = self._rt
        with rt.lock:
            if self._gen != rt.generation:
                raise MizanKernelError("trap", "this exchange was lost when the kernel trapped")
            return _wit.invoke(rt, _E["done"], (self._handle,))  # type: ignore[no-any-return]

    def __del__(self) -> None:
        handle = getattr(self, "_handle", 0)
        if handle:
            self._rt.pending_drops.append((handle, self._gen))


class ExchangeServer(_wit.Resource):
    """One app: the engine (registry and config, as :class:`~mizan_kernel.server.Engine` takes
    them) and the host's hooks (``identity``: it resolves a session; ``revocation``: it can tell a
    revoked session id). It holds no state between requests: after a trap it is created again
    from how it was made."""

    __slots__ = ("_args",)

    def __init__(self, registry: Any, config: Optional[Mapping[str, Any]] = None, *, identity: bool = False, revocation: bool = False) -> None:
        from .server import _config_in, _registry_json

        self._args = (_registry_json(registry), _config_in(config), (bool(identity), bool(revocation)))
        self._init_resource()

    def _create(self, rt: Any) -> int:
        return _wit.invoke(rt, _E["create"], self._args)  # type: ignore[no-any-return]

    def warnings(self) -> List[str]:
        return self._m(_E["warnings"])  # type: ignore[no-any-return]

    def merge_purge_plans(self, pending: Any, failed: Any) -> Dict[str, Any]:
        """Purge plans as ``(scopes,)`` tuples (scopes ``(base, [(has_param, param_equals)])``)."""
        return self._m(_E["merge_purge_plans"], pending, failed)  # type: ignore[no-any-return]

    def _begin(self, rt: R.Runtime) -> Exchange:
        if rt.poisoned or rt.pending_drops:
            rt._prepare()
        handle = self._handle if self._gen == rt.generation else self._ensure(rt)
        return Exchange(rt, _wit.invoke(rt, _E["begin"], (handle,)), rt.generation)

    def begin(self) -> Exchange:
        rt = self._rt
        with rt.lock:
            return self._begin(rt)

    def start(self, events: List[Event]) -> Tuple[Exchange, List[Effect]]:
        """``begin`` and the first ``update`` (``arrived``), in one hold of the kernel lock."""
        rt = self._rt
        with rt.lock:
            exchange = self._begin(rt)
            return exchange, exchange._update(rt, events)


__all__ = ["ExchangeServer", "Exchange", "plan_in", "plan_out"]
