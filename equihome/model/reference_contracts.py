"""Numpy twins of the contract kernels of ``_ledger.pxi`` (mult_at, cap_at, senior_at,
contract_claim, cap_binds, net_of_senior, is_junior), beside ``reference.py``'s claim_value and
walk_loan that call them. ``lt``: a loan's terms (reference_portfolio.new_terms/tape_terms)."""

from __future__ import annotations

import numpy as np

from equihome.model.fixed_math import int_pow, month_growth


def mult_at(tab, lt, tau, up):
    """The multiple at loan age tau (arrays of tau and up broadcast); see ``_core.mult_at``."""
    if lt.own:
        return np.full(np.shape(up), lt.mult) if np.ndim(up) else lt.mult
    return np.where(up, tab.mult_up[tau], tab.mult_down[tau])


def cap_at(p, tab, lt, tau):
    """Growth of the advance at the return caps (inf: none); see ``_core.cap_at``."""
    if not lt.own:
        return tab.cap_factor[tau] if p["has_cap"] else np.inf
    g = np.inf
    if p["return_cap"] >= 0.0:
        g = int_pow(month_growth(p["return_cap"]), tau)
    if not np.isnan(lt.cap_rate):
        g = np.minimum(g, int_pow(1.0 + lt.cap_rate / 12.0, tau))
    return g


def senior_at(tab, lt, age):
    """Senior balance / V0 at loan age ``age``; see ``_core.senior_at``."""
    return lt.senior * tab.amort[age] if lt.own else tab.senior_factor[age]


def contract_claim(tab, lt, L, V0, ratio, tau):
    """appreciation_share and value_share formulas ($); see ``_core.contract_claim``."""
    V = V0 * ratio
    if lt.ctype == 1:
        x = V - (1.0 - lt.risk_adj) * V0
        return L + mult_at(tab, lt, tau, x >= 0.0) * L / V0 * x
    x = V - V0
    return mult_at(tab, lt, tau, np.full(np.shape(x), True)) * L + mult_at(
        tab, lt, tau, x >= 0.0) * L / V0 * x


def net_of_senior(tab, lt, V0, value_net, age):
    """What a lien recovers ($) from value_net; see ``_core.net_of_senior``."""
    return np.maximum(value_net - V0 * senior_at(tab, lt, age), 0.0) if lt.junior else value_net


def is_junior(p, k):
    """1 if pool loan k is a junior lien; see ``_core.is_junior``."""
    js = p["junior_share"]
    return int(p["has_senior"] and np.floor((k + 1) * js) > np.floor(k * js))


def cap_binds(p, tab, lt, formula, L, tau):
    """1 if the return cap sets the claim, given the contract's ``formula`` ($) at age tau;
    see ``_core.cap_binds``."""
    claim = np.where(tau < p["loss_share_months"], np.maximum(formula, L), formula)
    return int(claim > L * cap_at(p, tab, lt, tau))


def junior_default_hazard(tab, lt, hd0, hdc, V0, ratio, claim, cltv0, tau):
    """A junior lien's default hazards by month; see ``_core.junior_default_hazard``."""
    debt = V0 * senior_at(tab, lt, tau) + claim
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.maximum(1.0 - cltv0 * V0 * ratio / np.where(debt > 0.0, debt, 1.0), 0.0)
    return np.where(debt > 0.0, hd0 + hdc * x, hd0)
