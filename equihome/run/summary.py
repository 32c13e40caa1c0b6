"""The wire ``result`` payload of a run, summarised from its per-scenario arrays.

``summarise(plan, acc)`` takes the engine's Plan and Accumulator (typed loosely here: this
module sits below the engine, which imports it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from equihome.io.config import FundConfig
from equihome.model import contracts, exit_simulator, leverage, metrics, streams
from equihome.model.layout import ZONES

SAMPLE_STEP = 3               # months between the points kept of each sample path


def tranche_table(plan: Any, acc: Any) -> list[dict]:
    """Median annual return and multiple of each debt tranche, then the LP equity."""
    rows = []
    for t, tr in enumerate(exit_simulator.sorted_tranches(plan.cfg)):
        irr, mult = acc.tranches[:, t, 0], acc.tranches[:, t, 1]
        rows.append({"name": tr.name, "type": tr.type, "return": _nanmedian(irr),
                     "multiple": _nanmedian(mult)})
    rows.append({"name": "Equity", "type": "equity", "return": _nanmedian(acc.metrics["lp_irr"]),
                 "multiple": _nanmedian(acc.metrics["lp_tvpi"])})
    return rows


def _nanmedian(x: np.ndarray) -> float | None:
    v = x[np.isfinite(x)]
    return float(np.median(v)) if v.size else None


def summarise(plan: Any, acc: Any) -> dict:
    """The wire ``result`` payload from the run's per-scenario summaries."""
    cfg = plan.cfg
    stats = metrics.describe_all(acc.metrics)
    risk = metrics.risk(acc.metrics["lp_loss"], acc.metrics["lp_irr"], cfg.hurdle_rate)
    headline = {
        "irr": stats["lp_irr"]["p50"],
        "equity_multiple": stats["lp_tvpi"]["p50"],
        "roi": stats["roi"]["p50"],
        "lp_irr_p5": stats["lp_irr"]["p5"],
        "lp_irr_p95": stats["lp_irr"]["p95"],
        "gross_irr": stats["gross_irr"]["p50"],
        "fund_irr": stats["fund_irr"]["p50"],
        "lp_dpi": stats["lp_dpi"]["p50"],
        "gp_carry": stats["gp_carry"]["p50"],
        "hurdle_clear_probability": risk["hurdle_clear_probability"],
        "var_99": risk["var_99"],
        "cvar_99": risk["cvar_99"],
    }
    years = [cfg.vintage_year + y for y in range(cfg.fund_term + 1)]
    fans = {"years": years, **{name: metrics.fan(v) for name, v in acc.yearly.items()}}
    samples: dict[str, Any] = {
        name: [row for _, part in sorted(parts, key=lambda p: p[0]) for row in part]
        for name, parts in acc.samples.items()}
    if "zone_index" in samples:
        samples["zone_index"] = {z: [row[:, i] for row in samples["zone_index"]]
                                 for i, z in enumerate(ZONES)}
    if samples:
        samples["months"] = list(range(0, cfg.months + 1, SAMPLE_STEP))
    extra = {"contract": contract_section(cfg, acc)} if contracts.stated(cfg) else {}
    if leverage.active(cfg):
        extra["leverage"] = leverage_section(cfg, acc)
    if plan.book is not None:
        extra["portfolio"] = portfolio_section(plan, acc)
    return {
        "metrics": headline,
        "loans": int(round(stats["num_loans"]["p50"] or 0)),
        "fund_size": cfg.fund_size,
        "num_simulations": plan.n,
        "seed": plan.seed,
        "rng": streams.SCHEME,
        "statistics": stats,
        "risk": risk,
        "fans": fans,
        "histograms": {m: metrics.histogram(acc.metrics[m]) for m in metrics.HISTOGRAMS},
        "exit_mix": metrics.exit_mix(acc.exit_counts),
        "tranches": tranche_table(plan, acc),
        "irr_diagnostics": {"multiple_roots": int((acc.irr_flags == 1).sum()),
                            "no_irr": int((acc.irr_flags == 2).sum())},
        "sample_paths": samples,
        "config": cfg.to_dict(),
        **extra,
    }


def contract_section(cfg: FundConfig, acc: Any) -> dict:
    """The result's ``contract``: its type, a one-line summary and the distribution over
    scenarios of the effective rate and the cap-binding share."""
    return {"type": cfg.contract.type, "summary": contracts.summary(cfg),
            "statistics": metrics.describe_all(acc.contract)}


def leverage_section(cfg: FundConfig, acc: Any) -> dict:
    """The result's ``leverage``: which facilities, the distribution over scenarios of their
    metrics (leverage.LEVERAGE_METRICS), and drawn-balance fans by year ($)."""
    lev = cfg.leverage
    return {"nav_facility": lev.nav_facility.enabled,
            "subscription_line": lev.subscription_line.enabled,
            "statistics": metrics.describe_all(acc.leverage),
            "fans": {y: metrics.fan(v) for y, v in acc.leverage_yearly.items()}}


def portfolio_section(plan: Any, acc: Any) -> dict[str, Any]:
    """The fund's own book in the result: where the simulation starts, what the tape held,
    the opening NAV ($, the same in every scenario) and the assumptions in words."""
    book, pf = plan.book, plan.cfg.portfolio
    opening = acc.loans["opening_nav"]
    return {
        "as_of": pf.as_of, "inception": book.inception, "start_month": book.start,
        "loans": book.n, "exited_ignored": book.exited,
        "defaulted": int((book.default >= 0).sum()),
        "advanced": float(book.size.sum()), "cash": book.cash, "called_to_date": book.called,
        "distributed_to_date": float(pf.distributed_to_date),
        "opening_nav": float(opening[0]) if opening.size else None,
        "since_inception": book.history, "notes": list(book.notes),
    }
