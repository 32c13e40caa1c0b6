"""Numbers computed by hand (DOMAIN.md's worked cases and our own), on both kernel sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import equihome
from equihome import _core
from equihome.io.config import load_config
from equihome.model import exit_simulator, loan_generator, reference
from equihome.model.layout import COL, ExitKind

KERNELS = [pytest.param(_core, id="cython"), pytest.param(reference, id="reference")]


def irr_of(k, flows) -> tuple[float, int]:
    rate = np.empty(1)
    flag = np.empty(1, dtype=np.int8)
    k.irr_batch(np.asarray([flows], dtype=float), 12.0, rate, flag)
    return float(rate[0]), int(flag[0])


# --------------------------------------------------------------------------- IRR


@pytest.mark.parametrize("k", KERNELS)
def test_irr_domain_cases(k):
    rate, flag = irr_of(k, [-100, 30, 40, 50])
    assert round(rate * 100, 4) == 8.8963 and flag == 0
    flows = np.zeros(121)
    flows[0], flows[120] = -1000.0, 1500.0
    rate, flag = irr_of(k, flows)
    assert round(((1 + rate) ** 12 - 1) * 100, 4) == 4.1380
    assert math.isclose((1 + rate) ** 120, 1.5, rel_tol=1e-12)


@pytest.mark.parametrize("k", KERNELS)
def test_irr_without_sign_change_is_none_not_zero(k):
    rate, flag = irr_of(k, [100, 20, 30])
    assert math.isnan(rate) and flag == 2
    rate, flag = irr_of(k, [0, 0, -5, 0])
    assert math.isnan(rate) and flag == 2


@pytest.mark.parametrize("k", KERNELS)
def test_irr_several_roots_takes_the_one_closest_to_zero(k):
    # (1+r)^-1 roots of -100 + 230 x^-1... : flows -100, 230, -132 have IRRs 10 % and 20 %
    rate, flag = irr_of(k, [-100, 230, -132])
    assert flag == 1
    assert math.isclose(rate, 0.10, rel_tol=1e-10)


@pytest.mark.parametrize("k", KERNELS)
def test_irr_total_loss_is_minus_100_percent_region(k):
    rate, flag = irr_of(k, [-100, 1e-6])
    assert flag == 0 and rate < -0.99


def test_irr_matches_numpy_financial_and_pyxirr():
    npf = pytest.importorskip("numpy_financial")
    pyxirr = pytest.importorskip("pyxirr")
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(3, 60))
        flows = np.concatenate([[-rng.uniform(50, 150)], rng.uniform(-5, 30, n)])
        ours, flag = irr_of(_core, flows)
        if flag != 0:
            continue
        assert math.isclose(ours, npf.irr(flows), rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(ours, pyxirr.irr(flows), rel_tol=1e-8, abs_tol=1e-10)


# --------------------------------------------------------------------------- waterfall

GROWTH_8_ANNUAL = 1.08 ** (1.0 / 12.0)


def european(k, dist_amount, catch_up=1.0, carry=0.20, months=60, offset=0.0, fees=None):
    """LP-only fund: 100 called at month 0, one distribution at ``months``."""
    calls = np.zeros((1, months + 1))
    dist = np.zeros((1, months + 1))
    calls[0, 0] = 100.0
    dist[0, months] = dist_amount
    fee = np.zeros((1, months + 1)) if fees is None else fees
    lp, gp, excess = np.empty_like(dist), np.empty_like(dist), np.empty(1)
    k.waterfall_european(calls, dist, fee, 1.0, GROWTH_8_ANNUAL, catch_up, carry, offset, 1, lp,
                         gp, excess)
    assert excess[0] == 0.0  # one distribution: nothing to true up
    return lp.sum(), gp.sum()


@pytest.mark.parametrize("k", KERNELS)
def test_worked_european_waterfall_table(k):
    pref = 100 * (1.08**5 - 1)
    assert round(pref, 4) == 46.9328
    # 200, full catch-up: LP 180, GP 20 (catch-up 11.7332 + split 8.2668)
    lp, gp = european(k, 200.0)
    assert math.isclose(lp, 180.0, abs_tol=1e-9) and math.isclose(gp, 20.0, abs_tol=1e-9)
    # up to the end of the catch-up tier the GP holds exactly the catch-up
    lp, gp = european(k, 100 + pref + 11.7332)
    assert round(gp, 4) == 11.7332
    # 200 with catch_up_rate 0.5: GP 15.6443 in catch-up + 4.3557 split = 20
    lp, gp = european(k, 200.0, catch_up=0.5)
    assert math.isclose(lp, 180.0, abs_tol=1e-9) and math.isclose(gp, 20.0, abs_tol=1e-9)
    lp, gp = european(k, 100 + pref + 31.2885, catch_up=0.5)
    assert round(gp, 4) == 15.6443
    # 130: inside the pref, nothing to the GP
    lp, gp = european(k, 130.0)
    assert lp == 130.0 and gp == 0.0


@pytest.mark.parametrize("k", KERNELS)
def test_no_catch_up_gp_gets_only_the_split(k):
    pref = 100 * (1.08**5 - 1)
    lp, gp = european(k, 200.0, catch_up=0.0)
    assert math.isclose(gp, 0.2 * (200 - 100 - pref), rel_tol=1e-12)


@pytest.mark.parametrize("k", KERNELS)
def test_fee_offset_reduces_carry(k):
    fees = np.zeros((1, 61))
    fees[0, :60] = 0.1  # 6.0 of management fees in all
    lp, gp = european(k, 200.0, offset=0.5, fees=fees)
    assert math.isclose(gp, 20.0 - 3.0, abs_tol=1e-9)
    assert math.isclose(lp + gp, 200.0, abs_tol=1e-9)


@pytest.mark.parametrize("k", KERNELS)
def test_american_clawback_hand_case(k):
    """Deal A: 100 -> 200 at month 12 (carry paid); deal B: 100 -> 0 at month 24 (loss)."""
    N = 25
    calls = np.zeros((1, N))
    calls[0, 0] = 200.0
    dist = np.zeros((1, N))
    dist[0, 12], dist[0, 24] = 200.0, 0.0
    orig = np.array([[0, 0]], dtype=np.intc)
    receipt = np.array([[12, 24]], dtype=np.intc)
    adv = np.array([[100.0, 100.0]])
    proceeds = np.array([[200.0, 0.0]])
    fees = np.zeros((1, N))
    g = GROWTH_8_ANNUAL
    for claw in (0, 1):
        lp, gp, excess = np.empty((1, N)), np.empty((1, N)), np.empty(1)
        k.waterfall_american(calls, dist, fees, orig, receipt, adv, proceeds, 1.0, g, 1.0, 0.2, 0.0,
                             claw, lp, gp, excess)
        # without clawback the 20 the GP keeps is reported as excess carry
        assert math.isclose(excess[0], 0.0 if claw else 20.0, abs_tol=1e-9)
        # deal A: pref 8, catch-up 2, split 0.2 * 90 = 18 -> carry 20 paid at month 12
        assert math.isclose(gp[0, 12], 20.0, rel_tol=1e-12)
        # whole fund: 200 in, 200 out, no profit -> clawback returns all 20
        assert math.isclose(gp.sum(), 0.0 if claw else 20.0, abs_tol=1e-9)
        assert math.isclose(lp.sum() + gp.sum(), 200.0, abs_tol=1e-9)


# --------------------------------------------------------------------------- one loan


def one_loan(kind_hazards: dict, levels: np.ndarray, fund_term: int = 10, loan_term: int = 10,
             lag: int = 12, k=_core) -> dict:
    """Run the ledger with a single pool loan: advance 100,000, LTV 0.5 (V0 = 200,000)."""
    cfg = load_config("100m", {
        "fund_size": 1_000_000, "fund_term": fund_term, "loan_term": loan_term,
        "deployment_period": 0, "reinvestment_period": 0,
        "fee_engine": {"management_fee_rate": 0, "annual_fund_expenses": 0,
                       "fixed_annual_expenses": 0, "setup_costs": 0},
        "exit_simulator": {"foreclosure_time": lag},
        "price_path": {"property_variation": 0.0}})
    params, tables = exit_simulator.static_inputs(cfg)
    hazards = dict(kind_hazards)
    tables.default_rate = np.array([hazards.pop("default", 0.0)] * 3)
    tables.recovery = np.array([0.8, 0.8, 0.8])
    p = dict(params, sale_hazard=0.0, refi_hazard=0.0, sale_mult=0.0, refi_mult=0.0,
             default_mult=0.0, min_hold_months=0, loan_rate=0.05, foreclosure_cost=0.10,
             liquidation_discount=0.05)
    p.update(hazards)
    N = 12 * fund_term + 1
    e = np.array([[24 * 0.6 / 12 - 1e-9]])  # a 0.6 hazard from month 1 -> exit at month 24
    pool = loan_generator.LoanPool(
        size=np.array([[100_000.0]]), ltv=np.array([[0.5]]), zone=np.zeros((1, 1), np.intc),
        suburb=np.zeros((1, 1), np.intc), e_exit=e, u_cause=np.array([[0.5]]),
        z_home=np.zeros((1, 1, 2)))
    levels = np.ascontiguousarray(levels[:N]).reshape(1, N, 1)
    out = exit_simulator.LedgerRun.empty(1, 1, 0, N, levered=False)
    k.run_ledger(p, exit_simulator.LedgerInputs.build(tables, pool, levels), out)
    return {"exit": int(out.exit_month[0, 0]), "receipt": int(out.receipt_month[0, 0]),
            "kind": int(out.exit_type[0, 0]), "proceeds": float(out.proceeds[0, 0]),
            "ledger": out.ledger[0]}


RISING = 1.0 + 0.01 * np.arange(121)   # +1 % of the start value a month
FALLING = 1.0 - 0.005 * np.arange(121)


@pytest.mark.parametrize("k", KERNELS)
def test_sale_proceeds_by_hand(k):
    out = one_loan({"sale_hazard": 0.6}, RISING, k=k)
    # month 24: 100,000 + 100,000 * 5 % * 2 y + LTV 0.5 * (248,000 - 200,000)
    assert (out["kind"], out["exit"], out["receipt"]) == (ExitKind.SALE, 24, 24)
    assert math.isclose(out["proceeds"], 134_000.0, rel_tol=1e-12)
    assert math.isclose(out["ledger"][COL["proceeds"], 24], 134_000.0, rel_tol=1e-12)


@pytest.mark.parametrize("k", KERNELS)
def test_refinance_proceeds_by_hand(k):
    out = one_loan({"refi_hazard": 0.6}, RISING, k=k)
    assert (out["kind"], out["exit"]) == (ExitKind.REFI, 24)
    assert math.isclose(out["proceeds"], 134_000.0, rel_tol=1e-12)


@pytest.mark.parametrize("k", KERNELS)
def test_default_with_lag_and_cost_by_hand(k):
    out = one_loan({"default": 0.6}, FALLING, k=k)
    # default at 24 (home 200,000 * 0.88 = 176,000; claim 110,000, interest stops);
    # recovery at 36: min(110,000, 200,000 * 0.82 * 0.9 = 147,600) * 0.8 = 88,000
    assert (out["kind"], out["exit"], out["receipt"]) == (ExitKind.DEFAULT, 24, 36)
    assert math.isclose(out["proceeds"], 88_000.0, rel_tol=1e-12)
    assert out["ledger"][COL["proceeds"], 24] == 0.0
    # a deeper fall: recovery limited by the collateral after foreclosure costs
    deep = 1.0 - 0.02 * np.arange(121)
    out = one_loan({"default": 0.6}, deep, k=k)
    # value at 36: 200,000 * 0.28 = 56,000 -> 56,000 * 0.9 * 0.8 = 40,320
    assert math.isclose(out["proceeds"], 40_320.0, rel_tol=1e-12)


@pytest.mark.parametrize("k", KERNELS)
def test_maturity_and_liquidation_by_hand(k):
    out = one_loan({}, RISING, loan_term=2, k=k)
    assert (out["kind"], out["exit"]) == (ExitKind.MATURITY, 24)
    assert math.isclose(out["proceeds"], 134_000.0, rel_tol=1e-12)
    out = one_loan({}, RISING, fund_term=2, loan_term=10, k=k)
    assert (out["kind"], out["exit"]) == (ExitKind.LIQUIDATION, 24)
    assert math.isclose(out["proceeds"], 134_000.0 * 0.95, rel_tol=1e-12)


@pytest.mark.parametrize("k", KERNELS)
def test_pending_foreclosure_settles_at_fund_end(k):
    out = one_loan({"default": 0.6}, FALLING, fund_term=2, loan_term=10, k=k)
    # default at 24 = fund end: settled at once at the month-24 value
    assert (out["kind"], out["receipt"]) == (ExitKind.DEFAULT, 24)
    assert math.isclose(out["proceeds"], min(110_000.0, 176_000.0 * 0.9) * 0.8, rel_tol=1e-12)


# --------------------------------------------------------------------------- a fund on paper

PAPER_FUND = {
    "fund_size": 1_000_000, "fund_term": 10, "gp_commitment_percentage": 0.02,
    "deployment_period": 0, "reinvestment_period": 0, "cash_reserve_rate": 0.0,
    "avg_loan_size": 250_000, "loan_size_std_dev": 0, "min_loan_size": 250_000,
    "max_loan_size": 250_000, "avg_loan_ltv": 0.5, "ltv_std_dev": 0, "min_ltv": 0.5,
    "max_ltv": 0.5, "interest_rate": 0.05, "loan_term": 5, "origination_fee_rate": 0.0,
    "appreciation_rates": {"green": 0.08, "orange": 0.08, "red": 0.08},
    "default_rates": {"green": 0, "orange": 0, "red": 0},
    "price_path": {"volatility": {"green": 0, "orange": 0, "red": 0}, "suburb_variation": 0,
                   "property_variation": 0},
    "exit_simulator": {"base_exit_rate": 0},
    "fee_engine": {"management_fee_rate": 0, "annual_fund_expenses": 0,
                   "fixed_annual_expenses": 0, "setup_costs": 0},
}


@pytest.mark.parametrize("kernels", ["cython", "reference"])
def test_deterministic_fund_returns_on_paper(kernels):
    """4 loans of 250,000 at month 0, prices +8 %/y continuously, all repaid at month 60."""
    r = equihome.simulate(PAPER_FUND, num_simulations=2, seed=1, kernels=kernels)
    claim = 250_000 * (1 + 0.05 * 5) + 0.5 * 500_000 * (math.exp(0.08 * 5) - 1)
    total = 4 * claim
    gross = (total / 1_000_000) ** (1 / 5) - 1
    lp_in, lp_out = 980_000.0, 0.98 * total
    pref = lp_in * (1.08**5 - 1)
    catch_up = 0.2 * pref / 0.8
    split = lp_out - lp_in - pref - catch_up
    carry = catch_up + 0.2 * split
    lp_irr = ((lp_out - carry) / lp_in) ** (1 / 5) - 1
    s = r.scenarios
    for i in range(2):
        assert math.isclose(s["gross_irr"][i], gross, rel_tol=1e-9)
        assert math.isclose(s["fund_irr"][i], gross, rel_tol=1e-9)  # no fees, no expenses
        assert math.isclose(s["gp_carry"][i], carry, rel_tol=1e-9)
        assert math.isclose(s["lp_irr"][i], lp_irr, rel_tol=1e-9)
        assert math.isclose(s["lp_tvpi"][i], (lp_out - carry) / lp_in, rel_tol=1e-12)
        assert s["num_loans"][i] == 4 and s["payback_month"][i] == 60
    assert r.exit_mix["maturity"]["share"] == 1.0
    assert r.metrics["irr"] == pytest.approx(lp_irr, rel=1e-9)
