"""Strategy sweeps: every combination of a parameter grid, with common random numbers.

>>> table = equihome.sweep("100m", grid={"avg_loan_ltv": [0.3, 0.4],
...                                      "price_path.model_type": ["gbm", "regime_switching"]},
...                        num_simulations=2000, seed=7)
>>> table.rows[0]        # {"avg_loan_ltv": 0.3, "price_path.model_type": "gbm", "irr_p50": ...}
>>> table.frontier()     # the strategies no other beats on both risk and return (a table)

Every strategy runs with the same seed (common random numbers: scenario ``i`` sees the
same draws in every strategy), so differences between rows come from the strategy, not
from sampling noise. Grid keys are config fields; dotted keys reach nested ones
(``"price_path.model_type"``). All combinations are validated before any runs.

Row columns: the grid values, then ``irr_p50``, ``irr_p5``, ``irr_p95`` (LP net IRR,
annualised), ``tvpi_p50`` (LP TVPI, x), ``roi_p50`` (TVPI - 1), ``hurdle_clear_probability``
(share of scenarios whose LP IRR >= the strategy's hurdle), ``var_99`` and ``cvar_99`` (of
the LP loss max(0, 1 - TVPI), a share of paid-in capital) and ``efficient`` (on the
frontier of CVaR99, lower better, vs median LP IRR, higher better). Missing values are None.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from equihome.io.result import finite_json
from equihome.io.units import finite_number
from equihome.run.analysis_result import Table, format_table
from equihome.run.engine import CancelToken, Source
from equihome.run.variants import Outcome, Stream, Variant, check_count, run_variants, setup

STAT_COLUMNS = ("irr_p50", "irr_p5", "irr_p95", "tvpi_p50", "roi_p50",
                "hurdle_clear_probability", "var_99", "cvar_99")


@dataclass(repr=False)
class SweepResult:
    """The sweep's tidy table: one dict per strategy, in grid order (last key fastest)."""

    rows: list[dict[str, Any]]
    grid_keys: list[str]
    seed: int
    num_simulations: int
    columns: list[str] = field(default_factory=list)
    base_config: dict[str, Any] = field(default_factory=dict)   # the validated base config
    results: list[Any] = field(default_factory=list)            # each strategy's result
    execution_time: float = 0.0                                 # s
    analysis_data: dict[str, Any] = field(default_factory=dict)  # the analysis result payload

    def frontier(self, risk: str = "cvar_99", ret: str = "irr_p50") -> Table:
        """The efficient strategies (see :func:`efficient_frontier`), by rising risk; a list
        of row dicts that prints as a table."""
        return Table(efficient_frontier(self.rows, risk=risk, ret=ret), self.columns)

    def to_dict(self) -> dict[str, Any]:
        return finite_json({"seed": self.seed, "num_simulations": self.num_simulations,
                            "grid_keys": self.grid_keys, "columns": self.columns,
                            "rows": self.rows})

    def to_json(self, **kwargs: Any) -> str:
        """The table as finite JSON (identical for the same inputs and seed)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def to_frame(self, name: str = "rows") -> Any:
        """A typed pandas DataFrame: "rows" (a row per strategy; per-zone grid values split
        into ``<key>_green/_orange/_red``), "summary" or "inputs" (the base config); needs
        pandas (``equihome[lab]``)."""
        from equihome.io.export import analysis_frame

        return analysis_frame({**self.to_dict(), "kind": "sweep", "config": self.base_config},
                              name)

    def to_excel(self, path: Any) -> Any:
        """Write an .xlsx workbook (Summary, Sweep, Inputs), numbers as formatted numbers
        (needs openpyxl, ``equihome[lab]``); returns the path."""
        from equihome.io.export import analysis_excel

        return analysis_excel({**self.to_dict(), "kind": "sweep", "config": self.base_config},
                              path)

    def plot(self, risk: str = "cvar_99", ret: str = "irr_p50", ax: Any = None) -> None:
        """Draw every strategy's risk and return, with the efficient frontier as a line
        (:func:`equihome.ui.charts.plot_sweep`).

        Needs matplotlib (``pip install equihome[lab]``). Draws on ``ax`` or a new pyplot
        figure (which a notebook shows) and returns None, so no ``<Axes ...>`` line is
        printed. Strategies at (nearly) the same point share one larger marker and one
        label listing all of them; the labels stand in a column beside the axes, joined to
        their points, so none hides another.
        """
        from equihome.ui.charts import plot_sweep, sweep_size  # optional: only notebooks plot

        data = self.analysis_data or {"kind": "sweep", **self.to_dict()}
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=sweep_size(data, risk, ret), layout="constrained")
        plot_sweep(ax, data, risk, ret)

    def __str__(self) -> str:
        return format_table(self.rows, self.columns)

    def __repr__(self) -> str:
        return (f"<SweepResult {len(self.rows)} strategies, {self.num_simulations:,} scenarios "
                f"each, seed {self.seed}>\n{self}")


def sweep(base_config: Source = "100m", grid: Mapping[str, Sequence[Any]] | None = None, *,
          num_simulations: int | None = None, seed: int | None = None,
          overrides: dict | None = None, backend: str = "local", client: Any = None,
          task_size: int | None = None, threads: int | None = None, kernels: str = "cython",
          on_row: Callable[[dict[str, Any]], Any] | None = None,
          cancel: CancelToken | None = None, on_event: Callable[[dict], Any] | None = None,
          default_seed: int | None = None, dry_run: bool = False) -> Any:
    """Run every combination of ``grid`` over ``base_config`` and tabulate the strategies.

    grid: {config key (dotted for nested fields): list of values}. seed: one seed for every
    strategy (drawn once if neither it nor the config gives one; reported in the result).
    backend/client/task_size: as for :func:`equihome.simulate`; on Dask up to
    ``variants.MAX_CONCURRENT`` strategies run at once. on_row(row) is called as each strategy finishes;
    on_event receives the analysis events (``equihome.run.variants``: module ``sweep:...``
    per strategy); ``cancel`` (a CancelToken) stops the sweep with SimulationCancelled, as
    does a failing strategy (whose SimulationError is raised). Raises ValueError for a
    malformed grid and ConfigError for an invalid combination before anything runs;
    ``dry_run=True`` only validates (returns the number of strategies).
    """
    keys, combos = _combinations(grid or {})
    s = setup(base_config, num_simulations=num_simulations, seed=seed, overrides=overrides,
              threads=threads, kernels=kernels, backend=backend, client=client,
              task_size=task_size, default_seed=default_seed)
    variants: list[Variant] = []
    seen: set[str] = set()
    for values in combos:
        chosen = dict(zip(keys, values, strict=True))
        module = "sweep:" + ",".join(f"{k}={_cell(v)}" for k, v in chosen.items())
        if module in seen:
            module += f"#{len(variants)}"
        seen.add(module)
        variants.append(Variant(module, _nest(chosen), chosen))
    check_count(len(variants))
    for v in variants:
        s.plan(v)  # every combination valid before anything runs (ConfigError)
    if dry_run:
        return len(variants)

    def row(out: Outcome) -> dict[str, Any]:
        assert out.result is not None
        r = strategy_row(out.variant.info, out.result.data)
        if on_row is not None:
            on_row(r)
        return r

    stream = Stream(on_event, len(variants))
    outs = run_variants(s, variants, stream, cancel or CancelToken(), row)
    rows = [dict(stream.rows[v.module]) for v in variants]  # the streamed rows stay as sent
    efficient = {id(r) for r in efficient_frontier(rows)}
    for r in rows:
        r["efficient"] = id(r) in efficient
    result = SweepResult(rows, keys, s.base.seed, s.base.n, [*keys, *STAT_COLUMNS, "efficient"],
                         base_config=s.base.cfg.to_dict(), results=[o.result for o in outs])
    result.analysis_data = {
        "kind": "sweep", "params": {"grid": {k: list(grid[k]) for k in keys} if grid else {}},
        "config": result.base_config, **result.to_dict()}
    result.execution_time = stream.finish(result.analysis_data)
    return result


def strategy_row(values: dict[str, Any], data: dict) -> dict[str, Any]:
    """One table row from a strategy's grid values and its result payload."""
    st, risk = data["statistics"], data["risk"]
    return {**values,
            "irr_p50": st["lp_irr"]["p50"], "irr_p5": st["lp_irr"]["p5"],
            "irr_p95": st["lp_irr"]["p95"], "tvpi_p50": st["lp_tvpi"]["p50"],
            "roi_p50": st["roi"]["p50"],
            "hurdle_clear_probability": risk["hurdle_clear_probability"],
            "var_99": risk["var_99"], "cvar_99": risk["cvar_99"]}


def efficient_frontier(rows: Iterable[dict[str, Any]], risk: str = "cvar_99",
                       ret: str = "irr_p50") -> list[dict[str, Any]]:
    """The rows not dominated in (``risk``: lower is better, ``ret``: higher is better).

    A row is dominated when another has risk <= and return >= with at least one strict.
    Rows missing either number (None or NaN) cannot be compared and are left out; equal
    rows do not dominate each other. Returned by rising risk (then falling return).
    """
    ok = [r for r in rows if finite_number(r.get(risk)) and finite_number(r.get(ret))]
    front = [r for r in ok if not any(
        o[risk] <= r[risk] and o[ret] >= r[ret] and (o[risk] < r[risk] or o[ret] > r[ret])
        for o in ok)]
    return sorted(front, key=lambda r: (r[risk], -r[ret]))


def _combinations(grid: Mapping[str, Sequence[Any]]) -> tuple[list[str], list[tuple]]:
    """The grid's keys and every combination of its values (the last key varies fastest)."""
    if not isinstance(grid, Mapping):
        raise ValueError(f"grid: must be a dict of key -> list of values, got {type(grid).__name__}")
    keys = list(grid)
    for k in keys:
        v = grid[k]
        if not isinstance(k, str) or not k or any(not part for part in k.split(".")):
            raise ValueError(f"grid: keys must be config fields such as 'price_path.model_type', "
                             f"got {k!r}")
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
            raise ValueError(f"grid.{k}: must be a non-empty list of values, got {v!r}")
    return keys, list(itertools.product(*(grid[k] for k in keys)))


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"a.b": 1} -> {"a": {"b": 1}}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"grid: {key!r} sets a field inside a value set by another key")
        if isinstance(node.get(leaf), dict):
            raise ValueError(f"grid: {key!r} replaces fields set by another key")
        node[leaf] = value
    return out


def _cell(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)
