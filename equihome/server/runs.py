"""The run manager: a queue of simulations, a worker pool off the IOLoop, fan-out and replay.

Everything here runs on the asyncio/Tornado event loop except two executors: ``run_pool``
(one thread per concurrent simulation; the engine releases the GIL in its kernels) and
``db_pool`` (one thread, the store's single writer). Engine events cross back to the loop
with ``call_soon_threadsafe``; each becomes a wire message (``simulation_id`` and
``timestamp`` added), is recorded for replay when replayable, and is fanned out to the
simulation's subscribers.

Replay (PROTOCOL.md): a subscriber first receives, in order, every module_started,
module_completed, guardrail_violation and the waterfall intermediate_result so far, then
the latest progress, then the result or error if the run has ended; live messages follow.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..engine import CancelToken, SimulationCancelled, SimulationError, simulate
from ..result import finite_json
from .store import Store, StoreError, utc_now

log = logging.getLogger("equihome.server")

ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled")
REPLAYED = ("module_started", "module_completed", "guardrail_violation")
KEEP_FINISHED = 256  # finished runs kept in memory for fast replay; older ones reload from the db


class Subscriber(Protocol):
    """A connection that takes wire messages (already serialised JSON text)."""

    def send_text(self, text: str) -> None: ...


class NotFound(LookupError):
    """Unknown simulation, or one that belongs to another key."""


class Conflict(RuntimeError):
    """The simulation is in the wrong state for the request."""


class TooManyRuns(RuntimeError):
    """This key already has the maximum number of queued or running simulations."""


def wire(sim_id: str | None, event: dict) -> dict:
    """An engine event as a wire message: type, simulation_id, the fields, timestamp.

    Values are made finite JSON (NaN and Infinity become null) on the way.
    """
    msg = {"type": event["type"], "simulation_id": sim_id}
    msg.update((k, finite_json(v)) for k, v in event.items() if k != "type")
    msg["timestamp"] = utc_now()
    return msg


def dumps(msg: dict) -> str:
    return json.dumps(msg, allow_nan=False, separators=(",", ":"))


def end_message(sim_id: str, error: str | None) -> str:
    """The final ``error`` message of a run the engine did not end itself (no module)."""
    return dumps(wire(sim_id, {"type": "error", "error": error, "module": None}))


@dataclass
class RunState:
    """What the manager knows about one simulation while it is in memory."""

    record: dict
    log: list[str] = field(default_factory=list)      # replayable messages, as sent
    progress: str | None = None                        # latest progress message
    final: str | None = None                           # result or error message
    result_text: str | None = None                     # the result JSON, once completed
    subscribers: set = field(default_factory=set)
    cancel: CancelToken | None = None


class RunManager:
    """Queue, run, cancel, persist and broadcast simulations."""

    def __init__(self, store: Store, workers: int = 2, engine_threads: int = 1,
                 max_active_per_key: int = 100, runner: Callable[..., Any] = simulate):
        self.store = store
        self.workers = workers
        self.engine_threads = engine_threads
        self.max_active_per_key = max_active_per_key
        self.runner = runner
        self.states: dict[str, RunState] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.run_pool = ThreadPoolExecutor(workers, thread_name_prefix="equihome-run")
        self.db_pool = ThreadPoolExecutor(1, thread_name_prefix="equihome-db")
        self.stopping = False
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> int:
        """Re-queue what was queued or running when the server last stopped; start workers."""
        self._loop = asyncio.get_running_loop()
        pending = await self._db(self.store.unfinished)
        for rec in pending:
            rec = await self._db(self.store.update, rec["id"], status="queued", progress=0.0,
                                 started_at=None)
            self.states[rec["id"]] = RunState(rec)
            self.queue.put_nowait(rec["id"])
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        return len(pending)

    async def stop(self) -> None:
        """Stop running simulations (they stay queued/running in the store, re-run at start)."""
        self.stopping = True
        for st in self.states.values():
            if st.cancel is not None:
                st.cancel.cancel()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.run_pool.shutdown(wait=True)
        self.db_pool.shutdown(wait=True)

    async def _db(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.db_pool, functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------------ requests
    def active_count(self, owner: str) -> int:
        return sum(1 for st in self.states.values()
                   if st.record["owner"] == owner and st.record["status"] in ACTIVE)

    async def create(self, owner: str, config: dict, name: str | None, seeded: bool) -> dict:
        """Store and queue a validated config; ``seeded``: the config fixes its own seed."""
        if self.active_count(owner) >= self.max_active_per_key:
            raise TooManyRuns(f"at most {self.max_active_per_key} queued or running simulations "
                              "per API key")
        sim_id = str(uuid.uuid4())
        seed = None if seeded else secrets.randbits(63)
        rec = await self._db(self.store.create, sim_id, owner, config, name=name, seed=seed)
        self.states[sim_id] = RunState(rec)
        self.queue.put_nowait(sim_id)
        log.info("simulation %s queued", sim_id)
        return rec

    async def get(self, owner: str, sim_id: str) -> dict:
        st = self.states.get(sim_id)
        rec = st.record if st else await self._db(self.store.get, sim_id)
        if rec is None or rec["owner"] != owner:
            raise NotFound(sim_id)
        return rec

    async def list(self, owner: str, status: str | None, limit: int, cursor: str | None):
        return await self._db(self.store.list, owner, status=status, limit=limit, cursor=cursor)

    async def result(self, owner: str, sim_id: str) -> str:
        rec = await self.get(owner, sim_id)
        if rec["status"] != "completed":
            raise Conflict(f"simulation is {rec['status']}, not completed")
        st = self.states.get(sim_id)
        if st is not None and st.result_text is not None:
            return st.result_text
        text = await self._db(self.store.load_result, sim_id)
        if text is None:
            raise Conflict("the result is not stored yet")
        return text

    async def cancel(self, owner: str, sim_id: str) -> dict:
        rec = await self.get(owner, sim_id)
        if rec["status"] not in ACTIVE:
            raise Conflict(f"simulation is already {rec['status']}")
        st = self.states[sim_id]
        if rec["status"] == "queued":
            self._finish(st, "cancelled", "cancelled")
        elif st.cancel is not None:
            st.cancel.cancel()  # the engine stops at its next stage; _run records the end
        return st.record

    async def delete(self, owner: str, sim_id: str) -> None:
        rec = await self.get(owner, sim_id)
        st = self.states.pop(sim_id, None)
        if st is not None and rec["status"] in ACTIVE:
            if st.cancel is not None:
                st.cancel.cancel()
            if st.final is None:  # subscribers learn the run ended, as for a cancel
                self._broadcast(st, end_message(sim_id, "cancelled"))
            st.subscribers.clear()
            st.record["status"] = "cancelled"
        await self._db(self.store.delete, sim_id)

    # ------------------------------------------------------------------ subscriptions
    async def subscribe(self, owner: str, sim_id: str, sub: Subscriber) -> None:
        """Replay the simulation's state to ``sub``, then send it live messages."""
        await self.get(owner, sim_id)
        st = self.states.get(sim_id)
        if st is None:  # finished before this server started: replay from the store
            rec = await self._db(self.store.get, sim_id)
            saved = await self._db(self.store.load_events, sim_id) or {}
            st = self.states.setdefault(sim_id, RunState(rec, saved.get("log", []),
                                                         saved.get("progress"), saved.get("final")))
        for text in st.log:
            sub.send_text(text)
        if st.progress is not None:
            sub.send_text(st.progress)
        if st.final is not None:
            sub.send_text(st.final)
        elif st.record["status"] in ACTIVE:
            st.subscribers.add(sub)

    def unsubscribe(self, sim_id: str, sub: Subscriber) -> None:
        st = self.states.get(sim_id)
        if st is not None:
            st.subscribers.discard(sub)

    def queue_depth(self) -> int:
        return sum(1 for st in self.states.values() if st.record["status"] == "queued")

    def running_count(self) -> int:
        return sum(1 for st in self.states.values() if st.record["status"] == "running")

    # ------------------------------------------------------------------ running
    async def _worker(self) -> None:
        while True:
            sim_id = await self.queue.get()
            st = self.states.get(sim_id)
            if st is None or st.record["status"] != "queued":
                continue  # cancelled or deleted while queued
            try:
                await self._run(st)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one run take a worker down
                log.exception("simulation %s: unexpected failure", sim_id)

    async def _run(self, st: RunState) -> None:
        rec = st.record
        sim_id = rec["id"]
        st.log, st.progress, st.final = [], None, None
        st.cancel = CancelToken()
        started = utc_now()
        rec.update(status="running", started_at=started, progress=0.0)
        await self._db(self.store.update, sim_id, status="running", started_at=started,
                       progress=0.0)
        loop = asyncio.get_running_loop()

        def emit(event: dict) -> None:  # engine thread -> loop
            loop.call_soon_threadsafe(self._on_event, st, event)

        job = functools.partial(self.runner, rec["config"], on_event=emit, cancel=st.cancel,
                                threads=self.engine_threads, default_seed=rec["seed"])
        log.info("simulation %s running", sim_id)
        try:
            await loop.run_in_executor(self.run_pool, job)
        except SimulationCancelled:
            if not self.stopping:  # when stopping, it stays unfinished: re-run at next start
                self._finish(st, "cancelled", "cancelled")
        except SimulationError as exc:
            self._finish(st, "failed", str(exc))
        except Exception as exc:  # an engine bug: report it as a failure of the run
            log.exception("simulation %s: engine failure", sim_id)
            self._finish(st, "failed", f"internal error: {exc}")
        else:
            self._finish(st, "completed", None)
        finally:
            st.cancel = None

    def _on_event(self, st: RunState, event: dict) -> None:
        """One engine event, on the loop: record it for replay and fan it out."""
        if st.record["status"] not in ACTIVE:
            return  # deleted or cancelled meanwhile
        if self.stopping and event["type"] == "error":
            return  # shutting down: the run is not over, it resumes at the next start
        msg = wire(st.record["id"], event)
        kind = msg["type"]
        if kind == "result":
            st.result_text = dumps(msg["result"])
        text = dumps(msg)
        if kind == "progress":
            st.progress = text
            st.record["progress"] = msg["progress"]
        elif kind in REPLAYED or (kind == "intermediate_result"
                                  and msg.get("module") == "waterfall_engine"):
            st.log.append(text)
        elif kind == "result":
            st.final = text
            self._end(st, "completed", None, msg.get("execution_time"), msg["timestamp"])
        elif kind == "error":
            st.final = text
            self._end(st, "cancelled" if msg["error"] == "cancelled" else "failed",
                      msg["error"], None, msg["timestamp"])
        self._broadcast(st, text)

    def _broadcast(self, st: RunState, text: str) -> None:
        for sub in list(st.subscribers):
            sub.send_text(text)

    def _end(self, st: RunState, status: str, error: str | None,
             execution_time: float | None = None, finished_at: str | None = None) -> None:
        """Record a run's end in memory and queue its writes, before its last message is sent.

        The single db thread runs writes in order, so a client that saw the last message and
        then asks (list, get, result) finds the run finished. A crash before the write leaves
        the run unfinished in the store, so it is re-run at the next start.
        """
        rec = st.record
        sim_id = rec["id"]
        rec.update(status=status, finished_at=finished_at or utc_now(), error=error,
                   execution_time=execution_time)
        if status == "completed":
            rec["progress"] = 100.0
        result_text = st.result_text if status == "completed" else None
        events = {"log": list(st.log), "progress": st.progress, "final": st.final}
        fields = {k: rec[k] for k in ("status", "progress", "finished_at", "execution_time",
                                      "error")}

        def write() -> None:
            try:
                if result_text is not None:
                    self.store.save_result(sim_id, result_text)
                self.store.save_events(sim_id, events)
                self.store.update(sim_id, **fields)
            except StoreError:
                if sim_id in self.states:
                    raise
                # deleted while its end was being written: nothing left to record

        try:
            self.db_pool.submit(write)
        except RuntimeError:  # shutting down: the run stays unfinished and is re-run
            pass
        log.info("simulation %s %s", sim_id, status)

    def _finish(self, st: RunState, status: str, error: str | None) -> None:
        """After the engine returned: end a run it did not end with an event, then tidy up."""
        if st.record["status"] in ACTIVE and st.record["id"] in self.states:
            if status == "completed":  # the engine returned without its result event
                status, error = "failed", "internal error: the run ended without a result"
            text = end_message(st.record["id"], error)
            st.final = text
            self._end(st, status, error)
            self._broadcast(st, text)
        st.subscribers.clear()
        self._evict()

    def _evict(self) -> None:
        """Forget the oldest finished runs beyond KEEP_FINISHED (the store still has them)."""
        finished = [k for k, st in self.states.items() if st.record["status"] in FINISHED
                    and not st.subscribers]
        for sim_id in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self.states[sim_id]
