"""The fund's own book (DOMAIN.md, "The fund's own book"): a loan tape, read and validated.

``load_loan_tape(source, as_of=None)`` takes a CSV or Parquet path, or rows (a list of dicts,
one a loan), checks every row against the column rules below and returns a :class:`LoanTape`
of typed columns. Every offending row and column is reported at once, as
``row 17, advance: must be > 0, got -5`` (rows count the tape's loans from 1; at most
MAX_REPORTED, then "and N more"); unknown columns and duplicate ids are errors; nothing is
returned on bad input. Money in $, rates per year, dates YYYY-MM-DD.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from equihome.io.config import ZONES, ConfigError

MAX_REPORTED = 100
STATUSES = ("active", "defaulted", "exited")
CONTRACT_TYPES = ("interest_plus_share", "appreciation_share", "value_share")
REQUIRED = ("loan_id", "origination_date", "advance", "origination_value", "zone")
TEXT = ("loan_id", "zone", "suburb", "status", "contract_type")
DATES = ("origination_date", "default_date")
#: Every column a tape may have, in order; the rest of a row's columns are optional.
COLUMNS = (*REQUIRED, "suburb", "appreciation_share", "interest_rate", "term_years",
           "current_value", "status", "default_date", "contract_type", "multiple",
           "risk_adjustment", "cap_rate", "lien_position", "senior_balance")


class LoanTapeError(ConfigError):
    """A tape that breaks the column rules; ``errors`` has one entry per offending cell."""


@dataclass
class LoanTape:
    """A validated tape: ``columns`` maps each column of COLUMNS to an array of ``n`` values
    (text as object arrays, dates as numpy datetime64[D], numbers as float with NaN where a
    row leaves an optional column empty; status filled with "active")."""

    columns: dict[str, np.ndarray]
    n: int

    @property
    def active(self) -> np.ndarray:
        """(n,) True for the loans still on the book (status active or defaulted)."""
        return self.columns["status"] != "exited"

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict a loan, dates as YYYY-MM-DD, empty optional cells left out."""
        rows = []
        for i in range(self.n):
            row: dict[str, Any] = {}
            for name, col in self.columns.items():
                v = col[i]
                if isinstance(v, np.datetime64):
                    if not np.isnat(v):
                        row[name] = str(v)
                elif isinstance(v, float | np.floating):
                    if np.isfinite(v):
                        row[name] = float(v)
                elif v is not None:
                    row[name] = v
            rows.append(row)
        return rows

    def to_pandas(self) -> Any:
        """The tape as a pandas DataFrame (needs pandas, in the ``lab`` extra)."""
        import pandas as pd

        return pd.DataFrame(self.columns)


# --------------------------------------------------------------------------- reading


def read_rows(source: str | Path | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tape's rows as dicts: from a .csv (text cells, empty = missing), a .parquet (needs
    pyarrow), or rows given directly."""
    if isinstance(source, str | Path):
        path = Path(source)
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_table(path).to_pylist())
        if path.suffix.lower() != ".csv":
            raise LoanTapeError([_entry(None, "source", str(path),
                                        "must be a .csv or .parquet file")])
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                return list(csv.DictReader(fh))
        except OSError as exc:
            raise LoanTapeError([_entry(None, "source", str(path),
                                        f"cannot be read: {exc.strerror or exc}")]) from None
    rows = list(source)
    bad = [i for i, r in enumerate(rows, 1) if not isinstance(r, dict)]
    if bad:
        raise LoanTapeError([_entry(i, "row", rows[i - 1], "must be an object of column "
                                    "values") for i in bad[:MAX_REPORTED]])
    return rows


def _entry(row: int | None, column: str, value: Any, rule: str) -> dict[str, Any]:
    """One error: ``row R, column: rule, got value`` (row None: the tape as a whole)."""
    where = f"row {row}, {column}" if row is not None else column
    shown = repr(value) if isinstance(value, str) else value
    return {"loc": ["loans", row, column] if row is not None else ["loans", column],
            "msg": f"{where}: {rule}, got {shown}", "value": value}


# --------------------------------------------------------------------------- cell rules

Check = Callable[[Any], tuple[Any, str | None]]


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "") or (
        isinstance(v, float) and v != v)


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           integer: bool = False) -> Check:
    """A number check: the parsed float and None, or the value and the rule it breaks."""
    parts = []
    if lo is not None:
        parts.append(f"> {lo:g}" if lo_open else f">= {lo:g}")
    if hi is not None:
        parts.append(f"<= {hi:g}")
    rule = "must be " + ("an integer " if integer else "a number ") + " and ".join(parts)

    def check(v: Any) -> tuple[Any, str | None]:
        try:
            x = float(v) if not isinstance(v, bool) else float("nan")
        except (TypeError, ValueError):
            return v, rule.rstrip()
        ok = x == x and abs(x) != float("inf")
        ok = ok and (lo is None or (x > lo if lo_open else x >= lo)) and (hi is None or x <= hi)
        ok = ok and (not integer or x.is_integer())
        return (x, None) if ok else (v, rule.rstrip())

    return check


def choice(options: tuple) -> Check:
    """One of ``options`` (text compared as given, numbers as numbers)."""
    rule = "must be one of " + ", ".join(str(o) for o in options)

    def check(v: Any) -> tuple[Any, str | None]:
        key = v.strip() if isinstance(v, str) else v
        for o in options:
            if key == o or (isinstance(o, int) and isinstance(key, str) and key == str(o)):
                return o, None
        return v, rule

    return check


def date() -> Check:
    """A calendar date written YYYY-MM-DD."""

    def check(v: Any) -> tuple[Any, str | None]:
        try:
            s = v.isoformat()[:10] if isinstance(v, dt.date) else str(v).strip()
            return dt.date.fromisoformat(s), None
        except ValueError:
            return v, "must be a date YYYY-MM-DD"

    return check


def text() -> Check:
    """Non-empty text."""
    return lambda v: (str(v).strip(), None)


RULES: dict[str, Check] = {
    "loan_id": text(), "origination_date": date(), "advance": number(0, lo_open=True),
    "origination_value": number(0, lo_open=True), "zone": choice(ZONES), "suburb": text(),
    "appreciation_share": number(0, 1), "interest_rate": number(0, 0.3),
    "term_years": number(1, 30, integer=True), "current_value": number(0, lo_open=True),
    "status": choice(STATUSES), "default_date": date(), "contract_type": choice(CONTRACT_TYPES),
    "multiple": number(1, 5), "risk_adjustment": number(0, 0.3), "cap_rate": number(0, 0.3),
    "lien_position": choice((1, 2, 3)), "senior_balance": number(0),
}


# --------------------------------------------------------------------------- validation


def check_row(i: int, row: dict[str, Any], as_of: dt.date | None,
              errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Row ``i``'s parsed cells; every broken rule appended to ``errors``."""
    out: dict[str, Any] = {}
    for name in COLUMNS:
        v = row.get(name)
        if _blank(v):
            if name in REQUIRED:
                errors.append(_entry(i, name, v, "is required"))
            continue
        value, rule = RULES[name](v)
        if rule is None:
            out[name] = value
        else:
            errors.append(_entry(i, name, v, rule))
    cross_checks(i, out, as_of, errors)
    return out


def cross_checks(i: int, r: dict[str, Any], as_of: dt.date | None,
                 errors: list[dict[str, Any]]) -> None:
    """The rules between a row's columns (only on cells that passed their own rule)."""
    if "advance" in r and "origination_value" in r and not r["origination_value"] > r["advance"]:
        errors.append(_entry(i, "origination_value", r["origination_value"],
                             f"must be > advance ({r['advance']:g})"))
    start = r.get("origination_date")
    if as_of is not None and start is not None and start > as_of:
        errors.append(_entry(i, "origination_date", str(start),
                             f"must not be after as_of ({as_of})"))
    defaulted = r.get("status") == "defaulted"
    when = r.get("default_date")
    if defaulted and when is None:
        errors.append(_entry(i, "default_date", None, "is required when status is defaulted"))
    elif not defaulted and when is not None:
        errors.append(_entry(i, "default_date", str(when),
                             "is allowed only when status is defaulted"))
    elif when is not None and ((start is not None and when < start)
                               or (as_of is not None and when > as_of)):
        errors.append(_entry(i, "default_date", str(when), "must be between origination_date "
                             f"({start}) and as_of ({as_of})"))
    kind = r.get("contract_type")
    if kind is not None and kind != "appreciation_share" and r.get("risk_adjustment", 0.0) > 0:
        errors.append(_entry(i, "risk_adjustment", r["risk_adjustment"],
                             "applies only to contract_type appreciation_share"))
    if "senior_balance" in r and "origination_value" in r and (
            r["senior_balance"] >= r["origination_value"]):
        errors.append(_entry(i, "senior_balance", r["senior_balance"], "must be below "
                             f"origination_value ({r['origination_value']:g})"))
    lien, senior = r.get("lien_position", 1), r.get("senior_balance", 0.0)
    if (lien > 1) != (senior > 0):
        rule = (f"must be > 0 for a junior lien (lien_position {lien})" if lien > 1 else
                "must be 0 or empty for a first lien (lien_position 1)")
        errors.append(_entry(i, "senior_balance", senior, rule))


def load_loan_tape(source: str | Path | Iterable[dict[str, Any]],
                   as_of: str | dt.date | None = None) -> LoanTape:
    """Read and validate a loan tape (see the module docstring); raise :class:`LoanTapeError`
    listing every offending cell, unknown column and duplicate id. ``as_of`` (YYYY-MM, any
    day of that month allowed, or YYYY-MM-DD): no origination or default after it."""
    rows = read_rows(source)
    cutoff = _as_of(as_of)
    errors: list[dict[str, Any]] = []
    unknown = sorted({k for r in rows for k in r} - set(COLUMNS))
    if unknown:
        errors.append(_entry(None, "columns", unknown, "unknown column(s); the tape's columns "
                             f"are {', '.join(COLUMNS)}"))
    parsed = [check_row(i, r, cutoff, errors) for i, r in enumerate(rows, 1)]
    first: dict[str, int] = {}
    for i, r in enumerate(parsed, 1):
        lid = r.get("loan_id")
        if lid is not None and lid in first:
            errors.append(_entry(i, "loan_id", lid, f"must be unique (duplicate of row "
                                 f"{first[lid]})"))
        elif lid is not None:
            first[lid] = i
    if not rows:
        errors.append(_entry(None, "loans", [], "must hold at least one loan"))
    if errors:
        raise LoanTapeError(_capped(errors))
    return LoanTape(_columns(parsed), len(parsed))


def _as_of(as_of: str | dt.date | None) -> dt.date | None:
    """The last day on which a loan may start (the month's last day for YYYY-MM)."""
    if as_of is None or isinstance(as_of, dt.date):
        return as_of
    try:
        if len(as_of) == 7:
            y, m = int(as_of[:4]), int(as_of[5:7])
            return dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)
        return dt.date.fromisoformat(as_of)
    except ValueError:
        raise LoanTapeError([_entry(None, "as_of", as_of, "must be YYYY-MM or YYYY-MM-DD")]
                            ) from None


def _capped(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most MAX_REPORTED errors, then one entry saying how many more there are."""
    if len(errors) <= MAX_REPORTED:
        return errors
    rest = len(errors) - MAX_REPORTED
    return errors[:MAX_REPORTED] + [{"loc": ["loans"], "msg": f"and {rest} more", "value": rest}]


def _columns(parsed: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Typed columns of the parsed rows (see LoanTape)."""
    out: dict[str, np.ndarray] = {}
    for name in COLUMNS:
        values = [r.get(name) for r in parsed]
        if name in DATES:
            out[name] = np.array([np.datetime64(v, "D") if v is not None else np.datetime64("NaT")
                                  for v in values], dtype="datetime64[D]")
        elif name in TEXT:
            fill = "active" if name == "status" else None
            out[name] = np.array([v if v is not None else fill for v in values], dtype=object)
        else:
            out[name] = np.array([float(v) if v is not None else np.nan for v in values])
    return out
