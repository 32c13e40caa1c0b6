"""Issue 17's switch to the counter-based streams (``equihome.model.streams``).

* the drawing kernels (``_core.draw_pools``, the price stage's fills) equal their numpy
  twins bit for bit, draw from the documented streams, and are prefix-stable (a longer pool
  extends a shorter one) and scenario-local (a scenario drawn alone equals its row);
* the result records its scheme;
* the new streams give the old streams' distribution of the preset's LP IRR and LP TVPI:
  the same numbers are not expected (they are sampled differently), the same law is.
"""

from __future__ import annotations

import json
import math

import fund_irr
import numpy as np
import pytest

import equihome
from equihome import _core
from equihome.io.config import load_config
from equihome.model import guardrail_monitor, loan_generator, price_path_simulator, reference, streams
from equihome.model.layout import zone_array
from equihome.model.streams import Purpose
from equihome.run import engine

SEED = 20240917
LAWS = {  # [mean, sd, lo, hi] of the advance ($) and the LTV
    "wide": [[300_000.0, 120_000.0, 80_000.0, 900_000.0], [0.3, 0.1, 0.1, 0.6]],
    # LTV interval 0.05 wide < 0.4 sd: the uniform-proposal branch; advances far in the tail
    "narrow": [[250_000.0, 50_000.0, 350_000.0, 365_000.0], [0.3, 0.2, 0.25, 0.3]],
    "degenerate": [[100_000.0, 0.0, 0.0, 1e6], [0.3, 0.1, 0.4, 0.4]],  # no draw at all
}
ALLOC = np.array([0.5, 0.3, 0.2])
N_SUB = 4


def pools(kernels, seed: int, start: int, S: int, block: int, n_blocks: int,
          laws: list) -> dict[str, np.ndarray]:
    """draw_pools of ``kernels`` into freshly poisoned outputs, returned by name."""
    K = block * n_blocks
    out = {name: np.full((S, K), -7.0) for name in ("size", "ltv", "e_exit", "u_cause")}
    out["zone"] = np.full((S, K), -7, dtype=np.intc)
    out["suburb"] = np.full((S, K), -7, dtype=np.intc)
    out["z_home"] = np.full((S, K, 2), -7.0)
    kernels.draw_pools(seed, start, block, np.array(laws), ALLOC, N_SUB, out["size"], out["ltv"],
                       out["zone"], out["suburb"], out["e_exit"], out["u_cause"], out["z_home"])
    return out


@pytest.mark.parametrize("law", list(LAWS))
def test_draw_pools_equal_the_numpy_twin_bit_for_bit(law):
    c = pools(_core, SEED, 5, 3, 64, 2, LAWS[law])
    r = pools(reference, SEED, 5, 3, 64, 2, LAWS[law])
    for name in c:
        assert np.array_equal(c[name], r[name]), name
    (mean, sd, lo, hi), (lmean, lsd, llo, lhi) = LAWS[law]
    assert np.all((c["size"] >= lo) & (c["size"] <= hi))
    assert np.all((c["ltv"] >= llo) & (c["ltv"] <= lhi))
    assert np.all(c["suburb"] // N_SUB == c["zone"]) and np.all(c["e_exit"] > 0.0)


def test_draw_pools_read_the_documented_streams():
    """Block b of scenario s: kind k's numbers are the start of stream (seed, s, k, b)."""
    B, s, b = 64, 9, 1
    c = pools(_core, SEED, s, 1, B, 2, LAWS["wide"])
    sl = slice(b * B, (b + 1) * B)

    def gen(purpose: Purpose) -> np.random.Generator:
        return streams.generator(SEED, s, purpose, b)

    assert np.array_equal(c["e_exit"][0, sl], gen(Purpose.EXIT_RACE).standard_exponential(B))
    assert np.array_equal(c["u_cause"][0, sl], gen(Purpose.EXIT_CAUSE).random(B))
    assert np.array_equal(c["z_home"][0, sl].ravel(), gen(Purpose.HOME_WALK).standard_normal(2 * B))
    u_sub = gen(Purpose.LOAN_SUBURB).random(B)
    assert np.array_equal(c["suburb"][0, sl] % N_SUB, np.minimum((u_sub * N_SUB).astype(int), 3))
    z = gen(Purpose.LOAN_SIZE).standard_normal(B)  # accepted first proposals stay in place
    first = 300_000.0 + 120_000.0 * z
    ok = (first >= 80_000.0) & (first <= 900_000.0)
    assert ok.mean() > 0.9 and np.array_equal(c["size"][0, sl][ok], first[ok])


def test_a_longer_pool_extends_a_shorter_one_unchanged():
    short = pools(_core, SEED, 0, 4, 64, 1, LAWS["narrow"])
    long = pools(_core, SEED, 0, 4, 64, 4, LAWS["narrow"])
    for name, v in short.items():
        assert np.array_equal(long[name][:, :64], v), name


def test_a_scenario_drawn_alone_equals_its_row_in_a_batch():
    batch = pools(_core, SEED, 100, 6, 64, 1, LAWS["wide"])
    alone = pools(_core, SEED, 104, 1, 64, 1, LAWS["wide"])
    for name, v in alone.items():
        assert np.array_equal(batch[name][4:5], v), name


def test_draw_pools_refuse_a_block_that_does_not_divide_the_pool():
    f, i = np.zeros((1, 128)), np.zeros((1, 128), dtype=np.intc)
    for kernels in (_core, reference):
        with pytest.raises(ValueError, match=r"block: must be a positive divisor of the pool "
                                             r"length 128, got 48"):
            kernels.draw_pools(SEED, 0, 48, np.array(LAWS["wide"]), ALLOC, N_SUB, f, f.copy(),
                               i, i.copy(), f.copy(), f.copy(), np.zeros((1, 128, 2)))


def test_the_engine_stages_agree_with_the_reference_kernels():
    """The loan and price stages as the engine calls them, Cython vs reference kernels."""
    cfg = load_config("100m", {"price_path": {"model_type": "regime_switching"}})
    c_pool = loan_generator.generate(cfg, SEED, 17, 20, 1, _core)
    r_pool = loan_generator.generate(cfg, SEED, 17, 20, 1, reference)
    for name in vars(c_pool):
        assert np.array_equal(getattr(c_pool, name), getattr(r_pool, name)), name
    c_paths = price_path_simulator.simulate(cfg, SEED, 17, 20, _core)
    r_paths = price_path_simulator.simulate(cfg, SEED, 17, 20, reference)
    np.testing.assert_allclose(c_paths.zone_log, r_paths.zone_log, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c_paths.levels, r_paths.levels, rtol=1e-10)
    assert np.isin(c_pool.zone, np.flatnonzero(zone_array(cfg.zone_allocations) > 0)).all()


def test_the_result_records_its_stream_scheme():
    r = equihome.simulate("100m", num_simulations=8, seed=1)
    assert r.data["rng"] == streams.SCHEME == "philox4x32-10-v1"
    assert json.loads(r.to_json())["rng"] == "philox4x32-10-v1"


# --------------------------------------------------------------------------- old vs new law

# The old streams' distribution, recorded before the switch: on commit 0fa354c (branch
# issue17-rng after merging main at 3b8ecd3; its engine was main's: SeedSequence(seed,
# spawn_key=(i, purpose)) + PCG64 per scenario), by
#     r = equihome.simulate("100m", num_simulations=20000, seed=12345)
#     v = r.scenarios[m][np.isfinite(r.scenarios[m])]
#     n, mean, std(ddof=1), np.percentile(v, [5, 25, 50, 75, 95])
OLD_N = 20_000
OLD = {
    "lp_irr": {"n": 20_000, "mean": 0.04820231669761559, "std": 0.029997347094789614,
               "p": [0.004005479661384626, 0.025015197641778064, 0.045935191188450686,
                     0.07138415817243593, 0.09636302554088266]},
    "lp_tvpi": {"n": 20_000, "mean": 1.4146304284510287, "std": 0.26920468137272907,
                "p": [1.030497938949712, 1.2013327013578685, 1.3886287298377256,
                      1.62570079112169, 1.8391916089756604]},
}
PERCENTILES = [5, 25, 50, 75, 95]
Z_LIMIT = 4.0
BOOTSTRAP = 400


@pytest.fixture(scope="module")
def new_run() -> equihome.SimulationResult:
    return equihome.simulate("100m", num_simulations=OLD_N, seed=12345)


@pytest.mark.parametrize("metric", list(OLD))
def test_new_streams_give_the_old_distribution(new_run, metric):
    """Mean and P5/P25/P50/P75/P95 of the new run within Z_LIMIT = 4 combined standard errors
    of the old run's (independent samples of the same law if the switch is right).

    Mean: the standard error of the difference is sqrt(s_old^2/n_old + s_new^2/n_new).
    Percentiles: the standard error of one sample's percentile is estimated by bootstrap
    (BOOTSTRAP = 400 resamples of the new run, fixed generator: its own relative error is
    about 1/sqrt(2 x 400) = 3.5 %); the old sample, of the same size and (under the null)
    the same law, has the same error, so the difference has sqrt(2) times it. Five
    percentiles and a mean per metric at 4 standard errors: a false alarm has probability
    below 12 x 6.3e-5 < 1e-3; a shift of the law by a quarter of an old standard error
    (0.75 % of IRR) is ~18 standard errors of the mean and fails.
    """
    v = np.asarray(new_run.scenarios[metric])
    v = v[np.isfinite(v)]
    old = OLD[metric]
    assert v.size >= 0.999 * OLD_N and old["n"] >= 0.999 * OLD_N
    se = math.sqrt(old["std"] ** 2 / old["n"] + v.var(ddof=1) / v.size)
    assert abs(v.mean() - old["mean"]) <= Z_LIMIT * se, (
        f"{metric} mean: new {v.mean():.6g}, old {old['mean']:.6g}, {Z_LIMIT} se = {Z_LIMIT * se:.3g}")
    assert abs(v.std(ddof=1) / old["std"] - 1.0) < 0.05, f"{metric} std"
    rng = np.random.Generator(np.random.PCG64(7))
    boot = np.percentile(v[rng.integers(0, v.size, (BOOTSTRAP, v.size))], PERCENTILES, axis=1)
    se_p = boot.std(axis=1, ddof=1) * math.sqrt(2.0)
    new_p = np.percentile(v, PERCENTILES)
    for q, a, b, e in zip(PERCENTILES, new_p, old["p"], se_p, strict=True):
        assert abs(a - b) <= Z_LIMIT * e, (
            f"{metric} P{q}: new {a:.6g}, old {b:.6g}, {Z_LIMIT} se = {Z_LIMIT * e:.3g}")


# --------------------------------------------------------------------------- moved stages


def test_pool_metrics_cython_equals_reference_and_the_hand_count():
    """The per-scenario pool reductions (metrics stage) on a hand-made pool, both kernels:
    loans 0 and 2 made (400k lost 100k, sale after 24 months; 100k reinvested, default
    after 6), loan 1 never made."""
    size = np.array([[400_000.0, 250_000.0, 100_000.0]])
    orig, receipt = np.array([[0, -1, 12]], np.intc), np.array([[24, -1, 18]], np.intc)
    kind = np.array([[1, 0, 3]], np.int8)
    args = (size, orig, receipt, kind, np.array([[0, 0, 1]], np.int8),
            np.array([[300_000.0, 0.0, 120_000.0]]))
    want = [400_000.0 + 100_000.0, 100_000.0, 400_000.0 * 2.0 + 100_000.0 * 0.5, 2.0, 1.0]
    for kernels in (_core, reference):
        sums, counts = np.full((1, 5), -1.0), np.full((1, 6), -1, np.int64)
        kernels.pool_metrics(*args, sums, counts)
        assert sums[0].tolist() == want and counts[0].tolist() == [1, 1, 0, 1, 0, 0]


def test_pool_metrics_agree_on_an_engine_chunk():
    plan = engine.make_plan("100m", num_simulations=12, seed=SEED)
    st = engine.compute_chunk(plan, 0, 12)
    r = st.run
    outs = []
    for kernels in (_core, reference):
        sums, counts = np.empty((12, 5)), np.empty((12, 6), np.int64)
        kernels.pool_metrics(st.pool.size, r.orig_month, r.receipt_month, r.exit_type,
                             r.reinvested, r.proceeds, sums, counts)
        outs.append((sums, counts))
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])
    assert (outs[0][1].sum(axis=1) == st.pool.size.shape[1]).all()


def test_loan_stats_cython_equals_reference_and_the_hand_count():
    """The guardrails' per-scenario loan facts (metrics stage) on a hand-made pool, both
    kernels: loan 1 (the largest, the highest LTV) was never made and counts nowhere; loan 2 is
    a junior lien (senior 0.3 of value) and was force-liquidated."""
    args = (np.array([[300_000.0, 900_000.0, 200_000.0, 100_000.0]]),
            np.array([[0.5, 0.9, 0.6, 0.7]]), np.array([[0.55, 2.0, -0.1, 0.4]]),
            np.array([0.0, 0.0, 0.3, 0.0]), 0.95, np.array([[0, 2, 1, 0]], np.intc),
            np.array([[2, 1, 2, 0]], np.intc), np.array([[0, -1, 3, 7]], np.intc),
            np.array([[1, 0, 5, 2]], np.int8))
    for kernels in (_core, reference):
        peaks, zmax, zsum, gsum = (np.full((1, n), -1.0) for n in (5, 3, 3, 3))
        kernels.loan_stats(*args, peaks, zmax, zsum, gsum)
        assert peaks[0].tolist() == [0.7, 0.55, 300_000.0, (0.3 + 0.6) / 0.95, 200_000.0]
        assert zmax[0].tolist() == [300_000.0, 200_000.0, 0.0]
        assert zsum[0].tolist() == [400_000.0, 200_000.0, 0.0]
        assert gsum[0].tolist() == [100_000.0, 0.0, 500_000.0]
    with pytest.raises(ValueError, match="loan_stats: cltv_div must be positive, got 0.0"):
        _core.loan_stats(*args[:4], 0.0, *args[5:], peaks, zmax, zsum, gsum)


@pytest.mark.parametrize("overrides", [
    {"contract": {"type": "interest_plus_share", "lien_position": 2, "senior_balance_ratio": 0.4,
                  "junior_lien_share": 0.5}, "share_depreciation": True},
    {"fund_size": 250_000_000, "deployment_period": 5,
     "portfolio": {"loans": "examples/loan_tape.csv", "as_of": "2025-06",
                   "called_to_date": 205_000_000, "cash": 3_000_000}},
])
def test_loan_stats_agree_on_an_engine_chunk(overrides):
    """A junior-lien fund with depreciation sharing, and the sample book (its loans grouped by
    their real suburbs, after the model's): the engine's inputs give the same facts, bit for bit."""
    plan = engine.make_plan(load_config("100m", overrides), num_simulations=6, seed=SEED)
    st = engine.compute_chunk(plan, 0, 6)
    got = [guardrail_monitor.loan_stats(plan.cfg, st.pool, st.run.orig_month, st.run.exit_type,
                                        kernels, plan.book) for kernels in (_core, reference)]
    assert got[0].keys() == got[1].keys()
    for name in got[0]:
        assert np.array_equal(got[0][name], got[1][name]), name
    assert (got[0]["deployed_by_zone"].sum(axis=1) == pytest.approx(
        got[0]["deployed_by_suburb"].sum(axis=1), rel=1e-12))
    assert (got[0]["combined_ltv"] >= got[0]["max_ltv"]).all()


def test_irr_finds_a_negative_root_beyond_the_scan_when_it_is_nearer_zero():
    """NPV = -(x - 0.127)(x - 9.44): one sign change in the running sums (-1.19888, 8.36812,
    7.36812), so one positive rate, 1/0.127 - 1 = +687 % a month; the other root, 1/9.44 - 1
    = -89.4 % a month (below -99.9 % a year, past the scan), is nearer zero. The engine used
    to stop at the scan's end and report the positive one; the oracle finds this one."""
    flows = np.array([[-0.127 * 9.44, 0.127 + 9.44, -1.0]])
    want = 1.0 / 9.44 - 1.0
    assert fund_irr.irr_monthly(flows[0].tolist()) == pytest.approx(want, rel=1e-12)
    for kernels in (_core, reference):
        rate, flag = np.empty(1), np.empty(1, np.int8)
        kernels.irr_batch(flows, 12.0, rate, flag)
        assert flag[0] == 1 and rate[0] == pytest.approx(want, rel=1e-12)


def test_irr_finds_two_roots_inside_one_scan_interval():
    """NPV = -1e4 (x - 1.001)(x - 1.004), x = 1 / (1 + r): both roots lie in the monthly
    scan's grid interval [0.99865, 1.01364]; the IRR is the one nearer zero, r = 1/1.001 - 1
    (two roots: flag 1). The scan used to see no sign change there and report none."""
    for kernels in (_core, reference):
        rate, flag = np.empty(1), np.empty(1, np.int8)
        kernels.irr_batch(np.array([[-10_050.04, 20_050.0, -10_000.0]]), 12.0, rate, flag)
        assert flag[0] == 1 and rate[0] == pytest.approx(1.0 / 1.001 - 1.0, rel=1e-9)
