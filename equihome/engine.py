"""Monte Carlo orchestration: chunks of scenarios through the stages, events, the result.

A run is a pure function of (config, seed). Scenario ``i`` draws its loans from
``SeedSequence(seed, spawn_key=(i, 0))`` and its prices from ``(i, 1)``, so the numbers
do not depend on chunk size, thread count or backend. Chunks run on a thread pool (the
kernels release the GIL); per-scenario summaries are kept, paths are not (except the
first ``sample_paths`` scenarios), so memory grows only with the summaries.

Events (PROTOCOL.md's shapes, without ``simulation_id``/``timestamp``, which the server
adds) are delivered to ``on_event`` from the thread that called :func:`simulate`.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import (
    cashflow_aggregator,
    exit_simulator,
    fee_engine,
    guardrail_monitor,
    loan_generator,
    metrics,
    price_path_simulator,
    waterfall_engine,
)
from .config import ConfigError, FundConfig, load_config
from .kernels import get_kernels
from .layout import EXIT_NAMES, ZONES
from .result import SimulationResult

STAGES = (
    "loan_generator", "price_path_simulator", "exit_simulator", "cashflow_aggregator",
    "fee_engine", "waterfall_engine", "metrics", "guardrail_monitor",
)
CHUNK_STAGES = STAGES[:7]
MESSAGES = {
    "loan_generator": "Generating loans",
    "price_path_simulator": "Simulating price paths",
    "exit_simulator": "Simulating exits and the cash ledger",
    "cashflow_aggregator": "Aggregating cash flows",
    "fee_engine": "Computing fees",
    "waterfall_engine": "Running the waterfall",
    "metrics": "Computing metrics",
    "guardrail_monitor": "Checking guardrails",
}
DEFAULT_CHUNK = 64
SAMPLE_STEP = 3               # months between the points kept of each sample path
PROGRESS_INTERVAL = 0.1       # s between progress events (at most 10 a second)
INTERMEDIATE_INTERVAL = 0.25  # s between running-statistics events
Listener = Callable[[dict], Any]


class SimulationCancelled(Exception):
    """The run was cancelled; no result exists."""


class SimulationError(RuntimeError):
    """A stage failed; ``module`` names it."""

    def __init__(self, module: str, message: str):
        super().__init__(f"{module}: {message}")
        self.module = module


class CancelToken:
    """Thread-safe cancel flag, checked between chunks and stages."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class Plan:
    """Everything fixed for one run."""

    cfg: FundConfig
    n: int
    seed: int
    seed_given: bool
    chunk_size: int
    threads: int
    kernels: Any
    kernels_name: str
    static: dict
    n_blocks: int


Source = FundConfig | dict | str | None


MAX_POOL = 50_000  # loans per scenario pool block; beyond it a run would exhaust memory


def make_plan(config: Source = "100m", *, num_simulations: int | None = None,
              seed: int | None = None, overrides: dict | None = None, threads: int | None = None,
              chunk_size: int | None = None, kernels: str = "cython",
              default_seed: int | None = None) -> Plan:
    """Validate the inputs once and fix everything a run needs (raises ConfigError).

    default_seed: used when neither ``seed`` nor the config gives one, in place of a freshly
    drawn seed (still reported as drawn); lets a server repeat a seedless run exactly.
    """
    top: dict[str, Any] = dict(overrides or {})
    if num_simulations is not None:
        top["num_simulations"] = num_simulations
    if seed is not None:
        top["monte_carlo_seed"] = seed
    cfg = load_config(config, top)
    check_size(cfg)
    given = cfg.monte_carlo_seed is not None
    drawn = secrets.randbits(63) if default_seed is None else int(default_seed)
    run_seed = int(cfg.monte_carlo_seed) if given else drawn
    if threads is not None and threads < 1:
        raise ValueError(f"threads: must be at least 1, got {threads}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size: must be at least 1, got {chunk_size}")
    return Plan(cfg, int(cfg.num_simulations), run_seed, given, chunk_size or DEFAULT_CHUNK,
                threads or os.cpu_count() or 1, get_kernels(kernels), kernels,
                exit_simulator.static_inputs(cfg), 1)


def check_size(cfg: FundConfig) -> None:
    """Reject configs whose loan pools would not fit in memory (a ConfigError naming the limit)."""
    pool = loan_generator.block_size(cfg)
    if pool > MAX_POOL:
        raise ConfigError([{
            "loc": ["fund_size"], "value": cfg.fund_size,
            "msg": (f"fund_size: a fund of ${cfg.fund_size:,.0f} in loans of about "
                    f"${cfg.avg_loan_size:,.0f} needs a pool of {pool:,} loans per scenario; "
                    f"the limit is {MAX_POOL:,} (raise avg_loan_size or lower fund_size)"),
        }])


# --------------------------------------------------------------------------- one chunk


@dataclass
class ChunkState:
    """Every stage's output for one chunk of scenarios (kept only while the chunk runs)."""

    pool: loan_generator.LoanPool
    paths: price_path_simulator.PricePaths
    run: exit_simulator.LedgerRun
    cash: cashflow_aggregator.CashFlows
    fees: dict
    waterfall: waterfall_engine.Waterfall
    metrics: metrics.ChunkMetrics
    loans: dict


def _direct(name: str, fn: Callable[[], Any]) -> Any:
    return fn()


def compute_chunk(plan: Plan, start: int, stop: int,
                  stage: Callable[[str, Callable[[], Any]], Any] = _direct) -> ChunkState:
    """Run scenarios [start, stop) through the chunk stages, each via ``stage(name, fn)``."""
    cfg, k = plan.cfg, plan.kernels
    loan_seeds = [np.random.SeedSequence(plan.seed, spawn_key=(i, 0)) for i in range(start, stop)]
    price_seeds = [np.random.SeedSequence(plan.seed, spawn_key=(i, 1)) for i in range(start, stop)]
    blocks = plan.n_blocks

    def loans(b: int) -> loan_generator.LoanPool:
        return stage("loan_generator", lambda: loan_generator.generate(cfg, loan_seeds, b, k))

    def ledger(p: loan_generator.LoanPool) -> exit_simulator.LedgerRun:
        return stage("exit_simulator",
                     lambda: exit_simulator.simulate(cfg, p, paths, plan.static, k))

    pool = loans(blocks)
    paths = stage("price_path_simulator", lambda: price_path_simulator.simulate(cfg, price_seeds, k))
    run = ledger(pool)
    while run.pool_exhausted.any():
        blocks *= 2  # prefix-stable pools: a longer pool changes nothing already drawn
        pool = loans(blocks)
        run = ledger(pool)
    cash = stage("cashflow_aggregator", lambda: cashflow_aggregator.aggregate(cfg, run.ledger))
    fees = stage("fee_engine", lambda: fee_engine.summarise(cfg, run.ledger))
    wf = stage("waterfall_engine", lambda: waterfall_engine.run(cfg, run, pool.size, k))
    cm, loans = stage("metrics", lambda: (
        metrics.scenario_metrics(cfg, pool.size, run, cash, fees, wf, k),
        guardrail_monitor.loan_stats(cfg, pool, run.orig_month)))
    return ChunkState(pool, paths, run, cash, fees, wf, cm, loans)


def run_chunk(plan: Plan, start: int, stop: int, report: Callable[[str, str, float], None],
              cancel: CancelToken) -> dict:
    """Run a chunk for the orchestrator: timed stages, cancel checks, compact summaries.

    ``report(kind, stage, seconds)`` is called with kind "start"/"done" around each stage.
    """

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        if cancel.cancelled:
            raise SimulationCancelled
        report("start", name, 0.0)
        t0 = time.perf_counter()
        try:
            out = fn()
        except Exception as exc:
            raise SimulationError(name, f"{type(exc).__name__}: {exc}") from exc
        report("done", name, time.perf_counter() - t0)
        return out

    st = compute_chunk(plan, start, stop, stage)
    cm = st.metrics
    n_keep = max(0, min(stop, plan.cfg.sample_paths) - start)
    step = SAMPLE_STEP
    if n_keep:  # quarterly points, dollars rounded to cents: charts need no more
        cm.samples = {name: np.round(v[:n_keep, ::step], 2) for name, v in cm.samples.items()}
        cm.samples["zone_index"] = np.round(np.exp(st.paths.zone_log[:n_keep, ::step]), 6)
    else:
        cm.samples = {}
    return {"start": start, "stop": stop, "metrics": cm, "loans": st.loans}


# --------------------------------------------------------------------------- accumulation


class Accumulator:
    """Per-scenario summaries of the whole run, filled chunk by chunk in any order."""

    def __init__(self, plan: Plan):
        n, cfg = plan.n, plan.cfg
        T = cfg.fund_term + 1
        J = len(ZONES) * cfg.price_path.suburbs_per_zone
        self.metrics = {m: np.full(n, np.nan) for m in metrics.METRICS}
        self.yearly = {y: np.full((n, T), np.nan) for y in metrics.YEARLY}
        self.exit_counts = np.zeros((n, len(EXIT_NAMES)), dtype=np.int64)
        self.tranches = np.full((n, len(cfg.tranches), 2), np.nan)
        self.irr_flags = np.zeros(n, dtype=np.int8)
        self.loans = {
            "max_ltv": np.zeros(n), "stress_ltv": np.zeros(n), "largest_loan": np.zeros(n),
            "max_loan_by_zone": np.zeros((n, len(ZONES))),
            "deployed_by_zone": np.zeros((n, len(ZONES))), "deployed_by_suburb": np.zeros((n, J)),
        }
        self.samples: dict[str, list] = {}
        self.done = np.zeros(n, dtype=bool)

    def add(self, chunk: dict) -> None:
        a, b = chunk["start"], chunk["stop"]
        cm: metrics.ChunkMetrics = chunk["metrics"]
        for name, v in cm.metrics.items():
            self.metrics[name][a:b] = v
        for name, v in cm.yearly.items():
            self.yearly[name][a:b] = v
        self.exit_counts[a:b] = cm.exit_counts
        self.tranches[a:b] = cm.tranches
        self.irr_flags[a:b] = cm.irr_flags
        for name, v in chunk["loans"].items():
            self.loans[name][a:b] = v
        for name, v in cm.samples.items():
            self.samples.setdefault(name, []).append((a, v))
        self.done[a:b] = True

    def running(self) -> dict:
        """Running statistics over the scenarios finished so far."""
        irr = self.metrics["lp_irr"][self.done]
        irr = irr[np.isfinite(irr)]
        tvpi = self.metrics["lp_tvpi"][self.done]
        out = {"completed_scenarios": int(self.done.sum())}
        if irr.size:
            p5, p50, p95 = np.percentile(irr, [5, 50, 95])
            out.update(irr_p50=p50, irr_p5=p5, irr_p95=p95)
        if np.isfinite(tvpi).any():
            out["equity_multiple_p50"] = float(np.nanmedian(tvpi))
        return out


# --------------------------------------------------------------------------- the run


class _Progress:
    """Monotone, throttled progress over chunk-stage units plus the final stages."""

    def __init__(self, total_units: int, emit: Callable[[dict], None]):
        self.total = total_units
        self.units = 0
        self.last_pct = 0.0
        self.last_t = 0.0
        self.emit = emit

    def step(self, module: str, message: str, force: bool = False) -> None:
        self.units += 1
        pct = min(99.0, round(100.0 * self.units / self.total, 1))
        now = time.monotonic()
        if pct > self.last_pct and (force or now - self.last_t >= PROGRESS_INTERVAL):
            self.last_pct, self.last_t = pct, now
            self.emit({"type": "progress", "progress": pct, "module": module, "message": message})

    def finish(self) -> None:
        self.emit({"type": "progress", "progress": 100.0, "module": "guardrail_monitor",
                   "message": "Simulation complete"})


def simulate(config: Source = "100m", *, num_simulations: int | None = None,
             seed: int | None = None, overrides: dict | None = None,
             on_event: Listener | None = None, cancel: CancelToken | None = None,
             threads: int | None = None, chunk_size: int | None = None,
             kernels: str = "cython", default_seed: int | None = None) -> SimulationResult:
    """Run a Monte Carlo simulation of the fund and return its result.

    config: a FundConfig, a dict, a preset name ("100m") or a JSON file path; ``overrides``
    are deep-merged over it. ``num_simulations``/``seed`` override the config's
    ``num_simulations``/``monte_carlo_seed``. ``on_event(event)`` receives the protocol
    events; ``cancel`` (a CancelToken) stops the run within one stage of one chunk and
    raises SimulationCancelled. Invalid input raises ConfigError before anything runs.
    """
    plan = make_plan(config, num_simulations=num_simulations, seed=seed, overrides=overrides,
                     threads=threads, chunk_size=chunk_size, kernels=kernels,
                     default_seed=default_seed)
    return run_plan(plan, on_event=on_event, cancel=cancel)


def run_plan(plan: Plan, on_event: Listener | None = None,
             cancel: CancelToken | None = None) -> SimulationResult:
    """Execute a validated plan (see :func:`simulate`)."""
    emit = on_event or (lambda event: None)
    cancel = cancel or CancelToken()
    cfg = plan.cfg
    t_start = time.perf_counter()
    config_violations = guardrail_monitor.config_checks(cfg, plan.n, plan.seed_given, plan.seed)
    for v in config_violations:
        emit({"type": "guardrail_violation", "violation": v})
    bounds = [(a, min(a + plan.chunk_size, plan.n)) for a in range(0, plan.n, plan.chunk_size)]
    acc = Accumulator(plan)
    stage_times = dict.fromkeys(STAGES, 0.0)
    started: set[str] = set()
    done_count = dict.fromkeys(CHUNK_STAGES, 0)
    progress = _Progress(len(bounds) * len(CHUNK_STAGES) + 2, emit)
    events: queue.Queue = queue.Queue()
    current = {"module": STAGES[0]}
    last_inter = 0.0

    def report(kind: str, name: str, seconds: float) -> None:
        events.put((kind, name, seconds))

    def work(a: int, b: int) -> None:
        try:
            events.put(("chunk", run_chunk(plan, a, b, report, cancel), 0.0))
        except BaseException as exc:  # handed to the orchestrating thread
            events.put(("fail", exc, 0.0))

    def module_started(name: str) -> None:
        if name not in started:
            started.add(name)
            emit({"type": "module_started", "module": name})

    def module_completed(name: str) -> None:
        emit({"type": "module_completed", "module": name,
              "execution_time": round(stage_times[name], 6)})

    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=plan.threads) as pool:
        futures = [pool.submit(work, a, b) for a, b in bounds]
        delivered, expected = 0, len(futures)
        while delivered < expected:
            kind, obj, seconds = events.get()
            if kind == "start":
                current["module"] = obj
                module_started(obj)
            elif kind == "done":
                stage_times[obj] += seconds
                done_count[obj] += 1
                finished = int(acc.done.sum())
                progress.step(obj, f"{MESSAGES[obj]} ({finished:,}/{plan.n:,} scenarios done)")
                if done_count[obj] == len(bounds) and obj != "metrics":
                    module_completed(obj)  # metrics completes after the aggregation below
            elif kind == "chunk":
                delivered += 1
                acc.add(obj)
                now = time.monotonic()
                if failure is None and (now - last_inter >= INTERMEDIATE_INTERVAL
                                        or delivered == expected):
                    last_inter = now
                    emit({"type": "intermediate_result", "module": "metrics",
                          "data": acc.running()})
            else:  # "fail": keep the first real error over a cancellation
                delivered += 1
                if failure is None or (isinstance(failure, SimulationCancelled)
                                       and not isinstance(obj, SimulationCancelled)):
                    failure = obj
                cancel.cancel()
                for f in futures:
                    f.cancel()
                expected = sum(1 for f in futures if not f.cancelled())
    if failure is None and cancel.cancelled:
        failure = SimulationCancelled()
    if failure is not None:
        _fail(emit, failure, current["module"])
    emit({"type": "intermediate_result", "module": "waterfall_engine",
          "data": {"tranches": tranche_table(plan, acc)}})
    t0 = time.perf_counter()
    data = summarise(plan, acc)
    stage_times["metrics"] += time.perf_counter() - t0
    module_completed("metrics")
    progress.step("guardrail_monitor", MESSAGES["guardrail_monitor"], force=True)
    module_started("guardrail_monitor")
    t0 = time.perf_counter()
    checks = guardrail_monitor.loan_checks(cfg, acc.loans)
    checks += guardrail_monitor.result_checks(cfg, data["statistics"], data["risk"])
    stage_times["guardrail_monitor"] = time.perf_counter() - t0
    for v in checks:
        emit({"type": "guardrail_violation", "violation": v})
    data["guardrails"] = config_violations + checks
    module_completed("guardrail_monitor")
    progress.finish()
    elapsed = time.perf_counter() - t_start
    result = SimulationResult(data, acc.metrics, elapsed, stage_times, plan.kernels_name)
    emit({"type": "result", "result": result.data, "execution_time": round(elapsed, 6)})
    return result


def _fail(emit: Callable[[dict], None], failure: BaseException, module: str) -> None:
    """Emit the final error event for a cancelled or failed run and raise."""
    if isinstance(failure, SimulationCancelled):
        emit({"type": "error", "error": "cancelled", "module": module})
        raise SimulationCancelled("cancelled")
    mod = getattr(failure, "module", module)
    emit({"type": "error", "error": str(failure), "module": mod})
    if isinstance(failure, SimulationError):
        raise failure
    raise SimulationError(mod, str(failure)) from failure


# --------------------------------------------------------------------------- summary


def tranche_table(plan: Plan, acc: Accumulator) -> list[dict]:
    """Median annual return and multiple of each debt tranche, then the LP equity."""
    rows = []
    for t, tr in enumerate(exit_simulator.sorted_tranches(plan.cfg)):
        irr, mult = acc.tranches[:, t, 0], acc.tranches[:, t, 1]
        rows.append({"name": tr.name, "type": tr.type, "return": _nanmedian(irr),
                     "multiple": _nanmedian(mult)})
    rows.append({"name": "Equity", "type": "equity", "return": _nanmedian(acc.metrics["lp_irr"]),
                 "multiple": _nanmedian(acc.metrics["lp_tvpi"])})
    return rows


def _nanmedian(x: np.ndarray) -> float | None:
    v = x[np.isfinite(x)]
    return float(np.median(v)) if v.size else None


def summarise(plan: Plan, acc: Accumulator) -> dict:
    """The wire ``result`` payload from the run's per-scenario summaries."""
    cfg = plan.cfg
    stats = {m: metrics.describe(v) for m, v in acc.metrics.items()}
    risk = metrics.risk(acc.metrics["lp_loss"], acc.metrics["lp_irr"], cfg.hurdle_rate)
    headline = {
        "irr": stats["lp_irr"]["p50"],
        "equity_multiple": stats["lp_tvpi"]["p50"],
        "roi": stats["roi"]["p50"],
        "lp_irr_p5": stats["lp_irr"]["p5"],
        "lp_irr_p95": stats["lp_irr"]["p95"],
        "gross_irr": stats["gross_irr"]["p50"],
        "fund_irr": stats["fund_irr"]["p50"],
        "lp_dpi": stats["lp_dpi"]["p50"],
        "gp_carry": stats["gp_carry"]["p50"],
        "hurdle_clear_probability": risk["hurdle_clear_probability"],
        "var_99": risk["var_99"],
        "cvar_99": risk["cvar_99"],
    }
    years = [cfg.vintage_year + y for y in range(cfg.fund_term + 1)]
    fans = {"years": years, **{name: metrics.fan(v) for name, v in acc.yearly.items()}}
    samples = {name: [row for _, part in sorted(parts, key=lambda p: p[0]) for row in part]
               for name, parts in acc.samples.items()}
    if "zone_index" in samples:
        samples["zone_index"] = {z: [row[:, i] for row in samples["zone_index"]]
                                 for i, z in enumerate(ZONES)}
    if samples:
        samples["months"] = list(range(0, 12 * cfg.fund_term + 1, SAMPLE_STEP))
    return {
        "metrics": headline,
        "loans": int(round(stats["num_loans"]["p50"] or 0)),
        "fund_size": cfg.fund_size,
        "num_simulations": plan.n,
        "seed": plan.seed,
        "statistics": stats,
        "risk": risk,
        "fans": fans,
        "exit_mix": metrics.exit_mix(acc.exit_counts),
        "tranches": tranche_table(plan, acc),
        "irr_diagnostics": {"multiple_roots": int((acc.irr_flags == 1).sum()),
                            "no_irr": int((acc.irr_flags == 2).sum())},
        "sample_paths": samples,
        "config": cfg.to_dict(),
    }
