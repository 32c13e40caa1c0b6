"""Stage 3, exit_simulator: how and when each loan leaves the book, and what it pays.

Each month a live loan faces competing annual hazards (DOMAIN.md):

* sale = base_exit_rate * sale_weight' * (1 + appreciation_sale_multiplier * max(gain, 0)),
* refinance = base_exit_rate * refinance_weight' * (1 + interest_rate_refinance_multiplier
  * max(0, refinance_ltv_threshold - claim / value)),
* default = default_rate[zone] * (1 + economic_factor_default_multiplier * max(-gain, 0)),

(weights' normalised to sum to 1; no voluntary exit before min_hold_period). The kernel
draws the exit as an exponential race, the same law as a monthly probability
1 - exp(-h/12), split by the hazards' ratio. Loans mature at loan_term and are liquidated
at fund end at fair value less liquidation_discount. Proceeds:
claim = L + L r (m - m0)/12 + share (V - V0)+ [- share (V0 - V) with share_depreciation],
capped at L (1 + annual_return_cap)^(years) when set, and never above V. A default pays
min(claim, V(m + lag) (1 - foreclosure_cost)) * recovery[zone] at m + lag (interest stops
at default; recoveries still pending at fund end settle then). Hazards and fair values use
the suburb index; the home's own walk enters the value at exit.

The month-by-month ledger runs in the same kernel pass (see cashflow_aggregator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import cashflow_aggregator, fee_engine, loan_generator
from .config import FundConfig
from .layout import LEDGER_COLUMNS, zone_array
from .loan_generator import LoanPool
from .price_path_simulator import PricePaths

SHARE_METHODS = {"pro_rata_ltv": 0, "fixed": 1, "tiered": 2}


@dataclass
class LedgerRun:
    """Kernel outputs for a chunk: ledger (S, C, M+1), lender flows (S, NT, M+1), loans (S, K)."""

    ledger: np.ndarray
    debt_flows: np.ndarray
    orig_month: np.ndarray
    exit_month: np.ndarray
    receipt_month: np.ndarray
    exit_type: np.ndarray
    reinvested: np.ndarray
    proceeds: np.ndarray
    pool_exhausted: np.ndarray


def ledger_params(cfg: FundConfig) -> dict:
    """Scalar parameters of the ledger kernel (the LedgerParams struct in _core.pyx)."""
    ex, fe = cfg.exit_simulator, cfg.fee_engine
    weights = ex.sale_weight + ex.refinance_weight
    return dict(
        months=12 * cfg.fund_term,
        fund_size=float(cfg.fund_size),
        origination_cap=cfg.fund_size * (1.0 - cfg.cash_reserve_rate),
        deploy_end=max(1, round(12 * cfg.deployment_period)),
        reinvest_end=round(12 * cfg.reinvestment_period),
        reinvest_rate=float(cfg.reinvestment_rate),
        fee_basis=fee_engine.FEE_BASES[fe.management_fee_basis],
        fee_in_rate=fee_engine.fee_in_rate(cfg),
        acquisition_rate=float(fe.acquisition_fee_rate),
        disposition_rate=float(fe.disposition_fee_rate),
        min_loan_size=float(cfg.min_loan_size),
        loan_rate=float(cfg.interest_rate),
        loan_term_months=12 * cfg.loan_term,
        share_method=SHARE_METHODS[cfg.appreciation_share_method],
        fixed_share=float(cfg.appreciation_share),
        share_depreciation=int(cfg.share_depreciation),
        has_cap=int(cfg.annual_return_cap is not None),
        n_tiers=len(cfg.tiered_appreciation_thresholds),
        min_hold_months=round(12 * ex.min_hold_period),
        sale_hazard=ex.base_exit_rate * ex.sale_weight / weights,
        refi_hazard=ex.base_exit_rate * ex.refinance_weight / weights,
        sale_mult=float(ex.appreciation_sale_multiplier),
        refi_mult=float(ex.interest_rate_refinance_multiplier),
        refi_threshold=float(ex.refinance_ltv_threshold),
        default_mult=float(ex.economic_factor_default_multiplier),
        foreclosure_cost=float(ex.foreclosure_cost),
        foreclosure_lag=int(ex.foreclosure_time),
        liquidation_discount=float(ex.liquidation_discount),
        home_sigma=float(cfg.price_path.property_variation),
    )


def sorted_tranches(cfg: FundConfig) -> list:
    """Debt tranches in payment priority order (1 = paid first)."""
    return sorted(cfg.tranches, key=lambda t: t.priority)


def static_inputs(cfg: FundConfig) -> dict:
    """Everything run_ledger needs that is the same for every scenario of a run."""
    M = 12 * cfg.fund_term
    cap = cfg.annual_return_cap
    tranches = sorted_tranches(cfg)
    return dict(
        p=ledger_params(cfg),
        schedule=loan_generator.deployment_schedule(cfg),
        fee_rate=fee_engine.fee_rates(cfg),
        expense=fee_engine.expenses(cfg),
        dist_mask=cashflow_aggregator.distribution_mask(cfg),
        default_rate=zone_array(cfg.default_rates),
        recovery=zone_array(cfg.recovery_rates),
        tier_thr=np.asarray(list(cfg.tiered_appreciation_thresholds) + [np.inf], dtype=float),
        tier_share=np.asarray(cfg.tiered_appreciation_shares, dtype=float),
        cap_factor=(1.0 + (cap or 0.0)) ** (np.arange(M + 1) / 12.0),
        tranche_size=np.array([t.size for t in tranches], dtype=float),
        tranche_rate_m=np.array([(1.0 + t.interest_rate) ** (1.0 / 12.0) - 1.0 for t in tranches]),
    )


def simulate(cfg: FundConfig, pool: LoanPool, paths: PricePaths, static: dict,
             kernels) -> LedgerRun:
    """Run the loans and the monthly ledger of a chunk of scenarios."""
    S, K = pool.size.shape
    N = 12 * cfg.fund_term + 1
    out = LedgerRun(
        ledger=np.empty((S, len(LEDGER_COLUMNS), N)),
        debt_flows=np.empty((S, len(cfg.tranches), N)),
        orig_month=np.empty((S, K), dtype=np.intc),
        exit_month=np.empty((S, K), dtype=np.intc),
        receipt_month=np.empty((S, K), dtype=np.intc),
        exit_type=np.empty((S, K), dtype=np.int8),
        reinvested=np.empty((S, K), dtype=np.int8),
        proceeds=np.empty((S, K)),
        pool_exhausted=np.empty(S, dtype=np.int8),
    )
    kernels.run_ledger(
        static["p"], pool.size, pool.ltv, pool.zone, pool.suburb, pool.e_exit, pool.u_cause,
        pool.z_home, paths.levels, static["schedule"], static["fee_rate"], static["expense"],
        static["dist_mask"], static["default_rate"], static["recovery"], static["tier_thr"],
        static["tier_share"], static["cap_factor"], static["tranche_size"],
        static["tranche_rate_m"], out.ledger, out.debt_flows, out.orig_month, out.exit_month,
        out.receipt_month, out.exit_type, out.reinvested, out.proceeds, out.pool_exhausted)
    return out
