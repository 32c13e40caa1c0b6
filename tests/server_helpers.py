"""Helpers shared by the server tests: strict JSON, REST shortcuts, WebSocket clients, stream checks.

Every wait here has a deadline and fails when it passes; the only polling is waiting.wait_until.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

import websockets
from server_util import KEY_A, ServerProcess
from waiting import wait_until

from equihome import STAGES

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UPDATE_TYPES = ("progress", "module_started", "module_completed", "intermediate_result", "result",
                "error", "guardrail_violation")
RECORD_FIELDS = {"id", "simulation_id", "name", "status", "progress", "created_at", "started_at",
                 "finished_at", "execution_time", "error", "config"}
FINISHED = ("completed", "failed", "cancelled")


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON, failing on NaN, Infinity and -Infinity (the wire carries finite numbers only)."""

    def reject(name: str) -> None:
        raise AssertionError(f"non-finite JSON constant {name} in {str(text)[:200]}")

    return json.loads(text, parse_constant=reject)


def is_number(value: Any) -> bool:
    """True for a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def as_json(value: Any) -> Any:
    """``value`` after a JSON round trip (tuples become lists, numpy scalars plain numbers)."""
    return strict_loads(json.dumps(value, allow_nan=False))


# --------------------------------------------------------------------------- REST


def create(server: ServerProcess, n: int = 50, seed: int | None = 7, key: str | None = KEY_A,
           name: str | None = None, **overrides: Any) -> dict:
    """POST a ``100m`` preset simulation with ``num_simulations=n`` (seed None: seedless) -> record.

    overrides: further config overrides; name: the record's name (omitted when None).
    """
    body: dict[str, Any] = {
        "preset": "100m",
        "overrides": {"num_simulations": n, "monte_carlo_seed": seed, **overrides}}
    if name is not None:
        body["name"] = name
    status, rec = server.request("POST", "/simulations", body, key=key)
    assert status == 201, rec
    return rec


def get_record(server: ServerProcess, sim_id: str, key: str | None = KEY_A) -> dict:
    """GET /simulations/{id}, which must answer 200."""
    status, rec = server.request("GET", f"/simulations/{sim_id}", key=key)
    assert status == 200, rec
    return rec


def wait_status(server: ServerProcess, sim_id: str, statuses: tuple[str, ...] | str,
                timeout: float = 60.0, key: str | None = KEY_A) -> dict:
    """The record once its status is one of ``statuses`` (AssertionError after ``timeout`` s)."""
    wanted = (statuses,) if isinstance(statuses, str) else statuses
    last: list[dict] = []

    def reached() -> dict | None:
        last[:] = [get_record(server, sim_id, key)]
        return last[0] if last[0]["status"] in wanted else None

    return wait_until(reached, timeout, lambda: f"simulation {sim_id} to be one of {wanted} "
                      f"(still {last[0]['status'] if last else 'unknown'})")


def get_result(server: ServerProcess, sim_id: str, key: str | None = KEY_A) -> dict:
    """GET /simulations/{id}/result, which must answer 200."""
    status, result = server.request("GET", f"/simulations/{sim_id}/result", key=key)
    assert status == 200, result
    return result


def assert_error_body(body: Any, code: str | None = None) -> dict:
    """A REST error answer: ``{"error": {"code", "message", "details"}}``; returns the inner dict."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert {"code", "message", "details"} <= set(err), err
    assert isinstance(err["code"], str) and isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err


def assert_serving(server: ServerProcess) -> None:
    """The server still answers /health and accepts and completes a normal simulation."""
    status, health = server.request("GET", "/health", key=None)
    assert status == 200 and health["status"] == "ok", health
    rec = create(server, n=50)
    assert wait_status(server, rec["id"], FINISHED)["status"] == "completed"


def assert_no_tracebacks(server: ServerProcess) -> None:
    """The server's log shows no uncaught exception."""
    text = "".join(server.output)
    assert "Traceback" not in text, text[-4000:]


# --------------------------------------------------------------------------- WebSocket


def run(coro, timeout: float = 60.0) -> Any:
    """Run an async test body to completion with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(server: ServerProcess, key: str | None = KEY_A, path: str = "/ws", **kwargs: Any):
    """A ``websockets`` client connection to the server (use with ``async with``)."""
    kwargs.setdefault("open_timeout", 10)
    kwargs.setdefault("max_size", 2**24)
    # websockets stops reading once max_queue messages wait unread (16 by default); a test that
    # leaves its `async with` with more pending then never reads the server's close frame and
    # waits out close_timeout (10 s): a run it meant to catch mid-way finishes meanwhile
    kwargs.setdefault("max_queue", 4096)
    return websockets.connect(server.ws_url(key, path), **kwargs)


def check_envelope(msg: Any) -> dict:
    """Assert the fields every server -> client update has, and the spec's fields of its type."""
    assert isinstance(msg, dict), msg
    assert msg.get("type") in UPDATE_TYPES, msg
    assert "simulation_id" in msg, msg
    assert isinstance(msg.get("timestamp"), str) and TIMESTAMP.match(msg["timestamp"]), msg
    kind = msg["type"]
    if kind == "progress":
        assert is_number(msg["progress"]) and 0 <= msg["progress"] <= 100, msg
        assert msg["module"] in STAGES and isinstance(msg["message"], str) and msg["message"], msg
    elif kind == "module_started":
        assert msg["module"] in STAGES, msg
    elif kind == "module_completed":
        assert msg["module"] in STAGES, msg
        assert is_number(msg["execution_time"]) and msg["execution_time"] >= 0, msg
    elif kind == "intermediate_result":
        assert msg["module"] in STAGES and isinstance(msg["data"], dict), msg
    elif kind == "result":
        assert isinstance(msg["result"], dict) and is_number(msg["execution_time"]), msg
    elif kind == "error":
        assert isinstance(msg["error"], str) and msg["error"], msg
    else:
        v = msg["violation"]
        assert isinstance(v, dict) and {"rule", "severity", "message", "details"} <= set(v), msg
    return msg


async def recv(ws, timeout: float = 30.0) -> dict:
    """The next message, strictly parsed and envelope-checked."""
    text = await asyncio.wait_for(ws.recv(), timeout)
    return check_envelope(strict_loads(text))


async def send(ws, action: str, sim_id: Any) -> None:
    """Send a client command."""
    await ws.send(json.dumps({"action": action, "simulation_id": sim_id}))


def is_final(msg: dict) -> bool:
    """A message that ends a simulation's stream: its result or its error."""
    return msg["type"] in ("result", "error")


async def collect(ws, sim_ids, timeout: float = 60.0,
                  streams: dict[str, list[dict]] | None = None) -> dict[str, list[dict]]:
    """Read until every simulation in ``sim_ids`` has sent its result or error.

    streams: messages already received (extended in place). Returns simulation id -> messages.
    """
    ids = {sim_ids} if isinstance(sim_ids, str) else set(sim_ids)
    streams = streams if streams is not None else {}
    for sim_id in ids:
        streams.setdefault(sim_id, [])
    pending = {s for s in ids if not (streams[s] and is_final(streams[s][-1]))}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending:
        try:
            msg = await recv(ws, max(0.01, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise AssertionError(f"no result or error within {timeout} s from {sorted(pending)}: "
                                 f"{ {s: [m['type'] for m in streams[s]][-5:] for s in pending} }"
                                 ) from None
        sim_id = msg["simulation_id"]
        assert sim_id in streams, f"message for a simulation not subscribed: {msg}"
        assert not (streams[sim_id] and is_final(streams[sim_id][-1])), f"after the end: {msg}"
        streams[sim_id].append(msg)
        if is_final(msg):
            pending.discard(sim_id)
    return streams


async def subscribe_and_collect(server: ServerProcess, sim_id: str, key: str = KEY_A,
                                timeout: float = 60.0) -> list[dict]:
    """A new connection that subscribes to one simulation and reads its stream to the end."""
    async with connect(server, key) as ws:
        await send(ws, "subscribe", sim_id)
        return (await collect(ws, sim_id, timeout))[sim_id]


def check_stream(msgs: list[dict], sim_id: str) -> dict:
    """The per-simulation rules of a completed run's stream (live, replayed or both).

    Progress never decreases and its last value is exactly 100, before the result; every
    stage has one module_started and one module_completed, started first, in the order of
    STAGES; one waterfall intermediate_result with ``data.tranches``; the result comes last.
    Returns the result, the violations, the tranches and the progress values.
    """
    assert msgs, "no messages"
    assert all(m["simulation_id"] == sim_id for m in msgs)
    kinds = [m["type"] for m in msgs]
    assert "error" not in kinds, [m for m in msgs if m["type"] == "error"]
    assert kinds.count("result") == 1 and kinds[-1] == "result", kinds
    progress_at = [i for i, k in enumerate(kinds) if k == "progress"]
    progress = [msgs[i]["progress"] for i in progress_at]
    assert progress, kinds
    assert all(a <= b for a, b in zip(progress, progress[1:], strict=False)), progress
    assert progress[-1] == 100.0 and progress_at[-1] < len(msgs) - 1, progress
    started = [(i, m["module"]) for i, m in enumerate(msgs) if m["type"] == "module_started"]
    completed = [(i, m["module"]) for i, m in enumerate(msgs) if m["type"] == "module_completed"]
    assert [m for _, m in started] == list(STAGES), started
    assert [m for _, m in completed] == list(STAGES), completed
    for (i_start, name), (i_done, _) in zip(started, completed, strict=True):
        assert i_start < i_done, f"{name} completed before it started"
    waterfall = [m for m in msgs if m["type"] == "intermediate_result"
                 and m["module"] == "waterfall_engine"]
    assert len(waterfall) == 1, waterfall
    tranches = waterfall[0]["data"]["tranches"]
    assert isinstance(tranches, list) and tranches, waterfall
    for t in tranches:
        assert isinstance(t["name"], str) and t["name"], t
        assert t["return"] is None or is_number(t["return"]), t
        assert t["multiple"] is None or is_number(t["multiple"]), t
    violations = [m["violation"] for m in msgs if m["type"] == "guardrail_violation"]
    final = msgs[-1]
    assert final["execution_time"] >= 0
    return {"result": final["result"], "violations": violations, "tranches": tranches,
            "progress": progress, "execution_time": final["execution_time"]}
