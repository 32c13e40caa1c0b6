"""Results saved before a refactor: the same config and seed must give byte-identical JSON.

``tests/golden/*.json`` hold, per case, the result's ``to_json()`` text, every per-scenario
metric array and their SHA-256, and the fingerprint of the machine's math that made them
(``math_fingerprint``). A change that is meant to move numbers (a model fix, new random
streams) rewrites them on purpose, in the same commit, with
``python tests/test_golden.py --write``; any other change must leave them untouched.

On a machine whose math has the same fingerprint the results must be the same bytes. The
last bits of libm's and numpy's exp, log and pow differ between CPUs (glibc and numpy choose
FMA or AVX-512 variants at run time), and a few of the engine's numbers still pass through
them, so on another machine every number must agree to GOLDEN_RTOL and every text, count
and flag exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import equihome
from equihome import _core

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_RTOL = 1e-9  # across machines: relative, and absolute for numbers within 1 of zero

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


def math_fingerprint() -> str:
    """12 hex digits of SHA-256 over what this machine's math gives on fixed inputs: libm's
    exp, log and pow (through Python's math) and numpy's exp, log, power, expm1 and log1p, with
    numpy's version and the core's SIMD build."""
    x = np.linspace(-5.0, 5.0, 4001) + 1e-3
    a = np.abs(x)
    parts = [np.exp(x), np.log(a), np.power(a, 1.0 / 12.0), np.expm1(x), np.log1p(a),
             np.array([math.exp(v) for v in x]), np.array([math.log(v) for v in a]),
             np.array([v ** (1.0 / 12.0) for v in a])]
    digest = hashlib.sha256(f"{np.__version__} {_core.SIMD}".encode())
    for p in parts:
        digest.update(p.tobytes())
    return digest.hexdigest()[:12]


def run_case(case: dict) -> dict:
    """The case's result JSON text, its per-scenario arrays (NaN as None) and their SHA-256."""
    r = equihome.simulate(case["config"], num_simulations=case["num_simulations"],
                          seed=case["seed"], overrides=case["overrides"], threads=2,
                          chunk_size=24)
    digest = hashlib.sha256()
    for name in sorted(r.scenarios):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(r.scenarios[name], dtype=float).tobytes())
    scenarios = {name: [None if math.isnan(v) else v for v in np.asarray(r.scenarios[name],
                                                                          dtype=float).tolist()]
                 for name in sorted(r.scenarios)}
    return {"math": math_fingerprint(), "result_json": r.to_json(),
            "scenarios_sha256": digest.hexdigest(), "scenarios": scenarios}


def differences(saved, now, path: str = "") -> list[str]:
    """Where two JSON values differ beyond GOLDEN_RTOL (floats) or at all (everything else)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        if saved.keys() != now.keys():
            return [f"{path}: keys {sorted(saved)} != {sorted(now)}"]
        return [d for k in saved for d in differences(saved[k], now[k], f"{path}/{k}")]
    if isinstance(saved, list) and isinstance(now, list):
        if len(saved) != len(now):
            return [f"{path}: {len(saved)} items != {len(now)}"]
        return [d for i, (a, b) in enumerate(zip(saved, now, strict=True)) for d in
                differences(a, b, f"{path}[{i}]")]
    if isinstance(saved, float) and isinstance(now, float):
        close = math.isclose(saved, now, rel_tol=GOLDEN_RTOL, abs_tol=GOLDEN_RTOL)
        return [] if close else [f"{path}: {saved!r} != {now!r}"]
    return [] if saved == now and type(saved) is type(now) else [f"{path}: {saved!r} != {now!r}"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_seed_gives_the_saved_bytes(name: str) -> None:
    saved = json.loads((GOLDEN / f"{name}.json").read_text())
    now = run_case(CASES[name])
    if saved["math"] == now["math"]:  # the machine that wrote them, or one with the same math
        assert now["scenarios_sha256"] == saved["scenarios_sha256"], "per-scenario numbers moved"
        assert now["result_json"] == saved["result_json"], "the result JSON moved"
    diffs = (differences(saved["scenarios"], now["scenarios"], "scenarios")
             + differences(json.loads(saved["result_json"]), json.loads(now["result_json"])))
    assert not diffs, f"{len(diffs)} numbers moved, e.g. " + "; ".join(diffs[:5])


def test_golden_comparison_catches_a_moved_number() -> None:
    """The cross-machine comparison is not vacuous: it passes a last-bit change and fails
    anything larger, a changed count or a changed text."""
    saved = {"a": [1.0, 0.0, "x"], "n": 3, "b": {"c": 1e6}}
    assert not differences(saved, {"a": [1.0 + 2e-16, 1e-17, "x"], "n": 3, "b": {"c": 1e6}})
    assert differences(saved, {"a": [1.0 + 1e-6, 0.0, "x"], "n": 3, "b": {"c": 1e6}})
    assert differences(saved, {"a": [1.0, 0.0, "x"], "n": 4, "b": {"c": 1e6}})
    assert differences(saved, {"a": [1.0, 0.0, "y"], "n": 3, "b": {"c": 1e6}})
    assert differences(saved, {"a": [1.0, 0.0, "x"], "n": 3, "b": {"c": 1e6 * (1 + 1e-8)}})


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_golden.py --write   (rewrites tests/golden/*.json)")
    GOLDEN.mkdir(exist_ok=True)
    for case_name, case in CASES.items():
        (GOLDEN / f"{case_name}.json").write_text(json.dumps(run_case(case), indent=0) + "\n")
        print("wrote", GOLDEN / f"{case_name}.json")
