"""Benchmark of the standalone server (``equihome serve``), printed as one readable report.

    python benchmarks/bench_server.py [--simulations 1000] [--rounds 5] [--subscribers 200]

Starts a real server in a subprocess (a free port, a temporary database, two workers) and
measures, in one run:

* event-loop latency: round trip of ``GET /api/health`` polled every 20 ms on one keep-alive
  connection, idle and while 2 simulations of ``--simulations`` scenarios (preset 100m) run
  at once (``--rounds`` times, back to back, for enough samples); p50 / p99 / max;
* WebSocket fan-out: ``--subscribers`` clients subscribe to one run; messages delivered per
  second across all of them (first message received to last result received) and whether
  every subscriber got the result;
* time from ``POST /api/simulations`` to the first ``progress`` message on a subscriber that
  subscribes as soon as the POST answers (``--first-progress`` runs; median and max).

The clients run in this process, on the same 2 cores as the server, so the numbers include
client cost. Timings are noisy on a shared machine; nothing here is asserted. Every wait is
bounded, and the whole run takes well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from equihome.server.launcher import ServerProcess  # noqa: E402

KEY = "bench-key-0123456789abcdef"
STEP_TIMEOUT = 60.0  # s: the longest any one wait may take


# --------------------------------------------------------------------------- the server


class Server(ServerProcess):
    """``equihome serve`` (the shared launcher) with a temporary database and one key."""

    def __init__(self, workers: int):
        self.tmp = tempfile.TemporaryDirectory(prefix="equihome-bench-")
        super().__init__(db=Path(self.tmp.name) / "bench.db", keys=(KEY,), workers=workers)
        try:
            self.start()
        except BaseException:
            self.tmp.cleanup()
            raise

    @property
    def ws(self) -> str:
        return self.ws_url()

    def create(self, simulations: int) -> str:
        status, rec = self.request("POST", "/simulations", {
            "preset": "100m", "overrides": {"num_simulations": simulations}})
        if status != 201:
            raise RuntimeError(f"POST /simulations: {status} {rec}")
        return rec["id"]

    def stop(self, *args, **kwargs) -> int:
        code = super().stop(*args, **kwargs)
        self.tmp.cleanup()
        return code


# --------------------------------------------------------------------------- measurements


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class HealthPoller(threading.Thread):
    """GET /api/health every 20 ms on one keep-alive connection; round trips in ms."""

    def __init__(self, port: int, interval: float = 0.020):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.samples: list[float] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        next_at = time.perf_counter()
        while not self.stopped.is_set():
            t0 = time.perf_counter()
            conn.request("GET", "/api/health")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, resp.status
            self.samples.append(1000 * (time.perf_counter() - t0))
            next_at += self.interval
            self.stopped.wait(max(0.0, next_at - time.perf_counter()))
        conn.close()


def poll_latency(port: int, seconds: float) -> list[float]:
    poller = HealthPoller(port)
    poller.start()
    time.sleep(seconds)
    poller.stopped.set()
    poller.join(10)
    return poller.samples


async def wait_results(ws, ids: set[str]) -> None:
    """Receive on ``ws`` until every simulation in ``ids`` has sent its result."""
    pending = set(ids)
    while pending:
        msg = json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))
        if msg["type"] in ("result", "error") and msg.get("simulation_id") in pending:
            if msg["type"] == "error":
                raise RuntimeError(f"simulation failed: {msg}")
            pending.discard(msg["simulation_id"])


async def latency_under_load(srv: Server, simulations: int, rounds: int) -> tuple[list, list, float]:
    """(idle samples, samples during the runs, seconds of runs)."""
    idle = await asyncio.to_thread(poll_latency, srv.port, 1.0)
    poller = HealthPoller(srv.port)
    async with connect(srv.ws, max_size=None) as ws:
        poller.start()
        t0 = time.perf_counter()
        for _ in range(rounds):
            ids = [await asyncio.to_thread(srv.create, simulations) for _ in range(2)]
            for sim_id in ids:
                await ws.send(json.dumps({"action": "subscribe", "simulation_id": sim_id}))
            await wait_results(ws, set(ids))
        busy = time.perf_counter() - t0
        poller.stopped.set()
    await asyncio.to_thread(poller.join, 10)
    return idle, poller.samples, busy


async def fan_out(srv: Server, subscribers: int, simulations: int) -> dict:
    """Messages per second delivered to ``subscribers`` clients of one run."""
    clients = await asyncio.gather(*(connect(srv.ws, max_size=None) for _ in range(subscribers)))
    counts = [0] * subscribers
    got_result = [False] * subscribers
    first: list[float] = []
    last: list[float] = []
    result_bytes = [0]

    async def listen(i: int, ws, sim_id: str) -> None:
        while True:
            raw = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
            msg = json.loads(raw)
            if msg.get("simulation_id") != sim_id:
                continue
            counts[i] += 1
            if counts[i] == 1:
                first.append(time.perf_counter())
            if msg["type"] in ("result", "error"):
                got_result[i] = msg["type"] == "result"
                last.append(time.perf_counter())
                result_bytes[0] = len(raw)
                return

    try:
        sim_id = await asyncio.to_thread(srv.create, simulations)
        sub = json.dumps({"action": "subscribe", "simulation_id": sim_id})
        await asyncio.gather(*(ws.send(sub) for ws in clients))
        await asyncio.gather(*(listen(i, ws, sim_id) for i, ws in enumerate(clients)))
    finally:
        await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
    span = max(last) - min(first)
    return {"total": sum(counts), "min": min(counts), "max": max(counts), "span": span,
            "rate": sum(counts) / span if span > 0 else float("inf"),
            "result_spread": max(last) - min(last), "result_kib": result_bytes[0] / 1024,
            "all_results": all(got_result), "results": sum(got_result)}


async def first_progress(srv: Server, runs: int, simulations: int) -> tuple[list, list]:
    """(POST round trips, POST sent -> first progress received), in ms."""
    posts, firsts = [], []
    async with connect(srv.ws, max_size=None) as ws:
        for _ in range(runs):
            t0 = time.perf_counter()
            sim_id = await asyncio.to_thread(srv.create, simulations)
            posts.append(1000 * (time.perf_counter() - t0))
            await ws.send(json.dumps({"action": "subscribe", "simulation_id": sim_id}))
            seen_progress = False
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))
                if msg.get("simulation_id") != sim_id:
                    continue
                if msg["type"] == "progress" and not seen_progress:
                    seen_progress = True
                    firsts.append(1000 * (time.perf_counter() - t0))
                if msg["type"] in ("result", "error"):  # next run starts on an idle server
                    break
    return posts, firsts


# --------------------------------------------------------------------------- report


def ms(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"p50 {pct(values, 50):7.2f} ms   p99 {pct(values, 99):7.2f} ms   "
            f"max {max(values):7.2f} ms   (n={len(values)})")


async def main_async(args: argparse.Namespace, srv: Server) -> list[str]:
    t_all = time.perf_counter()
    idle, busy, busy_s = await latency_under_load(srv, args.simulations, args.rounds)
    fan = await fan_out(srv, args.subscribers, args.fanout_simulations)
    posts, firsts = await first_progress(srv, args.first_progress, args.simulations)
    n = args.simulations
    return [
        "=" * 78,
        "equihome server benchmark (real `equihome serve`, clients in this process)",
        f"  machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"server --workers {args.workers}",
        "",
        "event-loop latency: GET /api/health every 20 ms",
        f"  idle (1 s)                        {ms(idle)}",
        f"  2 x {n:,}-scenario runs at once   {ms(busy)}",
        f"    ({args.rounds} rounds of 2 concurrent runs, {busy_s:.1f} s in all)",
        "",
        f"fan-out: {args.subscribers} WebSocket subscribers of one "
        f"{args.fanout_simulations:,}-scenario run",
        f"  messages delivered                {fan['total']:,} "
        f"({fan['min']}-{fan['max']} per subscriber) in {fan['span']:.2f} s",
        f"  delivery rate                     {fan['rate']:,.0f} messages/s across subscribers",
        f"  result to all subscribers         {1000 * fan['result_spread']:,.0f} ms from first to "
        f"last ({fan['result_kib']:,.0f} KiB each)",
        f"  every subscriber got the result   {'yes' if fan['all_results'] else 'NO'} "
        f"({fan['results']}/{args.subscribers})",
        "",
        f"create -> first progress ({args.first_progress} runs of {n:,} scenarios, one at a time)",
        f"  POST /api/simulations round trip  {ms(posts)}",
        f"  POST sent -> first progress       {ms(firsts)}",
        "",
        f"total benchmark time {time.perf_counter() - t_all:.1f} s "
        "(timings are noisy; nothing is asserted)",
        "=" * 78,
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--simulations", type=int, default=1000, help="scenarios per load run")
    p.add_argument("--rounds", type=int, default=5, help="rounds of 2 concurrent load runs")
    p.add_argument("--subscribers", type=int, default=200, help="WebSocket clients for fan-out")
    p.add_argument("--fanout-simulations", type=int, default=2000,
                   help="scenarios of the fan-out run")
    p.add_argument("--first-progress", type=int, default=10, help="runs for create->progress")
    p.add_argument("--workers", type=int, default=2, help="server --workers")
    args = p.parse_args(argv)
    srv = Server(args.workers)
    try:
        lines = asyncio.run(asyncio.wait_for(main_async(args, srv), 110))
    finally:
        srv.stop()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
