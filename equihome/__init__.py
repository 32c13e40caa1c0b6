"""equihome: Monte Carlo simulation of a home-equity investment fund.

>>> import equihome
>>> result = equihome.simulate("100m", num_simulations=1000, seed=42)
>>> result.metrics["irr"]          # median LP net IRR
>>> print(result.summary())
>>> equihome.simulate("100m", num_simulations=100_000, seed=42, backend="dask",
...                   client="tcp://scheduler:8786")   # same numbers, on a Dask cluster
>>> equihome.sweep("100m", grid={"hurdle_rate": [0.06, 0.08]}, num_simulations=2000, seed=1)
"""

from .config import PRESETS, ConfigError, FundConfig, config_json_schema, load_config
from .engine import (
    STAGES,
    CancelToken,
    SimulationCancelled,
    SimulationError,
    simulate,
)
from .result import SimulationResult
from .sweep import SweepResult, efficient_frontier, sweep

__version__ = "0.1.0"

__all__ = [
    "PRESETS", "STAGES", "CancelToken", "ConfigError", "FundConfig", "SimulationCancelled",
    "SimulationError", "SimulationResult", "SweepResult", "config_json_schema",
    "efficient_frontier", "load_config", "simulate", "sweep", "__version__",
]
