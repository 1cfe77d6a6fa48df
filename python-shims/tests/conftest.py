"""Tests load the freshly built component (target/mizan-kernel.wasm) when the checkout has one,
so they never test a stale copy inside the package."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_TARGET = REPO / "target" / "mizan-kernel.wasm"
if _TARGET.is_file():
    os.environ.setdefault("MIZAN_KERNEL_WASM", str(_TARGET))

CONFORMANCE_RESULTS: dict = {}  # scenario id -> passed
CONFORMANCE_SKIPPED: dict = {}  # scenario id -> op


def pytest_terminal_summary(terminalreporter):  # type: ignore[no-untyped-def]
    if CONFORMANCE_RESULTS or CONFORMANCE_SKIPPED:
        passed = sum(1 for ok in CONFORMANCE_RESULTS.values() if ok)
        failed = len(CONFORMANCE_RESULTS) - passed
        skipped = len(CONFORMANCE_SKIPPED)
        if skipped:
            ops: dict = {}
            for op in CONFORMANCE_SKIPPED.values():
                ops[op] = ops.get(op, 0) + 1
            terminalreporter.write_line(
                "conformance skipped (no Python API yet): " + ", ".join(f"{op} x{n}" for op, n in sorted(ops.items()))
            )
        terminalreporter.write_line(
            f"conformance: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
        )
