"""Tests of equihome.io.config: defaults, preset, overrides, JSON loading and error messages."""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from equihome.io.config import (
    PRESETS,
    ConfigError,
    CorrelationMatrix,
    FundConfig,
    Tranche,
    ZoneValues,
    config_json_schema,
    load_config,
    validate_config,
)
from equihome.model.layout import zone_array

TRANCHE = {"name": "senior", "type": "senior_debt", "size": 1e7, "interest_rate": 0.06,
           "priority": 1}


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _errors(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        validate_config(data)
    return info.value


# --------------------------------------------------------------------------- defaults


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("fund_size", 100_000_000),
        ("fund_term", 10),
        ("vintage_year", 2025),
        ("gp_commitment_percentage", 0.02),
        ("deployment_period", 3),
        ("deployment_pace", "even"),
        ("reinvestment_period", 5),
        ("reinvestment_rate", 1.0),
        ("cash_reserve_rate", 0.02),
        ("distribution_frequency", "quarterly"),
        ("waterfall_structure", "european"),
        ("hurdle_rate", 0.08),
        ("preferred_return_compounding", "annual"),
        ("catch_up_rate", 1.0),
        ("carried_interest_rate", 0.20),
        ("clawback_provision", True),
        ("management_fee_offset_percentage", 0.0),
        ("tranches", []),
        ("avg_loan_size", 250_000),
        ("loan_size_std_dev", 50_000),
        ("min_loan_size", 100_000),
        ("max_loan_size", 500_000),
        ("avg_loan_ltv", 0.40),
        ("ltv_std_dev", 0.10),
        ("min_ltv", 0.15),
        ("max_ltv", 0.65),
        ("interest_rate", 0.05),
        ("loan_term", 10),
        ("origination_fee_rate", 0.03),
        ("origination_fee_recipient", "gp"),
        ("appreciation_share_method", "pro_rata_ltv"),
        ("appreciation_share", 0.4),
        ("tiered_appreciation_thresholds", [0.2, 0.5, 1.0]),
        ("tiered_appreciation_shares", [0.15, 0.25, 0.35, 0.45]),
        ("share_depreciation", False),
        ("annual_return_cap", None),
        ("num_simulations", 1000),
        ("monte_carlo_seed", None),
        ("sample_paths", 20),
        ("price_path.model_type", "gbm"),
        ("price_path.mean_reversion_params.speed", 0.2),
        ("price_path.regime_switching_params.bull_market_rate", 0.08),
        ("price_path.regime_switching_params.bear_market_rate", -0.03),
        ("price_path.regime_switching_params.bull_to_bear_prob", 0.1),
        ("price_path.regime_switching_params.bear_to_bull_prob", 0.3),
        ("price_path.regime_switching_params.bear_volatility_multiplier", 1.5),
        ("price_path.suburb_variation", 0.02),
        ("price_path.property_variation", 0.01),
        ("price_path.suburbs_per_zone", 10),
        ("exit_simulator.base_exit_rate", 0.10),
        ("exit_simulator.sale_weight", 0.6),
        ("exit_simulator.refinance_weight", 0.4),
        ("exit_simulator.appreciation_sale_multiplier", 2.0),
        ("exit_simulator.refinance_ltv_threshold", 0.5),
        ("exit_simulator.interest_rate_refinance_multiplier", 3.0),
        ("exit_simulator.economic_factor_default_multiplier", 2.0),
        ("exit_simulator.min_hold_period", 1.0),
        ("exit_simulator.foreclosure_cost", 0.10),
        ("exit_simulator.foreclosure_time", 12),
        ("exit_simulator.liquidation_discount", 0.05),
        ("fee_engine.management_fee_rate", 0.02),
        ("fee_engine.management_fee_basis", "committed_capital"),
        ("fee_engine.management_fee_schedule", []),
        ("fee_engine.annual_fund_expenses", 0.005),
        ("fee_engine.fixed_annual_expenses", 100_000),
        ("fee_engine.expense_growth_rate", 0.02),
        ("fee_engine.setup_costs", 250_000),
        ("fee_engine.acquisition_fee_rate", 0.0),
        ("fee_engine.disposition_fee_rate", 0.0),
        ("guardrails.max_ltv", 0.65),
        ("guardrails.stress_ltv", 0.90),
        ("guardrails.suburb_concentration", 0.10),
        ("guardrails.loan_concentration", 0.02),
        ("guardrails.loan_term_beyond_fund", 0.25),
        ("guardrails.unpaid_fees", 0.0),
        ("guardrails.weighted_average_life", 8.0),
        ("guardrails.var_99", 0.15),
        ("guardrails.cvar_99", 0.20),
        ("guardrails.irr_p5", 0.025),
        ("guardrails.hurdle_clear_probability", 0.70),
        ("guardrails.min_simulations", 500),
        ("guardrails.seed_missing", True),
    ],
)
def test_scalar_defaults_match_domain(path: str, expected: Any) -> None:
    assert _get(FundConfig(), path) == expected


@pytest.mark.parametrize(
    ("path", "green", "orange", "red"),
    [
        ("zone_allocations", 0.6, 0.3, 0.1),
        ("appreciation_rates", 0.05, 0.03, 0.01),
        ("default_rates", 0.01, 0.03, 0.05),
        ("recovery_rates", 0.9, 0.8, 0.7),
        ("price_path.volatility", 0.03, 0.05, 0.08),
        ("guardrails.max_loan_size", 500_000, 400_000, 300_000),
        ("guardrails.zone_concentration", 1.0, 0.40, 0.20),
    ],
)
def test_zone_defaults_match_domain(path: str, green: float, orange: float, red: float) -> None:
    zones = _get(FundConfig(), path)
    assert isinstance(zones, ZoneValues)
    assert (zones.green, zones.orange, zones.red) == (green, orange, red)
    assert zone_array(zones).tolist() == [green, orange, red]


def test_default_correlation_matrix() -> None:
    corr = FundConfig().price_path.correlation_matrix
    assert (corr.green_orange, corr.green_red, corr.orange_red) == (0.7, 0.5, 0.8)
    m = corr.matrix()
    assert m.shape == (3, 3)
    np.testing.assert_array_equal(m, m.T)
    np.testing.assert_array_equal(np.diag(m), [1.0, 1.0, 1.0])
    assert m[0, 1] == 0.7 and m[0, 2] == 0.5 and m[1, 2] == 0.8


def test_defaults_are_independent_instances() -> None:
    a, b = FundConfig(), FundConfig()
    a.appreciation_rates.red = 0.02
    a.tiered_appreciation_shares.append(0.5)
    assert b.appreciation_rates.red == 0.01
    assert b.tiered_appreciation_shares == [0.15, 0.25, 0.35, 0.45]


# --------------------------------------------------------------------------- preset


def test_preset_100m_values() -> None:
    cfg = load_config("100m")
    expected = {
        "fund_size": 100_000_000, "fund_term": 10, "vintage_year": 2025,
        "gp_commitment_percentage": 0.02, "waterfall_structure": "european",
        "hurdle_rate": 0.08, "carried_interest_rate": 0.20, "catch_up_rate": 1.0,
        "origination_fee_rate": 0.03, "avg_loan_size": 400_000, "loan_size_std_dev": 100_000,
        "min_loan_size": 50_000, "max_loan_size": 1_000_000, "avg_loan_ltv": 0.40,
        "ltv_std_dev": 0.10, "min_ltv": 0.15, "max_ltv": 0.65, "interest_rate": 0.05,
        "loan_term": 10, "reinvestment_period": 5, "monte_carlo_seed": 42,
        "fee_engine.management_fee_rate": 0.02,
        "fee_engine.management_fee_basis": "committed_capital",
        "fee_engine.annual_fund_expenses": 0.005, "fee_engine.fixed_annual_expenses": 100_000,
        "fee_engine.expense_growth_rate": 0.02, "fee_engine.setup_costs": 250_000,
        "price_path.correlation_matrix.green_orange": 0.7,
        "price_path.correlation_matrix.green_red": 0.5,
        "price_path.correlation_matrix.orange_red": 0.8,
    }
    for path, value in expected.items():
        assert _get(cfg, path) == value, path
    zones = {
        "zone_allocations": [0.45, 0.35, 0.20],
        "appreciation_rates": [0.06, 0.05, 0.04],
        "default_rates": [0.005, 0.015, 0.025],
        "recovery_rates": [0.95, 0.85, 0.75],
        "price_path.volatility": [0.12, 0.15, 0.18],
    }
    for path, values in zones.items():
        assert zone_array(_get(cfg, path)).tolist() == values, path


def test_preset_is_not_mutated_by_loading() -> None:
    before = json.dumps(PRESETS["100m"], sort_keys=True)
    cfg = load_config("100m", {"price_path": {"volatility": {"red": 0.3}}})
    cfg.fund_term = 12
    assert json.dumps(PRESETS["100m"], sort_keys=True) == before
    assert load_config("100m").price_path.volatility.red == 0.18


# --------------------------------------------------------------------------- overrides


def test_partial_zone_dict_keeps_other_zone_defaults() -> None:
    cfg = validate_config({"appreciation_rates": {"red": 0.0}})
    assert zone_array(cfg.appreciation_rates).tolist() == [0.05, 0.03, 0.0]
    cfg = validate_config({"price_path": {"volatility": {"green": 0.1}}})
    assert zone_array(cfg.price_path.volatility).tolist() == [0.1, 0.05, 0.08]
    assert cfg.price_path.model_type == "gbm"


def test_partial_guardrails_keep_other_defaults() -> None:
    cfg = validate_config({"guardrails": {"max_ltv": 0.6}})
    assert cfg.guardrails.max_ltv == 0.6
    assert cfg.guardrails.stress_ltv == 0.90
    assert zone_array(cfg.guardrails.max_loan_size).tolist() == [500_000, 400_000, 300_000]
    cfg = validate_config({"guardrails": {"max_loan_size": {"red": 250_000}}})
    assert zone_array(cfg.guardrails.max_loan_size).tolist() == [500_000, 400_000, 250_000]
    assert cfg.guardrails.max_ltv == 0.65


def test_partial_correlation_and_regime_params() -> None:
    cfg = validate_config({"price_path": {
        "correlation_matrix": {"green_red": 0.6},
        "regime_switching_params": {"bear_to_bull_prob": 0.5},
    }})
    corr = cfg.price_path.correlation_matrix
    assert (corr.green_orange, corr.green_red, corr.orange_red) == (0.7, 0.6, 0.8)
    assert cfg.price_path.regime_switching_params.bear_to_bull_prob == 0.5
    assert cfg.price_path.regime_switching_params.bull_to_bear_prob == 0.1


def test_load_config_deep_merges_overrides_over_preset() -> None:
    cfg = load_config("100m", {
        "guardrails": {"max_ltv": 0.6},
        "price_path": {"volatility": {"red": 0.2}, "model_type": "mean_reversion"},
        "tiered_appreciation_thresholds": [0.3],
        "tiered_appreciation_shares": [0.2, 0.4],
    })
    assert cfg.guardrails.max_ltv == 0.6
    assert zone_array(cfg.price_path.volatility).tolist() == [0.12, 0.15, 0.2]
    assert cfg.price_path.model_type == "mean_reversion"
    assert cfg.price_path.correlation_matrix.green_orange == 0.7
    assert cfg.tiered_appreciation_thresholds == [0.3]  # lists replace, they do not merge
    assert cfg.fund_size == 100_000_000 and cfg.monte_carlo_seed == 42


def test_load_config_sources() -> None:
    assert load_config() == FundConfig()
    assert load_config({"fund_term": 12, "deployment_period": 4}).fund_term == 12
    base = load_config("100m")
    again = load_config(base, {"fund_term": 12})
    assert again.fund_term == 12 and again.avg_loan_size == 400_000
    assert base.fund_term == 10


def test_ints_accepted_for_float_fields() -> None:
    cfg = validate_config({"fund_size": 100000000, "hurdle_rate": 0, "catch_up_rate": 1})
    assert isinstance(cfg.fund_size, float) and cfg.fund_size == 1e8
    assert cfg.hurdle_rate == 0.0 and cfg.catch_up_rate == 1.0


def test_zone_values_instance_is_revalidated_for_its_field() -> None:
    cfg = FundConfig(zone_allocations=ZoneValues(green=0.5, orange=0.5, red=0.0))
    assert zone_array(cfg.zone_allocations).tolist() == [0.5, 0.5, 0.0]
    with pytest.raises(ValueError, match="zone_allocations"):
        FundConfig(zone_allocations=ZoneValues(green=0.5, orange=0.5, red=0.5))


def test_tranches_validate() -> None:
    mezz = {"name": "mezz", "type": "mezzanine", "size": 5_000_000, "interest_rate": 0.1,
            "priority": 2}
    cfg = validate_config({"tranches": [TRANCHE, mezz]})
    assert [t.name for t in cfg.tranches] == ["senior", "mezz"]
    assert isinstance(cfg.tranches[0], Tranche)


def test_assignment_is_validated_merged_and_rolled_back() -> None:
    cfg = FundConfig()
    cfg.appreciation_rates = {"red": 0.0}
    assert zone_array(cfg.appreciation_rates).tolist() == [0.05, 0.03, 0.0]
    with pytest.raises(ConfigError) as info:
        cfg.fund_term = 45
    assert info.value.errors[0]["loc"] == ["fund_term"]
    assert "between 1 and 30" in str(info.value)
    assert cfg.fund_term == 10
    with pytest.raises(ConfigError, match="avg_loan_ltv"):
        cfg.min_ltv = 0.5  # above avg_loan_ltv 0.40
    assert cfg.min_ltv == 0.15
    with pytest.raises(ConfigError, match="sum to 1"):
        cfg.zone_allocations.red = 0.5
    assert cfg.zone_allocations.red == 0.1


# --------------------------------------------------------------------------- JSON files


def test_json_file_loading(tmp_path: Path) -> None:
    path = tmp_path / "fund.json"
    path.write_text(json.dumps({"fund_term": 8, "price_path": {"volatility": {"red": 0.1}}}))
    for source in (path, str(path)):
        cfg = load_config(source)
        assert cfg.fund_term == 8
        assert zone_array(cfg.price_path.volatility).tolist() == [0.03, 0.05, 0.1]
    cfg = load_config(path, {"fund_term": 9})
    assert cfg.fund_term == 9


def test_json_roundtrip_of_to_dict(tmp_path: Path) -> None:
    cfg = load_config("100m", {"annual_return_cap": 0.1})
    path = tmp_path / "roundtrip.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert load_config(path) == cfg


def test_invalid_json_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"fund_term": 10,')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg and "not valid JSON" in msg and "line 1" in msg
    assert info.value.errors[0]["loc"] == ["source"]


def test_missing_json_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(path) in str(info.value) and "cannot be read" in str(info.value)


def test_json_file_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not an object"):
        load_config(path)


def test_invalid_values_in_json_file_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"hurdle_rate": NaN, "fund_term": 45}')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [e["loc"] for e in info.value.errors] == [["fund_term"], ["hurdle_rate"]]


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("200m")
    msg = str(info.value)
    assert "unknown preset '200m'" in msg and "available: 100m" in msg
    assert info.value.errors[0]["value"] == "200m"


def test_bad_overrides_type() -> None:
    with pytest.raises(ConfigError, match="overrides"):
        load_config("100m", ["fund_term"])  # type: ignore[arg-type]


def test_non_dict_config() -> None:
    with pytest.raises(ConfigError, match="must be an object"):
        validate_config([1, 2])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- invalid input

NAN, INF = float("nan"), float("inf")

INVALID = [
    # out of range
    ({"fund_term": 45}, ["fund_term"], ["fund_term", "45", "between 1 and 30"]),
    ({"fund_size": 5}, ["fund_size"], ["fund_size", "5", "at least 1000000"]),
    ({"hurdle_rate": -0.1}, ["hurdle_rate"], ["hurdle_rate", "-0.1", "between 0 and 1"]),
    ({"carried_interest_rate": 0.6}, ["carried_interest_rate"], ["0.6", "between 0 and 0.5"]),
    ({"cash_reserve_rate": 0.3}, ["cash_reserve_rate"], ["0.3", "between 0 and 0.2"]),
    ({"vintage_year": 1800}, ["vintage_year"], ["1800", "between 1900 and 2100"]),
    ({"min_ltv": 0}, ["min_ltv"], ["min_ltv", "0", "greater than 0 and less than 1"]),
    ({"max_ltv": 1.0}, ["max_ltv"], ["max_ltv", "1.0", "greater than 0 and less than 1"]),
    ({"appreciation_rates": {"green": 0.5}}, ["appreciation_rates", "green"],
     ["appreciation_rates.green", "0.5", "between -0.2 and 0.3"]),
    ({"default_rates": {"orange": -0.01}}, ["default_rates", "orange"],
     ["default_rates.orange", "-0.01", "between 0 and 1"]),
    ({"price_path": {"volatility": {"red": 1.5}}}, ["price_path", "volatility", "red"],
     ["price_path.volatility.red: must be between 0 and 1, got 1.5"]),
    ({"price_path": {"mean_reversion_params": {"speed": 0}}},
     ["price_path", "mean_reversion_params", "speed"], ["speed", "greater than 0 and at most 10"]),
    ({"price_path": {"suburbs_per_zone": 0}}, ["price_path", "suburbs_per_zone"],
     ["between 1 and 100", "got 0"]),
    ({"exit_simulator": {"foreclosure_time": 121}}, ["exit_simulator", "foreclosure_time"],
     ["exit_simulator.foreclosure_time", "121", "between 0 and 120"]),
    ({"exit_simulator": {"sale_weight": -1}}, ["exit_simulator", "sale_weight"],
     ["sale_weight", "-1", "at least 0"]),
    ({"fee_engine": {"management_fee_schedule": [0.02, 0.5]}},
     ["fee_engine", "management_fee_schedule", 1],
     ["fee_engine.management_fee_schedule[1]", "0.5", "between 0 and 0.1"]),
    ({"fee_engine": {"management_fee_schedule": [0.01] * 31}},
     ["fee_engine", "management_fee_schedule"], ["at most 30 entries", "31"]),
    ({"tiered_appreciation_shares": [0.1, 0.2, 1.5, 0.3]}, ["tiered_appreciation_shares", 2],
     ["tiered_appreciation_shares[2]", "1.5", "between 0 and 1"]),
    ({"tiered_appreciation_thresholds": [0.2, -0.5, 1.0]}, ["tiered_appreciation_thresholds", 1],
     ["-0.5", "greater than 0"]),
    ({"annual_return_cap": 1.5}, ["annual_return_cap"],
     ["annual_return_cap", "1.5", "between 0 and 1"]),
    ({"num_simulations": 0}, ["num_simulations"], ["num_simulations", "0", "between 1 and 100000"]),
    ({"num_simulations": 100_001}, ["num_simulations"], ["100001", "between 1 and 100000"]),
    ({"monte_carlo_seed": -1}, ["monte_carlo_seed"], ["monte_carlo_seed", "-1", "between 0 and"]),
    ({"monte_carlo_seed": 2**63}, ["monte_carlo_seed"], [str(2**63), str(2**63 - 1)]),
    ({"sample_paths": 1001}, ["sample_paths"], ["1001", "between 0 and 1000"]),
    ({"guardrails": {"max_ltv": 2}}, ["guardrails", "max_ltv"], ["guardrails.max_ltv", "2"]),
    ({"guardrails": {"max_loan_size": {"red": 0}}}, ["guardrails", "max_loan_size", "red"],
     ["guardrails.max_loan_size.red", "greater than 0"]),
    ({"guardrails": {"min_simulations": 0}}, ["guardrails", "min_simulations"],
     ["between 1 and 100000", "got 0"]),
    # unknown keys
    ({"fundsize": 1}, ["fundsize"],
     ["fundsize: unknown field", "did you mean 'fund_size'", "fund_term"]),
    ({"price_path": {"volatilty": {"red": 0.1}}}, ["price_path", "volatilty"],
     ["price_path.volatilty: unknown field", "allowed: model_type, volatility, correlation"]),
    ({"appreciation_rates": {"purple": 0.1}}, ["appreciation_rates", "purple"],
     ["appreciation_rates.purple: unknown field", "allowed: green, orange, red"]),
    ({"guardrails": {"max_leverage": 2}}, ["guardrails", "max_leverage"],
     ["guardrails.max_leverage: unknown field", "max_ltv"]),
    # wrong types
    ({"fund_size": "abc"}, ["fund_size"], ["fund_size: must be a number, got 'abc'"]),
    ({"hurdle_rate": "0.08"}, ["hurdle_rate"], ["hurdle_rate: must be a number, got '0.08'"]),
    ({"fund_size": True}, ["fund_size"], ["fund_size: must be a number, got True"]),
    ({"fund_term": True}, ["fund_term"], ["fund_term: must be an integer, got True"]),
    ({"fund_term": 10.5}, ["fund_term"], ["fund_term: must be an integer, got 10.5"]),
    ({"clawback_provision": "yes"}, ["clawback_provision"], ["must be true or false", "'yes'"]),
    ({"price_path": 5}, ["price_path"], ["price_path: must be an object", "got 5"]),
    ({"tranches": {"name": "x"}}, ["tranches"], ["tranches: must be a list"]),
    ({"deployment_pace": "fast"}, ["deployment_pace"],
     ["deployment_pace: must be one of 'even', 'front_loaded' or 'back_loaded', got 'fast'"]),
    ({"fee_engine": {"management_fee_basis": "nav"}}, ["fee_engine", "management_fee_basis"],
     ["fee_engine.management_fee_basis", "'nav'", "'net_asset_value'"]),
    ({"tranches": [{k: v for k, v in TRANCHE.items() if k != "type"}]}, ["tranches", 0, "type"],
     ["tranches[0].type: is required"]),
    ({"tranches": [{**TRANCHE, "name": ""}]}, ["tranches", 0, "name"],
     ["tranches[0].name: must be a non-empty string, got ''"]),
    # non-finite numbers
    ({"hurdle_rate": NAN}, ["hurdle_rate"], ["hurdle_rate: must be a finite number, got nan"]),
    ({"fund_size": INF}, ["fund_size"], ["fund_size: must be a finite number, got inf"]),
    ({"appreciation_rates": {"red": -INF}}, ["appreciation_rates", "red"],
     ["appreciation_rates.red: must be a finite number, got -inf"]),
    # whole-object and cross-field rules
    ({"zone_allocations": {"red": 0.2}}, ["zone_allocations"],
     ["zone_allocations: must sum to 1", "0.6", "0.3", "0.2", "1.1"]),
    ({"price_path": {"correlation_matrix": {"green_orange": 0.9, "green_red": -0.9,
                                            "orange_red": 0.9}}},
     ["price_path", "correlation_matrix"],
     ["price_path.correlation_matrix: must be positive semi-definite", "green_orange=0.9",
      "green_red=-0.9", "orange_red=0.9", "smallest eigenvalue"]),
    ({"price_path": {"regime_switching_params": {"bull_to_bear_prob": 0, "bear_to_bull_prob": 0}}},
     ["price_path", "regime_switching_params"],
     ["bull_to_bear_prob + bear_to_bull_prob must be greater than 0", "0 + 0"]),
    ({"exit_simulator": {"sale_weight": 0, "refinance_weight": 0}}, ["exit_simulator"],
     ["exit_simulator: sale_weight + refinance_weight must be greater than 0"]),
    ({"min_loan_size": 600_000}, ["min_loan_size"],
     ["min_loan_size: must be at most max_loan_size (500000), got 600000"]),
    ({"avg_loan_size": 600_000}, ["avg_loan_size"],
     ["avg_loan_size: must be between min_loan_size (100000) and max_loan_size (500000)",
      "600000"]),
    ({"avg_loan_ltv": 0.1}, ["avg_loan_ltv"],
     ["avg_loan_ltv: must be between min_ltv (0.15) and max_ltv (0.65), got 0.1"]),
    ({"min_ltv": 0.7}, ["min_ltv"], ["min_ltv: must be at most max_ltv (0.65), got 0.7"]),
    ({"tiered_appreciation_shares": [0.1, 0.2]}, ["tiered_appreciation_shares"],
     ["tiered_appreciation_shares", "len(tiered_appreciation_thresholds) + 1 = 4", "[0.1, 0.2]"]),
    ({"tiered_appreciation_thresholds": [0.5, 0.2, 1.0]}, ["tiered_appreciation_thresholds"],
     ["tiered_appreciation_thresholds: must be strictly increasing", "[0.5, 0.2, 1.0]"]),
    ({"deployment_period": 12}, ["deployment_period"],
     ["deployment_period: must be at most fund_term (10 years), got 12"]),
    ({"fund_term": 4}, ["reinvestment_period"],
     ["reinvestment_period: must be at most fund_term (4 years), got 5"]),
    ({"tranches": [TRANCHE, {**TRANCHE, "priority": 2}]}, ["tranches", 1, "name"],
     ["tranches[1].name", "unique", "'senior'"]),
]


@pytest.mark.parametrize(("data", "loc", "fragments"), INVALID)
def test_invalid_input_names_field_value_and_rule(
    data: dict[str, Any], loc: list[Any], fragments: list[str]
) -> None:
    result = None
    with pytest.raises(ConfigError) as info:
        result = validate_config(data)
    assert result is None  # raised before anything was returned
    err = info.value
    assert isinstance(err, ValueError)
    assert len(err.errors) == 1, err.errors
    entry = err.errors[0]
    assert set(entry) == {"loc", "msg", "value"}
    assert entry["loc"] == loc
    for fragment in fragments:
        assert fragment in entry["msg"], (fragment, entry["msg"])
    assert entry["msg"] in str(err)


def test_error_value_is_the_offending_value() -> None:
    entry = _errors({"price_path": {"volatility": {"red": 1.5}}}).errors[0]
    assert entry["value"] == 1.5
    assert _errors({"fund_size": "abc"}).errors[0]["value"] == "abc"
    assert math.isnan(_errors({"hurdle_rate": NAN}).errors[0]["value"])
    assert _errors({"tranches": [{"name": "x"}]}).errors[-1]["value"] is None  # missing


def test_several_bad_fields_give_one_entry_each() -> None:
    err = _errors({
        "fund_term": 45,
        "hurdle_rate": "x",
        "price_path": {"volatility": {"red": 2.0}, "volatilty": 1},
        "bogus": 1,
        "guardrails": {"max_ltv": float("nan")},
    })
    locs = sorted(json.dumps(e["loc"]) for e in err.errors)
    assert locs == sorted(json.dumps(x) for x in [
        ["fund_term"], ["hurdle_rate"], ["price_path", "volatility", "red"],
        ["price_path", "volatilty"], ["bogus"], ["guardrails", "max_ltv"],
    ])
    lines = str(err).splitlines()
    assert len(lines) == 6
    assert "fund_term: must be between 1 and 30, got 45" in lines


def test_several_cross_field_errors_are_all_reported() -> None:
    err = _errors({"deployment_period": 12, "reinvestment_period": 11, "min_loan_size": 600_000,
                   "tiered_appreciation_shares": [0.1]})
    assert sorted(e["loc"][0] for e in err.errors) == [
        "deployment_period", "min_loan_size", "reinvestment_period", "tiered_appreciation_shares"]


def test_psd_matrix_is_accepted_at_the_boundary() -> None:
    cfg = validate_config({"price_path": {"correlation_matrix": {
        "green_orange": 1.0, "green_red": 1.0, "orange_red": 1.0}}})
    assert np.linalg.eigvalsh(cfg.price_path.correlation_matrix.matrix()).min() > -1e-10
    with pytest.raises(ValueError, match="positive semi-definite"):
        CorrelationMatrix(green_orange=0.9, green_red=-0.9, orange_red=0.9)


# --------------------------------------------------------------------------- schema


def test_json_schema_is_serialisable_and_complete() -> None:
    schema = config_json_schema()
    text = json.dumps(schema, allow_nan=False)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    assert schema["additionalProperties"] is False
    for name in FundConfig.model_fields:
        assert name in schema["properties"], name
        assert f'"{name}"' in text
    assert schema["properties"]["fund_term"]["maximum"] == 30


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for info in model.model_fields.values():
        candidates = [info.annotation, *getattr(info.annotation, "__args__", ())]
        for ann in candidates:
            if isinstance(ann, type) and issubclass(ann, BaseModel) and ann not in seen:
                _models(ann, seen)
    return seen


def test_every_field_has_a_description() -> None:
    models = _models(FundConfig, set())
    assert len(models) >= 10
    for model in models:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name}"
