"""The client session (``wit/session.wit``, ``kernel/src/session``): the resource the clients of
``client.py`` interpret, and the two functions beside it.

Its calls take wasmtime-py's public call path (``_public``) whichever path the runtime uses for
the flat exports: a session call carries records and variants, and there are a few per user
action (one ``update`` per event batch), so the public path's per-call cost is not what a
client's time goes to (HTTP is). Values follow ``_public``'s conventions: a record is a tuple in
WIT field order going in and a dict keyed by WIT names coming out, a variant ``(case, payload)``.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

from wasmtime import Trap, WasmtimeError

from . import _public
from ._errors import MizanKernelError
from ._jsonio import _json
from ._runtime import Runtime, runtime

_IFACE = "mizan:kernel/client-session@0.1.0"
_EXPORTS = {
    "create": "[static]session.create",
    "update": "[method]session.update",
    "snapshot": "[method]session.snapshot",
    "dehydrate": "[method]session.dehydrate",
    "instance_count": "[method]session.instance-count",
    "idle": "[method]session.idle",
    "instance_key": "instance-key",
}

# The calls of the current instance, per runtime (re-bound after a trap re-created it).
_BOUND: Dict[int, Tuple[int, Dict[str, _public.Call]]] = {}
# Sessions of this process that were collected, to drop under the lock at the next call.
_DROPS: List[Tuple[int, int]] = []
_DROPS_LOCK = threading.Lock()


def _calls(rt: Runtime) -> Dict[str, _public.Call]:
    bound = _BOUND.get(id(rt))
    if bound is not None and bound[0] == rt.generation:
        return bound[1]
    inst, store = rt.instance, rt.store
    iface = inst.get_export_index(store, _IFACE)
    if iface is None:
        raise MizanKernelError("not-found", "this build of the component has no client-session interface (rebuild it)")
    calls = {}
    for name, export in _EXPORTS.items():
        index = inst.get_export_index(store, export, iface)
        calls[name] = _public.Call(export, inst.get_func(store, index), store)
    _BOUND[id(rt)] = (rt.generation, calls)
    return calls


def _prepare(rt: Runtime) -> Dict[str, _public.Call]:
    """Under the lock: the runtime ready, collected sessions dropped, the calls bound."""
    if rt.poisoned or rt.pending_drops:
        rt._prepare()
    with _DROPS_LOCK:
        drops = _DROPS[:]
        _DROPS.clear()
    for handle, generation in drops:
        if generation == rt.generation:
            try:
                _public.drop(rt, handle)
            except (WasmtimeError, Trap) as e:  # a trapping destructor: a fresh instance
                try:
                    rt._trap(str(e), "[dtor]session")
                except MizanKernelError:
                    pass
        _public.forget(handle)
    return _calls(rt)


def _call(rt: Runtime, name: str, *args: Any) -> Any:
    return _prepare(rt)[name](rt, args)


class ClientSession:
    """One client session. It holds state the kernel cannot rebuild, so after a trap using it
    raises ``MizanKernelError("trap")``: the client creates a new one and replays into it (the
    one trap rule, docs/hosts/python.md)."""

    __slots__ = ("_rt", "_handle", "_gen", "__weakref__")

    def __init__(self, config: Optional[Dict[str, Any]] = None) -> None:
        self._rt = rt = runtime()
        with rt.lock:
            self._handle = _call(rt, "create", None if config is None else _json(config, "config"))
            self._gen = rt.generation

    @property
    def lost(self) -> bool:
        """The kernel trapped since this session was made (its state is gone)."""
        return self._gen != self._rt.generation

    def _m(self, name: str, *args: Any) -> Any:
        rt = self._rt
        with rt.lock:
            calls = _prepare(rt)
            if self._gen != rt.generation:
                raise MizanKernelError("trap", "this client session was lost when the kernel trapped; create a new one")
            return calls[name](rt, (self._handle,) + args)

    def update(self, events: List[Any], now: int) -> Dict[str, Any]:
        """Events as ``(case, payload)``; the ``output`` record as a dict (WIT names)."""
        return self._m("update", events, now)  # type: ignore[no-any-return]

    def snapshot(self, key: str, now: int) -> Optional[str]:
        return self._m("snapshot", key, now)  # type: ignore[no-any-return]

    def dehydrate(self) -> str:
        return self._m("dehydrate")  # type: ignore[no-any-return]

    def instance_count(self) -> int:
        return self._m("instance_count")  # type: ignore[no-any-return]

    def idle(self) -> bool:
        return self._m("idle")  # type: ignore[no-any-return]

    def __del__(self) -> None:
        handle = getattr(self, "_handle", 0)
        if handle:
            with _DROPS_LOCK:
                _DROPS.append((handle, self._gen))


def instance_key(context: str, params_json: str) -> str:
    """The key ``subscribe`` gives ``(context, params)``."""
    rt = runtime()
    with rt.lock:
        return _call(rt, "instance_key", (context, params_json))  # type: ignore[no-any-return]
