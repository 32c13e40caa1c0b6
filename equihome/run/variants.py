"""Variants of one run with common random numbers: the machinery under every analysis.

An analysis (stress, tornado, breakeven, sweep) is a list of :class:`Variant` s -- config
overrides over one base -- run with the base's seed and scenario count, so scenario ``i``
sees the same random streams in every variant and a difference between two variants is
the effect of the change, not sampling noise. :func:`run_variants` runs them on either
backend and turns their engine events into one analysis stream (PROTOCOL.md's seven
types): ``progress`` 0 -> 100 over the whole analysis, ``module_started`` /
``module_completed`` per variant (``module`` = ``"stress:mvd_20"`` style names),
``intermediate_result`` with each finished row, and finally ``result`` (or ``error``).

Statistics (:func:`statistic`) are named ``"metric:aggregate"`` (``lp_irr:p50``,
``lp_tvpi:mean``) or by a risk key (``hurdle_clear_probability``, ``var_99``, ...);
:func:`paired_se` is the bootstrap standard error of a difference between two variants,
resampling the same scenario indices in both (paired), so a change of exactly 0 has a
standard error of exactly 0.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from equihome.io.config import ConfigError, deep_merge
from equihome.io.result import SimulationResult
from equihome.model.metrics import HURDLE_TOLERANCE, METRICS, tail_mean
from equihome.run.engine import (
    PROGRESS_INTERVAL,
    CancelToken,
    Plan,
    SimulationCancelled,
    SimulationError,
    Source,
    make_plan,
    plain_events,
    run_plan,
)

AGGREGATES = ("mean", "p5", "p25", "p50", "p75", "p95")
RISK_STATISTICS = ("hurdle_clear_probability", "var_95", "var_99", "cvar_95", "cvar_99")
BOOTSTRAP_SAMPLES = 200   # resamples behind each standard error
BOOTSTRAP_SEED = 20260    # fixed: the same inputs give the same standard errors
MAX_CONCURRENT = 8        # variants in flight at once on Dask (each already spans the cluster)
MAX_VARIANTS = 200        # runs in one analysis (a grid or list beyond it is refused)
Listener = Callable[[dict], Any]


# --------------------------------------------------------------------------- statistics


def check_statistic(spec: str) -> str:
    """``spec`` if it names a statistic, else a ValueError listing the allowed forms."""
    if isinstance(spec, str) and spec in RISK_STATISTICS:
        return spec
    metric, _, agg = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if metric not in METRICS or agg not in AGGREGATES:
        raise ValueError(
            f"statistic: must be 'metric:aggregate' with a metric of {', '.join(METRICS)} and an "
            f"aggregate of {', '.join(AGGREGATES)} (e.g. 'lp_irr:p50'), or one of "
            f"{', '.join(RISK_STATISTICS)}; got {spec!r}")
    return spec


def _columns(spec: str) -> tuple[str, ...]:
    """The per-scenario metrics a statistic reads."""
    if spec == "hurdle_clear_probability":
        return ("lp_irr",)
    if spec in RISK_STATISTICS:
        return ("lp_loss",)
    return (spec.partition(":")[0],)


def _reduce(spec: str, cols: Sequence[np.ndarray], hurdle: float) -> float:
    """The statistic of 1-d arrays ``cols`` (NaN when it does not exist)."""
    x = cols[0]
    if spec == "hurdle_clear_probability":
        return float(np.mean(np.nan_to_num(x, nan=-np.inf) >= hurdle - HURDLE_TOLERANCE))
    if spec in RISK_STATISTICS:
        kind, q = spec.split("_")
        var = float(np.percentile(x, int(q)))
        return var if kind == "var" else max(tail_mean(x, int(q) / 100.0), var)
    v = x[np.isfinite(x)]
    if v.size == 0:
        return float("nan")
    agg = spec.partition(":")[2]
    return float(v.mean()) if agg == "mean" else float(np.percentile(v, int(agg[1:])))


def statistic(spec: str, scenarios: Mapping[str, np.ndarray], hurdle: float) -> float:
    """Value of the statistic ``spec`` over a run's per-scenario metrics (NaN if undefined)."""
    return _reduce(spec, [scenarios[c] for c in _columns(spec)], hurdle)


def _resamples(n: int) -> np.ndarray:
    return np.random.default_rng(BOOTSTRAP_SEED).integers(0, n, (BOOTSTRAP_SAMPLES, n))


def _reduce_rows(spec: str, x: np.ndarray, hurdle: float) -> np.ndarray:
    """The statistic of each row of a (B, n) matrix of one metric (one resample a row)."""
    if spec == "hurdle_clear_probability":
        return np.mean(np.nan_to_num(x, nan=-np.inf) >= hurdle - HURDLE_TOLERANCE, axis=1)
    if spec in RISK_STATISTICS:
        return np.array([_reduce(spec, [row], hurdle) for row in x])
    v = np.where(np.isfinite(x), x, np.nan)
    agg = spec.partition(":")[2]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN resample: NaN, dropped
        return np.nanmean(v, axis=1) if agg == "mean" else np.nanpercentile(v, int(agg[1:]),
                                                                             axis=1)


def paired_se(spec: str, base: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray],
              base_hurdle: float, other_hurdle: float) -> float:
    """Bootstrap standard error of statistic(other) - statistic(base), the same scenario
    indices drawn for both (common random numbers make the pairs)."""
    col = _columns(spec)[0]
    idx = _resamples(base[col].size)
    diffs = (_reduce_rows(spec, other[col][idx], other_hurdle)
             - _reduce_rows(spec, base[col][idx], base_hurdle))
    diffs = diffs[np.isfinite(diffs)]
    return float(diffs.std(ddof=1)) if diffs.size > 1 else float("nan")


def unpaired_se(spec: str, base: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray],
                base_hurdle: float, other_hurdle: float) -> float:
    """The same standard error as if the two runs were independent (indices drawn apart)."""
    col = _columns(spec)[0]
    idx = _resamples(base[col].size)
    flipped = idx[::-1]  # a second, independent set of resamples
    diffs = (_reduce_rows(spec, other[col][flipped], other_hurdle)
             - _reduce_rows(spec, base[col][idx], base_hurdle))
    diffs = diffs[np.isfinite(diffs)]
    return float(diffs.std(ddof=1)) if diffs.size > 1 else float("nan")


# --------------------------------------------------------------------------- variants


def check_count(n: int) -> None:
    """ValueError when an analysis would need more than MAX_VARIANTS runs."""
    if n > MAX_VARIANTS:
        raise ValueError(f"an analysis runs at most {MAX_VARIANTS} variants; this one needs {n} "
                         "(fewer scenarios, parameters or grid values)")


@dataclass
class Variant:
    """One run of an analysis: ``overrides`` over the base config, shown as ``module``."""

    module: str
    overrides: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)   # copied into the variant's row


@dataclass
class Outcome:
    """A variant after its run: its plan and result, or the error that stopped it."""

    variant: Variant
    plan: Plan | None = None
    result: SimulationResult | None = None
    error: str | None = None

    @property
    def hurdle(self) -> float:
        assert self.plan is not None
        return float(self.plan.cfg.hurdle_rate)


@dataclass
class Setup:
    """What every variant shares: the base plan and the run options."""

    base: Plan
    config: Source
    overrides: dict[str, Any]
    threads: int | None
    kernels: str
    backend: str
    client: Any
    task_size: int | None

    def plan(self, variant: Variant) -> Plan:
        """The variant's plan (ConfigError if its overrides make the config invalid)."""
        plan = make_plan(self.config, num_simulations=self.base.n, seed=self.base.seed,
                         overrides=deep_merge(self.overrides, variant.overrides),
                         threads=self.threads, kernels=self.kernels)
        plan.seed_given = self.base.seed_given
        return plan


def setup(config: Source, *, num_simulations: int | None, seed: int | None,
          overrides: dict | None, threads: int | None, kernels: str, backend: str,
          client: Any, task_size: int | None, default_seed: int | None = None) -> Setup:
    """Validate the base once (ConfigError) and fix its seed for every variant."""
    base = make_plan(config, num_simulations=num_simulations, seed=seed, overrides=overrides,
                     threads=threads, kernels=kernels, default_seed=default_seed)
    return Setup(base, config, dict(overrides or {}), threads, kernels, backend, client,
                 task_size)


class Stream:
    """The analysis's one event stream: monotone progress over all its variants."""

    def __init__(self, on_event: Listener | None, total: int):
        self.emit = plain_events(on_event or (lambda event: None))
        self.total = max(total, 1)
        self.fraction: dict[int, float] = {}
        self.last_pct = 0.0
        self.last_t = 0.0
        self.t0 = time.perf_counter()
        self.rows: dict[str, dict] = {}   # module -> the row sent for it

    def grow(self, total: int) -> None:
        """More variants than first thought (breakeven's iterations)."""
        self.total = max(self.total, total)

    def step(self, slot: int, fraction: float, module: str, force: bool = False) -> None:
        """Variant ``slot`` is ``fraction`` (0-1) done: send progress if it moved."""
        self.fraction[slot] = max(self.fraction.get(slot, 0.0), fraction)
        pct = min(99.9, round(100.0 * sum(self.fraction.values()) / self.total, 1))
        now = time.monotonic()
        if pct > self.last_pct and (force or now - self.last_t >= PROGRESS_INTERVAL):
            self.last_pct, self.last_t = pct, now
            done = sum(1 for f in self.fraction.values() if f >= 1.0)
            self.emit({"type": "progress", "progress": pct, "module": module,
                       "message": f"{module} ({done}/{self.total} variants done)"})

    def send_row(self, module: str, row: dict | None) -> None:
        """A finished row as an intermediate_result (kept in ``rows``); None sends nothing."""
        if row is None:
            return
        self.rows[module] = row
        self.emit({"type": "intermediate_result", "module": module, "data": {"row": row}})

    def finish(self, data: dict) -> float:
        """The final progress and result events; returns the elapsed seconds."""
        elapsed = time.perf_counter() - self.t0
        self.emit({"type": "progress", "progress": 100.0, "module": "analysis",
                   "message": "Analysis complete"})
        self.emit({"type": "result", "result": data, "execution_time": round(elapsed, 6)})
        return elapsed

    def fail(self, exc: BaseException, module: str) -> None:
        """The final error event of a cancelled or failed analysis."""
        text = "cancelled" if isinstance(exc, SimulationCancelled) else str(exc)
        self.emit({"type": "error", "error": text, "module": module})


def run_one(s: Setup, variant: Variant, slot: int, stream: Stream, cancel: CancelToken,
            row: Callable[[Outcome], dict | None]) -> Outcome:
    """Run one variant, relaying its progress, then send ``row(outcome)`` (unless None) as
    an intermediate_result; an invalid config is its outcome's error, not an exception."""
    try:
        plan = s.plan(variant)
    except ConfigError as exc:
        out = Outcome(variant, error=str(exc))
        stream.step(slot, 1.0, variant.module, force=True)
        stream.send_row(variant.module, row(out))
        return out
    stream.emit({"type": "module_started", "module": variant.module})
    t0 = time.perf_counter()

    def relay(event: dict) -> None:
        if event["type"] == "progress":
            stream.step(slot, event["progress"] / 100.0, variant.module)

    result = run_plan(plan, on_event=relay, cancel=cancel, backend=s.backend, client=s.client,
                      task_size=s.task_size)
    out = Outcome(variant, plan, result)
    stream.step(slot, 1.0, variant.module, force=True)
    stream.emit({"type": "module_completed", "module": variant.module,
                 "execution_time": round(time.perf_counter() - t0, 6)})
    stream.send_row(variant.module, row(out))
    return out


def run_variants(s: Setup, variants: Sequence[Variant], stream: Stream, cancel: CancelToken,
                 row: Callable[[Outcome], dict | None], slot0: int = 0) -> list[Outcome]:
    """Run every variant (in order locally; up to MAX_CONCURRENT at once on Dask); their
    progress slots in ``stream`` start at ``slot0``.

    A cancel or an engine failure stops the analysis: the error event is sent and
    SimulationCancelled / SimulationError raised.
    """
    current = [variants[0].module if variants else "analysis"]

    def one(i: int) -> Outcome:
        current[0] = variants[i].module
        return run_one(s, variants[i], slot0 + i, stream, cancel, row)

    try:
        if s.backend == "dask" and len(variants) > 1:
            with ThreadPoolExecutor(min(len(variants), MAX_CONCURRENT)) as pool:
                futures = [pool.submit(one, i) for i in range(len(variants))]
                errors = [e for e in (f.exception() for f in futures) if e is not None]
            if errors:  # the real failure, not the cancellations it caused
                cancel.cancel()
                raise next((e for e in errors if not isinstance(e, SimulationCancelled)),
                           errors[0])
            return [f.result() for f in futures]
        return [one(i) for i in range(len(variants))]
    except (SimulationCancelled, SimulationError) as exc:
        stream.fail(exc, current[0])
        raise
