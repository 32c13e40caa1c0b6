"""Leverage (DOMAIN.md "Leverage"): the NAV facility and the subscription line, by hand.

Deterministic one-loan funds (no volatility, no hazards, no fees unless stated) on both kernel
sets: every draw, interest charge, fee and repayment is checked to the cent against numbers
worked out in the comments; the line's six-month shift of a call against a direct IRR of the
shifted flows (numpy-financial), both ways; the covenant sweep after a price fall (a market
stress); the lender's loss when the book cannot repay; the config rules and the result.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy_financial as npf
import pytest

import equihome
from equihome.io.config import ConfigError, load_config
from equihome.model import exit_simulator, loan_generator, price_path_simulator
from equihome.model.layout import COL, LEV, LEVER_ROWS
from equihome.run import engine

KERNELS = ["cython", "reference"]
FLAT = {z: 0.0 for z in ("green", "orange", "red")}
BASE = {  # a 5-year fund, one deterministic loan at month 0 repaid at maturity (month 60)
    "fund_size": 1_000_000, "fund_term": 5, "gp_commitment_percentage": 0.0,
    "deployment_period": 0, "reinvestment_period": 0, "carried_interest_rate": 0.0,
    "loan_size_std_dev": 0, "ltv_std_dev": 0, "avg_loan_ltv": 0.5, "min_ltv": 0.5,
    "max_ltv": 0.5, "interest_rate": 0.05, "loan_term": 5, "origination_fee_rate": 0.0,
    "appreciation_rates": FLAT, "default_rates": FLAT,
    "price_path": {"volatility": FLAT, "suburb_variation": 0, "property_variation": 0},
    "exit_simulator": {"base_exit_rate": 0},
    "fee_engine": {"management_fee_rate": 0, "annual_fund_expenses": 0,
                   "fixed_annual_expenses": 0, "setup_costs": 0},
}
# 1.2M advance on a 2.4M home; 10 % reserve: 900k of equity, the NAV facility lends the rest
NAV_FUND = {**BASE, "cash_reserve_rate": 0.1, "avg_loan_size": 1_200_000,
            "min_loan_size": 1_200_000, "max_loan_size": 1_200_000,
            "leverage": {"nav_facility": {"enabled": True}}}
# 600k advance on a 1.2M home, bridged by a line as large as the commitments
LINE_FUND = {**BASE, "cash_reserve_rate": 0.0, "avg_loan_size": 600_000,
             "min_loan_size": 600_000, "max_loan_size": 600_000,
             "leverage": {"subscription_line": {"enabled": True, "limit_fraction": 1.0,
                                                "commitment_fee": 0.0}}}
NAV_RATE_M = (0.04 + 0.0275) / 12  # 0.005625 a month on the drawn balance


def one_scenario(cfg: dict, kernels: str = "cython"):
    """(ledger (C, M+1), lever (R, M+1), per-scenario metrics, leverage metrics) of scenario 0."""
    plan = engine.make_plan(cfg, num_simulations=1, seed=1, kernels=kernels)
    st = engine.compute_chunk(plan, 0, 1)
    assert (st.run.orig_month[0] >= 0).sum() == 1, "the case is meant to make one loan"
    lev = {k: float(v[0]) for k, v in st.metrics.leverage.items()}
    return st.run.ledger[0], st.run.lever[0], {k: float(v[0]) for k, v in
                                               st.metrics.metrics.items()}, lev


def cents(x: float) -> float:
    return round(float(x), 2)


@pytest.mark.parametrize("kernels", KERNELS)
def test_nav_facility_one_loan_one_draw_by_hand(kernels):
    led, lev, m, lm = one_scenario(NAV_FUND, kernels)
    # month 0: the 1.2M loan takes 900k of equity, then 300k from the facility (its borrowing
    # base is 30 % of the 1.2M loan being made: 360k)
    assert led[COL["calls"], 0] == 900_000.0
    assert lev[LEV["nav_draws"], 0] == 300_000.0
    # the fund holds no cash until month 60: interest is capitalised, so the balance
    # compounds at 0.5625 % a month: B_m = 300,000 x 1.005625^m
    assert cents(lev[LEV["nav_capitalised"], 1]) == 1_687.50
    assert cents(lev[LEV["nav_balance"], 59]) == 417_685.00  # 300,000 x 1.005625^59
    assert cents(lev[LEV["nav_capitalised"]].sum()) == 117_685.00
    # month 60: 1.5M (1.2M + 5 % x 5 y) arrives, pays that month's interest 2,349.48, then the
    # balance 417,685.00 is repaid before the equity receives the rest
    assert cents(lev[LEV["nav_interest"], 60]) == 2_349.48
    assert cents(lm["facility_interest"]) == 120_034.48  # 300,000 x (1.005625^60 - 1)
    assert cents(lev[LEV["nav_repaid"], 60]) == 417_685.00
    assert np.count_nonzero(lev[LEV["nav_repaid"]]) == 1
    assert cents(led[COL["distributions"], 60]) == 1_079_965.52  # 1.5M - 300,000 x 1.005625^60
    # commitment fees, 0.5 %/12 on 30 % of last month's fair value (1.2M + 5,000 a month of
    # interest) less the balance, months 1..47 (the draw window ends at year 4), called:
    # 0.005/12 x (0.3 x (47 x 1.2M + 5,000 x 1,081) - 300,000 x (1.005625^47 - 1)/0.005625)
    assert cents(lm["facility_fees"]) == 1_022.25
    assert cents(lev[LEV["nav_fees"], 1]) == 25.00  # 0.005/12 x (360,000 - 300,000)
    assert lev[LEV["nav_fees"], 48:].sum() == 0.0
    assert cents(led[COL["calls"]].sum()) == 901_022.25
    assert lev[LEV["covenant_breach"]].sum() == 0.0 and lm["lender_loss"] == 0.0
    assert lm["nav_facility_peak"] == pytest.approx(417_685.0007705777, abs=1e-6)
    # no line: the LP IRR as if unlevered is the LP IRR
    assert lm["lp_irr_unlevered"] == m["lp_irr"] and lm["lp_irr_uplift"] == 0.0


@pytest.mark.parametrize("kernels", KERNELS)
def test_subscription_line_one_loan_one_draw_by_hand(kernels):
    led, lev, m, lm = one_scenario(LINE_FUND, kernels)
    # month 0: the 600k loan is drawn on the line, nothing called
    assert lev[LEV["sub_draws"], 0] == 600_000.0 and led[COL["calls"], 0] == 0.0
    # months 1..6: 6 %/12 x 600k = 3,000 of interest, called; month 6: the draw is called back
    np.testing.assert_array_equal(lev[LEV["sub_interest"], 1:7], 3_000.0)
    np.testing.assert_array_equal(led[COL["calls"], 1:6], 3_000.0)
    assert led[COL["calls"], 6] == 603_000.0 and lev[LEV["sub_repaid"], 6] == 600_000.0
    assert lev[LEV["sub_balance"], 5] == 600_000.0 and lev[LEV["sub_balance"], 6] == 0.0
    assert lm["facility_interest"] == 18_000.0 and lm["subscription_line_peak"] == 600_000.0
    assert led[COL["distributions"], 60] == 750_000.0  # 600k x (1 + 5 % x 5)
    assert lm["lender_loss"] == 0.0


@pytest.mark.parametrize("kernels", KERNELS)
def test_subscription_line_commitment_fee_by_hand(kernels):
    cfg = {**LINE_FUND, "leverage": {"subscription_line": {
        "enabled": True, "limit_fraction": 1.0, "commitment_fee": 0.0035}}}
    led, lev, _, _ = one_scenario(cfg, kernels)
    # month 0: 0.35 %/12 on the whole undrawn line (1M): 291.67, called (no cash)
    assert cents(lev[LEV["sub_fees"], 0]) == 291.67
    assert cents(led[COL["calls"], 0]) == 291.67 and lev[LEV["sub_draws"], 0] == 600_000.0
    # month 1: interest 6 %/12 x 600,000 = 3,000 and the fee on the undrawn line,
    # 1M - 291.67 called - 600,000 drawn = 399,708.33: 116.58, both called
    assert lev[LEV["sub_interest"], 1] == 3_000.0
    assert cents(lev[LEV["sub_fees"], 1]) == 116.58
    assert cents(led[COL["calls"], 1]) == 3_116.58


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize(("rate", "lifts"), [(0.06, False), (0.02, True)])
def test_line_shifts_a_call_six_months(kernels, rate, lifts):
    """The line moves the 600k call from month 0 to month 6, at rate/12 a month of interest:
    the LP IRR is the IRR of the shifted flows; as if unlevered it is 1.25^(1/5) - 1 =
    4.5640 %. It lifts the IRR only while the line costs less than that."""
    cfg = {**LINE_FUND, "leverage": {"subscription_line": {
        "enabled": True, "limit_fraction": 1.0, "commitment_fee": 0.0, "rate": rate}}}
    _, _, m, lm = one_scenario(cfg, kernels)
    interest = 600_000 * rate / 12
    shifted = np.zeros(61)
    shifted[1:6] = -interest
    shifted[6] = -600_000 - interest
    shifted[60] = 750_000
    direct = (1 + npf.irr(shifted)) ** 12 - 1
    assert m["lp_irr"] == pytest.approx(direct, rel=1e-9)
    assert lm["lp_irr_unlevered"] == pytest.approx(1.25 ** 0.2 - 1, rel=1e-9)
    assert lm["lp_irr_uplift"] == pytest.approx(direct - (1.25 ** 0.2 - 1), rel=1e-9)
    assert (lm["lp_irr_uplift"] > 0) == lifts


@pytest.mark.parametrize("kernels", KERNELS)
def test_lender_loss_when_the_book_cannot_repay(kernels):
    """Prices fall 90 % at month 12 and stay: the fund's claim (1.5M less half the 2.16M
    fall, at most the home's 240k) repays only part of the capitalised 300k."""
    cfg = {**NAV_FUND, "share_depreciation": True, "appreciation_share_method": "fixed",
           "appreciation_share": 0.5,
           "market_stress": {"price_shock": {"start_month": 12, "immediate": -0.9,
                                             "decline": -0.9, "decline_months": 0}}}
    led, lev, _, lm = one_scenario(cfg, kernels)
    assert led[COL["proceeds"], 60] == pytest.approx(240_000.0, rel=1e-12)
    # B_60 = 300,000 x 1.005625^60 = 420,034.48 owed; 240,000 received; no fees after the fall
    assert cents(lm["lender_loss"]) == 180_034.48
    assert led[COL["distributions"]].sum() == 0.0  # nothing for equity while lenders are owed
    assert lev[LEV["nav_balance"], 60] == 0.0  # written off
    # the covenant (drawn / fair value > 40 %) is breached from the fall to month 59; no cash
    # to sweep until then
    np.testing.assert_array_equal(np.flatnonzero(lev[LEV["covenant_breach"]]), np.arange(12, 60))
    assert lm["covenant_months"] == 48.0


STAGGERED = {  # 40 loans of 250k made over two years, 3-year terms: one matures most months
    **BASE, "fund_size": 10_000_000, "fund_term": 8, "cash_reserve_rate": 0.0,
    "deployment_period": 2, "loan_term": 3, "avg_loan_size": 250_000, "min_loan_size": 250_000,
    "max_loan_size": 250_000, "avg_loan_ltv": 0.6, "min_ltv": 0.6, "max_ltv": 0.6,
    "share_depreciation": True, "distribution_frequency": "annual",
    "leverage": {"nav_facility": {"enabled": True}},
    "market_stress": {"price_shock": {"start_month": 30, "immediate": -0.5, "decline": -0.5,
                                      "decline_months": 0}},
}


@pytest.mark.parametrize("kernels", KERNELS)
def test_covenant_sweep_after_a_price_fall(kernels):
    """The 50 % fall at month 30 cuts the loans' fair value (their share of the fall) below
    drawn / 40 %: from then on each month's proceeds repay the facility until it is back under
    the covenant, and nothing is distributed while it is drawn."""
    led, lev, _, lm = one_scenario_many(STAGGERED, kernels)
    breach = np.flatnonzero(lev[LEV["covenant_breach"]])
    assert breach.size and breach[0] == 30 and lm["covenant_months"] == breach.size
    fair = led[COL["nav"]] - led[COL["cash"]] + lev[LEV["nav_balance"]]
    for q in breach:
        swept = lev[LEV["nav_repaid"], q]
        before = lev[LEV["nav_balance"], q] + swept  # no draws in a breach month
        assert lev[LEV["nav_draws"], q] == lev[LEV["nav_capitalised"], q]
        # every dollar of cash goes to the lender, or the facility is back under 40 %
        under = before - swept <= 0.4 * fair[q] + 1e-6
        assert under or led[COL["cash"], q] <= 1e-6, f"month {q}"
        assert swept > 0 or led[COL["proceeds"], q] == 0.0
    assert breach.size > 12 and lev[LEV["nav_repaid"], breach].sum() > 3e6  # it really swept
    paid_out = np.flatnonzero(led[COL["distributions"]])
    assert paid_out.size and (lev[LEV["nav_balance"], paid_out] == 0.0).all()
    assert lm["lender_loss"] == 0.0


def one_scenario_many(cfg: dict, kernels: str):
    """As one_scenario, for a fund of many loans."""
    plan = engine.make_plan(cfg, num_simulations=1, seed=1, kernels=kernels)
    st = engine.compute_chunk(plan, 0, 1)
    return (st.run.ledger[0], st.run.lever[0],
            {k: float(v[0]) for k, v in st.metrics.metrics.items()},
            {k: float(v[0]) for k, v in st.metrics.leverage.items()})


# --------------------------------------------------------------------------- config and result


@pytest.mark.parametrize(("over", "where", "text"), [
    ({"nav_facility": {"advance_rate": 0.5}}, "leverage.nav_facility.advance_rate",
     "must be at most ltv_covenant (0.4)"),
    ({"nav_facility": {"draw_window": [2, 12]}}, "leverage.nav_facility.draw_window",
     "0 <= start <= end <= fund_term (10), got [2, 12]"),
    ({"subscription_line": {"max_outstanding_months": 0}},
     "leverage.subscription_line.max_outstanding_months", "got 0"),
    ({"nav_facility": {"draw_policy": "cash"}}, "leverage.nav_facility.draw_policy", "'cash'"),
    ({"subscription_line": {"rate_pct": 5}}, "leverage.subscription_line.rate_pct", ""),
])
def test_leverage_config_errors_name_field_value_and_rule(over, where, text):
    with pytest.raises(ConfigError) as err:
        load_config("100m", {"leverage": over})
    msg = str(err.value)
    assert msg.startswith(where) and text in msg, msg


def test_config_without_leverage_dumps_without_it():
    assert "leverage" not in load_config("100m").to_dict()
    assert "facility_ltv" not in load_config("100m").to_dict()["guardrails"]
    cfg = load_config("100m", {"leverage": {"nav_facility": {"enabled": True}}})
    assert cfg.to_dict()["leverage"]["nav_facility"]["enabled"] is True
    assert load_config(cfg).leverage.nav_facility.enabled  # a FundConfig round-trips it


def test_levered_run_reports_leverage_and_its_guardrails():
    r = equihome.simulate("100m", num_simulations=60, seed=5, overrides={"leverage": {
        "nav_facility": {"enabled": True}, "subscription_line": {"enabled": True,
                                                                 "rate": 0.01}},
        "guardrails": {"subscription_line_irr_uplift": 0.0, "interest_coverage": 50.0}})
    lev = r.data["leverage"]
    assert lev["nav_facility"] and lev["subscription_line"]
    assert set(lev["fans"]) == {"nav_facility_drawn", "subscription_line_drawn"}
    assert len(lev["fans"]["nav_facility_drawn"]["p50"]) == 11
    assert lev["fans"]["nav_facility_drawn"]["p50"][-1] == 0.0  # repaid by fund end
    stats = lev["statistics"]
    assert stats["lp_irr_uplift"]["p50"] == pytest.approx(
        float(np.median(r.scenarios["lp_irr"] - r.scenarios["lp_irr_unlevered"])))
    assert stats["nav_facility_peak"]["p50"] > 0 and stats["lender_loss"]["max"] == 0.0
    rules = {v["rule"]: v for v in r.guardrails}
    assert rules["subscription_line_irr_uplift"]["severity"] == "warning"
    assert rules["interest_coverage"]["details"]["min_allowed"] == 50.0
    text = r.summary()
    assert "leverage:" in text and "unlevered" in text
    assert math.isfinite(r.scenarios["min_interest_coverage"][0])


def test_readme_levered_run_is_what_it_prints():
    """README's Leverage section: the summary line and the preset's medians it quotes."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Leverage", 1)[1].split("\n## ", 1)[0]
    line = section.split("```text\n", 1)[1].split("```", 1)[0].strip()
    runs = {name: equihome.simulate("100m", num_simulations=1000, seed=42, overrides=over)
            for name, over in {
                "none": {}, "line": {"leverage": {"subscription_line": {"enabled": True}}},
                "line3": {"leverage": {"subscription_line": {"enabled": True, "rate": 0.03}}},
                "nav": {"leverage": {"nav_facility": {"enabled": True}}},
                "both": {"leverage": {"nav_facility": {"enabled": True},
                                      "subscription_line": {"enabled": True}}}}.items()}
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'if line.startswith("leverage:")' in code
    assert line in runs["both"].summary().splitlines() and line.startswith("leverage:")
    text = " ".join(section.split())
    for name, quoted in (("none", "4.75 % unlevered"), ("line", "4.66 % with the default"),
                         ("line3", "4.79 % with a 3 % line"), ("nav", "5.57 % with the NAV")):
        assert f"{runs[name].metrics['irr'] * 100:.2f} %" == quoted.split(" ")[0] + " %", name
        assert quoted in text, quoted
    unlevered = runs["line"].data["leverage"]["statistics"]["lp_irr_unlevered"]["p50"]
    assert f"lowers the IRR: {unlevered * 100:.2f} % as if" in text


def test_result_view_shows_the_leverage_rows():
    from equihome.io.result import fmt
    from equihome.ui.result_html import metrics_html

    plain = equihome.simulate("100m", num_simulations=20, seed=2)
    levered = equihome.simulate("100m", num_simulations=20, seed=2, overrides={
        "leverage": {"nav_facility": {"enabled": True}}})
    html = metrics_html(levered.data)
    p50 = levered.data["leverage"]["statistics"]["nav_facility_peak"]["p50"]
    assert f"<td class='eq-nav_facility_peak-p50' style='padding:2px 10px;text-align:right;" \
           f"white-space:nowrap'>{fmt(p50, '$')}</td>" in html
    assert "LP IRR as if unlevered" in html and "Min interest coverage" in html
    assert "nav_facility_peak" not in metrics_html(plain.data)


def test_compare_shows_the_facilities_only_when_a_fund_borrows():
    plain = equihome.simulate("100m", num_simulations=20, seed=2)
    line = equihome.simulate("100m", num_simulations=20, seed=2, overrides={
        "leverage": {"subscription_line": {"enabled": True}}})
    table = equihome.compare([plain, line], ["plain", "line"])
    peak = line.data["leverage"]["statistics"]["subscription_line_peak"]["p50"]
    assert table.rows["Subscription line peak median"] == [None, peak]
    assert not any("facility" in k.lower() for k in equihome.compare([plain], ["p"]).rows)


@pytest.mark.parametrize("kernels", ["cython", "reference"])
def test_a_fund_without_facilities_gets_read_only_zero_rows(kernels):
    """Without a facility the lever rows are read-only zeros, never allocated nor written (the
    kernels zero and fill them only with one); handed those rows, a levered fund's run refuses
    to write them instead of writing somewhere else."""
    plain = engine.compute_chunk(engine.make_plan(BASE, num_simulations=3, seed=1,
                                                  kernels=kernels), 0, 3).run
    assert not plain.lever.flags.writeable and not plain.lever.any()
    assert plain.lever.shape == (3, len(LEVER_ROWS), plain.ledger.shape[2])
    plan = engine.make_plan(NAV_FUND, num_simulations=1, seed=1, kernels=kernels)
    levered = engine.compute_chunk(plan, 0, 1).run
    assert levered.lever.flags.writeable and levered.lever.any()
    params, tables = plan.static
    pool = loan_generator.generate(plan.cfg, 1, 0, 1, 1, plan.kernels)
    paths = price_path_simulator.simulate(plan.cfg, 1, 0, 1, plan.kernels)
    out = exit_simulator.LedgerRun.empty(1, pool.size.shape[1], 0, plan.cfg.months + 1,
                                         levered=False)
    with pytest.raises(ValueError, match=r"lever is read-only \(LedgerRun.empty\(levered=False"):
        plan.kernels.run_ledger(dict(params), exit_simulator.LedgerInputs.build(
            tables, pool, paths.levels), out)


def test_interest_coverage_sums_each_window_itself():
    """A year of $10,000 interest, then a window whose only interest is $1e-280: its coverage
    (12 months of -$1 after fees over 1e-280) is the minimum, -1.2e281. Windows taken as a
    difference of running sums lost that interest behind the first year's (and gave -0.0012);
    windows with no interest due count for nothing."""
    from equihome.model.leverage import interest_coverage

    N = 30
    ledger, lever = np.zeros((1, len(COL), N)), np.zeros((1, len(LEVER_ROWS), N))
    ledger[0, COL["expenses"]] = 1.0
    lever[0, LEV["nav_interest"], :12] = 1e4
    lever[0, LEV["nav_interest"], 25] = 1e-280
    assert interest_coverage(ledger, lever)[0] == -12.0 / 1e-280
    lever[0, LEV["nav_interest"], 25] = 0.0
    assert interest_coverage(ledger, lever)[0] == -12.0 / 1e4
