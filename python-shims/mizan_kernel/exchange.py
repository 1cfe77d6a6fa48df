"""The server exchange (``wit/session.wit`` ``server-exchange``, ``kernel/src/server/exchange``):
one request from its arrival to its response, as a kernel resource the host drives with
``update(events) -> effects`` and whose effects it performs. :class:`~mizan_kernel.app.MizanApp`
is such a host; this module is the thin typed wrapper under it.

The calls take the typed lean path of ``_wit`` (the component's own types, compiled once per
process), or wasmtime-py's public path when ``_layout`` refuses the fast one. Values follow
``_wit``'s conventions: an event or an effect is ``(case, payload)`` with the WIT case names
(``"arrived"``, ``"resolve-identity"``…); a record is a tuple in WIT field order going in and a
dict keyed by WIT names coming out.

A request costs ``begin`` plus one ``update`` per question the exchange asks (identity,
predicates, the cache read, running the functions, the purge or put): the host answers each
effect that asks something with its event and passes every answer it has in one ``update``.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Tuple

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


class Server(_wit.Resource):
    """The exchange's ``server`` resource: one app's engine (registry and config) and the
    host's hooks. ``identity``: the host reads a session identity (else it is never asked);
    ``revocation``: it can tell whether a JWT's session id is revoked. After a kernel trap it
    is created again from the same arguments (it holds no state between requests)."""

    __slots__ = ("_registry_json", "_config", "_hooks")

    def __init__(self, registry_json: str, config: Tuple[Any, ...], identity: bool, revocation: bool) -> None:
        self._registry_json = registry_json
        self._config = config
        self._hooks = (bool(identity), bool(revocation))
        self._init_resource()

    def _create(self, rt: Any) -> int:
        return _wit.invoke(rt, _E["create"], (self._registry_json, self._config, self._hooks))  # type: ignore[no-any-return]

    def warnings(self) -> List[str]:
        return self._m(_E["warnings"])  # type: ignore[no-any-return]

    def merge_purge_plans(self, pending: Any, failed: Any) -> PurgePlan:
        """The pending purge after another failed: both plans, each scope once."""
        return plan_out(self._m(_E["merge_purge_plans"], plan_in(pending), plan_in(failed)))

    def begin(self, events: List[Event]) -> "Tuple[Exchange, List[Effect]]":
        """A new exchange, and the effects of its first ``events`` (``arrived``, or
        ``refused``): two kernel calls under one hold of the lock."""
        rt = self._rt
        with rt.lock:
            if rt.poisoned or rt.pending_drops:
                rt._prepare()
            handle = self._handle if self._gen == rt.generation else self._ensure(rt)
            x = Exchange(rt, _wit.invoke(rt, _E["begin"], (handle,)))
            return x, x._update(rt, events)


class Exchange:
    """One request's exchange. It holds state the kernel cannot rebuild: after a trap, using it
    raises ``MizanKernelError("trap")`` (the host answers 500; the next request gets a new
    one). It is dropped as soon as it has responded (or by the collector, under the lock of
    the next kernel call)."""

    __slots__ = ("_rt", "_handle", "_gen")

    def __init__(self, rt: R.Runtime, handle: int) -> None:
        self._rt = rt
        self._handle = handle
        self._gen = rt.generation

    def _update(self, rt: R.Runtime, events: List[Event]) -> List[Effect]:
        if self._gen != rt.generation:
            raise MizanKernelError("trap", "this exchange was lost when the kernel trapped")
        effects: List[Effect] = _wit.invoke(rt, _E["update"], (self._handle, events))
        if effects and effects[-1][0] == "respond":
            self._release(rt)
        return effects

    def update(self, events: List[Event]) -> List[Effect]:
        """Apply the events in order; the effects to perform, in order (``respond`` last)."""
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

    def _release(self, rt: R.Runtime) -> None:
        # Dropped under the lock at the start of the next kernel call, as every resource is.
        rt.pending_drops.append((self._handle, self._gen))
        self._handle = 0

    def __del__(self) -> None:
        handle = getattr(self, "_handle", 0)
        if handle:
            self._rt.pending_drops.append((handle, self._gen))


__all__ = ["Server", "Exchange", "plan_in", "plan_out"]
