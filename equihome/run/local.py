"""The local backend: a run's chunks on threads of this process (the default backend).

``simulate(..., backend="local")`` lands here (imported on first use, as the Dask backend
is). With ``threads`` > 1 the chunks run on a thread pool, whose stage and chunk reports
reach the engine's :class:`~equihome.run.engine.RunTracker` through a queue, on the
caller's thread; with one thread they run on the caller's thread itself, reporting
straight to the tracker, with no hand-off between threads.
"""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from equihome.run import backends
from equihome.run.backends import Backend
from equihome.run.engine import Plan, RunTracker, run_chunk


def run_local(plan: Plan, tracker: RunTracker) -> None:
    """The local backend: chunks of ``plan.chunk_size`` on ``plan.threads`` threads, whose
    stage and chunk reports reach the tracker through a queue, on the caller's thread; with
    one thread, the chunks run on the caller's thread itself (no hand-offs between threads)."""
    bounds = tracker.split(plan.chunk_size)
    cancel = tracker.cancel
    if plan.threads == 1:
        run_inline(plan, tracker, bounds)
        return
    events: queue.Queue = queue.Queue()

    def report(kind: str, name: str, seconds: float) -> None:
        events.put((kind, name, seconds))

    def work(a: int, b: int) -> None:
        try:
            events.put(("chunk", run_chunk(plan, a, b, report, cancel), 0.0))
        except BaseException as exc:  # handed to the orchestrating thread
            events.put(("fail", exc, 0.0))

    with ThreadPoolExecutor(max_workers=plan.threads) as pool:
        futures = [pool.submit(work, a, b) for a, b in bounds]
        delivered, expected = 0, len(futures)
        while delivered < expected:
            kind, obj, seconds = events.get()
            if kind == "start":
                tracker.stage_started(obj)
            elif kind == "done":
                tracker.stage_done(obj, seconds)
            elif kind == "chunk":
                delivered += 1
                tracker.chunk_done(obj)
            else:  # "fail"
                delivered += 1
                tracker.fail(obj)
                for f in futures:
                    f.cancel()
                expected = sum(1 for f in futures if not f.cancelled())


def run_inline(plan: Plan, tracker: RunTracker, bounds: list[tuple[int, int]]) -> None:
    """run_local's chunks one after another on the caller's thread, reporting straight to
    the tracker; the first failure stops the run."""

    def report(kind: str, name: str, seconds: float) -> None:
        if kind == "start":
            tracker.stage_started(name)
        else:
            tracker.stage_done(name, seconds)

    for a, b in bounds:
        try:
            chunk = run_chunk(plan, a, b, report, tracker.cancel)
        except BaseException as exc:  # noqa: BLE001 -- recorded; finish() raises it
            tracker.fail(exc)
            return
        tracker.chunk_done(chunk)


def _local_backend(client: Any = None, task_size: int | None = None) -> Backend:
    """The local thread-pool backend (it takes no cluster options)."""
    if client is not None or task_size is not None:
        raise ValueError("client, task_size: only used with backend='dask'")
    return run_local


backends.register("local", _local_backend)
