"""equihome: Monte Carlo simulation of a home-equity investment fund.

>>> import equihome
>>> result = equihome.simulate("100m", num_simulations=1000, seed=42)
>>> result.metrics["irr"]          # median LP net IRR
>>> print(result.summary())
>>> equihome.simulate("100m", num_simulations=100_000, seed=42, backend="dask",
...                   client="tcp://scheduler:8786")   # same numbers, on a Dask cluster
>>> equihome.sweep("100m", grid={"hurdle_rate": [0.06, 0.08]}, num_simulations=2000, seed=1)
>>> equihome.stress("100m", seed=42).table           # base vs the built-in stress library
>>> equihome.tornado("100m", seed=42).table          # what matters most, ranked
>>> equihome.breakeven("100m", "appreciation_rates", bounds=(0.0, 0.15), seed=42).x
>>> equihome.load_loan_tape("examples/loan_tape.csv", as_of="2025-06")  # a validated book
>>> equihome.simulate("100m", overrides={"fund_size": 250e6, "portfolio": {
...     "loans": "examples/loan_tape.csv", "as_of": "2025-06", "called_to_date": 205e6}})

In a notebook, ``equihome.simulate(..., display=True)`` shows the run live (ipywidgets),
``equihome.connect()`` watches runs on a server, ``equihome.compare([...])`` tabulates results.
"""

from pathlib import Path
from typing import Any

from equihome.io.config import PRESETS, ConfigError, FundConfig, config_json_schema, load_config
from equihome.io.loan_tape import LoanTape, LoanTapeError, load_loan_tape
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
#: The repository's synthetic sample tape (500 loans; scripts/make_loan_tape.py writes it).
SAMPLE_TAPE = Path(__file__).resolve().parent.parent / "examples" / "loan_tape.csv"


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


def stress(config: Any = "100m", scenarios: Any = None, *, display: bool = False,
           **kwargs: Any) -> Any:
    """Base vs named stress scenarios; see :func:`equihome.run.analyses.stress`."""
    return _analysis("stress", display, config, scenarios=scenarios, **kwargs)


def tornado(config: Any = "100m", parameters: Any = None, *, display: bool = False,
            **kwargs: Any) -> Any:
    """Ranked one-at-a-time sensitivities; see :func:`equihome.run.analyses.tornado`."""
    return _analysis("tornado", display, config, parameters=parameters, **kwargs)


def breakeven(config: Any = "100m", parameter: str = "appreciation_rates", target: Any = None,
              bounds: Any = None, *, display: bool = False, **kwargs: Any) -> Any:
    """The input value at which a statistic hits a target; see
    :func:`equihome.run.analyses.breakeven`."""
    return _analysis("breakeven", display, config, parameter=parameter, target=target,
                     bounds=bounds, **kwargs)


def _analysis(kind: str, display: bool, config: Any, **kwargs: Any) -> Any:
    """Run analysis ``kind``: here (display=False, returns the AnalysisResult), live in a
    notebook view (a handle with ``.result()`` and ``.cancel()``), or with a text progress
    bar elsewhere (a finished handle), as :func:`simulate` does."""
    if display:
        from equihome.ui.console import in_notebook

        if not in_notebook():
            from equihome.ui.console import run_analysis as run_in_terminal

            return run_in_terminal(kind, config, **kwargs)
        from equihome.ui.analysis_view import run_analysis as show  # equihome[lab]

        return show(kind, config, **kwargs)
    from equihome.run import analyses

    return getattr(analyses, kind)(config, **kwargs)


def connect(url: str | None = None, key: str | None = None, token: str | None = None) -> Any:
    """Connect to a server: ``url`` and ``key`` for ``equihome serve``; with no url, inside a
    notebook only, the Jupyter server this kernel runs under (elsewhere a RuntimeError says
    to give the url); see :func:`equihome.ui.remote.connect`."""
    from equihome.ui.remote import connect as open_connection

    return open_connection(url, key, token)


def compare(results: Any, names: Any = None) -> Any:
    """A side-by-side table of the key numbers of several results, each one's difference
    from the first and the guardrails each breaks (text, HTML, ``to_frame()``)."""
    from equihome.ui.compare import compare as table

    return table(results, names)


__all__ = [
    "PRESETS", "STAGES", "CancelToken", "ConfigError", "FundConfig", "SimulationCancelled",
    "SimulationError", "SimulationResult", "SweepResult", "compare", "config_json_schema",
    "breakeven", "connect", "efficient_frontier", "load_config", "simulate", "stress", "sweep",
    "tornado", "__version__", "LoanTape", "LoanTapeError", "load_loan_tape", "SAMPLE_TAPE",
]
