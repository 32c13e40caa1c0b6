"""Stage 7, metrics: per-scenario returns and risk, then their distribution over scenarios.

Per scenario (all IRRs annualised from monthly flows, (1 + r_m)^12 - 1; ``NaN`` when no
IRR exists, reported as ``null``): gross IRR (advances vs loan proceeds), fund IRR (equity
calls vs distributions: after fees, before carry), LP net IRR, LP TVPI = DPI + RVPI,
equity multiple (= LP TVPI), ROI = multiple - 1, GP carry and total income ($), payback
month, loan counts, deployed capital ($), loss rate, weighted average life (years), NAV
drawdown (share of commitments), fees charged and paid, fees still owed at fund end (a
liability: it makes the final NAV and RVPI negative), carry not clawed back ($), and the
exit mix. Across scenarios every metric gets mean, std, standard error, min, P5, P25, P50,
P75, P95, max and the count of finite values; risk is VaR/CVaR of the LP loss
max(0, 1 - TVPI) (CVaR counted by scenarios), the probability that the LP IRR clears the
hurdle (ties clear), and fans (P5/P50/P95 by year) of NAV, the J-curve and TVPI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from typing import Any

import numpy as np

from equihome.io.config import MONTHS_PER_YEAR, FundConfig
from equihome.model import contracts, leverage, waterfall_engine
from equihome.model.cashflow_aggregator import CashFlows
from equihome.model.exit_simulator import LedgerRun
from equihome.model.fixed_math import int_pow
from equihome.model.layout import COL, EXIT_NAMES, ExitKind
from equihome.model.waterfall_engine import Waterfall

METRICS = (
    "lp_irr", "gross_irr", "fund_irr", "lp_tvpi", "lp_dpi", "lp_rvpi", "equity_multiple", "roi",
    "lp_loss", "gp_carry", "gp_total_income", "payback_month", "num_loans",
    "num_initial_loans", "num_reinvested_loans", "deployed_capital", "loss_rate", "wal_years",
    "nav_drawdown", "management_fees", "fund_expenses", "fees_paid", "unpaid_fees",
    "excess_carry",
)
#: Per-scenario numbers of the contract (contracts.scenario_metrics), reported in the result's
#: ``contract`` section when the config names a contract.
CONTRACT_METRICS = ("effective_rate", "cap_binding_share")
YEARLY = ("nav", "j_curve", "lp_tvpi", "lp_dpi", "lp_rvpi")
STATS = ("mean", "std", "se", "min", "p5", "p25", "p50", "p75", "p95", "max", "count")


def irr_annual(flows: np.ndarray, kernels) -> tuple[np.ndarray, np.ndarray]:
    """Annualised IRR of each row of monthly flows, and the kernel's root flag."""
    flows = np.ascontiguousarray(flows, dtype=float)
    rate = np.empty(flows.shape[0])
    flag = np.empty(flows.shape[0], dtype=np.int8)
    kernels.irr_batch(flows, float(MONTHS_PER_YEAR), rate, flag)
    with np.errstate(over="ignore"):  # a monthly rate past 1e25: +inf a year
        return int_pow(1.0 + rate, MONTHS_PER_YEAR) - 1.0, flag


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0 (inf when a tiny den overflows it), else NaN."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(den > 0.0, num / np.where(den > 0.0, den, 1.0), np.nan)


@dataclass
class ChunkMetrics:
    """What one chunk contributes to the run's summary."""

    metrics: dict[str, np.ndarray]
    yearly: dict[str, np.ndarray]
    exit_counts: np.ndarray                 # (S, len(EXIT_NAMES))
    tranches: np.ndarray                    # (S, NT, 2): lender IRR, multiple
    irr_flags: np.ndarray                   # (S,) LP IRR root flag
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    contract: dict[str, np.ndarray] = field(default_factory=dict)  # CONTRACT_METRICS, (S,)
    leverage: dict[str, np.ndarray] = field(default_factory=dict)  # LEVERAGE_METRICS, (S,)
    leverage_yearly: dict[str, np.ndarray] = field(default_factory=dict)  # (S, T+1)


def scenario_metrics(cfg: FundConfig, pool_size: np.ndarray, run: LedgerRun, cash: CashFlows,
                     fees: dict[str, np.ndarray], wf: Waterfall, kernels) -> ChunkMetrics:
    """Every per-scenario metric of a chunk, vectorised over its scenarios."""
    led = run.ledger
    lp_irr, flags = irr_annual(wf.lp_dist - wf.lp_calls, kernels)
    lp = lp_metrics(cfg, led, wf, kernels)
    tvpi = lp["dpi"] + lp["rvpi"]
    deployed, lost, adv_life, n_loans, n_reinv, counts = pool_metrics(pool_size, run, kernels)
    metrics = {
        "lp_irr": lp_irr,
        "gross_irr": irr_annual(cash.gross, kernels)[0],
        "fund_irr": irr_annual(cash.fund, kernels)[0],
        "lp_tvpi": tvpi,
        "lp_dpi": lp["dpi"],
        "lp_rvpi": lp["rvpi"],
        "equity_multiple": tvpi,
        "roi": tvpi - 1.0,
        "lp_loss": np.maximum(0.0, 1.0 - tvpi),
        "gp_carry": lp["gp_carry"],
        "gp_total_income": lp["gp_carry"] + fees["gp_fee_income"],
        "payback_month": lp["payback_month"],
        "num_loans": n_loans,
        "num_initial_loans": n_loans - n_reinv,
        "num_reinvested_loans": n_reinv,
        "deployed_capital": deployed,
        "loss_rate": _ratio(lost, deployed),
        "wal_years": _ratio(adv_life, deployed),
        "nav_drawdown": lp["nav_drawdown"],
        "management_fees": fees["management_fees"],
        "fund_expenses": fees["fund_expenses"],
        "fees_paid": fees["fees_paid"],
        "unpaid_fees": fees["unpaid_fees"],
        "excess_carry": wf.excess_carry,
    }
    yearly = {"nav": cash.nav_yearly, "j_curve": lp["j_curve"],
              "lp_tvpi": lp["dpi_yearly"] + lp["rvpi_yearly"], "lp_dpi": lp["dpi_yearly"],
              "lp_rvpi": lp["rvpi_yearly"]}
    out = ChunkMetrics(metrics, yearly, counts, tranche_returns(run.debt_flows, kernels), flags,
                       {"nav": led[:, COL["nav"]], "lp_cumulative_cash": lp["cumulative"]},
                       contracts.scenario_metrics(pool_size, run.orig_month, run.exit_month,
                                                  run.exit_type, run.proceeds, run.cap_bound)
                       if contracts.stated(cfg) else {})
    if leverage.active(cfg):
        out.leverage, out.leverage_yearly = leverage_metrics(cfg, pool_size, run, lp_irr, kernels)
    return out


def leverage_metrics(cfg: FundConfig, pool_size: np.ndarray, run: LedgerRun, lp_irr: np.ndarray,
                     kernels) -> tuple[dict, dict]:
    """The facilities' per-scenario metrics, with the LP IRR as if unlevered: the waterfall
    run again on the equity flows without the subscription line (leverage.unlevered_equity)."""
    calls, dist = leverage.unlevered_equity(run.ledger, run.lever)
    wf = waterfall_engine.split(cfg, calls, dist, run.ledger[:, COL["management_fees"]], run,
                                pool_size, kernels)
    unlevered = irr_annual(wf.lp_dist - wf.lp_calls, kernels)[0]
    return leverage.scenario_metrics(run.ledger, run.lever, lp_irr, unlevered)


def pool_metrics(pool_size: np.ndarray, run: LedgerRun, kernels) -> tuple[np.ndarray, ...]:
    """Per scenario, over the loans made, by the kernel (one pass, without the GIL):
    deployed $, lost $ (advance - proceeds where positive), advance x life ($-years), loans
    made, reinvested loans made (floats, (S,) each), and the (S, len(ExitKind)) exit counts."""
    S = pool_size.shape[0]
    sums = np.empty((S, 5))
    counts = np.empty((S, len(ExitKind)), dtype=np.int64)
    kernels.pool_metrics(pool_size, run.orig_month, run.receipt_month, run.exit_type,
                         run.reinvested, run.proceeds, sums, counts)
    return (*np.ascontiguousarray(sums.T), counts)


LP_SCALARS = ("paid_in", "dpi", "rvpi", "payback_month", "nav_drawdown", "gp_carry")
LP_YEARLY = ("j_curve", "dpi_yearly", "rvpi_yearly")


def lp_metrics(cfg: FundConfig, led: np.ndarray, wf: Waterfall, kernels) -> dict[str, np.ndarray]:
    """The LP's per-scenario metrics by the kernel (one pass, without the GIL): LP_SCALARS
    (S,) each, LP_YEARLY (S, T+1) at years 0, 1, ..., and ``cumulative``, the LP's
    cumulative net cash (S, M+1) $."""
    S, N = wf.lp_calls.shape
    scalars, cum = np.empty((S, len(LP_SCALARS))), np.empty((S, N))
    yearly = np.empty((len(LP_YEARLY), S, (N - 1) // 12 + 1))
    kernels.lp_metrics(led, wf.lp_calls, wf.lp_dist, wf.gp_carry,
                       1.0 - cfg.gp_commitment_percentage, float(cfg.fund_size), scalars, cum,
                       yearly)
    return {**dict(zip(LP_SCALARS, np.ascontiguousarray(scalars.T), strict=True)),
            **dict(zip(LP_YEARLY, yearly, strict=True)), "cumulative": cum}


def tranche_returns(debt_flows: np.ndarray, kernels) -> np.ndarray:
    """(S, NT, 2): each lender's annualised IRR and multiple (received / lent)."""
    S, NT, N = debt_flows.shape
    out = np.full((S, NT, 2), np.nan)
    for t in range(NT):
        f = debt_flows[:, t]
        out[:, t, 0] = irr_annual(f, kernels)[0]
        out[:, t, 1] = _ratio(np.clip(f, 0.0, None).sum(axis=1), -np.clip(f, None, 0.0).sum(axis=1))
    return out


# --------------------------------------------------------------------------- across scenarios


STAT_PERCENTILES = (5, 25, 50, 75, 95)


def percentiles(rows: np.ndarray, pct: tuple[float, ...]) -> np.ndarray:
    """(len(pct), k): ``np.percentile(rows, pct, axis=-1)`` of a (k, n) float matrix, n >= 1
    (of one row (n,): (len(pct),)), to the bit: each row sorted once (numpy's vectorised
    sort), then numpy's own "linear" rule on the sorted values -- virtual index v = (n - 1) q,
    q = pct / 100, between sorted[floor v] and the next (both the last past it), numpy's
    lerp, NaN for a row with a NaN -- instead of a partition for every percentile (a third
    of the time)."""
    s = np.sort(rows, axis=-1)
    n = s.shape[-1]
    v = (n - 1) * np.true_divide(np.asarray(pct, dtype=float), 100)
    below = np.floor(v)
    past = v >= n - 1
    lo = np.where(past, n - 1, below).astype(np.intp)
    hi = np.where(past, n - 1, below + 1).astype(np.intp)
    t = v - np.where(past, -1.0, below)  # numpy's gamma (its index -1 past the end)
    t = t.reshape(t.shape + (1,) * (s.ndim - 1))
    a, b = np.moveaxis(s[..., lo], -1, 0), np.moveaxis(s[..., hi], -1, 0)
    with np.errstate(invalid="ignore"):  # inf - inf, as numpy's own lerp meets it
        diff = b - a
        out = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return np.where(np.isnan(s[..., -1]), np.nan, out)  # sorted last: a NaN in the row


def describe(x: np.ndarray) -> dict[str, float | None]:
    """Distribution statistics of the finite values of x (None where undefined)."""
    v = x[np.isfinite(x)]
    if v.size == 0:
        return {k: (0 if k == "count" else None) for k in STATS}
    return _stats(v[None, :])[0]


def describe_all(values: dict[str, np.ndarray]) -> dict[str, dict[str, float | None]]:
    """describe() of each array, those of one length without gaps in one vectorised pass
    (rows of one C-ordered matrix, so every number is the one describe() gives)."""
    whole = [m for m, v in values.items() if v.size > 0 and np.isfinite(v).all()]
    out = {m: describe(v) for m, v in values.items() if m not in whole}
    by_size: dict[int, list[str]] = {}
    for m in whole:
        by_size.setdefault(values[m].size, []).append(m)
    for names in by_size.values():
        out.update(zip(names, _stats(np.stack([values[m] for m in names])), strict=True))
    return {m: out[m] for m in values}


def _stats(rows: np.ndarray) -> list[dict[str, float | None]]:
    """STATS of each row of a (k, n) matrix of finite values, n >= 1."""
    n = rows.shape[1]
    p = percentiles(rows, STAT_PERCENTILES)
    std = rows.std(axis=1, ddof=1) if n > 1 else np.zeros(rows.shape[0])
    mean, lo, hi = rows.mean(axis=1), rows.min(axis=1), rows.max(axis=1)
    return [{"mean": float(mean[i]), "std": float(std[i]), "se": float(std[i]) / np.sqrt(n),
             "min": float(lo[i]), "p5": float(p[0, i]), "p25": float(p[1, i]),
             "p50": float(p[2, i]), "p75": float(p[3, i]), "p95": float(p[4, i]),
             "max": float(hi[i]), "count": int(n)} for i in range(rows.shape[0])]


HIST_BINS = 40                 # bins of a result histogram, whatever the scenario count
HIST_RANGE = (0.5, 99.5)       # percentiles the bins span; the tails are counted apart
HISTOGRAMS = ("lp_irr", "lp_tvpi")


def histogram(x: np.ndarray) -> dict[str, Any]:
    """A bounded histogram of the finite values of x: ``edges`` (HIST_BINS + 1, in x's
    units) span its 0.5th to 99.5th percentile; ``counts`` per bin (the last bin includes
    its right edge); ``below``/``above`` count the tails outside the edges and ``missing``
    the non-finite values (an IRR that does not exist). Counts sum to len(x)."""
    v = x[np.isfinite(x)]
    missing = int(x.size - v.size)
    if v.size == 0:
        return {"edges": [], "counts": [], "below": 0, "above": 0, "missing": missing}
    lo, hi = (float(q) for q in percentiles(v, HIST_RANGE))
    if not hi - lo > 1e-9 * max(1.0, abs(lo), abs(hi)):  # one value (or nearly): bins around it
        pad = max(abs(lo) * 0.01, 1e-4)
        lo, hi = lo - pad, hi + pad
    counts, edges = np.histogram(v, bins=HIST_BINS, range=(lo, hi))
    return {"edges": edges.tolist(), "counts": counts.tolist(),
            "below": int((v < lo).sum()), "above": int((v > hi).sum()), "missing": missing}


HURDLE_TOLERANCE = 1e-9  # an LP IRR this close below the hurdle clears it (exact pref)


def tail_mean(x: np.ndarray, alpha: float) -> float:
    """Mean of the worst (largest) ceil(n (1 - alpha)) values: CVaR counted by scenarios.

    Never diluted by ties at the VaR (a VaR of 0 leaves the tail's losses whole), and never
    below the alpha-quantile.
    """
    n = x.size
    k = max(1, ceil(round(n * (1.0 - alpha), 9)))
    return float(np.sort(x)[n - k:].mean())


def risk(lp_loss: np.ndarray, lp_irr: np.ndarray, hurdle: float) -> dict[str, float | None]:
    """VaR/CVaR of the LP loss at 95 % and 99 %, hurdle-clear probability, P5 of LP IRR.

    VaR_a is the a-quantile of the loss (linear interpolation); CVaR_a the mean of the worst
    (1 - a) share of scenarios (:func:`tail_mean`). The hurdle is cleared when the LP IRR is
    at or above it within HURDLE_TOLERANCE (no IRR: not cleared).
    """
    out: dict[str, float | None] = {}
    for q, var in zip((95, 99), percentiles(lp_loss, (95, 99)).tolist(), strict=True):
        out[f"var_{q}"] = var
        out[f"cvar_{q}"] = max(tail_mean(lp_loss, q / 100.0), var)
    cleared = np.nan_to_num(lp_irr, nan=-np.inf) >= hurdle - HURDLE_TOLERANCE
    out["hurdle_clear_probability"] = float(np.mean(cleared))
    finite = lp_irr[np.isfinite(lp_irr)]
    out["irr_p5"] = float(percentiles(finite, (5,))[0]) if finite.size else None
    return out


FAN_QUANTILES = (5, 50, 95)


def fan(yearly: np.ndarray) -> dict[str, list]:
    """P5/P50/P95 by year of a (S, T+1) series, over the scenarios with a value (None where
    no scenario has one). Years where every scenario has a value take :func:`percentiles`;
    the others nanpercentile (column by column, the same numbers)."""
    finite = np.isfinite(yearly)
    whole, some = finite.all(axis=0), finite.any(axis=0) & ~finite.all(axis=0)
    cols = np.full((len(FAN_QUANTILES), yearly.shape[1]), np.nan)
    with np.errstate(all="ignore"):
        if whole.any():
            cols[:, whole] = percentiles(yearly[:, whole].T, FAN_QUANTILES)
        if some.any():
            cols[:, some] = np.nanpercentile(yearly[:, some], FAN_QUANTILES, axis=0)
    return {f"p{q}": col.tolist() for q, col in zip(FAN_QUANTILES, cols, strict=True)}


def exit_mix(counts: np.ndarray) -> dict[str, dict[str, float]]:
    """Share of loans made and mean count per scenario for each exit kind."""
    total = counts[:, 1:].sum()
    return {
        name: {"share": float(counts[:, k].sum() / total) if total else 0.0,
               "mean_per_scenario": float(counts[:, k].mean())}
        for k, name in enumerate(EXIT_NAMES) if k != ExitKind.NONE
    }
