"""The Dask backend: chunks of scenarios as tasks on a ``distributed`` cluster.

``simulate(..., backend="dask", client=...)`` lands here (imported lazily; Dask is the
optional extra ``equihome[dask]``). Each task runs scenarios [start, stop) -- by default
:data:`DEFAULT_TASK_SIZE` of them, about 0.3 s of work on the ``100m`` preset, about
100x Dask's per-task overhead of a few ms -- in sub-chunks of ``plan.chunk_size`` on one worker thread,
and returns only their compact summary (per-scenario metrics, loan statistics, the few
sample paths) plus its per-stage seconds; raw paths never leave the worker.

What travels to a worker is a :class:`TaskSpec`: the validated config as JSON, the run's
seed, the kernels' *name* (the module itself does not pickle) and the sub-chunk size; the
worker rebuilds the plan once per spec. Scenario ``i`` draws from the same
counter-based streams (seed, i, purpose) as locally and summaries are merged by
scenario index, so the result is bit-identical to the local backend.

Finished tasks come back through ``distributed.as_completed`` and feed the engine's
:class:`~equihome.run.engine.RunTracker` (progress, running statistics, module events). A
cancel releases the outstanding futures at once. A task whose worker dies is rescheduled
by the scheduler (up to ``distributed.scheduler.allowed-failures`` times) and a task that
raises is retried ``retries`` times; tasks are deterministic, so a re-run changes nothing.
"""

from __future__ import annotations

import atexit
import functools
import json
import threading
import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from equihome.model.metrics import ChunkMetrics
from equihome.run import backends
from equihome.run.backends import Backend
from equihome.run.engine import (
    CHUNK_STAGES,
    CancelToken,
    Plan,
    RunTracker,
    SimulationError,
    make_plan,
    run_chunk,
)

if TYPE_CHECKING:
    from distributed import Client, Future

DEFAULT_TASK_SIZE = 512   # scenarios per task: ~0.3 s on the 100m preset (overhead ~3 ms)
DEFAULT_RETRIES = 1       # extra attempts of a task that raised (worker loss is separate)
POLL = 0.05               # s between checks for finished tasks (a cancel wakes at once)
CONNECT_TIMEOUT = "10s"   # to reach a scheduler given by address
INSTALL_HINT = 'pip install "equihome[dask]"'


def require() -> ModuleType:
    """The ``distributed`` module, or an ImportError that names the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            f"backend='dask' needs Dask distributed, which is not installed: {INSTALL_HINT} "
            f'(or pip install "dask[distributed]")') from exc
    return distributed


# --------------------------------------------------------------------------- clients

_clients: dict[str, Client] = {}
_clients_lock = threading.Lock()


def get_client(client: Client | str | None = None) -> Client:
    """The Dask client to run on.

    client: a ``distributed.Client`` (used as is); a scheduler address such as
    "tcp://host:8786" (one client per address is kept open and reused by later runs); or
    None: the current default client, else the ``scheduler-address`` of the Dask config
    (``DASK_SCHEDULER_ADDRESS``), else ValueError.
    """
    dd = require()
    if isinstance(client, dd.Client):
        return client
    if client is None:
        try:
            return dd.get_client()
        except ValueError:
            import dask

            client = dask.config.get("scheduler-address", None)
            if not client:
                raise ValueError(
                    "backend='dask' found no Dask client: pass client=distributed.Client(...) "
                    "or a scheduler address ('tcp://host:8786'), or create a Client first"
                ) from None
    if not isinstance(client, str):
        raise TypeError(f"client: must be a distributed.Client, an address or None, "
                        f"got {type(client).__name__}")
    with _clients_lock:
        cached = _clients.get(client)
        if cached is None or cached.status not in ("running", "connecting", "newly-created"):
            cached = dd.Client(client, set_as_default=False, timeout=CONNECT_TIMEOUT)
            _clients[client] = cached
        return cached


@atexit.register
def close_clients() -> None:
    """Close the clients opened for scheduler addresses (also run at interpreter exit)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for c in clients:
        try:
            c.close(timeout=2)
        except Exception:  # best effort: the scheduler may be gone
            pass


# --------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class TaskSpec:
    """What a worker needs to rebuild a run's plan (small, hashable, picklable)."""

    config: str       # the validated FundConfig as JSON
    seed: int
    kernels: str      # "cython" or "reference": rebuilt by name on the worker
    chunk_size: int   # scenarios per vectorised sub-chunk inside a task

    @classmethod
    def of(cls, plan: Plan) -> TaskSpec:
        return cls(json.dumps(plan.cfg.to_dict(), allow_nan=False), plan.seed,
                   plan.kernels_name, plan.chunk_size)


@functools.lru_cache(maxsize=8)
def _worker_plan(spec: TaskSpec) -> Plan:
    return make_plan(json.loads(spec.config), seed=spec.seed, kernels=spec.kernels,
                     chunk_size=spec.chunk_size, threads=1)


def run_task(spec: TaskSpec, start: int, stop: int) -> dict:
    """Run scenarios [start, stop) on a worker: ``{"chunk": summary, "seconds": by stage}``.

    The summary has run_chunk's shape for the whole range; seconds are summed per stage.
    """
    plan = _worker_plan(spec)
    seconds = dict.fromkeys(CHUNK_STAGES, 0.0)

    def report(kind: str, name: str, s: float) -> None:
        if kind == "done":
            seconds[name] += s

    token = CancelToken()  # a cancel releases the future; the task itself is not interrupted
    parts = [run_chunk(plan, a, min(a + plan.chunk_size, stop), report, token)
             for a in range(start, stop, plan.chunk_size)]
    return {"chunk": concat_chunks(parts), "seconds": seconds}


def concat_chunks(parts: list[dict]) -> dict:
    """One run_chunk-shaped summary of consecutive chunks (arrays joined along scenarios)."""
    if len(parts) == 1:
        return parts[0]

    def cat(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays, axis=0)

    ms: list[ChunkMetrics] = [p["metrics"] for p in parts]
    with_samples = [m.samples for m in ms if m.samples]  # only the first scenarios keep paths
    cm = ChunkMetrics(
        metrics={k: cat([m.metrics[k] for m in ms]) for k in ms[0].metrics},
        yearly={k: cat([m.yearly[k] for m in ms]) for k in ms[0].yearly},
        exit_counts=cat([m.exit_counts for m in ms]),
        tranches=cat([m.tranches for m in ms]),
        irr_flags=cat([m.irr_flags for m in ms]),
        samples={k: cat([s[k] for s in with_samples]) for k in (with_samples or [{}])[0]},
        contract={k: cat([m.contract[k] for m in ms]) for k in ms[0].contract},
        leverage={k: cat([m.leverage[k] for m in ms]) for k in ms[0].leverage},
        leverage_yearly={k: cat([m.leverage_yearly[k] for m in ms]) for k in ms[0].leverage_yearly},
    )
    loans = {k: cat([p["loans"][k] for p in parts]) for k in parts[0]["loans"]}
    return {"start": parts[0]["start"], "stop": parts[-1]["stop"], "metrics": cm, "loans": loans}


# --------------------------------------------------------------------------- client side


def backend(client: Client | str | None = None, task_size: int | None = None,
            retries: int = DEFAULT_RETRIES) -> Backend:
    """The Dask backend for :func:`equihome.run.engine.run_plan` (checks Dask is installed)."""
    require()
    if task_size is not None and task_size < 1:
        raise ValueError(f"task_size: must be at least 1, got {task_size}")
    return functools.partial(run_dask, client=client, task_size=task_size, retries=retries)


backends.register("dask", backend)


def run_dask(plan: Plan, tracker: RunTracker, *, client: Client | str | None = None,
             task_size: int | None = None, retries: int = DEFAULT_RETRIES) -> None:
    """Submit the plan's tasks, feed finished ones to ``tracker``; cancel the rest on exit."""
    dd = require()
    bounds = tracker.split(task_size or DEFAULT_TASK_SIZE)
    try:
        cl = get_client(client)
    except Exception as exc:  # unreachable scheduler, no client: the run fails, with events
        tracker.fail(SimulationError(tracker.current, f"cannot use the Dask cluster: {exc}"))
        return
    spec = TaskSpec.of(plan)
    run_id = uuid.uuid4().hex  # unique keys: identical runs never share (or cancel) tasks
    futures = [cl.submit(run_task, spec, a, b, key=f"equihome-chunk-{run_id}-{a}",
                         retries=retries, pure=False) for a, b in bounds]
    outstanding = set(futures)
    tracker.stage_started(CHUNK_STAGES[0])
    try:
        done = dd.as_completed(futures, loop=cl.loop)
        while outstanding and not tracker.cancel.cancelled:  # a failure cancels too
            for fut in _next_batch(done, tracker.cancel):
                outstanding.discard(fut)
                if fut.status in ("error", "cancelled"):  # cancelled: by the cluster
                    tracker.fail(_failure(fut, tracker.current))
                    break
                try:
                    out = fut.result()  # a result lost with its worker is recomputed first
                except Exception as exc:  # it failed while being recomputed
                    tracker.fail(SimulationError(tracker.current, f"Dask task failed: {exc!r}"))
                    break
                tracker.chunk_finished(out["chunk"], out["seconds"])
    finally:
        if outstanding:
            cl.cancel(list(outstanding))  # frees them on the scheduler and workers
        futures.clear()
        outstanding.clear()


def _next_batch(done: Any, cancel: CancelToken) -> list[Future]:
    """Futures that have finished (waiting for at least one), or [] once cancelled."""
    while not cancel.cancelled:
        if done.has_ready():
            return done.next_batch(block=False)
        cancel.wait(POLL)
    return []


def _failure(fut: Future, module: str) -> SimulationError:
    """The run's failure for a task that raised (a SimulationError names its stage)."""
    if fut.status == "cancelled":
        return SimulationError(module, f"Dask task {fut.key} was cancelled by the cluster")
    exc = fut.exception()  # not re-raised here: a traceback would keep the future alive
    if isinstance(exc, SimulationError):
        return exc
    return SimulationError(module, f"Dask task failed: {type(exc).__name__}: {exc}")
