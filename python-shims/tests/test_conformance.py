"""Replays every tests/conformance/<feature>/scenarios.json (format: tests/conformance/README.md)
through the Python API. One pytest test per scenario; the run ends with
`conformance: N passed, N failed`. MIZAN_CONFORMANCE overrides the place (a scenarios file, one
feature's directory or a directory of features). Also runnable alone:
`python python-shims/tests/test_conformance.py [file or directory]`."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import CONFORMANCE_RESULTS, CONFORMANCE_SKIPPED  # noqa: E402
from conformance_exchange import exchange_script  # noqa: E402
from conformance_files import json_equal, load_scenarios  # noqa: E402

import mizan_kernel as mk  # noqa: E402
from mizan_kernel import server as srv  # noqa: E402

DATA = load_scenarios()

_registries: Dict[str, mk.Registry] = {}


def registry(name: str) -> mk.Registry:
    if name not in _registries:
        src = DATA["registries"][name]
        _registries[name] = mk.Registry.from_kdl(src) if isinstance(src, str) else mk.Registry.from_json(src)
    return _registries[name]


def _key_args(a: Dict[str, Any]) -> tuple:
    return (a["context"], a["params"], a.get("user"), a.get("rev", 0))


def _load(a: Dict[str, Any]) -> Dict[str, Any]:
    reg = mk.Registry.from_kdl(a["kdl"]) if "kdl" in a else mk.Registry.from_json(a["json"])
    return {"kdl": reg.to_kdl(), "json": reg.to_json()}


STEPS: Dict[str, Callable[[mk.Store, Dict[str, Any]], Any]] = {
    "start": lambda s, a: s.start(),
    "session_ok": lambda s, a: s.session_ok(a["request_id"], a["body"]),
    "subscribe": lambda s, a: s.subscribe(a["context"], a["params"], a["now"]),
    "prefetch": lambda s, a: s.prefetch(a["context"], a["params"], a["now"]),
    "unsubscribe": lambda s, a: s.unsubscribe(a["key"], a["now"]),
    "refetch": lambda s, a: s.refetch(a["key"]),
    "fetch_ok": lambda s, a: s.fetch_ok(a["request_id"], a["body"], a["now"]),
    "fetch_err": lambda s, a: s.fetch_err(a["request_id"], a["error"], a["now"]),
    "mutate": lambda s, a: s.mutate(a["fn"], a["args"], a.get("optimistic")),
    "call_ok": lambda s, a: s.call_ok(a["request_id"], a["body"], a.get("header")),
    "call_err": lambda s, a: s.call_err(a["request_id"], a["error"]),
    "invalidate": lambda s, a: s.invalidate(a["entries"]),
    "remove": lambda s, a: s.remove(a.get("entries")),
    "reset": lambda s, a: s.reset(),
    "tick": lambda s, a: s.tick(a["now"]),
    "focus": lambda s, a: s.focus(a["now"]),
    "online": lambda s, a: s.online(a["now"]),
    "hydrate": lambda s, a: s.hydrate(a["payload"], a["now"]),
    "dehydrate": lambda s, a: s.dehydrate(),
    "snapshot": lambda s, a: s.snapshot(a["key"], a["now"]),
    "mutation": lambda s, a: s.mutation(a["id"]),
    "count": lambda s, a: s.instance_count(),
    "drain": lambda s, a: s.drain(a["now"]),
}


def store_script(a: Dict[str, Any]) -> Any:
    """One output per step: its value, null, or {"error": code}; the script goes on."""
    store = mk.Store(a.get("config"))
    out = []
    for step in a["steps"]:
        try:
            out.append(STEPS[step["do"]](store, step))
        except mk.MizanKernelError as e:
            out.append({"error": e.code})
    return out


# --- client-session scripts (README: Client-session scripts) ---------------------------------

from mizan_kernel._session import ClientSession  # noqa: E402

_NO_PAYLOAD = {"start", "reset", "tick", "focus", "online", "close"}


def _ref(v: Dict[str, Any]) -> Any:
    return (v["context"], json.dumps(v.get("params", {})))


def _event(e: Any) -> Any:
    """An event in the scripts' JSON form as the session's (case, payload)."""
    if isinstance(e, str):
        assert e in _NO_PAYLOAD, e
        return (e, None)
    ((name, v),) = e.items()
    if name in ("start", "cancel", "unsubscribe", "refetch"):
        return (name, v)
    if name in ("subscribe", "prefetch", "view"):
        return (name, _ref(v))
    if name == "fetch":
        return ("fetch", (v["waiter"], _ref(v), bool(v.get("force", False))))
    if name == "call":
        optimistic = json.dumps(v["optimistic"]) if "optimistic" in v else None
        return ("call", (v["waiter"], v["fn"], json.dumps(v.get("args", {})), optimistic))
    if name == "answer":
        if "http" in v:
            h = v["http"]
            outcome: Any = ("http", (h["status"], h["body"], h.get("invalidate")))
        elif "decoded" in v:
            outcome = ("decoded", (json.dumps(v["decoded"]["body"]), v["decoded"].get("invalidate")))
        elif "unusable" in v:
            outcome = ("unusable", v["unusable"])
        else:
            outcome = ("failed", json.dumps(v["failed"]))
        return ("answer", (v["request"], outcome))
    if name == "invalidate":
        return ("invalidate", json.dumps(v))
    if name == "remove":
        return ("remove", None if v is None else json.dumps(v))
    if name == "hydrate":
        return ("hydrate", (json.dumps(v["payload"]), bool(v.get("held", False))))
    raise AssertionError(f"unknown event {name}")


def _error(e: Dict[str, Any]) -> Dict[str, Any]:
    return {"code": e["code"], "message": e["message"], "details_json": e["details-json"], "status": e["status"],
            "network": e["network"], "body_json": e["body-json"]}


def _op(op: Any) -> Any:
    if op is None:
        return None
    case, v = op
    if case == "fetch":
        return {"fetch": {"key": v["key"], "context": v["context"], "params_json": v["params-json"], "query": v["query"]}}
    if case == "call":
        return {"call": {"fn": v["function"], "args_json": v["args-json"], "csrf_token": v["csrf-token"]}}
    return "session"


def _output(o: Dict[str, Any]) -> Dict[str, Any]:
    """The session's output in the scripts' JSON form."""
    results = [{"ok": v} if case == "ok" else {"error": v["code"]} for case, v in o["results"]]
    requests = [
        {
            "id": r["id"],
            "kind": r["kind"],
            "http": None if r["http"] is None else {
                "method": r["http"]["method"].upper(), "path": r["http"]["path"],
                "headers": [list(h) for h in r["http"]["headers"]], "body": r["http"]["body"],
            },
            "op": _op(r["op"]),
            "timeout_ms": r["timeout-ms"],
        }
        for r in o["requests"]
    ]
    views = [
        {
            "key": v["key"],
            "instance": None if v["instance"] is None else {"context": v["instance"]["context"], "params_json": v["instance"]["params-json"]},
            "gone": v["gone"], "status": v["status"], "fetching": v["fetching"], "stale": v["stale"],
            "updated_at": v["updated-at"], "error": None if v["error"] is None else _error(v["error"]),
            "slots": None if v["slots"] is None else [list(s) for s in v["slots"]],
            "values": [list(x) for x in v["values"]],
        }
        for v in o["views"]
    ]
    settled = [
        {"waiter": s["waiter"], "ok": s["outcome"][1]} if s["outcome"][0] == "ok" else {"waiter": s["waiter"], "error": _error(s["outcome"][1])}
        for s in o["settled"]
    ]
    timer = o["timer"]
    return {"results": results, "requests": requests, "views": views, "settled": settled,
            "timer": None if timer is None else {"at_ms": timer["at-ms"], "delay_ms": timer["delay-ms"]}}


def session_script(a: Dict[str, Any]) -> Any:
    config = a.get("config")
    session = ClientSession(config)
    out: List[Any] = []
    for step in a["steps"]:
        now = step.get("now", 0)
        what = step.get("do")
        if what is None:
            out.append(_output(session.update([_event(e) for e in step["events"]], now)))
        elif what == "restart":
            session = ClientSession(config)
            out.append(None)
        elif what == "snapshot":
            text = session.snapshot(step["key"], now)
            out.append(None if text is None else json.loads(text))
        elif what == "idle":
            out.append(session.idle())
        elif what == "count":
            out.append(session.instance_count())
        elif what == "dehydrate":
            out.append(json.loads(session.dehydrate()))
        else:
            raise AssertionError(f"unknown client-session step {what}")
    return out


# --- server ops (README: Server ops): one engine per scenario, one call on it ----------------

def _engine(a: Dict[str, Any]) -> srv.Engine:
    return srv.Engine(DATA["registries"][a["registry"]], a.get("config"))


def _identity_json(i: Any) -> Any:
    return None if i is None else dataclasses.asdict(i)


def _response_json(r: srv.Response) -> Dict[str, Any]:
    return {"status": r.status, "headers": [[n, v] for n, v in r.headers], "body": r.body}


def _plan_json(p: srv.Plan) -> Dict[str, Any]:
    if isinstance(p, srv.Respond):
        return {"respond": _response_json(p.response)}
    if isinstance(p, srv.CheckPredicates):
        return {"check_predicates": {"predicates": p.predicates, "identity": _identity_json(p.identity)}}
    if isinstance(p, srv.Call):
        return {"call": {"function": p.function, "args": p.args, "identity": _identity_json(p.identity)}}
    return {
        "fetch": {
            "context": p.context,
            "params": p.params,
            "members": [{"function": m.function, "args": m.args} for m in p.members],
            "identity": _identity_json(p.identity),
            "cache": None if p.cache is None else dataclasses.asdict(p.cache),
        }
    }


def _finished_json(f: srv.Finished) -> Dict[str, Any]:
    return {
        "response": _response_json(f.response),
        "cache_put": None if f.cache_put is None else dataclasses.asdict(f.cache_put),
        "purge": None if f.purge is None else dataclasses.asdict(f.purge),
        "diagnostics": f.diagnostics,
    }


def _outcome(o: Dict[str, Any]) -> srv.Outcome:
    if "ok" in o:
        return srv.Outcome.ok(o["ok"])
    if "exception" in o:
        return srv.Outcome.exception(o["exception"])
    e = o["error"]
    return srv.Outcome.error(e["code"], e.get("message", ""), e.get("details"))


def _request(r: Dict[str, Any]) -> srv.Request:
    return srv.Request(
        r["method"], r["path"], r.get("query", ""), [tuple(h) for h in r.get("headers", [])],
        r.get("body", ""), r.get("csrf_token"),
    )


def server_plan(a: Dict[str, Any]) -> Any:
    identity = a.get("identity")
    return _plan_json(
        _engine(a).plan(
            _request(a["request"]),
            None if identity is None else srv.Identity(**identity),
            a.get("now", 0),
            a.get("answers", []),
        )
    )


def server_finish_call(a: Dict[str, Any]) -> Any:
    c = a["call"]
    identity = c.get("identity")
    call = srv.Call(c["function"], json.dumps(c["args"]), None if identity is None else srv.Identity(**identity))
    return _finished_json(_engine(a).finish_call(call, _outcome(a["outcome"])))


def server_finish_fetch(a: Dict[str, Any]) -> Any:
    cache = a.get("cache")
    o = a["outcome"]
    if "hit" in o:
        outcome = srv.FetchOutcome.hit(o["hit"])
    else:
        outcome = srv.FetchOutcome.results([(r["function"], _outcome(r["outcome"])) for r in o["results"]])
    plan = None if cache is None else srv.CachePlan(cache["key"], cache["index_keys"], cache["ttl_seconds"], _bound(cache.get("bound")))
    return _finished_json(_engine(a).finish_fetch(a["context"], plan, outcome))


def token_mint(a: Dict[str, Any]) -> Any:
    who = srv.Identity(**a["identity"])
    engine = srv.Engine({}, a.get("config"))
    if a["kind"] == "mwt":
        return engine.mint_mwt(who, a["now"])
    return dataclasses.asdict(engine.mint_jwt_pair(who, a["session_id"], a["now"]))


def token_verify(a: Dict[str, Any]) -> Any:
    engine = srv.Engine({}, a.get("config"))
    if a["kind"] == "mwt":
        return dataclasses.asdict(engine.verify_mwt(a["token"], a["now"]))
    return dataclasses.asdict(engine.verify_jwt(a["token"], a["kind"], a["now"]))


def _bound(b: Any) -> Any:
    return None if b is None else srv.CacheBound(b["set"], b["max_entries"])


def _cache_put(p: Dict[str, Any]) -> srv.CachePut:
    return srv.CachePut(p["key"], p["body"], p["index_keys"], p["ttl_seconds"], _bound(p.get("bound")))


ORIGIN_STEPS: Dict[str, Callable[[srv.OriginStore, Dict[str, Any]], Any]] = {
    "put": lambda s, a: s.put(a["key"], a["body"], a["index_keys"], a["ttl_seconds"], a.get("now", 0)),
    "get": lambda s, a: s.get(a["key"], a.get("now", 0)),
    "purge": lambda s, a: s.purge(a["plan"]),
    "lookup": lambda s, a: s.lookup(a["key"], a.get("now", 0))._asdict(),
    "put_entry": lambda s, a: s.put_entry(_cache_put(a["put"]), a.get("ticket"), a.get("now", 0)),
    "purge_step": lambda s, a: s.purge_step(a["plan"], a.get("cursor"), a.get("limit", 0))._asdict(),
    "sweep": lambda s, a: s.sweep(a.get("now", 0)),
    "len": lambda s, a: s.len(),
    "index_sets": lambda s, a: s.index_sets(),
    "clear": lambda s, a: s.clear(),
}


def origin_store_script(a: Dict[str, Any]) -> Any:
    store = srv.OriginStore(a.get("max_entries", 0), a.get("max_bytes", 0))
    return [ORIGIN_STEPS[step["do"]](store, step) for step in a["steps"]]


OPS: Dict[str, Callable[[Dict[str, Any]], Any]] = {
    "server-plan": server_plan,
    "server-finish-call": server_finish_call,
    "server-finish-fetch": server_finish_fetch,
    "token-mint": token_mint,
    "token-verify": token_verify,
    "origin-store-script": origin_store_script,
    "request-headers": lambda a: srv.request_headers(),
    "redis-scripts": lambda a: {"put": srv.redis_put_script(), "purge": srv.redis_purge_script()},
    "redis-plan-json": lambda a: srv.redis_plan_json(a["plan"]),
    "stringify": lambda a: mk.stringify(a["value"]),
    "canonical-json": lambda a: mk.canonical_json(a["value"]),
    "check-secret": lambda a: mk.check_secret(a["secret"]),
    "derive-cache-key": lambda a: mk.derive_cache_key(a["secret"], *_key_args(a)),
    "derive-cache-key-rotation": lambda a: mk.derive_cache_key_rotation(a["secrets"], *_key_args(a)),
    "derive-batch": lambda a: mk.Keyer(a["secret"]).derive_batch(a["items"]),
    "index-entry": lambda a: dataclasses.asdict(mk.Keyer(a["secret"]).index_entry(*_key_args(a))),
    "purge-plan": lambda a: dataclasses.asdict(mk.Keyer(a["secret"]).purge_plan(a["entries"])),
    "purge-user-plan": lambda a: dataclasses.asdict(mk.Keyer(a["secret"]).purge_user_plan(a["contexts"], a["user"])),
    "format-header": lambda a: mk.format_invalidate_header(a["entries"]),
    "parse-header": lambda a: mk.parse_invalidate_header(a["text"]),
    "registry-load": _load,
    "resolve-invalidation": lambda a: dataclasses.asdict(
        registry(a["registry"]).resolve_invalidation(a["function"], a["args"], a.get("subject"))
    ),
    "resolve-merges": lambda a: dataclasses.asdict(
        registry(a["registry"]).resolve_merges(a["function"], a["args"], a["result"])
    ),
    "manifest": lambda a: registry(a["registry"]).manifest(a.get("base_url", "/api/mizan"), a.get("view_urls")),
    "context-policy": lambda a: dataclasses.asdict(registry(a["registry"]).context_policy(a["context"])),
    "apply-merge": lambda a: mk.apply_merge(a["bundle"], a["entry"]),
    "store-script": store_script,
    "client-session-script": session_script,
    "exchange-script": lambda a: exchange_script(a, DATA["registries"]),
}


def check(scenario: Dict[str, Any]) -> str:
    """'' when the scenario passes, else what went wrong."""
    op = OPS.get(scenario["op"])
    if op is None:
        return f"unknown op {scenario['op']!r}"
    try:
        got = op(scenario["args"])
    except mk.MizanKernelError as e:
        want = scenario.get("expect_error")
        if want is None:
            return f"unexpected error {e.code}: {e.message} (details {e.details})"
        if e.code != want["code"]:
            return f"error code {e.code!r} ({e.message}), expected {want['code']!r}"
        if "details" in want and not json_equal(e.details, want["details"]):
            return f"error details {e.details!r}, expected {want['details']!r}"
        return ""
    if "expect_error" in scenario:
        return f"expected error {scenario['expect_error']}, got {got!r}"
    if not json_equal(got, scenario["expect"]):
        return f"got {json.dumps(got, ensure_ascii=False)}\nexpected {json.dumps(scenario['expect'], ensure_ascii=False)}"
    return ""


STRICT = os.environ.get("MIZAN_CONFORMANCE_STRICT") == "1"


def unsupported(scenario: Dict[str, Any]) -> str:
    """Why this host cannot run the scenario yet ('' when it can). Ops of newer kernel
    interfaces that the Python API does not wrap yet are skipped and listed in the summary;
    MIZAN_CONFORMANCE_STRICT=1 makes them failures."""
    op = scenario["op"]
    if op not in OPS and not STRICT:
        return f"no Python API for `{op}` yet"
    if op == "store-script" and not mk.has_store():
        return "the loaded component predates the store interface (rebuild it: scripts/build-component.sh)"
    return ""


@pytest.mark.parametrize("scenario", DATA["scenarios"], ids=lambda s: s["id"])
def test_scenario(scenario: Dict[str, Any]) -> None:
    why = unsupported(scenario)
    if why:
        CONFORMANCE_SKIPPED[scenario["id"]] = scenario["op"]
        pytest.skip(why)
    problem = check(scenario)
    CONFORMANCE_RESULTS[scenario["id"]] = not problem
    assert not problem, f"{scenario['id']} ({scenario['source']}): {problem}"


def test_scenarios_present() -> None:
    assert any(not unsupported(s) for s in DATA["scenarios"])


def main() -> int:
    passed = failed = skipped = 0
    skipped_ops: Dict[str, int] = {}
    for s in DATA["scenarios"]:
        if unsupported(s):
            skipped += 1
            skipped_ops[s["op"]] = skipped_ops.get(s["op"], 0) + 1
            continue
        problem = check(s)
        if problem:
            failed += 1
            print(f"FAIL {s['id']}: {problem}")
        else:
            passed += 1
    if skipped_ops:
        print("skipped (no Python API yet): " + ", ".join(f"{op} ×{n}" for op, n in sorted(skipped_ops.items())))
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        DATA = load_scenarios(sys.argv[1])
    sys.exit(main())
