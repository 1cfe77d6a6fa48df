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
from ._types import PurgePlan

_IFACE = "mizan:kernel/server-exchange@0.1.0"
_E = {
    name: _wit.Export(_IFACE, export)
    for name, export in {
        "create": "[static]server.create",
        "warnings": "[method]server.warnings",
        "merge_purge_plans": "[method]server.merge-purge-plans",
        "begin": "[method]server.begin",
        "arrive": "[method]exchange.arrive",
        "update": "[method]exchange.update",
        "update_json": "[method]exchange.update-json",
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


#: Responded kernel exchanges a server keeps for its next requests (each takes the next arrival
#: as a new one would, wit/session.wit `exchange.arrive`): about as many as the requests in flight
#: at once; beyond this many, a closed exchange is freed.
IDLE_MAX = 64


def _release(rt: R.Runtime, idle: Optional[List[Tuple[int, int]]], handle: int, generation: int, responded: bool) -> None:
    """A served exchange: kept for its server's next request if it responded (and there is room),
    else its drop queued for the next kernel call."""
    if responded and idle is not None and len(idle) < IDLE_MAX:
        idle.append((handle, generation))
    else:
        rt.pending_drops.append((handle, generation))


class Exchange:
    """One request. It lives in the instance it began in: after a trap its calls raise
    ``MizanKernelError("trap")`` (answer 500). :meth:`close` it once served: a responded kernel
    exchange goes back to its server for a next request, any other is freed (under the lock of
    the next kernel call, as when it is collected unclosed)."""

    __slots__ = ("_rt", "_handle", "_gen", "_idle", "_responded", "__weakref__")

    def __init__(self, rt: R.Runtime, handle: int, generation: int, idle: Optional[List[Tuple[int, int]]] = None) -> None:
        self._rt, self._handle, self._gen, self._idle = rt, handle, generation, idle
        self._responded = False

    def _call(self, ex: _wit.Export, *args: Any) -> Any:
        rt = self._rt
        with rt.lock:
            if rt.poisoned or rt.pending_drops:
                rt._prepare()
            if self._gen != rt.generation:
                raise MizanKernelError("trap", "this exchange was lost when the kernel trapped")
            if not self._handle:
                raise MizanKernelError("invalid-argument", "this exchange is closed")
            return _wit.invoke(rt, ex, (self._handle, *args))

    def _free(self) -> None:
        """Queue the handle's drop (done under the lock of the next kernel call)."""
        if self._handle:
            self._rt.pending_drops.append((self._handle, self._gen))
            self._handle = 0

    def close(self) -> None:
        """Done with it: a responded kernel exchange goes back to its server's idle ones."""
        if self._handle:
            _release(self._rt, self._idle, self._handle, self._gen, self._responded)
            self._handle = 0

    def arrive(self, arrival: Tuple[Any, ...]) -> List[Effect]:
        """The next request, once it has responded (``ExchangeServer.begin`` does this for the
        exchanges its hosts closed); before the response ``MizanKernelError("invalid-argument")``."""
        effects: List[Effect] = self._call(_E["arrive"], arrival)
        self._responded = bool(effects) and effects[-1][0] == "respond"
        return effects

    def update(self, events: List[Event]) -> List[Effect]:
        """Events as ``(case, payload)``; the effects as ``(case, payload)``, in order. A misplaced
        event raises ``MizanKernelError("invalid-argument")``."""
        effects: List[Effect] = self._call(_E["update"], events)
        if effects and effects[-1][0] == "respond":
            self._responded = True
        return effects

    def update_json(self, events_json: str) -> str:
        """``update`` in the JSON form of tests/conformance/exchange: one string each way."""
        return self._call(_E["update_json"], events_json)  # type: ignore[no-any-return]

    def done(self) -> bool:
        """Whether it has responded."""
        if not self._handle:
            return True
        return self._call(_E["done"])  # type: ignore[no-any-return]

    def __del__(self) -> None:
        if getattr(self, "_rt", None) is not None:  # not when __init__ never ran
            self._free()


class ExchangeServer(_wit.Resource):
    """One app: the engine (registry and config, as :class:`~mizan_kernel.server.Engine` takes
    them) and the host's hooks (``identity``: it resolves a session; ``revocation``: it can tell a
    revoked session id). After a trap it is re-created from how it was made."""

    __slots__ = ("_args", "_idle")

    def __init__(self, registry: Any, config: Optional[Mapping[str, Any]] = None, *, identity: bool = False, revocation: bool = False) -> None:
        from .server import _config_in, _registry_json

        self._args = (_registry_json(registry), _config_in(config), (bool(identity), bool(revocation)))
        # Responded exchanges, (handle, generation), reused by `begin` (no kernel object made
        # and dropped per request).
        self._idle: List[Tuple[int, int]] = []
        self._init_resource()

    def _create(self, rt: R.Runtime) -> int:
        return _wit.invoke(rt, _E["create"], self._args)  # type: ignore[no-any-return]

    def warnings(self) -> List[str]:
        return self._m(_E["warnings"])  # type: ignore[no-any-return]

    def merge_purge_plans(self, pending: Any, failed: Any) -> Dict[str, Any]:
        """Purge plans as ``(scopes,)`` tuples (scopes ``(base, [(has_param, param_equals)])``)."""
        return self._m(_E["merge_purge_plans"], pending, failed)  # type: ignore[no-any-return]

    def begin(self, arrival: Tuple[Any, ...]) -> Tuple[Exchange, List[Effect]]:
        """An exchange for one request, and the effects its arrival asks for (one kernel call):
        one this server's hosts closed after it responded, given the arrival (``arrive``), else a
        new one.
        ``arrival``: ``(request, pending, now, identity)`` (``identity``: the session, for a host
        without the ``identity`` hook; else the exchange asks for it)."""
        handle, generation, effects = self._start(arrival)
        exchange = Exchange(self._rt, handle, generation, self._idle)
        exchange._responded = bool(effects) and effects[-1][0] == "respond"
        return exchange, effects

    # The same without an Exchange object per request, for the app's own interpreter
    # (mizan_kernel.app): (handle, generation) from `_start`, `_step` per update, `_end` once.

    def _start(self, arrival: Tuple[Any, ...]) -> Tuple[int, int, List[Effect]]:
        rt, idle = self._rt, self._idle
        with rt.lock:
            if rt.poisoned or rt.pending_drops:
                rt._prepare()
            generation = rt.generation
            while idle:
                handle, gen = idle.pop()
                if gen != generation:
                    rt.pending_drops.append((handle, gen))  # of an instance that trapped
                    continue
                try:
                    return handle, generation, _wit.invoke(rt, _E["arrive"], (handle, arrival))
                except BaseException:
                    rt.pending_drops.append((handle, generation))
                    raise
            server = self._handle if self._gen == generation else self._ensure(rt)
            begun = _wit.invoke(rt, _E["begin"], (server, arrival))
            return begun["exchange"], generation, begun["effects"]

    def _step(self, handle: int, generation: int, events: List[Event]) -> List[Effect]:
        rt = self._rt
        with rt.lock:
            if rt.poisoned or rt.pending_drops:
                rt._prepare()
            if generation != rt.generation:
                raise MizanKernelError("trap", "this exchange was lost when the kernel trapped")
            return _wit.invoke(rt, _E["update"], (handle, events))  # type: ignore[no-any-return]

    def _end(self, handle: int, generation: int, responded: bool) -> None:
        _release(self._rt, self._idle, handle, generation, responded)


__all__ = ["ExchangeServer", "Exchange", "Event", "Effect", "plan_in", "plan_out"]
