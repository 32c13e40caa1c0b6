"""The LP metrics kernel (``_core.lp_metrics``) against its numpy twin, a hand-computed fund,
and the plain numpy formulas it replaced (np.sum, cumsum, maximum.accumulate)."""

from __future__ import annotations

import numpy as np
import pytest

from equihome import _core
from equihome.model import reference
from equihome.model.layout import COL, LEDGER_COLUMNS

OUTS = ("scalars", "cum_lp", "yearly")


def run(module, ledger, lp_calls, lp_dist, gp_carry, lp_share=0.98, fund_size=1e8):
    S, N = lp_calls.shape
    out = {"scalars": np.full((S, 6), -7.0), "cum_lp": np.full((S, N), -7.0),
           "yearly": np.full((3, S, (N - 1) // 12 + 1), -7.0)}
    module.lp_metrics(ledger, lp_calls, lp_dist, gp_carry, lp_share, fund_size,
                      out["scalars"], out["cum_lp"], out["yearly"])
    return out


def random_fund(seed: int, S: int = 40, years: int = 8):
    """Ledgers with calls early, distributions late, some scenarios with nothing paid in
    (DPI NaN) and some that never pay back."""
    g = np.random.default_rng(seed)
    N = 12 * years + 1
    ledger = np.zeros((S, len(LEDGER_COLUMNS), N))
    calls = np.where(np.arange(N) < N // 2, g.exponential(1e6, (S, N)), 0.0)
    calls *= g.random((S, N)) < 0.6
    dist = np.where(np.arange(N) >= N // 3, g.exponential(1.2e6, (S, N)), 0.0)
    dist *= g.random((S, N)) < 0.4
    dist[: S // 4] *= 0.2                                   # these never pay back
    calls[-2:] = 0.0                                        # nothing paid in
    ledger[:, COL["calls"]], ledger[:, COL["distributions"]] = calls, dist
    ledger[:, COL["nav"]] = np.cumsum(calls - 0.8 * dist, axis=1) * g.uniform(0.9, 1.1, (S, N))
    carry = 0.05 * dist * (g.random((S, N)) < 0.3)
    lp_share = 0.98
    return ledger, lp_share * calls, lp_share * dist - carry, carry


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cython_and_numpy_twin_are_bit_identical(seed: int) -> None:
    args = random_fund(seed)
    c, r = run(_core, *args), run(reference, *args)
    for name in OUTS:
        assert np.array_equal(c[name], r[name], equal_nan=True), name
        assert not np.any(c[name] == -7.0), f"{name} left unwritten"
    paid_in = c["scalars"][:, 0]
    assert np.isnan(c["scalars"][paid_in == 0.0, 1:3]).all()  # DPI, RVPI: nothing paid in
    assert np.isnan(c["scalars"][:, 3]).any() and np.isfinite(c["scalars"][:, 3]).any()


def test_agrees_with_the_numpy_formulas_it_replaced() -> None:
    """np.sum adds pairwise, the kernel in month order: the same numbers to rounding."""
    ledger, lp_calls, lp_dist, carry = random_fund(3)
    c = run(_core, ledger, lp_calls, lp_dist, carry)
    paid = lp_calls.sum(axis=1)
    ok = paid > 0
    np.testing.assert_allclose(c["scalars"][:, 0], paid, rtol=1e-13)
    np.testing.assert_allclose(c["scalars"][ok, 1], lp_dist.sum(axis=1)[ok] / paid[ok], rtol=1e-13)
    np.testing.assert_allclose(c["scalars"][:, 5], carry.sum(axis=1), rtol=1e-13)
    pnl = ledger[:, COL["nav"]] + np.cumsum(ledger[:, COL["distributions"]]
                                            - ledger[:, COL["calls"]], axis=1)
    np.testing.assert_allclose(c["scalars"][:, 4],
                               (np.maximum.accumulate(pnl, axis=1) - pnl).max(axis=1) / 1e8,
                               rtol=1e-12)
    np.testing.assert_array_equal(c["yearly"][0], c["cum_lp"][:, ::12])


def test_hand_computed_fund() -> None:
    """Two years, calls of 100 at months 0 and 6, a distribution of 150 at month 18 and 90 at
    month 24, NAV 100, 200 then 50 at months 0, 12, 24 (held flat between), carry 10 at
    month 24, LP share 1: paid-in 200, DPI 1.2, RVPI 50 / 200 = 0.25; cumulative cash
    -100, -200, -50 (month 18), +40 (month 24): pays back after month 23, so month 24."""
    N = 25
    ledger = np.zeros((1, len(LEDGER_COLUMNS), N))
    calls = np.zeros(N)
    calls[[0, 6]] = 100.0
    dist = np.zeros(N)
    dist[18], dist[24] = 150.0, 90.0
    nav = np.concatenate([np.full(12, 100.0), np.full(12, 200.0), [50.0]])
    ledger[0, COL["calls"]], ledger[0, COL["distributions"]], ledger[0, COL["nav"]] = calls, dist, nav
    carry = np.zeros(N)
    carry[24] = 10.0
    out = run(_core, ledger, calls[None], dist[None], carry[None], lp_share=1.0, fund_size=1000.0)
    paid_in, dpi, rvpi, payback, drawdown, gp = out["scalars"][0]
    assert (paid_in, dpi, rvpi, payback, gp) == (200.0, 1.2, 0.25, 24.0, 10.0)
    # P&L: month 0: 100 - 100 = 0; months 6..11: 100 - 200 = -100; months 12..17: 200 - 200 = 0;
    # months 18..23: 200 - 50 = 150 (the peak); month 24: 50 + 40 = 90: the largest fall is
    # 100 (month 6, from the peak 0), 10 % of fund_size 1,000
    assert drawdown == pytest.approx(0.1, abs=1e-15)
    assert out["yearly"][0, 0].tolist() == [-100.0, -200.0, 40.0]
    assert out["yearly"][1, 0].tolist() == [0.0, 0.0, 1.2]
    assert out["yearly"][2, 0].tolist() == [1.0, 1.0, 0.25]


def test_checks_the_output_shapes() -> None:
    ledger, lp_calls, lp_dist, carry = random_fund(4, S=3, years=2)
    with pytest.raises(ValueError, match=r"scalars must be \(3, 6\)"):
        _core.lp_metrics(ledger, lp_calls, lp_dist, carry, 1.0, 1.0, np.empty((3, 5)),
                         np.empty((3, 25)), np.empty((3, 3, 3)))
