"""The engine's own exp (``_core.fixed_exp``, used for the price levels) and the correlation
kernel: the same bits as their numpy twins, and as accurate as libm.

fixed_exp is a fixed sequence of IEEE operations (_exp.pxi), so the Cython loop and the numpy
twin must agree to the bit everywhere, not to a tolerance; against numpy's exp (glibc's,
within 0.52 ulp of the true value) it must stay within 1 ulp.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from equihome import _core
from equihome.model import reference

EDGES = np.array([0.0, -0.0, 1e-300, -1e-300, 5e-324, 1.0, -1.0, 0.5 * math.log(2.0),
                  -0.5 * math.log(2.0), 699.999, 700.0, -700.0, 700.0000001, -700.0000001,
                  709.78, 709.79, 710.0, -708.0, -745.0, -746.0, 1e308, -1e308,
                  np.inf, -np.inf, np.nan])


def both(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fixed_exp of x by the Cython kernel and by its numpy twin."""
    c, r = np.full_like(x, -1.0), np.full_like(x, -1.0)
    _core.fixed_exp(np.ascontiguousarray(x), c)
    reference.fixed_exp(x, r)
    return c, r


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in units of the last place of want (finite, nonzero want only)."""
    return np.abs(got - want) / np.spacing(np.abs(want))


def samples() -> dict[str, np.ndarray]:
    g = np.random.default_rng(2026)
    return {
        "price levels": g.normal(0.0, 0.4, 400_000),
        "wide": g.uniform(-700.0, 700.0, 400_000),
        "reduced range": g.uniform(-0.35, 0.35, 400_000),
        "small": g.normal(0.0, 1e-9, 50_000),
        "edges": EDGES,
    }


@pytest.mark.parametrize("name", list(samples()))
def test_cython_and_numpy_twin_are_bit_identical(name: str) -> None:
    x = samples()[name]
    c, r = both(x)
    same = (c.view(np.uint64) == r.view(np.uint64)) | (np.isnan(c) & np.isnan(r))
    assert same.all(), f"{name}: first difference at x = {x[~same][:3]}"


@pytest.mark.parametrize("name", ["price levels", "wide", "reduced range", "small"])
def test_within_one_ulp_of_libm(name: str) -> None:
    """Never more than 1 ulp from numpy's exp, and the same double for most inputs."""
    x = samples()[name]
    c, _ = both(x)
    want = np.exp(x)
    assert ulps(c, want).max() <= 1.0
    assert np.mean(c == want) > 0.85


def test_special_values() -> None:
    c, _ = both(EDGES)
    got = dict(zip(EDGES.tolist(), c.tolist(), strict=True))
    assert got[0.0] == 1.0 and got[-0.0] == 1.0 and got[5e-324] == 1.0
    assert got[710.0] == math.inf and got[1e308] == math.inf and got[math.inf] == math.inf
    assert got[-746.0] == 0.0 and got[-1e308] == 0.0 and got[-math.inf] == 0.0
    assert math.isnan(c[-1])
    # at and beyond the fast path's end (|x| = 700): libm's results, continuous across it
    for x in (700.0, -700.0, 700.0000001, -700.0000001, 709.78, -708.0, -745.0):
        assert ulps(np.array(got[x]), np.exp(np.array(x))) <= 1.0, x


def test_powers_of_two() -> None:
    """exp(n ln 2) = 2^n: the exponent bits are set right over the whole range."""
    n = np.arange(-1000, 1001, dtype=float)
    x = n * math.log(2.0)          # rounded: |x| 2^-53 off, up to ~360 ulp of exp(x) at n = 1000
    c, _ = both(x)
    assert ulps(c, np.exp(x)).max() <= 1.0
    np.testing.assert_allclose(c / np.exp2(n), 1.0, rtol=1e-13)


def test_reciprocal() -> None:
    x = np.random.default_rng(7).uniform(-20.0, 20.0, 100_000)
    up, _ = both(x)
    down, _ = both(-x)
    np.testing.assert_allclose(up * down, 1.0, rtol=5e-16)


def test_rejects_output_that_is_the_input() -> None:
    x = np.zeros(4)
    with pytest.raises(ValueError, match="out must be another array"):
        _core.fixed_exp(x, x)
    with pytest.raises(ValueError, match="out must have 4 elements, got 3"):
        _core.fixed_exp(x, np.empty(3))


def test_index_levels_use_fixed_exp() -> None:
    """With no suburb walk and no shock, a level is fixed_exp of its zone's log index, bit
    for bit, in both kernels."""
    g = np.random.default_rng(3)
    S, M, Z = 4, 36, 3
    zone_of = np.array([0, 0, 1, 2, 2, 1], dtype=np.intc)
    zone_log = np.cumsum(g.normal(0.0, 0.05, (S, M + 1, Z)), axis=1)
    want, _ = both(zone_log[:, :, zone_of].ravel())
    for module in (_core, reference):
        out = np.empty((S, M + 1, zone_of.size))
        module.index_levels(zone_log, g.standard_normal((S, M, zone_of.size)), zone_of, 0.0,
                            np.ones((M + 1, Z)), out)
        assert np.array_equal(out.ravel(), want), module.__name__


# --------------------------------------------------------------------------- correlate


def test_correlate_matches_the_matrix_product_and_its_twin() -> None:
    g = np.random.default_rng(11)
    eps = g.standard_normal((7, 50, 3))
    corr = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    w, q = np.linalg.eigh(corr)
    A = q * np.sqrt(w)
    c, r = np.empty_like(eps), np.empty_like(eps)
    _core.correlate(eps, A, c)
    reference.correlate(eps, A, r)
    assert np.array_equal(c, r)
    np.testing.assert_allclose(c, eps @ A.T, rtol=0, atol=1e-15)


def test_correlate_sums_in_a_fixed_order() -> None:
    """sum_k A[z, k] eps[k] from k = 0: (1e16 + 1) rounds to 1e16, then - 1e16 gives 0 (the
    order 0, 2, 1 would give 1). Both kernels, on every machine."""
    eps = np.array([[[1e16, 1.0, -1e16]]])
    A = np.ones((3, 3))
    for module in (_core, reference):
        out = np.full((1, 1, 3), np.nan)
        module.correlate(eps, A, out)
        assert out.tolist() == [[[0.0, 0.0, 0.0]]], module.__name__


def test_correlate_checks_the_factor_shape() -> None:
    with pytest.raises(ValueError, match=r"A must be \(3, 3\), got \(2, 3\)"):
        _core.correlate(np.zeros((1, 2, 3)), np.zeros((2, 3)), np.zeros((1, 2, 3)))


def test_int_pow_is_exact_at_the_ends_and_within_n_ulps() -> None:
    """fixed_math.int_pow (the kernels' int_pow's twin): x^0 = 1, x^1 = x, and against the
    exact rational power rounded once, within n ulps (each squaring doubles the relative
    error: 4e-14 at most for a monthly factor over 30 years) for the growth factors the engine
    raises; for n = 12 (an IRR's annualisation) within 12 ulps."""
    from fractions import Fraction

    from equihome.model.fixed_math import int_pow
    rng = np.random.default_rng(3)
    x = 1.0 + rng.uniform(-0.01, 0.02, 200)
    n = rng.integers(0, 361, 200)
    got = int_pow(x, n)
    want = np.array([float(Fraction(v) ** int(k)) for v, k in zip(x, n, strict=True)])
    assert (ulps(got, want) <= np.maximum(n, 1)).all()
    assert ulps(got, want).max() > 8  # the bound is near what binary powering does
    assert (int_pow(x, 0) == 1.0).all() and (int_pow(x, 1) == x).all()
    assert int_pow(1.0025, 12) == int_pow(np.array([1.0025]), np.array([12]))[0]
    for k in (0, 1, 2, 12, 13, 360):  # one exponent for all (its own path): the same bits
        assert np.array_equal(int_pow(x, k), int_pow(x, np.full(x.size, k)))


def test_log_values_within_two_ulps_and_its_special_values() -> None:
    """fixed_math.log_values (the effective rates' log): within 2 ulps of libm's log (itself
    within 0.52 ulp) from subnormals to 1e308, near 1 too; 0 -> -inf, negatives and NaN ->
    NaN, inf -> inf, 1 -> 0 exactly."""
    from equihome.model.fixed_math import log_values
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(0.01, 10.0, 20_000), np.exp(rng.uniform(-700, 700, 20_000)),
                        rng.uniform(0.99, 1.01, 20_000), [5e-324, 1e-310, 2.0**-1022, 2.0, 0.5,
                                                          1e308, 1.0 + 2.0**-52]])
    got = log_values(x)
    want = np.array([math.log(v) for v in x])
    assert (ulps(got, want) <= 2.0).all()
    with np.errstate(invalid="ignore"):
        special = log_values(np.array([0.0, -1.0, -np.inf, np.inf, np.nan, 1.0]))
    assert special[0] == -np.inf and np.isnan(special[1:3]).all() and special[3] == np.inf
    assert np.isnan(special[4]) and special[5] == 0.0
