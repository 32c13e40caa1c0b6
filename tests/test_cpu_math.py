"""A seed gives the same bits whatever math library variants the machine picks.

glibc picks FMA variants of exp, log and pow by CPU, and numpy AVX-512 loops for its own; their
last bits differ. The engine takes its exp and integer powers from its own fixed operations
(``equihome/_exp.pxi``, ``equihome/model/fixed_math.py``), so a run in a process told to use
the other variants (GLIBC_TUNABLES without FMA and AVX2, numpy without its dispatched SIMD)
must give the same result JSON, byte for byte. The configs reach every place that used libm
or numpy for them: the home walks and foreclosures (exp), mean reversion, the American
waterfall's preferred return and continuous compounding, the return caps, expense growth,
the IRR's annualisation, the homeowner's effective rate and a loan tape's assumed values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

import equihome
from equihome.io.contract import CONTRACT_PRESETS

CASES = {
    "american_mean_reversion_caps": {
        "waterfall_structure": "american", "clawback_provision": False,
        "preferred_return_compounding": "continuous", "annual_return_cap": 0.12,
        "loan_term": 3, "price_path": {"model_type": "mean_reversion"},
        "fee_engine": {"expense_growth_rate": 0.035}},
    "regimes_monthly": {"distribution_frequency": "monthly", "fund_term": 12,
                        "price_path": {"model_type": "regime_switching"}},
    **CONTRACT_PRESETS,  # junior liens, own caps, the homeowner's effective rate (exp of log)
}
RUN = """
import json, sys
import equihome
cases = json.loads(sys.argv[1])
print(json.dumps({name: equihome.simulate("100m", num_simulations=48, seed=5, overrides=o,
                                          threads=1).to_json() for name, o in cases.items()}))
"""


def other_math_env() -> dict[str, str]:
    """The environment of a process that uses the other variants of libm's and numpy's math."""
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F"
    found = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    if found:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(found)
    return env


PROBE = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_golden import math_fingerprint
print(math_fingerprint())
"""


def run_in(env: dict[str, str] | None, code: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-c", code, *args], env=env, check=True,
                          capture_output=True, text=True).stdout


def test_other_math_variants_change_libm_and_numpy_but_not_the_results():
    here = {name: equihome.simulate("100m", num_simulations=48, seed=5, overrides=o,
                                    threads=1).to_json() for name, o in CASES.items()}
    there = json.loads(run_in(other_math_env(), RUN, json.dumps(CASES)))
    for name in CASES:
        assert there[name] == here[name], name
    # not vacuous: where the CPU has FMA, glibc's variants differ, so the math did change
    with open("/proc/cpuinfo") as f:
        has_fma = " fma" in f.read()
    if has_fma:
        assert run_in(None, PROBE) != run_in(other_math_env(), PROBE)
