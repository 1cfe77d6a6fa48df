"""`exchange-script` (tests/conformance/exchange) through ``mizan_kernel._exchange``: the scripts'
JSON events as the wrapper's values (records as tuples in WIT field order, variants as
``(case, payload)``), its effects back as the scripts' JSON."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from mizan_kernel._exchange import ExchangeServer


def _plan(p: Any) -> Optional[Tuple[Any, ...]]:
    if p is None:
        return None
    return ([(s["base"], [(t["has_param"], t["param_equals"]) for t in s.get("terms", [])]) for s in p["scopes"]],)


def _plan_json(p: Dict[str, Any]) -> Dict[str, Any]:
    return {"scopes": [{"base": s["base"], "terms": [{"has_param": t["has-param"], "param_equals": t["param-equals"]} for t in s["terms"]]}
                       for s in p["scopes"]]}


def _identity(i: Any) -> Any:
    if i is None:
        return None
    return (i["subject"], bool(i.get("staff")), bool(i.get("superuser")), i.get("session_id"), i.get("perm"))


def _identity_json(i: Any) -> Any:
    if i is None:
        return None
    return {"subject": i["subject"], "staff": i["staff"], "superuser": i["superuser"], "session_id": i["session-id"], "perm": i["perm"]}


def _error(e: Dict[str, Any]) -> Tuple[Any, ...]:
    details = e.get("details")
    return (e["code"].lower().replace("_", "-"), e.get("message", ""), None if details is None else json.dumps(details))


def _request(r: Dict[str, Any]) -> Tuple[Any, ...]:
    headers = [(n, v) for n, v in r.get("headers", [])]
    return (r["method"], r["path"], r.get("query", ""), headers, ("text", r.get("body", "")), r.get("csrf_token"))


def _run_outcome(o: Any) -> Tuple[str, Any]:
    if o == "missing":
        return ("missing", None)
    if "ok" in o:
        return ("done", ("ok", json.dumps(o["ok"])))
    if "exception" in o:
        return ("done", ("exception", o["exception"]))
    return ("done", ("error", _error(o["error"])))


def _verdict(v: Any) -> Tuple[str, Any]:
    return ("raised", v["raised"]) if isinstance(v, dict) else (v, None)


def _event(e: Any) -> Tuple[str, Any]:
    if isinstance(e, str):
        return (e, None)
    ((name, d),) = e.items()
    case = name.replace("_", "-")
    if name == "arrived":
        return (case, (_request(d["request"]), _plan(d.get("pending")), d.get("now", 0)))
    if name == "refused":
        return (case, _error(d))
    if name == "identity":
        return (case, _identity(d))
    if name == "predicates":
        return (case, [(p["name"], _verdict(p["verdict"])) for p in d])
    if name == "ran":
        return (case, ([_run_outcome(o) for o in d["outcomes"]], _plan(d.get("pending"))))
    if name == "retried":
        return (case, _plan(d))
    if name == "found":
        return (case, (d.get("body"), d.get("ticket")))
    return (case, d)  # revoked, identity-failed, lookup-failed, purge-failed, put-failed


def _bound_json(b: Any) -> Any:
    return None if b is None else {"set": b["set"], "max_entries": b["max-entries"]}


def _effect(effect: Tuple[str, Any]) -> Any:
    case, v = effect
    name = case.replace("-", "_")
    if v is None:
        return name
    if case == "check-predicates":
        return {name: {"predicates": v["predicates"], "identity": _identity_json(v["identity"])}}
    if case == "run":
        calls = [{"function": c["function"], "args": json.loads(c["args-json"])} for c in v["calls"]]
        return {name: {"calls": calls, "identity": _identity_json(v["identity"])}}
    if case in ("retry-purge", "purge", "keep-pending"):
        return {name: _plan_json(v)}
    if case == "put":
        c = v["entry"]
        entry = {"key": c["key"], "body": c["body"], "index_keys": c["index-keys"], "ttl_seconds": c["ttl-seconds"], "bound": _bound_json(c["bound"])}
        return {name: {"entry": entry, "ticket": v["ticket"]}}
    if case == "respond":
        return {name: {"status": v["status"], "headers": [[h["name"], h["value"]] for h in v["headers"]], "body": v["body"]}}
    return {name: v}  # check-revoked, lookup, log


def exchange_script(a: Dict[str, Any], registries: Dict[str, Any]) -> List[Any]:
    hooks = a.get("hooks") or {}
    server = ExchangeServer(registries[a["registry"]], a.get("config"), identity=bool(hooks.get("identity")), revocation=bool(hooks.get("revocation")))
    exchange = server.begin()
    return [[_effect(e) for e in exchange.update([_event(e) for e in step])] for step in a["steps"]]
