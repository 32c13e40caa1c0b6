"""Stage 1, loan_generator: the deployment schedule and each scenario's pool of loans.

A scenario's pool lists, in origination order, every loan the fund could make: advance
($, truncated normal), LTV (truncated normal), zone (so capital by zone tracks the
allocation), suburb, and the loan's own random numbers for its exit. The ledger takes
loans from the front of the pool as the schedule and recycled principal allow. Pools are
drawn in blocks of ``block_size(cfg)`` loans from the scenario's own stream; when a
scenario needs more loans, more blocks follow the first, so a longer pool extends a
shorter one without changing it (results do not depend on how often it was extended).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from equihome.io.config import FundConfig
from equihome.model.layout import zone_array
from equihome.model.portfolio import Book

BLOCK_ROUNDING = 64  # block sizes are multiples of this


@dataclass
class LoanPool:
    """Pool arrays for a chunk of scenarios, each (S, K) unless noted."""

    size: np.ndarray       # advance, $
    ltv: np.ndarray        # advance / home value at origination
    zone: np.ndarray       # int32 zone index (layout.ZONES)
    suburb: np.ndarray     # int32 global suburb index, zone * suburbs_per_zone + local
    e_exit: np.ndarray     # Exp(1) draw of the exit race
    u_cause: np.ndarray    # uniform picking the exit cause
    z_home: np.ndarray     # (S, K, 2) normals of the home walk: to exit, over foreclosure


def truncated_normal(gen: np.random.Generator, mean: float, sd: float, lo: float, hi: float,
                     n: int) -> np.ndarray:
    """n draws of Normal(mean, sd) conditioned on [lo, hi] (exact, by rejection).

    Wide intervals propose from the normal; narrow ones (under 0.4 sd) propose uniformly
    and accept with the normal density's ratio, so acceptance stays high either way.
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
            ok = gen.random(todo.size) < np.exp(-0.5 * ((x - mean) / sd) ** 2)
        out[todo[ok]] = x[ok]
        todo = todo[~ok]
    return out


def deployable_capital(cfg: FundConfig, called: float = 0.0) -> float:
    """$ the initial book may deploy: commitments less the reserve (and less ``called``, $
    already called by a portfolio's as_of), plus debt, plus, with a NAV facility drawing to
    deploy, what it can lend against the book: advance_rate / (1 - advance_rate) x the equity
    (a book B = E + D with D <= advance_rate x B), at most its limit."""
    debt = sum(t.size for t in cfg.tranches)
    equity = max(cfg.fund_size * (1.0 - cfg.cash_reserve_rate) - called, 0.0)
    nav = cfg.leverage.nav_facility
    if nav.enabled and nav.draw_policy == "deploy" and nav.advance_rate < 1.0:
        debt += min(nav.advance_rate / (1.0 - nav.advance_rate) * equity,
                    nav.limit if nav.limit is not None else float("inf"))
    return equity + debt


def deployment_schedule(cfg: FundConfig, book: Book | None = None) -> np.ndarray:
    """$ of initial origination made available in each month 0..M (the pace's shape). With the
    fund's own ``book`` (as_of month E): what is left of the deployable capital after the
    equity called so far, over the deployment months left, E..deployment end, in the same
    shape (nothing when the deployment period is over)."""
    months = cfg.months
    start = book.start if book else 0
    n = cfg.deployment_months - start
    out = np.zeros(months + 1)
    if n <= 0:
        return out
    i = np.arange(n)
    weights = {
        "even": np.full(n, 1.0 / n),
        "front_loaded": (2.0 * (n - i) - 1.0) / (n * n),
        "back_loaded": (2.0 * i + 1.0) / (n * n),
    }[cfg.deployment_pace]
    out[start:start + n] = deployable_capital(cfg, book.called if book else 0.0) * weights
    return out


def block_size(cfg: FundConfig) -> int:
    """Loans per pool block: the initial book plus an allowance for recycling."""
    n0 = deployable_capital(cfg) / cfg.avg_loan_size
    recycle = cfg.reinvestment_rate * min(1.0, 0.1 * cfg.reinvestment_period)
    return BLOCK_ROUNDING * max(1, ceil(1.2 * n0 * (1.0 + recycle) / BLOCK_ROUNDING))


def _truncate(gen: np.random.Generator, x: np.ndarray, mean: float, sd: float, lo: float,
              hi: float) -> np.ndarray:
    """Keep the in-range normal proposals x; redraw the rest from the truncated law."""
    if sd == 0.0 or lo == hi:
        return np.full(x.size, min(max(mean, lo), hi))
    bad = (x < lo) | (x > hi)
    if bad.any():
        x[bad] = truncated_normal(gen, mean, sd, lo, hi, int(bad.sum()))
    return x


def draw_pool(gen: np.random.Generator, cfg: FundConfig, B: int, size: np.ndarray,
              ltv: np.ndarray, u_sub: np.ndarray, e_exit: np.ndarray, u_cause: np.ndarray,
              z_home: np.ndarray) -> None:
    """Fill one scenario's pool rows (blocks of B loans) from its loan stream.

    Each block draws 4B normals (advance, LTV, two home-walk shocks), 2B uniforms
    (suburb, exit cause) and B exponentials (exit race), then redraws the rare
    out-of-range advances/LTVs.
    """
    for b in range(size.size // B):
        sl = slice(b * B, (b + 1) * B)
        z = gen.standard_normal(4 * B)
        u = gen.random(2 * B)
        gen.standard_exponential(out=e_exit[sl])
        size[sl] = _truncate(gen, cfg.avg_loan_size + cfg.loan_size_std_dev * z[:B],
                             cfg.avg_loan_size, cfg.loan_size_std_dev, cfg.min_loan_size,
                             cfg.max_loan_size)
        ltv[sl] = _truncate(gen, cfg.avg_loan_ltv + cfg.ltv_std_dev * z[B:2 * B], cfg.avg_loan_ltv,
                            cfg.ltv_std_dev, cfg.min_ltv, cfg.max_ltv)
        z_home[sl] = z[2 * B:].reshape(B, 2)
        u_sub[sl] = u[:B]
        u_cause[sl] = u[B:]


def generate(cfg: FundConfig, seeds: list[np.random.SeedSequence], n_blocks: int,
             kernels, book: Book | None = None) -> LoanPool:
    """Draw n_blocks pool blocks per scenario (one seed each); assign zones and suburbs. With
    the fund's own ``book``, its T seasoned loans come first in every pool (their sizes,
    LTVs, zones and suburbs from the tape; their exit draws and home walks drawn first from
    the scenario's stream), then the synthetic blocks."""
    B = block_size(cfg)
    T = book.n if book else 0
    S, K = len(seeds), T + n_blocks * B
    size, ltv, u_sub, e_exit, u_cause = np.empty((5, S, K))
    z_home = np.empty((S, K, 2))
    for s, seed in enumerate(seeds):
        gen = np.random.Generator(np.random.PCG64(seed))
        if T:
            gen.standard_exponential(out=e_exit[s, :T])
            gen.random(out=u_cause[s, :T])
            gen.standard_normal(out=z_home[s, :T])
        draw_pool(gen, cfg, B, size[s, T:], ltv[s, T:], u_sub[s, T:], e_exit[s, T:],
                  u_cause[s, T:], z_home[s, T:])
    zone = np.empty((S, K - T), dtype=np.intc)
    suburb = np.empty((S, K - T), dtype=np.intc)
    kernels.assign_zones(np.ascontiguousarray(size[:, T:]), np.ascontiguousarray(u_sub[:, T:]),
                         zone_array(cfg.zone_allocations), cfg.price_path.suburbs_per_zone, zone,
                         suburb)
    if book is not None:  # the synthetic loans follow the allocation among themselves
        zone = np.concatenate([np.broadcast_to(book.zone, (S, T)), zone], axis=1)
        suburb = np.concatenate([np.broadcast_to(book.suburb, (S, T)), suburb], axis=1)
        size[:, :T], ltv[:, :T] = book.size, book.size / book.value0
    return LoanPool(size, ltv, zone, suburb, e_exit, u_cause, z_home)
