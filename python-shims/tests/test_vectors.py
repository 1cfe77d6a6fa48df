"""Every vector of tests/vectors/kernel-vectors.json that the kernel covers: cache keys, the
header (format and parse back) and merge resolution. The `wire` vectors are HTTP adapter
behaviour, not kernel calls; they are checked by the adapters."""

import json
from typing import Any

import pytest

import mizan_kernel as mk
from conftest import REPO

VECTORS = json.loads((REPO / "tests" / "vectors" / "kernel-vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("v", VECTORS["cache_keys"], ids=lambda v: v["id"])
def test_cache_key(v: dict) -> None:
    key = mk.derive_cache_key(v["secret"], v["context"], v["params"], v.get("user"), v.get("rev", 0))
    assert key == v["key"]
    keyer = mk.Keyer(v["secret"])
    assert keyer.derive(v["context"], v["params"], v.get("user"), v.get("rev", 0)) == v["key"]
    assert keyer.index_entry(v["context"], v["params"], v.get("user"), v.get("rev", 0)).key == v["key"]


def test_cache_keys_batch() -> None:
    by_secret: dict = {}
    for v in VECTORS["cache_keys"]:
        by_secret.setdefault(v["secret"], []).append(v)
    for secret, vs in by_secret.items():
        items = []
        for v in vs:
            item = {"context": v["context"], "params": v["params"], "rev": v.get("rev", 0)}
            if "user" in v:
                item["user"] = v["user"]
            items.append(item)
        assert mk.derive_cache_keys(secret, items) == [v["key"] for v in vs]


def _header_value(v: Any) -> str:
    # The header vectors only use strings and integers, whose String(v) is obvious.
    assert isinstance(v, (str, int)) and not isinstance(v, bool)
    return v if isinstance(v, str) else str(v)


def _parsed(entry: Any) -> Any:
    if isinstance(entry, str):
        return entry
    out = dict(entry)
    if "params" in out:
        out["params"] = {k: _header_value(x) for k, x in out["params"].items()}
    return out


@pytest.mark.parametrize("v", VECTORS["header"], ids=lambda v: v["header"])
def test_header_format_and_parse(v: dict) -> None:
    assert mk.format_invalidate_header(v["entries"]) == v["header"]
    assert mk.parse_invalidate_header(v["header"]) == [_parsed(e) for e in v["entries"]]


@pytest.mark.parametrize("v", VECTORS["merge"], ids=lambda v: v["note"])
def test_merge_resolution(v: dict) -> None:
    reg = mk.Registry.from_json(v["registry"])
    call = v["call"]
    res = reg.resolve_merges(call["fn"], call["args"], call["result"])
    assert res.merge == v["expect"]["merge"]
    assert res.diagnostics == []
    assert reg.resolve_invalidation(call["fn"], call["args"]).invalidate == v["expect"]["invalidate"]
