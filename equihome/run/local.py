"""The local backend: a run's chunks on threads of this process (the default backend).

``simulate(..., backend="local")`` lands here (imported on first use, as the Dask backend
is). The caller's thread is one of the run's ``threads``: it takes chunks from the same list
as ``threads - 1`` helper threads, reports its own stages straight to the engine's
:class:`~equihome.run.engine.RunTracker`, and hands on the helpers' reports, which reach it
through a queue, between its stages and once its chunks are done. With one thread there are
no helpers and no queue. Which thread runs a chunk changes nothing in the result: scenarios
are merged by index.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from equihome.run import backends
from equihome.run.backends import Backend
from equihome.run.engine import Plan, RunTracker, run_chunk


def run_local(plan: Plan, tracker: RunTracker) -> None:
    """Run every chunk of ``plan`` on the caller's thread and ``plan.threads - 1`` helpers;
    the first failure (or a cancel) stops every thread at its next stage."""
    todo = iter(tracker.split(plan.chunk_size))
    take_lock = threading.Lock()
    cancel = tracker.cancel
    events: queue.SimpleQueue = queue.SimpleQueue()  # (kind, payload, seconds) from helpers

    def take() -> tuple[int, int] | None:
        """The next chunk to run, or None when all are taken or the run is stopping."""
        with take_lock:
            return None if cancel.cancelled else next(todo, None)

    def helper() -> None:
        try:
            while (chunk := take()) is not None:
                events.put(("chunk", run_chunk(plan, *chunk, queued, cancel), 0.0))
        except BaseException as exc:  # handed to the caller's thread
            events.put(("fail", exc, 0.0))
        finally:
            events.put(("exit", None, 0.0))

    def queued(kind: str, name: str, seconds: float) -> None:
        events.put((kind, name, seconds))

    running = plan.threads - 1  # helpers that have not exited

    def handle(kind: str, payload: Any, seconds: float) -> None:
        nonlocal running
        if kind == "exit":
            running -= 1
        elif kind == "start":
            tracker.stage_started(payload)
        elif kind == "done":
            tracker.stage_done(payload, seconds)
        elif kind == "chunk":
            tracker.chunk_done(payload)
        elif kind == "fail":
            tracker.fail(payload)

    def own(kind: str, payload: Any, seconds: float) -> None:
        """A report of the caller's own chunk (a stage, or the chunk's summary): the helpers'
        reports first."""
        while True:
            try:
                handle(*events.get_nowait())
            except queue.Empty:
                break
        handle(kind, payload, seconds)

    helpers = [threading.Thread(target=helper, name=f"equihome-chunks-{i}", daemon=True)
               for i in range(plan.threads - 1)]
    for t in helpers:
        t.start()
    try:
        while (chunk := take()) is not None:
            summary = run_chunk(plan, *chunk, own, cancel)
            own("chunk", summary, 0.0)
    except BaseException as exc:  # noqa: BLE001 -- recorded; the tracker's finish() raises it
        tracker.fail(exc)
    while running:
        handle(*events.get())


def _local_backend(client: Any = None, task_size: int | None = None) -> Backend:
    """The local thread backend (it takes no cluster options)."""
    if client is not None or task_size is not None:
        raise ValueError("client, task_size: only used with backend='dask'")
    return run_local


backends.register("local", _local_backend)
