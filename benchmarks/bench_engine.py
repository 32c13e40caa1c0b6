"""Benchmark of the simulation engine, printed as one readable report.

    python benchmarks/bench_engine.py [--simulations 1000] [--big 10000] [--skip-reference]

Measured in one run, on the ``100m`` preset with seed 42:

* wall time, per-stage time and scenarios/second with 1 and 2 threads (best of
  ``--repeats``, the two taking turns), and the 1 -> 2 thread speed-up;
* the same scenarios on the numpy reference kernels (once, 1 thread): cython vs reference;
* the RNG floor: the time numpy's fastest generator (SFC64) needs to draw as many normals
  as the run draws random numbers, in one bulk call, and how far the engine is above it;
* the exit/ledger kernel's cost per loan-month (the months the loans of one 1-thread run
  are followed, exit_simulator's stage time divided by them);
* peak RSS and throughput of a ``--big`` run (100,000 scenarios) in a child process (so the RSS is that run's
  own), and an estimate of memory per scenario from the difference of two child runs
  (``--simulations`` and ``--big`` scenarios: fixed costs and the in-flight chunks cancel).

Timings are noisy on a shared machine; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import equihome  # noqa: E402
from equihome import _core  # noqa: E402
from equihome.io.config import FundConfig  # noqa: E402
from equihome.model import loan_generator  # noqa: E402
from equihome.model.layout import ZONES  # noqa: E402
from equihome.run import engine  # noqa: E402

PRESET = "100m"
SEED = 42
MB = 1024 * 1024


@dataclass
class Timing:
    """Best-of-N measurement of one engine configuration."""

    label: str
    threads: int
    n: int
    wall: float                      # best wall time, s (around simulate())
    walls: list[float]               # every repeat
    stage_times: dict[str, float] = field(default_factory=dict)  # of the best repeat

    @property
    def rate(self) -> float:
        return self.n / self.wall


# --------------------------------------------------------------------------- engine runs


def time_engine(n: int, threads: int, repeats: int, kernels: str = "cython") -> Timing:
    """Run the preset ``repeats`` times; keep the fastest wall time and its stage times."""
    return time_interleaved(n, (threads,), repeats, kernels)[0][0]


def time_interleaved(n: int, thread_counts: tuple[int, ...], repeats: int,
                     kernels: str = "cython", floor_count: int = 0) -> tuple[list[Timing], float]:
    """Run the preset ``repeats`` times at each thread count, the counts taking turns (so a
    burst of load on the shared machine falls on all of them alike), and, with
    ``floor_count``, the RNG floor's draw of that many normals in the same turns (so the
    ratios to it compare like with like); keep each count's fastest wall time and its stage
    times, and the floor's fastest draw (seconds; inf without one)."""
    walls: dict[int, list[float]] = {t: [] for t in thread_counts}
    best: dict[int, tuple[float, dict]] = {}
    floor = float("inf")
    draw = rng_floor(floor_count) if floor_count else None
    for _ in range(repeats):
        for threads in thread_counts:
            t0 = time.perf_counter()
            result = equihome.simulate(PRESET, num_simulations=n, seed=SEED, threads=threads,
                                       kernels=kernels)
            wall = time.perf_counter() - t0
            walls[threads].append(wall)
            if threads not in best or wall < best[threads][0]:
                best[threads] = (wall, dict(result.stage_times))
        if draw is not None:
            floor = min(floor, draw())
    return [Timing(f"{kernels}, {t} thread{'s' * (t > 1)}", t, n, best[t][0], walls[t],
                   best[t][1]) for t in thread_counts], floor


# --------------------------------------------------------------------------- RNG floor


def loan_pool_requests(n: int) -> list[tuple[int, int]]:
    """(scenarios, n_blocks) of every pool request of a run, in order (one untimed run).

    A chunk whose pool ran out is redrawn with twice the blocks; this records what the run
    actually did.
    """
    requests: list[tuple[int, int]] = []
    original = loan_generator.generate

    def recording(cfg: FundConfig, seed: int, start: int, stop: int, n_blocks: int,
                  kernels: Any, book: Any = None) -> Any:
        requests.append((stop - start, n_blocks))
        return original(cfg, seed, start, stop, n_blocks, kernels, book)

    loan_generator.generate = recording  # type: ignore[assignment]
    try:
        equihome.simulate(PRESET, num_simulations=n, seed=SEED, threads=1)
    finally:
        loan_generator.generate = original  # type: ignore[assignment]
    return requests


def numbers_drawn(cfg: FundConfig, n: int, requests: list[tuple[int, int]]) -> tuple[int, int]:
    """(loan, price) random numbers of the run: 7 per pool loan drawn (advance, LTV, suburb,
    exit race, cause, 2 home-walk normals; the rare rejection redraws not counted) and the
    price stage's M Z + (M + 1) + M J per scenario."""
    B = loan_generator.block_size(cfg)
    loans = sum(7 * B * S * blocks for S, blocks in requests)
    M, Z = cfg.months, len(ZONES)
    J = Z * cfg.price_path.suburbs_per_zone
    return loans, n * (M * Z + (M + 1) + M * J)


def rng_floor(count: int) -> Callable[[], float]:
    """A function timing one draw (seconds) of ``count`` standard normals by numpy's SFC64 in
    one call, into an array allocated and touched once (no page faults timed)."""
    gen = np.random.Generator(np.random.SFC64(SEED))
    out = np.zeros(count)

    def draw() -> float:
        t0 = time.perf_counter()
        gen.standard_normal(out=out)
        return time.perf_counter() - t0

    return draw


def ledger_cost(n: int, repeats: int) -> tuple[float, int]:
    """(best exit_simulator seconds, loan-months walked) of one 1-thread chunk of n scenarios.

    A loan-month is one month a made loan is followed by the ledger kernel's walk (exit
    month - origination month); the kernel's monthly fund steps are included in the time.
    """
    plan = engine.make_plan(PRESET, num_simulations=n, seed=SEED, threads=1, chunk_size=n)
    best = float("inf")
    state = None
    times: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        times[name] = times.get(name, 0.0) + time.perf_counter() - t0
        return out

    for _ in range(repeats):
        times.clear()
        state = engine.compute_chunk(plan, 0, n, stage)
        best = min(best, times["exit_simulator"])
    assert state is not None
    made = state.run.orig_month >= 0
    walked = int((state.run.exit_month - state.run.orig_month)[made].sum())
    return best, walked


# --------------------------------------------------------------------------- memory


def _peak_rss_kb() -> int:
    """This process image's peak RSS in KiB (VmHWM; ru_maxrss where /proc is missing).

    ru_maxrss is not used on Linux: a child started by fork + exec inherits the forking
    parent's high-water mark in it, which would hide a smaller child's own peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb // 1024 if sys.platform == "darwin" else kb  # macOS reports bytes


def child_main(n: int, threads: int | None) -> None:
    """In the child process: one run of n scenarios; print wall time and RSS as JSON."""
    baseline_kb = _peak_rss_kb()
    t0 = time.perf_counter()
    result = equihome.simulate(PRESET, num_simulations=n, seed=SEED, threads=threads)
    wall = time.perf_counter() - t0
    print(json.dumps({"n": n, "wall": wall, "execution_time": result.execution_time,
                      "baseline_kb": baseline_kb, "peak_kb": _peak_rss_kb(),
                      "threads": threads or os.cpu_count()}))


def run_child(n: int, threads: int | None = None) -> dict[str, Any]:
    """Run :func:`child_main` in a fresh interpreter and return its report."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:9.1f} ms"


def print_engine_section(timings: list[Timing]) -> None:
    """Wall times, rates and the per-stage table of the cython runs."""
    print(f"\n-- engine (cython), best of {len(timings[0].walls)} --")
    for t in timings:
        runs = ", ".join(f"{w:.3f}" for w in t.walls)
        print(f"{t.label:<22} wall {_ms(t.wall)}  {t.rate:9,.0f} scenarios/s   (runs: {runs} s)")
    print("\nper stage (time inside each stage, SUMMED over threads; % of that sum):")
    header = "".join(f"{t.label:>26}" for t in timings)
    print(f"{'stage':<22}{header}")
    totals = [sum(t.stage_times.values()) for t in timings]
    for stage in equihome.STAGES:
        cells = ""
        for t, tot in zip(timings, totals, strict=True):
            s = t.stage_times.get(stage, 0.0)
            cells += f"{_ms(s)} {100 * s / tot:5.1f} %    "
        print(f"{stage:<22}{cells}")
    print(f"{'sum of stages':<22}" + "".join(f"{_ms(tot)}            " for tot in totals))
    print(f"{'wall':<22}" + "".join(f"{_ms(t.wall)}            " for t in timings))


def main(argv: list[str] | None = None) -> int:
    """Parse the options, take every measurement and print the report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--simulations", type=int, default=1000, help="scenarios per timed run")
    ap.add_argument("--big", type=int, default=100_000, help="scenarios of the memory run")
    ap.add_argument("--repeats", type=int, default=7, help="repeats per timing (best kept)")
    ap.add_argument("--skip-reference", action="store_true", help="skip the numpy kernels run")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)    # internal: memory child
    ap.add_argument("--threads", type=int, help=argparse.SUPPRESS)  # internal: memory child
    args = ap.parse_args(argv)
    if args.child:
        child_main(args.child, args.threads)
        return 0

    n = args.simulations
    cfg = equihome.load_config(PRESET)
    print(f"equihome {equihome.__version__} engine benchmark: preset {PRESET!r}, seed {SEED}, "
          f"{n:,} scenarios")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"core built for {_core.SIMD} (EQUIHOME_PORTABLE=1 at build: baseline)")

    equihome.simulate(PRESET, num_simulations=64, seed=SEED, threads=1)  # warm-up
    requests = loan_pool_requests(n)
    loan_numbers, price_numbers = numbers_drawn(cfg, n, requests)
    count = loan_numbers + price_numbers
    timings, floor = time_interleaved(n, (1, 2), args.repeats, floor_count=count)
    one, two = timings
    print_engine_section(timings)

    ref = None
    if not args.skip_reference:
        ref = time_engine(n, 1, 1, kernels="reference")
        print(f"\n-- numpy reference kernels, 1 thread, once --\n{ref.label:<22} wall "
              f"{_ms(ref.wall)}  {ref.rate:9,.0f} scenarios/s")
        print(f"cython vs reference (1 thread each): {ref.wall / one.wall:.1f}x faster")

    extended = sum(S for S, b in requests if b > 1)
    print(f"\n-- RNG floor (numpy SFC64, {count:,} normals in one call, best of {args.repeats}, "
          f"taking turns with the engine runs above) --")
    print(f"loan block size {loan_generator.block_size(cfg)} loans; {extended} scenarios' pools "
          f"extended beyond one block")
    print(f"random numbers per scenario: {loan_numbers / n:,.0f} loan streams + "
          f"{price_numbers / n:,.0f} price streams = {count / n:,.0f}")
    print(f"floor: {_ms(floor)}  ({1e9 * floor / count:.2f} ns per number)")
    print(f"ours / floor: 1 thread {one.wall / floor:.2f}x, 2 threads {two.wall / floor:.2f}x")
    ledger_s, walked = ledger_cost(n, args.repeats)
    print(f"\n-- exit/ledger kernel (1 thread, one chunk of {n:,}, best of {args.repeats}) --")
    print(f"{walked:,} loan-months walked in {_ms(ledger_s).strip()}: "
          f"{1e9 * ledger_s / walked:.2f} ns per loan-month")

    print(f"\n-- memory: child processes, default threads ({os.cpu_count()}) --")
    small, big = run_child(n), run_child(args.big)
    for rep in (small, big):
        print(f"{rep['n']:>7,} scenarios: peak RSS {rep['peak_kb'] / 1024:7.1f} MB "
              f"(after imports {rep['baseline_kb'] / 1024:.1f} MB), wall {rep['wall']:.3f} s, "
              f"{rep['n'] / rep['wall']:,.0f} scenarios/s")
    per_kb = (big["peak_kb"] - small["peak_kb"]) / max(1, big["n"] - small["n"])
    over_kb = (big["peak_kb"] - big["baseline_kb"]) / big["n"]
    print(f"memory per scenario: {per_kb:.2f} KB marginal (RSS difference of the two runs), "
          f"{over_kb:.2f} KB average above the post-import baseline")

    print("\n== summary ==")
    if ref is not None:
        print(f"cython vs reference: {ref.wall / one.wall:.1f}x faster")
    print(f"ours / RNG floor (SFC64): {one.wall / floor:.1f}x (1 thread), "
          f"{two.wall / floor:.1f}x (2 threads)")
    print(f"exit/ledger kernel: {1e9 * ledger_s / walked:.2f} ns per loan-month")
    print(f"1->2 thread speed-up: {one.wall / two.wall:.2f}x")
    print(f"throughput: {one.rate:,.0f} scenarios/s (1 thread), {two.rate:,.0f} (2 threads)")
    size = f"{big['n'] // 1000}k" if big["n"] % 1000 == 0 else f"{big['n']:,}"
    print(f"peak RSS {size}: {big['peak_kb'] / 1024:.0f} MB "
          f"({big['n'] / big['wall']:,.0f} scenarios/s; ~{per_kb:.1f} KB per extra scenario)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
