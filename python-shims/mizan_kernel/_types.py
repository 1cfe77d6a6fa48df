from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class IndexedEntry:
    """An entry key and the reverse-index sets the entry belongs to (KERNEL.md §2.1)."""

    key: str
    index_keys: List[str]


@dataclass(frozen=True)
class PurgeTerm:
    """An entry passes when it is in ``param_equals`` or not in ``has_param``."""

    has_param: str
    param_equals: str


@dataclass(frozen=True)
class PurgeScope:
    """The members of the ``base`` set that pass every term."""

    base: str
    terms: List[PurgeTerm]


@dataclass(frozen=True)
class PurgePlan:
    """Purge the union of the scopes; remove purged entries from their sets; drop empty sets."""

    scopes: List[PurgeScope]

    @classmethod
    def _from_wit(cls, rec: Dict[str, Any]) -> "PurgePlan":
        return cls(
            [
                PurgeScope(s["base"], [PurgeTerm(t["has-param"], t["param-equals"]) for t in s["terms"]])
                for s in rec["scopes"]
            ]
        )


@dataclass(frozen=True)
class Invalidation:
    """The ``invalidate`` body list and the matching ``X-Mizan-Invalidate`` header (``None``
    when the entries exceed the header limits)."""

    invalidate: List[Any]
    header: Optional[str]


@dataclass(frozen=True)
class MergeResolution:
    """The ``merge`` body list and one diagnostic per merge target without a unique slot."""

    merge: List[Any]
    diagnostics: List[Any]


@dataclass(frozen=True)
class ContextPolicy:
    """Effective origin-cache policy of a context; ``ttl_seconds=None`` means the host's
    safety TTL."""

    rev: int
    cacheable: bool
    ttl_seconds: Optional[int]
