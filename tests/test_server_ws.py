"""The WebSocket protocol of the engine server (PROTOCOL.md), against a real `equihome serve`.

Clients are the `websockets` library (asyncio); each async body runs under ``asyncio.run``
with an overall deadline. Streams are checked message by message: envelope (type,
simulation_id, timestamp), finite JSON, and the per-simulation ordering rules.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid

import pytest
import websockets
from server_helpers import (
    assert_no_tracebacks,
    assert_serving,
    check_envelope,
    check_stream,
    collect,
    connect,
    create,
    get_record,
    get_result,
    recv,
    run,
    send,
    strict_loads,
    subscribe_and_collect,
    wait_status,
)
from server_util import KEY_A, KEY_B
from waiting import wait_until

import equihome
from equihome.server.websocket import MAX_OUTBOX_BYTES

SLOW_CLIENT_LOG = "closing a WebSocket client that does not read"  # websocket.send_text


@pytest.fixture
def srv(server):
    """The shared real server; after the test its log must show no uncaught exception."""
    yield server
    assert_no_tracebacks(server)


async def to_thread(fn, *args, **kwargs):
    """Run a blocking REST call off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def marker(ws, streams: dict[str, list[dict]] | None = None, timeout: float = 30.0) -> None:
    """Send a command that is answered by an error and read up to that answer.

    Commands are handled in order and their answers queued in order, so once the marker's
    answer arrives every earlier command has been processed. Messages for subscribed
    simulations that arrive meanwhile are appended to ``streams``.
    """
    mark = str(uuid.uuid4())
    await send(ws, "cancel", mark)  # not a subscribe: does not count against the limit
    while True:
        msg = await recv(ws, timeout)
        if msg["simulation_id"] == mark:
            assert msg["type"] == "error" and msg["error"] == "unknown simulation", msg
            return
        assert streams is not None and msg["simulation_id"] in streams, msg
        streams[msg["simulation_id"]].append(msg)


# --------------------------------------------------------------------------- 1. full life


def test_full_life_seen_by_early_mid_and_late_subscribers(srv):
    """A subscribes while the run is queued, B mid-run, C after the end: same history and result."""
    blockers = [create(srv, n=20000)["id"] for _ in range(2)]  # occupy both workers
    sim = create(srv, n=3000, seed=1234, name="three subscribers")["id"]

    async def body():
        async with connect(srv) as a:
            await send(a, "subscribe", sim)
            await marker(a)
            assert (await to_thread(get_record, srv, sim))["status"] == "queued"
            for b_id in blockers:
                status, _ = await to_thread(srv.request, "POST", f"/simulations/{b_id}/cancel")
                assert status == 202
            streams: dict[str, list[dict]] = {sim: []}
            while not any(m["type"] == "progress" and m["progress"] >= 20 for m in streams[sim]):
                msg = await recv(a)
                assert msg["simulation_id"] == sim and msg["type"] != "result", msg
                streams[sim].append(msg)
            rec = await to_thread(get_record, srv, sim)
            assert rec["status"] == "running" and 20 <= rec["progress"] < 100, rec
            assert rec["started_at"] is not None and rec["finished_at"] is None
            async with connect(srv) as b:
                await send(b, "subscribe", sim)
                a_streams, b_streams = await asyncio.gather(collect(a, sim, streams=streams),
                                                            collect(b, sim))
        c_stream = await subscribe_and_collect(srv, sim)
        return a_streams[sim], b_streams[sim], c_stream

    a_msgs, b_msgs, c_msgs = run(body(), 90)
    a, b, c = (check_stream(m, sim) for m in (a_msgs, b_msgs, c_msgs))
    # A saw the run from its start, B joined mid-run, C got the replay of a finished run
    assert a["progress"][0] < 20 and len(a["progress"]) >= 5
    assert 20 <= b["progress"][0] < 100 and len(b["progress"]) >= 2
    assert c["progress"] == [100.0]
    assert a["violations"] == b["violations"] == c["violations"]
    assert a["violations"], "the 100m preset at 3000 scenarios violates guardrails"
    assert a["tranches"] == b["tranches"] == c["tranches"]
    assert a["result"] == b["result"] == c["result"] == get_result(srv, sim)
    result = a["result"]
    assert result["num_simulations"] == 3000 and result["seed"] == 1234
    assert result["guardrails"] == a["violations"]
    assert result["tranches"] == a["tranches"]
    assert a["execution_time"] == b["execution_time"] == c["execution_time"] > 0
    rec = get_record(srv, sim)
    assert rec["status"] == "completed" and rec["progress"] == 100.0 and rec["error"] is None
    assert rec["name"] == "three subscribers"
    assert rec["created_at"] <= rec["started_at"] <= rec["finished_at"]
    assert rec["execution_time"] == pytest.approx(a["execution_time"], abs=1e-5)
    for b_id in blockers:
        assert get_record(srv, b_id)["status"] == "cancelled"


def test_record_is_complete_as_soon_as_the_result_is_sent(srv):
    """Once a subscriber has the result, GET and the list show the same completed record."""

    async def body():
        async with connect(srv) as ws:
            for _ in range(15):
                sim = (await to_thread(create, srv, n=50))["id"]
                await send(ws, "subscribe", sim)
                stream = (await collect(ws, sim))[sim]
                status, page = await to_thread(srv.request, "GET",
                                               "/simulations?status=completed&limit=1")
                assert status == 200 and [i["id"] for i in page["items"]] == [sim], page
                rec = await to_thread(get_record, srv, sim)
                assert rec["status"] == "completed", rec
                assert rec["finished_at"] is not None and rec["progress"] == 100.0, rec
                assert rec["execution_time"] == stream[-1]["execution_time"], rec
                assert page["items"][0] == rec

    run(body())


# --------------------------------------------------------------------------- commands


def test_ws_cancel_and_unsubscribe_commands(srv):
    """The spec's cancel command stops a running run; unsubscribe stops its messages."""
    long_run = create(srv, n=20000)["id"]
    other = create(srv, n=2000)["id"]

    async def body():
        async with connect(srv) as ws:
            await send(ws, "subscribe", long_run)
            await send(ws, "subscribe", other)
            streams = {long_run: [], other: []}
            while not any(m["type"] == "progress" for m in streams[long_run]):
                msg = await recv(ws)
                streams[msg["simulation_id"]].append(msg)
            await send(ws, "unsubscribe", other)
            await marker(ws, streams)
            seen_other = len(streams[other])
            await send(ws, "cancel", long_run)
            await collect(ws, long_run, streams=streams)
            end = streams[long_run][-1]
            assert end["type"] == "error" and end["error"] == "cancelled", end
            assert "result" not in [m["type"] for m in streams[long_run]]
            rec = await to_thread(wait_status, srv, long_run, "cancelled")
            assert rec["error"] == "cancelled" and rec["finished_at"] is not None
            # the unsubscribed run finishes without sending anything more on this connection
            await to_thread(wait_status, srv, other, "completed")
            await send(ws, "cancel", long_run)  # already finished: an error, connection open
            msg = await recv(ws)
            assert msg["type"] == "error" and msg["simulation_id"] == long_run
            assert "cancelled" in msg["error"]
            await marker(ws, {})
            assert len(streams[other]) == seen_other
        # subscribing again replays the finished run
        check_stream(await subscribe_and_collect(srv, other), other)

    run(body())
    status, body_ = srv.request("GET", f"/simulations/{long_run}/result")
    assert status == 409, body_


def test_limits_of_runs_per_key_and_subscriptions_per_connection(srv):
    """A key may have 100 queued or running runs (then 429); a connection 100 live
    subscriptions. A finished run's replay takes no slot, and a repeated subscribe to an id
    the connection already follows or has replayed is a no-op (no second replay)."""
    done = [create(srv, n=50, seed=s)["id"] for s in (1, 2)]
    for sim in done:
        wait_status(srv, sim, "completed")
    blockers = [create(srv, n=20000)["id"] for _ in range(2)]
    queued = [create(srv, n=50)["id"] for _ in range(98)]
    status, body = srv.request("POST", "/simulations", {"preset": "100m"})
    assert status == 429, body
    assert body["error"]["code"] == "too_many_requests" and "100" in body["error"]["message"]
    other_key = create(srv, n=50, key=KEY_B)["id"]  # the limit is per key
    assert srv.request("GET", "/health", key=None)[1]["queued"] == 99
    live = blockers + queued  # 100 runs of this key, none finished

    async def body_():
        async with connect(srv) as ws:
            streams: dict[str, list[dict]] = {sim: [] for sim in live + done}
            for sim in live:
                await send(ws, "subscribe", sim)
            await marker(ws, streams)
            await send(ws, "subscribe", done[0])  # a 101st subscription: refused
            msg = await recv(ws)
            while msg["simulation_id"] in blockers:
                msg = await recv(ws)
            assert msg["type"] == "error" and msg["simulation_id"] == done[0], msg
            assert "100 subscriptions" in msg["error"]
            await send(ws, "unsubscribe", queued[-1])
            await send(ws, "subscribe", done[0])     # replayed, and its slot freed again
            await send(ws, "subscribe", done[0])     # a no-op
            await send(ws, "subscribe", done[0].upper())  # the same id: a no-op too
            await send(ws, "subscribe", done[1])     # fits: the replay took no slot
            await send(ws, "subscribe", queued[0])   # already held: a no-op
            await marker(ws, streams)
            status, _ = await asyncio.to_thread(srv.request, "POST",
                                                f"/simulations/{queued[0]}/cancel")
            assert status == 202
            msg = await recv(ws)  # queued: cancelled at once, told to subscribers
            while msg["simulation_id"] in blockers:  # the running ones' progress
                msg = await recv(ws)
            assert msg["type"] == "error" and msg["error"] == "cancelled", msg
            assert msg["simulation_id"] == queued[0]
            return streams

    streams = run(body_())
    assert check_stream(streams[done[0]], done[0])["result"]["seed"] == 1  # replayed once
    assert check_stream(streams[done[1]], done[1])["result"]["seed"] == 2
    assert all(len(streams[sim]) <= 1 for sim in queued)  # at most a progress, never twice
    for sim in queued[1:] + blockers:
        assert srv.request("POST", f"/simulations/{sim}/cancel")[0] == 202
    assert wait_status(srv, other_key, "completed", key=KEY_B)["status"] == "completed"
    assert_serving(srv)


# --------------------------------------------------------------------------- 3./4. ownership, auth


def test_ws_foreign_simulation_does_not_exist(srv):
    """KEY_B cannot subscribe to or cancel KEY_A's simulation: 'unknown simulation'."""
    sim = create(srv, n=20000)["id"]

    async def body():
        async with connect(srv, KEY_B) as ws:
            for action in ("subscribe", "cancel"):
                await send(ws, action, sim)
                msg = await recv(ws)
                assert msg == {**msg, "type": "error", "simulation_id": sim,
                               "error": "unknown simulation"}
            await marker(ws)  # nothing of A's run was sent to B
        assert (await to_thread(get_record, srv, sim))["status"] in ("queued", "running")
        async with connect(srv, KEY_A) as ws:
            await send(ws, "cancel", sim)
            await send(ws, "subscribe", sim)
            stream = (await collect(ws, sim))[sim]
            assert stream[-1]["type"] == "error" and stream[-1]["error"] == "cancelled"

    run(body())


@pytest.mark.parametrize("key", [None, "", "wrong-key", KEY_A + "x"])
def test_ws_bad_key_refused_at_handshake(srv, key):
    """A missing or wrong key: the handshake is answered 401 with a JSON error, no upgrade."""

    async def body():
        for path in ("/ws", f"/ws/simulations/{uuid.uuid4()}"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                async with connect(srv, key, path):
                    pass
            response = info.value.response
            assert response.status_code == 401
            err = strict_loads(bytes(response.body))["error"]
            assert err["code"] == "unauthorized" and err["message"]

    run(body())


# --------------------------------------------------------------------------- 5. bad commands


def test_ws_bad_commands_answered_and_connection_stays_open(srv):
    """Each invalid command gets an `error` naming the given id (or null); then 1009 for 64 KiB+."""
    sim = create(srv, n=50)["id"]
    wait_status(srv, sim, "completed")
    unknown = str(uuid.uuid4())
    cases = [
        ("{", None, "malformed JSON"),
        ("not json at all", None, "malformed JSON"),
        ("[" * 10_000, None, "malformed JSON"),  # deeper than the JSON parser's recursion limit
        ("[1, 2]", None, "JSON object"),
        ('"subscribe"', None, "JSON object"),
        ("NaN", None, "JSON object"),
        (json.dumps({"action": "explode", "simulation_id": sim}), sim, "unknown action"),
        (json.dumps({"simulation_id": sim}), sim, "unknown action"),
        (json.dumps({"action": "subscribe"}), None, "missing simulation_id"),
        (json.dumps({"action": "subscribe", "simulation_id": None}), None, "missing simulation_id"),
        (json.dumps({"action": "subscribe", "simulation_id": "not-a-uuid"}), "not-a-uuid", "UUID"),
        (json.dumps({"action": "cancel", "simulation_id": 12345}), None, "UUID"),
        (json.dumps({"action": "unsubscribe", "simulation_id": sim[:-1]}), sim[:-1], "UUID"),
        (json.dumps({"action": "subscribe", "simulation_id": unknown}), unknown,
         "unknown simulation"),
        (json.dumps({"action": "cancel", "simulation_id": unknown}), unknown,
         "unknown simulation"),
    ]

    async def body():
        async with connect(srv) as ws:
            for text, given, expected in cases:
                await ws.send(text)
                msg = await recv(ws)
                assert msg["type"] == "error", (text[:40], msg)
                assert msg["simulation_id"] == given, (text[:40], msg)
                assert expected in msg["error"], (text[:40], msg)
            await send(ws, "subscribe", sim)  # still open: a valid subscribe gets the replay
            check_stream((await collect(ws, sim))[sim], sim)
            await ws.send(b"\x00\x01 binary")  # not text: malformed
            assert (await recv(ws))["error"] == "malformed JSON"
        async with connect(srv) as ws:
            await ws.send("x" * (64 * 1024 + 1))
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1009
        async with connect(srv) as ws:  # exactly 64 KiB is allowed
            await ws.send(json.dumps({"action": "subscribe", "simulation_id": sim,
                                      "pad": "x" * (64 * 1024 - 100)}))
            check_stream((await collect(ws, sim))[sim], sim)

    run(body())
    assert_serving(srv)


# --------------------------------------------------------------------------- 6. bad clients


def test_client_disconnecting_mid_run_does_not_stop_it(srv):
    """The run of a subscriber that goes away completes and its result is stored."""
    sim = create(srv, n=2000, seed=5)["id"]

    async def body():
        async with connect(srv) as ws:
            await send(ws, "subscribe", sim)
            while True:
                msg = await recv(ws)
                assert msg["type"] != "result", "the run ended before the client left"
                if msg["type"] == "progress" and msg["progress"] >= 20:
                    break
        # a second client that drops its TCP connection without a close handshake
        async with connect(srv) as ws:
            await send(ws, "subscribe", sim)
            await recv(ws)
            ws.transport.abort()

    run(body())
    rec = wait_status(srv, sim, ("completed", "failed", "cancelled"))
    assert rec["status"] == "completed", rec
    result = get_result(srv, sim)
    assert result["num_simulations"] == 2000 and result["seed"] == 5


def test_client_that_never_reads_is_closed_and_blocks_nobody(srv):
    """A client that stops reading while runs stream is closed with 1013; others are unaffected.

    The stalled client has a tiny receive buffer and asks for the full replay of a finished
    run (about 60 KB each) hundreds of times, so the server's per-client queue (bounded by bytes) must
    overflow. Meanwhile a normal client follows two live runs to their results and /health,
    polled throughout, answers every request.
    """
    done = create(srv, n=50)["id"]
    wait_status(srv, done, "completed")
    replay = run(subscribe_and_collect(srv, done))
    replay_bytes = sum(len(json.dumps(m)) for m in replay)
    # enough replays to overflow the server's queue even after the kernel's socket buffers
    # (a few MiB on loopback) have taken what they can
    subscribes = (MAX_OUTBOX_BYTES + 8 * 2**20) // replay_bytes + 50
    live = [create(srv, n=2000, seed=s)["id"] for s in (1, 2)]
    answers: list[int] = []  # the status of every /health request

    async def health_until(stop: asyncio.Event) -> None:
        while not stop.is_set():
            status, _ = await to_thread(srv.request, "GET", "/health", None, None)
            answers.append(status)
            try:
                await asyncio.wait_for(stop.wait(), 0.05)
            except asyncio.TimeoutError:
                pass

    async def body():
        stop = asyncio.Event()
        poller = asyncio.create_task(health_until(stop))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        sock.setblocking(False)
        async with connect(srv) as normal, connect(srv, sock=sock, max_queue=1,
                                                   ping_interval=None) as stalled:
            for sim in live:
                await send(normal, "subscribe", sim)
                await send(stalled, "subscribe", sim)
            for _ in range(subscribes):  # a repeated subscribe is a no-op: unsubscribe between
                await send(stalled, "subscribe", done)
                await send(stalled, "unsubscribe", done)
            await to_thread(wait_until, lambda: any(SLOW_CLIENT_LOG in line
                                                    for line in list(srv.output)),
                            30, "the server to close the client that does not read")
            # drain what the server had already handed to the kernel, then the close frame
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                while True:
                    await asyncio.wait_for(stalled.recv(), 4)
            assert stalled.close_code == 1013, stalled.close_code
            streams = await collect(normal, live, timeout=60)
        stop.set()
        await poller
        return streams

    streams = run(body(), 90)
    results = [check_stream(streams[sim], sim)["result"] for sim in live]
    assert [r["seed"] for r in results] == [1, 2]
    assert answers and set(answers) == {200}, answers  # the server answered every request
    check_stream(run(subscribe_and_collect(srv, done)), done)
    assert_serving(srv)


# --------------------------------------------------------------------------- 8. load


def test_fifty_clients_twenty_simulations_under_load(srv):
    """50 clients each follow 20 runs live; every stream is complete and ordered; /health,
    polled throughout, answers every request."""
    blockers = [create(srv, n=20000)["id"] for _ in range(2)]
    sims = [create(srv, n=50, seed=100 + i)["id"] for i in range(20)]
    answers: list[int | str] = []  # the status (or the error) of every /health request
    stop = threading.Event()

    def poll_health() -> None:
        while not stop.is_set():
            try:
                status, _ = srv.request("GET", "/health", key=None)
            except OSError as exc:  # recorded as a failure below
                status = repr(exc)
            answers.append(status)
            stop.wait(0.05)

    async def client(ready: asyncio.Event, counter: list[int]) -> dict[str, list[dict]]:
        async with connect(srv) as ws:
            streams = {sim: [] for sim in sims}
            for sim in sims:
                await send(ws, "subscribe", sim)
            await marker(ws, streams)
            counter[0] += 1
            if counter[0] == 50:
                ready.set()
            return await collect(ws, sims, timeout=60, streams=streams)

    async def body():
        ready, counter = asyncio.Event(), [0]
        tasks = [asyncio.create_task(client(ready, counter)) for _ in range(50)]
        await asyncio.wait_for(ready.wait(), 30)
        for b_id in blockers:  # every subscription is in place: let the 20 runs go
            status, _ = await to_thread(srv.request, "POST", f"/simulations/{b_id}/cancel")
            assert status == 202
        return await asyncio.gather(*tasks)

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    try:
        all_streams = run(body(), 90)
    finally:
        stop.set()
        poller.join(5)
    expected = {sim: get_result(srv, sim) for sim in sims}
    for streams in all_streams:
        assert set(streams) == set(sims)
        for sim in sims:
            checked = check_stream(streams[sim], sim)
            assert checked["result"] == expected[sim]
            assert checked["progress"][0] < 100  # followed live from the start
    assert len({json.dumps(expected[s]["metrics"], sort_keys=True) for s in sims}) == 20
    assert answers and set(answers) == {200}, answers  # the server answered every request


# --------------------------------------------------------------------------- 9. compatibility


def test_compat_routes_of_the_earlier_client(srv):
    """POST /simulations/ with {config} at the root; /ws/simulations/{id} streams without subscribe."""
    config = {"fund_size": 100000000, "fund_term": 10, "vintage_year": 2023,
              "num_simulations": 200, "monte_carlo_seed": 11}
    status, rec = srv.request("POST", f"{srv.base}/simulations/", {"config": config})
    assert status == 201, rec
    sim = rec["simulation_id"]
    assert rec["status"] == "queued" and rec["id"] == sim
    assert rec["config"] == equihome.load_config(config).to_dict()

    async def body():
        async with connect(srv, path=f"/ws/simulations/{sim}") as ws:
            stream = (await collect(ws, sim))[sim]
        async with connect(srv, KEY_B, path=f"/ws/simulations/{sim}") as ws:
            foreign = await recv(ws)
        async with connect(srv, path=f"/ws/simulations/{sim}") as ws:  # after the end: replay
            replay = (await collect(ws, sim))[sim]
        return stream, foreign, replay

    stream, foreign, replay = run(body())
    result = check_stream(stream, sim)["result"]
    assert check_stream(replay, sim)["result"] == result
    assert foreign["type"] == "error" and foreign["error"] == "unknown simulation"
    assert foreign["simulation_id"] == sim
    status, root_rec = srv.request("GET", f"{srv.base}/simulations/{sim}")
    assert status == 200 and root_rec["status"] == "completed"
    status, root_result = srv.request("GET", f"{srv.base}/simulations/{sim}/result")
    assert status == 200 and root_result == result == get_result(srv, sim)
    assert result["seed"] == 11 and result["num_simulations"] == 200


def test_every_message_passes_the_envelope_check():
    """The envelope check itself rejects what the wire must never carry."""
    good = {"type": "progress", "simulation_id": "x", "timestamp": "2026-01-02T03:04:05.678Z",
            "progress": 50, "module": "fee_engine", "message": "Computing fees"}
    check_envelope(good)
    for bad in ({**good, "timestamp": "2026-01-02 03:04:05"}, {**good, "type": "ack"},
                {k: v for k, v in good.items() if k != "simulation_id"},
                {**good, "progress": 101}):
        with pytest.raises(AssertionError):
            check_envelope(bad)
    with pytest.raises(AssertionError):
        strict_loads('{"progress": NaN}')
