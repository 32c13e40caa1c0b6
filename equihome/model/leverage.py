"""The fund's facilities (DOMAIN.md, "Leverage"): the ledger kernel's leverage scalars, the
per-scenario numbers a committee reads, and the facilities' guardrails.

The facilities themselves run month by month inside the ledger kernel (``_leverage.pxi`` and
its twin ``reference_leverage.py``), which records them in ``LedgerRun.lever`` (rows
``layout.LEVER_ROWS``, $ per month). Interest is the nominal annual rate / 12 on the balance at
the start of the month; commitment fees the same on the undrawn limit.
"""

from __future__ import annotations

import math

import numpy as np

from equihome.io.config import MONTHS_PER_YEAR, FundConfig
from equihome.model.layout import COL, LEV

#: Per-scenario leverage metrics (the result's ``leverage.statistics``), $ unless noted.
LEVERAGE_METRICS = (
    "lp_irr_unlevered", "lp_irr_uplift", "nav_facility_peak", "subscription_line_peak",
    "facility_interest", "facility_fees", "covenant_months", "min_interest_coverage",
    "lender_loss", "nav_facility_capitalised",
)
#: Year-end drawn balances ($), fanned P5/P50/P95 by year.
LEVERAGE_YEARLY = ("nav_facility_drawn", "subscription_line_drawn")
COVERAGE_MONTHS = 12  # the interest-coverage window, trailing months
NOISE = 1e-6          # $: a net flow smaller than a micro-dollar is rounding, not money


def active(cfg: FundConfig) -> bool:
    """True when a facility is enabled: results then carry the ``leverage`` section."""
    return cfg.leverage.active


def kernel_params(cfg: FundConfig) -> dict:
    """The leverage scalars of the LedgerParams struct (_core.pxd); all off without leverage."""
    nav, sub = cfg.leverage.nav_facility, cfg.leverage.subscription_line
    start, end = nav.window(cfg.fund_term)
    return dict(
        nav_on=int(nav.enabled), nav_adv=float(nav.advance_rate),
        nav_limit=math.inf if nav.limit is None else float(nav.limit),
        nav_rate_m=(nav.base_rate + nav.spread) / MONTHS_PER_YEAR,
        nav_fee_m=nav.commitment_fee / MONTHS_PER_YEAR,
        nav_deploy=int(nav.enabled and nav.draw_policy == "deploy"),
        nav_win_start=start, nav_win_end=end, nav_covenant=float(nav.ltv_covenant),
        sub_on=int(sub.enabled), sub_frac=float(sub.limit_fraction),
        sub_rate_m=sub.rate / MONTHS_PER_YEAR, sub_fee_m=sub.commitment_fee / MONTHS_PER_YEAR,
        sub_months=int(sub.max_outstanding_months))


def line_lender_flows(lever: np.ndarray) -> np.ndarray:
    """(S, M+1) the subscription line's flows from its lender's side ($): draws negative,
    principal repaid, interest and fees positive (capitalised charges cancel out)."""
    return (lever[:, LEV["sub_repaid"]] + lever[:, LEV["sub_interest"]]
            + lever[:, LEV["sub_fees"]] - lever[:, LEV["sub_draws"]])


def unlevered_equity(ledger: np.ndarray, lever: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equity calls and distributions (S, M+1), $, as if the fund had no subscription line:
    each draw becomes a call in the month of need and every dollar paid to the line's lender
    (principal, interest, fees) stays with the investors. Net flow = levered net + the line
    lender's flow (residues below NOISE $ of the cancellation set to 0: they would only add
    sign changes to the IRR); split into a call where negative and a distribution where
    positive. Payments to the line funded by other debt count as the investors' too."""
    net = (ledger[:, COL["distributions"]] - ledger[:, COL["calls"]]
           + line_lender_flows(lever))
    net = np.where(np.abs(net) < NOISE, 0.0, net)
    return np.maximum(-net, 0.0), np.maximum(net, 0.0)


def interest_coverage(ledger: np.ndarray, lever: np.ndarray) -> np.ndarray:
    """(S,) minimum over trailing 12-month windows (ending in months 11..M; the whole fund if
    shorter) of proceeds after fees ($: proceeds - management fees - expenses - transaction
    fees) / the NAV facility's interest due (the line is serviced by the commitments, not the
    book); NaN when no interest is due in any window."""
    after = (ledger[:, COL["proceeds"]] - ledger[:, COL["management_fees"]]
             - ledger[:, COL["expenses"]] - ledger[:, COL["transaction_fees"]])
    due = lever[:, LEV["nav_interest"]]
    w = min(COVERAGE_MONTHS, after.shape[1])
    num = _window_sums(after, w)
    den = _window_sums(due, w)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a tiny den: inf
        cover = np.where(den > 0.0, num / np.where(den > 0.0, den, 1.0), np.inf)
    low = cover.min(axis=1)
    return np.where(np.isfinite(low), low, np.nan)


def _window_sums(x: np.ndarray, w: int) -> np.ndarray:
    """(S, N - w + 1) sums of x over each window of w consecutive months, each added month by
    month from its first (not as a difference of running sums, which loses a window of tiny
    interest behind large earlier months, or invents one from their rounding)."""
    n = x.shape[1] - w + 1
    out = x[:, :n].copy()
    for i in range(1, w):
        out += x[:, i:i + n]
    return out


def scenario_metrics(ledger: np.ndarray, lever: np.ndarray, lp_irr: np.ndarray,
                     lp_irr_unlevered: np.ndarray) -> tuple[dict, dict]:
    """Per scenario: LEVERAGE_METRICS (S,) and LEVERAGE_YEARLY (S, T+1) year-end balances."""
    nav_bal, sub_bal = lever[:, LEV["nav_balance"]], lever[:, LEV["sub_balance"]]
    per = {
        "lp_irr_unlevered": lp_irr_unlevered,
        "lp_irr_uplift": lp_irr - lp_irr_unlevered,
        "nav_facility_peak": nav_bal.max(axis=1),
        "subscription_line_peak": sub_bal.max(axis=1),
        "facility_interest": (lever[:, LEV["nav_interest"]] + lever[:, LEV["sub_interest"]]
                              ).sum(axis=1),
        "facility_fees": (lever[:, LEV["nav_fees"]] + lever[:, LEV["sub_fees"]]).sum(axis=1),
        "covenant_months": lever[:, LEV["covenant_breach"]].sum(axis=1),
        "min_interest_coverage": interest_coverage(ledger, lever),
        "lender_loss": lever[:, LEV["lender_loss"], -1],
        "nav_facility_capitalised": lever[:, LEV["nav_capitalised"]].sum(axis=1),
    }
    yearly = {"nav_facility_drawn": np.ascontiguousarray(nav_bal[:, ::MONTHS_PER_YEAR]),
              "subscription_line_drawn": np.ascontiguousarray(sub_bal[:, ::MONTHS_PER_YEAR])}
    return per, yearly


def checks(cfg: FundConfig, per: dict[str, np.ndarray]) -> list[dict]:
    """The facilities' guardrails (none without leverage): ``facility_ltv`` (the covenant
    breached in more than the allowed share of scenarios, default any: error),
    ``interest_coverage`` (the median scenario's minimum coverage below the limit: warning),
    ``subscription_line_irr_uplift`` (median LP IRR - LP IRR as if unlevered above the limit:
    warning)."""
    from equihome.model.guardrail_monitor import violation  # below the engine; no cycle

    if not active(cfg) or not per:
        return []
    g, out = cfg.guardrails, []
    share = float((per["covenant_months"] > 0).mean())
    if cfg.leverage.nav_facility.enabled and share > g.facility_ltv:
        out.append(violation(
            "facility_ltv", "error",
            f"The NAV facility breaches its {cfg.leverage.nav_facility.ltv_covenant:.0%} LTV "
            f"covenant in {share:.1%} of scenarios (median "
            f"{float(np.median(per['covenant_months'])):.0f} months in breach)",
            max_allowed=g.facility_ltv, actual=share, share_of_scenarios=share,
            scenarios=int((per["covenant_months"] > 0).sum())))
    cover = per["min_interest_coverage"]
    cover = cover[np.isfinite(cover)]
    if cover.size and float(np.median(cover)) < g.interest_coverage:
        median = float(np.median(cover))
        out.append(violation(
            "interest_coverage", "warning",
            f"The median scenario's minimum interest coverage (trailing 12 months of proceeds "
            f"after fees / facility interest) is {median:.2f}x, below {g.interest_coverage:.2f}x "
            f"({float((cover < g.interest_coverage).mean()):.1%} of scenarios below)",
            min_allowed=g.interest_coverage, actual=median, worst=float(cover.min()),
            share_of_scenarios=float((cover < g.interest_coverage).mean())))
    uplift = per["lp_irr_uplift"]
    uplift = uplift[np.isfinite(uplift)]
    if (cfg.leverage.subscription_line.enabled and uplift.size
            and float(np.median(uplift)) > g.subscription_line_irr_uplift):
        median = float(np.median(uplift))
        out.append(violation(
            "subscription_line_irr_uplift", "warning",
            f"The subscription line lifts the median LP IRR by {median:.2%} over the same fund "
            f"without it, above {g.subscription_line_irr_uplift:.2%}: that much of the LP IRR "
            "is timing, not return", max_allowed=g.subscription_line_irr_uplift, actual=median))
    return out
