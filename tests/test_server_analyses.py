"""Analyses over the server (ANALYSES.md, PROTOCOL.md): POST /api/analyses, the same lifecycle,
ownership, persistence and WebSocket messages as simulations, against a real `equihome serve`."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
from server_helpers import (
    TIMESTAMP,
    assert_error_body,
    assert_no_tracebacks,
    connect,
    is_number,
    run,
    send,
    strict_loads,
)
from server_util import KEY_A, KEY_B
from waiting import wait_until

import equihome

SCENARIOS = ["mvd_20", {"name": "custom", "price_shock": {"start_month": 6, "decline": -0.25,
                                                          "decline_months": 12},
                        "hazard_multipliers": {"start_month": 6, "months": 12, "refinance": 0.3},
                        "overrides": {"recovery_rates": {"red": 0.6}}}]
BASE = {"preset": "100m", "overrides": {"num_simulations": 80, "monte_carlo_seed": 5}}


@pytest.fixture
def srv(server):
    yield server
    assert_no_tracebacks(server)


def post(srv, body: dict, key: str = KEY_A) -> tuple[int, dict]:
    return srv.request("POST", "/analyses", body, key=key)


def create(srv, kind: str, params: dict, n: int = 80, key: str = KEY_A) -> dict:
    status, rec = post(srv, {**BASE, "overrides": {**BASE["overrides"], "num_simulations": n},
                             "kind": kind, "params": params}, key)
    assert status == 201, rec
    return rec


def record(srv, an_id: str, key: str = KEY_A) -> dict:
    status, rec = srv.request("GET", f"/analyses/{an_id}", key=key)
    assert status == 200, rec
    return rec


def wait_for(srv, an_id: str, statuses: tuple[str, ...], timeout: float = 120.0) -> dict:
    last: list[dict] = []

    def reached() -> dict | None:
        last[:] = [record(srv, an_id)]
        return last[0] if last[0]["status"] in statuses else None

    return wait_until(reached, timeout, lambda: f"analysis {an_id} in {statuses} "
                      f"(is {last[0]['status'] if last else '?'})")


async def stream_of(srv, an_id: str, key: str = KEY_A, timeout: float = 120.0) -> list[dict]:
    """Subscribe over the WebSocket and read the analysis's messages up to its end."""
    out: list[dict] = []
    async with connect(srv, key) as ws:
        await send(ws, "subscribe", an_id)
        while True:
            msg = strict_loads(await asyncio.wait_for(ws.recv(), timeout))
            assert msg["simulation_id"] == an_id and TIMESTAMP.match(msg["timestamp"]), msg
            out.append(msg)
            if msg["type"] in ("result", "error"):
                return out


def test_stress_end_to_end_equals_the_python_analysis(srv):
    """REST create -> WebSocket stream (monotone progress, a module per variant, a row per
    variant, the result last) -> GET result; the numbers are the in-process analysis's, byte
    for byte, and the record lists under /analyses only."""
    rec = create(srv, "stress", {"scenarios": SCENARIOS})
    assert rec["kind"] == "stress" and rec["analysis_id"] == rec["id"]
    assert rec["params"] == {"scenarios": SCENARIOS} and rec["status"] in ("queued", "running")
    msgs = run(stream_of(srv, rec["id"]), 180)
    kinds = [m["type"] for m in msgs]
    assert kinds[-1] == "result" and "error" not in kinds
    progress = [m["progress"] for m in msgs if m["type"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 100.0
    modules = ["stress:base", "stress:mvd_20", "stress:custom"]
    assert [m["module"] for m in msgs if m["type"] == "module_started"] == modules
    done = [m for m in msgs if m["type"] == "module_completed"]
    assert [m["module"] for m in done] == modules
    assert all(is_number(m["execution_time"]) and m["execution_time"] > 0 for m in done)
    rows = [m["data"]["row"] for m in msgs if m["type"] == "intermediate_result"]
    assert [r["scenario"] for r in rows] == ["base", "mvd_20", "custom"]
    status, result = srv.request("GET", f"/analyses/{rec['id']}/result")
    assert status == 200 and result == msgs[-1]["result"]
    assert result["rows"] == rows
    local = equihome.stress("100m", SCENARIOS, overrides=BASE["overrides"])
    assert json.dumps(result, sort_keys=True) == json.dumps(local.data, sort_keys=True)
    assert result["rows"][1]["irr_p50"] < result["rows"][0]["irr_p50"]
    status, page = srv.request("GET", "/analyses")
    assert [r["id"] for r in page["items"]] == [rec["id"]] and page["items"][0]["kind"] == "stress"
    status, page = srv.request("GET", "/simulations")
    assert page["items"] == []
    status, body = srv.request("GET", f"/simulations/{rec['id']}")
    assert status == 404
    replay = run(stream_of(srv, rec["id"]))  # a late subscriber gets the rows and the result
    assert [m["data"]["row"] for m in replay if m["type"] == "intermediate_result"] == rows
    assert replay[-1] == msgs[-1]


@pytest.mark.parametrize("body, code, field", [
    ({"kind": "nope"}, "invalid_request", "kind"),
    ({"kind": "stress", "params": {"scenarios": [{"name": "x", "price_shock": {"decline": -2}}]}},
     "invalid_config", "scenarios[0].price_shock.decline"),
    ({"kind": "stress", "params": {"scenarios": ["mvd_99"]}}, "invalid_config", "mvd_99"),
    ({"kind": "tornado", "params": {"statistic": "lp_irr:p51"}}, "invalid_params", "statistic"),
    ({"kind": "tornado", "params": {"parameters": {"no_such_field": 0.1}}}, "invalid_params",
     "parameters.no_such_field"),
    ({"kind": "breakeven", "params": {"parameter": "hurdle_rate", "bounds": [0.1, 0.05]}},
     "invalid_params", "bounds"),
    ({"kind": "sweep", "params": {"grid": {"avg_loan_ltv": [0.3, 0.9]}}}, "invalid_config",
     "avg_loan_ltv"),
    ({"kind": "stress", "params": {"colour": 1}}, "invalid_params", "colour"),
])
def test_bad_requests_are_refused_and_name_the_field(srv, body, code, field):
    status, answer = post(srv, {**BASE, **body})
    assert status == 422, answer
    err = assert_error_body(answer, code)
    assert field in err["message"], err
    assert srv.request("GET", "/analyses")[1]["items"] == []  # nothing was stored


def test_ownership_cancel_and_failure(srv):
    """Another key sees nothing; a cancel ends a running tornado as cancelled on the stream;
    a breakeven with no root fails naming the statistic at both ends."""
    big = create(srv, "tornado", {"parameters": {"hurdle_rate": 0.01, "loan_term": 2}}, n=3000)
    for path in (f"/analyses/{big['id']}", f"/analyses/{big['id']}/result"):
        assert srv.request("GET", path, key=KEY_B)[0] == 404
    assert srv.request("POST", f"/analyses/{big['id']}/cancel", key=KEY_B)[0] == 404
    assert srv.request("GET", "/analyses", key=KEY_B)[1]["items"] == []

    async def cancel_while_running() -> list[dict]:
        out: list[dict] = []
        async with connect(srv) as ws:
            await send(ws, "subscribe", big["id"])
            while True:
                msg = strict_loads(await asyncio.wait_for(ws.recv(), 60))
                out.append(msg)
                if msg["type"] == "module_started" and msg["module"] == "tornado:base":
                    status, _ = await asyncio.to_thread(
                        srv.request, "POST", f"/analyses/{big['id']}/cancel")
                    assert status == 202
                if msg["type"] in ("result", "error"):
                    return out

    msgs = run(cancel_while_running(), 120)
    assert msgs[-1]["type"] == "error" and msgs[-1]["error"] == "cancelled"
    assert wait_for(srv, big["id"], ("cancelled",))["status"] == "cancelled"
    assert srv.request("GET", f"/analyses/{big['id']}/result")[0] == 409

    flat = create(srv, "breakeven", {"parameter": "hurdle_rate", "bounds": [0.02, 0.05],
                                     "target": 0.5})
    rec = wait_for(srv, flat["id"], ("failed", "completed"))
    assert rec["status"] == "failed" and "no root in the bounds" in rec["error"], rec
    assert "lp_irr:p50" in rec["error"] and "hurdle_rate = 0.02" in rec["error"]
    assert srv.request("DELETE", f"/analyses/{flat['id']}")[0] == 204
    assert srv.request("GET", f"/analyses/{flat['id']}")[0] == 404


def test_restart_reruns_a_queued_analysis_and_keeps_finished_ones(srv):
    """SIGKILL while an analysis runs: after a restart it runs again and completes with the
    same numbers as in-process; a finished analysis's record and result survive."""
    first = create(srv, "breakeven", {"parameter": "appreciation_rates", "bounds": [0.0, 0.15]},
                   n=60)
    done = wait_for(srv, first["id"], ("completed",))
    result = srv.request("GET", f"/analyses/{first['id']}/result")[1]
    assert abs(result["value"] - 0.08) <= 1e-5 and result["converged"]
    slow = create(srv, "sweep", {"grid": {"avg_loan_ltv": [0.3, 0.4, 0.5]}}, n=1500)
    wait_for(srv, slow["id"], ("running",))
    srv.stop(signal.SIGKILL)
    srv.start()
    assert record(srv, first["id"]) == done
    assert srv.request("GET", f"/analyses/{first['id']}/result")[1] == result
    wait_for(srv, slow["id"], ("completed",), timeout=240)
    again = srv.request("GET", f"/analyses/{slow['id']}/result")[1]
    local = equihome.run.analyses.sweep_analysis(
        "100m", {"avg_loan_ltv": [0.3, 0.4, 0.5]},
        overrides={"num_simulations": 1500, "monte_carlo_seed": 5})
    assert again["rows"] == json.loads(json.dumps(local.data["rows"]))
