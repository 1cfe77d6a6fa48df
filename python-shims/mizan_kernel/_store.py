"""The client store (KERNEL.md §7): a sans-IO state machine the host drives.

The host performs what :meth:`Store.drain` returns (``fetch``, ``call``, ``session``,
``schedule`` effects) and feeds the answers back (``fetch_ok``, ``call_ok``, …) with the current
time in milliseconds. Every value crosses as JSON; this class only translates.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._jsonio import _json as _dump
from ._jsonio import _loads
from ._runtime import ResourceOwner

JSON = Any


class Store(ResourceOwner):
    """One client store. Unlike keyers and registries it holds state, so after a kernel trap it
    is not rebuilt: using it raises ``MizanKernelError("trap")`` and the host creates a new one
    (and re-subscribes)."""

    __slots__ = ()
    _RECREATE = False

    def __init__(self, config: Optional[Mapping[str, JSON]] = None) -> None:
        self._bind("store.create", None if config is None else _dump(config, "config"))

    def _m(self, name: str, *args: Any) -> Any:
        return self._rt.method(self, name, *args)

    def start(self) -> None:
        """Ask for ``GET /session/`` (once)."""
        self._m("store.start")

    def session_ok(self, request_id: int, body: JSON) -> None:
        self._m("store.session_ok", request_id, _dump(body, "body"))

    def subscribe(self, context: str, params: Mapping[str, JSON], now: int) -> str:
        """Observe ``(context, params)``; fetches when there is no fresh data. The instance key."""
        return self._m("store.subscribe", context, _dump(params, "params"), now)

    def unsubscribe(self, key: str, now: int) -> None:
        self._m("store.unsubscribe", key, now)

    def prefetch(self, context: str, params: Mapping[str, JSON], now: int) -> str:
        """Warm the cache without observing. The instance key."""
        return self._m("store.prefetch", context, _dump(params, "params"), now)

    def refetch(self, key: str) -> None:
        self._m("store.refetch", key)

    def fetch_ok(self, request_id: int, body: JSON, now: int) -> None:
        self._m("store.fetch_ok", request_id, _dump(body, "body"), now)

    def fetch_err(self, request_id: int, error: JSON, now: int) -> None:
        """``error``: ``{"network": true}``, ``{"status", "body"?}`` or ``{"code", "message"}``."""
        self._m("store.fetch_err", request_id, _dump(error, "error"), now)

    def mutate(self, fn: str, args: Mapping[str, JSON], optimistic: Optional[Sequence[JSON]] = None) -> int:
        """Start a mutation (``optimistic``: merge entries applied at once). The mutation id."""
        return self._m("store.mutate", fn, _dump(args, "args"), None if optimistic is None else _dump(optimistic, "optimistic"))

    def call_ok(self, request_id: int, body: JSON, header: Optional[str] = None) -> None:
        """The call's JSON body and its ``X-Mizan-Invalidate`` header, if any."""
        self._m("store.call_ok", request_id, _dump(body, "body"), header)

    def call_err(self, request_id: int, error: JSON) -> None:
        self._m("store.call_err", request_id, _dump(error, "error"))

    def release_mutation(self, mutation_id: int) -> None:
        self._m("store.release_mutation", mutation_id)

    def invalidate(self, entries: Sequence[Union[str, Mapping[str, JSON]]]) -> None:
        """Mark matching instances stale; keeps their data."""
        self._m("store.invalidate", _dump(entries, "entries"))

    def remove(self, entries: Optional[Sequence[Union[str, Mapping[str, JSON]]]] = None) -> None:
        """Drop the data of matching instances at once (of all with ``None``)."""
        self._m("store.remove", None if entries is None else _dump(entries, "entries"))

    def reset(self) -> None:
        """Identity changed: drop every instance's data, forget mutations, new session."""
        self._m("store.reset")

    def tick(self, now: int) -> None:
        self._m("store.tick", now)

    def focus(self, now: int) -> None:
        self._m("store.focus", now)

    def online(self, now: int) -> None:
        self._m("store.online", now)

    def dehydrate(self) -> Dict[str, Any]:
        """``{"version": 1, "instances": [...]}`` for server-side rendering."""
        return _loads(self._m("store.dehydrate"))

    def hydrate(self, payload: Mapping[str, JSON], now: int) -> None:
        self._m("store.hydrate", _dump(payload, "payload"), now)

    def snapshot(self, key: str, now: int) -> Optional[Dict[str, Any]]:
        """The instance's state (status, data, error, staleness, slot versions…) or ``None``."""
        out = self._m("store.snapshot", key, now)
        return None if out is None else _loads(out)

    def mutation(self, mutation_id: int) -> Optional[Dict[str, Any]]:
        out = self._m("store.mutation", mutation_id)
        return None if out is None else _loads(out)

    def instance_count(self) -> int:
        return self._m("store.instance_count")

    def drain(self, now: int) -> Dict[str, List[Any]]:
        """``{"effects", "changed", "mutations"}`` since the last drain."""
        return _loads(self._m("store.drain", now))
