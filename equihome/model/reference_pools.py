"""Numpy reference twins of the loan-pool kernels: the draws, ``_core.draw_pools``
(``_draws.pxi``) and ``fill_normals``/``fill_uniforms`` (``_random.pxi``); the zone
assignment and the per-scenario pool reductions, ``assign_zones``, ``pool_metrics`` and
``loan_stats`` (``_core.pyx``).

The same numbers as the Cython kernels, drawn through ``equihome/model/streams.py`` (numpy's
Philox4x32 words under numpy's samplers); ``equihome.model.reference`` re-exports them.
"""

from __future__ import annotations

import numpy as np

from equihome.model.fixed_math import exp_values
from equihome.model.layout import ExitKind
from equihome.model.streams import TAPE_BLOCK, Purpose, fill_normals, fill_uniforms, generator

__all__ = ["assign_zones", "draw_pools", "draw_tape", "fill_normals", "fill_uniforms",
           "loan_stats", "pool_metrics", "truncated_normal"]


def truncated_normal(gen: np.random.Generator, mean: float, sd: float, lo: float, hi: float,
                     n: int) -> np.ndarray:
    """n draws of Normal(mean, sd) conditioned on [lo, hi] (exact, by rejection in passes).

    Each pass proposes for the draws still to fill, in index order: wide intervals (at
    least 0.4 sd) from the normal; narrow ones uniformly, accepted with the normal density's
    ratio (a second batch of uniforms), so acceptance stays high either way. Twin of
    ``_draws.pxi``'s truncated_normal_fill: the same draws in the same order.
    """
    if sd == 0.0 or lo == hi:
        return np.full(n, min(max(mean, lo), hi))
    out = np.empty(n)
    todo = np.arange(n)
    wide = hi - lo >= 0.4 * sd
    while todo.size:
        if wide:
            x = mean + sd * gen.standard_normal(todo.size)
            ok = (x >= lo) & (x <= hi)
        else:
            x = gen.uniform(lo, hi, todo.size)
            ok = gen.random(todo.size) < exp_values(-0.5 * (((x - mean) / sd) * ((x - mean) / sd)))
        out[todo[ok]] = x[ok]
        todo = todo[~ok]
    return out


def assign_zones(size, u_suburb, alloc, n_sub, zone, suburb):
    """Zone with the largest shortfall per pool loan; see ``_core.assign_zones``."""
    size = np.asarray(size)
    alloc = np.asarray(alloc)
    S, K = size.shape
    dep = np.zeros((S, alloc.size))
    total = np.zeros(S)
    rows = np.arange(S)
    for k in range(K):
        L = size[:, k]
        d = alloc[None, :] * (total + L)[:, None] - dep
        d[:, alloc <= 0.0] = -np.inf
        best = np.argmax(d, axis=1)
        dep[rows, best] += L
        total += L
        zone[:, k] = best
    sub = np.minimum((np.asarray(u_suburb) * n_sub).astype(np.intc), n_sub - 1)
    suburb[:, :] = np.asarray(zone) * n_sub + sub


def draw_pools(seed, scenario_start, block, laws, alloc, n_sub, size, ltv, zone, suburb,
               e_exit, u_cause, z_home):
    """The loan pools of scenarios scenario_start .. + S - 1; see ``_core.draw_pools``."""
    S, K = size.shape
    if block < 1 or K % block:
        raise ValueError(f"block: must be a positive divisor of the pool length {K}, got {block}")
    laws = np.asarray(laws, dtype=float)
    u_sub = np.empty((S, K))
    for r in range(S):
        s = scenario_start + r
        for b in range(K // block):
            sl = slice(b * block, (b + 1) * block)
            for purpose, law, out in ((Purpose.LOAN_SIZE, laws[0], size),
                                      (Purpose.LOAN_LTV, laws[1], ltv)):
                mean, sd, lo, hi = (float(v) for v in law)
                out[r, sl] = truncated_normal(generator(seed, s, purpose, b), mean, sd, lo, hi,
                                              block)
            generator(seed, s, Purpose.LOAN_SUBURB, b).random(out=u_sub[r, sl])
            generator(seed, s, Purpose.EXIT_RACE, b).standard_exponential(out=e_exit[r, sl])
            generator(seed, s, Purpose.EXIT_CAUSE, b).random(out=u_cause[r, sl])
            z_home[r, sl] = generator(seed, s, Purpose.HOME_WALK, b).standard_normal(
                2 * block).reshape(block, 2)
    assign_zones(size, u_sub, alloc, n_sub, zone, suburb)


def draw_tape(seed, scenario_start, e_exit, u_cause, z_home):
    """A loan tape's draws for scenarios scenario_start .. + S - 1; see ``_core.draw_tape``."""
    S, T = np.shape(e_exit)
    for r in range(S):
        s = scenario_start + r
        generator(seed, s, Purpose.EXIT_RACE, TAPE_BLOCK).standard_exponential(out=e_exit[r])
        generator(seed, s, Purpose.EXIT_CAUSE, TAPE_BLOCK).random(out=u_cause[r])
        z_home[r] = generator(seed, s, Purpose.HOME_WALK, TAPE_BLOCK).standard_normal(
            2 * T).reshape(T, 2)


def pool_metrics(size, orig, receipt, exit_type, reinvested, proceeds, sums, counts):
    """Per-scenario sums over the loans made, in pool order; see ``_core.pool_metrics``."""
    made = orig >= 0
    adv = np.where(made, size, 0.0)
    life = np.where(made, receipt - orig, 0) / 12.0
    for col, v in enumerate((adv, np.where(made, np.maximum(size - proceeds, 0.0), 0.0),
                             adv * life, made.astype(float),
                             (made & (reinvested > 0)).astype(float))):
        sums[:, col] = np.cumsum(v, axis=1)[:, -1]  # in pool order, as the kernel adds
    for k in range(counts.shape[1]):
        counts[:, k] = (exit_type == k).sum(axis=1)


def loan_stats(size, ltv, stress, senior, cltv_div, zone, group, orig, exit_type, peaks,
               zone_max, zone_sum, group_sum):
    """Per-scenario facts of the loans made for the guardrails; see ``_core.loan_stats``."""
    made = orig >= 0
    S, K = size.shape
    Z, G = zone_max.shape[1], group_sum.shape[1]
    L = np.where(made, size, 0.0)
    rows = np.arange(S)[:, None]
    peaks[:, 0] = np.where(made, ltv, 0.0).max(axis=1)
    peaks[:, 1] = np.where(made, stress, 0.0).max(axis=1)
    peaks[:, 2] = L.max(axis=1)
    peaks[:, 3] = np.where(made, (senior + ltv) / cltv_div, 0.0).max(axis=1)
    peaks[:, 4] = np.cumsum(np.where(exit_type == ExitKind.LIQUIDATION, L, 0.0), axis=1)[:, -1]
    zone_max[:] = np.stack([np.where(zone == z, L, 0.0).max(axis=1) for z in range(Z)], axis=1)
    zone_sum[:] = _group_sums(rows * Z + zone, L, S, Z)
    group_sum[:] = _group_sums(rows * G + group, L, S, G)


def _group_sums(group: np.ndarray, values: np.ndarray, S: int, G: int) -> np.ndarray:
    """(S, G) sums of values by group id (row * G + g), added in pool order."""
    return np.bincount(group.ravel(), weights=values.ravel(), minlength=S * G).reshape(S, G)
