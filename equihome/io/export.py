"""Tabular exports of results: pandas DataFrames, Excel workbooks and Parquet files.

pandas, openpyxl and pyarrow are optional: each is imported inside the function that needs
it, so the engine imports without them, and a missing one raises an ImportError naming the
extra that installs it (``equihome[lab]``: pandas and openpyxl; ``equihome[parquet]``:
pyarrow). The result classes call these functions from thin methods (``to_frame``,
``to_excel``, ``to_parquet``).

Columns are typed: float64 for numbers (NaN where missing), int64 for integers (Int64, with
<NA>, when some are missing, and for the scenario counts such as ``num_loans``), bool for
flags, str or category for text. Excel cells keep numbers as
numbers with a number format by the column's kind (:func:`column_kind`): rates ``0.00%``,
multiples ``0.000"x"``, result dollars in $M (``$#,##0.00,,"M"``: the cell holds dollars, it
shows $19.98M), input dollars ``$#,##0``, counts ``#,##0``.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeGuard

import numpy as np

from equihome.io.units import kind_of

# --------------------------------------------------------------------------- column kinds

#: Excel-only refinements of the plain kind ("") of :func:`equihome.io.units.kind_of`:
#: "n" counts, "n1" means of counts, "d2" numbers to two decimals, "year" calendar years.
EXACT_KINDS: dict[str, str] = {
    "num_loans": "n", "num_initial_loans": "n", "num_reinvested_loans": "n", "loans": "n",
    "count": "n", "iteration": "n", "num_simulations": "n", "iterations": "n",
    "payback_month": "n", "mean_per_scenario": "n1", "wal_years": "d2",
    "year": "year", "vintage_year": "year", "seed": "year",
}
ZONES = ("green", "orange", "red")


def column_kind(name: str, statistic: str | None = None) -> str:
    """The kind of a column or config key: :func:`equihome.io.units.kind_of` of the name
    without its zone and list-index parts ("%", "x", "$M", ""), a plain number refined by
    :data:`EXACT_KINDS` for its Excel format."""
    path = ".".join(p for p in str(name).split(".") if p not in ZONES and not p.isdigit())
    kind = kind_of(path or str(name), statistic)
    return kind or EXACT_KINDS.get(path.rpartition(".")[2], "")


#: Excel number format of each kind.
FORMATS = {"%": "0.00%", "x": '0.000"x"', "$M": '$#,##0.00,,"M"', "$": "$#,##0", "n": "#,##0",
           "n1": "#,##0.0", "d2": "0.00", "year": "0", "": "General"}
EXCEL_MAX_ROWS = 1_048_575  # rows below the header


# --------------------------------------------------------------------------- optional imports

def need(module: str, what: str, extra: str) -> Any:
    """``module`` imported, or an ImportError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f'{what} needs {module.partition(".")[0]}: '
                          f'pip install "equihome[{extra}]"') from exc


def _pandas(what: str = "to_frame()") -> Any:
    return need("pandas", what, "lab")


# --------------------------------------------------------------------------- typed columns

TEXT_COLUMNS = frozenset({"error", "scenario", "parameter", "guardrails", "name", "type"})


def _text_dtype(pd: Any) -> str:
    """pandas' text dtype: "str" (pandas 3; NaN missing) or "string" (pandas 2)."""
    return "str" if int(pd.__version__.split(".")[0]) >= 3 else "string"


def _zoned(v: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(v, dict) and set(v) == set(ZONES)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_))


def _as_text(v: Any) -> Any:
    """Text of a cell: lists joined with ", ", other dicts as JSON; None stays missing."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return str(v)


def typed_array(pd: Any, values: Sequence[Any], text: bool = False) -> Any:
    """One column of values as a typed pandas array: bool (boolean with gaps), int64
    (Int64 with gaps), float64 (NaN for None), else text (``text=True`` forces text)."""
    present = [v for v in values if v is not None]
    if not text and present:
        if all(isinstance(v, (bool, np.bool_)) for v in present):
            return pd.array(values, dtype="boolean" if len(present) < len(values) else "bool")
        if all(_number(v) for v in present):
            if all(isinstance(v, (int, np.integer)) for v in present):
                return pd.array(values, dtype="Int64" if len(present) < len(values) else "int64")
            return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    if not present and not text:
        return np.full(len(values), np.nan)
    return pd.array([_as_text(v) for v in values], dtype=_text_dtype(pd))


def rows_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """Row dicts as a typed DataFrame of ``columns``. A per-zone value ({green, orange, red})
    splits into ``<col>_green/_orange/_red`` numeric columns (``<col>`` keeps any plain
    numbers of other rows); lists become text ("a, b")."""
    pd = _pandas()
    out: dict[str, Any] = {}
    for c in columns:
        values = [r.get(c) for r in rows]
        if any(_zoned(v) for v in values):
            if any(v is not None and not _zoned(v) for v in values):
                out[c] = typed_array(pd, [None if _zoned(v) else v for v in values])
            for z in ZONES:
                out[f"{c}_{z}"] = typed_array(pd, [v[z] if _zoned(v) else None for v in values])
        else:
            out[c] = typed_array(pd, values, text=c in TEXT_COLUMNS)
    return pd.DataFrame(out, index=pd.RangeIndex(len(rows)))


def split_bases(columns: Sequence[str], frame_columns: Sequence[str]) -> dict[str, str]:
    """Each frame column -> the row column it came from (``low_green`` -> ``low``)."""
    out = {c: c for c in frame_columns if c in columns}
    out.update({f"{c}_{z}": c for c in columns for z in ZONES if f"{c}_{z}" in frame_columns})
    return out


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted key: scalar}; lists by index; empty ones as JSON text."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, (list, tuple)) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}.{i}"))
        return out
    if isinstance(value, (Mapping, list, tuple)):
        return {prefix: json.dumps(value)}
    return {prefix: value}


def key_value_frame(pd: Any, pairs: Mapping[str, Any], key: str = "key") -> Any:
    """{key: value} as a frame indexed by ``key`` with one object column ``value`` (the
    values keep their own types: numbers, text, bool; None missing)."""
    return pd.DataFrame({"value": pd.array(list(pairs.values()), dtype=object)},
                        index=pd.Index(list(pairs), name=key, dtype=_text_dtype(pd)))


def _f(v: Any) -> float:
    return np.nan if v is None else float(v)


# --------------------------------------------------------------------------- simulation frames

class HasResult(Protocol):
    """What the exports read of a SimulationResult."""

    @property
    def data(self) -> dict: ...

    @property
    def scenarios(self) -> Mapping[str, np.ndarray]: ...


STAT_NUMBERS = ("mean", "std", "se", "min", "p5", "p25", "p50", "p75", "p95", "max")
SUMMARY_KEYS = ("lp_irr", "gross_irr", "fund_irr", "lp_tvpi", "lp_dpi", "roi", "gp_carry",
                "num_loans", "loss_rate", "wal_years", "fees_paid", "unpaid_fees")
RISK_MEANINGS = {
    "var_95": "VaR 95 of the LP loss max(0, 1 - TVPI), a share of paid-in capital",
    "cvar_95": "CVaR 95: mean LP loss max(0, 1 - TVPI) of the worst 5% of scenarios",
    "var_99": "VaR 99 of the LP loss max(0, 1 - TVPI), a share of paid-in capital",
    "cvar_99": "CVaR 99: mean LP loss max(0, 1 - TVPI) of the worst 1% of scenarios",
    "hurdle_clear_probability": "Share of scenarios whose LP net IRR is at least the hurdle",
    "irr_p5": "P5 of the LP net IRR (annualised)",
}
SEVERITIES = ("error", "warning", "info")
COUNT_METRICS = ("num_loans", "num_initial_loans", "num_reinvested_loans")  # Int64 columns
Labels = Mapping[str, tuple[str, str]]


def _scenarios(pd: Any, result: HasResult, labels: Labels) -> Any:
    """One row per scenario (index ``scenario``), a column per metric; counts Int64."""
    if not result.scenarios:
        raise ValueError("scenarios: this result carries no per-scenario arrays (a result "
                         "fetched from a server without them); run it in-process or load them")
    cols: dict[str, Any] = {}
    for k, v in result.scenarios.items():
        a = np.asarray(v, dtype=float)
        cols[k] = pd.Series(a).astype("Int64").array if k in COUNT_METRICS else a.copy()
    n = len(next(iter(cols.values())))
    return pd.DataFrame(cols, index=pd.RangeIndex(n, name="scenario"))


def _statistics(pd: Any, result: HasResult, labels: Labels) -> Any:
    """One row per metric (index ``metric``, with the contract's when stated): mean std se
    min p5 p25 p50 p75 p95 max (float64) and count (int64)."""
    stats = dict(result.data["statistics"])
    stats.update((result.data.get("contract") or {}).get("statistics", {}))
    cols: dict[str, Any] = {c: np.array([_f(s[c]) for s in stats.values()], dtype=float)
                            for c in STAT_NUMBERS}
    cols["count"] = np.array([int(s["count"]) for s in stats.values()], dtype=np.int64)
    return pd.DataFrame(cols, index=pd.Index(list(stats), name="metric", dtype=_text_dtype(pd)))


def _summary(pd: Any, result: HasResult, labels: Labels) -> Any:
    """The key numbers: label, P5, median (p50) and P95 of each headline metric."""
    stats = result.data["statistics"]
    keys = [k for k in SUMMARY_KEYS if k in stats]
    return pd.DataFrame(
        {"label": pd.array([labels.get(k, (k, ""))[0] for k in keys], dtype=_text_dtype(pd)),
         **{q: np.array([_f(stats[k][q]) for k in keys], dtype=float)
            for q in ("p5", "p50", "p95")}},
        index=pd.Index(keys, name="metric", dtype=_text_dtype(pd)))


def _fans(pd: Any, result: HasResult, labels: Labels) -> Any:
    """Yearly fans, wide: index ``year``, a column ``<fan>_<q>`` (nav_p5, nav_p50, ...)."""
    fans = result.data["fans"]
    cols = {f"{name}_{q}": np.array([_f(v) for v in values], dtype=float)
            for name, fan in fans.items() if name != "years" for q, values in fan.items()}
    return pd.DataFrame(cols, index=pd.Index(np.asarray(fans["years"], dtype=np.int64),
                                             name="year"))


def _guardrails(pd: Any, result: HasResult, labels: Labels) -> Any:
    """One row per violation: rule, severity (category), message, details (JSON text)."""
    rows = result.data["guardrails"]
    found = [r["severity"] for r in rows]
    cats = [*SEVERITIES, *sorted({s for s in found if s not in SEVERITIES})]
    return pd.DataFrame({
        "rule": pd.array([r["rule"] for r in rows], dtype=_text_dtype(pd)),
        "severity": pd.Categorical(found, categories=cats),
        "message": pd.array([r["message"] for r in rows], dtype=_text_dtype(pd)),
        "details": pd.array([json.dumps(r.get("details", {})) for r in rows],
                            dtype=_text_dtype(pd))}, index=pd.RangeIndex(len(rows)))


def _tranches(pd: Any, result: HasResult, labels: Labels) -> Any:
    """Each debt tranche then the LP equity: name, type, median return and multiple."""
    frame = rows_frame(result.data["tranches"], ["name", "type", "return", "multiple"])
    return frame.astype({"return": float, "multiple": float})


def _exit_mix(pd: Any, result: HasResult, labels: Labels) -> Any:
    """One row per exit route (index ``exit``): share of loans, mean count per scenario."""
    mix = result.data["exit_mix"]
    return pd.DataFrame(
        {c: np.array([_f(v[c]) for v in mix.values()], dtype=float)
         for c in ("share", "mean_per_scenario")},
        index=pd.Index(list(mix), name="exit", dtype=_text_dtype(pd)))


def _risk(pd: Any, result: HasResult, labels: Labels) -> Any:
    """One row per risk measure (index ``measure``): value and what it measures."""
    risk = result.data["risk"]
    return pd.DataFrame(
        {"value": np.array([_f(v) for v in risk.values()], dtype=float),
         "meaning": pd.array([RISK_MEANINGS.get(k, "") for k in risk], dtype=_text_dtype(pd))},
        index=pd.Index(list(risk), name="measure", dtype=_text_dtype(pd)))


def _inputs(pd: Any, result: HasResult, labels: Labels) -> Any:
    """The seed the run used, then the config flattened (dotted key -> value)."""
    return key_value_frame(pd, {"seed": result.data["seed"], **flatten(result.data["config"])})


SIMULATION_FRAMES: dict[str, Callable[[Any, HasResult, Labels], Any]] = {
    "scenarios": _scenarios, "statistics": _statistics, "summary": _summary, "fans": _fans,
    "guardrails": _guardrails, "tranches": _tranches, "exit_mix": _exit_mix, "risk": _risk,
    "inputs": _inputs}


def _unknown(name: Any, valid: Sequence[str]) -> ValueError:
    return ValueError(f"name: unknown frame {name!r} (valid: {', '.join(valid)})")


def simulation_frame(result: HasResult, name: str = "scenarios", labels: Labels | None = None) -> Any:
    """One table of a SimulationResult as a typed DataFrame; ``name`` one of
    :data:`SIMULATION_FRAMES` (ValueError listing them otherwise). ``labels``: metric ->
    (label, format), for the summary's ``label`` column."""
    pd = _pandas()
    if name not in SIMULATION_FRAMES:
        raise _unknown(name, list(SIMULATION_FRAMES))
    return SIMULATION_FRAMES[name](pd, result, labels or {})


# --------------------------------------------------------------------------- analysis frames

def analysis_frames(data: Mapping[str, Any]) -> list[str]:
    """The frame names an analysis payload offers: rows, summary, inputs, and fans (stress)."""
    fans = data.get("fans") or {}
    return ["rows", "summary", *(["fans"] if any(k != "years" for k in fans) else []), "inputs"]


SUMMARY_FIELDS = ("kind", "num_simulations", "seed", "statistic", "base_value", "parameter",
                  "target", "x", "value", "iterations", "converged", "bracket", "grid_keys")


def analysis_frame(data: Mapping[str, Any], name: str = "rows") -> Any:
    """One table of an analysis (or sweep) payload as a typed DataFrame: ``rows`` (the
    table, per-zone values split into ``_green/_orange/_red`` columns), ``summary`` (its
    header fields, key -> value), ``fans`` (stress: one row per scenario and year, columns
    ``<fan>_<q>``) or ``inputs`` (the base config flattened)."""
    pd = _pandas()
    valid = analysis_frames(data)
    if name not in valid:
        raise _unknown(name, valid)
    if name == "rows":
        return rows_frame(data["rows"], data["columns"])
    if name == "summary":
        return key_value_frame(pd, {k: _as_text(data[k]) if isinstance(data[k], (list, dict))
                                    else data[k] for k in SUMMARY_FIELDS if k in data})
    if name == "inputs":
        return key_value_frame(pd, flatten(data.get("config") or {}))
    return _stress_fans(pd, data["fans"])


def _stress_fans(pd: Any, fans: Mapping[str, Any]) -> Any:
    """Stress fans, long by scenario: scenario (category), year, ``<fan>_<q>`` columns."""
    years = list(fans["years"])
    names = [k for k in fans if k != "years"]
    cols: dict[str, list[float]] = {}
    for s in names:
        for fan, qs in fans[s].items():
            for q, values in qs.items():
                cols.setdefault(f"{fan}_{q}", []).extend(_f(v) for v in values)
    return pd.DataFrame({
        "scenario": pd.Categorical([s for s in names for _ in years], categories=names),
        "year": np.array(years * len(names), dtype=np.int64),
        **{c: np.array(v, dtype=float) for c, v in cols.items()}},
        index=pd.RangeIndex(len(years) * len(names)))


# --------------------------------------------------------------------------- Excel

Kinds = Callable[[int, str], str]   # (row position, column) -> kind


def by_column(kinds: Callable[[str], str]) -> Kinds:
    """Kinds that depend on the column only."""
    return lambda i, c: kinds(c)


def by_row(row_kinds: Sequence[str], exceptions: Mapping[str, str] | None = None) -> Kinds:
    """Kinds by row (a metric per row), except for the columns in ``exceptions``."""
    ex = dict(exceptions or {})
    return lambda i, c: ex[c] if c in ex else row_kinds[i]


def _cell_value(v: Any) -> Any:
    """A frame value as an Excel cell value: numbers stay numbers; NaN/NA empty; integers
    beyond 2**53 (seeds) as text, which Excel's doubles could not hold exactly."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v) if abs(int(v)) <= 2 ** 53 else str(int(v))
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, (list, tuple, dict)):
        return _as_text(v)
    return None if _is_missing(v) else str(v)


def _is_missing(v: Any) -> bool:
    try:
        return bool(v != v) or type(v).__name__ == "NAType"
    except TypeError:  # pd.NA in a boolean context
        return True


def _width(column: str, values: Sequence[Any]) -> float:
    """A readable column width (characters): the header, the longest of the first 1000
    texts, 12 for numbers; at most 80."""
    texts = [len(v) for v in values[:1000] if isinstance(v, str)]
    return float(min(max(len(column), max(texts) if texts else 12) + 2, 80))


def write_sheet(wb: Any, title: str, frame: Any, kinds: Kinds,
                inputs: bool = False) -> None:
    """``frame`` as a sheet: a bold, frozen header row, the named index first, numbers with
    the number format of their kind (``inputs``: dollars in whole dollars)."""
    if len(frame) > EXCEL_MAX_ROWS:
        raise ValueError(f"{title}: {len(frame):,} rows exceed Excel's {EXCEL_MAX_ROWS:,}; "
                         "use to_parquet() for the scenarios")
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    ws.freeze_panes = "A2"
    named = frame.index.name is not None
    columns = ([str(frame.index.name)] if named else []) + [str(c) for c in frame.columns]
    data = ([list(frame.index)] if named else []) + [list(frame[c]) for c in frame.columns]
    data = [[_cell_value(v) for v in col] for col in data]
    for j, (c, values) in enumerate(zip(columns, data, strict=True)):
        ws.column_dimensions[get_column_letter(j + 1)].width = _width(c, values)
    bold = Font(bold=True)
    header = []
    for c in columns:
        cell = WriteOnlyCell(ws, value=c)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for i in range(len(frame)):
        row: list[Any] = []
        for c, values in zip(columns, data, strict=True):
            v = values[i]
            kind = kinds(i, c) if _number(v) else ""
            if inputs and kind == "$M":
                kind = "$"
            if kind or isinstance(v, float):
                cell = WriteOnlyCell(ws, value=v)
                cell.number_format = FORMATS[kind]
                if isinstance(v, float):  # openpyxl writes %.16g, one digit short of exact:
                    cell._value = repr(v)  # the shortest round-trip text (data type "n")
                row.append(cell)
            else:
                row.append(v)
        ws.append(row)


def write_workbook(path: str | Path, sheets: Sequence[tuple[str, Any, Kinds]]) -> Path:
    """Sheets of (title, frame, kinds) saved as an .xlsx workbook at ``path``; the path."""
    openpyxl = need("openpyxl", "to_excel()", "lab")
    wb = openpyxl.Workbook(write_only=True)
    for title, frame, kinds in sheets:
        write_sheet(wb, title, frame, kinds, inputs=title == "Inputs")
    wb.save(str(path))
    return Path(path)


def _key_kinds(keys: Sequence[str], statistic: str | None = None,
               parameter: str | None = None) -> Kinds:
    """Kinds of a key -> value frame, by key (``x`` in the parameter's units, ``value``,
    ``target``, ``base_value`` in the statistic's)."""
    def kind(key: str) -> str:
        if key == "x" and parameter:
            return column_kind(parameter)
        if key in ("value", "target", "base_value"):
            return kind_of("value", statistic) if statistic else ""
        return column_kind(key)
    row_kinds = [kind(k) for k in keys]
    return lambda i, c: row_kinds[i] if c == "value" else ""


def simulation_excel(result: HasResult, path: str | Path, labels: Labels | None = None) -> Path:
    """A SimulationResult as a workbook: Summary, Scenarios (when the result carries them),
    Statistics, Fans, Guardrails, Tranches, Exit mix, Risk and Inputs sheets."""
    need("openpyxl", "to_excel()", "lab")
    _pandas("to_excel()")

    def frame(name: str) -> Any:
        return simulation_frame(result, name, labels)

    summary, stats, risk, inputs = (frame("summary"), frame("statistics"), frame("risk"),
                                    frame("inputs"))
    fan_base = {c: c.rpartition("_")[0] for c in frame("fans").columns}
    sheets: list[tuple[str, Any, Kinds]] = [
        ("Summary", summary, by_row([column_kind(k) for k in summary.index], {"label": ""}))]
    if result.scenarios:
        sheets.append(("Scenarios", frame("scenarios"), by_column(column_kind)))
    sheets += [
        ("Statistics", stats, by_row([column_kind(k) for k in stats.index], {"count": "n"})),
        ("Fans", frame("fans"), by_column(lambda c: column_kind(fan_base.get(c, c)))),
        ("Guardrails", frame("guardrails"), by_column(lambda c: "")),
        ("Tranches", frame("tranches"), by_column(column_kind)),
        ("Exit mix", frame("exit_mix"), by_column(column_kind)),
        ("Risk", risk, by_row([column_kind(k) for k in risk.index], {"meaning": ""})),
        ("Inputs", inputs, _key_kinds(list(inputs.index)))]
    return write_workbook(path, sheets)


def analysis_excel(data: Mapping[str, Any], path: str | Path) -> Path:
    """An analysis (or sweep) payload as a workbook: Summary, the table (a sheet named by
    the kind: Stress, Tornado, Breakeven, Sweep), Fans (stress) and Inputs."""
    need("openpyxl", "to_excel()", "lab")
    _pandas("to_excel()")
    stat, kind = data.get("statistic"), str(data["kind"])
    rows = analysis_frame(data, "rows")
    bases = split_bases(data["columns"], list(rows.columns))
    own_units = {"tornado": ("low", "high"), "breakeven": ("x",)}.get(kind, ())

    def row_kind(i: int, c: str) -> str:
        base = bases.get(c, c)
        if base in own_units:  # inputs, in the units of the parameter they set
            return column_kind(str(data["rows"][i].get("parameter", data.get("parameter", ""))))
        return column_kind(base, stat)

    summary = analysis_frame(data, "summary")
    sheets: list[tuple[str, Any, Kinds]] = [
        ("Summary", summary, _key_kinds(list(summary.index), stat, data.get("parameter"))),
        (kind.title(), rows, row_kind)]
    if "fans" in analysis_frames(data):
        sheets.append(("Fans", analysis_frame(data, "fans"), by_column(
            lambda c: "year" if c == "year" else column_kind(c.rpartition("_")[0]))))
    inputs = analysis_frame(data, "inputs")
    sheets.append(("Inputs", inputs, _key_kinds(list(inputs.index))))
    return write_workbook(path, sheets)


# --------------------------------------------------------------------------- Parquet

def scenarios_parquet(result: HasResult, path: str | Path) -> Path:
    """The scenarios frame as a Parquet file (index ``scenario`` kept; the run's seed,
    scenario count and config in the schema metadata under ``equihome``); the path."""
    _pandas("to_parquet()")
    pa = need("pyarrow", "to_parquet()", "parquet")
    pq = need("pyarrow.parquet", "to_parquet()", "parquet")
    table = pa.Table.from_pandas(simulation_frame(result, "scenarios"), preserve_index=True)
    about = {"seed": result.data["seed"], "num_simulations": result.data["num_simulations"],
             "config": result.data["config"]}
    meta = {**(table.schema.metadata or {}), b"equihome": json.dumps(about).encode()}
    pq.write_table(table.replace_schema_metadata(meta), str(path))
    return Path(path)
