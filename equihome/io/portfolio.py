"""The fund's own book as configuration (DOMAIN.md, "The fund's own book"): ``portfolio``.

``PortfolioConfig`` is the optional nested ``portfolio`` of the fund configuration. It names
the loan tape (rows, a .csv/.parquet path, or ``tape:<id>`` for a tape uploaded to the server),
the month the simulation starts from (``as_of``), what the fund has called and distributed so
far, its cash, and optionally the dated history of calls and distributions.

The time axis keeps counting fund months from ``inception`` (given, else the first history
date, else the tape's earliest origination): ``as_of`` is month E of the fund, the calendar
(deployment and reinvestment periods, fee step-downs, distribution months, fund end) stays the
fund's own, and the simulation steps months E..M. Money in $, dates YYYY-MM (a day is allowed
and ignored: the engine is monthly).

Size limits: rows inline in a config at most MAX_INLINE_ROWS (and, over the server, its 1 MiB
request body: about 5,000 loans); larger tapes go through ``POST /api/loan-tapes`` (16 MiB).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from equihome.io.errors import _show

Loc = tuple[str | int, ...]
TAPE_PREFIX = "tape:"
MAX_INLINE_ROWS = 20_000
MAX_HISTORY_ROWS = 1_200
CENT = 0.005  # history sums may differ from the stated totals by rounding to the cent
_MONTH = re.compile(r"^(\d{4})-(\d{2})(-\d{2})?$")


def month_index(text: str) -> int | None:
    """Months since year 0 of a date written YYYY-MM or YYYY-MM-DD (None if malformed)."""
    hit = _MONTH.match(text.strip()) if isinstance(text, str) else None
    if hit is None:
        return None
    y, m = int(hit.group(1)), int(hit.group(2))
    if not 1 <= m <= 12:
        return None
    if hit.group(3):
        try:
            dt.date(y, m, int(hit.group(3)[1:]))
        except ValueError:
            return None
    return 12 * y + m - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True,
                              allow_inf_nan=False)


class HistoryRow(_Strict):
    """One dated flow since inception: equity called and distributed in that month, $."""

    date: str = Field(description="YYYY-MM (or YYYY-MM-DD), between inception and as_of.")
    calls: float = Field(0.0, ge=0, description="Equity called that month, $.")
    distributions: float = Field(0.0, ge=0, description="Equity distributed that month, $.")


class PortfolioConfig(_Strict):
    """The fund's loans and its position at ``as_of``."""

    loans: str | list[dict[str, Any]] = Field(
        description="The loan tape: rows (one object a loan, columns as DOMAIN.md), a .csv or "
        f".parquet path (local runs), or '{TAPE_PREFIX}<id>' of a tape uploaded to the server.")
    as_of: str = Field(description="YYYY-MM: the month the simulation starts from (month E).")
    inception: str | None = Field(
        None, description="YYYY-MM: the fund's month 0; null: the first history date, else the "
        "tape's earliest origination.")
    called_to_date: float = Field(0.0, ge=0, description="Equity called up to as_of, $.")
    distributed_to_date: float = Field(0.0, ge=0, description="Equity distributed up to as_of, $.")
    cash: float = Field(0.0, ge=0, description="Cash on hand at as_of, $.")
    history: str | list[HistoryRow] | None = Field(
        None, description="Dated calls and distributions since inception (rows or a .csv path "
        "with columns date, calls, distributions); given: LP IRR and TVPI since inception, "
        "else from as_of with the opening NAV as the LP's contribution.")

    def issues(self, fund_size: float) -> list[tuple[Loc, str, Any]]:
        """Rule violations that need no file: dates, sizes, history totals."""
        out: list[tuple[Loc, str, Any]] = []
        if isinstance(self.loans, list):
            if not self.loans:
                out.append((("loans",), "must hold at least one loan, got []", []))
            if len(self.loans) > MAX_INLINE_ROWS:
                out.append((("loans",), f"must have at most {MAX_INLINE_ROWS:,} rows inline "
                            "(upload larger tapes: POST /api/loan-tapes), got "
                            f"{len(self.loans):,} rows", len(self.loans)))
        elif not self.loans.strip():
            out.append((("loans",), "must name a tape (a .csv/.parquet path or tape:<id>), "
                        "got ''", self.loans))
        for name in ("as_of", "inception"):
            value = getattr(self, name)
            if value is not None and month_index(value) is None:
                out.append(((name,), f"must be a month YYYY-MM, got {_show(value)}", value))
        if self.called_to_date > fund_size:
            out.append((("called_to_date",), f"must be at most fund_size ({_show(fund_size)}), "
                        f"got {_show(self.called_to_date)}", self.called_to_date))
        out += self._history_issues()
        return out

    def _history_issues(self) -> list[tuple[Loc, str, Any]]:
        """Dates within [inception, as_of] and totals equal to the stated ones."""
        rows = self.history if isinstance(self.history, list) else None
        if rows is None:
            return []
        out: list[tuple[Loc, str, Any]] = []
        if len(rows) > MAX_HISTORY_ROWS:
            out.append((("history",), f"must have at most {MAX_HISTORY_ROWS} rows, got "
                        f"{len(rows)}", len(rows)))
        lo = month_index(self.inception) if self.inception else None
        hi = month_index(self.as_of)
        for i, row in enumerate(rows):
            when = month_index(row.date)
            if when is None:
                out.append((("history", i, "date"), f"must be a month YYYY-MM, got "
                            f"{_show(row.date)}", row.date))
            elif (hi is not None and when > hi) or (lo is not None and when < lo):
                out.append((("history", i, "date"), f"must be between inception "
                            f"({self.inception or 'the first history date'}) and as_of "
                            f"({self.as_of}), got {_show(row.date)}", row.date))
        for name, col in (("called_to_date", "calls"), ("distributed_to_date", "distributions")):
            total = sum(getattr(r, col) for r in rows)
            stated = getattr(self, name)
            if abs(total - stated) > CENT:
                out.append(((name,), f"must equal the history's total {col} "
                            f"({total:,.2f}), got {_show(stated)}", stated))
        return out

    @property
    def tape_id(self) -> str | None:
        """The uploaded tape's id when ``loans`` is ``tape:<id>``, else None."""
        if isinstance(self.loans, str) and self.loans.startswith(TAPE_PREFIX):
            return self.loans[len(TAPE_PREFIX):]
        return None


def history_rows(source: str | list[HistoryRow] | None) -> list[HistoryRow]:
    """The history as rows: given rows, or a CSV file (date, calls, distributions; empty
    cells 0). Raises ValueError naming the row and column of a bad cell."""
    if source is None:
        return []
    if isinstance(source, list):
        return source
    rows = []
    with Path(source).open(newline="", encoding="utf-8-sig") as fh:
        for i, raw in enumerate(csv.DictReader(fh), 1):
            cells = {}
            for col in ("calls", "distributions"):
                text = (raw.get(col) or "").strip()
                try:
                    cells[col] = float(text) if text else 0.0
                except ValueError:
                    raise ValueError(f"portfolio.history: row {i}, {col}: must be a number, got "
                                     f"{text!r}") from None
            rows.append(HistoryRow(date=(raw.get("date") or "").strip(), **cells))
    return rows
