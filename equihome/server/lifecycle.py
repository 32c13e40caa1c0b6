"""A simulation's lifecycle: its statuses, the one legal way between them, and its records.

::

    queued ──► running ──► completed | failed | cancelled
      │  ▲        │
      │  └────────┘  (only at start-up: a run the server stopped is re-run from the start)
      └──────────► cancelled

:class:`Status` is a ``str`` enum, so a status is the same string in JSON, in SQLite and
in comparisons (``Status.QUEUED == "queued"``). :func:`transition` is the only place a
record's status changes; a move the diagram does not show raises :class:`IllegalTransition`.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypedDict


class Status(str, Enum):
    """The status of a simulation (PROTOCOL.md: one of these five strings).

    A ``str``: equal to, hashed, printed, formatted and JSON-encoded as its value.
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    def __format__(self, format_spec: str) -> str:
        return format(self.value, format_spec)

    @property
    def finished(self) -> bool:
        """True once the run has ended (completed, failed or cancelled): no move leaves it."""
        return self in FINISHED


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)  # in the order of the protocol
ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})
FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
MOVES: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.CANCELLED}),
    Status.RUNNING: frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.QUEUED}),
    Status.COMPLETED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A status change the lifecycle does not allow (a bug in the caller, never user input)."""


class SimulationRecord(TypedDict):
    """A simulation as the store keeps it (times: ISO 8601 UTC with ``Z``; progress: 0-100)."""

    id: str
    owner: str                      # the owner id of the API key that created it
    name: str | None
    status: Status
    progress: float
    config: dict[str, Any]          # the validated config, as plain JSON data
    seed: int | None                # the seed drawn for a config without one
    created_at: str
    started_at: str | None
    finished_at: str | None
    execution_time: float | None    # seconds
    error: str | None
    kind: str                       # "simulation", or the analysis kind ("stress", ...)
    params: dict[str, Any] | None   # an analysis's parameters (None for a simulation)


RECORD_FIELDS: tuple[str, ...] = tuple(SimulationRecord.__annotations__)


class EventState(TypedDict):
    """What a subscriber is replayed (wire messages as sent): the log, latest progress, end."""

    log: list[str]
    progress: str | None
    final: str | None


def as_status(value: Any) -> Status:
    """``value`` as a Status; ValueError naming the allowed values otherwise."""
    try:
        return Status(value)
    except ValueError:
        raise ValueError(f"status: {value!r} is not one of {', '.join(STATUSES)}") from None


def transition(record: SimulationRecord, new: Status | str) -> SimulationRecord:
    """Move ``record`` to status ``new`` (in place) and return it.

    Raises :class:`IllegalTransition` for a move the lifecycle does not allow (for example
    completed -> running), leaving the record unchanged.
    """
    old, target = as_status(record["status"]), as_status(new)
    if target not in MOVES[old]:
        why = (f"{old} is final" if old.finished
               else f"from {old} only to {', '.join(s for s in STATUSES if s in MOVES[old])}")
        raise IllegalTransition(f"simulation {record['id']}: cannot move from {old} to "
                                f"{target} ({why})")
    record["status"] = target
    return record
