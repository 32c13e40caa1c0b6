"""Stage 1, loan_generator: the deployment schedule and each scenario's pool of loans.

A scenario's pool lists, in origination order, every loan the fund could make: advance
($, truncated normal), LTV (truncated normal), zone (so capital by zone tracks the
allocation), suburb, and the loan's own random numbers for its exit. The ledger takes
loans from the front of the pool as the schedule and recycled principal allow. Pools are
drawn in blocks of ``block_size(cfg)`` loans, block b from the scenario's own counter-based
streams with b in the counter (``streams.Purpose``, one purpose per draw kind); when a
scenario needs more loans, more blocks follow the first, so a longer pool extends a
shorter one without changing it (results do not depend on how often it was extended).
The drawing and the zone assignment run in one kernel (``draw_pools``), without the GIL.
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


def laws(cfg: FundConfig) -> np.ndarray:
    """(2, 4) [mean, sd, lo, hi] of the advance ($) and of the LTV: the truncated normals."""
    return np.array([
        [cfg.avg_loan_size, cfg.loan_size_std_dev, cfg.min_loan_size, cfg.max_loan_size],
        [cfg.avg_loan_ltv, cfg.ltv_std_dev, cfg.min_ltv, cfg.max_ltv]], dtype=float)


def generate(cfg: FundConfig, seed: int, start: int, stop: int, n_blocks: int,
             kernels, book: Book | None = None) -> LoanPool:
    """Draw n_blocks pool blocks for each of the run's scenarios [start, stop) (their
    run-wide indices) under the run ``seed``, with zones and suburbs assigned. With the fund's
    own ``book``, its T seasoned loans come first in every pool (sizes, LTVs, zones and
    suburbs from the tape; exit draws and home walks from the scenario's tape streams,
    ``draw_tape``), then the synthetic blocks (the synthetic loans follow the zone
    allocation among themselves)."""
    B = block_size(cfg)
    S, K = stop - start, n_blocks * B
    size, ltv, e_exit, u_cause = np.empty((4, S, K))
    z_home = np.empty((S, K, 2))
    zone = np.empty((S, K), dtype=np.intc)
    suburb = np.empty((S, K), dtype=np.intc)
    kernels.draw_pools(seed, start, B, laws(cfg), zone_array(cfg.zone_allocations),
                       cfg.price_path.suburbs_per_zone, size, ltv, zone, suburb, e_exit,
                       u_cause, z_home)
    if book is None:
        return LoanPool(size, ltv, zone, suburb, e_exit, u_cause, z_home)
    T = book.n
    t_exit, t_cause = np.empty((2, S, T))
    t_home = np.empty((S, T, 2))
    kernels.draw_tape(seed, start, t_exit, t_cause, t_home)

    def front(tape: np.ndarray, pool: np.ndarray) -> np.ndarray:
        rows = np.broadcast_to(tape, (S, *tape.shape)) if tape.ndim < pool.ndim else tape
        return np.concatenate([rows, pool], axis=1)

    return LoanPool(front(book.size, size), front(book.size / book.value0, ltv),
                    front(book.zone, zone), front(book.suburb, suburb), front(t_exit, e_exit),
                    front(t_cause, u_cause), front(t_home, z_home))
