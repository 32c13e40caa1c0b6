"""The Cython kernels (``equihome._core``) against their numpy twins (``equihome.model.reference``).

Both modules are fed identical inputs -- random ones drawn from seeded generators, and
ones the engine itself produces -- and write into separate, pre-poisoned output arrays.
Integer outputs must be identical; floating-point outputs must agree to rtol 1e-10 (the
two sides do the same arithmetic in the same order, up to libm and numpy rounding
``exp``/``pow`` differently in the last place).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from equihome import _core
from equihome.io.config import FundConfig, load_config
from equihome.model import exit_simulator, leverage, loan_generator, price_path_simulator, reference
from equihome.model.layout import COL, LEDGER_COLUMNS, LEV, LEVER_ROWS, ExitKind
from equihome.model.waterfall_engine import pref_growth

RTOL = 1e-10
ATOL_LOG = 1e-12   # log indices and per-month rates: O(1) numbers, some exactly 0
ATOL_USD = 1e-6    # dollar arrays
POISON_F = -9.87654321e300  # written into float outputs before a call: must be overwritten
POISON_I = -77              # the same for integer outputs
SEEDS = [0, 1, 2]

# --------------------------------------------------------------------------- helpers


def rng(seed: int, salt: int = 0) -> np.random.Generator:
    """A seeded generator; ``salt`` separates the streams of different tests."""
    return np.random.Generator(np.random.PCG64([seed, salt]))


def poisoned(shape, dtype=float) -> np.ndarray:
    """An output array filled with a sentinel that no kernel would write."""
    return np.full(shape, POISON_F if np.dtype(dtype).kind == "f" else POISON_I, dtype=dtype)


def run_both(name: str, args: tuple, make_outputs: Callable[[], tuple]) -> tuple[tuple, tuple]:
    """Call kernel ``name`` of both modules on copies of ``args``; return both output tuples.

    Each module gets its own copy of every input array (so neither can see the other's
    side effects) and its own freshly poisoned outputs.
    """
    results = []
    for module in (_core, reference):
        inputs = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
        outputs = make_outputs()
        getattr(module, name)(*inputs, *outputs)
        results.append(outputs)
    return results[0], results[1]


def assert_no_poison(*arrays: np.ndarray) -> None:
    """Every element was written by the kernel (no sentinel left behind)."""
    for a in arrays:
        sentinel = POISON_F if a.dtype.kind == "f" else POISON_I
        assert not np.any(a == sentinel), "kernel left part of an output unwritten"


def assert_same_floats(c: np.ndarray, r: np.ndarray, atol: float, what: str) -> None:
    """Cython and reference float outputs agree to RTOL/atol (NaNs in the same places)."""
    assert c.shape == r.shape, what
    np.testing.assert_allclose(c, r, rtol=RTOL, atol=atol, err_msg=what)


def assert_same_ints(c: np.ndarray, r: np.ndarray, what: str) -> None:
    """Cython and reference integer outputs are identical."""
    assert c.dtype == r.dtype, what
    if not np.array_equal(c, r):
        idx = np.argwhere(c != r)[:5]
        detail = [(tuple(i), c[tuple(i)], r[tuple(i)]) for i in idx]
        pytest.fail(f"{what}: integer outputs differ at (index, cython, reference) {detail}")


# --------------------------------------------------------------------------- price paths


def price_path_inputs(seed: int, S: int = 6, M: int = 72, Z: int = 3) -> dict:
    """Random inputs of price_paths: correlated shocks, uniforms, drifts, vols, regime.

    Monthly regime switch probabilities are large so that the chain switches often.
    """
    g = rng(seed, 1)
    a = g.standard_normal((Z, Z))
    chol = np.linalg.cholesky(a @ a.T + Z * np.eye(Z))
    chol /= np.sqrt((chol**2).sum(axis=1))[:, None]
    eps = np.ascontiguousarray(g.standard_normal((S, M, Z)) @ chol.T)
    to_bear, to_bull = g.uniform(0.05, 0.3, 2)
    pi_bear = to_bear / (to_bear + to_bull)
    bull, bear = g.uniform(0.0, 0.1), g.uniform(-0.1, 0.0)
    mean = (1 - pi_bear) * bull + pi_bear * bear
    return dict(
        eps=eps,
        u_regime=g.random((S, M + 1)),
        mu=g.uniform(-0.05, 0.12, Z),
        sigma=g.uniform(0.0, 0.35, Z),
        kappa=float(g.uniform(0.05, 3.0)),
        regime=np.array([bull - mean, bear - mean, to_bear, to_bull, g.uniform(1.0, 2.5), pi_bear]),
    )


@pytest.mark.parametrize("model", [0, 1, 2], ids=["gbm", "mean_reversion", "regime_switching"])
@pytest.mark.parametrize("seed", SEEDS)
def test_price_paths_agree(model: int, seed: int) -> None:
    x = price_path_inputs(seed)
    S, M, Z = x["eps"].shape
    args = (x["eps"], x["u_regime"], x["mu"], x["sigma"], model, x["kappa"], x["regime"])
    (c,), (r,) = run_both("price_paths", args, lambda: (poisoned((S, M + 1, Z)),))
    assert_no_poison(c, r)
    assert np.all(c[:, 0, :] == 0.0)
    assert_same_floats(c, r, ATOL_LOG, f"price_paths model {model}")


def test_price_paths_regime_chain_switches() -> None:
    """The regime inputs above make the bear multiplier visible (guards the test's power)."""
    x = price_path_inputs(0)
    S, M, Z = x["eps"].shape
    args = (x["eps"], x["u_regime"], x["mu"], x["sigma"], 2, x["kappa"], x["regime"])
    (c,), _ = run_both("price_paths", args, lambda: (poisoned((S, M + 1, Z)),))
    (g,), _ = run_both("price_paths", args[:4] + (0,) + args[5:], lambda: (poisoned((S, M + 1, Z)),))
    assert not np.allclose(c, g), "regime switching produced the plain GBM path"


# --------------------------------------------------------------------------- index levels


def index_level_inputs(seed: int, S: int = 5, M: int = 60, Z: int = 3, J: int = 12) -> dict:
    """Random zone log paths, suburb shocks, an arbitrary suburb->zone map and a walk vol."""
    g = rng(seed, 2)
    zone_log = np.cumsum(0.05 * g.standard_normal((S, M + 1, Z)), axis=1)
    zone_log[:, 0, :] = g.normal(0.0, 0.01, (S, Z))  # the kernel must not assume 0 at month 0
    return dict(
        zone_log=np.ascontiguousarray(zone_log),
        sub_eps=g.standard_normal((S, M, J)),
        zone_of=g.integers(0, Z, J).astype(np.intc),
        sigma_sub=float(g.uniform(0.0, 0.3)),
        shock=g.uniform(0.4, 1.2, (M + 1, Z)),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_index_levels_agree(seed: int) -> None:
    x = index_level_inputs(seed)
    S, M, J = x["sub_eps"].shape
    args = (x["zone_log"], x["sub_eps"], x["zone_of"], x["sigma_sub"], x["shock"])
    (c,), (r,) = run_both("index_levels", args, lambda: (poisoned((S, M + 1, J)),))
    assert_no_poison(c, r)
    assert np.all(c > 0.0)
    assert_same_floats(c, r, 0.0, "index_levels")


def test_index_levels_zero_walk_is_zone_index() -> None:
    """With sigma_sub = 0 both kernels return exactly exp(zone_log) of the suburb's zone, times
    the shock overlay (ones: the very same bits)."""
    x = index_level_inputs(7)
    S, M, J = x["sub_eps"].shape
    Z = x["zone_log"].shape[2]
    for shock in (np.ones((M + 1, Z)), x["shock"]):
        args = (x["zone_log"], x["sub_eps"], x["zone_of"], 0.0, shock)
        (c,), (r,) = run_both("index_levels", args, lambda: (poisoned((S, M + 1, J)),))
        expected = np.exp(x["zone_log"][:, :, x["zone_of"]]) * shock[:, x["zone_of"]]
        assert_same_floats(c, expected, 0.0, "cython vs exp(zone_log) x shock")
        assert_same_floats(r, expected, 0.0, "reference vs exp(zone_log) x shock")


# --------------------------------------------------------------------------- assign zones


def assign_zone_inputs(seed: int, case: str, S: int = 6, K: int = 300) -> dict:
    """Pool sizes, suburb uniforms and a zone allocation for one named case.

    Cases: ``random`` (3 zones), ``five_zones``, ``zero_zone`` (a zone with no
    allocation), ``ties`` and ``three_ties`` (equal sizes and shares of 4 or 3 zones, so
    ties decide; 3 zones, all allocated, take the kernel's three-zone path),
    ``edge_uniforms`` (suburb uniforms at 0 and just below 1).
    """
    g = rng(seed, 3)
    size = g.uniform(5e4, 1e6, (S, K))
    u = g.random((S, K))
    alloc = g.dirichlet(np.ones(3))
    n_sub = int(g.integers(1, 12))
    if case == "five_zones":
        alloc = g.dirichlet(np.ones(5))
    elif case == "zero_zone":
        alloc = np.array([0.7, 0.0, 0.3])
    elif case in ("ties", "three_ties"):
        size = np.full((S, K), 250_000.0)
        alloc = np.full(4, 0.25) if case == "ties" else np.full(3, 1.0 / 3.0)
    elif case == "edge_uniforms":
        u[:, ::3] = 0.0
        u[:, 1::3] = np.nextafter(1.0, 0.0)
    return dict(size=size, u_suburb=u, alloc=alloc, n_sub=n_sub)


@pytest.mark.parametrize("case", ["random", "five_zones", "zero_zone", "ties", "three_ties",
                                  "edge_uniforms"])
@pytest.mark.parametrize("seed", SEEDS)
def test_assign_zones_identical(seed: int, case: str) -> None:
    x = assign_zone_inputs(seed, case)
    S, K = x["size"].shape
    args = (x["size"], x["u_suburb"], x["alloc"], x["n_sub"])

    def outputs():
        return poisoned((S, K), np.intc), poisoned((S, K), np.intc)

    (cz, cs), (rz, rs) = run_both("assign_zones", args, outputs)
    assert_same_ints(cz, rz, "zone")
    assert_same_ints(cs, rs, "suburb")
    Z = x["alloc"].size
    assert cz.min() >= 0 and cz.max() < Z
    assert np.all(x["alloc"][cz] > 0.0), "a zone without allocation received a loan"
    assert np.all(cs // x["n_sub"] == cz), "suburb not inside its zone"
    deployed = np.stack([np.where(cz == z, x["size"], 0.0).sum(axis=1) for z in range(Z)], 1)
    target = x["alloc"][None, :] * x["size"].sum(axis=1, keepdims=True)
    assert np.all(np.abs(deployed - target) <= x["size"].max()), "allocation not tracked"


# --------------------------------------------------------------------------- run_ledger

SMALL_FUND = {"fund_size": 5_000_000}
LEDGER_SCENARIOS = 6
SENIOR = {"name": "senior", "type": "senior_debt", "size": 1_000_000.0, "interest_rate": 0.06,
          "priority": 1}
MEZZ = {"name": "mezz", "type": "mezzanine", "size": 500_000.0, "interest_rate": 0.11,
        "priority": 2}

LEDGER_VARIANTS: dict[str, dict] = {
    "preset": {},
    "fee_basis_invested": {"fee_engine": {"management_fee_basis": "invested_capital"}},
    "fee_basis_nav": {"fee_engine": {"management_fee_basis": "net_asset_value"}},
    "fee_schedule": {"fee_engine": {"management_fee_schedule": [0.025, 0.02, 0.015, 0.0]}},
    "origination_fee_to_fund": {"origination_fee_recipient": "fund"},
    "transaction_fees": {"fee_engine": {"acquisition_fee_rate": 0.01,
                                        "disposition_fee_rate": 0.02}},
    "share_fixed": {"appreciation_share_method": "fixed", "appreciation_share": 0.35},
    "share_tiered": {"appreciation_share_method": "tiered"},
    "share_depreciation": {"share_depreciation": True,
                           "appreciation_rates": {"green": -0.02, "orange": -0.03, "red": -0.05}},
    "share_depreciation_fixed": {"share_depreciation": True,
                                 "appreciation_share_method": "fixed"},
    "return_cap": {"annual_return_cap": 0.08},
    "two_tranches": {"tranches": [MEZZ, SENIOR]},  # listed out of priority order on purpose
    "monthly_distributions": {"distribution_frequency": "monthly"},
    "annual_distributions": {"distribution_frequency": "annual"},
    "half_reinvestment": {"reinvestment_rate": 0.5},
    "front_loaded": {"deployment_pace": "front_loaded"},
    "back_loaded": {"deployment_pace": "back_loaded"},
    "mean_reversion_prices": {"price_path": {"model_type": "mean_reversion"}},
    "regime_switching_prices": {"price_path": {"model_type": "regime_switching"}},
    "defaults_and_foreclosures": {
        "appreciation_rates": {"green": -0.08, "orange": -0.1, "red": -0.15},
        "default_rates": {"green": 0.15, "orange": 0.25, "red": 0.4},
        "exit_simulator": {"foreclosure_time": 18, "min_hold_period": 0.0},
    },
    "short_loans_maturity": {"loan_term": 3, "exit_simulator": {"min_hold_period": 0.5}},
    "short_fund_liquidation": {"fund_term": 5, "loan_term": 12, "deployment_period": 2,
                               "reinvestment_period": 3},
    "fee_arrears": {"cash_reserve_rate": 0.0,
                    "fee_engine": {"management_fee_rate": 0.1, "annual_fund_expenses": 0.1}},
    "market_stress": {"market_stress": {
        "price_shock": {"start_month": 6, "immediate": -0.1, "decline": -0.35,
                        "decline_months": 18, "recovery_months": 24,
                        "zone_severity": {"green": 0.7, "red": 1.6}},
        "hazard_multipliers": {"start_month": 6, "months": 30, "default": 4.0, "sale": 0.4,
                               "refinance": 0.2}}},
    "nav_facility_deploy": {"leverage": {"nav_facility": {"enabled": True}}},
    "nav_facility_liquidity_limit": {"cash_reserve_rate": 0.0, "leverage": {"nav_facility": {
        "enabled": True, "draw_policy": "liquidity", "limit": 400_000.0}},
        "fee_engine": {"management_fee_rate": 0.06}},
    "subscription_line": {"leverage": {"subscription_line": {"enabled": True,
                                                             "max_outstanding_months": 3}}},
    "both_facilities_covenant": {
        "share_depreciation": True, "avg_loan_ltv": 0.6, "max_ltv": 0.65,
        "tranches": [SENIOR],
        "leverage": {"nav_facility": {"enabled": True, "advance_rate": 0.35,
                                      "draw_window": [0, 6]},
                     "subscription_line": {"enabled": True, "limit_fraction": 0.3}},
        "market_stress": {"price_shock": {"start_month": 30, "immediate": -0.4,
                                          "decline": -0.5, "decline_months": 6}}},
}


def engine_inputs(overrides: dict, seed: int, n_scen: int = LEDGER_SCENARIOS):
    """Config, static inputs, loan pool and price paths built the way the engine builds them.

    Scenarios 0 .. n_scen - 1 draw from the run seed's counter-based streams, as
    ``engine.compute_chunk`` does; pools and paths come from the Cython kernels (both
    ledgers then read the very same arrays).
    """
    cfg = load_config("100m", overrides)
    static = exit_simulator.static_inputs(cfg)
    pool = loan_generator.generate(cfg, seed, 0, n_scen, 1, _core)
    paths = price_path_simulator.simulate(cfg, seed, 0, n_scen, _core)
    return cfg, static, pool, paths


def poisoned_ledger_run(cfg: FundConfig, S: int, K: int) -> exit_simulator.LedgerRun:
    """run_ledger's outputs, shaped and typed by the production builder, every cell poisoned."""
    out = exit_simulator.LedgerRun.empty(S, K, len(cfg.tranches), cfg.months + 1,
                                         levered=leverage.active(cfg))
    for a in vars(out).values():
        if a.flags.writeable:  # without a facility its rows are read-only zeros
            a[...] = POISON_F if a.dtype.kind == "f" else POISON_I
    return out


def run_ledgers(overrides: dict, seed: int, n_scen: int = LEDGER_SCENARIOS):
    """Both ledgers on the same engine-built inputs: (cfg, pool, cython dict, reference dict).

    The inputs come from the production builder (``LedgerInputs.build``), each kernel set
    reading its own copy of every array, so a swapped or mislabelled argument cannot hide.
    """
    cfg, (params, tables), pool, paths = engine_inputs(overrides, seed, n_scen)
    S, K = pool.size.shape
    results = []
    for module in (_core, reference):
        inp = exit_simulator.LedgerInputs.build(tables, pool, paths.levels)
        inp = exit_simulator.LedgerInputs(**{k: v.copy() for k, v in vars(inp).items()})
        out = poisoned_ledger_run(cfg, S, K)
        module.run_ledger(dict(params), inp, out)
        results.append(vars(out))
    return cfg, pool, results[0], results[1]


def assert_ledgers_agree(c: dict, r: dict) -> None:
    """Integer ledger outputs identical, dollar outputs to rtol 1e-10, column by column."""
    for name in ("orig_month", "exit_month", "receipt_month", "exit_type", "reinvested",
                 "pool_exhausted"):
        assert_same_ints(c[name], r[name], name)
    for i, col in enumerate(LEDGER_COLUMNS):
        assert_same_floats(c["ledger"][:, i], r["ledger"][:, i], ATOL_USD, f"ledger[{col}]")
    assert_same_floats(c["debt_flows"], r["debt_flows"], ATOL_USD, "debt_flows")
    assert_same_floats(c["proceeds"], r["proceeds"], ATOL_USD, "proceeds")
    for i, row in enumerate(LEVER_ROWS):
        assert_same_floats(c["lever"][:, i], r["lever"][:, i], ATOL_USD, f"lever[{row}]")


# What each variant must visibly exercise in the Cython output (else the case tests nothing).
VARIANT_EVIDENCE: dict[str, Callable[[dict], bool]] = {
    "fee_basis_invested": lambda o: np.all(o["ledger"][:, COL["management_fees"], 0] == 0.0),
    "origination_fee_to_fund": lambda o: o["ledger"][:, COL["fee_income"]].sum() > 0.0,
    "transaction_fees": lambda o: o["ledger"][:, COL["transaction_fees"]].sum() > 0.0,
    "two_tranches": lambda o: np.all(o["debt_flows"].min(axis=2) < 0.0),
    "half_reinvestment": lambda o: o["reinvested"].sum() > 0,
    "defaults_and_foreclosures": lambda o: np.any(
        (o["exit_type"] == ExitKind.DEFAULT) & (o["receipt_month"] > o["exit_month"])),
    "short_loans_maturity": lambda o: np.any(o["exit_type"] == ExitKind.MATURITY),
    "short_fund_liquidation": lambda o: np.any(o["exit_type"] == ExitKind.LIQUIDATION),
    "fee_arrears": lambda o: o["ledger"][:, COL["unpaid_fees"]].max() > 0.0,
    "market_stress": lambda o: np.any(o["exit_type"] == ExitKind.DEFAULT),
    "nav_facility_deploy": lambda o: np.all(o["lever"][:, LEV["nav_balance"]].max(1) > 1e5),
    "nav_facility_liquidity_limit": lambda o: np.all(  # fees drawn (not only capitalised)
        (o["lever"][:, LEV["nav_draws"]] - o["lever"][:, LEV["nav_capitalised"]]).sum(1) > 1e5),
    "subscription_line": lambda o: np.all(o["lever"][:, LEV["sub_repaid"]].sum(1) > 1e5),
    "both_facilities_covenant": lambda o: np.any(o["lever"][:, LEV["covenant_breach"]] > 0)
    and np.all(o["lever"][:, LEV["sub_draws"]].sum(1) > 0),
}


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("variant", list(LEDGER_VARIANTS))
def test_run_ledger_agrees(variant: str, seed: int) -> None:
    overrides = {**SMALL_FUND, **LEDGER_VARIANTS[variant]}
    _, _, c, r = run_ledgers(overrides, seed)
    for out in (c, r):
        assert_no_poison(*out.values())
    assert np.all((c["orig_month"] >= 0).sum(axis=1) > 0), "no loans were made"
    if variant != "fee_arrears":  # there the fees eat every dollar the loans return
        assert c["ledger"][:, COL["distributions"]].sum() > 0.0
    assert_ledgers_agree(c, r)
    if variant in VARIANT_EVIDENCE:
        assert VARIANT_EVIDENCE[variant](c), f"variant {variant} did not exercise its feature"


def test_run_ledger_covers_every_exit_kind() -> None:
    """Across a stressed book every exit kind occurs, and both kernels agree on all of them."""
    overrides = {**SMALL_FUND, **LEDGER_VARIANTS["defaults_and_foreclosures"], "loan_term": 6,
                 "fund_term": 8, "exit_simulator": {"base_exit_rate": 0.3}}
    _, _, c, r = run_ledgers(overrides, 5, n_scen=8)
    assert_ledgers_agree(c, r)
    kinds = set(np.unique(c["exit_type"][c["orig_month"] >= 0]).tolist())
    assert kinds == {ExitKind.SALE, ExitKind.REFI, ExitKind.DEFAULT, ExitKind.MATURITY,
                     ExitKind.LIQUIDATION}


# --------------------------------------------------------------------------- waterfalls

CARRY = 0.2
WATERFALL_TERMS = [  # (catch_up, fee offset)
    (1.0, 0.0), (0.5, 0.0), (0.0, 0.0), (CARRY, 0.0), (1.0, 0.5), (0.5, 0.5),
]


def random_equity_flows(g: np.random.Generator, S: int = 10, N: int = 121):
    """Random monthly calls, distributions and fees (S, N).

    Calls and distributions fall in random, interleaved months; each scenario's
    distributions total 0.3x to 3x its calls, so losses, modest gains and large
    gains (deep into the split tier) all occur.
    """
    calls = np.where(g.random((S, N)) < 0.15, g.uniform(1e4, 1e6, (S, N)), 0.0)
    calls[:, 0] += g.uniform(1e5, 1e6, S)
    dist = np.where(g.random((S, N)) < 0.2, g.lognormal(0.0, 1.0, (S, N)), 0.0)
    dist[:, :6] = 0.0
    dist[:, -1] += 1e-3
    dist *= (calls.sum(axis=1) * g.uniform(0.3, 3.0, S) / dist.sum(axis=1))[:, None]
    fees = g.uniform(0.0, 2e4, (S, N))
    return calls, dist, fees


def random_deals(g: np.random.Generator, S: int, N: int, K: int = 40):
    """Random deals for the american waterfall: (orig, receipt, advance, proceeds).

    About 20 % of the pool is never made (orig = receipt = -1); made deals last
    0..N-1 months (clipped at the last month) and return 0.2x to 3x their advance.
    """
    orig = g.integers(0, N - 1, (S, K)).astype(np.intc)
    receipt = np.minimum(orig + g.integers(0, N, (S, K)), N - 1).astype(np.intc)
    made = g.random((S, K)) < 0.8
    orig[~made] = -1
    receipt[~made] = -1
    adv = g.uniform(5e4, 5e5, (S, K))
    proceeds = np.where(made, adv * g.uniform(0.2, 3.0, (S, K)), 0.0)
    return orig, receipt, adv, proceeds


def waterfall_outputs(S: int, N: int) -> Callable[[], tuple]:
    """Factory of poisoned (lp_dist, gp_carry, excess) arrays."""
    return lambda: (poisoned((S, N)), poisoned((S, N)), poisoned((S,)))


def assert_waterfalls_agree(c: tuple, r: tuple, dist: np.ndarray, lp_share: float) -> None:
    """Both waterfalls agree, and each splits exactly the LP share of the distributions."""
    assert_no_poison(*c, *r)
    assert_same_floats(c[0], r[0], ATOL_USD, "lp_dist")
    assert_same_floats(c[1], r[1], ATOL_USD, "gp_carry")
    assert_same_floats(c[2], r[2], ATOL_USD, "excess_carry")
    for lp, gp, _ in (c, r):
        np.testing.assert_allclose(lp + gp, lp_share * dist, rtol=1e-12, atol=ATOL_USD)


@pytest.mark.parametrize("clawback", [1, 0])
@pytest.mark.parametrize(("catch_up", "offset"), WATERFALL_TERMS)
@pytest.mark.parametrize("seed", SEEDS)
def test_waterfall_european_random(seed: int, catch_up: float, offset: float,
                                   clawback: int) -> None:
    g = rng(seed, 4)
    calls, dist, fees = random_equity_flows(g)
    S, N = calls.shape
    lp_share = float(g.uniform(0.9, 1.0))
    growth = float((1.0 + g.uniform(0.0, 0.15)) ** (1.0 / 12.0))
    args = (calls, dist, fees, lp_share, growth, catch_up, CARRY, offset, clawback)
    c, r = run_both("waterfall_european", args, waterfall_outputs(S, N))
    assert_waterfalls_agree(c, r, dist, lp_share)
    assert c[1].sum() > 0.0, "no carry: the random flows never reached the carry tiers"
    assert np.all(c[1][:, :-1] >= 0.0) and np.all(c[2] >= 0.0)
    if not clawback:
        assert np.all(c[1] >= 0.0)


@pytest.mark.parametrize("clawback", [1, 0])
@pytest.mark.parametrize(("catch_up", "offset"), WATERFALL_TERMS)
@pytest.mark.parametrize("seed", SEEDS)
def test_waterfall_american_random(seed: int, catch_up: float, offset: float,
                                   clawback: int) -> None:
    g = rng(seed, 5)
    calls, dist, fees = random_equity_flows(g)
    S, N = calls.shape
    orig, receipt, adv, proceeds = random_deals(g, S, N)
    lp_share = float(g.uniform(0.9, 1.0))
    growth = float((1.0 + g.uniform(0.0, 0.15)) ** (1.0 / 12.0))
    args = (calls, dist, fees, orig, receipt, adv, proceeds, lp_share, growth, catch_up, CARRY,
            offset, clawback)
    c, r = run_both("waterfall_american", args, waterfall_outputs(S, N))
    assert_waterfalls_agree(c, r, dist, lp_share)
    if clawback:
        assert np.all(c[1][:, :-1] >= 0.0)
    else:
        assert np.all(c[1] >= 0.0)


def engine_equity(overrides: dict, seed: int, n_scen: int = 8):
    """Cython ledger of the full 100m preset: (cfg, pool, ledger outputs), engine-style."""
    cfg, (params, tables), pool, paths = engine_inputs(overrides, seed, n_scen)
    S, K = pool.size.shape
    out = poisoned_ledger_run(cfg, S, K)
    _core.run_ledger(params, exit_simulator.LedgerInputs.build(tables, pool, paths.levels), out)
    return cfg, pool, vars(out)


def equity_flows(led: np.ndarray):
    """Calls, distributions and management fees of a ledger, as ``waterfall_engine.run`` takes."""
    return tuple(np.ascontiguousarray(led[:, COL[name]])
                 for name in ("calls", "distributions", "management_fees"))


ENGINE_WATERFALL_TERMS = [  # (catch_up, offset, clawback)
    (1.0, 0.0, True), (0.5, 0.0, True), (0.0, 0.0, True), (1.0, 0.5, True),
    (1.0, 0.0, False), (0.5, 0.5, False),
]


@pytest.mark.parametrize(("catch_up", "offset", "clawback"), ENGINE_WATERFALL_TERMS)
def test_waterfalls_on_engine_flows(catch_up: float, offset: float, clawback: bool) -> None:
    overrides = {"catch_up_rate": catch_up, "management_fee_offset_percentage": offset,
                 "clawback_provision": clawback}
    cfg, pool, out = engine_equity(overrides, 21, n_scen=32)  # enough for some carry
    calls, dist, fees = equity_flows(out["ledger"])
    S, N = calls.shape
    lp_share = 1.0 - cfg.gp_commitment_percentage
    terms = (lp_share, pref_growth(cfg), float(cfg.catch_up_rate),
             float(cfg.carried_interest_rate), float(cfg.management_fee_offset_percentage),
             int(cfg.clawback_provision))
    c, r = run_both("waterfall_european", (calls, dist, fees, *terms), waterfall_outputs(S, N))
    assert_waterfalls_agree(c, r, dist, lp_share)
    assert c[1].sum() > 0.0, "the preset fund earned no carry (european)"
    args = (calls, dist, fees, out["orig_month"], out["receipt_month"], pool.size,
            out["proceeds"], *terms)
    c, r = run_both("waterfall_american", args, waterfall_outputs(S, N))
    assert_waterfalls_agree(c, r, dist, lp_share)
    assert c[1].sum() > 0.0, "the preset fund earned no carry (american)"


# --------------------------------------------------------------------------- IRR


def irr_both(flows: np.ndarray):
    """Per-period IRR and flag of each row from both kernels, after checking they agree."""
    S = flows.shape[0]
    c, r = run_both("irr_batch", (np.ascontiguousarray(flows, dtype=float), 12.0),
                    lambda: (poisoned(S), poisoned(S, np.int8)))
    assert_no_poison(*c, *r)
    assert_same_ints(c[1], r[1], "irr flag")
    np.testing.assert_allclose(c[0], r[0], rtol=0.0, atol=1e-10, equal_nan=True,
                               err_msg="irr rate")
    for rate, flag in (c, r):
        assert np.array_equal(np.isnan(rate), flag == 2), "NaN rate must come with flag 2"
    return c


def conventional_flows(g: np.random.Generator, S: int = 40, N: int = 121) -> np.ndarray:
    """Calls in the first months, then sparse positive returns of 0.2x to 4x the calls."""
    flows = np.zeros((S, N))
    n_calls = g.integers(1, 24, S)
    for s in range(S):
        flows[s, : n_calls[s]] = -g.uniform(1e4, 1e6, n_calls[s])
        later = np.arange(n_calls[s], N)
        pay = later[g.random(later.size) < 0.3]
        if pay.size == 0:
            pay = later[-1:]
        amounts = g.lognormal(0.0, 1.0, pay.size)
        flows[s, pay] = amounts * (-flows[s].sum() * g.uniform(0.2, 4.0) / amounts.sum())
    return flows


@pytest.mark.parametrize("seed", SEEDS)
def test_irr_conventional(seed: int) -> None:
    flows = conventional_flows(rng(seed, 6))
    rate, flag = irr_both(flows)
    assert np.all(flag == 0)
    assert np.all(np.isfinite(rate))
    npv = [np.polyval(row[::-1], 1.0 / (1.0 + x)) for row, x in zip(flows, rate, strict=True)]
    np.testing.assert_allclose(npv, 0.0, atol=1e-6 * np.abs(flows).sum(axis=1).max())


@pytest.mark.parametrize("seed", SEEDS)
def test_irr_leading_zeros(seed: int) -> None:
    """Zeros before the first flow change nothing (rate and flag as without them)."""
    g = rng(seed, 7)
    base = conventional_flows(g, S=20, N=100)
    shifted = np.zeros((20, 121))
    lead = g.integers(1, 21, 20)
    for s in range(20):
        shifted[s, lead[s]: lead[s] + 100] = base[s]
    rate_b, flag_b = irr_both(base)
    rate_s, flag_s = irr_both(shifted)
    assert np.array_equal(flag_b, flag_s)
    np.testing.assert_allclose(rate_s, rate_b, rtol=0.0, atol=1e-12)


def non_conventional_flows(g: np.random.Generator, S: int = 40, N: int = 121) -> np.ndarray:
    """Rows with several sign changes: white noise, sparse mixed signs, and J-curves
    with a late negative flow (a clawback-like call after distributions)."""
    noise = g.standard_normal((S, N)) * 1e5
    sparse = np.where(g.random((S, N)) < 0.1, g.normal(0.0, 1e5, (S, N)), 0.0)
    jcurve = conventional_flows(g, S, N)
    late = g.integers(N // 2, N, S)
    jcurve[np.arange(S), late] -= g.uniform(0.01, 1.5, S) * jcurve.clip(min=0).sum(axis=1) / 3
    return np.vstack([noise, sparse, jcurve])


@pytest.mark.parametrize("seed", SEEDS)
def test_irr_non_conventional(seed: int) -> None:
    flows = non_conventional_flows(rng(seed, 8))
    rate, flag = irr_both(flows)
    assert set(np.unique(flag).tolist()) >= {1, 2}, "cases should include several and no roots"


def test_irr_rows_without_a_root() -> None:
    """All-positive, all-negative and all-zero rows: NaN with flag 2 from both kernels."""
    g = rng(0, 9)
    N = 121
    positive = g.uniform(0.0, 1e5, (5, N))
    sparse_positive = np.where(g.random((5, N)) < 0.1, g.uniform(1.0, 1e5, (5, N)), 0.0)
    flows = np.vstack([positive, sparse_positive, -positive, np.zeros((1, N))])
    rate, flag = irr_both(flows)
    assert np.all(flag == 2)
    assert np.all(np.isnan(rate))


@pytest.mark.parametrize(("flows", "annual"), [
    ([-100.0, 30.0, 40.0, 50.0], None),
    ([-1000.0] + [0.0] * 119 + [1500.0], 0.041380),
])
def test_irr_known_values(flows: list, annual: float | None) -> None:
    """DOMAIN.md's checks: 8.8963 % per period; 4.1380 % a year from monthly flows."""
    rate, flag = irr_both(np.array([flows]))
    assert flag[0] == 0
    if annual is None:
        assert rate[0] == pytest.approx(0.088963, abs=5e-7)
    else:
        assert (1.0 + rate[0]) ** 12 - 1.0 == pytest.approx(annual, abs=5e-7)


def test_irr_of_engine_lp_flows() -> None:
    """The LP net flows of an engine run (as metrics computes them) give the same IRRs."""
    cfg, pool, out = engine_equity({}, 31, n_scen=12)
    calls, dist, fees = equity_flows(out["ledger"])
    S, N = calls.shape
    lp_share = 1.0 - cfg.gp_commitment_percentage
    lp_dist, gp_carry, excess = poisoned((S, N)), poisoned((S, N)), poisoned((S,))
    _core.waterfall_european(calls, dist, fees, lp_share, pref_growth(cfg),
                             float(cfg.catch_up_rate), float(cfg.carried_interest_rate),
                             float(cfg.management_fee_offset_percentage), 1, lp_dist, gp_carry,
                             excess)
    rate, flag = irr_both(lp_dist - lp_share * calls)
    assert np.all(np.isfinite(rate))


def test_irr_solvers_share_their_constants() -> None:
    """Tolerances, iteration limits, start points and the scan range are the same values."""
    assert _core.IRR_CONSTANTS == reference.IRR_CONSTANTS
    assert set(_core.IRR_CONSTANTS) == {
        "grid", "max_iter", "max_doublings", "step_tol", "bracket_tol", "start_lo", "start_hi",
        "scan_max_growth", "scan_min_growth", "newton_iter", "x_min"}


def test_irr_scan_range_follows_the_periods_per_year() -> None:
    """Flows -100, 260, -165 have IRRs of +10 % and +50 % a period. +50 % a month is outside
    the monthly scan (+1000 % a year at most), so monthly periods find one root; +50 % a
    quarter is inside the quarterly scan, so both are found and the one nearer zero kept."""
    for k in (_core, reference):
        for ppy, flag_wanted in ((12.0, 0), (4.0, 1)):
            rate, flag = np.empty(1), np.empty(1, dtype=np.int8)
            k.irr_batch(np.array([[-100.0, 260.0, -165.0]]), ppy, rate, flag)
            assert flag[0] == flag_wanted and rate[0] == pytest.approx(0.10, rel=1e-10)


def mixed_flows(seed: int, rows: int = 240, N: int = 121) -> np.ndarray:
    """Rows of every kind irr_batch meets, shuffled: fund-like (calls, then distributions;
    winning, losing, after leading zeros), random signs, sparse, all negative, all zero, a
    NaN inside, tiny scales and two-root patterns."""
    g = rng(seed, 21)
    out = np.zeros((rows, N))
    for i in range(rows):
        kind, k = i % 8, int(g.integers(1, 40))
        c = out[i]
        if kind in (0, 1, 2):  # fund-like: winning, losing, after leading zeros
            z = int(g.integers(0, 60)) if kind == 2 else 0
            c[z:z + k] = -g.uniform(1.0, 5.0, k)
            c[z + k:] = g.uniform(0.0, 3.0 if kind == 0 else 0.05, N - z - k)
        elif kind == 3:
            c[:] = g.normal(0.0, 1.0, N)
        elif kind == 4:
            c[g.choice(N, 4, replace=False)] = g.normal(0.0, 1.0, 4)
        elif kind == 5:
            c[:] = -g.uniform(0.0, 1.0, N) if i % 16 < 8 else 0.0
        elif kind == 6:
            c[:k] = -1e-300
            c[k:] = 1e-300 * g.uniform(0.0, 3.0, N - k)
            if i % 3 == 0:
                c[int(g.integers(0, N))] = np.nan
        else:
            c[:4] = [-1.0, 2.3, -1.32, 0.0]
            c[4:] = g.normal(0.0, 1e-3, N - 4)
    return out[g.permutation(rows)]


@pytest.mark.parametrize("seed", SEEDS)
def test_irr_rows_solved_together_equal_rows_solved_alone(seed: int) -> None:
    """irr_batch solves rows a few at a time (irr_lanes): a row's rate and flag are the same
    bits whichever rows share its pass -- alone, or in batches shifted by 1, 2 and 3 rows."""
    flows = mixed_flows(seed)
    S = flows.shape[0]

    def batch(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rate, flag = np.empty(f.shape[0]), np.empty(f.shape[0], dtype=np.int8)
        _core.irr_batch(np.ascontiguousarray(f), 12.0, rate, flag)
        return rate, flag

    rate, flag = batch(flows)
    assert 0 < np.count_nonzero(flag == 0) and np.count_nonzero(flag == 2) > 0
    for shift in (1, 2, 3):
        r, f = batch(flows[shift:])
        assert r.tobytes() == rate[shift:].tobytes() and np.array_equal(f, flag[shift:])
    for i in range(S):
        r, f = batch(flows[i:i + 1])
        assert r.tobytes() == rate[i:i + 1].tobytes() and f[0] == flag[i], i
    finite = np.isfinite(flows).all(axis=1)  # the twin is held to the kernel on real flows
    ref_rate, ref_flag = np.empty(S), np.empty(S, dtype=np.int8)
    reference.irr_batch(flows, 12.0, ref_rate, ref_flag)
    np.testing.assert_array_equal(flag[finite], ref_flag[finite])
    np.testing.assert_allclose(rate[finite], ref_rate[finite], rtol=1e-12, atol=0.0,
                               equal_nan=True)
