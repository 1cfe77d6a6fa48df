"""The IR of a backend, found from what the app already has: ``python -m mizan_kernel ir
MODULE[:ATTR]`` (FastAPI, scripts) and ``manage.py export_mizan_ir`` (Django) both print
:meth:`Functions.to_kdl`, the kernel's canonical KDL, so one set of functions gives the same bytes
whichever framework registered it.

``MODULE:ATTR`` names a :class:`~mizan_kernel.Functions`, a :class:`~mizan_kernel.MizanApp`, what
``mizan_router(...)`` or ``mizan_urls(...)`` returned, or a FastAPI/Starlette app that mounts a
``mizan_router``. ``MODULE`` alone: the one registry among the module's globals (several that
describe the same functions count as one), else the functions registered with the module-level
``@client``.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Iterable, List, Optional

from .app import MizanApp
from .decorators import Functions, default_functions


class ExportError(Exception):
    """The target names nothing that has functions; the message says what was found."""


def registry_of(obj: Any, depth: int = 0) -> Optional[Any]:
    """The object's registry (anything with ``to_kdl()``: a ``Functions`` or a ``MizanApp``),
    or ``None`` when it has none."""
    if isinstance(obj, (Functions, MizanApp)):
        return obj
    mizan = getattr(obj, "mizan", None)  # mizan_router(...) / mizan_urls(...) / the router's endpoint
    if isinstance(mizan, MizanApp):
        return mizan
    if depth >= _MAX_DEPTH:
        return None
    for child in _children(obj):  # a FastAPI / Starlette app, router, included router or mount
        found = registry_of(child, depth + 1)
        if found is not None:
            return found
    return None


_MAX_DEPTH = 6
#: Where a Starlette/FastAPI route keeps what it serves (an included router, a mount, an endpoint).
_LINKS = ("endpoint", "original_router", "app")


def _children(obj: Any) -> Iterable[Any]:
    if isinstance(obj, type):
        return []
    routes = getattr(obj, "routes", None)
    out: List[Any] = list(routes) if isinstance(routes, list) else []
    if routes is not None or hasattr(obj, "endpoint") or hasattr(obj, "original_router"):
        out.extend(getattr(obj, link, None) for link in _LINKS)
    return [o for o in out if o is not None and o is not obj]


def load(target: str) -> Any:
    """The registry ``MODULE[:ATTR]`` names (see the module docstring)."""
    module_name, _, attr = target.partition(":")
    if not module_name:
        raise ExportError(f"{target!r}: expected MODULE or MODULE:ATTR")
    module = importlib.import_module(module_name)
    if attr:
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ExportError(f"{module_name} has no attribute {attr!r}")
            obj = getattr(obj, part)
        found = registry_of(obj)
        if found is None:
            raise ExportError(
                f"{target} is a {type(obj).__name__}: expected Functions, a MizanApp, what mizan_router() or "
                "mizan_urls() returned, or an app mounting a mizan_router"
            )
        return found
    candidates: Dict[str, List[str]] = {}
    registries: Dict[str, Any] = {}
    for name, value in vars(module).items():
        if name.startswith("__") or isinstance(value, type(module)):
            continue
        found = registry_of(value)
        if found is not None:
            kdl = found.to_kdl()
            candidates.setdefault(kdl, []).append(name)
            registries[kdl] = found
    if len(registries) == 1:
        return next(iter(registries.values()))
    if len(registries) > 1:
        names = " / ".join(", ".join(sorted(v)) for v in candidates.values())
        raise ExportError(f"{module_name} has registries with different functions ({names}): name one, {module_name}:ATTR")
    if default_functions.functions:
        return default_functions
    raise ExportError(f"{module_name} registers no functions (no Functions, MizanApp or mizan_router in it, no @client)")


def export(target: str) -> str:
    """The canonical KDL IR of ``MODULE[:ATTR]``."""
    return str(load(target).to_kdl())


__all__ = ["ExportError", "export", "load", "registry_of"]
