"""Side by side: the key numbers of several results, their differences from the first (the
base), and the guardrails each one breaks. Plain text, HTML and pandas; no widgets.

>>> equihome.compare([base, levered], names=["base", "levered"])
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from equihome.io.result import SimulationResult, fmt, fmt_delta, labelled, text_table
from equihome.io.units import finite_number
from equihome.ui.result_html import (
    CONTRACT_METRICS,
    LEVERAGE_ROWS,
    RISK_METRICS,
    dict_get,
    table,
    text_row,
)

SEVERITY_ORDER = ("error", "warning", "info")
SPREAD_METRICS = labelled("lp_irr", "lp_tvpi")      # median, P5 and P95 of each
MEDIAN_METRICS = labelled("gross_irr", "roi", "gp_carry", "fees_paid", "unpaid_fees")


def _deltas(values: list) -> list[float | None]:
    """Each value minus the first (None for the first and where either is not a number)."""
    base = values[0]
    return [None, *(v - base if finite_number(v) and finite_number(base) else None
                    for v in values[1:])]


class Comparison:
    """Several results side by side.

    ``rows``: label -> one value per result; ``kinds``: label -> format (see
    :func:`equihome.io.result.fmt`); ``deltas``: label -> each value minus the base's (None
    for the base and where either is missing); ``guardrails``: rule -> the severity each
    result raised it with ("" where it did not).
    """

    def __init__(self, results: Iterable[SimulationResult | dict], names: Iterable[str] | None):
        self.data = [r.data if isinstance(r, SimulationResult) else r for r in results]
        self.names = (list(names) if names is not None
                      else [f"#{i + 1}" for i in range(len(self.data))])
        if len(self.names) != len(self.data):
            raise ValueError(f"names: one per result ({len(self.data)}), got {len(self.names)}")
        if not self.data:
            raise ValueError("results: at least one result to compare")
        self.rows: dict[str, list] = {}
        self.kinds: dict[str, str] = {}
        for label, key, kind in SPREAD_METRICS + MEDIAN_METRICS:
            for q, qn in (("p50", "median"), ("p5", "P5"), ("p95", "P95")):
                if q == "p50" or (label, key, kind) in SPREAD_METRICS:
                    self._add(f"{label} {qn}", kind, [(d["statistics"].get(key) or {}).get(q)
                                                      for d in self.data])
        for label, key, kind in RISK_METRICS:
            self._add(label, kind, [d["risk"].get(key) for d in self.data])
        self._contract_rows()
        if any(d.get("leverage") for d in self.data):  # medians of the facilities' numbers
            for label, key, kind in LEVERAGE_ROWS:
                self._add(f"{label} median", kind, [
                    dict_get(d, "leverage", "statistics", key, "p50") for d in self.data])
        self.deltas = {k: _deltas(v) for k, v in self.rows.items()}
        self.guardrails = self._guardrail_rows()

    def _add(self, label: str, kind: str, values: list) -> None:
        self.rows[label] = values
        self.kinds[label] = kind

    def _contract_rows(self) -> None:
        """The contract of each result, its loss rate, cap-binding share and effective rate
        (medians; n/a where a result names no contract)."""
        self._add("Contract", "text", [(d.get("contract") or {}).get("type", "interest_plus_share")
                                       for d in self.data])
        for label, key, kind in CONTRACT_METRICS:
            self._add(f"{label} median", kind, [
                ((d["statistics"].get(key) if key in d["statistics"]
                  else ((d.get("contract") or {}).get("statistics") or {}).get(key)) or {}
                 ).get("p50") for d in self.data])

    def _guardrail_rows(self) -> dict[str, list[str]]:
        """rule -> the severity each result raised it with, worst first."""
        out: dict[str, list[str]] = {}
        for i, d in enumerate(self.data):
            for v in d.get("guardrails") or []:
                row = out.setdefault(v["rule"], [""] * len(self.data))
                if not row[i] or (SEVERITY_ORDER.index(v["severity"])
                                  < SEVERITY_ORDER.index(row[i])):
                    row[i] = v["severity"]
        rank = {s: n for n, s in enumerate(SEVERITY_ORDER)}
        return dict(sorted(out.items(), key=lambda kv: min(rank.get(s, 9) for s in kv[1] if s)))

    def _columns(self) -> list[str]:
        """Header: the base, then each other result and its difference from the base."""
        cols = [self.names[0]]
        for n in self.names[1:]:
            cols += [n, f"\u0394 vs {self.names[0]}"]
        return cols

    def _cells(self, label: str) -> list[str]:
        kind = self.kinds[label]
        vals, deltas = self.rows[label], self.deltas[label]
        cells = [fmt(vals[0], kind)]
        for v, d in zip(vals[1:], deltas[1:], strict=True):
            cells += [fmt(v, kind), "" if kind == "text" else fmt_delta(d, kind)]
        return cells

    def _guardrail_cells(self, severities: list[str]) -> list[str]:
        cells = [severities[0] or "-"]
        for s in severities[1:]:
            cells += [s or "-", ""]
        return cells

    def _repr_html_(self) -> str:
        rows = [text_row("metric", self._columns(), header=True)]
        rows += [text_row(k, self._cells(k)) for k in self.rows]
        if self.guardrails:
            rows.append(text_row("guardrails broken", ["" for _ in self._columns()], header=True))
            rows += [text_row(rule, self._guardrail_cells(sev))
                     for rule, sev in self.guardrails.items()]
        caption = ("<div style='font-size:11px;color:#666'>\u0394: difference from "
                   f"{html.escape(self.names[0])} (pp: percentage points)</div>")
        return table(rows, "equihome-compare") + caption

    def __repr__(self) -> str:
        lines = [("metric", *self._columns())]
        lines += [(k, *self._cells(k)) for k in self.rows]
        if self.guardrails:
            lines.append(("guardrails broken", *("" for _ in self._columns())))
            lines += [(f"  {rule}", *self._guardrail_cells(s)) for rule, s in self.guardrails.items()]
        return "\n".join(text_table(lines))

    def to_frame(self) -> Any:
        """The values as a pandas DataFrame: one row per metric, one column per result (raw
        numbers: rates as fractions, dollars in $), and the guardrail severities."""
        from equihome.run.analysis_result import require_pandas

        pd = require_pandas()
        frame = pd.DataFrame.from_dict(self.rows, orient="index", columns=self.names)
        rules = pd.DataFrame.from_dict({f"guardrail:{r}": s for r, s in self.guardrails.items()},
                                       orient="index", columns=self.names)
        return pd.concat([frame, rules]) if len(rules) else frame


def compare(results: Iterable[SimulationResult | dict], names: Iterable[str] | None = None
            ) -> Comparison:
    """A side-by-side table of the key numbers of several results, with each one's
    difference from the first and the guardrails each breaks."""
    return Comparison(list(results), names)
