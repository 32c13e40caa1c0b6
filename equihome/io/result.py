"""The result of a simulation: finite JSON for the wire, arrays and tables for people."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite_json(value: Any) -> Any:
    """Plain JSON data from numpy/python values; NaN and +-Infinity become None."""
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

    def __init__(self, data: dict, scenarios: dict[str, np.ndarray], execution_time: float,
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

    # Display ---------------------------------------------------------------------------
    def summary_rows(self) -> list[tuple[str, str, str, str]]:
        """(metric, P5, median, P95) rows of the main metrics, formatted for people."""
        rows = []
        for label, key, kind in SUMMARY:
            st = self.statistics[key]
            rows.append((label, fmt(st["p5"], kind), fmt(st["p50"], kind), fmt(st["p95"], kind)))
        return rows

    def summary(self, guardrails: bool = True) -> str:
        """A plain-text table of the key numbers, exit mix and (``guardrails``) violations."""
        lines = [f"{self.data['num_simulations']:,} scenarios, seed {self.seed}",
                 f"{'metric':<24}{'P5':>12}{'median':>12}{'P95':>12}"]
        lines += [f"{a:<24}{b:>12}{c:>12}{d:>12}" for a, b, c, d in self.summary_rows()]
        r = self.risk
        lines.append(f"P(LP IRR >= hurdle) {fmt(r['hurdle_clear_probability'], '%')}   "
                     f"VaR99 {fmt(r['var_99'], '%')}   CVaR99 {fmt(r['cvar_99'], '%')}")
        if "contract" in self.data:
            c = self.data["contract"]
            lines.append(f"contract: {c['summary']}; effective rate (median) "
                         f"{fmt(c['statistics']['effective_rate']['p50'], '%')}, cap binds in "
                         f"{fmt(c['statistics']['cap_binding_share']['p50'], '%')} of exits")
        if "leverage" in self.data:
            lines.append(leverage_line(self.data["leverage"], self.statistics["lp_irr"]["p50"]))
        mix = ", ".join(f"{k} {v['share']:.1%}" for k, v in self.exit_mix.items())
        lines.append(f"exit mix: {mix}")
        for v in self.guardrails if guardrails else ():
            lines.append(f"[{v['severity']}] {v['rule']}: {v['message']}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        m = self.metrics
        return (f"<SimulationResult {self.data['num_simulations']} scenarios, seed {self.seed}: "
                f"LP IRR {fmt(m['irr'], '%')}, multiple {fmt(m['equity_multiple'], 'x')}>")


#: How people read each number: statistics or risk key -> (label, format for :func:`fmt`).
#: The one table of labels for the summary, the widgets and the explorer.
LABELS: dict[str, tuple[str, str]] = {
    "lp_irr": ("LP net IRR", "%"),
    "gross_irr": ("Gross IRR", "%"),
    "fund_irr": ("Fund IRR", "%"),
    "lp_tvpi": ("LP multiple (TVPI)", "x"),
    "roi": ("ROI", "%"),
    "gp_carry": ("GP carry", "$"),
    "num_loans": ("Loans made", "n"),
    "loss_rate": ("Loss rate", "%"),
    "wal_years": ("WAL (years)", "n"),
    "fees_paid": ("Fees paid", "$"),
    "unpaid_fees": ("Fees owed at end", "$"),
    "hurdle_clear_probability": ("P(LP IRR \u2265 hurdle)", "%"),
    "var_99": ("VaR 99", "%"),
    "cvar_99": ("CVaR 99", "%"),
    "var_95": ("VaR 95", "%"),
    "cvar_95": ("CVaR 95", "%"),
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


def fmt(v: float | None, kind: str) -> str:
    """A number for people: % percent, x multiple, $ dollars, n count; n/a when missing."""
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return {"%": f"{v:.2%}", "x": f"{v:.3f}x", "$": f"${v:,.0f}",
            "n": f"{v:,.1f}"}.get(kind, f"{v:,.2f}")


def usd_m(v: float | None) -> str:
    """Dollars in millions for people: $19.98M; n/a when missing."""
    return "n/a" if v is None else f"${v / 1e6:,.2f}M"


def leverage_line(lev: dict, lp_irr: float | None) -> str:
    """The facilities in one line of the summary (medians over scenarios unless noted)."""
    st = lev["statistics"]
    parts = [f"leverage: LP IRR {fmt(lp_irr, '%')} vs {fmt(st['lp_irr_unlevered']['p50'], '%')} "
             f"as if unlevered (median uplift {fmt(st['lp_irr_uplift']['p50'], '%')})"]
    if lev["nav_facility"]:
        parts.append(f"NAV facility peak {usd_m(st['nav_facility_peak']['p50'])}, covenant "
                     f"breached in {fmt(st['covenant_months']['mean'], 'n')} months (mean), min "
                     f"interest coverage {fmt(st['min_interest_coverage']['p50'], 'x')}")
    if lev["subscription_line"]:
        parts.append(f"line peak {usd_m(st['subscription_line_peak']['p50'])}")
    parts.append(f"interest {usd_m(st['facility_interest']['p50'])}, fees "
                 f"{usd_m(st['facility_fees']['p50'])}; lender loss (max) "
                 f"{usd_m(st['lender_loss']['max'])}")
    return "; ".join(parts)
