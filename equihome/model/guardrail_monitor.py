"""Stage 8, guardrail_monitor: risk limits a strategy breaks (reported, never blocking).

Config checks run before the simulation; portfolio and result checks after it. Each
violation is ``{"rule", "severity", "message", "details": {"max_allowed" | "min_allowed",
"actual", ...}}`` (DOMAIN.md's catalogue; thresholds under ``guardrails`` in the config).
A portfolio rule (loan size, LTV, concentration, force-liquidation, fees owed) is measured
in each scenario, never on capital pooled across scenarios: it fires when any scenario
breaches, and its details give the share of scenarios that breach, the worst and the median
value, so that a result does not depend on how many scenarios ran. A zone's share may pass
its limit by one ticket (the scenario's largest advance ÷ its deployed capital): discrete
loans track an allocation only to within one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from equihome.io.config import FundConfig
from equihome.model import contracts
from equihome.model.layout import SHARE_METHODS, ZONES, base_share, zone_array
from equihome.model.loan_generator import LoanPool
from equihome.model.portfolio import Book

SHARE_TOLERANCE = 1e-3  # shares compared at 0.1 % precision
STRESS_FALL = 0.20
CENT = 0.005            # $: owed amounts below half a cent are rounding, not debt


def violation(rule: str, severity: str, message: str, **details) -> dict:
    """One guardrail_violation payload."""
    return {"rule": rule, "severity": severity, "message": message, "details": details}


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _usd(x: float) -> str:
    return f"${x:,.0f}"


def _num(x: float) -> str:
    return f"{x:.4f}"


def per_scenario(rule: str, severity: str, what: str, values: np.ndarray, limit: float,
                 fmt: Callable[[float], str] = _num, slack: np.ndarray | float = 0.0,
                 **extra) -> list[dict]:
    """A violation when ``values`` (S,) pass ``limit`` (+ ``slack``) in any scenario.

    Details: max_allowed, actual (the worst scenario), median, share_of_scenarios and the
    count of scenarios breaching.
    """
    values = np.asarray(values, dtype=float)
    breach = values > limit + slack
    if values.size == 0 or not breach.any():
        return []
    worst, median, share = float(values.max()), float(np.median(values)), float(breach.mean())
    return [violation(
        rule, severity,
        f"{what} is above the limit {fmt(limit)} in {share:.1%} of scenarios "
        f"(worst {fmt(worst)}, median {fmt(median)})",
        max_allowed=float(limit), actual=worst, median=median, share_of_scenarios=share,
        scenarios=int(breach.sum()), **extra)]


def config_checks(cfg: FundConfig, num_simulations: int, seed_given: bool, seed: int) -> list[dict]:
    """Checks that need no simulation: too few scenarios, missing seed."""
    g = cfg.guardrails
    out = []
    if num_simulations < g.min_simulations:
        out.append(violation(
            "min_simulations", "info",
            f"{num_simulations} scenarios are fewer than the {g.min_simulations} a "
            "trustworthy tail (VaR/CVaR 99 %) needs",
            min_allowed=g.min_simulations, actual=num_simulations))
    if g.seed_missing and not seed_given:
        out.append(violation(
            "seed_missing", "info",
            f"No seed was given; seed {seed} was drawn and used (pass it to repeat this run)",
            min_allowed=1, actual=0, seed=seed))
    return out


def loan_stats(cfg: FundConfig, pool: LoanPool, orig_month: np.ndarray,
               exit_type: np.ndarray, kernels, book: Book | None = None) -> dict[str, np.ndarray]:
    """Per-scenario loan facts the portfolio checks need (loans actually made only), $ or shares,
    reduced by the kernels' ``loan_stats``.

    With the fund's own ``book`` (its T loans first in the pool): its loans count by their real
    suburb names (groups after the model's J suburbs, :func:`suburb_groups`), their liens and
    senior balances by their own terms; the synthetic loans' junior pattern starts after them.
    """
    ltv = pool.ltv
    share = base_share(SHARE_METHODS[cfg.appreciation_share_method], ltv,
                       cfg.appreciation_share, cfg.tiered_appreciation_shares[0]) \
        if cfg.share_depreciation else 0.0
    stress = (ltv - share * STRESS_FALL) / (1.0 - STRESS_FALL)
    if cfg.contract.type != "interest_plus_share":
        stress = contracts.stress_claim_ratio(cfg, ltv, STRESS_FALL)
    T = book.n if book else 0
    c = cfg.contract
    S, K = ltv.shape
    senior = np.where(contracts.junior_mask(cfg, K - T),
                      c.senior_balance_ratio if c.lien_position > 1 else 0.0, 0.0)
    if book is not None:
        senior = np.concatenate([book.terms["tape_senior"], senior])
    groups, G = suburb_groups(cfg, pool.suburb, book)
    peaks, zone_max, zone_sum = np.empty((S, 5)), np.empty((S, len(ZONES))), np.empty((S, len(ZONES)))
    group_sum = np.empty((S, G))
    kernels.loan_stats(pool.size, ltv, np.ascontiguousarray(stress),
                       np.ascontiguousarray(senior, dtype=float), 1.0 - c.start_value_haircut,
                       pool.zone, np.ascontiguousarray(groups, dtype=np.intc), orig_month,
                       exit_type, peaks, zone_max, zone_sum, group_sum)
    return {
        "max_ltv": peaks[:, 0],
        "stress_ltv": peaks[:, 1],
        "largest_loan": peaks[:, 2],
        "max_loan_by_zone": zone_max,
        "deployed_by_zone": zone_sum,
        "deployed_by_suburb": group_sum,
        "combined_ltv": peaks[:, 3],
        "liquidated": peaks[:, 4],
    }


def real_suburbs(book: Book | None) -> list[str]:
    """The distinct suburb names on a book's tape, sorted (none without a book)."""
    return sorted({n for n in book.suburb_name if n is not None}) if book is not None else []


def suburb_group_count(cfg: FundConfig, book: Book | None = None) -> int:
    """G, the suburb groups concentration is measured over: the model's J suburbs, then one
    per real suburb named on the book's tape (:func:`suburb_groups`)."""
    return len(ZONES) * cfg.price_path.suburbs_per_zone + len(real_suburbs(book))


def suburb_groups(cfg: FundConfig, suburb: np.ndarray,
                  book: Book | None = None) -> tuple[np.ndarray, int]:
    """(S, K) suburb group of each pool loan and the number of groups G: the model's J suburbs,
    then, with a ``book``, one group per real suburb named on the tape (its loans without a
    name stay in their model suburb), so concentration is per real suburb."""
    G = suburb_group_count(cfg, book)
    if book is None:
        return suburb, G
    J = len(ZONES) * cfg.price_path.suburbs_per_zone
    index = {n: J + i for i, n in enumerate(real_suburbs(book))}
    tape = np.array([index.get(n, -1) for n in book.suburb_name], dtype=np.intc)
    groups = suburb.copy()
    T = book.n
    groups[:, :T] = np.where(tape >= 0, tape, suburb[:, :T])
    return groups, G


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole, 0 where nothing was deployed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole > 0.0, part / np.where(whole > 0.0, whole, 1.0), 0.0)


def loan_checks(cfg: FundConfig, stats: dict[str, np.ndarray],
                unpaid_fees: np.ndarray | None = None) -> list[dict]:
    """Portfolio limits, each measured per scenario (see the module docstring)."""
    g = cfg.guardrails
    out = per_scenario("max_ltv", "warning", "The highest origination LTV", stats["max_ltv"],
                       g.max_ltv)
    out += per_scenario("stress_ltv", "error",
                        f"A loan's claim/value after a {STRESS_FALL:.0%} price fall",
                        stats["stress_ltv"], g.stress_ltv)
    deployed = stats["deployed_by_zone"].sum(axis=1)
    ticket = np.maximum(_share(stats["largest_loan"], deployed), SHARE_TOLERANCE)
    limits, conc = zone_array(g.max_loan_size), zone_array(g.zone_concentration)
    for z, name in enumerate(ZONES):
        out += per_scenario("max_loan_size", "error", f"The largest {name} advance",
                            stats["max_loan_by_zone"][:, z], limits[z], _usd, zone=name)
        out += per_scenario("zone_concentration", "error",
                            f"{name.capitalize()}'s share of deployed capital",
                            _share(stats["deployed_by_zone"][:, z], deployed), conc[z], _pct,
                            slack=ticket, zone=name)
    out += per_scenario("suburb_concentration", "error",
                        "The largest suburb's share of deployed capital",
                        _share(stats["deployed_by_suburb"].max(axis=1), deployed),
                        g.suburb_concentration, _pct, slack=SHARE_TOLERANCE)
    out += per_scenario("loan_concentration", "warning",
                        "The largest advance as a share of commitments",
                        stats["largest_loan"] / cfg.fund_size, g.loan_concentration, _pct)
    liquidated = _share(stats["liquidated"], deployed)
    median = float(np.median(liquidated)) if liquidated.size else 0.0
    if median > g.loan_term_beyond_fund:
        out.append(violation(
            "loan_term_beyond_fund", "warning",
            f"In the median scenario {median:.1%} of deployed capital is still on loan at fund "
            f"end and force-liquidated at a {cfg.exit_simulator.liquidation_discount:.0%} "
            f"discount, above {g.loan_term_beyond_fund:.0%} (loan term {cfg.loan_term} y, "
            f"fund term {cfg.fund_term} y)",
            max_allowed=g.loan_term_beyond_fund, actual=median, median=median,
            worst=float(liquidated.max()), share_of_scenarios=float(
                (liquidated > g.loan_term_beyond_fund).mean())))
    if unpaid_fees is not None:
        out += per_scenario("unpaid_fees", "error",
                            "Fees and expenses still owed at fund end (a liability of the fund)",
                            unpaid_fees, g.unpaid_fees, _usd, slack=CENT)
    return out


def contract_checks(cfg: FundConfig, stats: dict[str, np.ndarray],
                    contract: dict[str, np.ndarray]) -> list[dict]:
    """Checks of a named contract: combined LTV at origination (junior liens or a valuation
    haircut; error) and the share of exits whose claim the return cap set (info)."""
    g, c = cfg.guardrails, cfg.contract
    out = []
    if c.lien_position > 1 or c.start_value_haircut > 0:
        out += per_scenario("combined_ltv", "error",
                            "The highest combined LTV (senior + advance) / value at origination",
                            stats["combined_ltv"], g.combined_ltv, _pct)
    share = np.nan_to_num(contract["cap_binding_share"], nan=0.0)
    out += per_scenario("cap_binding_share", "info",
                        "The share of exits whose claim the return cap set", share,
                        g.cap_binding_share, _pct)
    return out


def result_checks(cfg: FundConfig, statistics: dict, risk: dict) -> list[dict]:
    """Limits on the simulated outcome: WAL, VaR/CVaR 99, LP IRR P5, hurdle clearing."""
    g = cfg.guardrails
    out = []
    wal = statistics["wal_years"]["p50"]
    if wal is not None and wal > g.weighted_average_life:
        out.append(violation(
            "weighted_average_life", "warning",
            f"Median weighted average life {wal:.2f} y is above {g.weighted_average_life} y",
            max_allowed=g.weighted_average_life, actual=wal))
    for rule, limit in (("var_99", g.var_99), ("cvar_99", g.cvar_99)):
        if risk[rule] > limit:
            out.append(violation(
                rule, "error",
                f"{rule.upper().replace('_', ' ')} of the LP capital loss (1 - TVPI) is "
                f"{risk[rule]:.2%}, above {limit:.2%}",
                max_allowed=limit, actual=risk[rule]))
    p5, floor = risk["irr_p5"], cfg.hurdle_rate - g.irr_p5
    if p5 is None or p5 < floor:
        out.append(violation(
            "irr_p5", "warning",
            f"P5 of the LP IRR is {'undefined' if p5 is None else f'{p5:.2%}'}, below "
            f"{floor:.2%} (the {cfg.hurdle_rate:.1%} hurdle less a {g.irr_p5:.1%} margin)",
            min_allowed=floor, actual=p5, margin=g.irr_p5))
    prob = risk["hurdle_clear_probability"]
    if prob < g.hurdle_clear_probability:
        out.append(violation(
            "hurdle_clear_probability", "warning",
            f"The LP IRR clears the {cfg.hurdle_rate:.1%} hurdle in {prob:.1%} of scenarios, "
            f"below {g.hurdle_clear_probability:.0%}",
            min_allowed=g.hurdle_clear_probability, actual=prob))
    return out
