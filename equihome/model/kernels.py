"""Choose the compiled Cython kernels or their numpy reference twins.

Both modules satisfy the :class:`Kernels` protocol (the signatures of ``_core.pyi``); the
engine's stages take a ``Kernels`` and never know which set runs.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol, cast

import numpy as np

from equihome.model import reference

try:
    from equihome import _core
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    _core = None  # type: ignore[assignment]
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

KERNEL_NAMES = (
    "fill_normals", "fill_uniforms", "draw_pools", "draw_tape", "pool_metrics", "lp_metrics",
    "loan_stats", "correlate", "price_paths", "index_levels", "assign_zones", "run_ledger",
    "waterfall_european", "waterfall_american", "irr_batch",
)
Array = np.ndarray


class Kernels(Protocol):
    """The kernel set's functions (outputs are preallocated arrays, filled in place)."""

    IRR_CONSTANTS: dict[str, Any]

    def fill_normals(self, seed: int, purpose: int, scenario_start: int, out: Array) -> None: ...

    def fill_uniforms(self, seed: int, purpose: int, scenario_start: int, out: Array) -> None: ...

    def draw_pools(self, seed: int, scenario_start: int, block: int, laws: Array, alloc: Array,
                   n_sub: int, size: Array, ltv: Array, zone: Array, suburb: Array,
                   e_exit: Array, u_cause: Array, z_home: Array) -> None: ...

    def draw_tape(self, seed: int, scenario_start: int, e_exit: Array, u_cause: Array,
                  z_home: Array) -> None: ...

    def pool_metrics(self, size: Array, orig: Array, receipt: Array, exit_type: Array,
                     reinvested: Array, proceeds: Array, sums: Array, counts: Array) -> None: ...

    def lp_metrics(self, ledger: Array, lp_calls: Array, lp_dist: Array, gp_carry: Array,
                   lp_share: float, fund_size: float, scalars: Array, cum_lp: Array,
                   yearly: Array) -> None: ...

    def loan_stats(self, size: Array, ltv: Array, stress: Array, senior: Array, cltv_div: float,
                   zone: Array, group: Array, orig: Array, exit_type: Array, peaks: Array,
                   zone_max: Array, zone_sum: Array, group_sum: Array) -> None: ...

    def correlate(self, eps: Array, A: Array, out: Array) -> None: ...

    def price_paths(self, eps: Array, u_regime: Array, mu: Array, sigma: Array, model: int,
                    kappa: float, regime: Array, out: Array) -> None: ...

    def index_levels(self, zone_log: Array, sub_eps: Array, zone_of: Array, sigma_sub: float,
                     shock: Array, out: Array) -> None: ...

    def assign_zones(self, size: Array, u_suburb: Array, alloc: Array, n_sub: int,
                     zone: Array, suburb: Array) -> None: ...

    def run_ledger(self, p: dict[str, Any], inp: Any, out: Any) -> None: ...

    def waterfall_european(self, calls: Array, dist: Array, fees: Array, lp_share: float,
                           growth_m: float, catch_up: float, carry: float, offset: float,
                           clawback: int, lp_dist: Array, gp_carry: Array,
                           excess: Array) -> None: ...

    def waterfall_american(self, calls: Array, dist: Array, fees: Array, orig: Array,
                           receipt: Array, adv: Array, proceeds: Array, lp_share: float,
                           growth_m: float, catch_up: float, carry: float, offset: float,
                           clawback: int, lp_dist: Array, gp_carry: Array,
                           excess: Array) -> None: ...

    def irr_batch(self, flows: Array, periods_per_year: float, rate: Array,
                  flag: Array) -> None: ...


def get_kernels(name: str = "cython") -> Kernels:
    """Return the kernel set: ``"cython"`` (compiled core) or ``"reference"`` (numpy).

    If the compiled core is missing, warn loudly, naming the fix, and use the reference.
    """
    if name == "reference":
        return cast(Kernels, reference)
    if name != "cython":
        raise ValueError(f"kernels: must be 'cython' or 'reference', got {name!r}")
    if _core is None:
        warnings.warn(
            "equihome._core (the compiled Cython core) is not available "
            f"({_IMPORT_ERROR}); falling back to the numpy reference kernels, which are "
            "much slower. Fix: reinstall with `pip install -e .` (needs a C compiler).",
            RuntimeWarning,
            stacklevel=2,
        )
        return cast(Kernels, reference)
    return cast(Kernels, _core)
