"""Monte Carlo orchestration: chunks of scenarios through the stages, events, the result.

A run is a pure function of (config, seed). Scenario ``i`` draws every random number from
the counter-based streams (seed, i, purpose) of ``equihome.model.streams`` (Philox4x32-10,
no generator object per scenario; the kernels draw them without the GIL), so the numbers
do not depend on chunk size, thread count or backend. Chunks run on a thread pool (the
kernels release the GIL) or, with ``backend="dask"``, as tasks on a Dask cluster
(``equihome.run.distributed``, found through ``equihome.run.backends``: the engine imports no
backend); per-scenario summaries are kept, paths are not (except the first
``sample_paths`` scenarios), so memory grows only with the summaries.
Both backends feed one :class:`RunTracker`, which owns the events, progress and the result.

Events (PROTOCOL.md's shapes, without ``simulation_id``/``timestamp``, which the server
adds) are delivered to ``on_event`` from the thread that called :func:`simulate`.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from equihome.io.config import ConfigError, FundConfig, load_config
from equihome.io.result import SimulationResult, finite_json
from equihome.model import (
    cashflow_aggregator,
    contracts,
    exit_simulator,
    fee_engine,
    guardrail_monitor,
    leverage,
    loan_generator,
    metrics,
    portfolio,
    price_path_simulator,
    waterfall_engine,
)
from equihome.model.fixed_math import exp_values
from equihome.model.kernels import get_kernels
from equihome.model.layout import EXIT_NAMES, ZONES
from equihome.run import backends
from equihome.run.backends import Backend
from equihome.run.summary import SAMPLE_STEP, summarise, tranche_table

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
DEFAULT_CHUNK = 64            # scenarios per chunk of a run of unknown size
MAX_CHUNK = 256               # at most, in runs of any size (each chunk costs ~0.5-1 ms of
                              # Python and GIL; larger chunks gain little more)
CHUNK_WORK = 16_000_000       # loan-months per chunk at most (~0.1 s of ledger): a stage of a
                              # chunk stays short, so a cancel (checked between stages) lands fast
PROGRESS_INTERVAL = 0.1       # s between progress events (at most 10 a second)
INTERMEDIATE_INTERVAL = 0.25  # s between running-statistics events
Listener = Callable[[dict], Any]
SETTLE_BYTES = 16 << 20       # one block this size is freed at import (settle_allocator)


def settle_allocator() -> None:
    """Let glibc's malloc keep a chunk's arrays in its heap instead of the kernel's fresh pages.

    glibc maps every block above its mmap threshold (128 KB at first) anew and unmaps it on
    free, and trims its heap's top beyond a threshold, so a chunk's arrays of a few hundred KB
    to a few MB were new pages on every chunk: 1,500 to 11,000 page faults, 6 to 30 ms of kernel
    time, per 1,000-scenario run. Freeing a mapped block raises both thresholds to fit blocks
    of its size (glibc's dynamic threshold, up to 32 MB), as any program freeing a large array
    does; freeing one SETTLE_BYTES block here does it once, at import, so later chunks reuse the
    heap (about 10 faults a run). No effect on results, nor where malloc is not glibc's.
    """
    np.empty(SETTLE_BYTES, dtype=np.uint8)  # malloc'd (mapped: above the threshold), freed


settle_allocator()


class SimulationCancelled(Exception):
    """The run was cancelled; no result exists."""


class SimulationError(RuntimeError):
    """A stage failed; ``module`` names it."""

    def __init__(self, module: str, message: str):
        super().__init__(f"{module}: {message}")
        self.module, self.message = module, message

    def __reduce__(self) -> tuple:  # picklable, so it crosses back from Dask workers
        return (type(self), (self.module, self.message))


class CancelToken:
    """Thread-safe cancel flag, checked between chunks and stages."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` s, returning at once on cancel; True if cancelled."""
        return self._event.wait(timeout)


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
    static: tuple[dict, exit_simulator.StaticInputs]  # the ledger kernel's per-run inputs
    n_blocks: int
    book: portfolio.Book | None = None  # the fund's own loans (config ``portfolio``)


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
    run_seed = int(cfg.monte_carlo_seed) if cfg.monte_carlo_seed is not None else drawn
    if threads is not None and threads < 1:
        raise ValueError(f"threads: must be at least 1, got {threads}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size: must be at least 1, got {chunk_size}")
    book = portfolio.load_book(cfg)
    threads = threads or os.cpu_count() or 1
    return Plan(cfg, int(cfg.num_simulations), run_seed, given,
                chunk_size or auto_chunk(cfg, book, int(cfg.num_simulations), threads), threads,
                get_kernels(kernels), kernels, exit_simulator.static_inputs(cfg, book), 1, book)


def pool_loans(cfg: FundConfig) -> int:
    """Loans in a scenario's first pool: one block, plus the tape's rows under a portfolio
    (counted from the config: inline rows; a path or tape id counts as one block more)."""
    pf = cfg.portfolio
    tape = 0 if pf is None else (len(pf.loans) if isinstance(pf.loans, list) else
                                 loan_generator.block_size(cfg))
    return loan_generator.block_size(cfg) + tape


def work_estimate(cfg: FundConfig) -> float:
    """The size of a run in loan-months (scenarios x months x loans in a first pool): what its
    time and memory grow with, for limits set before it runs."""
    return float(cfg.num_simulations) * (cfg.months + 1) * pool_loans(cfg)


def auto_chunk(cfg: FundConfig, book: portfolio.Book | None = None, n: int = 0,
               threads: int = 1) -> int:
    """Scenarios per chunk: as few chunks as MAX_CHUNK allows (each costs ~0.5-1 ms of Python
    and of waiting for the GIL), in a multiple of ``threads`` of equal size so every thread
    gets the same share of a run of ``n`` scenarios; DEFAULT_CHUNK when n is unknown (0); at
    most CHUNK_WORK loan-months a chunk for large funds (which bounds a stage's time and so
    the cancel latency). Results do not depend on it; speed and memory do."""
    tape = book.n if book else 0
    per_scenario = (cfg.months + 1) * (loan_generator.block_size(cfg) + tape)
    cap = max(1, min(MAX_CHUNK, CHUNK_WORK // per_scenario))
    if n <= 0:
        return min(DEFAULT_CHUNK, cap)
    rounds = -(-n // (threads * cap))  # chunks per thread
    return -(-n // (threads * rounds))


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
    seed, blocks = plan.seed, plan.n_blocks

    book = plan.book
    offset = book.start if book else 0

    def draw_pool(b: int) -> loan_generator.LoanPool:
        return stage("loan_generator",
                     lambda: loan_generator.generate(cfg, seed, start, stop, b, k, book))

    def ledger(p: loan_generator.LoanPool) -> exit_simulator.LedgerRun:
        return stage("exit_simulator",
                     lambda: exit_simulator.simulate(cfg, p, paths, plan.static, k, book))

    pool = draw_pool(blocks)
    paths = stage("price_path_simulator",
                  lambda: price_path_simulator.simulate(cfg, seed, start, stop, k, offset))
    run = ledger(pool)
    while run.pool_exhausted.any():
        blocks *= 2  # prefix-stable pools: a longer pool changes nothing already drawn
        if blocks * loan_generator.block_size(cfg) > MAX_POOL:
            raise SimulationError("loan_generator", (
                f"a scenario needs more than {MAX_POOL:,} loans (recycling "
                f"{cfg.reinvestment_rate:.0%} of principal for {cfg.reinvestment_period} years "
                f"into loans of about ${cfg.avg_loan_size:,.0f}); raise avg_loan_size or lower "
                "reinvestment_rate or reinvestment_period"))
        pool = draw_pool(blocks)
        run = ledger(pool)
    book_value = (book.start, run.opening - book.cash) if book else None
    cash = stage("cashflow_aggregator",
                 lambda: cashflow_aggregator.aggregate(cfg, run.ledger, book_value))
    fees = stage("fee_engine", lambda: fee_engine.summarise(cfg, run.ledger))
    wf = stage("waterfall_engine", lambda: waterfall_engine.run(cfg, run, pool.size, k))
    cm, loans = stage("metrics", lambda: (
        metrics.scenario_metrics(cfg, pool.size, run, cash, fees, wf, k),
        guardrail_monitor.loan_stats(cfg, pool, run.orig_month, run.exit_type, k, book)))
    if book is not None:
        loans["opening_nav"] = run.opening
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
        cm.samples["zone_index"] = np.round(exp_values(st.paths.zone_log[:n_keep, ::step]), 6)
    else:
        cm.samples = {}
    return {"start": start, "stop": stop, "metrics": cm, "loans": st.loans}


# --------------------------------------------------------------------------- accumulation


class Accumulator:
    """Per-scenario summaries of the whole run, filled chunk by chunk in any order."""

    def __init__(self, plan: Plan):
        n, cfg = plan.n, plan.cfg
        T = cfg.fund_term + 1
        J = guardrail_monitor.suburb_group_count(cfg, plan.book)
        self.metrics = {m: np.full(n, np.nan) for m in metrics.METRICS}
        self.yearly = {y: np.full((n, T), np.nan) for y in metrics.YEARLY}
        self.exit_counts = np.zeros((n, len(EXIT_NAMES)), dtype=np.int64)
        self.tranches = np.full((n, len(cfg.tranches), 2), np.nan)
        self.irr_flags = np.zeros(n, dtype=np.int8)
        self.contract = {m: np.full(n, np.nan) for m in metrics.CONTRACT_METRICS}
        on = leverage.active(cfg)
        self.leverage = {m: np.full(n, np.nan) for m in leverage.LEVERAGE_METRICS if on}
        self.leverage_yearly = {y: np.full((n, T), np.nan) for y in leverage.LEVERAGE_YEARLY if on}
        self.loans = {
            "max_ltv": np.zeros(n), "stress_ltv": np.zeros(n), "largest_loan": np.zeros(n),
            "max_loan_by_zone": np.zeros((n, len(ZONES))),
            "deployed_by_zone": np.zeros((n, len(ZONES))), "deployed_by_suburb": np.zeros((n, J)),
            "liquidated": np.zeros(n), "combined_ltv": np.zeros(n),
            **({"opening_nav": np.zeros(n)} if plan.book else {}),
        }
        self.samples: dict[str, list] = {}
        self.done = np.zeros(n, dtype=bool)
        self.finished = 0  # scenarios done: done.sum(), kept as a count (read on every stage)

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
        for name, v in cm.contract.items():
            self.contract[name][a:b] = v
        for name, v in (*cm.leverage.items(), *cm.leverage_yearly.items()):
            (self.leverage if name in self.leverage else self.leverage_yearly)[name][a:b] = v
        for name, v in chunk["loans"].items():
            self.loans[name][a:b] = v
        for name, v in cm.samples.items():
            self.samples.setdefault(name, []).append((a, v))
        self.finished += (b - a) - int(self.done[a:b].sum())
        self.done[a:b] = True

    def running(self) -> dict:
        """Running statistics over the scenarios finished so far."""
        irr = self.metrics["lp_irr"][self.done]
        irr = irr[np.isfinite(irr)]
        tvpi = self.metrics["lp_tvpi"][self.done]
        out: dict[str, int | float] = {"completed_scenarios": self.finished,
                                       "total_scenarios": int(self.done.size)}
        if irr.size:
            p5, p50, p95 = metrics.percentiles(irr, (5, 50, 95)).tolist()
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

    def step(self, module: str, message: str, force: bool = False, units: int = 1) -> None:
        self.units += units
        pct = min(99.0, round(100.0 * self.units / self.total, 1))
        now = time.monotonic()
        if pct > self.last_pct and (force or now - self.last_t >= PROGRESS_INTERVAL):
            self.last_pct, self.last_t = pct, now
            self.emit({"type": "progress", "progress": pct, "module": module, "message": message})

    def finish(self) -> None:
        self.emit({"type": "progress", "progress": 100.0, "module": "guardrail_monitor",
                   "message": "Simulation complete"})


def plain_events(emit: Callable[[dict], None]) -> Callable[[dict], None]:
    """``emit`` behind a filter that makes every event plain JSON data: Python numbers (never
    numpy scalars, however deep), NaN/Infinity as None, so ``print`` and ``json.dumps`` work.
    A ``result`` event passes as is: its payload is already ``SimulationResult.data``."""

    def send(event: dict) -> None:
        emit(event if event.get("type") == "result" else finite_json(event))

    return send


class RunTracker:
    """The bookkeeping every backend shares: events, progress, running statistics, the result.

    A backend (``equihome.run.local.run_local``, ``equihome.run.distributed.run_dask``)
    calls :meth:`split`, then, from the caller's thread, :meth:`stage_started`,
    :meth:`stage_done` and :meth:`chunk_done` (a run_chunk summary) -- or
    :meth:`chunk_finished` for a chunk run elsewhere -- and :meth:`fail`; it returns once
    every chunk is in or the run failed. :meth:`finish` ends it.
    """

    def __init__(self, plan: Plan, emit: Callable[[dict], None], cancel: CancelToken):
        emit = plain_events(emit)
        self.plan, self.emit, self.cancel = plan, emit, cancel
        self.t_start = time.perf_counter()
        self.config_violations = guardrail_monitor.config_checks(
            plan.cfg, plan.n, plan.seed_given, plan.seed)
        for v in self.config_violations:
            emit({"type": "guardrail_violation", "violation": v})
        self.acc = Accumulator(plan)
        self.stage_times = dict.fromkeys(STAGES, 0.0)
        self.started: set[str] = set()
        self.done_count = dict.fromkeys(CHUNK_STAGES, 0)
        self.chunks = self.delivered = 0
        self.progress = _Progress(len(CHUNK_STAGES) + 2, emit)
        self.current = STAGES[0]     # the stage an error without a module is blamed on
        self.last_inter = 0.0
        self.failure: BaseException | None = None

    def split(self, size: int) -> list[tuple[int, int]]:
        """Cut the scenarios into [start, stop) chunks of ``size``; size progress to them."""
        bounds = [(a, min(a + size, self.plan.n)) for a in range(0, self.plan.n, size)]
        self.chunks = len(bounds)
        self.progress = _Progress(len(bounds) * len(CHUNK_STAGES) + 2, self.emit)
        return bounds

    def stage_started(self, name: str) -> None:
        self.current = name
        if name not in self.started:
            self.started.add(name)
            self.emit({"type": "module_started", "module": name})

    def stage_done(self, name: str, seconds: float, step: bool = True) -> None:
        """One chunk finished stage ``name`` in ``seconds``; ``step``: advance progress."""
        self.stage_times[name] += seconds
        self.done_count[name] += 1
        if step:
            self.progress.step(name, f"{MESSAGES[name]} ({self.acc.finished:,}/{self.plan.n:,} "
                                     "scenarios done)")
        if self.done_count[name] == self.chunks and name != "metrics":
            self._completed(name)  # metrics completes after the aggregation in finish()

    def chunk_done(self, chunk: dict) -> None:
        """A chunk's summary: merge it, and send running statistics (throttled)."""
        self.delivered += 1
        self.acc.add(chunk)
        now = time.monotonic()
        if self.failure is None and (now - self.last_inter >= INTERMEDIATE_INTERVAL
                                     or self.delivered == self.chunks):
            self.last_inter = now
            self.emit({"type": "intermediate_result", "module": "metrics",
                       "data": self.acc.running()})

    def chunk_finished(self, chunk: dict, seconds: dict[str, float]) -> None:
        """A whole chunk run elsewhere, with its per-stage ``seconds``: one progress step."""
        for name in CHUNK_STAGES:
            self.stage_started(name)
            self.stage_done(name, seconds.get(name, 0.0), step=False)
        self.chunk_done(chunk)
        self.progress.step("metrics", f"{self.delivered:,}/{self.chunks:,} chunks done "
                           f"({self.acc.finished:,}/{self.plan.n:,} scenarios)",
                           units=len(CHUNK_STAGES))

    def fail(self, exc: BaseException) -> None:
        """Record an error (a real one wins over a cancellation) and cancel the run."""
        if self.failure is None or (isinstance(self.failure, SimulationCancelled)
                                    and not isinstance(exc, SimulationCancelled)):
            self.failure = exc
        self.cancel.cancel()

    def _completed(self, name: str) -> None:
        self.emit({"type": "module_completed", "module": name,
                   "execution_time": round(self.stage_times[name], 6)})

    def finish(self) -> SimulationResult:
        """Emit the error and raise, or summarise, check guardrails and emit the result."""
        plan, emit, acc, stage_times = self.plan, self.emit, self.acc, self.stage_times
        if self.failure is None and self.cancel.cancelled:
            self.failure = SimulationCancelled()
        if self.failure is None and not acc.done.all():  # a backend bug, never a silent gap
            self.failure = SimulationError(self.current, "some scenarios were never run")
        if self.failure is not None:
            _fail(emit, self.failure, self.current)
        emit({"type": "intermediate_result", "module": "waterfall_engine",
              "data": {"tranches": tranche_table(plan, acc)}})
        t0 = time.perf_counter()
        data = summarise(plan, acc)
        stage_times["metrics"] += time.perf_counter() - t0
        self._completed("metrics")
        self.progress.step("guardrail_monitor", MESSAGES["guardrail_monitor"], force=True)
        self.stage_started("guardrail_monitor")
        t0 = time.perf_counter()
        checks = guardrail_monitor.loan_checks(plan.cfg, acc.loans, acc.metrics["unpaid_fees"])
        checks += guardrail_monitor.result_checks(plan.cfg, data["statistics"], data["risk"])
        if contracts.stated(plan.cfg):
            checks += guardrail_monitor.contract_checks(plan.cfg, acc.loans, acc.contract)
        checks += leverage.checks(plan.cfg, acc.leverage)
        stage_times["guardrail_monitor"] = time.perf_counter() - t0
        for v in checks:
            emit({"type": "guardrail_violation", "violation": v})
        data["guardrails"] = self.config_violations + checks
        self._completed("guardrail_monitor")
        self.progress.finish()
        elapsed = time.perf_counter() - self.t_start
        scenarios = {**acc.metrics, **acc.contract} if contracts.stated(plan.cfg) else acc.metrics
        scenarios = {**scenarios, **acc.leverage}
        result = SimulationResult(data, scenarios, elapsed, stage_times, plan.kernels_name)
        emit({"type": "result", "result": result.data, "execution_time": round(elapsed, 6)})
        return result




def simulate(config: Source = "100m", *, num_simulations: int | None = None,
             seed: int | None = None, overrides: dict | None = None,
             on_event: Listener | None = None, cancel: CancelToken | None = None,
             threads: int | None = None, chunk_size: int | None = None,
             kernels: str = "cython", default_seed: int | None = None,
             backend: str = "local", client: Any = None,
             task_size: int | None = None) -> SimulationResult:
    """Run a Monte Carlo simulation of the fund and return its result.

    config: a FundConfig, a dict, a preset name ("100m") or a JSON file path; ``overrides``
    are deep-merged over it. ``num_simulations``/``seed`` override the config's
    ``num_simulations``/``monte_carlo_seed``. ``on_event(event)`` receives the protocol
    events; ``cancel`` (a CancelToken) stops the run within one stage of one chunk and
    raises SimulationCancelled. Invalid input raises ConfigError before anything runs.

    backend: "local" (a thread pool of ``threads``) or "dask" (tasks of ``task_size``
    scenarios on a Dask cluster: ``client`` is a ``distributed.Client``, a scheduler address
    such as "tcp://host:8786", or None for the default client; needs ``equihome[dask]``).
    Both give the same result for the same seed.
    """
    plan = make_plan(config, num_simulations=num_simulations, seed=seed, overrides=overrides,
                     threads=threads, chunk_size=chunk_size, kernels=kernels,
                     default_seed=default_seed)
    return run_plan(plan, on_event=on_event, cancel=cancel, backend=backend, client=client,
                    task_size=task_size)


def get_backend(backend: str = "local", client: Any = None,
                task_size: int | None = None) -> Backend:
    """The chunk runner for ``backend`` (ValueError if unknown; ImportError without Dask)."""
    return backends.get(backend, client=client, task_size=task_size)


def run_plan(plan: Plan, on_event: Listener | None = None, cancel: CancelToken | None = None,
             backend: str = "local", client: Any = None,
             task_size: int | None = None) -> SimulationResult:
    """Execute a validated plan on a backend (see :func:`simulate`)."""
    execute = get_backend(backend, client, task_size)
    tracker = RunTracker(plan, on_event or (lambda event: None), cancel or CancelToken())
    execute(plan, tracker)
    return tracker.finish()


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
