"""How a number reads: the one unit rule for every table, chart and report.

:func:`kind_of` says whether a config input, a statistic or a table column is a rate ("%",
a fraction shown as a percentage), a multiple ("x"), a dollar amount ("$M", shown in
millions) or a plain number ("": years, months, counts, seeds, correlations). The analysis
tables (``equihome.run.analysis_result``), the charts (``equihome.ui.charts.unit``) and the
HTML report all call it, so a value reads the same everywhere. :func:`cell` formats one value
in its unit. This module imports nothing of the package, so any layer may use it.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

#: Table columns that hold the analysed statistic (or a change of it): they read in the
#: statistic's unit.
STATISTIC_COLUMNS = frozenset({
    "statistic", "stat_low", "stat_base", "stat_high", "change", "change_se", "change_low",
    "change_high", "se_low", "se_high", "swing", "residual", "value", "target", "base_value"})

#: Names whose words mislead the hints below (full dotted paths first, then last parts).
EXACT: dict[str, str] = {
    "guardrails.loan_term_beyond_fund": "%",       # a share of capital, not a term
    "guardrails.weighted_average_life": "",        # years
    "fee_engine.annual_fund_expenses": "%",        # a rate of commitments per year
    "annual_fund_expenses": "%",
    "fund_size": "$M", "fixed_annual_expenses": "$M", "setup_costs": "$M", "size": "$M",
    "nav_drawdown": "%",                           # a share of commitments
    "speed": "", "lien_position": "", "priority": "", "efficient": "", "count": "",
}
DOLLAR_HINTS = ("carry", "fees_paid", "unpaid_fees", "management_fees", "fund_expenses",
                "deployed", "income", "loan_size", "j_curve", "nav")
MULTIPLE_HINTS = ("tvpi", "dpi", "rvpi", "multiple", "multiplier")
PLAIN_HINTS = ("num_", "month", "year", "term", "period", "time", "_count", "seed", "iteration",
               "correlation", "green_", "orange_", "per_zone", "wal", "life")
PERCENT_HINTS = ("irr", "rate", "share", "probability", "prob", "var_", "cvar", "loss", "roi",
                 "appreciation", "hurdle", "volatility", "ltv", "fee", "return", "cap",
                 "percentage", "discount", "cost", "weight", "threshold", "allocation",
                 "concentration", "variation", "reserve", "severity", "immediate", "decline",
                 "margin", "adjustment", "haircut", "floor", "ratio")


def kind_of(name: str | None, statistic: str | None = None) -> str:
    """How ``name`` (a config path such as ``fee_engine.management_fee_rate``, a statistic
    such as ``lp_irr:p50`` or ``cvar_99``, or a table column) reads: "%" a rate, "x" a
    multiple, "$M" dollars, "" a plain number (years, months, counts) or text.

    A column in :data:`STATISTIC_COLUMNS` reads in the unit of ``statistic`` when one is
    given. Decided by the first match of: the exact names of :data:`EXACT` (the full path,
    then its last part), then words for dollars, multiples, plain numbers and rates, in that
    order; anything else is plain.
    """
    name = (name or "").partition(":")[0]
    if statistic and name in STATISTIC_COLUMNS:
        name = statistic.partition(":")[0]
    leaf = name.rpartition(".")[2]
    for key in (name, leaf):
        if key in EXACT:
            return EXACT[key]
    for hints, kind in ((DOLLAR_HINTS, "$M"), (MULTIPLE_HINTS, "x"), (PLAIN_HINTS, ""),
                        (PERCENT_HINTS, "%")):
        if any(h in leaf for h in hints):
            return kind
    return "%" if name in STATISTIC_COLUMNS else ""


def finite_number(v: Any) -> TypeGuard[float]:
    """True for a finite int or float (not a bool, NaN or infinity)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def cell(v: Any, kind: str = "") -> str:
    """One value for a text table in its unit (n/a when missing; per-zone values as g/o/r):
    rates to 0.01 %, multiples to 0.001x, dollars in $M to $0.01M, others to 4 digits."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dict) and set(v) == {"green", "orange", "red"}:
        return "/".join(cell(v[z], kind) for z in ("green", "orange", "red"))
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "-"
    if isinstance(v, float):
        if kind == "%":
            return f"{v:.2%}"
        if kind == "x":
            return f"{v:.3f}x"
        if kind == "$M":
            return f"${v / 1e6:,.2f}M"
        return f"{v:.4g}"
    return str(v)


__all__ = ["STATISTIC_COLUMNS", "cell", "finite_number", "kind_of"]
