"""The REST API, authentication, ownership, bad input and restart recovery of `equihome serve`.

Each test runs against a real server process (the ``server`` fixture of conftest.py) and
asserts the values PROTOCOL.md promises; the WebSocket protocol is in test_server_ws.py.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing

import jsonschema
import pytest
from server_helpers import (
    FINISHED,
    RECORD_FIELDS,
    TIMESTAMP,
    as_json,
    assert_error_body,
    assert_no_tracebacks,
    assert_serving,
    check_stream,
    collect,
    connect,
    create,
    get_record,
    get_result,
    recv,
    run,
    send,
    subscribe_and_collect,
    wait_status,
)
from server_util import KEY_A, KEY_B, ServerProcess

import equihome


@pytest.fixture
def srv(server):
    """The shared real server; after the test its log must show no uncaught exception."""
    yield server
    assert_no_tracebacks(server)


def ids(page: dict) -> list[str]:
    """The simulation ids of a list page."""
    return [item["id"] for item in page["items"]]


def list_page(server: ServerProcess, query: str = "", key: str = KEY_A) -> dict:
    """GET /simulations{query}, which must answer 200 with items and next_cursor."""
    status, page = server.request("GET", f"/simulations{query}", key=key)
    assert status == 200, page
    assert set(page) == {"items", "next_cursor"}, page
    return page


LONG = 20000  # scenarios of a run that only occupies a worker until it is cancelled


def start_long_runs(server: ServerProcess, count: int = 2) -> list[str]:
    """Occupy the server's two workers with long runs (LONG scenarios); wait until they run."""
    sims = [create(server, n=LONG)["id"] for _ in range(count)]
    for sim in sims:
        wait_status(server, sim, "running")
    return sims


def scenarios_done(stream: list[dict]) -> int:
    """The most scenarios a run reported done (its running statistics), 0 if none."""
    return max((m["data"]["completed_scenarios"] for m in stream
                if m["type"] == "intermediate_result" and m["module"] == "metrics"), default=0)


def cancel(server: ServerProcess, sim_id: str, key: str = KEY_A) -> tuple[int, dict]:
    """POST /simulations/{id}/cancel."""
    return server.request("POST", f"/simulations/{sim_id}/cancel", key=key)


# --------------------------------------------------------------------------- 2. REST


def test_create_get_and_result(srv):
    """201 with the full record; GET; the completed record; the result matches its schema."""
    overrides = {"num_simulations": 300, "monte_carlo_seed": 21,
                 "price_path": {"volatility": {"red": 0.2}}}
    status, rec = srv.request("POST", "/simulations",
                              {"preset": "100m", "overrides": overrides, "name": "first"})
    assert status == 201, rec
    assert set(rec) == RECORD_FIELDS
    sim = rec["id"]
    assert rec["simulation_id"] == sim and str(uuid.UUID(sim)) == sim
    assert rec["name"] == "first" and rec["status"] == "queued" and rec["progress"] == 0.0
    assert TIMESTAMP.match(rec["created_at"])
    assert rec["started_at"] is rec["finished_at"] is rec["execution_time"] is rec["error"] is None
    expected_config = as_json(equihome.load_config("100m", overrides).to_dict())
    assert rec["config"] == expected_config
    assert rec["config"]["price_path"]["volatility"]["red"] == 0.2
    got = get_record(srv, sim)
    assert set(got) == RECORD_FIELDS
    assert {k: got[k] for k in ("id", "name", "created_at", "config")} == \
           {k: rec[k] for k in ("id", "name", "created_at", "config")}
    done = wait_status(srv, sim, FINISHED)
    assert done["status"] == "completed" and done["progress"] == 100.0 and done["error"] is None
    for field in ("created_at", "started_at", "finished_at"):
        assert TIMESTAMP.match(done[field]), done
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    assert isinstance(done["execution_time"], float) and done["execution_time"] > 0
    result = get_result(srv, sim)
    status, schema = srv.request("GET", "/schema/result")
    assert status == 200
    jsonschema.validate(result, schema)
    expected = equihome.simulate(expected_config)
    assert result == as_json(expected.data)
    # a full config body gives the same simulation
    status, rec2 = srv.request("POST", "/simulations", {"config": expected_config})
    assert status == 201 and rec2["config"] == expected_config and rec2["name"] is None
    wait_status(srv, rec2["id"], "completed")
    assert get_result(srv, rec2["id"]) == result


def test_cancel_queued_running_and_finished(srv):
    """Queued: cancelled at once and told to subscribers; running: stopped long before its
    end (far fewer scenarios done than asked, no result); finished: 409."""
    long_a, long_b = start_long_runs(srv)
    queued = create(srv, n=50)["id"]
    status, health = srv.request("GET", "/health", key=None)
    assert status == 200 and health["queued"] == 1 and health["running"] == 2, health
    for sim in (queued, long_a):
        status, body = srv.request("GET", f"/simulations/{sim}/result")
        assert status == 409, body
        assert_error_body(body, "conflict")

    async def body():
        async with connect(srv) as ws:
            await send(ws, "subscribe", queued)
            await send(ws, "subscribe", long_a)
            status, rec = cancel(srv, queued)
            assert status == 202 and rec["status"] == "cancelled" and rec["error"] == "cancelled"
            assert set(rec) == RECORD_FIELDS
            status, rec = cancel(srv, long_a)
            assert status == 202 and rec["id"] == long_a
            assert rec["status"] in ("running", "cancelled")
            return await collect(ws, [queued, long_a])

    streams = run(body())
    for sim in (queued, long_a):
        end = streams[sim][-1]
        assert end["type"] == "error" and end["error"] == "cancelled", end
        assert "result" not in [m["type"] for m in streams[sim]]
        rec = get_record(srv, sim)
        assert rec["status"] == "cancelled" and rec["error"] == "cancelled"
        assert rec["finished_at"] is not None
        status, body = srv.request("GET", f"/simulations/{sim}/result")
        assert status == 409, body
        status, body = cancel(srv, sim)
        assert status == 409 and "cancelled" in assert_error_body(body, "conflict")["message"]
    assert streams[queued] == [streams[queued][-1]]  # it never ran: the error only
    assert scenarios_done(streams[long_a]) < LONG // 2  # stopped, not run to its end
    assert get_record(srv, queued)["started_at"] is None
    assert cancel(srv, long_b)[0] == 202
    done = create(srv, n=50)["id"]
    wait_status(srv, done, "completed")
    status, body = cancel(srv, done)
    assert status == 409, body
    assert "completed" in assert_error_body(body, "conflict")["message"]
    assert get_record(srv, done)["status"] == "completed"
    wait_status(srv, long_b, "cancelled")
    status, health = srv.request("GET", "/health", key=None)
    assert health["queued"] == 0 and health["running"] == 0, health


def test_list_newest_first_paginated_and_filtered(srv):
    """GET /simulations: newest first, limit/cursor pages, ?status= filter, bad queries 400."""
    longs = start_long_runs(srv)
    smalls = [create(srv, n=50, name=f"s{i}")["id"] for i in range(3)]
    assert cancel(srv, smalls[1])[0] == 202
    for sim in longs:
        assert cancel(srv, sim)[0] == 202
    for sim in longs + smalls:
        wait_status(srv, sim, FINISHED)
    newest_first = (longs + smalls)[::-1]
    assert ids(list_page(srv)) == newest_first
    pages, query = [], "?limit=2"
    while True:
        page = list_page(srv, query)
        pages.append(ids(page))
        if page["next_cursor"] is None:
            break
        query = f"?limit=2&cursor={page['next_cursor']}"
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    assert ids(list_page(srv, "?status=completed")) == [smalls[2], smalls[0]]
    assert ids(list_page(srv, "?status=cancelled")) == [smalls[1], longs[1], longs[0]]
    first = list_page(srv, "?status=cancelled&limit=2")
    assert ids(first) == [smalls[1], longs[1]]
    rest = list_page(srv, f"?status=cancelled&limit=2&cursor={first['next_cursor']}")
    assert ids(rest) == [longs[0]] and rest["next_cursor"] is None
    assert list_page(srv, "?status=running") == {"items": [], "next_cursor": None}
    item = list_page(srv, "?limit=1")["items"][0]
    assert set(item) == RECORD_FIELDS and item == get_record(srv, smalls[2])
    for query in ("?status=bogus", "?limit=0", "?limit=abc", "?limit=100000", "?cursor=%%%",
                  "?cursor=xyz"):
        status, body = srv.request("GET", f"/simulations{query}")
        assert status == 400, (query, body)
        assert_error_body(body, "bad_request")


def test_delete_finished_and_running(srv):
    """DELETE: 204, then 404 everywhere; a running run is stopped and its subscribers told."""
    done = create(srv, n=50)["id"]
    wait_status(srv, done, "completed")
    status, body = srv.request("DELETE", f"/simulations/{done}")
    assert status == 204 and body is None
    for method, path in (("GET", ""), ("GET", "/result"), ("DELETE", ""), ("POST", "/cancel")):
        status, body = srv.request(method, f"/simulations/{done}{path}")
        assert status == 404, (method, path, body)
        assert_error_body(body, "not_found")
    assert done not in ids(list_page(srv))
    running = create(srv, n=LONG)["id"]
    wait_status(srv, running, "running")

    async def body():
        async with connect(srv) as ws:
            await send(ws, "subscribe", running)
            first = await recv(ws)
            assert first["simulation_id"] == running
            status, _ = srv.request("DELETE", f"/simulations/{running}")
            assert status == 204
            stream = (await collect(ws, running))[running]
            await send(ws, "subscribe", running)
            gone = await recv(ws)
            return stream, gone

    stream, gone = run(body())
    assert stream[-1]["type"] == "error" and stream[-1]["error"] == "cancelled"
    assert gone["type"] == "error" and gone["error"] == "unknown simulation"
    assert srv.request("GET", f"/simulations/{running}")[0] == 404
    status, health = srv.request("GET", "/health", key=None)
    assert health["running"] == 0 and health["queued"] == 0
    assert_serving(srv)


def test_delete_right_after_the_result(srv):
    """DELETE as soon as the result arrives (while the server may still be storing it): 204, 404."""

    async def body():
        async with connect(srv) as ws:
            for _ in range(12):
                sim = create(srv, n=50)["id"]
                await send(ws, "subscribe", sim)
                assert (await collect(ws, sim))[sim][-1]["type"] == "result"
                assert srv.request("DELETE", f"/simulations/{sim}")[0] == 204
                assert srv.request("GET", f"/simulations/{sim}/result")[0] == 404

    run(body())
    assert list_page(srv)["items"] == []
    assert_serving(srv)


def test_presets_schemas_and_health(srv):
    """Presets list/one/unknown, the two JSON Schemas, and /health without a key."""
    status, presets = srv.request("GET", "/presets")
    assert status == 200
    assert [p["name"] for p in presets["items"]] == sorted(equihome.PRESETS)
    config_100m = as_json(equihome.load_config("100m").to_dict())
    assert presets["items"][0]["config"] == config_100m
    assert srv.request("GET", "/presets/100m") == (200, {"name": "100m", "config": config_100m})
    status, body = srv.request("GET", "/presets/../../etc/passwd")
    assert status == 404
    status, body = srv.request("GET", "/presets/1b")
    assert status == 404 and "1b" in assert_error_body(body, "not_found")["message"]
    for which in ("config", "result"):
        status, schema = srv.request("GET", f"/schema/{which}")
        assert status == 200 and schema["$schema"].startswith("https://json-schema.org/")
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["properties"]
    status, config_schema = srv.request("GET", "/schema/config")
    jsonschema.validate(config_100m, config_schema)
    assert "fund_size" in config_schema["properties"]
    assert srv.request("GET", "/schema/other")[0] == 404
    status, health = srv.request("GET", "/health", key=None)
    assert status == 200
    assert health == {"status": "ok", "version": equihome.__version__, "queued": 0, "running": 0}
    start_long_runs(srv)
    create(srv, n=50)
    create(srv, n=50)
    status, health = srv.request("GET", "/health", key="not a key")
    assert status == 200 and health["queued"] == 2 and health["running"] == 2, health


# --------------------------------------------------------------------------- 3./4. ownership, auth


def test_other_key_sees_nothing(srv):
    """KEY_B cannot get, list, read, cancel or delete KEY_A's simulations: 404 / empty list."""
    done = create(srv, n=50)["id"]
    wait_status(srv, done, "completed")
    running = create(srv, n=LONG)["id"]
    wait_status(srv, running, "running")
    for sim in (done, running):
        for method, path in (("GET", ""), ("GET", "/result"), ("POST", "/cancel"),
                             ("DELETE", "")):
            status, body = srv.request(method, f"/simulations/{sim}{path}", key=KEY_B)
            assert status == 404, (method, path, body)
            assert assert_error_body(body, "not_found")["message"] == "unknown simulation"
    assert list_page(srv, key=KEY_B) == {"items": [], "next_cursor": None}
    assert list_page(srv, "?status=completed", key=KEY_B)["items"] == []
    assert get_record(srv, running)["status"] == "running"  # B's cancel did nothing
    assert get_result(srv, done)["num_simulations"] == 50   # B's delete did nothing
    b_sim = create(srv, n=50, key=KEY_B)["id"]
    assert ids(list_page(srv, key=KEY_B)) == [b_sim]
    assert b_sim not in ids(list_page(srv))
    assert srv.request("GET", f"/simulations/{b_sim}")[0] == 404
    assert cancel(srv, running)[0] == 202


def test_missing_or_wrong_key_is_401(srv):
    """Every REST route but /health needs a valid key (header or api_key query parameter)."""
    sim = create(srv, n=50)["id"]
    routes = [("GET", "/simulations", None), ("POST", "/simulations", {"preset": "100m"}),
              ("GET", f"/simulations/{sim}", None), ("GET", f"/simulations/{sim}/result", None),
              ("POST", f"/simulations/{sim}/cancel", None), ("DELETE", f"/simulations/{sim}", None),
              ("GET", "/presets", None), ("GET", "/presets/100m", None),
              ("GET", "/schema/config", None), ("GET", "/schema/result", None)]
    for key in (None, "", "wrong", KEY_A.upper(), KEY_A[:-1]):
        for method, path, body in routes:
            status, answer = srv.request(method, path, body, key=key)
            assert status == 401, (key, method, path, answer)
            assert assert_error_body(answer, "unauthorized")["message"]
    status, page = srv.request("GET", f"/simulations?api_key={KEY_A}", key=None)
    assert status == 200 and ids(page) == [sim]
    assert get_record(srv, sim)["id"] == sim
    assert srv.request("GET", "/health", key=None)[0] == 200


def test_no_auth_refuses_a_public_address(tmp_path):
    """`serve --no-auth --host 0.0.0.0` exits with code 2 and says why; no server starts."""
    proc = subprocess.run(
        [sys.executable, "-m", "equihome.cli", "serve", "--no-auth", "--host", "0.0.0.0",
         "--port", "0", "--db", str(tmp_path / "never.db")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc
    output = proc.stdout + proc.stderr
    assert "loopback" in output and "--no-auth" in output, output
    assert "serving on" not in output


def test_no_auth_server_on_loopback(tmp_path):
    """With --no-auth on 127.0.0.1, requests without a key work (as one anonymous owner)."""
    srv = ServerProcess(db=tmp_path / "open.db", keys=(), extra=("--no-auth",)).start()
    try:
        assert any("no authentication" in line for line in srv.output)
        rec = create(srv, n=50, key=None)
        assert wait_status(srv, rec["id"], "completed", key=None)["status"] == "completed"
        assert ids(list_page(srv, key=None)) == [rec["id"]]
        stream = run(subscribe_and_collect(srv, rec["id"], key=None))
        assert check_stream(stream, rec["id"])["result"] == get_result(srv, rec["id"], key=None)
    finally:
        srv.stop()
    assert_no_tracebacks(srv)


# --------------------------------------------------------------------------- 5. bad input


def test_bad_rest_input_gets_clear_errors(srv):
    """Malformed, non-object, unknown fields, invalid values, too large: 400/413/422/404."""
    post = "/simulations"

    def check(status_wanted: int, code: str, **kwargs) -> dict:
        raw = kwargs.pop("raw", None)
        body = kwargs.pop("body", None)
        status, answer = srv.request("POST", kwargs.pop("path", post), body, raw=raw)
        assert status == status_wanted, (raw[:60] if raw else body, answer)
        return assert_error_body(answer, code)

    check(400, "bad_json", raw=b"{")
    check(400, "bad_json", raw=b'{"preset": "100m",}')
    check(400, "bad_json", raw=b"\xff\xfe not utf-8")
    check(400, "bad_json", raw=b"[" * 100_000)  # deeper than the parser's recursion limit
    for raw in (b"[1, 2]", b'"100m"', b"null", b"", b"42"):
        check(400, "bad_request", raw=raw)
    err = check(422, "invalid_request", body={"preset": "100m", "bogus": 1, "extra": {}})
    assert [d["loc"] for d in err["details"]] == [["bogus"], ["extra"]]
    check(422, "invalid_request", body={"preset": "100m", "config": {}})
    check(422, "invalid_request", body={"name": "neither"})
    check(422, "invalid_request", body={"preset": "100m", "name": "x" * 201})
    check(422, "invalid_config", body={"config": [1, 2]})
    err = check(422, "invalid_config", body={"preset": "/etc/passwd.json"})
    assert err["details"][0]["loc"] == ["preset"]
    err = check(422, "invalid_config", body={"preset": "100m", "overrides": {
        "price_path": {"volatility": {"red": -1}}, "hurdle_rate": 5, "fund_term": 0}})
    locs = sorted(d["loc"] for d in err["details"])
    assert locs == [["fund_term"], ["hurdle_rate"], ["price_path", "volatility", "red"]], err
    assert all(isinstance(d["msg"], str) and d["msg"] for d in err["details"])
    for raw, loc in ((b'{"preset": "100m", "overrides": {"fund_size": NaN}}', ["fund_size"]),
                     (b'{"config": {"fund_size": Infinity}}', ["fund_size"]),
                     (b'{"preset": "100m", "overrides": {"hurdle_rate": -Infinity}}',
                      ["hurdle_rate"]),
                     (b'{"preset": "100m", "overrides": {"price_path": {"volatility": '
                      b'{"green": NaN}}}}', ["price_path", "volatility", "green"]),
                     (b'{"preset": "100m", "overrides": {"fund_size": "100000000"}}',
                      ["fund_size"]),
                     (b'{"preset": "100m", "overrides": {"num_simulations": "many"}}',
                      ["num_simulations"])):
        err = check(422, "invalid_config", raw=raw)
        assert [d["loc"] for d in err["details"]] == [loc], err
        assert ".".join(loc) in err["message"], err
    err = check(422, "invalid_config", body={"preset": "100m", "overrides": {
        "fund_size": 1e12, "avg_loan_size": 10000, "min_loan_size": 10000}})
    assert err["details"][0]["loc"] == ["fund_size"]
    assert "limit" in err["message"] and "50,000" in err["message"], err
    big = json.dumps({"preset": "100m", "name": "x" * (1024 * 1024 + 512 * 1024)}).encode()
    check(413, "too_large", raw=big)
    check(413, "too_large", raw=b" " * (3 * 1024 * 1024))
    for method in ("PUT", "PATCH"):
        status, answer = srv.request(method, "/simulations", {"preset": "100m"})
        assert status == 405, answer
        assert_error_body(answer)
    for method, path in (("GET", "/nope"), ("GET", "/simulations/x/y/z"), ("POST", "/health/x"),
                         ("GET", f"/simulations/{uuid.uuid4()}"), ("GET", "/simulations/not-a-uuid")):
        status, answer = srv.request(method, path)
        assert status == 404, (path, answer)
        assert_error_body(answer, "not_found")
    status, answer = srv.request("GET", f"{srv.base}/totally/unknown")
    assert status == 404
    assert_error_body(answer, "not_found")
    assert list_page(srv)["items"] == []  # nothing invalid was stored
    assert_serving(srv)


# --------------------------------------------------------------------------- 7. restarts


def test_crash_mid_run_reruns_with_the_same_seed(srv):
    """SIGKILL with two runs running and two queued: after a restart all four re-run, each
    with the seed it had (drawn before the crash when its config has none).

    The running ones are long: they restart from the beginning with the same config and
    seed (the same guardrail announcements, the seedless one's drawn seed included), then
    are cancelled. The queued ones then give exactly the results of ``equihome.simulate``
    with their seeds. No run needs to be long enough to be computed twice.
    """
    longs = [create(srv, n=LONG, seed=98765)["id"], create(srv, n=LONG, seed=None)["id"]]
    seeded = create(srv, n=300, seed=4321)
    seedless = create(srv, n=200, seed=None)
    shorts = [seeded["id"], seedless["id"]]

    async def until_running() -> dict[str, list[dict]]:
        """Subscribe to the long runs and read until each has sent a progress message."""
        async with connect(srv) as ws:
            for sim in longs:
                await send(ws, "subscribe", sim)
            seen: dict[str, list[dict]] = {sim: [] for sim in longs}
            while not all(any(m["type"] == "progress" for m in s) for s in seen.values()):
                msg = await recv(ws)
                assert msg["type"] not in ("result", "error"), msg
                seen[msg["simulation_id"]].append(msg)
            return seen

    def announced(msgs: list[dict]) -> list[dict]:
        return [m["violation"] for m in msgs if m["type"] == "guardrail_violation"]

    before = run(until_running())
    assert srv.stop(signal.SIGKILL) == -signal.SIGKILL
    with closing(sqlite3.connect(srv.db)) as db:
        stored = {row[0]: row[1:] for row in
                  db.execute("SELECT id, status, seed, started_at FROM simulations")}
    assert {sim: stored[sim][0] for sim in stored} == {
        longs[0]: "running", longs[1]: "running", shorts[0]: "queued", shorts[1]: "queued"}
    drawn = {sim: stored[sim][1] for sim in stored}
    assert drawn[longs[0]] is None and drawn[shorts[0]] is None  # their configs fix the seed
    assert isinstance(drawn[longs[1]], int) and isinstance(drawn[shorts[1]], int)
    seed_announced = [v["details"]["seed"] for v in announced(before[longs[1]])
                      if v["rule"] == "seed_missing"]
    assert seed_announced == [drawn[longs[1]]]
    srv.start()
    assert any("re-queued 4 unfinished" in line for line in srv.output)

    after = run(until_running())
    for sim in longs:
        assert announced(after[sim]) == announced(before[sim])  # same config, same seed
        rec = get_record(srv, sim)
        assert rec["status"] == "running" and rec["started_at"] > stored[sim][2], rec
        assert cancel(srv, sim)[0] == 202

    async def shorts_to_the_end() -> dict[str, list[dict]]:
        async with connect(srv) as ws:
            for sim in shorts:
                await send(ws, "subscribe", sim)
            return await collect(ws, shorts)

    streams = run(shorts_to_the_end())
    seeded_result = check_stream(streams[seeded["id"]], seeded["id"])["result"]
    seedless_run = check_stream(streams[seedless["id"]], seedless["id"])
    assert seeded_result == as_json(equihome.simulate(seeded["config"], threads=1).data)
    assert seeded_result["seed"] == 4321 and seeded_result["num_simulations"] == 300
    assert seedless_run["result"]["seed"] == drawn[seedless["id"]]
    assert [v["details"]["seed"] for v in seedless_run["violations"]
            if v["rule"] == "seed_missing"] == [drawn[seedless["id"]]]
    assert seedless_run["result"] == as_json(equihome.simulate(
        seedless["config"], default_seed=drawn[seedless["id"]], threads=1).data)
    for sim in shorts:
        assert get_result(srv, sim) == streams[sim][-1]["result"]
        rec = get_record(srv, sim)
        assert rec["status"] == "completed" and rec["error"] is None
    for sim in longs:
        assert wait_status(srv, sim, "cancelled")["error"] == "cancelled"


def test_graceful_restart_serves_stored_results(srv):
    """After SIGTERM and a restart, records, results and the full replay come from the store."""
    seeded = create(srv, n=200, seed=3)["id"]
    seedless = create(srv, n=200, seed=None)["id"]
    sims = (seeded, seedless)
    records = {sim: wait_status(srv, sim, "completed") for sim in sims}
    results = {sim: get_result(srv, sim) for sim in sims}

    async def replays():
        return {sim: await subscribe_and_collect(srv, sim) for sim in sims}

    before = run(replays())
    assert srv.stop(signal.SIGTERM) == 0
    assert any("shutting down" in line for line in srv.output)
    srv.start()
    assert not any("re-queued" in line for line in srv.output)
    for sim in sims:
        assert get_record(srv, sim) == records[sim]
        assert get_result(srv, sim) == results[sim]
    after = run(replays())
    for sim in sims:
        checked = check_stream(after[sim], sim)
        assert checked["result"] == results[sim]
        assert checked["progress"] == [100.0]
        assert after[sim] == before[sim]  # the same messages, timestamps included
    assert results[seedless]["seed"] != results[seeded]["seed"] == 3
    assert results[seedless] == as_json(equihome.simulate(
        records[seedless]["config"], default_seed=results[seedless]["seed"]).data)
    assert ids(list_page(srv)) == [seedless, seeded]
    assert_serving(srv)


def test_a_key_beginning_with_a_dash_is_a_key(tmp_path):
    """secrets.token_urlsafe begins a key with "-" one time in 64: the launcher passes it as
    --api-key=KEY (as a separate argument argparse took it for an option and the server did
    not start)."""
    key = "-dash-first-key-0123456789"
    srv = ServerProcess(db=tmp_path / "dash.db", keys=(key,)).start()
    try:
        status, page = srv.request("GET", "/simulations", key=key)
        assert status == 200 and page["items"] == []
        assert srv.request("GET", "/simulations", key=KEY_A)[0] == 401
    finally:
        srv.stop()
