"""Type stub of the compiled Cython core (equihome/_core.pyx); reference.py is its twin.

Array arguments are C-contiguous numpy arrays: float64 unless noted, int32 (np.intc) for
months, zones and suburbs, int8 for flags and exit kinds. IN/OUT as in the docstrings.
"""

from typing import Any

import numpy as np

Array = np.ndarray

IRR_CONSTANTS: dict[str, float | int]

def price_paths(eps: Array, u_regime: Array, mu: Array, sigma: Array, model: int, kappa: float,
                regime: Array, out: Array) -> None: ...
def index_levels(zone_log: Array, sub_eps: Array, zone_of: Array, sigma_sub: float,
                 shock: Array, out: Array) -> None: ...
def assign_zones(size: Array, u_suburb: Array, alloc: Array, n_sub: int, zone: Array,
                 suburb: Array) -> None: ...
def calendar(fee_rate: Array, expense: Array, dist_mask: Array, rate_cum: Array,
             expense_cum: Array, next_dist: Array) -> None: ...
def run_ledger(p: dict[str, Any], inp: Any, out: Any) -> None: ...
def waterfall_european(calls: Array, dist: Array, fees: Array, lp_share: float, growth_m: float,
                       catch_up: float, carry: float, offset: float, clawback: int,
                       lp_dist: Array, gp_carry: Array, excess: Array) -> None: ...
def waterfall_american(calls: Array, dist: Array, fees: Array, orig: Array, receipt: Array,
                       adv: Array, proceeds: Array, lp_share: float, growth_m: float,
                       catch_up: float, carry: float, offset: float, clawback: int,
                       lp_dist: Array, gp_carry: Array, excess: Array) -> None: ...
def irr_batch(flows: Array, periods_per_year: float, rate: Array, flag: Array) -> None: ...
