"""The contracts of the independent reference fund model (``tests/fund_model.py``), written
from DOMAIN.md's "Contracts" section in plain Python floats; nothing of the engine is used
but the validated configuration.

Money in $, loan ages in months, rates per year. I is the advance, V0 the home value at
origination, V the value now; s = multiple x I / V0.
"""

from __future__ import annotations

import math

SETTLED = (1, 2, 4)  # sale, refinance, maturity: the homeowner pays the claim


def terms(cfg) -> dict:
    """The contract's terms as plain numbers, and the senior balance / V0 by loan age, found
    by amortising month by month (interest, then the level payment)."""
    c = cfg.contract
    M = 12 * cfg.fund_term
    senior = [0.0] * (M + 1)
    if c.lien_position > 1:
        n, i, b = 12 * c.senior_term_years, c.senior_rate / 12.0, c.senior_balance_ratio
        pay = b * i / -math.expm1(-n * math.log1p(i)) if i > 0.0 else b / n
        for age in range(M + 1):
            senior[age] = max(b, 0.0) if age < n else 0.0
            b = b * (1.0 + i) - pay
    return dict(type=c.type, multiple=c.multiple, by_year=list(c.multiple_by_exit_year),
                down=c.down_multiple, ra=c.risk_adjustment, cap_rate=c.cap_rate, floor=c.floor,
                loss_months=round(12 * c.loss_share_after_years), senior=senior,
                junior_share=c.junior_lien_share if c.lien_position > 1 else 0.0)


def upside(p: dict, share: float, V0: float, gain: float) -> float:
    """$ the fund takes of a positive gain (``gain`` = value ratio - 1) on a home worth V0."""
    if p["method"] != "tiered":
        return share * V0 * gain
    total, lo = 0.0, 0.0
    for s, hi in zip(p["tier_share"], p["thr"], strict=True):
        total += s * max(min(gain, hi) - lo, 0.0)
        lo = hi
    return total * V0


def share_formula(ct: dict, L: float, V0: float, tau: int, V: float) -> float:
    """appreciation_share: I + s (V - (1 - ra) V0); value_share: s V0 + s (V - V0); the
    multiple of the exit year (age // 12 in the table, its last entry beyond), and the down
    multiple on the part below the start value."""
    up = ct["by_year"][min(tau // 12, len(ct["by_year"]) - 1)] if ct["by_year"] else ct["multiple"]
    down = up if ct["down"] is None else ct["down"]
    if ct["type"] == "appreciation_share":
        start = (1.0 - ct["ra"]) * V0
        return L + (up if V >= start else down) * L / V0 * (V - start)
    return up * L / V0 * V if V >= V0 else up * L + down * L / V0 * (V - V0)


def caps(p: dict, L: float, tau: int) -> list[float]:
    """The return caps in force at age tau, $: annual_return_cap compounded yearly (fractional
    years), the contract's cap_rate compounded monthly."""
    out = []
    if p["cap"] is not None:
        out.append(L * (1.0 + p["cap"]) ** (tau / 12.0))
    if p["ct"]["cap_rate"] is not None:
        out.append(L * (1.0 + p["ct"]["cap_rate"] / 12.0) ** tau)
    return out


def claim(p: dict, L: float, V0: float, tau: int, ratio: float, formula: float
          ) -> tuple[float, bool]:
    """The claim ($) and whether a cap set it: the formula, at least I before the loss-sharing
    window ends, the lesser of it and the caps, at least floor x I, at most V, at least 0."""
    ct = p["ct"]
    c = formula if ct["type"] == "interest_plus_share" else share_formula(ct, L, V0, tau,
                                                                          V0 * ratio)
    if tau < ct["loss_months"]:
        c = max(c, L)
    limit = min(caps(p, L, tau), default=float("inf"))
    bound = c > limit
    c = max(min(c, limit), ct["floor"] * L)
    return max(min(c, V0 * ratio), 0.0), bound


def is_junior(p: dict, k: int) -> bool:
    """Pool loan k is junior when floor((k + 1) j) > floor(k j), j the junior share."""
    j = p["ct"]["junior_share"]
    return int((k + 1) * j) > int(k * j)


def left_for(p: dict, loan: dict, value_net: float, age: int) -> float:
    """$ a lien can recover from a home worth value_net after foreclosure costs."""
    if not loan["junior"]:
        return value_net
    return max(value_net - loan["V0"] * p["ct"]["senior"][age], 0.0)


def metrics(loans: list[dict]) -> dict:
    """Advance-weighted effective annual rate of the loans settled by sale, refinance or
    maturity ((claim / I)^(12 / months) - 1), and the share of loans whose claim a cap set."""
    settled = [ln for ln in loans if ln["kind"] in SETTLED]
    weight = sum(ln["L"] for ln in settled)
    rate = sum(ln["L"] * ((ln["proceeds"] / ln["L"]) ** (12.0 / (ln["m"] - ln["m0"])) - 1.0)
               for ln in settled)
    return dict(effective_rate=rate / weight if weight > 0 else float("nan"),
                cap_binding_share=(sum(ln["cap_bound"] for ln in loans) / len(loans)
                                   if loans else float("nan")))
