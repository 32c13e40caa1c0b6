"""Per-scenario arrays from the server: ``GET /api/simulations/{id}/scenarios`` and remote results.

Against a real ``equihome serve`` process (and the Jupyter extension): the arrays equal a
local ``equihome.simulate`` with the same config and seed bit for bit, in JSON, CSV and the
compact binary; the metrics filter; 400/401/404/409; they survive a restart, count in the
key's storage quota and go with the run; a remote result loads them once, on first use.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import sqlite3
import struct
import urllib.error
import urllib.request
import uuid
import zlib
from contextlib import closing

import numpy as np
import pytest
from server_helpers import (
    as_json,
    assert_error_body,
    assert_no_tracebacks,
    create,
    get_record,
    get_result,
    wait_status,
)
from server_util import KEY_A, KEY_B, ServerProcess
from waiting import wait_until

import equihome
from equihome.io.scenario_arrays import MAGIC, ScenarioArrays, decode
from equihome.ui.remote import Connection, RemoteScenarios, ServerError

pytest_plugins = ["pytest_jupyter.jupyter_server"]

N, SEED = 400, 11  # a run small enough to be quick, large enough to have NaN payback months


@pytest.fixture
def srv(server):
    """The shared real server; after the test its log must show no uncaught exception."""
    yield server
    assert_no_tracebacks(server)


@pytest.fixture(scope="module")
def local():
    """The same run in this process: what the server's arrays must equal."""
    return equihome.simulate("100m", num_simulations=N, seed=SEED)


def fetch(server: ServerProcess, sim_id: str, accept: str | None = None, query: str = "",
          key: str | None = KEY_A) -> tuple[int, str, bytes]:
    """(status, Content-Type, body) of GET /api/simulations/{id}/scenarios{query}."""
    headers = {} if key is None else {"X-API-Key": key}
    if accept is not None:
        headers["Accept"] = accept
    req = urllib.request.Request(f"{server.api}/simulations/{sim_id}/scenarios{query}",
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def error(server: ServerProcess, sim_id: str, status: int, code: str, query: str = "",
          key: str | None = KEY_A, accept: str | None = None) -> str:
    """The message of the JSON error answer that must come (with ``status`` and ``code``)."""
    got, ctype, body = fetch(server, sim_id, accept, query, key)
    assert got == status, (got, body[:300])
    assert ctype.startswith("application/json"), ctype
    return assert_error_body(json.loads(body), code)["message"]


def completed_run(server: ServerProcess, n: int = N, seed: int = SEED) -> str:
    sim_id = create(server, n=n, seed=seed)["id"]
    assert wait_status(server, sim_id, ("completed", "failed", "cancelled"))["status"] == "completed"
    return sim_id


def from_json_column(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def assert_bitwise(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    """Same metrics in the same order; every value the same float64, NaN where NaN."""
    assert list(got) == list(want)
    for name, values in want.items():
        assert got[name].dtype == np.float64 and got[name].shape == values.shape, name
        assert np.array_equal(got[name], values, equal_nan=True), name
        finite = np.isfinite(values)
        assert np.array_equal(got[name][finite].view(np.uint64), values[finite].view(np.uint64))


def scenario_requests(server: ServerProcess, sim_id: str) -> int:
    """How many GET .../scenarios requests of ``sim_id`` the server has served so far.

    Counted in its access log, once a marker request made now has been logged after them
    (the log is read from the child's pipe by a thread, in order)."""
    marker = f"/api/log-marker-{uuid.uuid4()}"
    assert server.request("GET", server.base + marker)[0] == 404
    wait_until(lambda: any(marker in line for line in server.output), 10, f"{marker} logged")
    return sum(f"GET /api/simulations/{sim_id}/scenarios" in line for line in server.output)


# --------------------------------------------------------------------------- the three formats


def test_json_and_binary_equal_a_local_run_bit_for_bit(srv, local):
    sim_id = completed_run(srv)
    status, ctype, body = fetch(srv, sim_id)
    assert status == 200 and ctype == "application/json; charset=utf-8"
    data = json.loads(body, parse_constant=lambda name: pytest.fail(f"non-finite {name}"))
    assert set(data) == {"num_simulations", "seed", "metrics"}
    assert (data["num_simulations"], data["seed"]) == (N, SEED)
    assert_bitwise({k: from_json_column(v) for k, v in data["metrics"].items()}, local.scenarios)
    nans = int(np.isnan(local.scenarios["payback_month"]).sum())
    assert nans > 0 and data["metrics"]["payback_month"].count(None) == nans

    status, ctype, blob = fetch(srv, sim_id, "application/octet-stream")
    assert status == 200 and ctype == "application/octet-stream"
    arrays = decode(blob)
    assert (arrays.num_simulations, arrays.seed) == (N, SEED)
    assert_bitwise(arrays.metrics, local.scenarios)
    # the documented layout, read by hand: magic, header length, JSON header, zlib float64 columns
    assert blob[:4] == MAGIC == b"EQSC"
    (size,) = struct.unpack("<I", blob[4:8])
    header = json.loads(blob[8:8 + size])
    assert header == {"version": 1, "num_simulations": N, "seed": SEED, "dtype": "<f8",
                      "compression": "zlib", "metrics": list(local.scenarios)}
    table = np.frombuffer(zlib.decompress(blob[8 + size:]), "<f8").reshape(len(header["metrics"]), N)
    assert np.array_equal(table[0], local.scenarios["lp_irr"])
    assert len(blob) < 8 * N * len(local.scenarios)  # compressed
    # the same arrays as the result's statistics (computed by the engine from them)
    result = get_result(srv, sim_id)
    assert result["statistics"]["lp_irr"]["p50"] == pytest.approx(
        float(np.median(arrays.metrics["lp_irr"])), rel=1e-12)


def test_csv_round_trips_exactly_and_the_metrics_filter(srv, local):
    sim_id = completed_run(srv)
    status, ctype, body = fetch(srv, sim_id, "text/csv")
    assert status == 200 and ctype == "text/csv; charset=utf-8"
    text = body.decode()
    assert text.endswith("\r\n") and text.count("\r\n") == N + 1  # header + one row a scenario
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["scenario", *local.scenarios]
    assert [int(r[0]) for r in rows[1:]] == list(range(N))
    columns = {name: np.array([float(r[i]) if r[i] else np.nan for r in rows[1:]])
               for i, name in enumerate(rows[0][1:], start=1)}
    assert_bitwise(columns, local.scenarios)
    first = local.scenarios["lp_irr"][0]
    assert rows[1][1] == repr(float(first))  # repr precision: 17 significant digits at most
    nan_row = int(np.flatnonzero(np.isnan(local.scenarios["payback_month"]))[0])
    assert rows[nan_row + 1][rows[0].index("payback_month")] == ""  # NaN: an empty cell

    # ?metrics= picks columns in the order asked, in every format
    pick = "?metrics=lp_tvpi,lp_irr"
    _, _, body = fetch(srv, sim_id, query=pick)
    data = json.loads(body)
    assert list(data["metrics"]) == ["lp_tvpi", "lp_irr"] and data["num_simulations"] == N
    assert_bitwise({k: from_json_column(v) for k, v in data["metrics"].items()},
                   {k: local.scenarios[k] for k in ("lp_tvpi", "lp_irr")})
    _, _, body = fetch(srv, sim_id, "text/csv", pick)
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["scenario", "lp_tvpi", "lp_irr"]
    assert rows[5] == ["4", repr(float(local.scenarios["lp_tvpi"][4])),
                       repr(float(local.scenarios["lp_irr"][4]))]
    _, _, blob = fetch(srv, sim_id, "application/octet-stream", "?metrics=roi")
    assert_bitwise(decode(blob).metrics, {"roi": local.scenarios["roi"]})

    # unknown or empty names: 400 naming it and listing the valid ones
    msg = error(srv, sim_id, 400, "bad_request", "?metrics=lp_irr,irr_p50", accept="text/csv")
    assert "'irr_p50'" in msg and "lp_irr, gross_irr" in msg and "excess_carry" in msg
    assert "metrics" in error(srv, sim_id, 400, "bad_request", "?metrics=lp_irr,,roi")


@pytest.mark.parametrize("accept, media", [
    (None, "application/json"),
    ("*/*", "application/json"),
    ("text/html", "application/json"),
    ("text/csv", "text/csv"),
    ("text/csv;q=0.5, application/json", "application/json"),
    ("application/json;q=0.2, text/csv;q=0.9", "text/csv"),
    ("application/octet-stream, text/csv", "application/octet-stream"),
])
def test_accept_negotiation(accept, media):
    from equihome.server.handlers import negotiate

    assert negotiate(accept) == media


# --------------------------------------------------------------------------- who and when


def test_ownership_unknown_and_not_finished(srv):
    sim_id = completed_run(srv, n=50)
    assert "unknown simulation" in error(srv, sim_id, 404, "not_found", key=KEY_B)
    error(srv, str(uuid.uuid4()), 404, "not_found")
    error(srv, "not-a-uuid", 404, "not_found")
    error(srv, sim_id, 401, "unauthorized", key=None)
    long = create(srv, n=20000)["id"]  # queued or running for a while
    msg = error(srv, long, 409, "conflict", accept="text/csv")
    assert "not completed" in msg
    status, _ = srv.request("POST", f"/simulations/{long}/cancel")
    assert status == 202 and wait_status(srv, long, "cancelled")
    assert "cancelled, not completed" in error(srv, long, 409, "conflict")
    assert fetch(srv, sim_id, key=KEY_A)[0] == 200


def test_survive_a_restart_count_in_the_quota_and_go_with_the_run(srv, local):
    sim_id = completed_run(srv)
    _, _, blob = fetch(srv, sim_id, "application/octet-stream")
    with closing(sqlite3.connect(srv.db)) as db:
        stored = db.execute("SELECT body FROM scenarios WHERE simulation_id = ?",
                            (sim_id,)).fetchone()[0]
        others = db.execute(
            "SELECT LENGTH(s.config) + LENGTH(r.body) + LENGTH(e.body) FROM simulations s "
            "JOIN results r ON r.simulation_id = s.id JOIN events e ON e.simulation_id = s.id "
            "WHERE s.id = ?", (sim_id,)).fetchone()[0]
    assert bytes(stored) == blob  # what is sent is exactly what is stored

    # restarted (same database) with a quota that this run and the next would fit without
    # the arrays but not with them: the arrays are still served, and the next run is refused
    adding = len(json.dumps(get_record(srv, sim_id)["config"])) + len("null")  # config, params
    quota = others + adding + len(blob) // 2
    assert srv.stop(signal.SIGTERM) == 0
    srv.extra = ("--max-stored-mb", repr(quota / 2**20))
    srv.start()
    status, _, again = fetch(srv, sim_id, "application/octet-stream")
    assert status == 200 and again == blob
    assert_bitwise(decode(again).metrics, local.scenarios)
    status, body = srv.request("POST", "/simulations", {"preset": "100m", "overrides": {
        "num_simulations": N, "monte_carlo_seed": SEED}})
    assert status == 507 and assert_error_body(body, "quota_exceeded"), body

    # deleted with the run: the row is gone, the endpoint says 404, the quota has room again
    assert srv.request("DELETE", f"/simulations/{sim_id}")[0] == 204
    error(srv, sim_id, 404, "not_found")
    with closing(sqlite3.connect(srv.db)) as db:
        assert db.execute("SELECT COUNT(*) FROM scenarios").fetchone() == (0,)
    assert create(srv, n=N, seed=SEED)["status"] == "queued"


def test_a_run_stored_without_arrays_says_so(srv):
    """A run finished before the server kept arrays: 404 that explains, not a silent empty."""
    sim_id = completed_run(srv, n=50)
    assert srv.stop(signal.SIGTERM) == 0
    with closing(sqlite3.connect(srv.db)) as db, db:
        db.execute("DELETE FROM scenarios WHERE simulation_id = ?", (sim_id,))
    srv.start()
    assert "no stored per-scenario arrays" in error(srv, sim_id, 404, "not_found")
    result = Connection(srv.base, key=KEY_A).fetch_result(sim_id)
    with pytest.raises(ServerError, match="HTTP 404: .*run it again"):
        result.percentile("lp_irr", 50)


# --------------------------------------------------------------------------- remote results


def test_remote_results_load_the_arrays_once_on_first_use(srv, local):
    conn = Connection(srv.base, key=KEY_A)
    sim_id = completed_run(srv)
    result = conn.fetch_result(sim_id)
    assert isinstance(result.scenarios, RemoteScenarios) and not result.scenarios.loaded
    assert scenario_requests(srv, sim_id) == 0  # nothing fetched until asked
    for q in (5, 50, 95):
        assert result.percentile("lp_irr", q) == local.percentile("lp_irr", q)
    assert result.percentile("payback_month", 50) == local.percentile("payback_month", 50)
    assert np.array_equal(result.scenarios["lp_tvpi"], local.scenarios["lp_tvpi"])
    assert list(result.scenarios) == list(local.scenarios) and "roi" in result.scenarios
    assert len(result.scenarios) == len(local.scenarios) and result.scenarios.loaded
    with pytest.raises(KeyError):
        result.scenarios["no_such_metric"]
    assert result.data == as_json(local.data)
    assert scenario_requests(srv, sim_id) == 1  # one request, then cached

    # pandas export reads the same arrays (no further request)
    assert result.to_frame("scenarios").equals(local.to_frame("scenarios"))
    assert scenario_requests(srv, sim_id) == 1

    # a run watched over the WebSocket gives the same kind of result
    run = conn.run("100m", overrides={"num_simulations": N, "monte_carlo_seed": SEED},
                   display=False)
    watched = run.result(60)
    assert isinstance(watched.scenarios, RemoteScenarios)
    assert watched.percentile("lp_irr", 50) == local.percentile("lp_irr", 50)
    assert_bitwise(dict(watched.scenarios), local.scenarios)
    assert conn.scenarios(run.simulation_id, ["gp_carry"]).keys() == {"gp_carry"}


def test_scenario_arrays_reject_what_is_not_theirs():
    arrays = ScenarioArrays.of({"a": np.array([1.0, np.nan, -np.inf]), "b": np.arange(3)}, 5)
    assert arrays.to_json() == '{"num_simulations":3,"seed":5,"metrics":{"a":[1.0,null,null],' \
                               '"b":[0.0,1.0,2.0]}}'
    assert arrays.to_csv() == "scenario,a,b\r\n0,1.0,0.0\r\n1,,1.0\r\n2,,2.0\r\n"
    back = decode(arrays.to_bytes())
    assert back.seed == 5 and np.array_equal(back.metrics["a"], arrays.metrics["a"], equal_nan=True)
    with pytest.raises(ValueError, match="one length"):
        ScenarioArrays.of({"a": np.zeros(3), "b": np.zeros(4)}, None)
    with pytest.raises(ValueError, match="EQSC"):
        decode(b"PK\x03\x04 not ours")
    blob = arrays.to_bytes()
    with pytest.raises(ValueError, match="promises 32 bytes .*2 metrics x 2 scenarios.* holds more"):
        decode(blob[:8] + blob[8:].replace(b'"num_simulations":3', b'"num_simulations":2'))
    with pytest.raises(ValueError, match="promises 64 bytes .* holds 48 bytes"):
        decode(blob[:8] + blob[8:].replace(b'"num_simulations":3', b'"num_simulations":4'))
    with pytest.raises(ValueError, match="corrupt"):
        decode(blob[:-12] + bytes(12))


# --------------------------------------------------------------------------- Jupyter extension


@pytest.fixture
def jp_server_config(tmp_path):
    return {"ServerApp": {"jpserver_extensions": {"equihome_jupyter": True}},
            "EquihomeExtension": {"db_path": str(tmp_path / "ext.db")}}


async def test_the_jupyter_extension_serves_them_under_its_base(jp_serverapp, jp_fetch,
                                                                jp_http_port, jp_base_url, local):
    import asyncio

    conn = Connection(f"http://127.0.0.1:{jp_http_port}{jp_base_url}equihome/",
                      token=jp_serverapp.identity_provider.token)
    run = await asyncio.to_thread(conn.run, "100m", {"num_simulations": N,
                                                     "monte_carlo_seed": SEED}, None, False)
    result = await asyncio.to_thread(run.result, 60)
    median = await asyncio.to_thread(result.percentile, "lp_irr", 50)
    assert median == local.percentile("lp_irr", 50)
    r = await jp_fetch("equihome", "api", "simulations", run.simulation_id, "scenarios",
                       params={"metrics": "lp_irr"}, headers={"Accept": "text/csv"})
    assert r.code == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(r.body.decode())))
    assert rows[0] == ["scenario", "lp_irr"] and len(rows) == N + 1
    assert np.array_equal([float(row[1]) for row in rows[1:]], local.scenarios["lp_irr"])
    r = await jp_fetch("equihome", "api", "simulations", run.simulation_id, "scenarios")
    assert r.headers["Content-Type"].startswith("application/json")
    assert json.loads(r.body)["num_simulations"] == N
