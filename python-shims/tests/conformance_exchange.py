"""`exchange-script` (tests/conformance/exchange) through ``mizan_kernel._exchange``: the scripts'
JSON events as the wrapper's values (records as tuples in WIT field order, variants as
``(case, payload)``), its effects back as the scripts' JSON."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Tuple

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


def _arrival(d: Dict[str, Any]) -> Tuple[Any, ...]:
    return (_request(d["request"]), _plan(d.get("pending")), d.get("now", 0), _identity(d.get("identity")))


def _event(e: Any) -> Tuple[str, Any]:
    if isinstance(e, str):
        return (e, None)
    ((name, d),) = e.items()
    case = name.replace("_", "-")
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


def _server(a: Dict[str, Any], registries: Dict[str, Any]) -> ExchangeServer:
    hooks = a.get("hooks") or {}
    return ExchangeServer(registries[a["registry"]], a.get("config"), identity=bool(hooks.get("identity")), revocation=bool(hooks.get("revocation")))


def _replay(a: Dict[str, Any], registries: Dict[str, Any], update: Callable[[Any, List[Any]], List[Any]]) -> List[Any]:
    """The script's first event is the arrival, which ``begin`` takes (its effects open the first
    step, as JSON), and a later arrival ``exchange.arrive`` (the exchange serving its next
    request); every other event goes to ``update(exchange, events)``."""
    server = _server(a, registries)
    exchange = None
    out = []
    for step in a["steps"]:
        effects: List[Any] = []
        first_event = step[0] if step else None
        if isinstance(first_event, dict) and "arrived" in first_event:
            arrival = _arrival(first_event["arrived"])
            if exchange is None:
                exchange, first = server.begin(arrival)
            else:
                first = exchange.arrive(arrival)
            effects = [_effect(e) for e in first]
            step = step[1:]
        if step:
            effects += update(exchange, step)
        out.append(effects)
    return out


def exchange_script(a: Dict[str, Any], registries: Dict[str, Any]) -> List[Any]:
    return _replay(a, registries, lambda x, step: [_effect(e) for e in x.update([_event(e) for e in step])])


def exchange_script_json(a: Dict[str, Any], registries: Dict[str, Any]) -> List[Any]:
    """The same script, every event after the arrival through ``update_json`` (the scripts'
    own JSON form, one string each way)."""
    return _replay(a, registries, lambda x, step: json.loads(x.update_json(json.dumps(step))))
