"""The contract's side of the engine (DOMAIN.md, "Contracts"): the ledger kernel's contract
scalars and per-age tables, and the per-loan numbers the statistics and guardrails report.

Claims (in the kernels, ``_ledger.pxi`` claim_value and its twin in reference.py), for an
advance I on a home worth V0 at origination and V = V(m) at exit, tau months later:

* interest_plus_share: I + I rate tau / 12 + share (V - V0)+ (today's formula);
* appreciation_share: I + s (V - (1 - ra) V0), s = multiple x I / V0, both ways;
* value_share: s V0 + s' (V - V0) = s V when symmetric (s' = down multiple x I / V0 below V0);

then at least I before ``loss_share_after_years``, at most I (1 + cap_rate / 12)^tau (and
I (1 + annual_return_cap)^(tau / 12)), at least floor x I, at most V, at least 0. A junior
lien's default recovery is min(claim, max(0, V(m + lag) (1 - foreclosure_cost) - senior
balance then)) x recovery; the senior amortises monthly (a level-payment mortgage). A junior
lien's default hazard follows its combined LTV: default_rate x (1 + default_mult x max(1 -
CLTV0 / CLTV, 0)), CLTV = (senior balance + claim) / V, CLTV0 = (senior + I) / V0 (a first
lien's is default_rate x (1 + default_mult x max(1 - V / V0, 0)), the same with the debt fixed).
"""

from __future__ import annotations

import numpy as np

from equihome.io.config import MONTHS_PER_YEAR, FundConfig
from equihome.model.fixed_math import exp_values, int_pow, log_values, month_growth
from equihome.model.layout import ExitKind

CONTRACT_TYPES = {"interest_plus_share": 0, "appreciation_share": 1, "value_share": 2}
#: Exits whose proceeds are the claim the homeowner pays (the effective rate's loans).
SETTLED = (ExitKind.SALE, ExitKind.REFI, ExitKind.MATURITY)


def stated(cfg: FundConfig) -> bool:
    """True when the config names a contract: results then report the contract's statistics
    and guardrails (a config without one gives exactly the results it gave before)."""
    return "contract" in cfg.model_fields_set


def kernel_params(cfg: FundConfig) -> dict:
    """The contract's scalars of the LedgerParams struct (_core.pxd)."""
    c = cfg.contract
    junior = c.lien_position > 1
    return dict(
        contract_type=CONTRACT_TYPES[c.type], risk_adj=float(c.risk_adjustment),
        claim_floor=float(c.floor), buyout_months=c.months(c.buyout_after_years),
        loss_share_months=c.months(c.loss_share_after_years), has_senior=int(junior),
        junior_share=float(c.junior_lien_share if junior else 0.0))


def cap_factor(cfg: FundConfig) -> np.ndarray:
    """(M+1,) growth of the advance at the return caps by loan age in months: the lesser of
    (1 + annual_return_cap)^(age / 12), as ((1 + annual_return_cap)^(1/12))^age, and
    (1 + cap_rate / 12)^age (1 when neither is set); integer powers by fixed_math.int_pow."""
    ages = np.arange(cfg.months + 1)
    out: np.ndarray = int_pow(month_growth(cfg.annual_return_cap or 0.0), ages)
    rate = cfg.contract.cap_rate
    if rate is not None:
        monthly = int_pow(1.0 + rate / 12.0, ages)
        out = monthly if cfg.annual_return_cap is None else np.minimum(out, monthly)
    return out


def multiples(cfg: FundConfig) -> tuple[np.ndarray, np.ndarray]:
    """(M+1,) up and down multiples by loan age: entry y of multiple_by_exit_year for ages
    12y .. 12y + 11 (its last entry beyond), else multiple; down_multiple when set."""
    c = cfg.contract
    ages = np.arange(cfg.months + 1)
    if c.multiple_by_exit_year:
        table = np.asarray(c.multiple_by_exit_year, dtype=float)
        up = table[np.minimum(ages // MONTHS_PER_YEAR, table.size - 1)]
    else:
        up = np.full(ages.size, float(c.multiple))
    down = up.copy() if c.down_multiple is None else np.full(ages.size, float(c.down_multiple))
    return up, down


def amortisation(cfg: FundConfig) -> np.ndarray:
    """(M+1,) share of a senior mortgage left by loan age in months: amortised monthly over
    senior_term_years at senior_rate, ((1 + i)^N - (1 + i)^n) / ((1 + i)^N - 1) with i the
    monthly rate (in expm1/log1p form, exact for tiny rates); 0 after its term; straight-line
    when the rate is 0."""
    c = cfg.contract
    n = np.arange(cfg.months + 1, dtype=float)
    N = MONTHS_PER_YEAR * c.senior_term_years
    i = c.senior_rate / 12.0
    if i > 0.0:
        g = np.log1p(i)
        left = (np.expm1(N * g) - np.expm1(n * g)) / np.expm1(N * g)
    else:
        left = 1.0 - n / N
    return np.clip(left, 0.0, None)


def senior_factor(cfg: FundConfig) -> np.ndarray:
    """(M+1,) senior balance / V0 by loan age: senior_balance_ratio x :func:`amortisation`."""
    return cfg.contract.senior_balance_ratio * amortisation(cfg)


def effective_rates(size: np.ndarray, orig: np.ndarray, exit_month: np.ndarray,
                    exit_type: np.ndarray, proceeds: np.ndarray) -> np.ndarray:
    """(S, K) effective annual rate each homeowner paid: the IRR of -I at origination and the
    claim at exit, (claim / I)^(12 / months) - 1, for loans settled by sale, refinance or
    maturity (their proceeds are the claim); NaN for the others and loans never made."""
    settled = (orig >= 0) & np.isin(exit_type, SETTLED) & (exit_month > orig)
    months = np.where(settled, exit_month - orig, 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(settled, proceeds, 1.0) / np.where(settled, size, 1.0)
        rate = exp_values(MONTHS_PER_YEAR / months * log_values(ratio)) - 1.0  # fixed: any CPU
    return np.where(settled, rate, np.nan)


def scenario_metrics(size: np.ndarray, orig: np.ndarray, exit_month: np.ndarray,
                     exit_type: np.ndarray, proceeds: np.ndarray,
                     cap_bound: np.ndarray) -> dict[str, np.ndarray]:
    """Per scenario: ``effective_rate``, the advance-weighted mean of the settled loans'
    effective rates (NaN when none settled), and ``cap_binding_share``, the share of the
    loans made whose claim the return cap set at exit (NaN when none was made)."""
    rate = effective_rates(size, orig, exit_month, exit_type, proceeds)
    ok = np.isfinite(rate)
    weight = np.cumsum(np.where(ok, size, 0.0), axis=1)[:, -1]
    total = np.cumsum(np.where(ok, size * np.where(ok, rate, 0.0), 0.0), axis=1)[:, -1]
    made = (orig >= 0).sum(axis=1)
    bound = ((orig >= 0) & (cap_bound > 0)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"effective_rate": np.where(weight > 0.0, total / np.where(weight > 0, weight, 1),
                                           np.nan),
                "cap_binding_share": np.where(made > 0, bound / np.maximum(made, 1), np.nan)}


def combined_ltv(cfg: FundConfig, ltv: np.ndarray) -> np.ndarray:
    """(senior balance + advance) / (V0 (1 - start_value_haircut)) at origination, by loan;
    ``ltv`` = advance / V0. First liens (and loans of a first-lien contract): LTV / (1 - h)."""
    c = cfg.contract
    senior = c.senior_balance_ratio if c.lien_position > 1 else 0.0
    return (senior + ltv) / (1.0 - c.start_value_haircut)


def stress_claim_ratio(cfg: FundConfig, ltv: np.ndarray, fall: float) -> np.ndarray:
    """A share contract's claim / value at origination after the value falls by ``fall``
    (age 0: the caps allow at most I). interest_plus_share is guardrail_monitor's own rule."""
    c = cfg.contract
    up, down = (m[0] for m in multiples(cfg))
    v = 1.0 - fall
    if c.type == "appreciation_share":
        x = v - (1.0 - c.risk_adjustment)
        claim = ltv + (up if x >= 0.0 else down) * ltv * x
    else:
        claim = up * ltv + down * ltv * (v - 1.0)
    if c.months(c.loss_share_after_years) > 0:
        claim = np.maximum(claim, ltv)
    if cfg.annual_return_cap is not None or c.cap_rate is not None:
        claim = np.minimum(claim, ltv)
    claim = np.minimum(np.maximum(claim, c.floor * ltv), v)
    return np.maximum(claim, 0.0) / v


def junior_mask(cfg: FundConfig, K: int) -> np.ndarray:
    """(K,) True for the pool loans that are junior liens: junior_lien_share of them, evenly
    in pool order (loan k is junior when floor((k + 1) j) > floor(k j)), as in the kernels."""
    c = cfg.contract
    k = np.arange(K, dtype=float)
    if c.lien_position == 1:
        return np.zeros(K, dtype=bool)
    return np.floor((k + 1) * c.junior_lien_share) > np.floor(k * c.junior_lien_share)


def summary(cfg: FundConfig) -> str:
    """The contract in one line for people (the result view and compare())."""
    c = cfg.contract
    if c.type == "interest_plus_share":
        text = (f"interest_plus_share: {cfg.interest_rate:.2%} simple interest + "
                f"{cfg.appreciation_share_method} share of the gain")
    else:
        mult = (f"multiples {'/'.join(f'{m:g}' for m in c.multiple_by_exit_year)} by exit year"
                if c.multiple_by_exit_year else f"multiple {c.multiple:g}")
        text = f"{c.type}: {mult}"
        if c.down_multiple is not None:
            text += f", down {c.down_multiple:g}"
        if c.type == "appreciation_share":
            text += f", risk adjustment {c.risk_adjustment:.1%}"
    parts = [text, f"term {cfg.loan_term} y"]
    if c.cap_rate is not None:
        parts.append(f"cap {c.cap_rate:.2%}/y monthly")
    if c.floor > 0:
        parts.append(f"floor {c.floor:g}x")
    if c.lien_position > 1:
        parts.append(f"{c.junior_lien_share:.0%} lien {c.lien_position} behind a "
                     f"{c.senior_balance_ratio:.0%} senior")
    return ", ".join(parts)
