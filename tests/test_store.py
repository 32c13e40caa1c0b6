"""Tests of equihome.server.store (records, pagination, results, events, migrations, threads)
and of the run lifecycle (statuses, ``transition``, how the run manager ends a run)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from equihome.run.engine import SimulationError
from equihome.server import store as store_module
from equihome.server.lifecycle import MOVES, IllegalTransition, Status, transition
from equihome.server.runs import Conflict, RunManager, make_run_manager
from equihome.server.store import (
    COMPRESS_OVER,
    MIGRATIONS,
    RECORD_FIELDS,
    STATUSES,
    Store,
    StoreError,
    utc_now,
)

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CONFIG = {"fund": {"size": 100_000_000, "currency": "USD"}, "price_path": {"volatility": {"red": 0.12}},
          "seeds": [1, 2, 3], "note": "Zürich \u2013 ok"}


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "sims.db" if request.param == "file" else ":memory:")
    yield s
    s.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sims.db"


def raw(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Run SQL on a separate connection (what another process would see)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def make(s: Store, n: int, owner: str = "alice", prefix: str = "sim") -> list[str]:
    ids = [f"{prefix}-{owner}-{i:03d}" for i in range(n)]
    for sim_id in ids:
        s.create(sim_id, owner, {"i": sim_id})
    return ids


def test_utc_now_format() -> None:
    assert TIME.match(utc_now())


def test_create_get_update_delete_round_trip(store: Store) -> None:
    rec = store.create("a1", "alice", CONFIG, name="first run", seed=42)
    assert tuple(rec) == RECORD_FIELDS
    assert rec["id"] == "a1" and rec["owner"] == "alice" and rec["name"] == "first run"
    assert rec["status"] == "queued" and rec["progress"] == 0 and rec["seed"] == 42
    assert rec["config"] == CONFIG and TIME.match(rec["created_at"])
    assert rec["started_at"] is None and rec["finished_at"] is None
    assert rec["execution_time"] is None and rec["error"] is None
    assert store.get("a1") == rec
    assert store.get("nope") is None

    started = utc_now()
    rec2 = store.update("a1", status="running", progress=12.5, started_at=started)
    assert rec2 is not None and rec2["status"] == "running" and rec2["progress"] == 12.5
    assert rec2["started_at"] == started and rec2["created_at"] == rec["created_at"]
    rec3 = store.update("a1", status="failed", progress=100, finished_at=utc_now(), execution_time=3.25,
                        error="waterfall_engine: boom", seed=7)
    assert rec3 == store.get("a1")
    assert rec3["error"] == "waterfall_engine: boom" and rec3["execution_time"] == 3.25 and rec3["seed"] == 7
    assert store.update("a1") == rec3
    assert store.update("missing", status="running") is None

    assert store.delete("a1") is True
    assert store.get("a1") is None
    assert store.delete("a1") is False


def test_invalid_input_is_rejected(store: Store) -> None:
    store.create("a1", "alice", CONFIG)
    with pytest.raises(StoreError, match="a1"):
        store.create("a1", "bob", CONFIG)
    with pytest.raises(ValueError, match="status"):
        store.create("a2", "alice", CONFIG, status="done")
    with pytest.raises(ValueError, match="status"):
        store.update("a1", status="paused")
    with pytest.raises(ValueError, match="owner"):
        store.update("a1", owner="mallory")
    with pytest.raises(ValueError, match="config"):
        store.update("a1", config={})
    for bad in (-1, 100.5, float("nan"), None, "50"):
        with pytest.raises(ValueError, match="progress"):
            store.update("a1", progress=bad)
    with pytest.raises(ValueError):
        store.create("a3", "alice", {"x": float("inf")})
    assert store.get("a1")["status"] == "queued"  # type: ignore[index]
    assert [r["id"] for r in store.list("alice")[0]] == ["a1"]


def test_list_newest_first_and_status_filter(store: Store) -> None:
    ids = make(store, 6)
    store.update(ids[1], status="completed")
    store.update(ids[4], status="completed")
    items, cursor = store.list("alice")
    assert [r["id"] for r in items] == ids[::-1] and cursor is None
    assert all(tuple(r) == RECORD_FIELDS for r in items)
    done, cursor = store.list("alice", status="completed")
    assert [r["id"] for r in done] == [ids[4], ids[1]] and cursor is None
    assert store.list("alice", status="cancelled") == ([], None)
    with pytest.raises(ValueError, match="status"):
        store.list("alice", status="bogus")
    for bad in (0, -3, True, 2.5):
        with pytest.raises(ValueError, match="limit"):
            store.list("alice", limit=bad)  # type: ignore[arg-type]


def test_pagination_three_pages_no_duplicates_or_gaps(store: Store) -> None:
    ids = []
    for i in range(25):  # interleave another owner so alice's seqs have holes
        ids.append(store.create(f"a{i:02d}", "alice", {"i": i})["id"])
        store.create(f"b{i:02d}", "bob", {"i": i})
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = store.list("alice", limit=10, cursor=cursor)
        pages += 1
        seen += [r["id"] for r in items]
        assert all(r["owner"] == "alice" for r in items)
        if cursor is None:
            break
        assert isinstance(cursor, str) and re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert pages == 3 and len(seen) == 25 and seen == ids[::-1]
    # a page that ends exactly at the last record has no next cursor
    items, cursor = store.list("alice", limit=25)
    assert len(items) == 25 and cursor is None
    # cursor pagination with a status filter
    for i in range(0, 25, 2):
        store.update(f"a{i:02d}", status="running")
    first, cursor = store.list("alice", status="running", limit=5)
    rest, end = store.list("alice", status="running", limit=50, cursor=cursor)
    assert end is None and [r["id"] for r in first + rest] == [f"a{i:02d}" for i in range(24, -1, -2)]


def test_other_owners_never_listed(store: Store) -> None:
    make(store, 3, owner="alice")
    bob = make(store, 2, owner="bob")
    items, _ = store.list("bob", limit=100)
    assert [r["id"] for r in items] == bob[::-1]
    assert store.list("carol") == ([], None)


@pytest.mark.parametrize("cursor", ["", "!!!!", "not a cursor", "MA", "LTE", "YWJj", "MQ==", "MQ=", " MQ",
                                    base64.urlsafe_b64encode(b"9" * 30).decode()])
def test_bad_cursor_raises_value_error(store: Store, cursor: str) -> None:
    make(store, 3)
    with pytest.raises(ValueError, match="^cursor: "):
        store.list("alice", cursor=cursor)


def test_small_and_large_results(db_path: Path) -> None:
    with Store(db_path) as s:
        s.create("small", "alice", CONFIG)
        s.create("large", "alice", CONFIG)
        s.create("edge", "alice", CONFIG)
        small = json.dumps({"irr": {"p50": 0.081}, "note": "héllo \u2603"}, indent=2)
        large = json.dumps({"paths": [[i * 0.5, "é"] for i in range(20_000)]})
        assert len(large.encode()) > COMPRESS_OVER
        edge = '"' + "x" * (COMPRESS_OVER - 2) + '"'
        assert len(edge.encode()) == COMPRESS_OVER
        assert s.load_result("small") is None
        for sim_id, text in (("small", small), ("large", large), ("edge", edge)):
            s.save_result(sim_id, text)
            assert s.load_result(sim_id) == text
        encodings = dict(raw(db_path, "SELECT simulation_id, encoding FROM results"))
        assert encodings == {"small": "json", "large": "zlib", "edge": "json"}
        stored = raw(db_path, "SELECT length(body) FROM results WHERE simulation_id = 'large'")[0][0]
        assert stored < len(large.encode()) / 2
        s.save_result("small", large)  # replacing switches the encoding
        assert s.load_result("small") == large
        assert raw(db_path, "SELECT encoding FROM results WHERE simulation_id = 'small'") == [("zlib",)]
        with pytest.raises(StoreError, match="ghost"):
            s.save_result("ghost", small)
    with Store(db_path) as s:
        assert s.load_result("large") == large and s.load_result("edge") == edge


def test_events_upsert(store: Store) -> None:
    store.create("a1", "alice", CONFIG)
    assert store.load_events("a1") is None
    state = {"progress": {"progress": 40.0, "module": "exit_simulator"}, "module_completed": []}
    store.save_events("a1", state)
    assert store.load_events("a1") == state
    state2 = {**state, "module_completed": [{"module": "loan_generator", "execution_time": 0.4}]}
    store.save_events("a1", state2)
    assert store.load_events("a1") == state2
    with pytest.raises(StoreError, match="ghost"):
        store.save_events("ghost", state)
    with pytest.raises(ValueError):
        store.save_events("a1", {"x": float("nan")})
    assert store.load_events("a1") == state2


def test_persistence_and_unfinished_after_reopen(db_path: Path) -> None:
    with Store(db_path) as s:
        ids = make(s, 5)
        s.update(ids[0], status="running", started_at=utc_now(), progress=30)
        s.update(ids[2], status="completed", progress=100)
        s.update(ids[3], status="cancelled")
        s.save_result(ids[2], '{"ok": true}')
        before = [s.get(i) for i in ids]
    with Store(db_path) as s:
        assert [s.get(i) for i in ids] == before
        unfinished = s.unfinished()
        assert [r["id"] for r in unfinished] == [ids[0], ids[1], ids[4]]
        assert unfinished[0]["progress"] == 30 and unfinished[0]["config"] == {"i": ids[0]}
        assert s.load_result(ids[2]) == '{"ok": true}'
        new = s.create("later", "alice", {})
        assert s.list("alice", limit=1)[0] == [new]


def test_pragmas(db_path: Path) -> None:
    with Store(db_path) as s:
        assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
        conn = s._conn
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)


def test_migration_current_version_opens_twice(db_path: Path) -> None:
    for _ in range(2):
        with Store(db_path) as s:
            s.create(f"x{len(s.list('alice')[0])}", "alice", {})
    assert raw(db_path, "SELECT version FROM schema_version") == [(len(MIGRATIONS),)] == [(4,)]
    with Store(db_path) as s:
        assert len(s.list("alice")[0]) == 2


def test_version_1_database_gains_kinds(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database written before analyses existed opens with every run a simulation."""
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    raw(db_path, "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY, version INTEGER)")
    for script in store_module._statements(MIGRATIONS[0]):
        raw(db_path, script)
    raw(db_path, "INSERT INTO schema_version VALUES (1, 1)")
    raw(db_path, "INSERT INTO simulations (id, owner, status, config, created_at, seq) "
                 "VALUES ('old', 'alice', 'completed', '{}', '2026-01-01T00:00:00.000Z', 1)")
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with Store(db_path) as s:
        old = s.get("old")
        assert old is not None and old["kind"] == "simulation" and old["params"] is None
        s.create("new", "alice", {"a": 1}, kind="tornado", params={"statistic": "lp_irr:p50"})
        assert s.get("new")["params"] == {"statistic": "lp_irr:p50"}  # type: ignore[index]
        assert [r["id"] for r in s.list("alice", kinds=("tornado",))[0]] == ["new"]
        assert [r["id"] for r in s.list("alice", kinds=("simulation",))[0]] == ["old"]
        assert len(s.list("alice")[0]) == 2


def test_newer_schema_version_is_refused(db_path: Path) -> None:
    Store(db_path).close()
    raw(db_path, "UPDATE schema_version SET version = 999")
    with pytest.raises(StoreError, match=r"999.*\b4\b"):
        Store(db_path)


def test_later_migrations_apply_and_roll_back_atomically(db_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(db_path) as s:
        s.create("a1", "alice", {})
    broken = "CREATE TABLE tags (simulation_id TEXT, tag TEXT); INSERT INTO nowhere VALUES (1);"
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError):
        Store(db_path)
    assert raw(db_path, "SELECT version FROM schema_version") == [(4,)]
    assert raw(db_path, "SELECT name FROM sqlite_master WHERE name = 'tags'") == []
    good = "CREATE TABLE tags (simulation_id TEXT, tag TEXT); CREATE INDEX tags_tag ON tags (tag);"
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, good])
    with Store(db_path) as s:
        assert s.get("a1") is not None
    assert raw(db_path, "SELECT version FROM schema_version") == [(5,)]
    assert raw(db_path, "SELECT count(*) FROM tags") == [(0,)]


def test_concurrent_writers(store: Store) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(50):
                store.create(f"t{t}-{i}", f"owner{t % 2}", {"t": t, "i": i})
                store.update(f"t{t}-{i}", progress=float(i))
                store.list(f"owner{t % 2}", limit=5)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert store.counts()["queued"] == 200
    all_items = store.list("owner0", limit=500)[0] + store.list("owner1", limit=500)[0]
    assert len({r["id"] for r in all_items}) == 200
    for t in range(4):  # each thread's records are listed in its own creation order
        mine = [r["id"] for r in reversed(all_items) if r["id"].startswith(f"t{t}-")]
        assert mine == [f"t{t}-{i}" for i in range(50)]


def test_delete_cascades(db_path: Path) -> None:
    with Store(db_path) as s:
        s.create("a1", "alice", CONFIG)
        s.create("a2", "alice", CONFIG)
        for sim_id in ("a1", "a2"):
            s.save_result(sim_id, '{"r": 1}')
            s.save_events(sim_id, {"progress": 100})
        assert s.delete("a1")
        assert s.load_result("a1") is None and s.load_events("a1") is None
        assert raw(db_path, "SELECT simulation_id FROM results") == [("a2",)]
        assert raw(db_path, "SELECT simulation_id FROM events") == [("a2",)]
        assert s.load_result("a2") == '{"r": 1}' and s.load_events("a2") == {"progress": 100}


def test_counts(store: Store) -> None:
    assert store.counts() == {"queued": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0}
    a = make(store, 5, owner="alice")
    b = make(store, 3, owner="bob")
    store.update(a[0], status="running")
    store.update(a[1], status="completed")
    store.update(a[2], status=Status.FAILED)
    store.update(b[0], status="cancelled")
    store.create("c1", "carol", {}, status="running")
    assert store.counts() == {"queued": 4, "running": 2, "completed": 1, "failed": 1, "cancelled": 1}


def test_statuses_are_the_protocol_strings(db_path: Path) -> None:
    """Status values are stored and answered as the plain strings of PROTOCOL.md."""
    assert STATUSES == ("queued", "running", "completed", "failed", "cancelled")
    with Store(db_path) as s:
        rec = s.create("a1", "alice", {}, status=Status.RUNNING)
        assert rec["status"] is Status.RUNNING and rec["status"] == "running"
        assert json.dumps({"status": rec["status"]}) == '{"status": "running"}'
        s.update("a1", status=Status.COMPLETED)
        assert s.list("alice", status="completed")[0][0]["status"] is Status.COMPLETED
    assert raw(db_path, "SELECT status, typeof(status) FROM simulations") == [("completed", "text")]


def test_closed_store_raises(tmp_path: Path) -> None:
    s = Store(tmp_path / "x.db")
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.get("a1")
    with pytest.raises(StoreError, match="closed"):
        s.create("a1", "alice", {})


# --------------------------------------------------------------------------- the lifecycle


def test_transition_allows_the_lifecycle_and_rejects_every_other_move() -> None:
    allowed = {("queued", "running"), ("queued", "cancelled"), ("running", "completed"),
               ("running", "failed"), ("running", "cancelled"), ("running", "queued")}
    assert {(a, b) for a in MOVES for b in MOVES[a]} == allowed
    for old, new in itertools.product(STATUSES, repeat=2):
        rec = {"id": "s1", "status": old}
        if (old, new) in allowed:
            assert transition(rec, new) is rec and rec["status"] is Status(new)
        else:
            with pytest.raises(IllegalTransition, match=f"s1: cannot move from {old} to {new}"):
                transition(rec, new)  # type: ignore[arg-type]
            assert rec["status"] == old  # unchanged
    with pytest.raises(IllegalTransition, match="completed is final"):
        transition({"id": "s1", "status": "completed"}, Status.RUNNING)  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="status: 'paused' is not one of queued, running"):
        transition({"id": "s1", "status": "queued"}, "paused")  # type: ignore[typeddict-item]


class Listener:
    """A subscriber of the run manager that keeps the wire messages it is sent."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.ended = asyncio.Event()

    def send_text(self, text: str) -> None:
        self.messages.append(json.loads(text))
        if self.messages[-1]["type"] in ("result", "error"):
            self.ended.set()


def result_then_return(config, on_event, **kwargs) -> None:
    on_event({"type": "progress", "progress": 50.0, "module": "metrics", "message": "half"})
    on_event({"type": "result", "result": {"irr": float("nan")}, "execution_time": 0.5})


def return_without_result(config, on_event, **kwargs) -> None:
    on_event({"type": "progress", "progress": 50.0, "module": "metrics", "message": "half"})


def error_then_raise(config, on_event, **kwargs) -> None:
    on_event({"type": "error", "error": "fee_engine: boom", "module": "fee_engine"})
    raise SimulationError("fee_engine", "boom")


async def run_once(runs: RunManager, runner) -> tuple[dict, Listener]:
    """Queue one run of ``runner`` on a started manager; its record and messages at its end."""
    runs.runner = runner
    rec = await runs.create("alice", {"x": 1}, None, seeded=True)
    listener = Listener()
    await runs.subscribe("alice", rec["id"], listener)
    await asyncio.wait_for(listener.ended.wait(), 30)
    return await runs.get("alice", rec["id"]), listener


def test_a_run_ends_once_by_one_path_whoever_ends_it(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Its result event, an error event then a raise, or the engine returning without a
    result: each run ends exactly once, with one final message, and the store agrees."""

    async def body() -> list[dict]:
        runs = make_run_manager(str(tmp_path / "runs.db"), workers=1)
        await runs.start()
        try:
            done, listener = await run_once(runs, result_then_return)
            assert done["status"] is Status.COMPLETED and done["progress"] == 100.0
            assert done["execution_time"] == 0.5 and done["error"] is None
            assert [m["type"] for m in listener.messages] == ["progress", "result"]
            assert listener.messages[-1]["result"] == {"irr": None}  # finite JSON
            assert await runs.result("alice", done["id"]) == '{"irr":null}'
            with pytest.raises(Conflict, match="already completed"):
                await runs.cancel("alice", done["id"])

            failed, listener = await run_once(runs, error_then_raise)
            assert failed["status"] is Status.FAILED and failed["error"] == "fee_engine: boom"
            assert [m["type"] for m in listener.messages] == ["error"]

            # one worker: this run starts once the raise above has been handled
            empty, listener = await run_once(runs, return_without_result)
            assert empty["status"] is Status.FAILED
            assert empty["error"] == "internal error: the run ended without a result"
            assert [m["type"] for m in listener.messages] == ["progress", "error"]
        finally:
            await runs.stop()  # waits for the end writes, closes the store, frees the file
        records = [done, failed, empty]
        with Store(tmp_path / "runs.db") as store:  # what the next server would find
            assert [store.get(r["id"]) for r in records] == records
            assert store.load_result(done["id"]) == '{"irr":null}'
            assert store.load_result(failed["id"]) is None
        return records

    with caplog.at_level(logging.WARNING, logger="equihome.server"):
        asyncio.run(body())
    assert caplog.records == []  # no second end (an illegal move) and no failed write


def test_a_failed_background_write_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The end of a run is written in the background; if that write fails, the log says so."""

    async def body() -> str:
        runs = make_run_manager(str(tmp_path / "runs.db"), workers=1)

        def broken(*args, **kwargs) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        runs.store.save_events = broken  # type: ignore[method-assign]
        await runs.start()
        try:
            done, _ = await run_once(runs, result_then_return)
        finally:
            await runs.stop()
        return done["id"]

    with caplog.at_level(logging.ERROR, logger="equihome.server"):
        sim_id = asyncio.run(body())
    failures = [r for r in caplog.records if "writing the end of simulation" in r.getMessage()]
    assert len(failures) == 1 and sim_id in failures[0].getMessage(), caplog.text
    assert "disk I/O error" in caplog.text
