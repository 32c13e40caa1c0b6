"""A hostile-client suite against real `equihome serve` processes: each numbered finding of the
hardening issue reproduced, and the fixed behaviour asserted (no timing is asserted)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import socket
import sqlite3
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import tornado.httpserver
import tornado.ioloop
import tornado.web
import websockets
from server_helpers import (
    assert_error_body,
    assert_no_tracebacks,
    connect,
    create,
    get_record,
    recv,
    run,
    send,
    strict_loads,
    wait_status,
)
from server_util import KEY_A, KEY_B, ServerProcess
from test_schemas import OPENAPI, OPENAPI_SCHEMA, PRODUCED_IN_HARDENING, _response_pointer, _validate
from waiting import wait_until

from equihome.io.config import load_config
from equihome.model.loan_generator import block_size
from equihome.run.engine import CHUNK_WORK, auto_chunk
from equihome.server.auth import RedactingFilter, owner_id
from equihome.server.handlers import MAX_CONFIG_BYTES


@pytest.fixture
def srv(server):
    yield server
    assert_no_tracebacks(server)


def raw_http(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes and read the whole answer (the server closes the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


# --------------------------------------------------------------------------- 1. admission race


def test_1_racing_posts_of_one_key_cannot_pass_the_limit(srv):
    blockers = [create(srv, n=20000)["id"] for _ in range(2)]  # both workers busy
    body = {"preset": "100m", "overrides": {"num_simulations": 20}}
    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(lambda _: srv.request("POST", "/simulations", body)[0],
                                range(300)))
    assert answers.count(201) == 98 and answers.count(429) == 202, sorted(set(answers))
    for sim in blockers:
        srv.request("POST", f"/simulations/{sim}/cancel")


# --------------------------------------------------------------------------- 2. idle connections


def test_2_held_connections_get_503_and_free_after_the_idle_timeout(tmp_path):
    srv = ServerProcess(db=tmp_path / "idle.db", extra=("--max-connections", "40",
                                                        "--idle-timeout", "2")).start()
    try:
        held = []
        for _ in range(60):  # half-sent requests: the headers never end
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            held.append(s)
        answer = raw_http(srv.port, b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in head, head
        assert strict_loads(body)["error"]["code"] == "unavailable"
        assert "answered 503" in OPENAPI["info"]["description"]
        _validate(OPENAPI_SCHEMA("/components/schemas/Error"), strict_loads(body), "503")
        wait_until(lambda: srv.request("GET", "/health", key=None)[0] == 200, 30,
                   "the held connections to time out")
        for s in held:
            s.close()
        text = "".join(srv.output)
        assert "Too many open files" not in text and "Traceback" not in text
    finally:
        srv.stop()


# --------------------------------------------------------------------------- 3. keys in logs


def test_3_no_api_key_reaches_a_log_line_even_on_a_500():
    """Tornado logs the full URI of a request that fails; the filter serve() attaches to the
    log handlers removes the key from it (and from the traceback text)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)

    class Boom(tornado.web.RequestHandler):
        def get(self) -> None:
            raise RuntimeError(f"failed for {self.request.uri}")

    async def main() -> None:
        server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/x", Boom)]))
        sock, = __import__("tornado.netutil").netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets([sock])
        port = sock.getsockname()[1]
        await asyncio.to_thread(raw_http, port, b"GET /x?api_key=s3cret-KEY&a=1 HTTP/1.1\r\n"
                                b"Host: localhost\r\nConnection: close\r\n\r\n")
        server.stop()

    try:
        asyncio.run(main())
    finally:
        root.removeHandler(handler)
    text = stream.getvalue()
    assert "GET /x?api_key=***&a=1" in text and "RuntimeError" in text, text
    assert "s3cret-KEY" not in text


# --------------------------------------------------------------------------- 4. one writer


def test_4_a_second_server_on_the_same_database_refuses_to_start(srv):
    other = ServerProcess(db=srv.db, keys=(KEY_A,))
    with pytest.raises(RuntimeError) as err:
        other.start(timeout=15)
    assert other.proc is not None and other.proc.returncode == 2
    text = str(err.value)
    assert f"in use by another equihome server (pid {srv.proc.pid})" in text, text
    sim = create(srv, n=30)["id"]
    assert wait_status(srv, sim, "completed")["status"] == "completed"


# --------------------------------------------------------------------------- 5. slow readers


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(ln for ln in f if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_5_slow_readers_are_bounded_by_bytes(srv):
    big = create(srv, n=1000, sample_paths=1000, fund_term=20, loan_term=20)["id"]
    wait_status(srv, big, "completed", timeout=120)
    size = len(json.dumps(srv.request("GET", f"/simulations/{big}/result")[1]))
    assert size > 4_000_000  # 150 unread copies: over 600 MB if nothing bounded them
    before = rss_mb(srv.proc.pid)

    async def stalled_clients(n: int) -> list[int | None]:
        conns = []
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", srv.port))
            sock.setblocking(False)
            ws = await websockets.connect(srv.ws_url(KEY_A), sock=sock, max_queue=1,
                                          ping_interval=None, max_size=2**26)
            await send(ws, "subscribe", big)
            conns.append(ws)
        await asyncio.sleep(3)
        peak = rss_mb(srv.proc.pid)
        codes = []
        for ws in conns:
            codes.append(ws.close_code)
            ws.transport.abort()
        return [peak, *codes]

    peak, *codes = run(stalled_clients(150), 120)
    assert peak - before < 400, (before, peak)  # the bound is 256 MiB of unsent messages
    assert codes.count(1013) > 50, codes  # those beyond the bound were closed
    wait_until(lambda: srv.request("GET", "/health", key=None)[0] == 200, 10, "health")


# --------------------------------------------------------------------------- 6. sizes


def test_6_oversized_configs_and_names_are_refused(srv):
    tranche = {"name": "t" * 70_000, "type": "senior_debt", "size": 1e6, "interest_rate": 0.05,
               "priority": 1}
    status, body = srv.request("POST", "/simulations", {"preset": "100m",
                                                        "overrides": {"tranches": [tranche]}})
    assert status == 422 and f"limit is {MAX_CONFIG_BYTES:,}" in body["error"]["message"], body
    status, body = srv.request("POST", "/simulations", {"preset": "100m", "name": "n" * 201})
    assert status == 422 and "name" in body["error"]["message"]
    status, body = srv.request("POST", "/simulations", raw=b'{"preset": "100m", "x": "'
                               + b"a" * (2 * 2**20) + b'"}')
    assert status == 413
    assert srv.request("GET", "/simulations")[1]["items"] == []


# --------------------------------------------------------------------------- 7. fairness, work cap


def test_7_round_robin_between_keys_and_a_work_cap(tmp_path):
    srv = ServerProcess(db=tmp_path / "fair.db", keys=(KEY_A, KEY_B), workers=1,
                        extra=("--max-work", "3e9")).start()
    try:
        longs = [create(srv, n=2500, seed=s)["id"] for s in (1, 2, 3)]
        short = create(srv, n=20, key=KEY_B)["id"]
        done = wait_status(srv, short, "completed", key=KEY_B)
        third = get_record(srv, longs[2])
        assert third["status"] in ("queued", "running")
        assert third["started_at"] is None or third["started_at"] > done["started_at"]
        status, body = srv.request("POST", "/simulations", {"preset": "100m", "overrides": {
            "num_simulations": 100_000}})
        err = assert_error_body(body, "too_much_work")
        assert status == 422 and "loan-months" in err["message"] and "3e+09" in err["message"]
        for sim in longs:
            srv.request("POST", f"/simulations/{sim}/cancel")
    finally:
        srv.stop()


# --------------------------------------------------------------------------- 8. replays


def test_8_back_to_back_replays_do_not_close_a_reading_client(srv):
    done = create(srv, n=30)["id"]
    wait_status(srv, done, "completed")

    async def body() -> int:
        results = 0
        async with connect(srv) as ws:
            for _ in range(150):
                await send(ws, "subscribe", done)
                await send(ws, "unsubscribe", done)
            while results < 150:
                msg = strict_loads(await asyncio.wait_for(ws.recv(), 30))
                results += msg["type"] == "result"
            assert ws.close_code is None
        return results

    assert run(body(), 120) == 150


# --------------------------------------------------------------------------- 9. ids and text


def test_9_surrogates_upper_case_ids_and_compat_ids(srv):
    status, body = srv.request("POST", "/simulations", raw=b'{"preset": "100m", "name": "\\ud800"}')
    assert status == 422 and "name" in body["error"]["message"], body
    sim = create(srv, n=20)["id"]
    assert get_record(srv, sim.upper())["id"] == sim
    wait_status(srv, sim, "completed")

    async def body_() -> tuple[dict, dict]:
        async with connect(srv, path="/ws/simulations/not-a-uuid") as ws:
            bad = await recv(ws)
        async with connect(srv) as ws:
            await send(ws, "subscribe", sim.upper())
            msgs = []
            while not msgs or msgs[-1]["type"] != "result":
                msgs.append(await recv(ws))
        return bad, msgs[-1]

    bad, result = run(body_())
    assert bad["type"] == "error" and "must be a UUID" in bad["error"]
    assert result["simulation_id"] == sim


# --------------------------------------------------------------------------- 10. files


def test_10_files_private_owner_ids_keyed_and_clear_start_errors(tmp_path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(KEY_A + "\n")
    keys_file.chmod(0o644)
    db = tmp_path / "files.db"
    srv = ServerProcess(db=db, extra=("--keys-file", str(keys_file))).start()
    try:
        sim = create(srv, n=20, key=KEY_A)["id"]
        wait_status(srv, sim, "completed", key=KEY_A)
    finally:
        srv.stop()
    for path in (db, tmp_path / "files.db.secret"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert "chmod 600" in "".join(srv.output)
    secret = bytes.fromhex((tmp_path / "files.db.secret").read_text().strip())
    owner, = sqlite3.connect(db).execute("SELECT owner FROM simulations").fetchone()
    assert owner == owner_id(KEY_A, secret) != hashlib.sha256(KEY_A.encode()).hexdigest()[:32]
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not a database" * 100)
    broken = ServerProcess(db=bad, keys=(KEY_A,))
    with pytest.raises(RuntimeError) as err:
        broken.start(timeout=15)
    text = str(err.value)
    assert f"database '{bad}' cannot be opened" in text and "Traceback" not in text, text
    assert broken.proc is not None and broken.proc.returncode == 2


def test_10_runs_of_an_earlier_version_keep_their_owner(tmp_path):
    """Owner ids written as an unsalted SHA-256 (earlier versions) are re-keyed at start."""
    db = tmp_path / "old.db"
    srv = ServerProcess(db=db, keys=(KEY_A,)).start()
    sim = create(srv, n=20)["id"]
    wait_status(srv, sim, "completed")
    srv.stop()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE simulations SET owner = ?", (hashlib.sha256(KEY_A.encode())
                                                          .hexdigest()[:32],))
    srv.start()
    try:
        assert get_record(srv, sim)["status"] == "completed"
        assert any("re-keyed" in line for line in srv.output)
    finally:
        srv.stop()


# --------------------------------------------------------------------------- 11. --no-auth


def test_11_no_auth_checks_host_and_origin(tmp_path):
    srv = ServerProcess(db=tmp_path / "open.db", extra=("--no-auth",)).start()
    try:
        assert srv.request("GET", "/presets", key=None)[0] == 200
        status, body = srv.request("GET", "/presets", key=None, headers={"Host": "evil.example"})
        assert status == 403 and "loopback" in body["error"]["message"]
        status, body = srv.request("POST", "/simulations", {"preset": "100m"}, key=None,
                                   headers={"Origin": "http://evil.example"})
        assert status == 403 and "Origin" in body["error"]["message"]
        assert srv.request("GET", "/simulations", key=None,
                           headers={"Origin": "http://localhost:3000"})[0] == 200

        async def ws_from(origin: str) -> int:
            try:
                async with websockets.connect(srv.ws_url(None), origin=origin):
                    return 101
            except websockets.exceptions.InvalidStatus as exc:
                return exc.response.status_code

        assert run(ws_from("http://evil.example")) == 403
        assert run(ws_from("http://127.0.0.1:8888")) == 101
    finally:
        srv.stop()


# --------------------------------------------------------------------------- 12. cancel latency


def test_12_chunks_of_the_largest_runs_stay_small():
    """Cancel is checked between stages of a chunk; chunks are sized to CHUNK_WORK loan-months,
    so the largest allowed fund cancels as fast as the preset."""
    big = load_config("100m", {"fund_term": 30, "loan_term": 30, "avg_loan_size": 20_000,
                               "min_loan_size": 10_000, "loan_size_std_dev": 5_000,
                               "reinvestment_period": 30})
    for cfg in (load_config("100m"), big):
        for n, threads in ((1_000, 1), (100_000, 1), (1_000, 2), (100_000, 2), (100_000, 64)):
            chunk = auto_chunk(cfg, None, n, threads)
            assert chunk == 1 or chunk * (cfg.months + 1) * block_size(cfg) <= CHUNK_WORK
    preset = load_config("100m")
    assert auto_chunk(preset) == 64  # a run of unknown size
    # as few chunks as MAX_CHUNK allows, the same number for each thread, of equal size
    assert auto_chunk(preset, None, 1_000, 1) == 250 and auto_chunk(preset, None, 1_000, 2) == 250
    assert auto_chunk(preset, None, 1_100, 2) == 184  # 6 chunks: 3 a thread
    assert auto_chunk(preset, None, 100, 1) == 100 and auto_chunk(preset, None, 10, 2) == 5
    assert auto_chunk(preset, None, 100_000, 2) == 256
    assert auto_chunk(preset, None, 100_000, 64) == 224  # 7 chunks a thread
    assert auto_chunk(big) == CHUNK_WORK // ((big.months + 1) * block_size(big)) < 64


# --------------------------------------------------------------------------- 13. compat, CORS


def test_13_compat_shapes_idempotent_subscribe_and_cors(tmp_path):
    srv = ServerProcess(db=tmp_path / "cors.db", keys=(KEY_A,),
                        extra=("--allow-origin", "https://dash.example")).start()
    try:
        sim = create(srv, n=20)["id"]
        wait_status(srv, sim, "completed")
        status, listing = srv.request("GET", f"{srv.base}/simulations/")
        assert status == 200 and isinstance(listing, list) and listing[0]["id"] == sim
        status, gone = srv.request("DELETE", f"{srv.base}/simulations/{sim}")
        assert status == 200 and gone["deleted"] is True and gone["id"] == sim
        sim = create(srv, n=20)["id"]
        wait_status(srv, sim, "completed")

        async def compat() -> list[str]:
            async with connect(srv, path=f"/ws/simulations/{sim}") as ws:
                await send(ws, "subscribe", sim)       # the earlier client subscribes again
                await send(ws, "cancel", "00000000-0000-0000-0000-000000000000")
                kinds = []
                while True:
                    msg = await recv(ws)
                    kinds.append(msg["type"])
                    if msg["simulation_id"] != sim:
                        return kinds

        assert run(compat()).count("result") == 1
        ok = srv.request("OPTIONS", "/simulations", key=None,
                         headers={"Origin": "https://dash.example",
                                  "Access-Control-Request-Method": "POST"})
        assert ok[0] == 204
        assert srv.request("OPTIONS", "/simulations", key=None,
                           headers={"Origin": "https://evil.example"})[0] == 403
        import urllib.request
        req = urllib.request.Request(f"{srv.api}/simulations", headers={
            "X-API-Key": KEY_A, "Origin": "https://dash.example"})
        with urllib.request.urlopen(req) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "https://dash.example"
        req = urllib.request.Request(f"{srv.api}/simulations", headers={
            "X-API-Key": KEY_A, "Origin": "https://evil.example"})
        with urllib.request.urlopen(req) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] is None
    finally:
        srv.stop()
    assert "Traceback" not in "".join(srv.output)


def test_keys_never_logged_by_the_server(srv):
    """The access log and every other line of a real server: no key, whatever the URL."""
    srv.request("GET", f"/simulations?api_key={KEY_B}&status=nope", key=None)
    srv.request("GET", f"/simulations/{'0' * 36}?api_key={KEY_A}", key=None)
    threading.Event().wait(0.3)
    text = "".join(srv.output)
    assert KEY_A not in text and KEY_B not in text
    time.sleep(0)


def test_6_storage_quota_refuses_or_prunes_the_oldest(tmp_path):
    for prune in (False, True):
        extra = ("--max-stored-runs", "3") + (("--prune-oldest",) if prune else ())
        srv = ServerProcess(db=tmp_path / f"quota{prune}.db", keys=(KEY_A, KEY_B),
                            extra=extra).start()
        try:
            first = [create(srv, n=10)["id"] for _ in range(3)]
            for sim in first:
                wait_status(srv, sim, "completed")
            status, body = srv.request("POST", "/simulations", {"preset": "100m"})
            if prune:
                assert status == 201, body
                assert srv.request("GET", f"/simulations/{first[0]}")[0] == 404
                assert get_record(srv, first[1])["status"] == "completed"
            else:
                assert status == 507 and body["error"]["code"] == "quota_exceeded", body
                assert "--prune-oldest" in body["error"]["message"]
                analysis = {"kind": "stress", "preset": "100m",
                            "params": {"scenarios": ["haircut_10"]}}
                a_status, a_body = srv.request("POST", "/analyses", analysis)
                assert a_status == 507 and a_body["error"]["code"] == "quota_exceeded", a_body
                for (template, method, code), answer in zip(sorted(PRODUCED_IN_HARDENING),
                                                            (a_body, body), strict=True):
                    pointer = _response_pointer(template, method, int(code))
                    _validate(OPENAPI_SCHEMA(pointer), answer, f"{template} -> {code}")
            assert srv.request("POST", "/simulations", {"preset": "100m"}, key=KEY_B)[0] == 201
        finally:
            srv.stop()
