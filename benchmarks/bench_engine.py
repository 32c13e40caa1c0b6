"""Benchmark of the simulation engine, printed as one readable report.

    python benchmarks/bench_engine.py [--simulations 1000] [--big 10000] [--skip-reference]

Measured in one run, on the ``100m`` preset with seed 42:

* wall time, per-stage time and scenarios/second with 1 and 2 threads (best of
  ``--repeats``), and the 1 -> 2 thread speed-up;
* the same scenarios on the numpy reference kernels (once, 1 thread): cython vs reference;
* the RNG floor: the time numpy alone needs to make exactly the random draws the run
  makes (same seed sequences, generators, calls and shapes; no kernel), and how far the
  engine is above it;
* peak RSS and throughput of a ``--big`` run in a child process (so the RSS is that run's
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
from equihome.io.config import FundConfig  # noqa: E402
from equihome.model import loan_generator  # noqa: E402
from equihome.model.layout import ZONES  # noqa: E402

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
    walls, best = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = equihome.simulate(PRESET, num_simulations=n, seed=SEED, threads=threads,
                                   kernels=kernels)
        wall = time.perf_counter() - t0
        walls.append(wall)
        if best is None or wall < best[0]:
            best = (wall, dict(result.stage_times))
    assert best is not None
    return Timing(f"{kernels}, {threads} thread{'s' * (threads > 1)}", threads, n, best[0],
                  walls, best[1])


# --------------------------------------------------------------------------- RNG floor


class RecordingGenerator:
    """Stands in for a numpy Generator and records every draw call made through it."""

    def __init__(self, gen: np.random.Generator) -> None:
        self._gen = gen
        self.calls: list[tuple[str, tuple, dict]] = []
        self.count = 0  # random numbers produced

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._gen, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            out = method(*args, **kwargs)
            self.calls.append((name, args, kwargs))
            self.count += int(np.size(out))
            return out

        return call


def _generator(seed: int, key: tuple[int, int]) -> np.random.Generator:
    """The engine's generator of scenario stream ``key`` ((i, 0) loans, (i, 1) prices)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def loan_pool_requests(n: int) -> list[tuple[int, int]]:
    """(scenario, n_blocks) of every pool the engine draws, in order (one untimed run).

    A chunk whose pool ran out is redrawn with twice the blocks, so a scenario can appear
    more than once; this records what the run actually did.
    """
    requests: list[tuple[int, int]] = []
    original = loan_generator.generate

    def recording(cfg: FundConfig, seeds: list, n_blocks: int, kernels: Any,
                  book: Any = None) -> Any:
        requests.extend((int(s.spawn_key[0]), n_blocks) for s in seeds)
        return original(cfg, seeds, n_blocks, kernels, book)

    loan_generator.generate = recording
    try:
        equihome.simulate(PRESET, num_simulations=n, seed=SEED, threads=1)
    finally:
        loan_generator.generate = original
    return requests


@dataclass
class DrawPlan:
    """Every draw call of a run: loan-stream calls per pool request, price-call shapes."""

    loans: list[tuple[int, list[tuple[str, tuple, dict]]]]  # (scenario, calls)
    price_shapes: tuple[tuple[int, int], int, tuple[int, int]]
    loan_numbers: int   # random numbers on the loan streams, whole run
    price_numbers: int  # random numbers on the price streams, whole run
    n: int


def record_draw_plan(cfg: FundConfig, n: int, requests: list[tuple[int, int]]) -> DrawPlan:
    """Record the exact loan-stream calls of ``loan_generator.draw_pool`` for each request.

    draw_pool's rejection redraws depend on the values drawn, so its calls are recorded
    by running it once (untimed) on a recording generator; the timed floor replays them.
    """
    B = loan_generator.block_size(cfg)
    loans, loan_numbers = [], 0
    for i, n_blocks in requests:
        rec = RecordingGenerator(_generator(SEED, (i, 0)))
        size, ltv, u_sub, e_exit, u_cause = np.empty((5, n_blocks * B))
        z_home = np.empty((n_blocks * B, 2))
        loan_generator.draw_pool(rec, cfg, B, size, ltv, u_sub, e_exit, u_cause, z_home)
        loans.append((i, rec.calls))
        loan_numbers += rec.count
    M, Z = 12 * cfg.fund_term, len(ZONES)
    J = Z * cfg.price_path.suburbs_per_zone
    shapes = ((M, Z), M + 1, (M, J))
    return DrawPlan(loans, shapes, loan_numbers, n * (M * Z + (M + 1) + M * J), n)


def replay_draws(plan: DrawPlan) -> None:
    """Make the run's random draws and nothing else: the RNG floor's timed body."""
    for i, calls in plan.loans:
        gen = _generator(SEED, (i, 0))
        for name, args, kwargs in calls:
            getattr(gen, name)(*args, **kwargs)
    eps_shape, u_size, sub_shape = plan.price_shapes
    for i in range(plan.n):
        gen = _generator(SEED, (i, 1))
        gen.standard_normal(eps_shape)
        gen.random(u_size)
        gen.standard_normal(sub_shape)


def check_replay(plan: DrawPlan, cfg: FundConfig, samples: int = 5) -> bool:
    """The replay leaves a loan stream where draw_pool leaves it (first ``samples`` pools)."""
    B = loan_generator.block_size(cfg)
    for i, calls in plan.loans[:samples]:
        replayed = _generator(SEED, (i, 0))
        for name, args, kwargs in calls:
            getattr(replayed, name)(*args, **kwargs)
        engine_gen = _generator(SEED, (i, 0))
        K = sum(1 for c in calls if c[0] == "standard_exponential") * B
        size, ltv, u_sub, e_exit, u_cause = np.empty((5, K))
        loan_generator.draw_pool(engine_gen, cfg, B, size, ltv, u_sub, e_exit, u_cause,
                                 np.empty((K, 2)))
        if replayed.bit_generator.state != engine_gen.bit_generator.state:
            return False
    return True


def time_rng_floor(plan: DrawPlan, repeats: int) -> float:
    """Best-of-N seconds for :func:`replay_draws` (single thread)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        replay_draws(plan)
        best = min(best, time.perf_counter() - t0)
    return best


def time_generator_setup(n: int, repeats: int) -> float:
    """Best-of-N seconds to create the run's 2n generators without drawing (part of the floor)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            _generator(SEED, (i, 0))
            _generator(SEED, (i, 1))
        best = min(best, time.perf_counter() - t0)
    return best


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
    ap.add_argument("--big", type=int, default=10_000, help="scenarios of the memory run")
    ap.add_argument("--repeats", type=int, default=3, help="repeats per timing (best kept)")
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
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")

    equihome.simulate(PRESET, num_simulations=64, seed=SEED, threads=1)  # warm-up
    timings = [time_engine(n, threads, args.repeats) for threads in (1, 2)]
    one, two = timings
    print_engine_section(timings)

    ref = None
    if not args.skip_reference:
        ref = time_engine(n, 1, 1, kernels="reference")
        print(f"\n-- numpy reference kernels, 1 thread, once --\n{ref.label:<22} wall "
              f"{_ms(ref.wall)}  {ref.rate:9,.0f} scenarios/s")
        print(f"cython vs reference (1 thread each): {ref.wall / one.wall:.1f}x faster")

    requests = loan_pool_requests(n)
    plan = record_draw_plan(cfg, n, requests)
    floor = time_rng_floor(plan, args.repeats)
    per_scenario = (plan.loan_numbers + plan.price_numbers) / n
    extended = sum(1 for _, b in requests if b > 1)
    print(f"\n-- RNG floor (numpy draws only, 1 thread, best of {args.repeats}) --")
    print(f"loan block size {loan_generator.block_size(cfg)} loans; pools drawn "
          f"{len(requests):,} ({extended} extended beyond one block)")
    print(f"random numbers per scenario: {plan.loan_numbers / n:,.1f} loan stream + "
          f"{plan.price_numbers / n:,.0f} price stream = {per_scenario:,.1f}")
    print(f"replay matches draw_pool's stream state: {check_replay(plan, cfg)}")
    print(f"floor: {_ms(floor)}  ({n / floor:,.0f} scenarios/s, "
          f"{1e9 * floor / (per_scenario * n):.2f} ns per number incl. generator set-up)")
    setup = time_generator_setup(n, args.repeats)
    print(f"  of which generator set-up (SeedSequence + PCG64 + Generator, 2 per scenario): "
          f"{_ms(setup).strip()} ({100 * setup / floor:.0f} %)")
    print(f"ours / floor: 1 thread {one.wall / floor:.2f}x, 2 threads {two.wall / floor:.2f}x")

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
    print(f"ours / RNG floor: {one.wall / floor:.1f}x (1 thread), {two.wall / floor:.1f}x "
          f"(2 threads)")
    print(f"1->2 thread speed-up: {one.wall / two.wall:.2f}x")
    print(f"throughput: {one.rate:,.0f} scenarios/s (1 thread), {two.rate:,.0f} (2 threads)")
    size = f"{big['n'] // 1000}k" if big["n"] % 1000 == 0 else f"{big['n']:,}"
    print(f"peak RSS {size}: {big['peak_kb'] / 1024:.0f} MB "
          f"({big['n'] / big['wall']:,.0f} scenarios/s; ~{per_kb:.1f} KB per extra scenario)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
