"""SQLite persistence for simulations: records, final results, per-scenario arrays (the
compact binary of ``equihome.io.scenario_arrays``), replayable event state, and uploaded
loan tapes (their validated rows as JSON text).

One connection guarded by an ``RLock``, every write an explicit ``BEGIN IMMEDIATE`` transaction, so it is
safe from several threads. Times are ISO 8601 UTC strings with milliseconds and ``Z`` (``utc_now``)."""

from __future__ import annotations

import base64
import binascii
import builtins
import json
import math
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypedDict

from equihome.server.lifecycle import (
    ACTIVE,
    RECORD_FIELDS,
    STATUSES,
    EventState,
    SimulationRecord,
    Status,
    as_status,
)

__all__ = ["COMPRESS_OVER", "MIGRATIONS", "RECORD_FIELDS", "STATUSES", "Store", "StoreError", "TapeRecord",
           "utc_now"]

UPDATABLE = frozenset({"status", "progress", "started_at", "finished_at", "execution_time", "error", "seed"})
COMPRESS_OVER = 64 * 1024  # bytes of UTF-8 JSON text above which a result is stored zlib-compressed

# MIGRATIONS[i] brings the database from schema version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE simulations (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT,
        status TEXT NOT NULL CHECK (status IN ('queued','running','completed','failed','cancelled')),
        progress REAL NOT NULL DEFAULT 0, config TEXT NOT NULL, seed INTEGER, created_at TEXT NOT NULL,
        started_at TEXT, finished_at TEXT, execution_time REAL, error TEXT, seq INTEGER NOT NULL);
    CREATE UNIQUE INDEX simulations_seq ON simulations (seq);
    CREATE INDEX simulations_owner_seq ON simulations (owner, seq DESC);
    CREATE INDEX simulations_status_seq ON simulations (status, seq);
    CREATE TABLE results (
        simulation_id TEXT PRIMARY KEY REFERENCES simulations (id) ON DELETE CASCADE,
        encoding TEXT NOT NULL, body BLOB NOT NULL);
    CREATE TABLE events (
        simulation_id TEXT PRIMARY KEY REFERENCES simulations (id) ON DELETE CASCADE,
        body TEXT NOT NULL);
    """,
    """
    ALTER TABLE simulations ADD COLUMN kind TEXT NOT NULL DEFAULT 'simulation';
    ALTER TABLE simulations ADD COLUMN params TEXT;
    CREATE INDEX simulations_owner_kind_seq ON simulations (owner, kind, seq DESC);
    """,
    """
    CREATE TABLE scenarios (
        simulation_id TEXT PRIMARY KEY REFERENCES simulations (id) ON DELETE CASCADE,
        body BLOB NOT NULL);
    """,
    # uploaded loan tapes (POST /api/loan-tapes): the validated rows as compact JSON text,
    # its size in UTF-8 bytes (counted in the owner's stored-bytes quota)
    """
    CREATE TABLE loan_tapes (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at TEXT NOT NULL,
        row_count INTEGER NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL,
        seq INTEGER NOT NULL);
    CREATE INDEX loan_tapes_owner_seq ON loan_tapes (owner, seq DESC);
    """,
]
SIMULATION = "simulation"  # the kind of a plain run; analyses are named by their kind
SCHEMA_VERSION = len(MIGRATIONS)


class TapeRecord(TypedDict):
    """A stored loan tape without its rows: id, owner, created_at, rows (loans), bytes (of
    the rows' JSON text, UTF-8)."""

    id: str
    owner: str
    created_at: str
    rows: int
    bytes: int


class StoreError(RuntimeError):
    """The database cannot be used as asked (newer schema, closed store, unknown or duplicate id)."""


def utc_now() -> str:
    """Current time as ISO 8601 UTC with milliseconds and ``Z``, e.g. ``2026-11-27T10:20:31.123Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _statements(script: str) -> Iterator[str]:
    """Split an SQL script into complete statements (so it can run inside our own transaction)."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending
            pending = ""
    if pending.strip(" \t\r\n;"):  # pragma: no cover - a broken migration script
        raise StoreError(f"incomplete SQL statement in migration: {pending.strip()[:80]!r}")


def private_file(path: str) -> None:
    """Create ``path`` readable by its owner only (0600), or make an existing one so; SQLite
    gives its -wal and -shm files the database file's permissions."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _dumps(value: Any) -> str:
    """Compact JSON that refuses NaN and Infinity (ValueError) rather than change them.

    Not ``equihome.io.result.dumps``, which turns them into null: what the store is given is
    stored exactly or refused, never silently altered.
    """
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode("ascii")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: Any) -> int:
    if not isinstance(cursor, str) or not cursor:
        raise ValueError("cursor: must be a non-empty string")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("cursor: not a valid cursor") from None
    if not text.isdigit() or _encode_cursor(int(text)) != cursor or not 0 < int(text) < 2**63:
        raise ValueError("cursor: not a valid cursor")
    return int(text)


class Store:
    """Synchronous, thread-safe SQLite store of simulation records; ``path`` may be ``":memory:"``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        if self.path != ":memory:":
            try:
                private_file(self.path)
            except OSError as exc:
                raise StoreError(f"database {self.path!r} cannot be opened: {exc.strerror or exc}; "
                                 "check the path and its permissions") from None
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            for pragma in ("busy_timeout=5000", "journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                self._conn.execute(f"PRAGMA {pragma}").fetchall()
            self._conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError as exc:  # not a database, corrupt, unreadable
            self.close()
            raise StoreError(f"database {self.path!r} cannot be opened: {exc}. Move the file aside "
                             "(or restore a backup) and start again; a new database is created "
                             "where none exists") from None
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _migrate(self) -> None:
        """Apply ``MIGRATIONS[version:]`` and record the new version, all in one transaction."""
        target = len(MIGRATIONS)
        with self._write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version "
                       "(id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)")
            db.execute("INSERT OR IGNORE INTO schema_version (id, version) VALUES (1, 0)")
            version = db.execute("SELECT version FROM schema_version WHERE id = 1").fetchone()[0]
            if version > target:
                raise StoreError(f"database {self.path!r} has schema version {version}, "
                                 f"newer than version {target} known to this code")
            for script in MIGRATIONS[version:]:
                for statement in _statements(script):
                    db.execute(statement)
            db.execute("UPDATE schema_version SET version = ? WHERE id = 1", (target,))

    def close(self) -> None:
        """Close the connection; idempotent. Later calls raise ``StoreError``."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StoreError("store is closed")
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._read() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    _SELECT = f"SELECT {', '.join(RECORD_FIELDS)}, seq FROM simulations"

    @staticmethod
    def _record(row: tuple) -> SimulationRecord:
        record = dict(zip(RECORD_FIELDS, row[:-1], strict=True))  # the last column is seq
        record["config"] = json.loads(record["config"])
        record["params"] = None if record["params"] is None else json.loads(record["params"])
        record["status"] = Status(record["status"])
        return record  # type: ignore[return-value]

    def _get(self, db: sqlite3.Connection, sim_id: str) -> SimulationRecord | None:
        row = db.execute(f"{self._SELECT} WHERE id = ?", (sim_id,)).fetchone()
        return None if row is None else self._record(row)

    def create(self, sim_id: str, owner: str, config: dict, name: str | None = None,
               seed: int | None = None, status: Status | str = Status.QUEUED,
               kind: str = SIMULATION, params: dict | None = None) -> SimulationRecord:
        """Insert a simulation or analysis (``kind``, its ``params``; progress 0, ``created_at``
        now) and return its record. ``StoreError`` if ``sim_id`` exists; ``ValueError`` for a bad
        status or a config or params with NaN/inf."""
        status = as_status(status)
        if not isinstance(config, dict):
            raise TypeError("config must be a dict")
        body = _dumps(config)
        extra = None if params is None else _dumps(params)
        with self._write() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM simulations").fetchone()[0]
            try:
                db.execute("INSERT INTO simulations (id, owner, name, status, progress, config, seed, "
                           "created_at, seq, kind, params) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
                           (sim_id, owner, name, status, body, seed, utc_now(), seq, kind, extra))
            except sqlite3.IntegrityError:
                raise StoreError(f"simulation {sim_id!r} already exists") from None
            return self._get(db, sim_id)  # type: ignore[return-value]

    def get(self, sim_id: str) -> SimulationRecord | None:
        """The record (config parsed to a dict), or None if there is no such simulation."""
        with self._read() as db:
            return self._get(db, sim_id)

    def update(self, sim_id: str, **fields: Any) -> SimulationRecord | None:
        """Set some of status, progress (percent 0-100), started_at, finished_at, execution_time
        (seconds), error, seed; return the updated record, or None if there is no such simulation."""
        for key in fields:
            if key not in UPDATABLE:
                raise ValueError(f"{key}: not an updatable field (allowed: {', '.join(sorted(UPDATABLE))})")
        if "status" in fields:
            fields["status"] = as_status(fields["status"])
        progress = fields.get("progress", 0.0)
        if not isinstance(progress, (int, float)) or not (math.isfinite(progress) and 0 <= progress <= 100):
            raise ValueError(f"progress: {progress!r} is not a number in [0, 100]")
        with self._write() as db:
            if fields:
                assignments = ", ".join(f"{key} = ?" for key in fields)
                db.execute(f"UPDATE simulations SET {assignments} WHERE id = ?", (*fields.values(), sim_id))
            return self._get(db, sim_id)

    def list(self, owner: str, status: str | None = None, limit: int = 50,
             cursor: str | None = None, kinds: tuple[str, ...] | None = None,
             ) -> tuple[builtins.list[SimulationRecord], str | None]:
        """One page of ``owner``'s runs (of ``kinds``, all when None), newest first, and the cursor
        of the next page (or None)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit: {limit!r} is not a positive integer")
        where = "owner = ?"
        params: builtins.list[Any] = [owner]
        if status is not None:
            where, params = f"{where} AND status = ?", [*params, as_status(status)]
        if cursor is not None:
            where, params = f"{where} AND seq < ?", [*params, _decode_cursor(cursor)]
        if kinds is not None:
            where = f"{where} AND kind IN ({', '.join('?' * len(kinds))})"
            params = [*params, *kinds]
        with self._read() as db:
            rows = db.execute(f"{self._SELECT} WHERE {where} ORDER BY seq DESC LIMIT ?",
                              (*params, limit + 1)).fetchall()
        page = rows[:limit]
        next_cursor = _encode_cursor(page[-1][-1]) if len(rows) > limit else None
        return [self._record(row) for row in page], next_cursor

    def rekey_owners(self, renames: dict[str, str]) -> int:
        """Give the runs of each old owner id its new id (one transaction); returns the count."""
        with self._write() as db:
            for old, new in renames.items():  # the loan tapes follow their owner
                if old != new:
                    db.execute("UPDATE loan_tapes SET owner = ? WHERE owner = ?", (new, old))
            return sum(db.execute("UPDATE simulations SET owner = ? WHERE owner = ?",
                                  (new, old)).rowcount for old, new in renames.items() if old != new)

    def usage(self, owner: str) -> tuple[int, int]:
        """(runs, bytes) ``owner`` keeps stored: records with their config, params, result,
        per-scenario arrays and replay state, plus the bytes of its loan tapes."""
        with self._read() as db:
            row = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(s.config) + COALESCE(LENGTH(s.params), 0) "
                "+ COALESCE(LENGTH(r.body), 0) + COALESCE(LENGTH(e.body), 0) "
                "+ COALESCE(LENGTH(c.body), 0)), 0) "
                "FROM simulations s LEFT JOIN results r ON r.simulation_id = s.id "
                "LEFT JOIN events e ON e.simulation_id = s.id "
                "LEFT JOIN scenarios c ON c.simulation_id = s.id WHERE s.owner = ?",
                (owner,)).fetchone()
            tapes = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM loan_tapes WHERE owner = ?",
                               (owner,)).fetchone()
        return int(row[0]), int(row[1]) + int(tapes[0])

    def oldest_finished(self, owner: str, limit: int) -> builtins.list[str]:
        """Ids of ``owner``'s oldest finished runs (for pruning), oldest first."""
        done = [s for s in STATUSES if s not in ACTIVE]
        with self._read() as db:
            rows = db.execute(f"SELECT id FROM simulations WHERE owner = ? AND status IN "
                              f"({', '.join('?' * len(done))}) ORDER BY seq LIMIT ?",
                              (owner, *done, limit)).fetchall()
        return [r[0] for r in rows]

    def delete(self, sim_id: str) -> bool:
        """Delete a simulation with its result, scenario arrays and events; True if it existed."""
        with self._write() as db:
            return db.execute("DELETE FROM simulations WHERE id = ?", (sim_id,)).rowcount > 0

    def save_result(self, sim_id: str, result_json: str) -> None:
        """Store (or replace) the final result, given as JSON text; zlib-compressed over ``COMPRESS_OVER``."""
        data = result_json.encode("utf-8")
        encoding = "json"
        if len(data) > COMPRESS_OVER:
            encoding, data = "zlib", zlib.compress(data, 6)
        self._upsert("INSERT INTO results (simulation_id, encoding, body) VALUES (?, ?, ?) "
                     "ON CONFLICT (simulation_id) DO UPDATE SET encoding = excluded.encoding, "
                     "body = excluded.body", (sim_id, encoding, data))

    def load_result(self, sim_id: str) -> str | None:
        """The exact JSON text saved by ``save_result``, or None."""
        with self._read() as db:
            row = db.execute("SELECT encoding, body FROM results WHERE simulation_id = ?",
                             (sim_id,)).fetchone()
        if row is None:
            return None
        encoding, body = row
        if encoding == "zlib":
            body = zlib.decompress(body)
        elif encoding != "json":
            raise StoreError(f"result of {sim_id!r} has unknown encoding {encoding!r}")
        return bytes(body).decode("utf-8")

    def save_scenarios(self, sim_id: str, blob: bytes) -> None:
        """Store (or replace) the per-scenario arrays, as the compact binary (already zlib'd)."""
        if not isinstance(blob, (bytes, bytearray)):
            raise TypeError(f"scenarios of {sim_id!r}: bytes expected, got {type(blob).__name__}")
        self._upsert("INSERT INTO scenarios (simulation_id, body) VALUES (?, ?) "
                     "ON CONFLICT (simulation_id) DO UPDATE SET body = excluded.body",
                     (sim_id, bytes(blob)))

    def load_scenarios(self, sim_id: str) -> bytes | None:
        """The bytes saved by ``save_scenarios``, or None (none stored)."""
        with self._read() as db:
            row = db.execute("SELECT body FROM scenarios WHERE simulation_id = ?",
                             (sim_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def save_events(self, sim_id: str, state: EventState | dict) -> None:
        """Store (or replace) the replayable event state of a simulation."""
        self._upsert("INSERT INTO events (simulation_id, body) VALUES (?, ?) ON CONFLICT (simulation_id) "
                     "DO UPDATE SET body = excluded.body", (sim_id, _dumps(state)))

    def load_events(self, sim_id: str) -> dict | None:
        """The event state saved by ``save_events``, or None."""
        with self._read() as db:
            row = db.execute("SELECT body FROM events WHERE simulation_id = ?", (sim_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _upsert(self, sql: str, params: tuple) -> None:
        with self._write() as db:
            try:
                db.execute(sql, params)
            except sqlite3.IntegrityError:
                raise StoreError(f"unknown simulation {params[0]!r}") from None

    def unfinished(self) -> builtins.list[SimulationRecord]:
        """All queued or running simulations, oldest first (to resume or fail after a restart)."""
        active = sorted(ACTIVE)
        with self._read() as db:
            rows = db.execute(f"{self._SELECT} WHERE status IN ({', '.join('?' * len(active))}) "
                              "ORDER BY seq", active).fetchall()
        return [self._record(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Number of simulations per status, every status present."""
        with self._read() as db:
            rows = db.execute("SELECT status, COUNT(*) FROM simulations GROUP BY status").fetchall()
        return dict.fromkeys(STATUSES, 0) | dict(rows)

    # ------------------------------------------------------------------ loan tapes
    _TAPE = "SELECT id, owner, created_at, row_count, bytes FROM loan_tapes"

    @staticmethod
    def _tape(row: tuple) -> TapeRecord:
        return {"id": row[0], "owner": row[1], "created_at": row[2], "rows": int(row[3]),
                "bytes": int(row[4])}

    def save_tape(self, tape_id: str, owner: str, body: str, rows: int) -> TapeRecord:
        """Insert a validated loan tape (``body``: its rows as JSON text, ``rows`` of them) and
        return its record; ``StoreError`` if ``tape_id`` exists."""
        size = len(body.encode("utf-8"))
        with self._write() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM loan_tapes").fetchone()[0]
            try:
                db.execute("INSERT INTO loan_tapes (id, owner, created_at, row_count, bytes, body, "
                           "seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (tape_id, owner, utc_now(), rows, size, body, seq))
            except sqlite3.IntegrityError:
                raise StoreError(f"loan tape {tape_id!r} already exists") from None
            return self._tape(db.execute(f"{self._TAPE} WHERE id = ?", (tape_id,)).fetchone())

    def get_tape(self, tape_id: str) -> TapeRecord | None:
        """A loan tape's record (no rows), or None."""
        with self._read() as db:
            row = db.execute(f"{self._TAPE} WHERE id = ?", (tape_id,)).fetchone()
        return None if row is None else self._tape(row)

    def tape_body(self, tape_id: str) -> str | None:
        """A loan tape's rows as the JSON text given to ``save_tape``, or None."""
        with self._read() as db:
            row = db.execute("SELECT body FROM loan_tapes WHERE id = ?", (tape_id,)).fetchone()
        return None if row is None else str(row[0])

    def list_tapes(self, owner: str) -> builtins.list[TapeRecord]:
        """Every loan tape of ``owner``, newest first."""
        with self._read() as db:
            rows = db.execute(f"{self._TAPE} WHERE owner = ? ORDER BY seq DESC", (owner,)).fetchall()
        return [self._tape(row) for row in rows]

    def delete_tape(self, tape_id: str) -> bool:
        """Delete a loan tape; True if it existed."""
        with self._write() as db:
            return db.execute("DELETE FROM loan_tapes WHERE id = ?", (tape_id,)).rowcount > 0

