"""The result of an analysis: its table for people, finite JSON for the wire, charts.

``AnalysisResult.data`` is the wire ``result`` payload: ``kind`` ("stress", "tornado",
"breakeven", "sweep"), ``num_simulations``, ``seed``, ``params``, ``config``, ``columns``
and ``rows`` (plus ``fans`` for stress, ``x``/``value``/``bracket`` for breakeven). Rates
print as percentages, multiples with an x, dollars in $M.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from equihome.io.result import SimulationResult, finite_json
from equihome.io.units import cell as cell  # the one unit rule and cell format, re-exported:
from equihome.io.units import kind_of as kind_of  # also used by the charts and the report


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                 statistic: str | None = None) -> str:
    """Rows as aligned text: a header of ``columns``, then one line per row (numbers right-
    aligned, text left-aligned)."""
    kinds = [kind_of(c, statistic) for c in columns]
    text = [["" if c == "error" and r.get(c) is None else cell(r.get(c), k)
             for c, k in zip(columns, kinds, strict=True)] for r in rows]
    widths = [max([len(c)] + [len(t[i]) for t in text]) for i, c in enumerate(columns)]
    left = [all(isinstance(r.get(c), str) or r.get(c) is None for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if lf else v.rjust(w)
                         for v, w, lf in zip(values, widths, left, strict=True)).rstrip()

    return "\n".join([line(columns), *(line(t) for t in text)])


class Table(list):
    """Rows (dicts) that print as an aligned text table of ``columns``, not a raw list."""

    def __init__(self, rows: Iterable[dict[str, Any]], columns: Sequence[str],
                 statistic: str | None = None) -> None:
        super().__init__(rows)
        self.columns = list(columns)
        self.statistic = statistic

    def __repr__(self) -> str:
        return format_table(self, self.columns, self.statistic)

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the table too (its list printer would otherwise take over)."""
        printer.text(repr(self))


def require_pandas() -> Any:
    """pandas, or an ImportError naming the extra to install."""
    try:
        import pandas
    except ImportError as exc:
        raise ImportError('to_frame() needs pandas: pip install "equihome[lab]"') from exc
    return pandas


class AnalysisResult:
    """A finished analysis. ``data``: the wire payload (finite JSON); ``results``: each
    variant's SimulationResult, in order (in-process runs only; empty when fetched)."""

    def __init__(self, data: dict[str, Any], results: Sequence[SimulationResult | None] = (),
                 execution_time: float = 0.0) -> None:
        self.data = finite_json(data)
        self.results = list(results)
        self.execution_time = execution_time

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.data["rows"]

    @property
    def table(self) -> Table:
        """The rows as a list of dicts that prints as an aligned table."""
        return Table(self.rows, self.data["columns"], self.data.get("statistic"))

    @property
    def x(self) -> float | None:
        """Breakeven: the input value found (None for other kinds)."""
        return self.data.get("x")

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def to_json(self, **kwargs: Any) -> str:
        """Finite JSON text, identical for the same inputs and seed on any backend."""
        return json.dumps(self.data, allow_nan=False, **kwargs)

    def to_frame(self, name: str = "rows") -> Any:
        """A typed pandas DataFrame: "rows" (the table; per-zone values split into
        ``<col>_green/_orange/_red`` numbers, lists as text), "summary", "fans" (stress) or
        "inputs" (``equihome.io.export``; needs pandas, ``equihome[lab]``)."""
        from equihome.io.export import analysis_frame

        return analysis_frame(self.data, name)

    def to_excel(self, path: Any) -> Any:
        """Write an .xlsx workbook (Summary, the table, Fans for stress, Inputs), numbers as
        formatted numbers (needs openpyxl, ``equihome[lab]``); returns the path."""
        from equihome.io.export import analysis_excel

        return analysis_excel(self.data, path)

    def summary(self) -> str:
        """A header line, the table, and for breakeven the answer in words."""
        d = self.data
        head = f"{self.kind}: {d['num_simulations']:,} scenarios per variant, seed {d['seed']}"
        if self.kind == "breakeven":
            k = kind_of("value", d["statistic"])
            answer = (f"{d['statistic']} = {cell(d['value'], k)} (target {cell(d['target'], k)}) "
                      f"at {d['parameter']} = {cell(d['x'], kind_of(d['parameter']))} after "
                      f"{d['iterations']} runs ({'converged' if d['converged'] else 'NOT converged'})")
            return "\n".join([head, answer, str(self.table)])
        return "\n".join([head, str(self.table)])

    __str__ = summary

    def __repr__(self) -> str:
        return f"<AnalysisResult {self.summary()}>"

    def plot(self, ax: Any = None) -> None:
        """The analysis's chart (tornado bars, stress LP IRR ranges, breakeven search) on
        ``ax`` or a new figure; needs matplotlib (``equihome[lab]``). Returns None."""
        from equihome.ui.charts import plot_analysis  # optional: only notebooks plot

        plot_analysis(self.data, ax)

    def report(self, path: str | Path) -> Path:
        """Write the committee report, one self-contained HTML page (the answer in words,
        the chart as inline SVG, the table, the guardrails broken, the inputs), to ``path``;
        returns the path. Needs matplotlib (``equihome[lab]``)."""
        from equihome.ui.report import write_report  # optional: the engine needs no matplotlib

        return write_report(self.data, path)

    def _repr_html_(self) -> str:
        """A static HTML rendering for notebooks (kept in saved and exported notebooks): the
        header line, the table (formatted as :attr:`table`, numbers right-aligned, input
        values in their own units) and the chart as inline SVG when matplotlib is
        importable."""
        import html

        d = self.data
        stat = d.get("statistic")
        cols = list(d["columns"])
        lines = self.summary().splitlines()
        title = "".join(f"<div class='equihome-analysis-title'><b>{html.escape(t)}</b></div>"
                        for t in lines[:2 if self.kind == "breakeven" else 1])
        inputs = {"tornado": ("low", "high"), "breakeven": ("x",)}.get(self.kind, ())
        left = {c: all(isinstance(r.get(c), (str, list)) or r.get(c) is None
                       for r in self.rows) for c in cols}

        def td(r: dict[str, Any], c: str, bold: bool) -> str:
            kind = (kind_of(str(r.get("parameter", d.get("parameter", "")))) if c in inputs
                    else kind_of(c, stat))
            style = (f"padding:2px 8px;text-align:{'left' if left[c] else 'right'};"
                     + ("white-space:normal;min-width:16em;font-size:11px" if c == "guardrails"
                        else "white-space:nowrap") + (";font-weight:bold" if bold else ""))
            text = "" if c == "error" and r.get(c) is None else cell(r.get(c), kind)
            return f"<td class='eq-{html.escape(c)}' style='{style}'>{html.escape(text)}</td>"

        header = "".join(
            f"<th style='padding:2px 8px;border-bottom:1px solid #888;text-align:"
            f"{'left' if left[c] else 'right'}'>{html.escape(c)}</th>" for c in cols)
        body = "".join(
            f"<tr style='background:{'#f4f6f8' if i % 2 else 'transparent'}'>"
            + "".join(td(r, c, i == 0 and self.kind == "stress") for c in cols) + "</tr>"
            for i, r in enumerate(self.rows))
        table = ("<table class='equihome-analysis-table' style='border-collapse:collapse;"
                 f"font-size:12px;font-variant-numeric:tabular-nums'><tr>{header}</tr>{body}"
                 "</table>")
        try:
            from equihome.ui.charts import svg  # the chart needs matplotlib (equihome[lab])

            chart = f"<div class='equihome-analysis-chart'>{svg(d)}</div>"
        except ImportError:
            chart = ""
        return (f"<div class='equihome-analysis equihome-{html.escape(self.kind)}'>"
                f"{title}{chart}<div style='overflow-x:auto'>{table}</div></div>")
