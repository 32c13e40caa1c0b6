"""Stress, tornado and breakeven (ANALYSES.md): the overlay and hazard multipliers inside the
kernels, common random numbers, direction and size, ranking, the root finder, events."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import equihome
from equihome.io.config import ConfigError, load_config
from equihome.io.stress import LIBRARY, PriceShock
from equihome.model import exit_simulator, loan_generator, price_path_simulator
from equihome.model.kernels import get_kernels
from equihome.model.layout import ExitKind
from equihome.model.price_path_simulator import overlay, shock_curve
from equihome.run.analyses import NoRoot, breakeven, stress, tornado
from equihome.run.variants import paired_se, statistic, unpaired_se

N = 200  # scenarios per variant: enough for the directions below, fast enough to run often
SEED = 11
ZERO_STRESS = {"name": "zero", "price_shock": {"start_month": 12, "immediate": 0.0,
                                               "decline": 0.0, "decline_months": 24},
               "hazard_multipliers": {"start_month": 12, "months": 24}}


# --------------------------------------------------------------------------- the overlay


def test_overlay_month_by_month_against_hand_values():
    """start 12, -10 % at once, -30 % trough after 10 months, back to 1 over 20 months."""
    shock = PriceShock(start_month=12, immediate=-0.10, decline=-0.30, decline_months=10,
                       recovery_months=20)
    s = shock_curve(shock, 60, 1.0)
    expected = {0: 1.0, 11: 1.0, 12: 0.9, 13: 0.88, 17: 0.8, 21: 0.72, 22: 0.7,
                23: 0.715, 32: 0.85, 41: 0.985, 42: 1.0, 60: 1.0}
    for m, v in expected.items():
        assert s[m] == pytest.approx(v, abs=1e-12), m
    hard = shock_curve(shock, 60, 1.3)  # zone severity scales the shock, not the timing
    assert hard[12] == pytest.approx(0.87) and hard[22] == pytest.approx(0.61)
    assert hard[32] == pytest.approx(0.61 + 0.39 * 0.5) and hard[42] == 1.0


def test_overlay_haircut_and_no_recovery():
    haircut = LIBRARY["haircut_10"].price_shock
    assert haircut is not None
    s = shock_curve(haircut, 120, 1.0)
    assert np.all(s[:12] == 1.0) and np.allclose(s[12:], 0.9, atol=1e-15)
    mvd = LIBRARY["mvd_45"].price_shock
    assert mvd is not None
    red = shock_curve(mvd, 120, mvd.zone_severity.red)
    assert red[12] == 1.0 and red[30] == pytest.approx(1 - 0.45 * 1.3 * 18 / 36)
    assert np.allclose(red[48:], 1 - 0.45 * 1.3, atol=1e-12)  # stays at the trough


def test_engine_levels_carry_the_overlay_exactly():
    """The stressed suburb levels are the base levels times S(m) of their zone."""
    stressed = load_config("100m", {"market_stress": {"price_shock": {
        "start_month": 6, "immediate": -0.05, "decline": -0.2, "decline_months": 12,
        "recovery_months": 30, "zone_severity": {"green": 0.5, "red": 2.0}}}})
    base = load_config("100m")
    for name in ("cython", "reference"):
        k = get_kernels(name)
        b = price_path_simulator.simulate(base, 3, 0, 4, k)
        s = price_path_simulator.simulate(stressed, 3, 0, 4, k)
        S = overlay(stressed)
        zone_of = price_path_simulator.zone_of_suburb(base)
        np.testing.assert_allclose(s.levels / b.levels, np.broadcast_to(
            S[:, zone_of], b.levels.shape), rtol=1e-13)
        assert np.array_equal(s.zone_log, b.zone_log)
    assert S[18, 0] == pytest.approx(1 - 0.2 * 0.5) and S[18, 2] == pytest.approx(1 - 0.2 * 2)


def test_impossible_shocks_are_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"market_stress.price_shock.*decline"):
        load_config("100m", {"market_stress": {"price_shock": {
            "decline": -0.6, "zone_severity": {"red": 2.0}}}})
    with pytest.raises(ConfigError, match=r"market_stress.hazard_multipliers.default"):
        load_config("100m", {"market_stress": {"hazard_multipliers": {"default": -1}}})


# --------------------------------------------------------------------------- hazard multipliers


def default_hazards(window: dict | None, scenarios: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Monthly (defaults, loans at risk) of a flat-price fund where only defaults happen."""
    over = {"fund_term": 6, "loan_term": 6, "deployment_period": 1, "reinvestment_period": 0,
            "appreciation_rates": {"green": 0.0, "orange": 0.0, "red": 0.0},
            "default_rates": {"green": 0.1, "orange": 0.1, "red": 0.1},
            "price_path": {"volatility": {"green": 0.0, "orange": 0.0, "red": 0.0},
                           "suburb_variation": 0.0, "property_variation": 0.0},
            "exit_simulator": {"base_exit_rate": 0.0, "min_hold_period": 0.0}}
    if window is not None:
        over["market_stress"] = {"hazard_multipliers": window}
    cfg = load_config("100m", over)
    k = get_kernels("cython")
    params, tables = exit_simulator.static_inputs(cfg)
    pool = loan_generator.generate(cfg, 9, 0, scenarios, 1, k)
    paths = price_path_simulator.simulate(cfg, 9, 0, scenarios, k)
    out = exit_simulator.LedgerRun.empty(*pool.size.shape, 0, cfg.months + 1,
                                         levered=False)
    k.run_ledger(params, exit_simulator.LedgerInputs.build(tables, pool, paths.levels), out)
    made = out.orig_month >= 0
    o, e, kind = out.orig_month[made], out.exit_month[made], out.exit_type[made]
    months = np.arange(cfg.months + 1)
    at_risk = ((o[:, None] < months) & (months <= e[:, None])).sum(axis=0)
    events = np.bincount(e[kind == ExitKind.DEFAULT], minlength=cfg.months + 1)
    return events, at_risk


def test_hazard_multipliers_scale_defaults_in_their_window_only():
    """Default rate 10 %/yr: the monthly default probability is 1 - exp(-0.1/12) outside the
    window and 1 - exp(-0.3/12) inside it (x3), within 5 binomial standard errors."""
    events, at_risk = default_hazards({"start_month": 24, "months": 24, "default": 3.0})
    inside = np.arange(24, 48)
    outside = np.r_[np.arange(13, 24), np.arange(48, 72)]
    for months, h in ((inside, 0.3), (outside, 0.1)):
        p = 1 - math.exp(-h / 12)
        n, k = at_risk[months].sum(), events[months].sum()
        assert abs(k / n - p) < 5 * math.sqrt(p * (1 - p) / n), (h, k / n, p)
    base_events, base_risk = default_hazards(None)
    assert np.array_equal(base_events[:24], events[:24]) and np.array_equal(base_risk[:25],
                                                                              at_risk[:25])


# --------------------------------------------------------------------------- common random numbers


@pytest.fixture(scope="module")
def library_run():
    """The whole built-in library plus a zero stress, once for the module."""
    return stress("100m", [*LIBRARY, ZERO_STRESS], num_simulations=N, seed=SEED)


def test_zero_stress_gives_byte_identical_rows(library_run):
    base, zero = library_run.results[0], library_run.results[-1]
    for name, values in base.scenarios.items():
        assert np.array_equal(values, zero.scenarios[name], equal_nan=True), name
    strip = ("config",)
    assert json.dumps({k: v for k, v in base.data.items() if k not in strip}) == json.dumps(
        {k: v for k, v in zero.data.items() if k not in strip})
    b_row, z_row = library_run.rows[0], library_run.rows[-1]
    assert {**b_row, "scenario": "zero"} == z_row and z_row["change_se"] == 0.0


def test_deeper_declines_lower_the_median_lp_irr(library_run):
    row = {r["scenario"]: r for r in library_run.rows}
    irr = [row[s]["irr_p50"] for s in ("base", "mvd_20", "mvd_31", "mvd_45")]
    assert all(a > b for a, b in zip(irr, irr[1:], strict=False)), irr
    assert row["mvd_45"]["change"] < -0.02 and row["mvd_45"]["change_se"] < 0.005
    assert row["mvd_45_frozen"]["default_share"] > row["mvd_45"]["default_share"] > row[
        "base"]["default_share"]
    assert row["haircut_10"]["irr_p50"] < row["base"]["irr_p50"]
    assert row["rates_up"]["default_share"] > row["base"]["default_share"]
    assert [r["scenario"] for r in library_run.rows] == ["base", *LIBRARY, "zero"]
    assert "cvar_99" in row["mvd_45"]["guardrails"] and library_run.data["fans"]["mvd_45"]["nav"]


def test_tornado_zero_bump_and_paired_standard_errors():
    t = tornado("100m", {"appreciation_rates": 0.002, "hurdle_rate": 0.0},
                num_simulations=N, seed=SEED)
    row = {r["parameter"]: r for r in t.rows}
    flat = row["hurdle_rate"]
    assert flat["change_low"] == flat["change_high"] == 0.0
    assert flat["se_low"] == flat["se_high"] == 0.0
    small = row["appreciation_rates"]
    assert small["change_high"] > 0 > small["change_low"]
    base, high = t.results[0], t.results[2]
    unpaired = unpaired_se("lp_irr:p50", base.scenarios, high.scenarios, 0.08, 0.08)
    assert small["se_high"] == paired_se("lp_irr:p50", base.scenarios, high.scenarios, 0.08, 0.08)
    assert small["se_high"] < 0.25 * unpaired, (small["se_high"], unpaired)
    assert [r["parameter"] for r in t.rows] == ["appreciation_rates", "hurdle_rate"]


def test_tornado_rows_sorted_and_an_invalid_bump_reported_on_its_row():
    t = tornado("100m", {"recovery_rates": 0.2, "fee_engine.management_fee_rate": 0.005,
                         "exit_simulator.base_exit_rate": "x1.5", "loan_term": [6, 14]},
                num_simulations=100, seed=SEED)
    swings = [r["swing"] for r in t.rows]
    assert swings[:-1] == sorted(swings[:-1], reverse=True)
    bad = t.rows[-1]
    assert bad["parameter"] == "recovery_rates" and "high: " in bad["error"]
    assert "recovery_rates.green" in bad["error"] and bad["stat_high"] is None
    assert bad["stat_low"] is not None and bad["swing"] == abs(bad["change_low"])
    term = next(r for r in t.rows if r["parameter"] == "loan_term")
    assert (term["low"], term["high"]) == (6, 14)
    rate = next(r for r in t.rows if r["parameter"] == "exit_simulator.base_exit_rate")
    assert rate["low"] == pytest.approx(0.1 / 1.5) and rate["high"] == pytest.approx(0.15)
    stat = statistic("lp_irr:p50", t.results[0].scenarios, 0.08)
    assert all(r["stat_base"] == stat for r in t.rows)


def test_bad_analysis_inputs_are_refused_before_running():
    with pytest.raises(ConfigError, match=r"scenarios\[0\]: unknown stress scenario 'mvd_99'"):
        stress("100m", ["mvd_99"], num_simulations=10, seed=1)
    with pytest.raises(ConfigError, match=r"scenarios\[0\] \(bad\): recovery_rates.red: must be"):
        stress("100m", [{"name": "bad", "overrides": {"recovery_rates": {"red": 1.5}}}],
               num_simulations=10, seed=1)
    with pytest.raises(ValueError, match="statistic: must be"):
        tornado("100m", None, statistic="lp_irr:median", num_simulations=10, seed=1)
    with pytest.raises(ValueError, match=r"parameters.nope: not a config field"):
        tornado("100m", {"nope": 1}, num_simulations=10, seed=1)
    with pytest.raises(ValueError, match="bounds"):
        breakeven("100m", "appreciation_rates", bounds=(0.1, 0.0), num_simulations=10, seed=1)


# --------------------------------------------------------------------------- breakeven


def test_breakeven_appreciation_at_the_hurdle_and_rerun():
    b = breakeven("100m", "appreciation_rates", {"statistic": "lp_irr:p50", "value": "hurdle"},
                  bounds=(0.0, 0.15), num_simulations=N, seed=SEED)
    assert b.data["converged"] and abs(b.data["value"] - 0.08) <= 1e-5
    x = b.x
    assert x is not None and 0.0 < x < 0.15
    lo, hi = b.data["bracket"]
    assert lo <= x <= hi
    again = equihome.simulate("100m", num_simulations=N, seed=SEED, overrides={
        "appreciation_rates": {"green": x, "orange": x, "red": x}})
    assert abs(again.statistics["lp_irr"]["p50"] - 0.08) <= 1e-5
    assert b.rows[-1]["x"] == x and len(b.rows) == b.data["iterations"]


def test_breakeven_without_a_root_names_both_ends():
    with pytest.raises(NoRoot, match=r"lp_irr:p50 is .* at appreciation_rates = 0 and .* at 0.01"):
        breakeven("100m", "appreciation_rates", 0.2, bounds=(0.0, 0.01), num_simulations=50,
                  seed=SEED)


# --------------------------------------------------------------------------- events


def test_events_progress_modules_rows_and_cancel():
    events: list[dict] = []
    r = stress("100m", ["mvd_20", "rates_up"], num_simulations=60, seed=SEED,
               on_event=events.append)
    progress = [e["progress"] for e in events if e["type"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 100.0
    started = [e["module"] for e in events if e["type"] == "module_started"]
    assert started == ["stress:base", "stress:mvd_20", "stress:rates_up"]
    rows = [e["data"]["row"] for e in events if e["type"] == "intermediate_result"]
    assert rows == r.rows and events[-1] == {"type": "result", "result": r.data,
                                             "execution_time": events[-1]["execution_time"]}
    token = equihome.CancelToken()
    seen: list[dict] = []

    def listen(event: dict) -> None:
        seen.append(event)
        if event["type"] == "module_completed":
            token.cancel()

    with pytest.raises(equihome.SimulationCancelled):
        tornado("100m", {"hurdle_rate": 0.01}, num_simulations=60, seed=SEED, on_event=listen,
                cancel=token)
    assert seen[-1]["type"] == "error" and seen[-1]["error"] == "cancelled"
    assert not any(e["type"] == "result" for e in seen)


def test_analysis_table_prints_for_people(library_run):
    text = str(library_run.table)
    assert "mvd_45_frozen" in text and "%" in text and "$" in text
    frame = library_run.to_frame()
    assert list(frame.columns) == library_run.data["columns"]
    assert frame["irr_p50"].dtype == float and len(frame) == len(LIBRARY) + 2
    assert json.loads(library_run.to_json()) == library_run.data


def test_vectorised_standard_errors_equal_the_resample_loop(library_run):
    """paired_se reduces all resamples at once; the same numbers as one resample at a time."""
    from equihome.run.variants import _reduce, _resamples

    base, other = library_run.results[0].scenarios, library_run.results[3].scenarios
    for spec in ("lp_irr:p50", "lp_tvpi:mean", "hurdle_clear_probability", "cvar_99"):
        col = "lp_loss" if spec == "cvar_99" else spec.partition(":")[0] if ":" in spec else "lp_irr"
        slow = np.array([_reduce(spec, [other[col][i]], 0.08) - _reduce(spec, [base[col][i]], 0.08)
                         for i in _resamples(base[col].size)])
        assert paired_se(spec, base, other, 0.08, 0.08) == pytest.approx(
            float(slow[np.isfinite(slow)].std(ddof=1)), rel=1e-12, abs=1e-15), spec
