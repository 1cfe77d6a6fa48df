"""Per-call cost of the Python host against pure-Python peers.

    .venv/bin/python python-shims/bench.py [--quick] [--wall] [--write-docs]

`--write-docs` also writes the output into docs/hosts/python.md (its generated block). Every figure is the median over rounds of the mean per-call time of a round, in µs of the
calling thread's CPU time (`--wall` for wall-clock time, which on a shared machine swings with
the other processes' load). The pure-Python peers are faithful (checked against
tests/vectors/kernel-vectors.json before timing), so the ratios compare equal work.
"""

from __future__ import annotations

import contextlib
import decimal
import io
import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List
from urllib.parse import quote, unquote

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if (REPO / "target" / "mizan-kernel.wasm").is_file():
    os.environ.setdefault("MIZAN_KERNEL_WASM", str(REPO / "target" / "mizan-kernel.wasm"))

import mizan_kernel as mk  # noqa: E402
from mizan_kernel import _runtime  # noqa: E402
from mizan_kernel.server import Request  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
from docblock import replace_block  # noqa: E402

# --- pure-Python peers -------------------------------------------------------------------------

_compact = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _utf16(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def js_number(x: float) -> str:
    """ECMAScript Number::toString for a finite double."""
    if x == 0:
        return "0"
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError("not JSON")
    sign = "-" if x < 0 else ""
    _, digits_t, exp = decimal.Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digits_t))
    k = len(digits)
    n = k + int(exp)  # the decimal point sits after n digits
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mant = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mant}e{'+' if e > 0 else '-'}{abs(e)}"


def canonical(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ",".join(_compact(k) + ":" + canonical(v[k]) for k in sorted(v, key=_utf16)) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, float):
        return js_number(v)
    return _compact(v)


def js_string(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return js_number(float(v)) if abs(v) >= 2**53 else str(v)
    if isinstance(v, float):
        return js_number(v)
    return canonical(v)


def py_derive_key(secret: str, context: str, params: Dict[str, Any], user: Any = None, rev: int = 0) -> str:
    msg: Dict[str, Any] = {"c": context, "p": {k: js_string(params[k]) for k in sorted(params, key=_utf16)}, "r": rev}
    if user is not None:
        msg["u"] = js_string(user)
    text = _compact(msg)  # keys c, p, r, u are already in canonical order
    return f"ctx:{context}:{hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()}"


_SAFE = "-_.!~*'()"  # encodeURIComponent leaves these (and alphanumerics) alone


def py_format_header(entries: List[Any]) -> str:
    out = []
    for e in entries:
        if isinstance(e, str):
            out.append(quote(e, safe=_SAFE))
            continue
        part = quote(e["context"], safe=_SAFE)
        params = e.get("params") or {}
        for k in sorted(params, key=_utf16):
            part += f";{quote(k, safe=_SAFE)}={quote(js_string(params[k]), safe=_SAFE)}"
        if e.get("function"):
            part += f";@fn={quote(e['function'], safe=_SAFE)}"
        out.append(part)
    return ", ".join(out)


def py_parse_header(text: str) -> List[Any]:
    entries: List[Any] = []
    for raw in text.split(","):
        fields = [f.strip() for f in raw.split(";")]
        if not fields[0]:
            raise ValueError("empty entry")
        context = unquote(fields[0], errors="strict")
        if len(fields) == 1:
            entries.append(context)
            continue
        entry: Dict[str, Any] = {"context": context}
        params: Dict[str, str] = {}
        for f in fields[1:]:
            k, sep, v = f.partition("=")
            if not sep:
                raise ValueError("param without =")
            if k == "@fn":
                entry["function"] = unquote(v, errors="strict")
            else:
                params[unquote(k, errors="strict")] = unquote(v, errors="strict")
        if params:
            entry["params"] = params
        entries.append(entry)
    return entries


def check_peers() -> None:
    vectors = json.loads((REPO / "tests" / "vectors" / "kernel-vectors.json").read_text(encoding="utf-8"))
    for v in vectors["cache_keys"]:
        got = py_derive_key(v["secret"], v["context"], v["params"], v.get("user"), v.get("rev", 0))
        assert got == v["key"], (v["id"], got)
    for v in vectors["header"]:
        assert py_format_header(v["entries"]) == v["header"]
        assert py_parse_header(v["header"]) == mk.parse_invalidate_header(v["header"])


# --- timing ------------------------------------------------------------------------------------


CLOCK = time.perf_counter if "--wall" in sys.argv else time.thread_time


def per_call(fn: Callable[[], Any], calls: int, rounds: int, per: int = 1) -> float:
    """Median over `rounds` of the mean µs per call (divided by `per` items per call)."""
    fn()
    out = []
    for _ in range(rounds):
        t0 = CLOCK()
        for _ in range(calls):
            fn()
        out.append((CLOCK() - t0) / calls / per * 1e6)
    return statistics.median(out)


def big_registry(n_functions: int = 200) -> Dict[str, Any]:
    """40 contexts of 3 members each, and 80 mutations that affect contexts and members."""
    functions: Dict[str, Any] = {}
    n_ctx = n_functions // 5
    for c in range(n_ctx):
        for m in range(3):
            functions[f"c{c}_read{m}"] = {
                "context": f"ctx{c}",
                "inputs": {"user_id": "integer", f"page{m}": "optional<integer>"},
                "output": "list<Item>",
            }
    for f in range(n_functions - 3 * n_ctx):
        c = f % n_ctx
        functions[f"mutate{f}"] = {
            "inputs": {"user_id": "integer", "name": "string"},
            "output": "Item",
            "affects": [f"ctx{c}", f"c{(c + 1) % n_ctx}_read0"],
        }
    return {"functions": functions, "types": {"Item": {"id": "integer", "name": "string"}}}


def load_figures() -> Dict[str, float]:
    """Compile vs deserialize, in a fresh runtime with a temporary cache directory."""
    saved = os.environ.get("MIZAN_KERNEL_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MIZAN_KERNEL_CACHE_DIR"] = tmp
        try:
            first = _runtime.Runtime()
            second = _runtime.Runtime()
        finally:
            if saved is None:
                del os.environ["MIZAN_KERNEL_CACHE_DIR"]
            else:
                os.environ["MIZAN_KERNEL_CACHE_DIR"] = saved
    assert first.info["loaded"] == "compiled" and second.info["loaded"] == "cache"
    return {
        "compile": first.info["compile_ms"],
        "deserialize": second.info["load_ms"],
        "instantiate": second.info["instantiate_ms"],
    }


@contextlib.contextmanager
def current_runtime(rt: _runtime.Runtime) -> Iterator[None]:
    """Make `rt` the runtime that the package's functions and new objects use."""
    saved = _runtime._RUNTIME
    _runtime._RUNTIME = rt
    try:
        yield
    finally:
        _runtime._RUNTIME = saved


def call_path_workloads(secret: str) -> Dict[str, Callable[[], Any]]:
    """The same calls on either path; objects are made inside, on the current runtime."""
    params = {"user_id": 5, "page": "2"}
    keyer = mk.Keyer(secret)
    reg = mk.Registry.from_json(big_registry())
    engine = mk.Engine(big_registry(), cache_secret="a-cache-secret-of-32-bytes-long!")
    get = Request("GET", "/api/mizan/ctx/ctx3/", query="user_id=5")
    args = {"user_id": 5, "name": "x"}
    return {
        "stringify('1')": lambda: mk.stringify("1"),
        "Keyer.derive": lambda: keyer.derive("user", params, 9),
        "resolve_invalidation, 200 functions": lambda: reg.resolve_invalidation("mutate7", args),
        "Engine.plan, GET of a context": lambda: engine.plan(get, None, 1_700_000_000_000),
    }


def call_path_rows(secret: str, calls: int, rounds: int) -> List[tuple]:
    """Per-call cost of the fast path and of wasmtime-py's public API (the fallback when the
    installed wasmtime-py differs from the layout the fast path packs), same calls, same answers."""
    fast, public = _runtime.Runtime(call_path="fast"), _runtime.Runtime(call_path="public")
    with current_runtime(fast):
        fast_work = call_path_workloads(secret)
        answers = {name: repr(fn()) for name, fn in fast_work.items()}
        fast_us = {name: per_call(fn, calls, rounds) for name, fn in fast_work.items()}
    with current_runtime(public):
        public_work = call_path_workloads(secret)
        assert {name: repr(fn()) for name, fn in public_work.items()} == answers, "the paths disagree"
        public_us = {name: per_call(fn, max(10, calls // 4), rounds) for name, fn in public_work.items()}
    return [(name, fast_us[name], public_us[name]) for name in fast_work]


def main() -> None:
    quick = "--quick" in sys.argv
    calls, rounds = (300, 5) if quick else (2000, 9)
    check_peers()
    secret = "test-pin-secret-that-is-32bytes!"
    params = {"user_id": 5, "page": "2"}
    keyer = mk.Keyer(secret)
    rt = _runtime.runtime()
    if not rt.fast:
        raise SystemExit(f"bench.py compares against the fast call path, unavailable here: {_runtime.LAYOUT_PROBLEMS}")
    rows: List[tuple] = []

    def row(name: str, us: float, peer: float = 0.0, note: str = "") -> None:
        rows.append((name, us, peer, note))

    # The floor: wasmtime's own work for a call whose argument slots are already written.
    # (`lower` returns the bytes the slots point at: they must stay alive while the bare call runs.)
    fcall, vdel, res = _runtime._func_call, _runtime._val_delete, rt.result

    def bare(call: Any) -> Callable[[], None]:
        def run() -> None:
            fcall(*call.cargs)
            vdel(rt.result_ptr)
            res[0] = 0

        return run

    st, kd = rt.calls["stringify"], rt.calls["keyer.derive"]
    generic_stringify = st.func
    generic_derive = rt.calls["derive_cache_key"].func

    keep = st.lower('"1"')
    row("stringify('1'): wasmtime C call alone", per_call(bare(st), calls, rounds))
    del keep
    row("stringify('1'): wasmtime-py Func.__call__", per_call(lambda: generic_stringify(rt.store, '"1"'), calls, rounds))
    row("stringify('1'): mizan_kernel.stringify", per_call(lambda: mk.stringify("1"), calls, rounds))
    peer = per_call(lambda: py_derive_key(secret, "user", params, 9), calls, rounds)
    keep = kd.lower(rt.ensure(keyer), "user", _compact(params), "9", 0)
    row("derive key: wasmtime C call alone (Keyer)", per_call(bare(kd), calls, rounds), peer)
    del keep
    row(
        "derive key: wasmtime-py Func.__call__",
        per_call(lambda: generic_derive(rt.store, secret, "user", _compact(params), "9", 0), calls, rounds),
        peer,
        "free function, re-keys HMAC",
    )
    row("derive key: Keyer.derive", per_call(lambda: keyer.derive("user", params, 9), calls, rounds), peer)
    row("derive key: derive_cache_key", per_call(lambda: mk.derive_cache_key(secret, "user", params, 9), calls, rounds), peer)
    items = [{"context": "user", "params": {"user_id": i, "page": "2"}, "user": i % 7} for i in range(100)]
    row(
        "derive_cache_keys, batch of 100 (per key)",
        per_call(lambda: mk.derive_cache_keys(secret, items), max(10, calls // 50), rounds, per=100),
        per_call(
            lambda: [py_derive_key(secret, it["context"], it["params"], it["user"]) for it in items],
            max(10, calls // 50),
            rounds,
            per=100,
        ),
    )
    entries = [
        {"context": "user", "params": {"user_id": 5, "tab": "orders & returns"}},
        "notifications",
        {"context": "user", "function": "user_profile", "params": {"user_id": 5}},
    ]
    header = mk.format_invalidate_header(entries)
    assert header == py_format_header(entries)
    row("format_invalidate_header (3 entries)", per_call(lambda: mk.format_invalidate_header(entries), calls, rounds),
        per_call(lambda: py_format_header(entries), calls, rounds))
    row("parse_invalidate_header (3 entries)", per_call(lambda: mk.parse_invalidate_header(header), calls, rounds),
        per_call(lambda: py_parse_header(header), calls, rounds))
    reg = mk.Registry.from_json(big_registry())
    args = {"user_id": 5, "name": "x"}
    assert reg.resolve_invalidation("mutate7", args).invalidate
    row("resolve_invalidation, 200-function registry", per_call(lambda: reg.resolve_invalidation("mutate7", args), calls, rounds))

    paths = call_path_rows(secret, calls, rounds)
    loads = load_figures()
    info = mk.runtime_info()
    out = io.StringIO()

    def say(line: str = "") -> None:  # the report goes to stdout and, with --write-docs, the docs
        out.write(line.rstrip() + "\n")

    say(f"mizan-kernel bench: wasmtime {info['wasmtime']}, python {sys.version.split()[0]}, "
          f"component {Path(info['wasm']).name} ({Path(info['wasm']).stat().st_size} bytes)")
    say(f"load: compile {loads['compile']:.0f} ms, deserialize cached artifact {loads['deserialize']:.2f} ms, "
          f"instantiate {loads['instantiate']:.2f} ms")
    say()
    say(f"{'call':<46} {'µs/call':>9} {'pure Py':>9} {'ratio':>7}  note")
    say("-" * 96)
    for name, us, peer_us, note in rows:
        ratio = f"{us / peer_us:6.1f}x" if peer_us else ""
        peer_s = f"{peer_us:9.2f}" if peer_us else ""
        say(f"{name:<46} {us:9.2f} {peer_s:>9} {ratio:>7}  {note}")
    say()
    say(f"{'call path':<46} {'fast':>9} {'public':>9} {'ratio':>7}")
    say("-" * 96)
    for name, fast_us, public_us in paths:
        say(f"{name:<46} {fast_us:9.2f} {public_us:9.2f} {public_us / fast_us:6.1f}x")
    say()
    clock = "wall-clock" if CLOCK is time.perf_counter else "thread CPU"
    say("ratio = kernel / pure Python (above 1: pure Python is faster); call paths: public / fast. "
          f"Medians of {rounds} rounds of {calls} calls, {clock} time; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores.")
    report = out.getvalue()
    print(report, end="")
    if "--write-docs" in sys.argv:
        replace_block(REPO / "docs" / "hosts" / "python.md", "python-bench", f"```\n{report}```")
        print("wrote docs/hosts/python.md")


if __name__ == "__main__":
    main()
