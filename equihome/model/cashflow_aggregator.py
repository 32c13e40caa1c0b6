"""Stage 4, cashflow_aggregator: the monthly cash ledger turned into the flows we measure.

The ledger itself (calls, advances, proceeds, fees, debt, distributions, NAV) is kept
month by month inside the Cython kernel run by the exit_simulator stage, because
originations, exits and calls depend on each other within a month. This stage fixes the
calendar the ledger follows (distribution months) and, after it, derives the cash-flow
vectors (investor's sign: money out of the investor negative) and year-end series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equihome.io.config import FundConfig
from equihome.model.layout import COL

EVERY = {"monthly": 1, "quarterly": 3, "annual": 12}


def distribution_mask(cfg: FundConfig) -> np.ndarray:
    """uint8 (M+1,): 1 in the months free cash is paid out (the last month always)."""
    M = cfg.months
    m = np.arange(M + 1)
    mask = (m > 0) & (m % EVERY[cfg.distribution_frequency] == 0)
    mask[M] = True
    return mask.astype(np.uint8)


@dataclass
class CashFlows:
    """Per-scenario monthly flows (S, M+1), $, investor's sign, and year-end series."""

    gross: np.ndarray      # loan proceeds - advances (before fees, expenses and carry)
    fund: np.ndarray       # equity distributions - equity calls (after fees, before carry)
    nav_yearly: np.ndarray  # (S, T+1) NAV at each year end, $


def aggregate(cfg: FundConfig, ledger: np.ndarray,
              book_value: tuple[int, np.ndarray] | None = None) -> CashFlows:
    """Derive the flow vectors and year-end NAV from the ledger (S, columns, M+1).

    book_value: (E, (S,) $) for a fund's own book, the seasoned loans' fair value at as_of,
    month E: the gross flows count it as an advance then (gross IRR from as_of)."""
    gross = ledger[:, COL["proceeds"]] - ledger[:, COL["advances"]]
    if book_value is not None:
        gross[:, book_value[0]] -= book_value[1]
    fund = ledger[:, COL["distributions"]] - ledger[:, COL["calls"]]
    return CashFlows(gross, fund, year_ends(ledger[:, COL["nav"]]))


def year_ends(monthly: np.ndarray) -> np.ndarray:
    """Values at months 0, 12, 24, ... of a (S, M+1) array."""
    return np.ascontiguousarray(monthly[:, ::12])
