"""Numpy twins of the contract kernels of ``_ledger.pxi`` (contract_claim, cap_binds,
net_of_senior, is_junior), beside ``reference.py``'s claim_value and walk_loan that call them."""

from __future__ import annotations

import numpy as np


def contract_claim(p, tab, L, V0, ratio, tau):
    """appreciation_share and value_share formulas ($); see ``_core.contract_claim``."""
    V = V0 * ratio
    up, down = tab.mult_up[tau], tab.mult_down[tau]
    if p["contract_type"] == 1:
        x = V - (1.0 - p["risk_adj"]) * V0
        return L + np.where(x >= 0.0, up, down) * L / V0 * x
    x = V - V0
    return up * L + np.where(x >= 0.0, up, down) * L / V0 * x


def net_of_senior(tab, V0, value_net, age, junior):
    """What a lien recovers ($) from value_net; see ``_core.net_of_senior``."""
    return np.maximum(value_net - V0 * tab.senior_factor[age], 0.0) if junior else value_net


def is_junior(p, k):
    """1 if pool loan k is a junior lien; see ``_core.is_junior``."""
    js = p["junior_share"]
    return int(p["has_senior"] and np.floor((k + 1) * js) > np.floor(k * js))


def cap_binds(p, tab, formula, L, tau):
    """1 if the return cap sets the claim, given the contract's ``formula`` ($) at age tau;
    see ``_core.cap_binds``."""
    if not p["has_cap"]:
        return 0
    claim = np.where(tau < p["loss_share_months"], np.maximum(formula, L), formula)
    return int(claim > L * tab.cap_factor[tau])


def junior_default_hazard(tab, hd0, hdc, V0, ratio, claim, cltv0, tau):
    """A junior lien's default hazards by month; see ``_core.junior_default_hazard``."""
    debt = V0 * tab.senior_factor[tau] + claim
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.maximum(1.0 - cltv0 * V0 * ratio / np.where(debt > 0.0, debt, 1.0), 0.0)
    return np.where(debt > 0.0, hd0 + hdc * x, hd0)
