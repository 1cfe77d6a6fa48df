"""The exchange's JSON entry (`update-json`) against the exchange scenarios: the same effects as
the typed `update` gives (tests/conformance/exchange, replayed typed by test_conformance.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conformance_exchange import exchange_script_json  # noqa: E402
from conformance_files import json_equal, load_scenarios  # noqa: E402

import mizan_kernel as mk  # noqa: E402

DATA = load_scenarios()
SCENARIOS = [s for s in DATA["scenarios"] if s["op"] == "exchange-script"]


def test_there_are_exchange_scenarios() -> None:
    assert len(SCENARIOS) >= 20


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s["id"])
def test_update_json_gives_the_scenario_effects(scenario: Dict[str, Any]) -> None:
    try:
        got: Any = exchange_script_json(scenario["args"], DATA["registries"])
    except mk.MizanKernelError as e:
        assert "expect_error" in scenario, f"unexpected {e.code}: {e.message}"
        assert e.code == scenario["expect_error"]["code"]
        return
    assert "expect" in scenario, f"expected {scenario.get('expect_error')}, got {got}"
    assert json_equal(got, scenario["expect"]), f"got {got}\nexpected {scenario['expect']}"


def test_update_json_refuses_what_is_not_a_list_of_events() -> None:
    from mizan_kernel._exchange import ExchangeServer

    x, _ = ExchangeServer({"functions": {}}).begin((("GET", "/api/mizan/ctx/x/", "", [], ("text", ""), None), None, 0, None))
    for bad in ('{"arrived": {}}', "[1]", "not json", '[{"bogus": 1}]'):
        with pytest.raises(mk.MizanKernelError) as e:
            x.update_json(bad)
        assert e.value.code in ("invalid-json", "invalid-argument"), bad


def _session_arrival(csrf: str) -> Any:
    return (("GET", "/api/mizan/session/", "", [], ("text", ""), csrf), None, 0, None)


def test_a_closed_responded_exchange_serves_the_next_request() -> None:
    from mizan_kernel._exchange import ExchangeServer

    server = ExchangeServer({"functions": {}})
    x, effects = server.begin(_session_arrival("one"))
    assert effects[-1][0] == "respond" and "one" in effects[-1][1]["body"]
    handle = x._handle
    x.close()
    assert server._idle == [(handle, x._gen)], "kept for the next request"
    with pytest.raises(mk.MizanKernelError) as e:
        x.arrive(_session_arrival("late"))
    assert e.value.code == "invalid-argument", "a closed exchange is spent"
    y, effects = server.begin(_session_arrival("two"))
    assert y._handle == handle and "two" in effects[-1][1]["body"], "the same kernel exchange, the next request"
    assert server._idle == []


def test_an_exchange_closed_before_responding_is_freed_not_reused() -> None:
    from mizan_kernel._exchange import ExchangeServer

    server = ExchangeServer({"functions": {"f": {"context": "c", "output": "any"}}})
    x, effects = server.begin((("GET", "/api/mizan/ctx/c/", "", [], ("text", ""), None), None, 0, None))
    assert effects[-1][0] == "run", effects
    x.close()
    assert server._idle == [], "mid-exchange: freed"
    y, effects = server.begin(_session_arrival("t"))
    assert effects[-1][0] == "respond"


def test_arrive_serves_the_next_request_and_refuses_one_before_the_response() -> None:
    from mizan_kernel._exchange import ExchangeServer

    server = ExchangeServer({"functions": {"f": {"context": "c", "output": "any"}}})
    x, effects = server.begin(_session_arrival("one"))
    assert "two" in x.arrive(_session_arrival("two"))[-1][1]["body"], "the next request's answer"
    effects = x.arrive((("GET", "/api/mizan/ctx/c/", "", [], ("text", ""), None), None, 0, None))
    assert effects[-1][0] == "run"
    with pytest.raises(mk.MizanKernelError) as e:
        x.arrive(_session_arrival("three"))
    assert e.value.code == "invalid-argument" and "expected ran" in e.value.message
