"""The run manager: a queue of simulations, a worker pool off the IOLoop, fan-out and replay.

Everything here runs on the asyncio/Tornado event loop except two executors: ``run_pool``
(one thread per concurrent simulation; the engine releases the GIL in its kernels) and
``db_pool`` (one thread, the store's single writer). Engine events cross back to the loop
with ``call_soon_threadsafe``; each becomes a wire message (``simulation_id`` and
``timestamp`` added), is recorded for replay when replayable, and is fanned out to the
simulation's subscribers.

A run's status changes only through :func:`~.lifecycle.transition`, and a run ends only
through :meth:`RunManager._conclude`, whoever ends it: its own ``result`` or ``error``
event, the engine returning or raising, a cancel while queued, or a delete.

Replay (PROTOCOL.md): a subscriber first receives, in order, every module_started,
module_completed, guardrail_violation and the waterfall intermediate_result so far (for an
analysis: every finished row), then the latest progress, then the result or error if the
run has ended; live messages follow.

A simulation's per-scenario arrays (``equihome.io.scenario_arrays``, compact binary) are
encoded on its run thread when the engine returns, travel to the loop with its ``result``
event, and are written with the result; ``GET .../scenarios`` reads them from the store.

An analysis (``kind`` "stress", "tornado", "breakeven" or "sweep") is a run like any other:
the same queue, lifecycle, store, ownership and messages; it runs
``equihome.run.analyses.run_analysis`` instead of ``simulate``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import os
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from equihome.io.result import dumps
from equihome.io.scenario_arrays import ScenarioArrays
from equihome.run.analyses import run_analysis
from equihome.run.engine import CancelToken, SimulationCancelled, SimulationError, simulate
from equihome.server.dbguard import ServerLock
from equihome.server.lifecycle import ACTIVE, FINISHED, EventState, SimulationRecord, Status, transition
from equihome.server.store import SIMULATION, Store, StoreError, utc_now
from equihome.server.tapes import with_tapes

log = logging.getLogger("equihome.server")

REPLAYED = ("module_started", "module_completed", "guardrail_violation")
KEEP_FINISHED = 256  # finished runs kept in memory for fast replay; older ones reload from the db
CANCELLED = "cancelled"  # the error text of a cancelled run (PROTOCOL.md)

#: JSON text as the server sends and stores it: ``equihome.io.result.dumps`` (finite: NaN and
#: Infinity become null), compact.
json_text = functools.partial(dumps, separators=(",", ":"))


def json_text_with(msg: dict, key: str, text: str) -> str:
    """``json_text(msg)`` for a ``msg`` whose ``key`` is already serialised as ``text``.

    The same bytes, but a large value (a run's result, kept apart as its own text) is
    serialised once instead of twice.
    """
    return "{" + ",".join(f"{json_text(k)}:{text if k == key else json_text(v)}"
                          for k, v in msg.items()) + "}"


class Subscriber(Protocol):
    """A connection that takes wire messages (already serialised JSON text)."""

    def send_text(self, text: str) -> None: ...


class NotFound(LookupError):
    """Unknown simulation, or one that belongs to another key."""


class NotStored(LookupError):
    """A completed run whose per-scenario arrays were never stored (it finished before the
    server kept them)."""


class Conflict(RuntimeError):
    """The simulation is in the wrong state for the request."""


class TooManyRuns(RuntimeError):
    """This key already has the maximum number of queued or running simulations."""


class QuotaExceeded(RuntimeError):
    """This key stores as many runs or bytes as it may (and pruning is off or not enough)."""


@dataclass
class Quota:
    """What one key may keep stored; ``prune``: make room by deleting its oldest finished runs."""

    runs: int = 10_000
    bytes: int = 1024 * 1024 * 1024
    prune: bool = False


class FairQueue:
    """Queued run ids, one FIFO per owner, served round-robin between owners.

    One key's long queue never blocks another key's runs: each ``get`` takes the oldest
    run of the owner served longest ago. Used on the event loop only.
    """

    def __init__(self) -> None:
        self.owners: dict[str, collections.deque[str]] = {}   # insertion order = turn order
        self.ready = asyncio.Semaphore(0)

    def put(self, owner: str, run_id: str) -> None:
        self.owners.setdefault(owner, collections.deque()).append(run_id)
        self.ready.release()

    async def get(self) -> str:
        await self.ready.acquire()
        owner = next(iter(self.owners))
        runs = self.owners.pop(owner)
        run_id = runs.popleft()
        if runs:
            self.owners[owner] = runs  # back of the line
        return run_id


def wire(sim_id: str | None, event: dict) -> dict:
    """An engine event as a wire message: type, simulation_id, the fields, timestamp.

    Its values become finite JSON (NaN and Infinity: null) when :data:`json_text` writes it.
    """
    msg = {"type": event["type"], "simulation_id": sim_id}
    msg.update((k, v) for k, v in event.items() if k != "type")
    msg["timestamp"] = utc_now()
    return msg


def end_message(sim_id: str, error: str | None) -> str:
    """The final ``error`` message of a run the engine did not end itself (no module)."""
    return json_text(wire(sim_id, {"type": "error", "error": error, "module": None}))


@dataclass
class RunState:
    """What the manager knows about one simulation while it is in memory."""

    record: SimulationRecord
    log: list[str] = field(default_factory=list)      # replayable messages, as sent
    progress: str | None = None                        # latest progress message
    final: str | None = None                           # result or error message
    result_text: str | None = None                     # the result JSON, once completed
    scenarios: bytes | None = None                     # compact arrays until written
    subscribers: set[Subscriber] = field(default_factory=set)
    cancel: CancelToken | None = None

    def events(self) -> EventState:
        """The replay state, as the store keeps it."""
        return {"log": list(self.log), "progress": self.progress, "final": self.final}


def make_run_manager(db: str, *, workers: int = 0, max_active: int = 100,
                     dask_scheduler: str | None = None, quota: Quota | None = None,
                     logger: logging.Logger = log) -> RunManager:
    """The run manager of a server, standalone or the Jupyter extension, with its store.

    db: the SQLite file (its folder is created) or ``":memory:"``. workers: simulations run
    at once (0: one per CPU); each gets ``cpus // workers`` engine threads. max_active:
    queued or running simulations per key. quota: what a key may keep stored (default
    10,000 runs and 1 GiB, refused beyond). dask_scheduler: run simulations as Dask tasks
    on the cluster at this address (the messages and results are unchanged); None or ""
    runs them on local threads. Start it with ``await runs.start()``.
    """
    if db != ":memory:":
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    lock = ServerLock(db)  # StoreError when another server uses this database
    try:
        store = Store(db)
    except BaseException:
        lock.release()
        raise
    cpus = os.cpu_count() or 1
    workers = workers if workers > 0 else cpus
    runner: Callable[..., Any] = simulate
    analyst: Callable[..., Any] = run_analysis
    if dask_scheduler:
        runner = functools.partial(simulate, backend="dask", client=dask_scheduler)
        analyst = functools.partial(run_analysis, backend="dask", client=dask_scheduler)
        logger.info("simulations run on the Dask cluster at %s", dask_scheduler)
    manager = RunManager(store, workers=workers, engine_threads=max(1, cpus // workers),
                         max_active_per_key=max_active, runner=runner, analyst=analyst,
                         quota=quota)
    manager.lock = lock
    return manager


class RunManager:
    """Queue, run, cancel, persist and broadcast simulations."""

    def __init__(self, store: Store, workers: int = 2, engine_threads: int = 1,
                 max_active_per_key: int = 100, runner: Callable[..., Any] = simulate,
                 analyst: Callable[..., Any] = run_analysis, quota: Quota | None = None):
        self.store = store
        self.workers = workers
        self.engine_threads = engine_threads
        self.max_active_per_key = max_active_per_key
        self.runner = runner      # runs a simulation's config
        self.analyst = analyst    # runs an analysis request
        self.quota = quota or Quota()
        self.states: dict[str, RunState] = {}
        self.queue = FairQueue()
        self.admitting: collections.Counter[str] = collections.Counter()  # creations in flight
        self.run_pool = ThreadPoolExecutor(workers, thread_name_prefix="equihome-run")
        self.db_pool = ThreadPoolExecutor(1, thread_name_prefix="equihome-db")
        self.stopping = False
        self._tasks: list[asyncio.Task] = []
        self._writes: set[asyncio.Future] = set()  # background store writes not yet done
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lock: ServerLock | None = None  # the database's single-writer lock, if held

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> int:
        """Re-queue what was queued or running when the server last stopped; start workers."""
        self._loop = asyncio.get_running_loop()
        pending = await self._db(self.store.unfinished)
        for rec in pending:
            if rec["status"] == Status.RUNNING:
                transition(rec, Status.QUEUED)  # stopped mid-run: re-run from the start
            rec = await self._db(self.store.update, rec["id"], status=rec["status"],
                                 progress=0.0, started_at=None)
            self.states[rec["id"]] = RunState(rec)
            self.queue.put(rec["owner"], rec["id"])
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
        await asyncio.gather(*self._writes, return_exceptions=True)  # failures: logged
        self.run_pool.shutdown(wait=True)
        self.db_pool.shutdown(wait=True)
        self.close()

    def close(self) -> None:
        """Close the store and free the database for another server (idempotent; after
        :meth:`stop`, or instead of it when the manager never started)."""
        self.store.close()
        if self.lock is not None:
            self.lock.release()

    async def _db(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.db_pool, functools.partial(fn, *args, **kwargs))

    def _write_later(self, fn: Callable[[], None], what: str) -> None:
        """Run a store write on the db thread without waiting for it.

        Writes run in submission order, before any later ``_db`` call. A failure is logged
        (never lost); :meth:`stop` waits for the writes still pending.
        """
        try:
            done = self.db_pool.submit(fn)
        except RuntimeError:  # the pool is shut down: the server is stopping
            log.warning("%s not written (shutting down): the run is re-run at the next start",
                        what)
            return
        waiter = asyncio.wrap_future(done, loop=self._loop)
        self._writes.add(waiter)
        waiter.add_done_callback(functools.partial(self._written, what))

    def _written(self, what: str, waiter: asyncio.Future) -> None:
        self._writes.discard(waiter)
        if not waiter.cancelled() and waiter.exception() is not None:
            log.error("writing %s failed", what, exc_info=waiter.exception())

    # ------------------------------------------------------------------ requests
    def active_count(self, owner: str) -> int:
        """Queued or running runs of ``owner``, counting creations not yet stored."""
        return self.admitting[owner] + sum(
            1 for st in self.states.values()
            if st.record["owner"] == owner and st.record["status"] in ACTIVE)

    async def create(self, owner: str, config: dict, name: str | None, seeded: bool,
                     kind: str = SIMULATION, params: dict | None = None) -> SimulationRecord:
        """Store and queue a validated config (and an analysis's ``kind`` and ``params``);
        ``seeded``: the config fixes its own seed."""
        # checked and reserved in one step on the loop, before the awaited insert: racing
        # requests of one key cannot all pass the check
        if self.active_count(owner) >= self.max_active_per_key:
            raise TooManyRuns(f"at most {self.max_active_per_key} queued or running simulations "
                              "per API key")
        self.admitting[owner] += 1
        try:
            pruned = await self._db(self._make_room, owner,
                                    len(dumps(config)) + len(dumps(params)))
            for gone in pruned:
                self.states.pop(gone, None)
            sim_id = str(uuid.uuid4())
            seed = None if seeded else secrets.randbits(63)
            rec = await self._db(self.store.create, sim_id, owner, config, name=name, seed=seed,
                                 kind=kind, params=params)
            self.states[sim_id] = RunState(rec)
        finally:
            self.admitting[owner] -= 1
            if not self.admitting[owner]:
                del self.admitting[owner]
        self.queue.put(owner, sim_id)
        log.info("%s %s queued", kind, sim_id)
        return rec

    def _make_room(self, owner: str, adding: int) -> list[str]:
        """On the db thread: QuotaExceeded unless ``owner`` may store one more run of about
        ``adding`` bytes, after deleting its oldest finished runs when pruning is on (their
        ids are returned, for the loop to forget)."""
        q = self.quota
        pruned: list[str] = []
        while True:
            runs, used = self.store.usage(owner)
            if runs + 1 <= q.runs and used + adding <= q.bytes:
                return pruned
            oldest = self.store.oldest_finished(owner, 1) if q.prune else []
            if not oldest:
                raise QuotaExceeded(
                    f"this key stores {runs:,} runs ({used / 2**20:,.1f} MiB); the quota is "
                    f"{q.runs:,} runs and {q.bytes / 2**20:,.0f} MiB: delete finished runs "
                    "(DELETE /api/simulations/{id}), or run the server with --prune-oldest")
            for sim_id in oldest:
                self.store.delete(sim_id)
                pruned.append(sim_id)
                log.info("pruned finished run %s of a key over its storage quota", sim_id)

    async def get(self, owner: str, sim_id: str,
                  kinds: tuple[str, ...] | None = None) -> SimulationRecord:
        """The record of ``owner``'s run ``sim_id`` (of ``kinds``, any when None); NotFound."""
        st = self.states.get(sim_id)
        rec = st.record if st else await self._db(self.store.get, sim_id)
        if rec is None or rec["owner"] != owner or (kinds is not None and rec["kind"] not in kinds):
            raise NotFound(sim_id)
        return rec

    async def list(self, owner: str, status: str | None, limit: int, cursor: str | None,
                   kinds: tuple[str, ...] | None = None):
        return await self._db(self.store.list, owner, status=status, limit=limit, cursor=cursor,
                              kinds=kinds)

    async def result(self, owner: str, sim_id: str, kinds: tuple[str, ...] | None = None) -> str:
        rec = await self.get(owner, sim_id, kinds)
        if rec["status"] != Status.COMPLETED:
            raise Conflict(f"simulation is {rec['status']}, not completed")
        st = self.states.get(sim_id)
        if st is not None and st.result_text is not None:
            return st.result_text
        text = await self._db(self.store.load_result, sim_id)
        if text is None:
            raise Conflict("the result is not stored yet")
        return text

    async def scenarios(self, owner: str, sim_id: str,
                        kinds: tuple[str, ...] | None = None) -> bytes:
        """The per-scenario arrays of ``owner``'s completed run, as the compact binary;
        NotFound, Conflict (not completed) or NotStored."""
        rec = await self.get(owner, sim_id, kinds)
        if rec["status"] != Status.COMPLETED:
            raise Conflict(f"simulation is {rec['status']}, not completed")
        blob = await self._db(self.store.load_scenarios, sim_id)  # after the end's write
        if blob is None:
            raise NotStored(f"simulation {sim_id} has no stored per-scenario arrays (it "
                            "finished before this server kept them); run it again")
        return blob

    async def cancel(self, owner: str, sim_id: str,
                     kinds: tuple[str, ...] | None = None) -> SimulationRecord:
        rec = await self.get(owner, sim_id, kinds)
        if rec["status"] in FINISHED:
            raise Conflict(f"simulation is already {rec['status']}")
        st = self.states.get(sim_id)
        if st is None:  # finished meanwhile and evicted from memory
            raise Conflict(f"simulation is already {rec['status']}")
        if rec["status"] == Status.QUEUED:
            self._conclude(st, Status.CANCELLED, CANCELLED)
        elif st.cancel is not None:
            st.cancel.cancel()  # the engine stops at its next stage; its end concludes the run
        return st.record

    async def delete(self, owner: str, sim_id: str, kinds: tuple[str, ...] | None = None) -> None:
        rec = await self.get(owner, sim_id, kinds)
        st = self.states.pop(sim_id, None)
        if st is not None and rec["status"] in ACTIVE:
            if st.cancel is not None:
                st.cancel.cancel()
            # subscribers learn the run ended, as for a cancel; the record goes just below
            self._conclude(st, Status.CANCELLED, CANCELLED, persist=False)
        await self._db(self.store.delete, sim_id)

    # ------------------------------------------------------------------ subscriptions
    async def subscribe(self, owner: str, sim_id: str, sub: Subscriber) -> bool:
        """Replay the simulation's state to ``sub``, then send it live messages; False when the
        run had already ended (the replay was everything)."""
        await self.get(owner, sim_id)
        st = self.states.get(sim_id)
        if st is None:  # finished before this server started: replay from the store
            rec = await self._db(self.store.get, sim_id)
            if rec is None:  # deleted meanwhile
                raise NotFound(sim_id)
            saved = await self._db(self.store.load_events, sim_id) or {}
            st = self.states.setdefault(sim_id, RunState(rec, saved.get("log", []),
                                                         saved.get("progress"), saved.get("final")))
        for text in st.log:
            sub.send_text(text)
        if st.progress is not None:
            sub.send_text(st.progress)
        if st.final is not None:
            sub.send_text(st.final)
            return False
        if st.record["status"] in ACTIVE:
            st.subscribers.add(sub)
            return True
        return False

    def unsubscribe(self, sim_id: str, sub: Subscriber) -> None:
        st = self.states.get(sim_id)
        if st is not None:
            st.subscribers.discard(sub)

    def queue_depth(self) -> int:
        return sum(1 for st in self.states.values() if st.record["status"] == Status.QUEUED)

    def running_count(self) -> int:
        return sum(1 for st in self.states.values() if st.record["status"] == Status.RUNNING)

    # ------------------------------------------------------------------ running
    async def _worker(self) -> None:
        while True:
            sim_id = await self.queue.get()
            st = self.states.get(sim_id)
            if st is None or st.record["status"] != Status.QUEUED:
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
        transition(rec, Status.RUNNING)
        rec["started_at"], rec["progress"] = utc_now(), 0.0
        await self._db(self.store.update, sim_id, status=Status.RUNNING,
                       started_at=rec["started_at"], progress=0.0)
        loop = asyncio.get_running_loop()
        held: list[dict] = []  # a simulation's result event, sent on with its arrays

        def emit(event: dict) -> None:  # engine thread -> loop
            if event.get("type") == "result" and rec["kind"] == SIMULATION:
                held.append(event)
                return
            loop.call_soon_threadsafe(self._on_event, st, event)

        options = dict(on_event=emit, cancel=st.cancel, threads=self.engine_threads,
                       default_seed=rec["seed"])

        def simulation() -> Any:  # on the run thread: the result goes on with its arrays
            # a config naming an uploaded loan tape (tape:<id>) gets its rows now (tapes)
            out = with_tapes(self.runner, self.store)(rec["config"], **options)
            if held:
                loop.call_soon_threadsafe(self._on_event, st, held[0],
                                          scenario_blob(sim_id, out, held[0]))
            return out

        job: Callable[[], Any] = simulation
        if rec["kind"] != SIMULATION:
            request = {"kind": rec["kind"], "config": rec["config"], "params": rec["params"]}
            job = functools.partial(with_tapes(self.analyst, self.store, analysis=True),
                                    request, **options)
        log.info("%s %s running", rec["kind"], sim_id)
        try:
            await loop.run_in_executor(self.run_pool, job)
        except SimulationCancelled:
            if not self.stopping:  # when stopping, it stays unfinished: re-run at next start
                self._conclude(st, Status.CANCELLED, CANCELLED)
        except SimulationError as exc:
            self._conclude(st, Status.FAILED, str(exc))
        except Exception as exc:  # an engine bug: report it as a failure of the run
            log.exception("simulation %s: engine failure", sim_id)
            self._conclude(st, Status.FAILED, f"internal error: {exc}")
        else:  # its result event has concluded it; if it never came, that is a failure
            self._conclude(st, Status.FAILED, "internal error: the run ended without a result")
        finally:
            st.cancel = None

    def _on_event(self, st: RunState, event: dict, scenarios: bytes | None = None) -> None:
        """One engine event, on the loop: record it for replay and fan it out (a result
        comes with its compact per-scenario arrays, written with it)."""
        if st.record["status"] in FINISHED:
            return  # ended meanwhile (cancelled or deleted)
        if self.stopping and event["type"] == "error":
            return  # shutting down: the run is not over, it resumes at the next start
        msg = wire(st.record["id"], event)
        kind = msg["type"]
        if kind == "result":
            st.result_text = json_text(msg["result"])
            st.scenarios = scenarios
            text = json_text_with(msg, "result", st.result_text)
            self._conclude(st, Status.COMPLETED, None, text, msg.get("execution_time"),
                           msg["timestamp"])
            return
        text = json_text(msg)
        if kind == "error":
            status = Status.CANCELLED if msg["error"] == CANCELLED else Status.FAILED
            self._conclude(st, status, msg["error"], text, finished_at=msg["timestamp"])
            return
        if kind == "progress":
            st.progress = text
            st.record["progress"] = msg["progress"]
        elif kind in REPLAYED or (kind == "intermediate_result" and (
                msg.get("module") == "waterfall_engine" or "row" in (msg.get("data") or {}))):
            st.log.append(text)
        self._broadcast(st, text)

    def _broadcast(self, st: RunState, text: str) -> None:
        for sub in list(st.subscribers):
            sub.send_text(text)

    def _conclude(self, st: RunState, status: Status, error: str | None,
                  final: str | None = None, execution_time: float | None = None,
                  finished_at: str | None = None, persist: bool = True) -> None:
        """End a run: the one path to a final status, whoever ends it. A no-op once ended.

        The end is recorded in memory and its store write queued (unless ``persist`` is
        false: the record is being deleted) before the final message (``final``, or an
        ``error`` without a module) goes to the subscribers. The single db thread runs
        writes in order, so a client that saw the last message and then asks (list, get,
        result) finds the run finished. A crash before the write leaves the run unfinished
        in the store, so it is re-run at the next start.
        """
        rec = st.record
        if rec["status"] in FINISHED:
            return  # already ended: by its own result or error, a cancel or a delete
        transition(rec, status)
        rec["finished_at"] = finished_at or utc_now()
        rec["error"], rec["execution_time"] = error, execution_time
        if status == Status.COMPLETED:
            rec["progress"] = 100.0
        st.final = final if final is not None else end_message(rec["id"], error)
        if persist:
            self._persist_end(st)
        log.info("simulation %s %s", rec["id"], status)
        self._broadcast(st, st.final)
        for sub in st.subscribers:
            ended = getattr(sub, "run_ended", None)
            if ended is not None:
                ended(rec["id"], persist)
        st.subscribers.clear()
        self._evict()

    def _persist_end(self, st: RunState) -> None:
        """Queue the writes of a run's end: its result, its replay state, its record."""
        rec = st.record
        sim_id = rec["id"]
        result_text = st.result_text if rec["status"] == Status.COMPLETED else None
        scenarios = st.scenarios if result_text is not None else None
        st.scenarios = None  # the write below holds it; memory keeps no arrays
        events = st.events()
        fields = {k: rec[k] for k in ("status", "progress", "finished_at", "execution_time",
                                      "error")}

        def write() -> None:
            try:
                if result_text is not None:
                    self.store.save_result(sim_id, result_text)
                if scenarios is not None:
                    self.store.save_scenarios(sim_id, scenarios)
                self.store.save_events(sim_id, events)
                self.store.update(sim_id, **fields)
            except StoreError:
                if self.store.get(sim_id) is not None:
                    raise
                # deleted while its end was being written: nothing left to record

        self._write_later(write, f"the end of simulation {sim_id} ({rec['status']})")

    def _evict(self) -> None:
        """Forget the oldest finished runs beyond KEEP_FINISHED (the store still has them)."""
        finished = [k for k, st in self.states.items() if st.record["status"] in FINISHED
                    and not st.subscribers]
        for sim_id in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self.states[sim_id]


def scenario_blob(sim_id: str, result: Any, event: dict) -> bytes | None:
    """The compact per-scenario arrays of a simulation's result (on its run thread), or None
    when the runner gave none (logged): the run still completes, only without them."""
    scenarios = getattr(result, "scenarios", None)
    if scenarios is None:
        log.info("simulation %s: the runner returned no per-scenario arrays", sim_id)
        return None
    try:
        data = event["result"]
        arrays = ScenarioArrays.of(scenarios, data.get("seed"))
        if arrays.metrics and arrays.num_simulations != data.get("num_simulations"):
            raise ValueError(f"{arrays.num_simulations} scenarios where the result has "
                             f"{data.get('num_simulations')}")
        return arrays.to_bytes()
    except Exception:  # never lose the result for its arrays
        log.exception("simulation %s: per-scenario arrays not stored", sim_id)
        return None
