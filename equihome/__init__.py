"""equihome: Monte Carlo simulation of a home-equity investment fund.

>>> import equihome
>>> result = equihome.simulate("100m", num_simulations=1000, seed=42)
>>> result.metrics["irr"]          # median LP net IRR
>>> print(result.summary())
>>> equihome.simulate("100m", num_simulations=100_000, seed=42, backend="dask",
...                   client="tcp://scheduler:8786")   # same numbers, on a Dask cluster
>>> equihome.sweep("100m", grid={"hurdle_rate": [0.06, 0.08]}, num_simulations=2000, seed=1)

In a notebook, ``equihome.simulate(..., display=True)`` shows the run live (ipywidgets),
``equihome.connect()`` watches runs on a server, ``equihome.compare([...])`` tabulates results.
"""

from typing import Any

from equihome.io.config import PRESETS, ConfigError, FundConfig, config_json_schema, load_config
from equihome.io.result import SimulationResult
from equihome.run.engine import (
    STAGES,
    CancelToken,
    SimulationCancelled,
    SimulationError,
)
from equihome.run.engine import simulate as _run
from equihome.run.sweep import SweepResult, efficient_frontier, sweep

__version__ = "0.1.0"


def simulate(config: Any = "100m", *, display: bool = False, **kwargs: Any) -> Any:
    """Run a Monte Carlo simulation; see :func:`equihome.run.engine.simulate` for the arguments.

    display=True: in a notebook, run in a background thread and show it live in a
    :class:`equihome.ui.widgets.SimulationView`, returning a handle with ``.result()`` and
    ``.cancel()`` at once; elsewhere (a terminal, a script) run here with a text progress bar
    on stderr, as ``equihome run`` draws it, and return a finished handle
    (:class:`equihome.ui.console.FinishedRun`). display=False: run here and return the
    SimulationResult.
    """
    if display:
        from equihome.ui.console import in_notebook

        if not in_notebook():
            from equihome.ui.console import simulate as run_in_terminal

            return run_in_terminal(config, **kwargs)
        from equihome.ui.widgets import simulate as show  # widgets are optional (equihome[lab])

        return show(config, display=True, **kwargs)
    return _run(config, **kwargs)


def connect(url: str | None = None, key: str | None = None, token: str | None = None) -> Any:
    """Connect to a server: ``url`` and ``key`` for ``equihome serve``; with no url, inside a
    notebook only, the Jupyter server this kernel runs under (elsewhere a RuntimeError says
    to give the url); see :func:`equihome.ui.remote.connect`."""
    from equihome.ui.remote import connect as open_connection

    return open_connection(url, key, token)


def compare(results: Any, names: Any = None) -> Any:
    """A side-by-side table of the key numbers of several results (a notebook widget)."""
    from equihome.ui.widgets import compare as table

    return table(results, names)


__all__ = [
    "PRESETS", "STAGES", "CancelToken", "ConfigError", "FundConfig", "SimulationCancelled",
    "SimulationError", "SimulationResult", "SweepResult", "compare", "config_json_schema",
    "connect", "efficient_frontier", "load_config", "simulate", "sweep", "__version__",
]
