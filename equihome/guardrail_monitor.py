"""Stage 8, guardrail_monitor: risk limits a strategy breaks (reported, never blocking).

Config checks run before the simulation; loan and result checks after it. Each violation
is ``{"rule", "severity", "message", "details": {"max_allowed" | "min_allowed", "actual",
...}}`` (DOMAIN.md's catalogue; thresholds under ``guardrails`` in the config).
Loan checks look at every loan made in every scenario ("any loan" rules take the worst);
concentration checks use capital pooled over scenarios, compared at 0.1 % precision,
finer than one ticket, since discrete loans can only track an allocation to within one.
"""

from __future__ import annotations

import numpy as np

from .config import FundConfig
from .layout import ZONES, zone_array
from .loan_generator import LoanPool

SHARE_TOLERANCE = 1e-3
STRESS_FALL = 0.20


def violation(rule: str, severity: str, message: str, **details) -> dict:
    """One guardrail_violation payload."""
    return {"rule": rule, "severity": severity, "message": message, "details": details}


def config_checks(cfg: FundConfig, num_simulations: int, seed_given: bool, seed: int) -> list[dict]:
    """Checks that need no simulation: term mismatch, too few scenarios, missing seed."""
    g = cfg.guardrails
    out = []
    if g.loan_term_beyond_fund and cfg.loan_term > cfg.fund_term:
        out.append(violation(
            "loan_term_beyond_fund", "warning",
            f"Loan term {cfg.loan_term} y exceeds the fund term {cfg.fund_term} y: "
            "live loans are force-liquidated at fund end",
            max_allowed=cfg.fund_term, actual=cfg.loan_term))
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


def loan_stats(cfg: FundConfig, pool: LoanPool, orig_month: np.ndarray) -> dict[str, np.ndarray]:
    """Per-scenario loan facts the loan checks need (loans actually made only)."""
    made = orig_month >= 0
    size = np.where(made, pool.size, 0.0)
    ltv = np.where(made, pool.ltv, 0.0)
    if cfg.share_depreciation:
        share = {"pro_rata_ltv": ltv, "fixed": cfg.appreciation_share,
                 "tiered": cfg.tiered_appreciation_shares[0]}[cfg.appreciation_share_method]
    else:
        share = 0.0
    stress = (ltv - share * STRESS_FALL) / (1.0 - STRESS_FALL)
    S, Z = size.shape[0], len(ZONES)
    J = Z * cfg.price_path.suburbs_per_zone
    rows = np.arange(S)[:, None]
    return {
        "max_ltv": ltv.max(axis=1),
        "stress_ltv": np.where(made, stress, 0.0).max(axis=1),
        "largest_loan": size.max(axis=1),
        "max_loan_by_zone": np.stack([np.where(pool.zone == z, size, 0.0).max(axis=1)
                                      for z in range(Z)], axis=1),
        "deployed_by_zone": _group_sums(rows * Z + pool.zone, size, S, Z),
        "deployed_by_suburb": _group_sums(rows * J + pool.suburb, size, S, J),
    }


def _group_sums(group: np.ndarray, values: np.ndarray, S: int, G: int) -> np.ndarray:
    """(S, G) sums of values by group id (row * G + g), added in pool order."""
    return np.bincount(group.ravel(), weights=values.ravel(), minlength=S * G).reshape(S, G)


def loan_checks(cfg: FundConfig, stats: dict[str, np.ndarray]) -> list[dict]:
    """Any-loan limits and concentration limits over all scenarios' loans."""
    g = cfg.guardrails
    out = []
    worst = float(stats["max_ltv"].max())
    if worst > g.max_ltv:
        out.append(violation("max_ltv", "warning",
                             f"Highest origination LTV {worst:.4f} is above the limit {g.max_ltv}",
                             max_allowed=g.max_ltv, actual=worst))
    worst = float(stats["stress_ltv"].max())
    if worst > g.stress_ltv:
        out.append(violation(
            "stress_ltv", "error",
            f"After a {STRESS_FALL:.0%} price fall a loan's claim/value reaches {worst:.4f}, "
            f"above {g.stress_ltv}", max_allowed=g.stress_ltv, actual=worst))
    limits = zone_array(g.max_loan_size)
    biggest = stats["max_loan_by_zone"].max(axis=0)
    total = stats["deployed_by_zone"].sum()
    shares = stats["deployed_by_zone"].sum(axis=0) / total if total > 0 else np.zeros(len(ZONES))
    conc = zone_array(g.zone_concentration)
    for z, name in enumerate(ZONES):
        if biggest[z] > limits[z]:
            out.append(violation(
                "max_loan_size", "error",
                f"Largest {name} advance ${biggest[z]:,.0f} is above the {name} ticket limit "
                f"${limits[z]:,.0f}", max_allowed=float(limits[z]), actual=float(biggest[z]),
                zone=name))
        if shares[z] > conc[z] + SHARE_TOLERANCE:
            out.append(violation(
                "zone_concentration", "error",
                f"{name} holds {shares[z]:.1%} of deployed capital, above its {conc[z]:.1%} limit",
                max_allowed=float(conc[z]), actual=float(shares[z]), zone=name))
    sub = stats["deployed_by_suburb"].sum(axis=0)
    top = float(sub.max() / total) if total > 0 else 0.0
    if top > g.suburb_concentration + SHARE_TOLERANCE:
        out.append(violation(
            "suburb_concentration", "error",
            f"One suburb holds {top:.1%} of deployed capital, above {g.suburb_concentration:.1%}",
            max_allowed=g.suburb_concentration, actual=top))
    largest = float(stats["largest_loan"].max()) / cfg.fund_size
    if largest > g.loan_concentration:
        out.append(violation(
            "loan_concentration", "warning",
            f"The largest advance is {largest:.2%} of commitments, "
            f"above {g.loan_concentration:.2%}",
            max_allowed=g.loan_concentration, actual=largest))
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
                f"{rule.upper().replace('_', ' ')} of the LP loss is {risk[rule]:.2%}, "
                f"above {limit:.2%}",
                max_allowed=limit, actual=risk[rule]))
    p5 = risk["irr_p5"]
    if p5 is None or p5 < g.irr_p5:
        out.append(violation(
            "irr_p5", "warning",
            f"P5 of the LP IRR is {'undefined' if p5 is None else f'{p5:.2%}'}, below {g.irr_p5:.2%}",
            min_allowed=g.irr_p5, actual=p5))
    prob = risk["hurdle_clear_probability"]
    if prob < g.hurdle_clear_probability:
        out.append(violation(
            "hurdle_clear_probability", "warning",
            f"The LP IRR clears the {cfg.hurdle_rate:.1%} hurdle in {prob:.1%} of scenarios, "
            f"below {g.hurdle_clear_probability:.0%}",
            min_allowed=g.hurdle_clear_probability, actual=prob))
    return out
