"""Stage 6, waterfall_engine: who gets the fund's distributions.

Debt tranches are paid interest and principal in priority order inside the ledger,
before any equity distribution. Equity distributions go pro rata to the GP's own
commitment (``gp_commitment_percentage``, no carry on it) and to the LPs, whose share
passes through the waterfall: european (whole fund) or american (deal by deal, each
loan a deal, with loss netting), both with the end-of-life clawback (or, without it, the
excess reported as ``excess_carry``). See ``_core.waterfall_european`` and
``_core.waterfall_american`` for the tiers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from equihome.io.config import FundConfig
from equihome.model.exit_simulator import LedgerRun
from equihome.model.fixed_math import month_growth
from equihome.model.layout import COL

COMPOUNDING = {
    "annual": month_growth,
    "quarterly": lambda h: (1.0 + h / 4.0) ** (1.0 / 3.0),
    "monthly": lambda h: 1.0 + h / 12.0,
    "continuous": lambda h: math.exp(h / 12.0),
}


def pref_growth(cfg: FundConfig) -> float:
    """Monthly growth factor of the preferred-return account under its compounding."""
    return COMPOUNDING[cfg.preferred_return_compounding](cfg.hurdle_rate)


@dataclass
class Waterfall:
    """Per-scenario monthly equity flows (S, M+1), $."""

    lp_calls: np.ndarray
    lp_dist: np.ndarray
    gp_carry: np.ndarray        # negative in the last month when clawback applies
    gp_invest_dist: np.ndarray  # distributions on the GP's own commitment
    excess_carry: np.ndarray    # (S,) carry above the end-of-life cap, not clawed back, $


def run(cfg: FundConfig, run_: LedgerRun, advances: np.ndarray, kernels) -> Waterfall:
    """Split each scenario's equity distributions between LPs and GP.

    advances: (S, K) pool advances in $, the deals' capital for the american waterfall.
    """
    led = run_.ledger
    return split(cfg, led[:, COL["calls"]], led[:, COL["distributions"]],
                 led[:, COL["management_fees"]], run_, advances, kernels)


def split(cfg: FundConfig, calls: np.ndarray, dist: np.ndarray, fees: np.ndarray,
          run_: LedgerRun, advances: np.ndarray, kernels) -> Waterfall:
    """The waterfall of equity ``calls`` and ``dist`` (S, M+1), $, with the management
    ``fees`` charged (for the offset) and the run's deals (american); see :func:`run`."""
    calls, dist, fees = (np.ascontiguousarray(a) for a in (calls, dist, fees))
    lp_share = 1.0 - cfg.gp_commitment_percentage
    lp_dist = np.empty_like(dist)
    gp_carry = np.empty_like(dist)
    excess = np.empty(dist.shape[0])
    args = (lp_share, pref_growth(cfg), float(cfg.catch_up_rate),
            float(cfg.carried_interest_rate), float(cfg.management_fee_offset_percentage),
            int(cfg.clawback_provision), lp_dist, gp_carry, excess)
    if cfg.waterfall_structure == "european":
        kernels.waterfall_european(calls, dist, fees, *args)
    else:
        kernels.waterfall_american(
            calls, dist, fees, run_.orig_month, run_.receipt_month, advances, run_.proceeds, *args)
    return Waterfall(lp_share * calls, lp_dist, gp_carry, (1.0 - lp_share) * dist, excess)
