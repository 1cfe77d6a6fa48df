"""Tests load the freshly built component (target/mizan-kernel.wasm) when the checkout has one,
so they never test a stale copy inside the package."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_TARGET = REPO / "target" / "mizan-kernel.wasm"
if _TARGET.is_file():
    os.environ.setdefault("MIZAN_KERNEL_WASM", str(_TARGET))

CONFORMANCE_RESULTS: dict = {}


def pytest_terminal_summary(terminalreporter):  # type: ignore[no-untyped-def]
    if CONFORMANCE_RESULTS:
        passed = sum(1 for ok in CONFORMANCE_RESULTS.values() if ok)
        failed = len(CONFORMANCE_RESULTS) - passed
        terminalreporter.write_line(f"conformance: {passed} passed, {failed} failed")
