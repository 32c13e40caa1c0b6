"""The ledger kernel's two walks of a loan agree to the bit.

``_loans.pxi`` walks a plain loan (an interest_plus_share first lien, hazards no market stress
scales) with ``months_plain``: its months computed eight at a time in a vectorised block, then
scanned for the exit. Every other loan takes ``months_general``, month by month. A market
stress of multipliers 1.0 sends every loan down the general walk (``hazard_scaled``) without
changing a number, so the two runs of the same chunk must be identical: short and long terms
(partial blocks, the last month inside a block), exits in any month of a block, the minimum
hold, loans that mature or are liquidated at fund end.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_invariants import fund_configs

from equihome import _core
from equihome.io.config import load_config
from equihome.model import leverage
from equihome.model.exit_simulator import LedgerInputs, LedgerRun
from equihome.model.layout import ExitKind
from equihome.run import engine


def both_walks(cfg, seed: int, n: int = 4) -> tuple[LedgerRun, LedgerRun]:
    """One chunk's ledger run twice: the plain walk where it applies, then the general walk
    for every loan (hazard_scaled set, the multipliers all 1.0)."""
    plan = engine.make_plan(cfg, num_simulations=n, seed=seed)
    stt = engine.compute_chunk(plan, 0, n)
    params, tables = plan.static
    assert not params["hazard_scaled"]
    runs = []
    for scaled in (0, 1):
        S, K = stt.pool.size.shape
        out = LedgerRun.empty(S, K, len(plan.cfg.tranches), plan.cfg.months + 1,
                              levered=leverage.active(plan.cfg))
        _core.run_ledger(dict(params, hazard_scaled=scaled),
                         LedgerInputs.build(tables, stt.pool, stt.paths.levels), out)
        runs.append(out)
    return runs[0], runs[1]


def assert_identical(a: LedgerRun, b: LedgerRun) -> None:
    for name, x in vars(a).items():
        assert np.array_equal(x, getattr(b, name)), name


@pytest.mark.parametrize("overrides", [
    {},
    {"loan_term": 1, "fund_term": 3, "reinvestment_period": 2, "deployment_period": 1},  # 12 months:
    {"loan_term": 2, "fund_term": 2, "reinvestment_period": 1, "deployment_period": 1},  # 1.5 blocks
    {"exit_simulator": {"min_hold_period": 2.5, "base_exit_rate": 1.5}},  # hold ends mid-block
    {"exit_simulator": {"base_exit_rate": 0.0}, "default_rates": {
        "green": 0.0, "orange": 0.0, "red": 0.0}},          # no hazard at all: every loan matures
])
def test_the_plain_walk_equals_the_general_walk(overrides):
    plain, general = both_walks(load_config("100m", overrides), seed=7)
    assert_identical(plain, general)
    kinds = set(np.unique(plain.exit_type[plain.orig_month >= 0]).tolist())
    if overrides.get("exit_simulator", {}).get("base_exit_rate") == 0.0:
        assert kinds <= {ExitKind.MATURITY, ExitKind.LIQUIDATION}
    else:
        assert {ExitKind.SALE, ExitKind.REFI} <= kinds


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=fund_configs(), seed=st.integers(0, 2**32))
def test_the_walks_agree_on_random_funds(cfg, seed):
    plain, general = both_walks(cfg, seed, n=3)
    assert_identical(plain, general)
