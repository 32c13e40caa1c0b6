"""Choose the compiled Cython kernels or their numpy reference twins."""

from __future__ import annotations

import warnings
from types import ModuleType

from . import reference

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    _core = None
    _IMPORT_ERROR = exc
else:
    _IMPORT_ERROR = None

KERNEL_NAMES = (
    "price_paths", "index_levels", "assign_zones", "run_ledger",
    "waterfall_european", "waterfall_american", "irr_batch",
)


def get_kernels(name: str = "cython") -> ModuleType:
    """Return the kernel module: ``"cython"`` (compiled core) or ``"reference"`` (numpy).

    If the compiled core is missing, warn loudly, naming the fix, and use the reference.
    """
    if name == "reference":
        return reference
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
        return reference
    return _core
