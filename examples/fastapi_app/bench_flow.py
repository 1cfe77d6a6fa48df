"""Kernel cost per request of the Python host's whole flow, before and after a change to
``mizan_kernel/app.py`` (docs/PERFORMANCE.md "Server (Python)"), measured in the same process.

    python examples/fastapi_app/bench_flow.py                  # app.py of 1f2ddf0 (engine plan/finish) vs the working tree
    python examples/fastapi_app/bench_flow.py --before REV     # another revision's app.py
    python examples/fastapi_app/bench_flow.py --pieces         # where a call's time goes, step by step
    python examples/fastapi_app/bench_flow.py --instructions   # every row counted, not timed (valgrind)

Each row serves one request through ``MizanApp.handle`` (sync, the Django path) and
``MizanApp.ahandle`` (async, the FastAPI path, driven without an event loop: nothing in it
waits) with the user functions of the example app and an origin store that does no work (it
answers a hit or a miss as told, puts and purges nothing), so what is timed is the host flow
and its kernel calls: no HTTP, no store I/O. The two versions run in alternating rounds (thread
CPU time, median of 7 rounds of 2 000 requests each), so a busy moment of the machine weighs on
both alike. ``before`` is the old ``app.py`` loaded from git as a module of this package; both
share the installed component.
"""

from __future__ import annotations

import argparse
import os
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

from functions import functions  # noqa: E402
from mizan_kernel import app as after  # noqa: E402
from mizan_kernel.origin import OriginCache  # noqa: E402
from mizan_kernel.server import CachePut, Identity, Lookup, PurgePlan, Request  # noqa: E402

SECRETS = dict(
    cache_secret="wire-cache-secret-for-tests-only-0001",
    mwt_secret="wire-mwt-secret-for-tests-only-00002",
    jwt_secret="wire-jwt-secret-for-tests-only-00003",
)


class NullStore(OriginCache):
    """A store that does no work: every read finds ``body`` (None: a miss)."""

    def __init__(self) -> None:
        self.body: Optional[str] = None

    def lookup(self, key: str) -> Lookup:
        return Lookup(self.body, 1)

    def put(self, put: CachePut, ticket: Optional[int] = None) -> bool:
        return True

    def purge(self, plan: PurgePlan) -> List[str]:
        return []


def load_before(rev: str) -> Any:
    """``python-shims/mizan_kernel/app.py`` of ``rev``, as module ``mizan_kernel._app_before``."""
    text = subprocess.run(
        ["git", "show", f"{rev}:python-shims/mizan_kernel/app.py"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="mizan-bench-")) / "app_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("mizan_kernel._app_before", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def drive(coro: Any) -> Any:
    """Run a coroutine that never waits (no event loop: its cost is the flow's)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the flow waited on something")


def requests(store: NullStore) -> List[Tuple[str, Request, Optional[Identity], Optional[str]]]:
    """(row, request, session identity, what the store holds: None a miss, '' no cache)."""
    carol = Identity("3", staff=True)
    items = Request("GET", "/api/mizan/ctx/items/", "page=1")
    return [
        ("POST /call/ item_count, anonymous", Request("POST", "/api/mizan/call/", "", [], b'{"fn":"item_count","args":{}}'), None, ""),
        ("POST /call/ rename_item (purge), session", Request("POST", "/api/mizan/call/", "", [], b'{"fn":"rename_item","args":{"id":1,"name":"apple"}}'), carol, None),
        ("GET /ctx/items/, no cache, anonymous", items, None, ""),
        ("GET /ctx/items/, cache hit, session", items, carol, "hit"),
        ("GET /ctx/items/, cache miss (put), session", items, carol, None),
        ("GET /session/, session", Request("GET", "/api/mizan/session/"), carol, ""),
    ]


def build(module: Any) -> Dict[str, Any]:
    store = NullStore()
    return {
        "cached": module.MizanApp(functions, cache=store, body_limit=65536, threadpool=False, **SECRETS),
        "plain": module.MizanApp(functions, body_limit=65536, threadpool=False),
        "store": store,
    }


def runner(apps: Dict[str, Any], req: Request, who: Optional[Identity], held: Optional[str], mode: str) -> Callable[[], Any]:
    app = apps["plain"] if held == "" else apps["cached"]
    store = apps["store"]
    if held == "hit":  # the body a miss would store
        store.body = None
        store.body = app.handle(req, None, who).body
    body = store.body if held == "hit" else None

    def sync() -> Any:
        store.body = body
        return app.handle(req, None, who)

    def async_() -> Any:
        store.body = body
        return drive(app.ahandle(req, None, who))

    return sync if mode == "sync" else async_


def timeit_pair(a: Callable[[], Any], b: Callable[[], Any], n: int, rounds: int) -> Tuple[float, float]:
    for _ in range(200):
        a()
        b()
    ta: List[float] = []
    tb: List[float] = []
    for _ in range(rounds):
        for fn, out in ((a, ta), (b, tb)):
            t = time.thread_time()
            for _ in range(n):
                fn()
            out.append((time.thread_time() - t) / n * 1e6)
    return statistics.median(ta), statistics.median(tb)


def per_call(fn: Callable[[int], Any], n: int, rounds: int) -> float:
    """µs per call of ``fn(i)`` for i in range(n), median of ``rounds``."""
    out = []
    for _ in range(rounds):
        t = time.thread_time()
        for i in range(n):
            fn(i)
        out.append((time.thread_time() - t) / n * 1e6)
    return statistics.median(out)


def pieces(n: int, rounds: int) -> None:
    """A call's kernel round trips one kind at a time (n exchanges begun, then all updated…),
    the old plan/finish the same way, an empty round trip, and the Python interpreter of the
    effects with the kernel stubbed out."""
    from mizan_kernel import _runtime as R
    from mizan_kernel import _wit
    from mizan_kernel._exchange import _E

    app = after.MizanApp(functions, body_limit=65536, threadpool=False)
    rt, server, engine = R.runtime(), app._server(False), app.engine
    req = Request("POST", "/api/mizan/call/", "", [], b'{"fn":"item_count","args":{}}')
    arrival = (req._wit(), None, 1_700_000_000_000, None)
    ran = [("ran", ([("done", ("ok", "3"))], None))]
    handles: List[int] = [0] * n
    plans: List[Any] = [None] * n

    def begin(i: int) -> None:
        handles[i] = _wit.invoke(rt, _E["begin"], (server._handle, arrival))["exchange"]

    def drop_all() -> None:
        rt.pending_drops.extend((h, rt.generation) for h in handles)
        rt._prepare()

    def plan(i: int) -> None:
        plans[i] = engine.plan(req, None, 1_700_000_000_000)

    names = ("begin(arrival)", "update(ran)", "arrive, a kept exchange", "drop", "plan", "finish_call")
    rows = {name: [] for name in names}  # type: Dict[str, List[float]]
    for _ in range(rounds):
        rows["begin(arrival)"].append(per_call(begin, n, 1))
        rows["update(ran)"].append(per_call(lambda i: _wit.invoke(rt, _E["update"], (handles[i], ran)), n, 1))
        rows["arrive, a kept exchange"].append(per_call(lambda i: _wit.invoke(rt, _E["arrive"], (handles[i], arrival)), n, 1))
        # each exchange now waits for its `ran` again: answered, so all are dropped as they were
        for h in handles:
            _wit.invoke(rt, _E["update"], (h, ran))
        rows["drop"].append(per_call(lambda i: drop_all() if i == 0 else None, 1, 1) / n)
        rows["plan"].append(per_call(plan, n, 1))
        rows["finish_call"].append(per_call(lambda i: engine.finish_call(plans[i], ("ok", "3")), n, 1))
    x, _ = server.begin(arrival)
    rows["empty round trip (exchange.done)"] = [per_call(lambda i: x.done(), n, rounds)]

    class Stub:  # canned effects: the interpreter's own cost
        def _start(self, arrival: Any) -> Any:
            return 1, 0, [("run", {"calls": [{"function": "item_count", "args-json": "{}"}], "identity": None})]

        def _step(self, handle: int, generation: int, events: Any) -> Any:
            return [("respond", {"status": 200, "headers": [{"name": "Content-Type", "value": "application/json"}], "body": "{}"})]

        def _end(self, handle: int, generation: int, responded: bool) -> None:
            pass

    app._servers[False] = Stub()  # type: ignore[assignment]
    rows["Python interpreter, kernel stubbed (handle)"] = [per_call(lambda i: app.handle(req), n, rounds)]
    print(f"{'POST /call/ item_count, anonymous: piece':<52} {'µs':>8}")
    print("-" * 62)
    for name, values in rows.items():
        print(f"{name:<52} {statistics.median(values):>8.2f}")


def serve(version: str, n: int, replay: bool, rev: str, row: int) -> None:
    """Serve ``n`` requests of row ``row`` of ``requests`` (sync) through ``version``'s
    ``MizanApp.handle``, after warming up; with ``replay`` every kernel export answers what it
    answered the first time (no lowering, no wasm, no lifting: the Python flow alone). Run under
    callgrind by ``instructions``."""
    from mizan_kernel import _wit

    module = load_before(rev) if version == "before" else after
    _, req, who, held = requests(NullStore())[row]
    fn = runner(build(module), req, who, held, "sync")
    for _ in range(5):
        fn()
    if replay:
        real, answers = _wit.invoke, {}

        def record(rt: Any, ex: Any, args: Any) -> Any:
            answers[ex.export] = real(rt, ex, args)
            return answers[ex.export]

        _wit.invoke = record
        fn()
        _wit.invoke = lambda rt, ex, args: answers[ex.export]
    for _ in range(300 + n):
        fn()


def instructions(rev: str, n: int) -> None:
    """Instructions per request (sync), before and after, for every row; for the first (a call)
    also with the kernel replayed. ``valgrind --tool=callgrind`` counts instructions, the same on
    every run whatever else the machine does; each figure is two runs ``n`` requests apart, so
    start-up cancels out."""

    def count(version: str, k: int, row: int, replay: bool) -> int:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
               "--serve", version, "--row", str(row), "-n", str(k), "--before", rev] + (["--replay"] if replay else [])
        # A fixed hash seed: string hashes (and so dict layouts and probe counts) are then the
        # same in every run; what still moves (the clock's digits, addresses) moves a figure by
        # a few tenths of a per cent.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stderr
        return int(out.split("Collected :")[1].split()[0])

    def per_request(version: str, row: int, replay: bool = False) -> float:
        return (count(version, n, row, replay) - count(version, 0, row, replay)) / n

    # One run outside valgrind first: a component built since the last run is compiled then and
    # its code cached, not inside the first counted run.
    subprocess.run([sys.executable, __file__, "--serve", "after", "-n", "0", "--before", rev], check=True, capture_output=True)
    print(f"instructions per request through MizanApp.handle (sync; callgrind, {n} requests); before: app.py of {rev}")
    print(f"{'request':<46} {'before':>10} {'after':>10} {'change':>8}")
    print("-" * 76)
    rows = [(name, i, False) for i, (name, *_rest) in enumerate(requests(NullStore()))]
    rows.insert(1, ("  the Python flow alone (kernel replayed)", 0, True))
    for name, row, replay in rows:
        b, f = per_request("before", row, replay), per_request("after", row, replay)
        print(f"{name:<46} {b:>10,.0f} {f:>10,.0f} {(f - b) / b * 100:>+7.0f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="1f2ddf0", help="the git revision whose app.py is 'before'")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--pieces", action="store_true", help="where a call's time goes, step by step")
    ap.add_argument("--instructions", action="store_true", help="every row counted with valgrind, not timed")
    ap.add_argument("--serve", choices=("before", "after"), help=argparse.SUPPRESS)
    ap.add_argument("--replay", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--row", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.n, a.replay, a.before, a.row)
        return
    if a.instructions:
        instructions(a.before, a.n)
        return
    if a.pieces:
        pieces(a.n, a.rounds)
        return
    old = build(load_before(a.before))
    new = build(after)
    import mizan_kernel as mk
    import platform

    info = mk.runtime_info()
    print(f"mizan host flow bench: python {platform.python_version()}, wasmtime {info['wasmtime']}, call path {info['call_path']}, load average {os.getloadavg()[0]:.2f}")
    print(f"before: app.py of {a.before}; after: the working tree. µs of thread CPU per request (median of {a.rounds} × {a.n})")
    print(f"{'request':<46} {'mode':<6} {'before':>8} {'after':>8} {'change':>8}")
    print("-" * 80)
    for name, req, who, held in requests(NullStore()):
        for mode in ("sync", "async"):
            before_fn = runner(old, req, who, held, mode)
            after_fn = runner(new, req, who, held, mode)
            rb, ra = before_fn(), after_fn()
            if (rb.status, rb.headers, rb.body) != (ra.status, ra.headers, ra.body):
                raise SystemExit(f"{name} ({mode}): before and after answer differently: {rb} / {ra}")
            b, f = timeit_pair(before_fn, after_fn, a.n, a.rounds)
            print(f"{name:<46} {mode:<6} {b:>8.1f} {f:>8.1f} {(f - b) / b * 100:>+7.0f}%")


if __name__ == "__main__":
    main()
