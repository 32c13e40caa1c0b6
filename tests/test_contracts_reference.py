"""The engine against the independent reference model (``tests/fund_model.py`` with
``tests/fund_contracts.py``) on funds holding the market's contracts: random funds from the
whole configuration space, each with a random contract (type, multiples and their tables, risk
adjustment, caps, floor, windows, junior liens behind an amortising senior). Everything
``test_reference_model.compare`` checks must agree to 1e-9, and so must the per-scenario
effective rate and cap-binding share; deterministic contract funds to 1e-12.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reference_model import (
    DETERMINISTIC,
    SETTINGS,
    ZONES,
    close,
    compare_scenario,
    fund_configs,
    merged,
)

from equihome.run import engine

CONTRACT_RATIOS = ("effective_rate", "cap_binding_share")


@st.composite
def contracts(draw) -> dict:
    """A valid random contract."""
    kind = draw(st.sampled_from(["interest_plus_share", "appreciation_share", "value_share"]))
    shares = kind != "interest_plus_share"
    lien = draw(st.sampled_from([1, 2, 3]))
    out = {
        "type": kind, "multiple": draw(st.floats(1, 5)),
        "cap_rate": draw(st.one_of(st.none(), st.floats(0, 0.3))),
        "floor": draw(st.one_of(st.just(0.0), st.floats(0, 1))),
        "buyout_after_years": draw(st.one_of(st.just(0.0), st.floats(0, 10))),
        "loss_share_after_years": draw(st.one_of(st.just(0.0), st.floats(0, 10))),
        "lien_position": lien,
        "senior_balance_ratio": draw(st.floats(0.01, 0.9)) if lien > 1 else 0.0,
        "junior_lien_share": draw(st.floats(0, 1)), "senior_rate": draw(st.floats(0, 0.3)),
        "senior_term_years": draw(st.integers(1, 40)),
    }
    if kind == "appreciation_share":
        out["risk_adjustment"] = draw(st.floats(0, 0.3))
    if shares:
        out["multiple_by_exit_year"] = draw(st.lists(st.floats(1, 5), max_size=6))
        out["down_multiple"] = draw(st.one_of(st.none(), st.floats(0, 5)))
    return out


def compare_contracts(cfg: dict, seed: int, kernels: str = "cython", rtol: float = 1e-9) -> list:
    """Three scenarios through the engine and the model: every metric, ledger row and loan."""
    plan = engine.make_plan(cfg, num_simulations=3, seed=seed, kernels=kernels)
    stt = engine.compute_chunk(plan, 0, 3)
    outs = []
    for s in range(3):
        out = compare_scenario(plan, stt, s, rtol)
        for loan in out["loans"]:
            assert loan["cap_bound"] == stt.run.cap_bound[s, loan["k"]], f"loan {loan['k']}"
        for name in CONTRACT_RATIOS:
            got, want = out["metrics"][name], float(stt.metrics.contract[name][s])
            assert close(got, want, rtol, rtol), f"scenario {s} {name}: model {got}, engine {want}"
        outs.append(out)
    return outs


@settings(max_examples=100, **SETTINGS)
@given(cfg=fund_configs(max_term=12), contract=contracts(), seed=st.integers(0, 2**32))
def test_engine_matches_reference_model_on_contracts(cfg, contract, seed):
    compare_contracts(cfg | {"contract": contract}, seed)


@settings(max_examples=10, **SETTINGS)
@given(cfg=fund_configs(max_term=5), contract=contracts(), seed=st.integers(0, 2**32))
def test_reference_kernels_match_reference_model_on_contracts(cfg, contract, seed):
    compare_contracts(cfg | {"contract": contract}, seed, kernels="reference")


DEFAULTS = {"default_rates": {z: 0.3 for z in ZONES},
            "exit_simulator": {"base_exit_rate": 0.2, "min_hold_period": 0.5},
            "appreciation_rates": {"green": 0.08, "orange": -0.1, "red": -0.2},
            "zone_allocations": {"green": 0.4, "orange": 0.4, "red": 0.2}}
CASES = {
    "appreciation_capped_junior": {
        "loan_term": 30, "fund_term": 8, **DEFAULTS,
        "contract": {"type": "appreciation_share", "multiple": 3.3, "risk_adjustment": 0.17,
                     "cap_rate": 0.18, "lien_position": 2, "junior_lien_share": 0.8,
                     "senior_balance_ratio": 0.45, "loss_share_after_years": 5.0,
                     "buyout_after_years": 3.0}},
    "value_tiered_asymmetric_floor": {
        **DEFAULTS,
        "contract": {"type": "value_share", "multiple_by_exit_year": [1.5, 1.5, 1.78, 2.0],
                     "down_multiple": 1.0, "cap_rate": 0.199, "floor": 0.6,
                     "lien_position": 3, "senior_balance_ratio": 0.5, "senior_rate": 0.0}},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_contract_funds_agree(case):
    """Price moves and defaults that exercise each term; engine and model within 1e-10."""
    cfg = merged(DETERMINISTIC, CASES[case]) | {
        "price_path": {"volatility": {z: 0.1 for z in ZONES}, "suburb_variation": 0.02,
                       "property_variation": 0.05}}
    outs = compare_contracts(cfg, seed=5, rtol=1e-10)
    loans = [ln for o in outs for ln in o["loans"]]
    assert any(ln["cap_bound"] for ln in loans) and not all(ln["cap_bound"] for ln in loans)
    assert any(ln["kind"] == 3 and ln["junior"] for ln in loans), "no junior default"
    assert all(math.isfinite(o["metrics"]["effective_rate"]) for o in outs)
