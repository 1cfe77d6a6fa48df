"""Loads the per-feature conformance files (tests/conformance/README.md) for the Python tests:
every `tests/conformance/<feature>/scenarios.json`, merged into one document. A new feature
directory is picked up without touching the tests. Re-exports the one JSON equality of the
Python test code (tests/wire/run_wire.py's, a stdlib-only script)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "wire"))
from run_wire import json_equal  # noqa: E402

__all__ = ["ROOT", "feature_files", "json_equal", "load_scenarios"]

ROOT = REPO / "tests" / "conformance"


def feature_files(path: Path, file: str = "scenarios.json") -> List[Path]:
    """`path` itself when it is a file, `path/file` when the directory is one feature, else
    every `path/<feature>/file`."""
    if path.is_file():
        return [path]
    if (path / file).is_file():
        return [path / file]
    return sorted(p for p in path.glob(f"*/{file}") if p.is_file())


def load_scenarios(path: Optional[Union[str, Path]] = None) -> Dict[str, Any]:
    """One `{"registries", "scenarios"}` document from every file `path` stands for (default:
    $MIZAN_CONFORMANCE, else tests/conformance). Two features may carry the same registry name
    only with the same registry; no scenario id may appear twice."""
    where = Path(path or os.environ.get("MIZAN_CONFORMANCE") or ROOT)
    files = feature_files(where)
    if not files:
        raise FileNotFoundError(f"no scenarios.json under {where}")
    registries: Dict[str, Any] = {}
    scenarios: List[Dict[str, Any]] = []
    ids = set()
    for f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        for name, spec in doc.get("registries", {}).items():
            if name in registries and not json_equal(registries[name], spec):
                raise ValueError(f"{f}: registry {name} differs from another feature's registry of that name")
            registries[name] = spec
        for s in doc["scenarios"]:
            if s["id"] in ids:
                raise ValueError(f"{f}: scenario id {s['id']} appears twice")
            ids.add(s["id"])
            scenarios.append(s)
    return {"registries": registries, "scenarios": scenarios}
