"""The result of a simulation: finite JSON for the wire, arrays and tables for people."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def finite_json(value: Any) -> Any:
    """Plain JSON data from numpy/python values; NaN and +-Infinity become None."""
    kind = type(value)  # the plain types first: a result holds tens of thousands of them
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is list and all(type(v) is float for v in value):  # a series (fans, samples)
        return [v if math.isfinite(v) else None for v in value]
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":  # fast path for the large float arrays (sample paths)
            out = value.astype(object)
            out[~np.isfinite(value)] = None
            return out.tolist()
        return finite_json(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def dumps(value: Any, **kwargs) -> str:
    """JSON text that never contains NaN or Infinity."""
    return json.dumps(finite_json(value), allow_nan=False, **kwargs)


class SimulationResult:
    """A finished run: ``.data`` is the wire ``result`` payload (finite JSON data).

    ``.scenarios`` holds the per-scenario metric arrays (NaN where a metric does not
    exist); ``.execution_time`` (s) and ``.stage_times`` are kept apart from ``.data`` so
    the same seed gives byte-identical ``to_json()`` on every run.
    """

    def __init__(self, data: dict, scenarios: Mapping[str, np.ndarray], execution_time: float,
                 stage_times: dict[str, float], kernels: str):
        self.data = finite_json(data)
        self.scenarios = scenarios
        self.execution_time = execution_time
        self.stage_times = stage_times
        self.kernels = kernels

    # Convenient views -----------------------------------------------------------------
    @property
    def metrics(self) -> dict:
        """Headline numbers: irr, equity_multiple, roi (medians) and their companions."""
        return self.data["metrics"]

    @property
    def statistics(self) -> dict:
        return self.data["statistics"]

    @property
    def risk(self) -> dict:
        return self.data["risk"]

    @property
    def fans(self) -> dict:
        return self.data["fans"]

    @property
    def guardrails(self) -> list[dict]:
        return self.data["guardrails"]

    @property
    def tranches(self) -> list[dict]:
        return self.data["tranches"]

    @property
    def exit_mix(self) -> dict:
        return self.data["exit_mix"]

    @property
    def seed(self) -> int:
        return self.data["seed"]

    def percentile(self, metric: str, q: float) -> float:
        """q-th percentile (0-100) of a per-scenario metric over its finite values."""
        v = self.scenarios[metric]
        return float(np.percentile(v[np.isfinite(v)], q))

    def to_dict(self) -> dict:
        return self.data

    def to_json(self, **kwargs) -> str:
        """The result as finite JSON text (identical for the same config and seed)."""
        return json.dumps(self.data, allow_nan=False, **kwargs)

    def to_frame(self, name: str = "scenarios") -> Any:
        """One table as a typed pandas DataFrame: "scenarios" (a row per scenario),
        "statistics", "summary", "fans" (by year), "guardrails", "tranches", "exit_mix",
        "risk" or "inputs" (``equihome.io.export``; needs pandas, ``equihome[lab]``)."""
        from equihome.io.export import simulation_frame

        return simulation_frame(self, name, LABELS)

    def to_excel(self, path: Any) -> Any:
        """Write an .xlsx workbook, a sheet per table, numbers as formatted numbers (needs
        openpyxl, ``equihome[lab]``); returns the path."""
        from equihome.io.export import simulation_excel

        return simulation_excel(self, path, LABELS)

    def to_parquet(self, path: Any) -> Any:
        """Write the scenarios table as Parquet (needs pyarrow, ``equihome[parquet]``);
        returns the path."""
        from equihome.io.export import scenarios_parquet

        return scenarios_parquet(self, path)

    # Display ---------------------------------------------------------------------------
    def summary_rows(self) -> list[tuple[str, str, str, str]]:
        """(metric, P5, median, P95) rows of the main metrics, formatted for people."""
        rows = []
        for label, key, kind in SUMMARY:
            st = self.statistics[key]
            rows.append((label, fmt(st["p5"], kind), fmt(st["p50"], kind), fmt(st["p95"], kind)))
        return rows

    def risk_rows(self) -> list[tuple[str, str, str]]:
        """(risk measure, value, what it means) rows, formatted for people."""
        hurdle = (self.data.get("config") or {}).get("hurdle_rate")
        return [(label, fmt(self.risk.get(key), kind),
                 RISK_MEANING[key].format(hurdle=fmt(hurdle, "%")))
                for label, key, kind in RISK_ROWS]

    def summary(self, guardrails: bool = True) -> str:
        """A plain-text table of the key numbers, the risk measures explained, the exit mix
        and (``guardrails``) the violations. Columns are as wide as their widest cell."""
        lines = [f"{self.data['num_simulations']:,} scenarios, seed {self.seed}", ""]
        lines += text_table([("metric", "P5", "median", "P95"), *self.summary_rows()])
        lines += ["", *text_table([("risk", "value", "meaning"), *self.risk_rows()],
                                  right=(1,))]
        if "contract" in self.data:
            c = self.data["contract"]
            lines.append(f"\ncontract: {c['summary']}; effective rate (median) "
                         f"{fmt(c['statistics']['effective_rate']['p50'], '%')}, cap binds in "
                         f"{fmt(c['statistics']['cap_binding_share']['p50'], '%')} of exits")
        if "leverage" in self.data:
            lines.append("\n" + leverage_line(self.data["leverage"],
                                               self.statistics["lp_irr"]["p50"]))
        if "portfolio" in self.data:
            b = self.data["portfolio"]
            lines.append(f"\nbook: {b['loans']:,} seasoned loans at {b['as_of']} (fund month "
                         f"{b['start_month']}), opening NAV {fmt(b['opening_nav'], '$')}; LP "
                         f"IRR {'since inception' if b['since_inception'] else 'from as_of'}")
        mix = ", ".join(f"{k} {v['share']:.1%}" for k, v in self.exit_mix.items())
        lines.append(f"\nexit mix: {mix}")
        for v in self.guardrails if guardrails else ():
            lines.append(f"[{v['severity']}] {v['rule']}: {v['message']}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        m = self.metrics
        return (f"<SimulationResult {self.data['num_simulations']} scenarios, seed {self.seed}: "
                f"LP IRR {fmt(m['irr'], '%')}, multiple {fmt(m['equity_multiple'], 'x')}>")

    def report(self, path: str | Path) -> Path:
        """Write the committee report, one self-contained HTML page (inputs, key numbers
        with P5-P95, risk in words, charts as inline SVG, guardrails), to ``path``; returns
        the path. Needs matplotlib (``pip install "equihome[lab]"``)."""
        from equihome.ui.report import write_report  # optional: the engine needs no matplotlib

        return write_report(self.data, path)


#: How people read each number: statistics or risk key -> (label, format for :func:`fmt`).
#: The one table of labels for the summary, the widgets and the explorer.
LABELS: dict[str, tuple[str, str]] = {
    "lp_irr": ("LP net IRR", "%"),
    "gross_irr": ("Gross IRR", "%"),
    "fund_irr": ("Fund IRR", "%"),
    "lp_tvpi": ("LP multiple (TVPI)", "x"),
    "lp_dpi": ("LP distributed (DPI)", "x"),
    "roi": ("ROI", "%"),
    "gp_carry": ("GP carry", "$"),
    "num_loans": ("Loans made", "#"),
    "loss_rate": ("Loss rate", "%"),
    "wal_years": ("WAL (years)", "n"),
    "fees_paid": ("Fees paid", "$"),
    "unpaid_fees": ("Fees owed at end", "$"),
    "hurdle_clear_probability": ("P(LP IRR \u2265 hurdle)", "%"),
    "var_99": ("VaR 99 of LP capital loss", "%"),
    "cvar_99": ("CVaR 99 of LP capital loss", "%"),
    "var_95": ("VaR 95 of LP capital loss", "%"),
    "cvar_95": ("CVaR 95 of LP capital loss", "%"),
    "effective_rate": ("Effective rate", "%"),
    "cap_binding_share": ("Cap-binding share", "%"),
    "lp_irr_unlevered": ("LP IRR as if unlevered", "%"),
    "lp_irr_uplift": ("LP IRR uplift (leverage)", "%"),
    "nav_facility_peak": ("NAV facility peak drawn", "$"),
    "subscription_line_peak": ("Subscription line peak", "$"),
    "facility_interest": ("Facility interest", "$"),
    "facility_fees": ("Facility fees", "$"),
    "covenant_months": ("Covenant months in breach", "n"),
    "min_interest_coverage": ("Min interest coverage", "x"),
    "lender_loss": ("Lender loss", "$"),
}


def labelled(*keys: str) -> tuple[tuple[str, str, str], ...]:
    """(label, key, format) rows for ``keys``, from :data:`LABELS`."""
    return tuple((LABELS[k][0], k, LABELS[k][1]) for k in keys)


SUMMARY = labelled("lp_irr", "gross_irr", "fund_irr", "lp_tvpi", "roi", "gp_carry", "num_loans",
                   "loss_rate", "wal_years", "fees_paid", "unpaid_fees")


#: What each risk row measures, for the summary, the views and the report.
RISK_MEANING: dict[str, str] = {
    "hurdle_clear_probability": "share of scenarios whose LP net IRR reaches the hurdle "
                                "({hurdle})",
    "var_95": "LP capital loss (1 - LP TVPI) exceeded in 5 % of scenarios",
    "cvar_95": "mean LP capital loss in the worst 5 % of scenarios",
    "var_99": "LP capital loss (1 - LP TVPI) exceeded in 1 % of scenarios",
    "cvar_99": "mean LP capital loss in the worst 1 % of scenarios",
}
RISK_ROWS = labelled("hurdle_clear_probability", "var_95", "cvar_95", "var_99", "cvar_99")


def fmt(v: float | None, kind: str) -> str:
    """A number for people: % percent, x multiple, $ dollars in $M, # count, n plain number
    (one decimal); n/a when missing."""
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return {"%": f"{v:.2%}", "x": f"{v:.3f}x", "$": f"${v / 1e6:,.2f}M", "#": f"{v:,.0f}",
            "n": f"{v:,.1f}"}.get(kind, f"{v:,.2f}")


def fmt_delta(d: float | None, kind: str) -> str:
    """A difference for people, signed: percentage points for rates, x for multiples, $M
    for dollars; blank when missing."""
    if d is None:
        return ""
    if kind == "%":
        return f"{d * 100:+.2f} pp"
    if kind == "$":
        return f"{'-' if d < 0 else '+'}${abs(d) / 1e6:,.2f}M"
    return {"x": f"{d:+.3f}x", "#": f"{d:+,.0f}", "n": f"{d:+,.1f}"}.get(kind, f"{d:+,.2f}")


def text_table(rows: list[tuple[str, ...]], right: tuple[int, ...] | None = None) -> list[str]:
    """Rows of text cells as aligned lines, the first row the header; each column as wide as
    its widest cell, two spaces apart. ``right``: the columns aligned right (default: all
    but the first)."""
    right = tuple(range(1, len(rows[0]))) if right is None else right
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in rows]


def leverage_line(lev: dict, lp_irr: float | None) -> str:
    """The facilities in one line of the summary (medians over scenarios unless noted)."""
    st = lev["statistics"]
    parts = [f"leverage: LP IRR {fmt(lp_irr, '%')} vs {fmt(st['lp_irr_unlevered']['p50'], '%')} "
             f"as if unlevered (median uplift {fmt(st['lp_irr_uplift']['p50'], '%')})"]
    if lev["nav_facility"]:
        parts.append(f"NAV facility peak {fmt(st['nav_facility_peak']['p50'], '$')}, covenant "
                     f"breached in {fmt(st['covenant_months']['mean'], 'n')} months (mean), min "
                     f"interest coverage {fmt(st['min_interest_coverage']['p50'], 'x')}")
    if lev["subscription_line"]:
        parts.append(f"line peak {fmt(st['subscription_line_peak']['p50'], '$')}")
    parts.append(f"interest {fmt(st['facility_interest']['p50'], '$')}, fees "
                 f"{fmt(st['facility_fees']['p50'], '$')}; lender loss (max) "
                 f"{fmt(st['lender_loss']['max'], '$')}")
    return "; ".join(parts)
