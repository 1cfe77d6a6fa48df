"""The fast call path packs wasmtime's C values by hand; it runs only when the installed
wasmtime-py has exactly the layout it packs, else the package falls back to wasmtime-py's public
API with a warning. Here: the check passes on the pinned wasmtime, reports each kind of
mismatch, and a forced mismatch gives the same answers through the public path."""

from __future__ import annotations

import ctypes
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import types

import pytest

import mizan_kernel as mk
from mizan_kernel import _layout, _runtime
from wasmtime import _ffi as ffi
from conftest import REPO


def test_the_pinned_wasmtime_has_the_layout_the_fast_path_packs() -> None:
    assert _layout.problems() == []
    assert _runtime.LAYOUT_PROBLEMS == []
    if os.environ.get("MIZAN_KERNEL_CALL_PATH", "") != "public":
        assert mk.runtime_info()["call_path"] == "fast"


def test_kinds_come_from_the_library() -> None:
    assert _layout.kinds(ffi)["STRING"] == ffi.WASMTIME_COMPONENT_STRING.value
    assert _runtime.STRING == ffi.WASMTIME_COMPONENT_STRING.value
    assert _runtime.RESOURCE == ffi.WASMTIME_COMPONENT_RESOURCE.value


def _ffi_with(**overrides: object) -> types.SimpleNamespace:
    """The real wasmtime._ffi with some names replaced (or removed, with None)."""
    ns = types.SimpleNamespace(**{k: getattr(ffi, k) for k in dir(ffi) if not k.startswith("__")})
    for k, v in overrides.items():
        setattr(ns, k, v)
    return ns


class _WiderEntry(ctypes.Structure):
    _fields_ = [("name", ffi.wasm_name_t), ("flags", ctypes.c_uint64), ("val", ffi.wasmtime_component_val_t)]


def test_each_kind_of_mismatch_is_a_problem() -> None:
    assert _layout.problems(version="51.0.0") == [
        "wasmtime 51.0.0 is not the 50.x this package verified its C layout against"
    ]
    wider = _layout.problems(_ffi_with(wasmtime_component_valrecord_entry_t=_WiderEntry))
    assert "sizeof(wasmtime_component_valrecord_entry_t) is 56, the fast path packs 48" in wider
    assert "offsetof(wasmtime_component_valrecord_entry_t, val) is 24, the fast path packs 16" in wider
    renumbered = _layout.problems(_ffi_with(WASMTIME_COMPONENT_LIST=ffi.WASMTIME_COMPONENT_STRING))
    assert any("not distinct" in p for p in renumbered)
    missing = _layout.problems(_ffi_with(WASMTIME_COMPONENT_VARIANT=None, dll=None))
    assert "wasmtime._ffi has no kind constant for VARIANT" in missing
    assert "the wasmtime library exports no wasmtime_component_func_call" in missing


def test_the_fast_path_is_refused_when_the_layout_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_runtime, "LAYOUT_PROBLEMS", ["sizeof(x) is 56, the fast path packs 48"])
    assert _runtime.default_call_path() == "public"
    with pytest.raises(ValueError, match="fast call path is unavailable"):
        _runtime.Runtime(call_path="fast")


# A wasmtime-py whose record entries are 8 bytes wider than the fast path packs: the mismatch is
# made in wasmtime._ffi's description only, so wasmtime-py's own (public) conversions, which
# captured the real structs when they were defined, still work.
_FORCE_MISMATCH = textwrap.dedent(
    """
    import ctypes, json, sys, warnings
    from wasmtime import _ffi as ffi

    class WiderEntry(ctypes.Structure):
        _fields_ = [("name", ffi.wasm_name_t), ("flags", ctypes.c_uint64), ("val", ffi.wasmtime_component_val_t)]

    ffi.wasmtime_component_valrecord_entry_t = WiderEntry
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import mizan_kernel as mk
    # Before pytest runs, only ask what the runtime would use: an Engine created now would
    # install wasmtime's trap handlers *under* pytest's faulthandler, which then takes a trap
    # (SIGILL) for a crash.
    running_tests = len(sys.argv) > 1
    path = mk._runtime.default_call_path() if running_tests else mk.runtime_info()["call_path"]
    print(json.dumps({"call_path": path, "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}))
    sys.stdout.flush()
    if running_tests:
        import pytest
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
    """
)


def _forced(*pytest_args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MIZAN_KERNEL_CALL_PATH"}
    return subprocess.run(
        [sys.executable, "-c", _FORCE_MISMATCH, *pytest_args],
        cwd=REPO / "python-shims" / "tests",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_forced_mismatch_warns_and_uses_the_public_path() -> None:
    out = _forced()
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[0])
    assert report["call_path"] == "public"
    (warning,) = report["warnings"]
    assert warning.startswith("RuntimeWarning: mizan-kernel: the installed wasmtime-py differs")
    assert "sizeof(wasmtime_component_valrecord_entry_t) is 56, the fast path packs 48" in warning
    assert "public call path" in warning and "pip install 'wasmtime>=50,<51'" in warning


def test_a_forced_mismatch_gives_the_same_answers() -> None:
    """The spec's vectors, every conformance scenario, the error shapes and trap recovery, the
    server engine and the client store: all through the public path."""
    suites = ["test_vectors.py", "test_conformance.py", "test_errors.py", "test_server.py", "test_client.py"]
    out = _forced(*suites)
    assert json.loads(out.stdout.splitlines()[0])["call_path"] == "public"
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert re.search(r"conformance: [1-9][0-9]* passed, 0 failed", out.stdout), out.stdout[-2000:]
    assert " passed" in out.stdout.splitlines()[-1] and "failed" not in out.stdout.splitlines()[-1]


def test_generated_calls_keep_each_variant_case_in_a_function_of_its_own() -> None:
    """CPython zeroes and clears every local of a frame on each call: with a variant's cases
    inlined, lowering the exchange's events took 448 locals and lifting its effects 201,
    whichever case a call took. Each case is its own function now; the largest generated
    function of the exchange stays small, and the cases still lower and lift as before."""
    from mizan_kernel import _wit
    from mizan_kernel._exchange import _E

    if mk.runtime_info()["call_path"] != "fast":
        pytest.skip("the public call path generates nothing")
    rt = _runtime.runtime()
    for name in ("begin", "arrive", "update"):
        ex = _E[name]
        if ex.gen != rt.generation:
            ex.bind(rt)
        functions = [ex.lower, ex.ok] + [ex.lower.__globals__[k] for k in ex.lower.__globals__ if k.startswith("case_")]
        widest = max(f.__code__.co_nlocals for f in functions if isinstance(f, types.FunctionType))
        assert widest < 120, f"{name}: a generated function with {widest} locals"


def _variant_of(cases: list) -> object:
    """A wasmtime VariantType with the given cases (no C type behind it), for the generator."""
    from wasmtime.component import VariantType

    class Fake(VariantType):
        @property
        def cases(self) -> list:  # type: ignore[override]
            return cases

    return Fake.__new__(Fake)


@pytest.mark.parametrize(
    "names, way",
    [
        (["ok", "error", "exception"], "size"),  # lengths differ
        (["run", "put", "log", "respond"], "first"),  # three of length 3, first bytes differ
        (["ab", "ac", "bb"], "name"),  # neither tells them apart: the name is read
    ],
)
def test_lifted_variants_tell_their_cases_apart_by_the_cheapest_key(names: list, way: str) -> None:
    """Generated lifting tells a case by its name's length, or length and first byte, and reads
    the name only when neither is unique: each way gives back every case by its own name."""
    from mizan_kernel import _wit

    if _wit._MEM is None:
        pytest.skip("the generated lifting needs the address-space view")
    assert _wit._case_keys(names)[0] == way
    lift = _wit._LiftGen().function(_variant_of([(n, None) for n in names]), "test")
    keep = []
    for name in names:
        text = ctypes.create_string_buffer(name.encode(), len(name))
        val = ctypes.create_string_buffer(32)
        struct.pack_into("<B7xQQQ", val, 0, _wit.VARIANT, len(name), ctypes.addressof(text), 0)
        keep += [text, val]
        assert lift(ctypes.addressof(val)) == (name, None)
