"""Results saved before a refactor: the same config and seed must give byte-identical JSON.

``tests/golden/*.json`` hold, per case, the result's ``to_json()`` text and a SHA-256 of every
per-scenario metric array. A change that is meant to move numbers (a model fix, new random
streams) rewrites them on purpose, in the same commit, with
``python tests/test_golden.py --write``; any other change must leave them untouched.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import equihome

GOLDEN = Path(__file__).parent / "golden"

CASES: dict[str, dict] = {
    "preset": {"config": "100m", "num_simulations": 96, "seed": 42, "overrides": {}},
    "american_tranches_short_loans": {
        "config": "100m", "num_simulations": 64, "seed": 7, "overrides": {
            "fund_size": 2e7, "loan_term": 3, "waterfall_structure": "american",
            "clawback_provision": False, "sample_paths": 2,
            "tranches": [{"name": "Senior", "type": "senior_debt", "size": 2e6,
                          "interest_rate": 0.06, "priority": 1},
                         {"name": "Mezz", "type": "mezzanine", "size": 1e6,
                          "interest_rate": 0.1, "priority": 2}]}},
    "defaults_nav_fees_regimes": {
        "config": None, "num_simulations": 64, "seed": 3, "overrides": {
            "fund_size": 1e7, "fund_term": 15, "distribution_frequency": "monthly",
            "appreciation_share_method": "tiered", "share_depreciation": True,
            "annual_return_cap": 0.12, "clawback_provision": False, "sample_paths": 3,
            "price_path": {"model_type": "regime_switching"},
            "fee_engine": {"management_fee_basis": "net_asset_value",
                           "management_fee_schedule": [0.02, 0.02, 0.015]}}},
    "tiny_short_fund": {
        "config": None, "num_simulations": 64, "seed": 11, "overrides": {
            "fund_size": 2e6, "fund_term": 1, "loan_term": 1, "deployment_period": 0.5,
            "reinvestment_period": 0.5,
            "deployment_pace": "front_loaded", "distribution_frequency": "annual",
            "origination_fee_recipient": "fund", "sample_paths": 0,
            "price_path": {"model_type": "mean_reversion"},
            "fee_engine": {"management_fee_basis": "invested_capital",
                           "acquisition_fee_rate": 0.01, "disposition_fee_rate": 0.01}}},
}


def run_case(case: dict) -> dict:
    """The case's result JSON text and the SHA-256 of its per-scenario arrays."""
    r = equihome.simulate(case["config"], num_simulations=case["num_simulations"],
                          seed=case["seed"], overrides=case["overrides"], threads=2,
                          chunk_size=24)
    digest = hashlib.sha256()
    for name in sorted(r.scenarios):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(r.scenarios[name], dtype=float).tobytes())
    return {"result_json": r.to_json(), "scenarios_sha256": digest.hexdigest()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_seed_gives_the_saved_bytes(name: str) -> None:
    saved = json.loads((GOLDEN / f"{name}.json").read_text())
    now = run_case(CASES[name])
    assert now["scenarios_sha256"] == saved["scenarios_sha256"], "per-scenario numbers moved"
    assert now["result_json"] == saved["result_json"], "the result JSON moved"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_golden.py --write   (rewrites tests/golden/*.json)")
    GOLDEN.mkdir(exist_ok=True)
    for case_name, case in CASES.items():
        (GOLDEN / f"{case_name}.json").write_text(json.dumps(run_case(case), indent=0) + "\n")
        print("wrote", GOLDEN / f"{case_name}.json")
