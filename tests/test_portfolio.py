"""The fund's own book (DOMAIN.md, "The fund's own book"): seasoned loans from a tape, the fund's
position at as_of, new loans from uncalled commitments, LP flows from as_of or since inception.

Hand-computed cases run on deterministic prices (no volatility, no suburb or home walk, no
voluntary exits or defaults), where a green home grows by exactly exp(0.05 t)."""

from __future__ import annotations

import ast
import html
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equihome.io.config import ConfigError, load_config
from equihome.model.layout import COL, ExitKind
from equihome.model.portfolio import load_book, suburb_of
from equihome.run import engine
from tests.test_invariants import TOL, fund_configs
from tests.test_kernel_agreement import assert_ledgers_agree

ZERO = {"green": 0.0, "orange": 0.0, "red": 0.0}
MU = 0.05
LOAN = {"loan_id": "A1", "origination_date": "2022-06-15", "advance": 100_000,
        "origination_value": 400_000, "current_value": 450_000, "zone": "green",
        "interest_rate": 0.05, "appreciation_share": 0.4, "term_years": 5}


def quiet_fund(loans: list[dict], **portfolio) -> dict:
    """A $1M fund without management fees or expenses, on deterministic prices, whose only
    loans are the tape's (deployment over, no recycling), as_of 2025-06 (inception 2022-06
    from the tape: month 36)."""
    return {
        "fund_size": 1_000_000, "fund_term": 10, "deployment_period": 1,
        "reinvestment_period": 0, "num_simulations": 3, "monte_carlo_seed": 5,
        "appreciation_rates": {z: MU for z in ZERO}, "default_rates": ZERO,
        "price_path": {"volatility": ZERO, "suburb_variation": 0.0, "property_variation": 0.0},
        "exit_simulator": {"base_exit_rate": 0.0},
        "fee_engine": {"management_fee_rate": 0.0, "annual_fund_expenses": 0.0,
                       "fixed_annual_expenses": 0.0, "setup_costs": 0.0},
        "portfolio": {"loans": loans, "as_of": "2025-06", "called_to_date": 200_000,
                      "cash": 100_000, **portfolio}}


def chunk(cfg: dict, n: int = 3, kernels: str = "cython"):
    plan = engine.make_plan(cfg, num_simulations=n, kernels=kernels)
    return plan, engine.compute_chunk(plan, 0, n)


# --------------------------------------------------------------------------- hand-computed


def test_seasoned_loan_to_the_cent():
    """Originated 36 months before as_of, maturing 24 months after it (a 5-year term): the
    claim accrues 60 months of interest from origination and shares the gain from the
    origination value: 100,000 + 100,000 x 5 % x 5 + 40 % x (450,000 e^(0.05 x 2) - 400,000)."""
    plan, st_ = chunk(quiet_fund([LOAN]))
    run = st_.run
    assert plan.book.start == 36 and plan.book.inception == "2022-06"
    value = 450_000 * math.exp(MU * 2)
    claim = 100_000 + 100_000 * 0.05 * 5 + 0.4 * (value - 400_000)
    assert round(claim, 2) == 163_930.77
    assert (run.orig_month[:, 0] == 0).all() and (run.exit_month[:, 0] == 60).all()
    assert (run.exit_type[:, 0] == ExitKind.MATURITY).all()
    np.testing.assert_allclose(run.proceeds[:, 0], claim, rtol=0, atol=0.005)
    fee = plan.cfg.fee_engine.disposition_fee_rate * claim
    np.testing.assert_allclose(run.ledger[:, COL["proceeds"], 60], claim, atol=0.005)
    np.testing.assert_allclose(run.ledger[:, COL["transaction_fees"], 60], fee, atol=0.005)
    # at as_of: the loan at fair value (36 months of interest, 40 % of the 50,000 gain) + cash
    opening = 100_000 + (100_000 + 100_000 * 0.05 * 3 + 0.4 * 50_000)
    np.testing.assert_allclose(run.opening, opening, atol=1e-6)
    assert opening == 235_000
    # nothing before as_of is simulated; the book costs its advance from as_of
    assert not run.ledger[:, COL["nav"], :36].any()
    assert (run.ledger[:, COL["invested_capital"], 36:60] == 100_000).all()


def test_opening_nav_is_the_lp_contribution_without_history():
    plan, st_ = chunk(quiet_fund([LOAN]))
    calls = st_.run.ledger[:, COL["calls"]]
    assert not calls[:, :36].any()
    # month 36: the opening NAV as the LP's position (no cash moves), plus that month's calls
    assert (calls[:, 36] >= 235_000).all()
    assert plan.book.history is False
    r = engine.simulate(quiet_fund([LOAN]), num_simulations=3)
    assert r.data["portfolio"]["opening_nav"] == pytest.approx(235_000, abs=1e-6)
    assert r.data["portfolio"]["since_inception"] is False


def test_defaulted_loan_recovers_after_the_foreclosure_time():
    """In default since 2024-12 (month 30): the claim stops then (30 months of interest, the
    gain to the value at as_of), recovered 12 months after the default, at month 42:
    min(claim, value then x (1 - 10 % costs)) x 90 % (green): 132,500 x 0.9."""
    row = {**LOAN, "status": "defaulted", "default_date": "2024-12-01"}
    plan, st_ = chunk(quiet_fund([row]))
    run = st_.run
    claim = 100_000 + 100_000 * 0.05 * 30 / 12 + 0.4 * 50_000
    value = 450_000 * math.exp(MU * 6 / 12)
    ex = plan.cfg.exit_simulator
    recovery = min(claim, value * (1 - ex.foreclosure_cost)) * plan.cfg.recovery_rates.green
    assert (run.exit_type[:, 0] == ExitKind.DEFAULT).all()
    assert (run.exit_month[:, 0] == 30).all() and (run.receipt_month[:, 0] == 42).all()
    np.testing.assert_allclose(run.proceeds[:, 0], recovery, atol=0.005)
    assert round(recovery, 2) == 119_250.00


def test_defaulted_long_ago_recovers_next_month():
    row = {**LOAN, "status": "defaulted", "default_date": "2023-01-10"}
    _, st_ = chunk(quiet_fund([row]))
    assert (st_.run.receipt_month[:, 0] == 37).all()


def test_loan_past_its_term_matures_next_month_and_min_hold_counts_from_origination():
    old = {**LOAN, "term_years": 2}
    _, st_ = chunk(quiet_fund([old]))
    assert (st_.run.exit_month[:, 0] == 37).all()
    assert (st_.run.exit_type[:, 0] == ExitKind.MATURITY).all()
    # voluntary exits allowed at once (held 3 years > min_hold_period 1)
    cfg = quiet_fund([LOAN])
    cfg["exit_simulator"] = {"base_exit_rate": 2.0}
    _, st_ = chunk(cfg, n=20)
    exits = st_.run.exit_month[:, 0]
    assert exits.min() == 37 and (exits < 48).mean() > 0.5


def test_row_without_current_value_grows_at_the_zone_drift():
    row = {k: v for k, v in LOAN.items() if k != "current_value"}
    plan, _ = chunk(quiet_fund([row]))
    assert plan.book.ratio[0] == pytest.approx(math.exp(MU * 3), rel=1e-15)
    assert plan.book.assumed_values == 1
    assert any("zone's drift" in n for n in plan.book.notes)


def test_history_gives_since_inception_flows():
    history = [{"date": "2022-06", "calls": 150_000}, {"date": "2023-03", "calls": 50_000},
               {"date": "2024-12", "distributions": 20_000}]
    cfg = quiet_fund([LOAN], history=history, distributed_to_date=20_000)
    plan, st_ = chunk(cfg)
    led = st_.run.ledger
    assert plan.book.history is True
    np.testing.assert_array_equal(led[:, COL["calls"], 0], 150_000)
    np.testing.assert_array_equal(led[:, COL["calls"], 9], 50_000)
    np.testing.assert_array_equal(led[:, COL["distributions"], 30], 20_000)
    # the fund's IRR is the IRR of every flow since inception
    npf = pytest.importorskip("numpy_financial")
    flows = led[0, COL["distributions"]] - led[0, COL["calls"]]
    monthly = npf.irr(flows)
    assert st_.metrics.metrics["fund_irr"][0] == pytest.approx((1 + monthly) ** 12 - 1, rel=1e-9)


def test_uncalled_commitments_deploy_new_loans_after_as_of():
    cfg = quiet_fund([LOAN])
    cfg["deployment_period"] = 5
    plan, st_ = chunk(cfg)
    schedule = plan.static[1].schedule
    left = 1_000_000 * (1 - plan.cfg.cash_reserve_rate) - 200_000
    assert not schedule[:36].any() and not schedule[60:].any()
    assert schedule.sum() == pytest.approx(left, rel=1e-12)
    new = st_.run.orig_month[:, 1:]
    assert (new[new >= 0] >= 36).all() and (new >= 0).sum(axis=1).min() >= 2


def test_market_stress_counts_from_as_of():
    cfg = quiet_fund([LOAN])
    cfg["market_stress"] = {"price_shock": {"start_month": 0, "immediate": -0.3, "decline": -0.3,
                                            "decline_months": 0}}
    _, st_ = chunk(cfg)
    np.testing.assert_allclose(st_.paths.overlay[35], 1.0)
    np.testing.assert_allclose(st_.paths.overlay[36], 0.7)


# --------------------------------------------------------------------------- validation


def test_bad_portfolios_name_field_value_and_rule():
    with pytest.raises(ConfigError) as e:
        load_config("100m", {"portfolio": {"loans": [LOAN], "as_of": "2025-13",
                                           "called_to_date": 2e8}})
    text = str(e.value)
    assert "portfolio.as_of: must be a month YYYY-MM, got '2025-13'" in text
    assert "portfolio.called_to_date: must be at most fund_size (100000000), got 200000000" in text
    with pytest.raises(ConfigError, match=r"portfolio.as_of: must be before the fund's end "
                       r"\(inception 2022-06 \+ fund_term 2 y = 2024-06\), got '2025-06'"):
        load_book(load_config(quiet_fund([LOAN]), {"fund_term": 2, "deployment_period": 1}))
    with pytest.raises(ConfigError, match="portfolio.inception: must not be after the tape's "
                       r"earliest origination \(2022-06\), got '2023-01'"):
        load_book(load_config(quiet_fund([LOAN], inception="2023-01")))
    with pytest.raises(ConfigError, match=r"portfolio.called_to_date: must equal the history's "
                       r"total calls \(150,000.00\), got 200000"):
        load_config(quiet_fund([LOAN], history=[{"date": "2022-06", "calls": 150_000}]))
    with pytest.raises(ConfigError, match="tape 'abc' is known only to the server"):
        load_book(load_config(quiet_fund("tape:abc")))


def test_bad_rows_are_all_reported_and_nothing_runs():
    rows = [{**LOAN, "loan_id": "B", "advance": -5},
            {**LOAN, "loan_id": "C", "origination_date": "2026-01-01"},
            {**LOAN, "loan_id": "D", "contract_type": "value_share", "risk_adjustment": 0.1},
            {**LOAN, "loan_id": "E", "lien_position": 2, "senior_balance": 500_000}]
    with pytest.raises(ConfigError) as e:
        engine.make_plan(quiet_fund(rows))
    msgs = [x["msg"] for x in e.value.errors]
    assert "portfolio.loans: row 1, advance: must be a number > 0, got -5" in msgs
    assert any(m.startswith("portfolio.loans: row 2, origination_date: must not be after as_of")
               for m in msgs)
    assert ("portfolio.loans: row 3, risk_adjustment: applies only to contract_type "
            "appreciation_share, got 0.1") in msgs
    assert ("portfolio.loans: row 4, senior_balance: must be below origination_value (400000), "
            "got 500000.0") in msgs
    assert all(x["loc"][:2] == ["portfolio", "loans"] for x in e.value.errors)


# --------------------------------------------------------------------------- suburbs, own terms


def test_concentration_counts_the_tapes_real_suburbs():
    """Two suburbs named on the tape that hash to the same model suburb stay apart, and one
    holding 60 % of the book breaks the 10 % limit at its own share."""
    per_zone = 10
    names = ["Paddington", "Bardon", "Ashgrove", "Toowong", "Kenmore"]
    clash = next(n for n in ("Red Hill", "Wilston", "Clayfield", "Hawthorne", "Yeronga")
                 if suburb_of(n, 0, per_zone) == suburb_of("Paddington", 0, per_zone))
    rows = [{**LOAN, "loan_id": f"P{i}", "suburb": "Paddington"} for i in range(6)]
    rows += [{**LOAN, "loan_id": f"Q{i}", "suburb": n} for i, n in enumerate([clash, *names[1:4]])]
    r = engine.simulate(quiet_fund(rows), num_simulations=3)
    v = next(g for g in r.guardrails if g["rule"] == "suburb_concentration")
    assert v["details"]["actual"] == pytest.approx(0.6, abs=1e-12)


def test_rows_with_their_own_contract():
    """A value_share row (multiple 2) on a fund of interest_plus_share loans: claim 2 x L x V/V0
    at maturity = 2 x 100,000 x 450,000 e^0.1 / 400,000."""
    row = {**LOAN, "contract_type": "value_share", "multiple": 2.0}
    del row["appreciation_share"]
    _, st_ = chunk(quiet_fund([row]))
    claim = 2 * 100_000 * 450_000 * math.exp(MU * 2) / 400_000
    np.testing.assert_allclose(st_.run.proceeds[:, 0], claim, atol=0.005)
    capped = {**row, "cap_rate": 0.1}
    _, st_ = chunk(quiet_fund([capped]))
    np.testing.assert_allclose(st_.run.proceeds[:, 0], 100_000 * (1 + 0.1 / 12) ** 60,
                               atol=0.005)
    assert (st_.run.cap_bound[:, 0] == 1).all()


def test_sample_tape_runs_on_both_kernels():
    cfg = {"fund_size": 250_000_000, "deployment_period": 5,
           "portfolio": {"loans": "examples/loan_tape.csv", "as_of": "2025-06",
                         "called_to_date": 205_000_000, "cash": 3_000_000}}
    cfg = load_config("100m", cfg)
    plan_c, c = chunk(cfg, n=4)
    _, r = chunk(cfg, n=4, kernels="reference")
    assert plan_c.book.n == 487 and plan_c.book.exited == 13
    assert (plan_c.book.terms["tape_ctype"] >= 0).sum() > 0
    assert_ledgers_agree(vars(c.run), vars(r.run))
    np.testing.assert_allclose(c.run.opening, r.run.opening, rtol=1e-12)


# --------------------------------------------------------------------------- any config


@st.composite
def tapes(draw, as_of_month: int) -> list[dict]:
    """1-6 loans originated between inception (2020-01) and as_of, any status and terms."""
    rows = []
    for i in range(draw(st.integers(1, 6))):
        o = draw(st.integers(0, as_of_month))
        L = draw(st.floats(5e4, 5e5))
        row = {"loan_id": f"L{i}", "origination_date": _date(o if i else 0),
               "advance": L, "origination_value": L / draw(st.floats(0.1, 0.9)),
               "zone": draw(st.sampled_from(["green", "orange", "red"]))}
        for name, strat in (("current_value", st.floats(1e5, 3e6)),
                            ("appreciation_share", st.floats(0, 1)),
                            ("interest_rate", st.floats(0, 0.3)),
                            ("term_years", st.integers(1, 30)),
                            ("suburb", st.sampled_from(["A", "B", "C"]))):
            if draw(st.booleans()):
                row[name] = strat
                row[name] = draw(strat)
        status = draw(st.sampled_from(["active", "active", "defaulted", "exited"]))
        row["status"] = status
        if status == "defaulted":
            row["default_date"] = _date(draw(st.integers(o if i else 0, as_of_month)))
        if draw(st.booleans()):
            kind = draw(st.sampled_from(["appreciation_share", "value_share",
                                         "interest_plus_share"]))
            row.update(contract_type=kind, multiple=draw(st.floats(1, 5)),
                       cap_rate=draw(st.one_of(st.none(), st.floats(0, 0.3))))
            if kind == "appreciation_share":
                row["risk_adjustment"] = draw(st.floats(0, 0.3))
            if draw(st.booleans()):
                row.update(lien_position=2,
                           senior_balance=row["origination_value"] * draw(st.floats(0.01, 0.9)))
        rows.append(row)
    return rows


def _date(month: int) -> str:
    return f"{2020 + month // 12}-{month % 12 + 1:02d}-15"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_portfolio_invariants_and_kernels_agree(data, seed):
    cfg = data.draw(fund_configs())
    months = 12 * cfg["fund_term"]
    E = data.draw(st.integers(0, months - 1))
    called = data.draw(st.floats(0, cfg["fund_size"]))
    cfg["portfolio"] = {"loans": data.draw(tapes(E)), "as_of": _date(E)[:7],
                        "inception": "2020-01", "called_to_date": called,
                        "cash": data.draw(st.floats(0, 1e6))}
    cfg["num_simulations"], cfg["monte_carlo_seed"] = 3, seed
    plan, c = chunk(cfg)
    _, r = chunk(cfg, kernels="reference")
    assert_ledgers_agree(vars(c.run), vars(r.run))
    np.testing.assert_allclose(c.run.opening, r.run.opening, rtol=1e-12)
    led, size = c.run.ledger, plan.cfg.fund_size
    col = {name: led[:, i] for name, i in COL.items()}
    book = plan.book
    # nothing is simulated before as_of; cash never negative after it
    assert not col["nav"][:, :E].any() and not col["advances"][:, :E].any()
    assert col["cash"].min() >= -TOL * size
    # money in = money out from as_of, starting from the opening cash (the opening NAV in the
    # calls column is the LP's position, not cash)
    calls = col["calls"].copy()
    calls[:, E] -= c.run.opening
    money_in = calls + col["debt_draws"] + col["proceeds"] + col["fee_income"]
    money_out = (col["advances"] + col["management_fees"] + col["expenses"]
                 + col["transaction_fees"] + col["debt_service"] + col["distributions"])
    left = col["cash"][:, -1] - col["unpaid_fees"][:, -1]
    np.testing.assert_allclose(book.cash + money_in.sum(1) - money_out.sum(1), left,
                               atol=TOL * size + 1e-6 * book.cash)
    # equity calls never exceed commitments (with what was called before as_of)
    assert (book.called + calls.sum(1) <= size * (1 + 1e-12) + TOL * size).all()
    # the tape's loans exit after as_of, by fund end, after their origination
    T = book.n
    rec = c.run.receipt_month[:, :T]
    assert (rec > E).all() and (rec <= months).all()
    assert (c.run.orig_month[:, :T] == book.orig).all()
    # LP + GP = distributed
    wf = c.waterfall
    np.testing.assert_allclose(wf.lp_dist + wf.gp_carry + wf.gp_invest_dist, col["distributions"],
                               atol=TOL * size)


def test_readme_portfolio_run_is_what_it_prints():
    """README's "Simulating the book forward": the printed line and the figures it quotes."""
    from pathlib import Path

    import equihome

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Simulating the book forward", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    line = section.split("```text\n", 1)[1].split("```", 1)[0].strip()
    over = ast.literal_eval(code.split("overrides=", 1)[1].split(")\nprint", 1)[0])
    r = equihome.simulate("100m", num_simulations=1000, seed=42, overrides=over)
    assert 'if line.startswith("book:")' in code and line.startswith("book:")
    assert line in r.summary().splitlines()
    st_ = r.statistics
    text = " ".join(section.split())
    assert (f"Its median LP IRR is {st_['lp_irr']['p50'] * 100:.2f} % (P5 "
            f"{st_['lp_irr']['p5'] * 100:.2f} %, P95 {st_['lp_irr']['p95'] * 100:.2f} %), TVPI "
            f"{st_['lp_tvpi']['p50']:.3f}x") in text


def test_report_and_view_show_the_book(tmp_path):
    """The report has a book section with the opening NAV and the notes, and lists the tape
    as a count of rows, not 487 inline rows; the result view's caption names the book."""
    from equihome.io.result import fmt
    from equihome.ui.result_html import metrics_html

    r = engine.simulate(quiet_fund([LOAN, {**LOAN, "loan_id": "A2"}]), num_simulations=20)
    page = html.unescape(r.report(tmp_path / "book.html").read_text())
    assert "<h2>The fund's own book</h2>" in page
    assert "<dt>opening NAV</dt><dd>$0.37M</dd>" in page  # 100,000 cash + 2 x 135,000
    assert "<td class=l>portfolio.loans</td><td>2 rows</td>" in page
    for note in r.data["portfolio"]["notes"]:
        assert f"<li>{note}</li>" in page
    assert f"opening NAV {fmt(370_000, '$')}" in metrics_html(r.data)


def test_loan_made_in_the_as_of_month_is_at_fair_value():
    """A tape loan originated in the as_of month on a home already worth more is valued at its
    claim (the share of that gain), not at cost: 100,000 + 40 % x 50,000 (no interest yet)."""
    row = {**LOAN, "origination_date": "2025-06-01"}
    _, st_ = chunk(quiet_fund([row], inception="2025-06"))
    np.testing.assert_allclose(st_.run.opening, 100_000 + 120_000, atol=1e-9)
