"""Benchmark of the counter-based streams (Philox4x32-10, ``equihome/_random.pxi``).

    python benchmarks/bench_streams.py [--simulations 1000] [--repeats 7]

Fills the standard normals one run of the ``100m`` preset draws (counted from the
engine's current draws: price paths M x zones + M x suburbs per scenario, loan pools 4
normals per loan of one block, before the rare truncation redraws) for ``--simulations``
scenarios, and compares, best of ``--repeats``:

* the Cython fill (``_core.fill_normals``: one stream per scenario, no object) on 1 thread
  and on 2 threads (two Python threads filling halves; the fill releases the GIL);
* its numpy twin (``streams.fill_normals``: a Generator per scenario on a StreamBitGenerator,
  numpy's Philox4x32 words handed to numpy's sampler by one ctypes callback per word);
* the floor: numpy's fastest generator (SFC64) drawing the same count in one bulk call;
* the old scheme's per-scenario cost (before issue 17): 2 x (SeedSequence + PCG64 +
  Generator) per scenario, alone
  and with the scenario's normals drawn from the PCG64 generators.

Timings are noisy on a shared machine; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import equihome  # noqa: E402
from equihome import _core  # noqa: E402
from equihome.model import loan_generator, streams  # noqa: E402
from equihome.model.layout import ZONES  # noqa: E402

PRESET = "100m"
SEED = 42


def normals_per_scenario(preset: str) -> dict[str, int]:
    """Standard normals one scenario of ``preset`` draws, by stage.

    price paths: (M, Z) zone shocks and (M, J) suburb shocks; loan pool: 4 per loan of
    one block of ``block_size`` loans (advance, LTV, two home-walk shocks).
    """
    cfg = equihome.load_config(preset)
    M, Z = cfg.months, len(ZONES)
    J = Z * cfg.price_path.suburbs_per_zone
    return {"price paths (zones)": M * Z, "price paths (suburbs)": M * J,
            "loan pool": 4 * loan_generator.block_size(cfg)}


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """Fastest of ``repeats`` calls of ``fn``, seconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cython_fill(out: np.ndarray, threads: int) -> None:
    """Fill ``out`` (S, n) with the Cython streams; ``threads`` Python threads take row blocks."""
    if threads == 1:
        _core.fill_normals(SEED, streams.Purpose.PRICES, 0, out)
        return
    edges = np.linspace(0, out.shape[0], threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda a, b: _core.fill_normals(SEED, streams.Purpose.PRICES, a, out[a:b]),
                      edges[:-1], edges[1:]))


def todays_generators(n: int) -> None:
    """The old engine's generator set-up (before issue 17): (i, 0) loans, (i, 1) prices."""
    for i in range(n):
        for purpose in (0, 1):
            np.random.Generator(np.random.PCG64(np.random.SeedSequence(SEED, spawn_key=(i, purpose))))


def todays_normals(out: np.ndarray) -> None:
    """Today's generators with the scenario's normals drawn from them (no kernel work)."""
    loans = out.shape[1] - (out.shape[1] // 2)
    for i in range(out.shape[0]):
        gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(SEED, spawn_key=(i, 0))))
        gen.standard_normal(out=out[i, :loans])
        gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(SEED, spawn_key=(i, 1))))
        gen.standard_normal(out=out[i, loans:])


def main(argv: list[str] | None = None) -> int:
    """Take every measurement and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--simulations", type=int, default=1000, help="scenarios filled")
    ap.add_argument("--repeats", type=int, default=7, help="repeats per timing (best kept)")
    args = ap.parse_args(argv)
    n, reps = args.simulations, args.repeats

    counts = normals_per_scenario(PRESET)
    per = sum(counts.values())
    print(f"equihome {equihome.__version__} stream benchmark: preset {PRESET!r}, {n:,} scenarios, "
          f"best of {reps}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}); stream scheme {streams.SCHEME}")
    print("normals per scenario: " + " + ".join(f"{v:,} {k}" for k, v in counts.items())
          + f" = {per:,}; whole run {n * per:,}")

    out = np.empty((n, per))
    sfc = np.random.Generator(np.random.SFC64(SEED))
    flat = np.empty(n * per)
    floor = best_of(reps, lambda: sfc.standard_normal(out=flat))
    rows = [
        ("numpy SFC64, one bulk call (floor)", floor),
        ("cython Philox4x32 fill, 1 thread", best_of(reps, lambda: cython_fill(out, 1))),
        ("cython Philox4x32 fill, 2 threads", best_of(reps, lambda: cython_fill(out, 2))),
        ("numpy twin: Generator(StreamBitGenerator) per scenario",
         best_of(max(1, reps // 2), lambda: streams.fill_normals(SEED, 1, 0, out))),
        ("old: 2 x SeedSequence+PCG64 per scenario, set-up only",
         best_of(reps, lambda: todays_generators(n))),
        ("old: the same + their normals", best_of(max(1, reps // 2), lambda: todays_normals(out))),
    ]
    print(f"\n{'':<58}{'ms':>9}{'x floor':>9}{'ns/normal':>11}")
    for label, sec in rows:
        print(f"{label:<58}{1e3 * sec:9.1f}{sec / floor:9.2f}{1e9 * sec / (n * per):11.2f}")
    one, two = rows[1][1], rows[2][1]
    print(f"\ncython 1 -> 2 threads: {one / two:.2f}x; per scenario {1e6 * one / n:.1f} us "
          f"(1 thread) vs the old set-up alone {1e6 * rows[4][1] / n:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
