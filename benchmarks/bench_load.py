"""Soak benchmark of the hardened server (``equihome serve``), printed as one report.

    python benchmarks/bench_load.py [--idle 3000] [--clients 300] [--cycles 10000]

Starts real servers in subprocesses (temporary databases) and measures, in one run:

* held idle connections (half-sent requests) opened one by one until ``/api/health``
  degrades (a 503 or a round trip over 1 s), against the server's connection cap;
* ``/api/health`` p50 / p99 while ``--clients`` WebSocket clients follow 2 runs;
* the server's RSS growth over ``--cycles`` WebSocket connect/disconnect cycles;
* accepted count under 500 racing POSTs from one key (limit 100 queued or running);
* cancel latency of the largest allowed run (a 30-year fund of small loans).

Clients run in this process on the same 2 cores. Timings are noisy on a shared machine;
nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from equihome.server.launcher import ServerProcess  # noqa: E402

KEY = "bench-key-0123456789abcdef"
LARGEST = {"num_simulations": 200, "fund_term": 30, "loan_term": 30, "avg_loan_size": 20_000,
           "min_loan_size": 10_000, "loan_size_std_dev": 5_000, "reinvestment_period": 30}


def server(tmp: str, name: str, *extra: str) -> ServerProcess:
    return ServerProcess(db=Path(tmp) / f"{name}.db", keys=(KEY,), extra=extra).start()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln for ln in f if ln.startswith("VmRSS:")).split()[1]) / 1024


def health(port: int, timeout: float = 5.0) -> tuple[int, float]:
    """(status, seconds) of one GET /api/health on a fresh connection (status 0: failed)."""
    t0 = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", "/api/health")
        status = conn.getresponse().status
        conn.close()
    except OSError:
        status = 0
    return status, time.perf_counter() - t0


def idle_connections(tmp: str, limit: int) -> str:
    srv = server(tmp, "idle")
    held: list[socket.socket] = []
    try:
        degraded = None
        for i in range(limit):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            held.append(s)
            if i % 50 == 49:
                status, secs = health(srv.port)
                if status != 200 or secs > 1.0:
                    degraded = (i + 1, status, secs)
                    break
        for s in held:
            s.close()
        time.sleep(0.5)
        after = health(srv.port)
        if degraded is None:
            return f"{limit:,} held connections: /health still 200 (then {after[0]})"
        n, status, secs = degraded
        return (f"/health degraded after {n:,} held connections: {status} in {secs * 1000:.0f} ms "
                f"(a 503 with Retry-After at the cap); once they close: {after[0]}")
    finally:
        srv.stop()


async def health_under_clients(srv: ServerProcess, clients: int) -> str:
    body = {"preset": "100m", "overrides": {"num_simulations": 3000}}
    ids = [srv.request("POST", "/simulations", body)[1]["id"] for _ in range(2)]
    conns = []
    for i in range(clients):
        ws = await connect(srv.ws_url(KEY), max_size=2**24)
        await ws.send(json.dumps({"action": "subscribe", "simulation_id": ids[i % 2]}))
        conns.append(ws)

    async def drain(ws) -> None:
        try:
            async for _ in ws:
                pass
        except Exception:  # closed at the end
            pass

    readers = [asyncio.create_task(drain(ws)) for ws in conns]
    samples = []
    t_end = time.monotonic() + 8
    while time.monotonic() < t_end:
        status, secs = await asyncio.to_thread(health, srv.port)
        samples.append(secs)
        await asyncio.sleep(0.02)
    for ws in conns:
        await ws.close()
    await asyncio.gather(*readers)
    q = statistics.quantiles(samples, n=100)
    return (f"/health during {clients} WebSocket clients + 2 runs: p50 {q[49] * 1000:.1f} ms, "
            f"p99 {q[98] * 1000:.1f} ms ({len(samples)} samples)")


async def connect_cycles(srv: ServerProcess, cycles: int) -> str:
    before = rss_mb(srv.proc.pid)
    t0 = time.perf_counter()
    for _ in range(cycles):
        ws = await connect(srv.ws_url(KEY))
        await ws.close()
    secs = time.perf_counter() - t0
    after = rss_mb(srv.proc.pid)
    return (f"{cycles:,} connect/disconnect cycles in {secs:.1f} s: RSS {before:.0f} -> "
            f"{after:.0f} MB ({after - before:+.1f} MB)")


def racing_posts(srv: ServerProcess) -> str:
    long = {"preset": "100m", "overrides": {"num_simulations": 20000}}
    blockers = [srv.request("POST", "/simulations", long)[1]["id"] for _ in range(2)]
    body = {"preset": "100m", "overrides": {"num_simulations": 20}}
    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(lambda _: srv.request("POST", "/simulations", body)[0],
                                range(500)))
    for sim in blockers:
        srv.request("POST", f"/simulations/{sim}/cancel")
    listing = srv.request("GET", "/simulations?limit=200")[1]["items"]
    for rec in listing:
        srv.request("POST", f"/simulations/{rec['id']}/cancel")
    return (f"500 racing POSTs with 2 runs already active: {answers.count(201)} accepted, "
            f"{answers.count(429)} refused 429 (limit 100 per key)")


def cancel_latency(srv: ServerProcess) -> str:
    rec = srv.request("POST", "/simulations", {"preset": "100m", "overrides": LARGEST})[1]
    sim = rec["id"]
    while srv.request("GET", f"/simulations/{sim}")[1]["progress"] < 5:
        time.sleep(0.05)
    t0 = time.perf_counter()
    srv.request("POST", f"/simulations/{sim}/cancel")
    while srv.request("GET", f"/simulations/{sim}")[1]["status"] != "cancelled":
        time.sleep(0.01)
    return f"cancel of a 30-year fund of $20k loans: {1000 * (time.perf_counter() - t0):.0f} ms"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=int, default=3000, help="held connections tried at most")
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--cycles", type=int, default=10_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="equihome-load-") as tmp:
        print("equihome server soak benchmark")
        print(" ", idle_connections(tmp, args.idle))
        srv = server(tmp, "main")
        try:
            print(" ", asyncio.run(health_under_clients(srv, args.clients)))
            print(" ", asyncio.run(connect_cycles(srv, args.cycles)))
            print(" ", racing_posts(srv))
            print(" ", cancel_latency(srv))
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
