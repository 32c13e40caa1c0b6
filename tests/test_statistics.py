"""Statistical properties of the simulation, each checked against an explicit confidence bound.

Every check compares a sample statistic with its exact expected value and allows
``Z_CRIT = 6`` standard errors. For a statistic that is (asymptotically) normal, the
chance of a false alarm is P(|N(0,1)| > 6) = 2.0e-9 per check; no test here makes more
than 40 checks, so by the union bound a correct engine fails a test with probability
below 1e-7 (for a random choice of seed; the seeds are fixed, so runs are reproducible).
Sample sizes are chosen so the same bound still detects the classic mistakes (a missing
Ito term, a per-month probability h/12 instead of 1 - exp(-h/12), an un-truncated or
merely clipped normal) by many standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from equihome import _core
from equihome.io.config import load_config
from equihome.model import exit_simulator, loan_generator, price_path_simulator, reference_pools
from equihome.model.layout import ExitKind

Z_CRIT = 6.0
DT = 1.0 / 12.0

# --------------------------------------------------------------------------- helpers


def rng(seed: int, salt: int = 0) -> np.random.Generator:
    """A seeded generator; ``salt`` separates the streams of different tests."""
    return np.random.Generator(np.random.PCG64([seed, salt]))


def assert_mean(sample: np.ndarray, expected: float, what: str, sd: float | None = None) -> None:
    """Sample mean within Z_CRIT standard errors of ``expected``.

    The standard error uses the known standard deviation ``sd`` when given, else the
    sample's own (n is large everywhere, so the plug-in error is negligible).
    """
    x = np.asarray(sample, dtype=float).ravel()
    se = (x.std(ddof=1) if sd is None else sd) / math.sqrt(x.size)
    err = x.mean() - expected
    assert abs(err) <= Z_CRIT * se, (
        f"{what}: mean {x.mean():.6g} vs expected {expected:.6g} "
        f"({err / se:+.2f} standard errors, n={x.size})")


def assert_normal_variance(sample: np.ndarray, expected: float, what: str) -> None:
    """Sample variance of normal data within Z_CRIT standard errors of ``expected``.

    For normal data (n-1) s^2 / sigma^2 is chi-square(n-1), so s^2 has standard error
    sigma^2 sqrt(2 / (n-1)); at n >= 10^4 the chi-square is normal to high accuracy.
    """
    x = np.asarray(sample, dtype=float).ravel()
    se = expected * math.sqrt(2.0 / (x.size - 1))
    err = x.var(ddof=1) - expected
    assert abs(err) <= Z_CRIT * se, (
        f"{what}: variance {x.var(ddof=1):.6g} vs expected {expected:.6g} "
        f"({err / se:+.2f} standard errors, n={x.size})")


def assert_fraction(hits: int, n: int, p: float, what: str) -> None:
    """A binomial proportion hits/n within Z_CRIT standard errors of p.

    Normal approximation to the binomial, asserted only where n p (1 - p) > 100: there the
    skewness of the count is below 0.1 and the one-term Edgeworth correction keeps the
    6-sd tail probability within a factor of 5 of 2e-9, so still far below 1e-6.
    """
    se = math.sqrt(p * (1.0 - p) / n)
    assert n * p * (1.0 - p) > 100, f"{what}: too few trials for the normal approximation"
    err = hits / n - p
    assert abs(err) <= Z_CRIT * se, (
        f"{what}: fraction {hits / n:.6g} vs expected {p:.6g} "
        f"({err / se:+.2f} standard errors, n={n})")


def zone_log_paths(eps: np.ndarray, mu: np.ndarray, sigma: np.ndarray, model: int,
                   kappa: float = 0.5) -> np.ndarray:
    """Zone log indices (S, M+1, Z) from the Cython kernel for shocks ``eps`` (S, M, Z)."""
    S, M, Z = eps.shape
    out = np.empty((S, M + 1, Z))
    regime = np.array([0.0, 0.0, 0.1, 0.1, 1.0, 0.5])  # unused by models 0 and 1
    _core.price_paths(eps, np.full((S, M + 1), 0.5), mu, sigma, model, kappa, regime, out)
    return out


# --------------------------------------------------------------------------- GBM

GBM_MU = np.array([0.06, 0.03, -0.02])
GBM_SIGMA = np.array([0.10, 0.20, 0.30])


def test_gbm_one_month_log_returns() -> None:
    """Monthly log returns are N((mu - sigma^2/2)/12, sigma^2/12), zone by zone.

    n = 2.4e6 returns per zone: the mean's standard error is sigma/sqrt(12 n) = 5.6e-5 for
    the widest zone, while dropping the Ito term would shift the mean by sigma^2/24 =
    3.75e-3 (67 standard errors).
    """
    S, M = 20_000, 120
    paths = zone_log_paths(rng(1).standard_normal((S, M, 3)), GBM_MU, GBM_SIGMA, 0)
    returns = np.diff(paths, axis=1)
    for z in range(3):
        mean = (GBM_MU[z] - 0.5 * GBM_SIGMA[z] ** 2) * DT
        var = GBM_SIGMA[z] ** 2 * DT
        assert_mean(returns[:, :, z], mean, f"zone {z} monthly log return", sd=math.sqrt(var))
        assert_normal_variance(returns[:, :, z], var, f"zone {z} monthly log return")


def test_gbm_expected_index_at_ten_years() -> None:
    """E[exp(log I(t))] = exp(mu t) at t = 10 years.

    I(10) is lognormal with Var/mean^2 = exp(sigma^2 t) - 1 (1.46 for sigma = 0.3); with
    n = 20,000 the relative standard error is at most 0.9 %, against the 57 % error of a
    GBM without the Ito term. The sample mean of a lognormal with this skewness (5.4) is
    close to normal at this n (skewness of the mean 0.04), so the 6-sd bound holds.
    """
    S, M = 20_000, 120
    paths = zone_log_paths(rng(2).standard_normal((S, M, 3)), GBM_MU, GBM_SIGMA, 0)
    t = M * DT
    for z in range(3):
        assert_mean(np.exp(paths[:, M, z]), math.exp(GBM_MU[z] * t), f"zone {z} E[I(10y)]")


# --------------------------------------------------------------------------- mean reversion


@pytest.mark.parametrize("kappa", [0.2, 1.5])
def test_mean_reversion_expected_index(kappa: float) -> None:
    """E[I(t)] = exp(mu t) at 1, 3, 6 and 10 years, and Var(log I(t)) is the OU variance.

    log I(t) = mu t + X(t) - Var(X(t))/2 with X an exact OU deviation, so log I(t) is
    normal with variance sigma^2 (1 - exp(-2 kappa t)) / (2 kappa): the mean of I(t) is
    a lognormal mean (relative sd below 0.32 here, n = 20,000 per zone) and the variance
    check uses the normal-theory standard error.
    """
    S, M = 20_000, 120
    paths = zone_log_paths(rng(3).standard_normal((S, M, 3)), GBM_MU, GBM_SIGMA, 1, kappa)
    for years in (1, 3, 6, 10):
        t, m = float(years), 12 * years
        for z in range(3):
            what = f"kappa {kappa} zone {z} t={years}y"
            assert_mean(np.exp(paths[:, m, z]), math.exp(GBM_MU[z] * t), f"{what} E[I]")
            ou_var = GBM_SIGMA[z] ** 2 * (1.0 - math.exp(-2.0 * kappa * t)) / (2.0 * kappa)
            assert_normal_variance(paths[:, m, z], ou_var, f"{what} Var(log I)")


# --------------------------------------------------------------------------- zone correlation

CORRELATIONS = [
    {"green_orange": 0.7, "green_red": 0.5, "orange_red": 0.8},
    {"green_orange": 0.3, "green_red": -0.4, "orange_red": 0.2},
    {"green_orange": 1.0, "green_red": 1.0, "orange_red": 1.0},  # singular, still PSD
]


@pytest.mark.parametrize("corr", CORRELATIONS, ids=["preset", "mixed_signs", "singular"])
def test_zone_return_correlation(corr: dict) -> None:
    """Monthly log-return increments across zones have the configured correlation.

    price_path_simulator.simulate (the correlate kernel with correlation_factor(cfg), then GBM)
    on 2,000 scenarios x 120 months gives n = 240,000 increments; the sample correlation's
    standard error is (1 - rho^2)/sqrt(n) <= 0.002, so the 0.02 tolerance is 10 standard
    errors (probability of a false alarm < 1e-20), while it still catches a missing or
    transposed factor (which moves some entry by >= 0.1).
    """
    cfg = load_config("100m", {"price_path": {
        "model_type": "gbm", "correlation_matrix": corr,
        "volatility": {"green": 0.12, "orange": 0.2, "red": 0.3}}})
    paths = price_path_simulator.simulate(cfg, 4, 0, 2_000, _core)
    returns = np.diff(paths.zone_log, axis=1).reshape(-1, 3)
    empirical = np.corrcoef(returns, rowvar=False)
    target = cfg.price_path.correlation_matrix.matrix()
    np.testing.assert_allclose(empirical, target, atol=0.02)


# --------------------------------------------------------------------------- suburb walk


def test_suburb_walk_is_a_martingale_with_linear_variance() -> None:
    """levels / exp(zone_log of the suburb's zone) = exp(W), E = 1, Var(W(t)) = sigma^2 t.

    2,000 scenarios x 30 suburbs = 60,000 independent walks per date. With sigma = 0.2
    exp(W(10y)) has relative sd sqrt(exp(0.4) - 1) = 0.70, so the mean's standard error
    is 0.0029, against the 22 % bias of a walk without the Ito term.
    """
    S, M, sigma = 2_000, 120, 0.2
    g = rng(5)
    zone_of = np.repeat(np.arange(3, dtype=np.intc), 10)
    zone_log = zone_log_paths(g.standard_normal((S, M, 3)), GBM_MU, GBM_SIGMA, 0)
    levels = np.empty((S, M + 1, zone_of.size))
    _core.index_levels(zone_log, g.standard_normal((S, M, zone_of.size)), zone_of, sigma,
                       np.ones((M + 1, 3)), levels)
    ratio = levels / np.exp(zone_log[:, :, zone_of])
    np.testing.assert_allclose(ratio[:, 0], 1.0, rtol=1e-12)
    for years in (1, 4, 10):
        m = 12 * years
        assert_mean(ratio[:, m], 1.0, f"E[suburb ratio] at {years}y")
        assert_normal_variance(np.log(ratio[:, m]), sigma**2 * years, f"Var(W) at {years}y")


# --------------------------------------------------------------------------- exit hazards

ZERO = {"green": 0.0, "orange": 0.0, "red": 0.0}
EXIT_SCENARIOS = 30  # x ~1,960 loans of $50k in a $100M fund = ~59,000 loans


def flat_world_ledger(exit_overrides: dict, default_rates: dict, seed: int):
    """Engine-style run of a world where nothing moves: (cfg, loans made at month 0).

    No price drift and no volatility anywhere (zone, suburb, home), so every home keeps
    its value and each loan faces constant hazards; the whole book is originated at
    month 0 (deployment_period 0) and nothing is recycled (reinvestment_period 0).
    Loans are small so that one fund holds many of them. Returns the exit month and
    exit kind of each loan made at month 0, with its zone.
    """
    cfg = load_config("100m", {
        "deployment_period": 0, "reinvestment_period": 0,
        "avg_loan_size": 50_000, "loan_size_std_dev": 10_000, "min_loan_size": 10_000,
        "max_loan_size": 100_000,
        "appreciation_rates": ZERO, "default_rates": default_rates,
        "price_path": {"volatility": ZERO, "suburb_variation": 0.0, "property_variation": 0.0},
        "exit_simulator": {"min_hold_period": 0.0, **exit_overrides},
    })
    pool = loan_generator.generate(cfg, seed, 0, EXIT_SCENARIOS, 1, _core)
    paths = price_path_simulator.simulate(cfg, seed, 0, EXIT_SCENARIOS, _core)
    assert np.all(paths.levels == 1.0), "the flat world is not flat"
    run = exit_simulator.simulate(cfg, pool, paths, exit_simulator.static_inputs(cfg), _core)
    at0 = run.orig_month == 0
    assert not run.pool_exhausted.any()
    assert np.all(run.orig_month[run.orig_month >= 0] == 0), "loans made after month 0"
    return cfg, run.exit_month[at0], run.exit_type[at0], pool.zone[at0]


def test_voluntary_exit_survival_and_cause_split() -> None:
    """Survival after t months is exp(-h t / 12); sale : refinance = 0.6 : 0.4.

    h = 1 a year. With ~59,000 loans the binomial standard error is <= 0.0021, while a
    per-month probability h/12 instead of 1 - exp(-h/12) would be off by 0.0116 at
    t = 24 (> 7 standard errors). refinance_ltv_threshold 0 keeps the refinance
    multiplier off; at zero gain the sale multiplier does nothing.
    """
    h = 1.0
    _, month, kind, _ = flat_world_ledger(
        {"base_exit_rate": h, "sale_weight": 0.6, "refinance_weight": 0.4,
         "refinance_ltv_threshold": 0.0}, ZERO, seed=6)
    n = month.size
    assert n > 50_000
    assert set(np.unique(kind).tolist()) <= {ExitKind.SALE, ExitKind.REFI, ExitKind.MATURITY}
    for t in (1, 6, 12, 24, 48):
        assert_fraction(int((month > t).sum()), n, math.exp(-h * t / 12.0), f"alive after {t}m")
    voluntary = (kind == ExitKind.SALE) | (kind == ExitKind.REFI)
    assert_fraction(int((kind == ExitKind.SALE).sum()), int(voluntary.sum()), 0.6, "sale share")


@pytest.mark.parametrize("rates", [
    {"green": 0.2, "orange": 0.2, "red": 0.2},
    {"green": 0.1, "orange": 0.25, "red": 0.5},
], ids=["equal", "by_zone"])
def test_default_only_hazard(rates: dict) -> None:
    """With no voluntary exits, the share defaulted by year t is 1 - exp(-d t), per zone.

    Each zone holds >= 20 % of ~59,000 loans, so the binomial standard error is below
    0.005 in every check.
    """
    _, month, kind, zone = flat_world_ledger({"base_exit_rate": 0.0}, rates, seed=7)
    assert set(np.unique(kind).tolist()) <= {ExitKind.DEFAULT, ExitKind.MATURITY}
    for z, name in enumerate(("green", "orange", "red")):
        d = rates[name]
        in_zone = zone == z
        for years in (1, 3, 6, 9) if d < 0.4 else (1, 2, 4, 6):
            hits = int(((kind == ExitKind.DEFAULT) & (month <= 12 * years) & in_zone).sum())
            assert_fraction(hits, int(in_zone.sum()), 1.0 - math.exp(-d * years),
                            f"{name} defaulted by year {years}")


# --------------------------------------------------------------------------- truncated normal


def truncated_normal_moments(mean: float, sd: float, lo: float, hi: float) -> tuple[float, float]:
    """Mean and standard deviation of Normal(mean, sd) truncated to [lo, hi] (via math.erf)."""
    a, b = (lo - mean) / sd, (hi - mean) / sd

    def pdf(x: float) -> float:
        return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    mass = cdf(b) - cdf(a)
    ratio = (pdf(a) - pdf(b)) / mass
    var = 1.0 + (a * pdf(a) - b * pdf(b)) / mass - ratio**2
    return mean + sd * ratio, sd * math.sqrt(var)


TRUNCATIONS = {  # name: (mean, sd, lo, hi)
    "wide_asymmetric": (0.0, 1.0, -0.5, 2.0),
    "wide_ltv_like": (0.40, 0.10, 0.15, 0.45),
    "narrow": (0.0, 1.0, 0.5, 0.85),
    "narrow_in_tail": (250_000.0, 50_000.0, 350_000.0, 365_000.0),
}


@pytest.mark.parametrize("case", list(TRUNCATIONS))
def test_truncated_normal(case: str) -> None:
    """All draws lie in [lo, hi] and their mean is the truncated-normal mean.

    n = 10^6 draws: the standard error is sd_trunc / 1000, so the 6-sd bound is
    tight enough to separate a truncated normal from clipping (which piles mass on the
    bounds) or, in the narrow cases (hi - lo < 0.4 sd, the uniform-proposal branch),
    from a plain uniform on [lo, hi] (off by about 70 standard errors in the "narrow"
    case and more in the tail case).
    """
    mean, sd, lo, hi = TRUNCATIONS[case]
    assert (hi - lo < 0.4 * sd) == case.startswith("narrow"), "case does not take its branch"
    x = reference_pools.truncated_normal(rng(8), mean, sd, lo, hi, 1_000_000)
    assert x.shape == (1_000_000,)
    assert np.all((x >= lo) & (x <= hi))
    expected, sd_trunc = truncated_normal_moments(mean, sd, lo, hi)
    assert_mean(x, expected, f"{case} truncated mean", sd=sd_trunc)
    assert abs(x.std() - sd_trunc) <= 0.01 * sd_trunc, f"{case}: sd {x.std()} vs {sd_trunc}"
