"""Benchmark of the analyses (ANALYSES.md), printed as one readable report.

    python benchmarks/bench_analyses.py [--simulations 1000] [--threads 2] [--repeats 2]

Measured in one run, on the ``100m`` preset with seed 42 (best of ``--repeats``):

* one plain simulation (the unit every variant costs);
* the default tornado (10 inputs x 2 bumps + the base = 21 runs), targets < 10 s;
* the full built-in stress library (base + every library scenario), target < 8 s;
* a breakeven (appreciation at which the median LP IRR equals the hurdle);
* for each: the time per variant and its ratio to the single run (1.0 means the analysis
  adds nothing to the runs it needs), and the tornado table of the preset.

Timings are noisy on a shared machine; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import equihome  # noqa: E402
from equihome.io.stress import LIBRARY  # noqa: E402

SEED = 42


def best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """(best wall time in s, the last result) of ``repeats`` calls."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulations", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    n, threads, reps = args.simulations, args.threads, args.repeats
    kw: dict[str, Any] = {"num_simulations": n, "seed": SEED, "threads": threads}
    print(f"equihome analyses benchmark: preset 100m, {n:,} scenarios per variant, seed {SEED}, "
          f"{threads} thread(s), best of {reps}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    equihome.simulate("100m", **kw)  # warm up (imports, first allocations)
    single, _ = best(lambda: equihome.simulate("100m", **kw), reps)
    cases: list[tuple[str, int, float, Any]] = []
    t, tor = best(lambda: equihome.tornado("100m", **kw), reps)
    cases.append(("tornado (default 10 inputs)", len(tor.results), t, tor))
    t, st = best(lambda: equihome.stress("100m", **kw), reps)
    cases.append((f"stress (base + {len(LIBRARY)} library)", len(st.results), t, st))
    t, be = best(lambda: equihome.breakeven("100m", "appreciation_rates", bounds=(0.0, 0.15),
                                            **kw), reps)
    cases.append(("breakeven (appreciation at hurdle)", be.data["iterations"], t, be))
    print(f"\none simulation: {single:.3f} s\n")
    print(f"{'analysis':<36}{'runs':>6}{'total s':>10}{'s/run':>9}{'ratio':>8}  target")
    targets = {"tornado": 10.0, "stress": 8.0}
    for name, runs, total, _ in cases:
        per = total / runs
        goal = next((f"< {v:.0f} s {'met' if total < v else 'MISSED'}"
                     for k, v in targets.items() if name.startswith(k)), "")
        print(f"{name:<36}{runs:>6}{total:>10.2f}{per:>9.3f}{per / single:>8.2f}  {goal}")
    print("\nratio = time per run of the analysis / time of one plain simulation "
          "(shared set-up is reused, so it stays near 1)")
    print(f"\nbreakeven: appreciation_rates = {be.x:.4%} gives median LP IRR "
          f"{be.data['value']:.4%} (target {be.data['target']:.2%}) in {be.data['iterations']} runs")
    print(f"\ntornado of the 100m preset ({n:,} scenarios, seed {SEED}):")
    print(tor.table)
    print("\nstress library:")
    print(st.table)


if __name__ == "__main__":
    main()
