"""equihome: Monte Carlo simulation of a home-equity investment fund.

>>> import equihome
>>> result = equihome.simulate("100m", num_simulations=1000, seed=42)
>>> result.metrics["irr"]          # median LP net IRR
>>> print(result.summary())
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

__version__ = "0.1.0"

__all__ = [
    "PRESETS", "STAGES", "CancelToken", "ConfigError", "FundConfig", "SimulationCancelled",
    "SimulationError", "SimulationResult", "config_json_schema", "load_config", "simulate",
    "__version__",
]
