"""Stage 3, exit_simulator: how and when each loan leaves the book, and what it pays.

Each month a live loan faces competing annual hazards (DOMAIN.md):

* sale = base_exit_rate * sale_weight' * (1 + appreciation_sale_multiplier * max(gain, 0)),
* refinance = base_exit_rate * refinance_weight' * (1 + interest_rate_refinance_multiplier
  * max(0, refinance_ltv_threshold - claim / value)),
* default = default_rate[zone] * (1 + economic_factor_default_multiplier * max(-gain, 0)),

(weights' normalised to sum to 1; no voluntary exit before min_hold_period), each scaled
in a market stress's window by its multipliers (:func:`hazard_multipliers`). The kernel
draws the exit as an exponential race, the same law as a monthly probability
1 - exp(-h/12), split by the hazards' ratio. Loans mature at loan_term and are liquidated
at fund end at fair value less liquidation_discount. Proceeds:
claim = L + L r (m - m0)/12 + share (V - V0)+ [- share (V0 - V) with share_depreciation],
capped at L (1 + annual_return_cap)^(years) when set, and never above V; the other contracts
(appreciation_share, value_share) and the common terms (monthly cap, floor, windows, junior
liens) are in contracts.py. A default pays min(claim, V(m + lag) (1 - foreclosure_cost)) *
recovery[zone] at m + lag (a junior lien: only what the senior mortgage leaves; interest
stops at default; recoveries still pending at fund end settle then). Hazards and fair values use
the suburb index; the home's own walk enters the value at exit.

The month-by-month ledger runs in the same kernel pass (see cashflow_aggregator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equihome.io.config import FundConfig
from equihome.model import cashflow_aggregator, contracts, fee_engine, leverage, loan_generator
from equihome.model.fixed_math import month_growth
from equihome.model.layout import LEDGER_COLUMNS, LEVER_ROWS, SHARE_METHODS, zone_array
from equihome.model.loan_generator import LoanPool
from equihome.model.portfolio import Book, open_ledger
from equihome.model.price_path_simulator import PricePaths

TAPE = ("tape_orig", "tape_ratio", "tape_rate", "tape_share", "tape_maturity", "tape_default",
        "tape_ctype", "tape_mult", "tape_risk_adj", "tape_cap", "tape_senior")
TAPE_INTS = ("tape_orig", "tape_maturity", "tape_default", "tape_ctype")


NO_FACILITY = np.zeros(1)
NO_FACILITY.setflags(write=False)  # a fund without facilities: its lever rows, all zero


@dataclass
class LedgerRun:
    """OUT of the ledger kernel for a chunk: ledger (S, C, M+1) by layout.LEDGER_COLUMNS,
    lender flows (S, NT, M+1), per-loan months, kinds, flags and proceeds (S, K)."""

    ledger: np.ndarray
    debt_flows: np.ndarray
    orig_month: np.ndarray
    exit_month: np.ndarray
    receipt_month: np.ndarray
    exit_type: np.ndarray
    reinvested: np.ndarray
    proceeds: np.ndarray
    pool_exhausted: np.ndarray
    cap_bound: np.ndarray       # (S, K) int8: 1 if the return cap set the claim at exit
    lever: np.ndarray           # (S, len(LEVER_ROWS), M+1) the facilities, layout.LEVER_ROWS
                                # (read-only zeros for a fund without one: nothing to write)
    opening: np.ndarray         # (S,) NAV at as_of before its flows, $ (portfolio; else 0)

    @classmethod
    def empty(cls, S: int, K: int, NT: int, N: int, *, levered: bool) -> LedgerRun:
        """Uninitialised outputs for S scenarios, pools of K loans, NT tranches, N months;
        ``levered``: the fund has a facility (leverage.active), else ``lever`` is read-only
        zeros, never allocated (a kernel given a facility then refuses to write it)."""
        shape = (S, len(LEVER_ROWS), N)
        return cls(
            ledger=np.empty((S, len(LEDGER_COLUMNS), N)), debt_flows=np.empty((S, NT, N)),
            orig_month=np.empty((S, K), dtype=np.intc), exit_month=np.empty((S, K), dtype=np.intc),
            receipt_month=np.empty((S, K), dtype=np.intc),
            exit_type=np.empty((S, K), dtype=np.int8), reinvested=np.empty((S, K), dtype=np.int8),
            proceeds=np.empty((S, K)), pool_exhausted=np.empty(S, dtype=np.int8),
            cap_bound=np.empty((S, K), dtype=np.int8),
            lever=np.empty(shape) if levered else np.broadcast_to(NO_FACILITY, shape),
            opening=np.empty(S))


@dataclass
class StaticInputs:
    """IN of the ledger kernel that is the same for every scenario of a run."""

    schedule: np.ndarray        # (M+1,) $ of initial origination made available
    fee_rate: np.ndarray        # (M+1,) annual management-fee rate in force
    expense: np.ndarray         # (M+1,) expenses, $ (setup in month 0)
    dist_mask: np.ndarray       # (M+1,) uint8, 1 in distribution months
    default_rate: np.ndarray    # (Z,) annual default hazard at zero gain
    recovery: np.ndarray        # (Z,) recovery rate
    tier_thr: np.ndarray        # (n_tiers + 1,) tier thresholds on the gain, inf last
    tier_share: np.ndarray      # (n_tiers + 1,) marginal shares
    cap_factor: np.ndarray      # (M+1,) growth of the advance at the return cap, by age
    tranche_size: np.ndarray    # (NT,) $, in priority order
    tranche_rate_m: np.ndarray  # (NT,) monthly interest rates
    hazard_mult: np.ndarray     # (M+1, 3) sale, refinance, default hazard multiples by month
    mult_up: np.ndarray         # (M+1,) contract multiple by loan age, gains (contracts.py)
    mult_down: np.ndarray       # (M+1,) contract multiple by loan age, losses
    senior_factor: np.ndarray   # (M+1,) senior mortgage balance / V0 by loan age
    tape_orig: np.ndarray       # (T,) int32 seasoned loans (portfolio.Book): origination month
    tape_ratio: np.ndarray      # (T,) home value at as_of / at origination
    tape_rate: np.ndarray       # (T,) simple interest per year
    tape_share: np.ndarray      # (T,) share of the gain, NaN: the configured method
    tape_maturity: np.ndarray   # (T,) int32 maturity month
    tape_default: np.ndarray    # (T,) int32 default month in foreclosure, -1 if active
    tape_ctype: np.ndarray      # (T,) int32 the loan's own contract type, -1: the fund's
    tape_mult: np.ndarray       # (T,) its multiple (both ways)
    tape_risk_adj: np.ndarray   # (T,) its risk adjustment
    tape_cap: np.ndarray        # (T,) its cap rate per year, NaN: none
    tape_senior: np.ndarray     # (T,) its senior balance / V0 at origination
    amort: np.ndarray           # (M+1,) share of a senior mortgage left by loan age


@dataclass
class LedgerInputs(StaticInputs):
    """IN of the ledger kernel for a chunk: the run's tables and the chunk's pools/prices."""

    size: np.ndarray            # (S, K) advances, $
    ltv: np.ndarray             # (S, K)
    zone: np.ndarray            # (S, K) int32
    suburb: np.ndarray          # (S, K) int32
    e_exit: np.ndarray          # (S, K) Exp(1) draws of the exit race
    u_cause: np.ndarray         # (S, K) uniforms picking the exit cause
    z_home: np.ndarray          # (S, K, 2) normals of the home walk
    levels: np.ndarray          # (S, M+1, J) suburb price levels

    @classmethod
    def build(cls, static: StaticInputs, pool: LoanPool, levels: np.ndarray) -> LedgerInputs:
        """The one builder of the kernel's inputs, for production and tests alike."""
        return cls(**vars(static), size=pool.size, ltv=pool.ltv, zone=pool.zone,
                   suburb=pool.suburb, e_exit=pool.e_exit, u_cause=pool.u_cause,
                   z_home=pool.z_home, levels=levels)


def ledger_params(cfg: FundConfig, book: Book | None = None) -> dict:
    """Scalar parameters of the ledger kernel (the LedgerParams struct in _core.pxd)."""
    ex, fe = cfg.exit_simulator, cfg.fee_engine
    weights = ex.sale_weight + ex.refinance_weight
    return dict(
        months=cfg.months,
        fund_size=float(cfg.fund_size),
        origination_cap=cfg.fund_size * (1.0 - cfg.cash_reserve_rate),
        deploy_end=cfg.deployment_months,
        reinvest_end=cfg.reinvestment_months,
        reinvest_rate=float(cfg.reinvestment_rate),
        fee_basis=fee_engine.FEE_BASES[fe.management_fee_basis],
        fee_in_rate=fee_engine.fee_in_rate(cfg),
        acquisition_rate=float(fe.acquisition_fee_rate),
        disposition_rate=float(fe.disposition_fee_rate),
        min_loan_size=float(cfg.min_loan_size),
        loan_rate=float(cfg.interest_rate),
        loan_term_months=cfg.loan_term_months,
        share_method=SHARE_METHODS[cfg.appreciation_share_method],
        fixed_share=float(cfg.appreciation_share),
        share_depreciation=int(cfg.share_depreciation),
        has_cap=int(cfg.annual_return_cap is not None or cfg.contract.cap_rate is not None),
        return_cap=float(cfg.annual_return_cap) if cfg.annual_return_cap is not None else -1.0,
        n_tiers=len(cfg.tiered_appreciation_thresholds),
        min_hold_months=cfg.min_hold_months,
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
        hazard_scaled=int(cfg.market_stress is not None
                          and cfg.market_stress.hazard_multipliers is not None),
        **contracts.kernel_params(cfg),
        **leverage.kernel_params(cfg),
        start=book.start if book else 0, n_tape=book.n if book else 0,
        open_cash=book.cash if book else 0.0, open_called=book.called if book else 0.0,
    )


def sorted_tranches(cfg: FundConfig) -> list:
    """Debt tranches in payment priority order (1 = paid first)."""
    return sorted(cfg.tranches, key=lambda t: t.priority)


def static_inputs(cfg: FundConfig, book: Book | None = None) -> tuple[dict, StaticInputs]:
    """The ledger kernel's scalars and tables that are the same for every scenario of a run
    (``book``: the fund's own loans, portfolio.load_book)."""
    tranches = sorted_tranches(cfg)
    mult_up, mult_down = contracts.multiples(cfg)
    tape = book.kernel_tables() if book else {
        name: np.empty(0, dtype=np.intc if name in TAPE_INTS else float) for name in TAPE}
    return ledger_params(cfg, book), StaticInputs(
        schedule=loan_generator.deployment_schedule(cfg, book),
        fee_rate=fee_engine.fee_rates(cfg),
        expense=fee_engine.expenses(cfg),
        dist_mask=cashflow_aggregator.distribution_mask(cfg),
        default_rate=zone_array(cfg.default_rates),
        recovery=zone_array(cfg.recovery_rates),
        tier_thr=np.asarray(list(cfg.tiered_appreciation_thresholds) + [np.inf], dtype=float),
        tier_share=np.asarray(cfg.tiered_appreciation_shares, dtype=float),
        cap_factor=contracts.cap_factor(cfg),
        tranche_size=np.array([t.size for t in tranches], dtype=float),
        tranche_rate_m=np.array([month_growth(t.interest_rate) - 1.0 for t in tranches]),
        hazard_mult=hazard_multipliers(cfg, book.start if book else 0),
        mult_up=mult_up, mult_down=mult_down, senior_factor=contracts.senior_factor(cfg),
        amort=contracts.amortisation(cfg), **tape,
    )


def hazard_multipliers(cfg: FundConfig, offset: int = 0) -> np.ndarray:
    """(M+1, 3) multiples of the sale, refinance and default hazards in each month: the
    market stress's multipliers in its window [start_month, start_month + months), counted
    from month ``offset`` (a portfolio's as_of), 1 elsewhere (all ones without one)."""
    out = np.ones((cfg.months + 1, 3))
    stress = cfg.market_stress
    hm = stress.hazard_multipliers if stress is not None else None
    if hm is not None:
        a = offset + hm.start_month
        out[a:a + hm.months] = (hm.sale, hm.refinance, hm.default)
    return out


def simulate(cfg: FundConfig, pool: LoanPool, paths: PricePaths,
             static: tuple[dict, StaticInputs], kernels, book: Book | None = None) -> LedgerRun:
    """Run the loans and the monthly ledger of a chunk of scenarios; with a ``book``, write the
    fund's past into its equity columns (portfolio.open_ledger)."""
    params, tables = static
    S, K = pool.size.shape
    out = LedgerRun.empty(S, K, len(cfg.tranches), cfg.months + 1,
                          levered=leverage.active(cfg))
    kernels.run_ledger(params, LedgerInputs.build(tables, pool, paths.levels), out)
    if book is not None:
        open_ledger(book, out.ledger, out.opening)
    return out
