"""Contracts (DOMAIN.md, "Contracts"): one loan, one exit, every type and term computed by
hand to the cent on both kernel sets; the effective rate against a direct IRR; invariants of
the claim and of a junior lien's recovery; Cython against the reference twin; config errors.

The loan: advance I = 100,000 at LTV 0.5, so V0 = 200,000 and s = multiple x I / V0 =
multiple / 2. Price paths: RISING (+1 % of V0 a month: V(24) = 248,000), FALLING (-0.5 % a
month: V(24) = 176,000, V(36) = 164,000) and DEEP (-2 % a month: V(24) = 104,000).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_kernel_agreement import SMALL_FUND, assert_ledgers_agree, assert_no_poison, run_ledgers

import equihome
from equihome import _core
from equihome.io.config import ConfigError, load_config
from equihome.model import contracts, exit_simulator, loan_generator, reference, reference_contracts
from equihome.model.layout import ExitKind

KERNELS = [pytest.param(_core, id="cython"), pytest.param(reference, id="reference")]
RISING = 1.0 + 0.01 * np.arange(121)
FALLING = 1.0 - 0.005 * np.arange(121)
DEEP = 1.0 - 0.0075 * np.arange(121)  # V(24) = 164,000
CENT = 0.005


def one_loan(contract: dict, levels: np.ndarray, exit_month: int = 24, k=_core, kind: str = "sale",
             loan: dict | None = None, default_mult: float = 0.0) -> dict:
    """One pool loan (advance 100,000, LTV 0.5) whose only hazard, 0.6 a year from month 1,
    is ``kind``; it exits at ``exit_month`` (defaults recover 12 months later)."""
    cfg = load_config("100m", {
        "fund_size": 1_000_000, "fund_term": 10, "loan_term": 10, "deployment_period": 0,
        "reinvestment_period": 0, "contract": contract, **(loan or {}),
        "fee_engine": {"management_fee_rate": 0, "annual_fund_expenses": 0,
                       "fixed_annual_expenses": 0, "setup_costs": 0},
        "exit_simulator": {"foreclosure_time": 12}, "price_path": {"property_variation": 0.0}})
    params, tables = exit_simulator.static_inputs(cfg)
    tables.default_rate = np.array([0.6 if kind == "default" else 0.0] * 3)
    tables.recovery = np.array([0.8, 0.8, 0.8])
    p = dict(params, sale_hazard=0.6 if kind == "sale" else 0.0,
             refi_hazard=0.6 if kind == "refi" else 0.0, sale_mult=0.0, refi_mult=0.0,
             default_mult=default_mult, min_hold_months=0, loan_rate=0.05, foreclosure_cost=0.10,
             liquidation_discount=0.05)
    N = 121
    pool = loan_generator.LoanPool(
        size=np.array([[100_000.0]]), ltv=np.array([[0.5]]), zone=np.zeros((1, 1), np.intc),
        suburb=np.zeros((1, 1), np.intc), e_exit=np.array([[exit_month * 0.6 / 12 - 1e-9]]),
        u_cause=np.array([[0.5]]), z_home=np.zeros((1, 1, 2)))
    out = exit_simulator.LedgerRun.empty(1, 1, 0, N, levered=False)
    k.run_ledger(p, exit_simulator.LedgerInputs.build(tables, pool, levels.reshape(1, N, 1)), out)
    return {"exit": int(out.exit_month[0, 0]), "receipt": int(out.receipt_month[0, 0]),
            "kind": int(out.exit_type[0, 0]), "proceeds": float(out.proceeds[0, 0]),
            "cap_bound": int(out.cap_bound[0, 0])}


def cents(x: float, want: float) -> bool:
    return abs(x - want) < CENT


APPRECIATION = {"type": "appreciation_share", "multiple": 2.0, "risk_adjustment": 0.1}


@pytest.mark.parametrize("k", KERNELS)
def test_appreciation_share_with_risk_adjustment(k):
    # 100,000 + 1.0 x (248,000 - 0.9 x 200,000) = 168,000
    out = one_loan(APPRECIATION, RISING, k=k)
    assert (out["kind"], out["exit"]) == (ExitKind.SALE, 24) and cents(out["proceeds"], 168_000)
    # multiple 2.5: s = 1.25 -> 100,000 + 1.25 x 68,000 = 185,000
    assert cents(one_loan({**APPRECIATION, "multiple": 2.5}, RISING, k=k)["proceeds"], 185_000)
    # no risk adjustment: 100,000 + 1.0 x 48,000
    assert cents(one_loan({**APPRECIATION, "risk_adjustment": 0.0}, RISING, k=k)["proceeds"],
                 148_000)


@pytest.mark.parametrize("k", KERNELS)
def test_appreciation_share_two_sided_loss(k):
    # V = 176,000 below the adjusted start 180,000: 100,000 - 1.0 x 4,000 = 96,000
    assert cents(one_loan(APPRECIATION, FALLING, k=k)["proceeds"], 96_000)
    # down multiple 1: s' = 0.5 -> 100,000 - 0.5 x 4,000
    assert cents(one_loan({**APPRECIATION, "down_multiple": 1.0}, FALLING, k=k)["proceeds"], 98_000)
    # V = 164,000: 100,000 - 1.0 x 16,000 = 84,000; a refinance pays the same claim
    out = one_loan(APPRECIATION, DEEP, k=k, kind="refi")
    assert out["kind"] == ExitKind.REFI and cents(out["proceeds"], 84_000)


@pytest.mark.parametrize("k", KERNELS)
def test_cap_binding_and_not(k):
    # cap 18 %: 100,000 x (1 + 0.18/12)^24 = 142,950.28 < 168,000: the cap sets the claim
    out = one_loan({**APPRECIATION, "cap_rate": 0.18}, RISING, k=k)
    assert cents(out["proceeds"], 142_950.28) and out["cap_bound"] == 1
    # cap 30 %: 100,000 x 1.025^24 = 180,872.59 > 168,000: the formula stands
    out = one_loan({**APPRECIATION, "cap_rate": 0.30}, RISING, k=k)
    assert cents(out["proceeds"], 168_000) and out["cap_bound"] == 0
    # today's contract with a monthly cap of 10 %: min(134,000, 122,039.10)
    out = one_loan({"cap_rate": 0.10}, RISING, k=k)
    assert cents(out["proceeds"], 122_039.10) and out["cap_bound"] == 1
    out = one_loan({}, RISING, k=k)
    assert cents(out["proceeds"], 134_000) and out["cap_bound"] == 0


@pytest.mark.parametrize("k", KERNELS)
def test_value_share_floor_tiers_and_asymmetry(k):
    vs = {"type": "value_share", "multiple": 1.6}
    # s = 0.8: 0.8 x 248,000 = 198,400; and 0.8 x 164,000 = 131,200
    assert cents(one_loan(vs, RISING, k=k)["proceeds"], 198_400)
    assert cents(one_loan(vs, DEEP, k=k)["proceeds"], 131_200)
    # floor 0.9 x I does not bind at 131,200; at 0.8 x 104,000 (V(24) at -2 % a month) = 83,200 it does
    crash = 1.0 - 0.02 * np.arange(121)
    assert cents(one_loan(vs, crash, k=k)["proceeds"], 83_200)
    assert cents(one_loan({**vs, "floor": 0.9}, crash, k=k)["proceeds"], 90_000)
    assert cents(one_loan({**vs, "floor": 0.9}, DEEP, k=k)["proceeds"], 131_200)
    # multiples by exit year: age 12-23 months -> 1.5, 24-35 -> 1.78
    tiers = {**vs, "multiple_by_exit_year": [1.5, 1.5, 1.78, 2.0]}
    assert cents(one_loan(tiers, RISING, exit_month=12, k=k)["proceeds"], 0.75 * 224_000)
    assert cents(one_loan(tiers, RISING, exit_month=24, k=k)["proceeds"], 0.89 * 248_000)
    assert cents(one_loan(tiers, RISING, exit_month=48, k=k)["proceeds"], 1.0 * 296_000)
    # asymmetric: 1.6 x 100,000 + 0.4 x (176,000 - 200,000) = 150,400 (symmetric: 140,800)
    assert cents(one_loan({**vs, "down_multiple": 0.8}, FALLING, k=k)["proceeds"], 150_400)
    assert cents(one_loan(vs, FALLING, k=k)["proceeds"], 140_800)
    # ... and on the way up the down multiple plays no part: 0.8 x 248,000
    assert cents(one_loan({**vs, "down_multiple": 0.8}, RISING, k=k)["proceeds"], 198_400)
    # never above V: multiple 5 on a falling home -> 2.5 x 176,000 capped at 176,000
    assert cents(one_loan({**vs, "multiple": 5.0}, FALLING, k=k)["proceeds"], 176_000)


SENIOR = {"lien_position": 2, "senior_balance_ratio": 0.4, "senior_rate": 0.06,
          "senior_term_years": 30}


def senior_balance(b0: float, rate: float, years: int, months: int) -> float:
    """A level-payment mortgage's balance after ``months`` payments, month by month."""
    i, n = rate / 12.0, 12 * years
    pay = b0 * i / (1.0 - (1.0 + i) ** -n)
    for _ in range(months):
        b0 = b0 * (1.0 + i) - pay
    return b0


@pytest.mark.parametrize("k", KERNELS)
def test_junior_lien_recovers_what_the_senior_leaves(k):
    contract = {**APPRECIATION, "risk_adjustment": 0.0}
    # default at 24: claim 100,000 - 24,000 = 76,000; recovered at 36 from 164,000 x 0.9
    first = one_loan(contract, FALLING, k=k, kind="default")
    assert (first["kind"], first["receipt"]) == (ExitKind.DEFAULT, 36)
    assert cents(first["proceeds"], 76_000 * 0.8)
    # behind a senior of 80,000 amortised 36 months: 147,600 - 76,867.26 = 70,732.74 left
    assert math.isclose(senior_balance(80_000, 0.06, 30, 36), 76_867.256, abs_tol=1e-3)
    junior = one_loan({**contract, **SENIOR}, FALLING, k=k, kind="default")
    assert cents(junior["proceeds"], 70_732.74 * 0.8)  # 56,586.20
    assert junior["proceeds"] <= (147_600 - senior_balance(80_000, 0.06, 30, 36)) * 0.8 + 1e-9
    # the senior takes everything: recovery 0
    wiped = one_loan({**contract, **SENIOR, "senior_balance_ratio": 0.9}, FALLING, k=k,
                     kind="default")
    assert wiped["proceeds"] == 0.0
    # a sale is not netted of the senior (the homeowner pays both off): the claim
    assert cents(one_loan({**contract, **SENIOR}, FALLING, k=k)["proceeds"], 76_000)


@pytest.mark.parametrize("k", KERNELS)
def test_combined_ltv_drives_a_junior_liens_defaults(k):
    """Default hazard 0.6 x (1 + 2 x stress), the exit when its sum reaches 14.4: a first lien's
    stress is the price fall (1 - V/V0); a junior's is 1 - CLTV0 / CLTV, CLTV = (senior + claim)
    / V, CLTV0 = 0.4 + 0.5: today's contract (interest accrues, nothing shared) on FALLING."""
    first = one_loan({}, FALLING, k=k, kind="default", default_mult=2.0)
    H, tau = 0.0, 0
    while H < 14.4 - 12e-9:
        tau += 1
        H += 0.6 * (1 + 2 * 0.005 * tau)
    assert tau == 22 and first["exit"] == 22
    junior = one_loan({"lien_position": 2, "senior_balance_ratio": 0.4}, FALLING, k=k,
                      kind="default", default_mult=2.0)
    H, tau = 0.0, 0
    while H < 14.4 - 12e-9:
        tau += 1
        V, claim = 200_000 * (1 - 0.005 * tau), 100_000 * (1 + 0.05 * tau / 12)
        cltv = (senior_balance(80_000, 0.06, 30, tau) + claim) / V
        H += 0.6 * (1 + 2 * max(1 - 0.9 / cltv, 0.0))
    assert tau == 21 and (junior["exit"], junior["receipt"]) == (21, 33)
    # recovery at 33: min(108,750, 167,000 x 0.9 - senior then) x 0.8
    want = min(108_750, 150_300 - senior_balance(80_000, 0.06, 30, 33)) * 0.8
    assert cents(junior["proceeds"], want)


def test_senior_factor_is_the_amortisation_schedule():
    cfg = load_config("100m", {"contract": SENIOR, "fund_term": 30})
    f = contracts.senior_factor(cfg)
    for age in (0, 1, 36, 120, 359):
        assert math.isclose(200_000 * f[age], senior_balance(80_000, 0.06, 30, age), rel_tol=1e-9)
    assert f[360] == 0.0
    flat = contracts.senior_factor(load_config("100m", {"contract": {**SENIOR, "senior_rate": 0.0,
                                                                      "senior_term_years": 10}}))
    assert math.isclose(flat[60], 0.2) and flat[120] == 0.0


@pytest.mark.parametrize("k", KERNELS)
def test_buyout_and_loss_sharing_windows(k):
    # refinance (buyout) only from year 3: the 0.6 hazard accrues from month 36, so the 24
    # months of hazard end at month 59: V = 318,000 -> 100,000 + 1.0 x (318,000 - 180,000)
    out = one_loan({**APPRECIATION, "buyout_after_years": 3.0}, RISING, k=k, kind="refi")
    assert (out["kind"], out["exit"]) == (ExitKind.REFI, 59)
    assert cents(out["proceeds"], 238_000)
    # a sale is not a buyout: still at 24
    assert one_loan({**APPRECIATION, "buyout_after_years": 3.0}, RISING, k=k)["exit"] == 24
    # no loss sharing before year 5: 96,000 becomes 100,000; at 72 months the loss is shared
    window = {**APPRECIATION, "loss_share_after_years": 5.0}
    assert cents(one_loan(window, FALLING, k=k)["proceeds"], 100_000)
    # month 72: V = 200,000 x 0.64 = 128,000 -> 100,000 - 52,000
    assert cents(one_loan(window, FALLING, exit_month=72, k=k)["proceeds"], 48_000)


@pytest.mark.parametrize("term", [10, 30])
def test_terms_of_10_and_30_years(term):
    """A loan term of 10 or 30 years in a 30-year fund: maturity at the term, the balloon
    is the claim then (value share 1.6x, cap 19.9 %: the cap binds only early)."""
    out = one_loan({"type": "value_share", "multiple": 1.6, "cap_rate": 0.199},
                   np.ones(121), exit_month=200, kind="none", loan={"loan_term": term})
    if term == 10:
        assert (out["kind"], out["exit"]) == (ExitKind.MATURITY, 120)
        assert cents(out["proceeds"], 160_000) and out["cap_bound"] == 0
    else:
        assert (out["kind"], out["exit"]) == (ExitKind.LIQUIDATION, 120)  # fund ends first
        assert cents(out["proceeds"], 160_000 * 0.95)
    early = one_loan({"type": "value_share", "multiple": 1.6, "cap_rate": 0.199}, np.ones(121),
                     exit_month=12, loan={"loan_term": term})
    assert cents(early["proceeds"], 100_000 * (1 + 0.199 / 12) ** 12) and early["cap_bound"] == 1


def test_effective_rate_against_a_direct_irr():
    """168,000 paid 24 months after a 100,000 advance: (1.68)^(1/2) - 1 = 29.6148 % a year."""
    rate = contracts.effective_rates(np.array([[100_000.0, 50_000.0]]), np.array([[0, 3]]),
                                     np.array([[24, 10]]), np.array([[ExitKind.SALE,
                                                                      ExitKind.DEFAULT]]),
                                     np.array([[168_000.0, 40_000.0]]))
    flows = np.zeros(25)
    flows[0], flows[24] = -100_000.0, 168_000.0
    r_m, flag = np.empty(1), np.empty(1, dtype=np.int8)
    _core.irr_batch(flows[None, :], 12.0, r_m, flag)
    assert math.isclose(rate[0, 0], (1 + r_m[0]) ** 12 - 1, rel_tol=1e-10)
    assert round(rate[0, 0] * 100, 4) == 29.6148 and math.isnan(rate[0, 1])
    m = contracts.scenario_metrics(np.array([[100_000.0, 50_000.0]]), np.array([[0, 3]]),
                                   np.array([[24, 10]]), np.array([[1, 3]]),
                                   np.array([[168_000.0, 40_000.0]]), np.array([[0, 1]]))
    assert math.isclose(m["effective_rate"][0], rate[0, 0]) and m["cap_binding_share"][0] == 0.5


# --------------------------------------------------------------------------- invariants


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from([0, 1, 2]), mult=st.floats(1, 5), down=st.floats(0, 5),
       ra=st.floats(0, 0.3), floor=st.floats(0, 1), cap=st.sampled_from([0, 1]),
       ratio=st.floats(0.01, 5), tau=st.integers(0, 120), ltv=st.floats(0.05, 0.9),
       senior=st.floats(0, 0.9), value=st.floats(0, 1e6))
def test_claim_never_above_value_and_junior_recovery_within_what_is_left(
        kind, mult, down, ra, floor, cap, ratio, tau, ltv, senior, value):
    N = 121
    p = {"contract_type": kind, "risk_adj": ra, "claim_floor": floor, "loss_share_months": 0,
         "has_cap": cap, "share_method": 0, "n_tiers": 0, "share_depreciation": 1}
    tab = type("T", (), {"mult_up": np.full(N, mult), "mult_down": np.full(N, down),
                         "cap_factor": 1.015 ** np.arange(N), "tier_thr": np.array([np.inf]),
                         "tier_share": np.array([0.4]),
                         "senior_factor": senior * np.linspace(1, 0.5, N)})
    L, V0 = 100_000.0, 100_000.0 / ltv
    lt = SimpleNamespace(ctype=kind, risk_adj=ra, own=0, accrual=L * 0.05 / 12,
                         share_v0=ltv * V0, tiered=False, junior=1)
    claim = float(reference.claim_value(p, tab, lt, L, V0, np.array(ratio), tau))
    assert 0.0 <= claim <= V0 * ratio * (1 + 1e-15)
    if cap:
        assert claim <= L * tab.cap_factor[tau] * (1 + 1e-15) or claim <= floor * L * (1 + 1e-15)
    left = float(reference_contracts.net_of_senior(tab, lt, V0, value, tau))
    assert 0.0 <= left <= value and left <= max(value - V0 * tab.senior_factor[tau], 0.0) + 1e-9


# --------------------------------------------------------------------------- Cython vs reference

CONTRACT_VARIANTS = {
    "appreciation_capped_junior": {
        "contract": {"type": "appreciation_share", "multiple": 3.3, "risk_adjustment": 0.17,
                     "cap_rate": 0.18, "lien_position": 2, "junior_lien_share": 0.8,
                     "senior_balance_ratio": 0.35, "buyout_after_years": 3.0,
                     "loss_share_after_years": 5.0}},
    "value_tiered_asymmetric_floor": {
        "contract": {"type": "value_share", "multiple_by_exit_year": [1.5, 1.78, 2.0],
                     "down_multiple": 1.2, "floor": 0.5, "cap_rate": 0.2, "lien_position": 3,
                     "senior_balance_ratio": 0.3}},
    "interest_plus_share_terms": {
        "share_depreciation": True, "annual_return_cap": 0.12,
        "contract": {"cap_rate": 0.1, "floor": 0.8, "loss_share_after_years": 2.0,
                     "lien_position": 2, "senior_balance_ratio": 0.5}},
}


@pytest.mark.parametrize("seed", [21, 22])
@pytest.mark.parametrize("variant", sorted(CONTRACT_VARIANTS))
def test_contract_ledgers_agree(variant, seed):
    overrides = {**SMALL_FUND, **CONTRACT_VARIANTS[variant],
                 "default_rates": {"green": 0.1, "orange": 0.15, "red": 0.2},
                 "appreciation_rates": {"green": 0.04, "orange": -0.05, "red": -0.1}}
    _, _, c, r = run_ledgers(overrides, seed)
    for out in (c, r):
        assert_no_poison(*out.values())
    assert_ledgers_agree(c, r)
    np.testing.assert_array_equal(c["cap_bound"], r["cap_bound"])
    made = c["orig_month"] >= 0
    assert 0 < c["cap_bound"][made].sum() < made.sum(), "the cap should bind for some loans only"
    assert np.any(c["exit_type"] == ExitKind.DEFAULT)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(("contract", "loc", "words"), [
    ({"multiple": 7}, "contract.multiple", "must be between 1 and 5, got 7"),
    ({"risk_adjustment": 0.1}, "contract.risk_adjustment",
     "applies only to type appreciation_share (type is interest_plus_share), got 0.1"),
    ({"type": "value_share", "risk_adjustment": 0.2}, "contract.risk_adjustment", "got 0.2"),
    ({"lien_position": 2}, "contract.senior_balance_ratio",
     "must be greater than 0 for a junior lien (lien_position 2), got 0.0"),
    ({"senior_balance_ratio": 0.3}, "contract.senior_balance_ratio",
     "must be 0 for a first lien (lien_position 1), got 0.3"),
    ({"down_multiple": 1.0}, "contract.down_multiple", "applies only to appreciation_share"),
    ({"cap_rate": 0.5}, "contract.cap_rate", "must be between 0 and 0.3, got 0.5"),
    ({"kind": "x"}, "contract.kind", "unknown field"),
    ({"type": "shared"}, "contract.type", "must be one of"),
])
def test_bad_contracts_name_field_value_and_rule(contract, loc, words):
    with pytest.raises(ConfigError) as err:
        load_config("100m", {"contract": contract})
    assert any(e["msg"].startswith(f"{loc}: ") and words in e["msg"] for e in err.value.errors), \
        err.value.errors


def test_presets_and_the_default_contract():
    assert load_config("100m").contract.type == "interest_plus_share"
    assert "contract" not in load_config("100m").to_dict()
    assert "contract" in load_config("100m", {"contract": {}}).to_dict()
    a, v = load_config("appreciation_share_30y"), load_config("value_share_10y")
    assert (a.contract.multiple, a.contract.risk_adjustment, a.contract.cap_rate, a.loan_term,
            a.contract.junior_lien_share) == (3.3, 0.17, 0.18, 30, 0.8)
    assert (v.contract.multiple, v.contract.risk_adjustment, v.contract.cap_rate,
            v.loan_term) == (1.6, 0.0, 0.199, 10)
    for name in ("appreciation_share_30y", "value_share_10y"):
        assert "DBRS" in contracts_notes(name)


def contracts_notes(name: str) -> str:
    from equihome.io.contract import PRESET_DESCRIPTIONS
    return PRESET_DESCRIPTIONS[name]


def test_result_reports_the_contract_and_its_guardrails():
    r = equihome.simulate("value_share_10y", num_simulations=40, seed=3,
                          overrides={"guardrails": {"combined_ltv": 0.5}})
    c = r.data["contract"]
    assert c["type"] == "value_share" and "multiple 1.6" in c["summary"]
    assert 0 < c["statistics"]["cap_binding_share"]["p50"] < 1
    assert 0.05 < c["statistics"]["effective_rate"]["p50"] < (1 + 0.199 / 12) ** 12 - 1
    rules = {g["rule"]: g for g in r.guardrails}
    assert rules["combined_ltv"]["severity"] == "error"
    assert rules["combined_ltv"]["details"]["actual"] > 0.5
    assert rules["cap_binding_share"]["severity"] == "info"
    assert "effective_rate" in r.scenarios and "contract" in r.data["config"]
    plain = equihome.simulate("100m", num_simulations=8, seed=3)
    assert "contract" not in plain.data and "effective_rate" not in plain.scenarios
    text = repr(equihome.compare([plain, r], ["100m", "value_share_10y"]))
    assert "Effective rate median" in text and "value_share" in text
    from equihome.ui.result_html import metrics_html
    view = metrics_html(r.data)
    assert "contract value_share: multiple 1.6" in view and "eq-effective_rate-p50" in view
    assert "contract" not in metrics_html(plain.data)
    assert "contract: value_share" in r.summary()


def test_readme_compare_table_is_what_compare_prints():
    """README's Contracts section shows rows of compare() for 100m and the two presets."""
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## Contracts", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    names = ["100m", "appreciation_share_30y", "value_share_10y"]
    runs = [equihome.simulate(n, num_simulations=1000, seed=42, overrides={"contract": {}})
            for n in names]
    table = repr(equihome.compare(runs, names)).splitlines()
    rows = block.strip("\n").splitlines()
    assert len(rows) == 7 and all(row in table for row in rows), rows
