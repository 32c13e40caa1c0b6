"""Loan tapes on the server (PROTOCOL.md, ``POST /loan-tapes``; DOMAIN.md, "The fund's own book").

A client uploads a CSV tape once and names it in any number of configs as
``portfolio.loans: "tape:<id>"``. This module holds what the handlers (``tape_handlers``) and
the run manager need, none of it on the event loop: reading an upload into validated rows,
resolving a config's portfolio for the engine, and inlining a tape when a run starts.

What a run's stored record keeps: ``tape:<id>``, never the rows. A record stays small (its
config is at most 64 KiB of JSON and is answered in every list page), a tape is stored once
however many runs use it, and a tape cannot change (there is no update), so the reference
always means the same rows. The rows are inlined when the run starts (:func:`with_tapes`,
around the runner in ``RunManager._run``), so queued runs re-submitted after a restart resolve
their tape again; the result's config echo gets the reference back (:func:`restore_reference`).
A tape used by a queued or running run cannot be deleted (409); a run whose tape vanished
anyway fails with a message naming it.

A server never reads a file named by a client: a path in ``portfolio.loans`` or
``portfolio.history`` is refused at submit (422).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from typing import Any

from equihome.io.config import ConfigError, FundConfig, load_config
from equihome.io.errors import _show
from equihome.io.loan_tape import MAX_REPORTED, LoanTapeError, load_loan_tape
from equihome.io.portfolio import MAX_INLINE_ROWS, TAPE_PREFIX
from equihome.model.portfolio import load_book
from equihome.run.engine import SimulationError
from equihome.server.store import Store

MAX_TAPE_BODY = 16 * 1024 * 1024   # bytes of a POST /api/loan-tapes body (other routes: 1 MiB)
MAX_TAPES = 1_000                  # loan tapes one key may keep
MAX_TAPE_ROWS = MAX_INLINE_ROWS    # loans of a tape: a run inlines them in its config
TAPE_MEDIA_TYPE = "text/csv"

Problem = dict[str, Any]


def canonical_tape_id(text: str) -> str | None:
    """A tape id in its one spelling (lower-case hyphenated UUID), None if not a UUID."""
    try:
        value = str(uuid.UUID(text))
    except (ValueError, TypeError, AttributeError):
        return None
    return value if len(text) == 36 and value == text.lower() else None


def _problem(row: int | None, what: str, value: Any, rule: str) -> Problem:
    """One upload problem, as ``load_loan_tape`` words them: ``row R: rule, got value``."""
    where = f"row {row}" if row is not None else what
    return {"loc": ["loans", row] if row is not None else ["loans", what],
            "msg": f"{where}: {rule}, got {_show(value)}", "value": value}


# --------------------------------------------------------------------------- upload


def read_csv(body: bytes) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The rows of a CSV upload (UTF-8, a BOM allowed; empty cells are missing values) and the
    problems of its shape: a duplicate header name, a row with more cells than the header.
    LoanTapeError when it is no UTF-8 text or no CSV at all."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoanTapeError([_problem(None, "body", f"0x{body[exc.start]:02x}", "must be UTF-8 "
                                      f"text (CSV); the byte at offset {exc.start:,} is not")]
                            ) from None
    reader = csv.DictReader(io.StringIO(text))
    problems: list[Problem] = []
    try:
        header = reader.fieldnames or []
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:
            problems.append(_problem(None, "columns", twice, "each column may appear once"))
        rows = []
        for i, row in enumerate(reader, 1):
            extra = row.pop(None, None)
            if extra:
                problems.append(_problem(i, "row", extra, f"has {len(extra)} more cell(s) than "
                                         f"the header's {len(header)} columns"))
            rows.append(row)
            if i > MAX_TAPE_ROWS:  # counted to the end, never kept
                total = i + sum(1 for _ in reader)
                raise LoanTapeError([_problem(None, "loans", total, f"must have at most "
                                              f"{MAX_TAPE_ROWS:,} loans (a run inlines them)")])
    except csv.Error as exc:
        raise LoanTapeError([_problem(None, "body", f"line {reader.line_num}", f"must be CSV "
                                      f"({exc})")]) from None
    return rows, problems


def parse_upload(body: bytes) -> tuple[str, int]:
    """A CSV upload validated (``load_loan_tape``): its rows as compact JSON text
    (``LoanTape.to_rows()``) and their count. CPU-bound (about 0.5 s for 10,000 loans): run
    it off the event loop. LoanTapeError lists every problem (at most MAX_REPORTED, then
    "and N more")."""
    rows, problems = read_csv(body)
    try:
        tape = load_loan_tape(rows)
    except LoanTapeError as exc:
        raise LoanTapeError(_merged(problems, exc.errors)) from None
    if problems:
        raise LoanTapeError(_merged(problems, []))
    text = json.dumps(tape.to_rows(), separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text, tape.n


def _merged(first: list[Problem], then: list[Problem]) -> list[Problem]:
    """Both lists of problems, capped again at MAX_REPORTED (``then`` may end with its own
    "and N more")."""
    total = len(first) + problem_count(then)
    listed = then[:-1] if problem_count(then) != len(then) else then
    every = (first + listed)[:MAX_REPORTED]
    hidden = total - len(every)
    return every + ([{"loc": ["loans"], "msg": f"and {hidden} more", "value": hidden}]
                    if hidden else [])


def problem_count(errors: list[Problem]) -> int:
    """How many problems a capped list stands for (its "and N more" counted)."""
    if errors and errors[-1]["loc"] == ["loans"] and str(errors[-1]["msg"]).startswith("and "):
        return len(errors) - 1 + int(errors[-1]["value"])
    return len(errors)


def tape_details(errors: list[Problem]) -> list[dict[str, Any]]:
    """The 422 details of a bad upload: per problem ``loc``, ``msg`` (row, column, rule and
    value in words), and ``row`` (from 1), ``column`` and ``value`` where it has them."""
    out = []
    for e in errors:
        loc = list(e["loc"])
        row = loc[1] if len(loc) >= 2 and isinstance(loc[1], int) else None
        column = loc[2] if row is not None and len(loc) == 3 else None
        out.append({"loc": loc, "msg": e["msg"], "row": row, "column": column,
                    "value": e.get("value")})
    return out


# --------------------------------------------------------------------------- runs


def _refusal(field: str, value: str, takes: str) -> ConfigError:
    return ConfigError([{"loc": ["portfolio", field], "value": value, "msg": (
        f"portfolio.{field}: a server run takes {takes}, not a file path, got {_show(value)}")}])


def tape_rows(store: Store, owner: str, reference: str) -> list[dict[str, Any]]:
    """The rows of ``owner``'s tape named by ``reference`` (``tape:<id>``); ConfigError naming
    portfolio.loans and the id for an unknown or another key's tape."""
    tape_id = canonical_tape_id(reference[len(TAPE_PREFIX):])
    rec = store.get_tape(tape_id) if tape_id else None
    body = store.tape_body(rec["id"]) if rec is not None and rec["owner"] == owner else None
    if body is None:
        raise ConfigError([{"loc": ["portfolio", "loans"], "value": reference, "msg": (
            f"portfolio.loans: no loan tape {reference[len(TAPE_PREFIX):]!r} for this key "
            "(upload one with POST /api/loan-tapes and give tape:<its id>), got "
            f"{_show(reference)}")}])
    return json.loads(body)


def engine_config(store: Store, owner: str, cfg: FundConfig) -> FundConfig:
    """The config the engine will run for ``owner``'s request, its book checked: a
    ``tape:<id>`` inlined as rows, then ``load_book`` (every bad row a ConfigError located
    under portfolio, before anything runs). A file path is refused (ConfigError). Blocking:
    reads the store and validates up to MAX_TAPE_ROWS loans; run it off the event loop."""
    pf = cfg.portfolio
    if pf is None:
        return cfg
    if isinstance(pf.history, str):
        raise _refusal("history", pf.history, "rows")
    if isinstance(pf.loans, str):
        if pf.tape_id is None:
            raise _refusal("loans", pf.loans, "rows or tape:<id>")
        data = cfg.to_dict()
        data["portfolio"]["loans"] = tape_rows(store, owner, pf.loans)
        cfg = load_config(data)
    load_book(cfg)
    return cfg


def tape_reference(config: dict[str, Any]) -> str | None:
    """The ``tape:<id>`` a stored config's portfolio names, or None."""
    pf = config.get("portfolio")
    loans = pf.get("loans") if isinstance(pf, dict) else None
    return loans if isinstance(loans, str) and loans.startswith(TAPE_PREFIX) else None


def referenced_tape(config: dict[str, Any]) -> str | None:
    """The canonical id of the tape a stored config names, or None."""
    reference = tape_reference(config)
    return canonical_tape_id(reference[len(TAPE_PREFIX):]) if reference else None


def inline_tape(config: dict[str, Any], store: Store) -> dict[str, Any]:
    """A stored config with its ``tape:<id>`` replaced by the tape's rows (others unchanged).
    The owner was checked at submit and a tape never changes owner, so the id suffices;
    SimulationError when the tape is gone."""
    reference = tape_reference(config)
    if reference is None:
        return config
    tape_id = referenced_tape(config)
    body = store.tape_body(tape_id) if tape_id else None
    if body is None:
        raise SimulationError("portfolio.loans", f"loan tape {reference!r} was deleted after "
                              "this run was submitted; upload it again and submit a new run")
    return {**config, "portfolio": {**config["portfolio"], "loans": json.loads(body)}}


def restore_reference(event: dict[str, Any], reference: str) -> dict[str, Any]:
    """A ``result`` event whose config echo states ``reference`` again instead of the
    inlined rows (a stored result stays small and says what was submitted)."""
    result = event.get("result")
    config = result.get("config") if isinstance(result, dict) else None
    if event.get("type") != "result" or not isinstance(config, dict) \
            or not isinstance(config.get("portfolio"), dict):
        return event
    config = {**config, "portfolio": {**config["portfolio"], "loans": reference}}
    return {**event, "result": {**result, "config": config}}  # type: ignore[dict-item]


def with_tapes(fn: Callable[..., Any], store: Store, analysis: bool = False) -> Callable[..., Any]:
    """``fn`` (the runner: ``fn(config, **options)``; an analysis runner:
    ``fn({"kind", "config", "params"}, **options)``) with a ``tape:<id>`` inlined first."""

    def run(source: dict[str, Any], **options: Any) -> Any:
        config = source["config"] if analysis else source
        reference = tape_reference(config)
        if reference is None:
            return fn(source, **options)
        config = inline_tape(config, store)
        emit = options.get("on_event")
        if emit is not None:
            options["on_event"] = lambda event: emit(restore_reference(event, reference))
        return fn({**source, "config": config} if analysis else config, **options)

    return run
