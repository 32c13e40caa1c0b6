"""The committee's questions as analyses (ANALYSES.md): stress, tornado, breakeven, sweep.

>>> equihome.stress("100m", num_simulations=1000, seed=42).table      # base + the library
>>> equihome.tornado("100m", num_simulations=1000, seed=42).table     # ranked sensitivities
>>> equihome.breakeven("100m", "appreciation_rates", {"statistic": "lp_irr:p50",
...                    "value": "hurdle"}, bounds=(-0.02, 0.08), seed=42).x

Every variant runs on the base's seed and scenario count (common random numbers, see
``equihome.run.variants``), so differences are effects, each with its paired standard
error. :func:`run_analysis` runs one from a request dict (the server's ``POST
/api/analyses`` body); all return an :class:`~equihome.run.analysis_result.AnalysisResult`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from equihome.io.config import ConfigError, FundConfig, _translate
from equihome.io.stress import LIBRARY, StressScenario
from equihome.run.analysis_result import AnalysisResult
from equihome.run.engine import CancelToken, SimulationCancelled, SimulationError, Source
from equihome.run.variants import (
    MAX_VARIANTS,
    Outcome,
    Setup,
    Stream,
    Variant,
    check_count,
    check_statistic,
    paired_se,
    run_one,
    run_variants,
    setup,
)
from equihome.run.variants import statistic as stat_value

KINDS = ("stress", "tornado", "breakeven", "sweep")
DEFAULT_STATISTIC = "lp_irr:p50"
#: The default tornado: each input with its bump (absolute +-, "xF" relative, or [low, high]).
DEFAULT_TORNADO: dict[str, Any] = {
    "appreciation_rates": 0.01,
    "price_path.volatility": 0.03,
    "default_rates": "x2",
    "recovery_rates": 0.05,
    "avg_loan_ltv": 0.05,
    "exit_simulator.base_exit_rate": "x1.5",
    "fee_engine.management_fee_rate": 0.005,
    "hurdle_rate": 0.02,
    "loan_term": 2,
    "fund_term": 2,
}
STRESS_FANS = ("nav", "j_curve")
Listener = Callable[[dict], Any]
RUN_OPTIONS = ("num_simulations", "seed", "overrides", "threads", "kernels", "backend",
               "client", "task_size", "on_event", "cancel", "default_seed", "dry_run")


# --------------------------------------------------------------------------- config paths


def get_path(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted config path (KeyError naming the path if there is none)."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def nest(path: str, value: Any) -> dict[str, Any]:
    """{"a.b": v} as {"a": {"b": v}}."""
    out: dict[str, Any] = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


def _map(value: Any, fn: Callable[[float], float]) -> Any:
    """fn applied to a number, or to each zone of a {green, orange, red} value."""
    if isinstance(value, Mapping):
        return {k: _map(v, fn) for k, v in value.items()}
    out = fn(value)
    return int(round(out)) if isinstance(value, int) and not isinstance(value, bool) else out


def bump_values(base: Any, bump: Any, path: str) -> tuple[Any, Any]:
    """(low, high) values of a tornado input: absolute (number: base -+ bump), relative
    ("x1.5": base / 1.5 and base * 1.5) or explicit ([low, high])."""
    if isinstance(bump, (list, tuple)) and len(bump) == 2:
        return bump[0], bump[1]
    if isinstance(bump, str) and bump.startswith("x"):
        try:
            f = float(bump[1:])
        except ValueError:
            f = 0.0
        if not f > 0.0 or not math.isfinite(f):
            raise ValueError(f"parameters.{path}: a relative bump is 'x' and a positive factor "
                             f"such as 'x1.5', got {bump!r}")
        return _map(base, lambda v: v / f), _map(base, lambda v: v * f)
    if isinstance(bump, (int, float)) and not isinstance(bump, bool) and math.isfinite(bump):
        return _map(base, lambda v: v - bump), _map(base, lambda v: v + bump)
    raise ValueError(f"parameters.{path}: a bump is a number (absolute), 'xF' (relative) or "
                     f"[low, high], got {bump!r}")


# --------------------------------------------------------------------------- rows


def _guardrails(out: Outcome) -> list[str]:
    """The rules a variant breaks (errors and warnings; config notes left out)."""
    assert out.result is not None
    return sorted({v["rule"] for v in out.result.guardrails
                   if v["severity"] in ("error", "warning")})


def _year(fan: dict[str, list], year: int, q: str = "p50") -> float | None:
    values = fan[q]
    return values[min(year, len(values) - 1)] if values else None


def stress_row(out: Outcome, base: Outcome | None, spec: str) -> dict[str, Any]:
    """One stress table row: the scenario's numbers and its change vs the base."""
    row: dict[str, Any] = {"scenario": out.variant.info["scenario"]}
    if out.result is None:
        return {**row, "error": out.error}
    d = out.result.data
    st, risk = d["statistics"], d["risk"]
    value = stat_value(spec, out.result.scenarios, out.hurdle)
    row.update(
        irr_p5=st["lp_irr"]["p5"], irr_p50=st["lp_irr"]["p50"], irr_p95=st["lp_irr"]["p95"],
        tvpi_p50=st["lp_tvpi"]["p50"], loss_rate=st["loss_rate"]["mean"],
        default_share=d["exit_mix"]["default"]["share"],
        dpi_year5=_year(d["fans"]["lp_dpi"], 5), gp_carry=st["gp_carry"]["p50"],
        unpaid_fees=st["unpaid_fees"]["mean"],
        hurdle_clear_probability=risk["hurdle_clear_probability"], cvar_99=risk["cvar_99"],
        statistic=value)
    if base is not None and base.result is not None:
        row["change"] = value - stat_value(spec, base.result.scenarios, base.hurdle)
        row["change_se"] = paired_se(spec, base.result.scenarios, out.result.scenarios,
                                     base.hurdle, out.hurdle)
    else:
        row["change"], row["change_se"] = 0.0, 0.0
    row["guardrails"] = _guardrails(out)
    return row


STRESS_COLUMNS = ["scenario", "irr_p5", "irr_p50", "irr_p95", "tvpi_p50", "loss_rate",
                  "default_share", "dpi_year5", "gp_carry", "unpaid_fees",
                  "hurdle_clear_probability", "cvar_99", "statistic", "change", "change_se",
                  "guardrails"]
TORNADO_COLUMNS = ["parameter", "low", "high", "stat_low", "stat_base", "stat_high",
                   "change_low", "change_high", "se_low", "se_high", "swing", "error"]


def _options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], Listener | None, CancelToken]:
    unknown = sorted(set(kwargs) - set(RUN_OPTIONS))
    if unknown:
        raise TypeError(f"unknown argument(s): {', '.join(unknown)}")
    opts = {k: kwargs.get(k) for k in RUN_OPTIONS if k not in ("on_event", "cancel", "dry_run")}
    opts["kernels"] = opts["kernels"] or "cython"
    opts["backend"] = opts["backend"] or "local"
    return opts, kwargs.get("on_event"), kwargs.get("cancel") or CancelToken()


def _setup(config: Source, opts: dict[str, Any]) -> Setup:
    return setup(config, **opts)


def _meta(kind: str, s: Setup, params: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "num_simulations": s.base.n, "seed": s.base.seed, "params": params,
            "config": s.base.cfg.to_dict()}


# --------------------------------------------------------------------------- stress


def scenarios_from(items: Sequence[Any] | None) -> list[StressScenario]:
    """Stress scenarios from names of the library and/or dicts (ConfigError naming each bad
    field as ``scenarios[i].field``); None: the whole library."""
    if items is None:
        return list(LIBRARY.values())
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise ConfigError([{"loc": ["scenarios"], "value": None,
                            "msg": "scenarios: must be a list of library names or scenario objects"}])
    out, errors = [], []
    for i, item in enumerate(items):
        if isinstance(item, str):
            if item not in LIBRARY:
                errors.append({"loc": ["scenarios", i], "value": item, "msg": (
                    f"scenarios[{i}]: unknown stress scenario {item!r} (library: "
                    f"{', '.join(LIBRARY)})")})
            else:
                out.append(LIBRARY[item])
            continue
        try:
            out.append(StressScenario.model_validate(item))
        except ValidationError as exc:
            for e in _translate(exc, StressScenario, "scenario"):
                e["msg"] = f"scenarios[{i}].{e['msg']}"
                e["loc"] = ["scenarios", i, *e["loc"]]
                errors.append(e)
    names = [s.name for s in out]
    errors += [{"loc": ["scenarios"], "value": n, "msg": f"scenarios: duplicate name {n!r}"}
               for i, n in enumerate(names) if n in names[:i] or n == "base"]
    if errors:
        raise ConfigError(errors)
    return out


def stress(config: Source = "100m", scenarios: Sequence[Any] | None = None,
           statistic: str = DEFAULT_STATISTIC, **kwargs: Any) -> Any:
    """Base vs named stress scenarios, side by side, with common random numbers.

    scenarios: names from the built-in library (``equihome.io.stress.LIBRARY``) and/or
    scenario dicts (``{"name", "price_shock", "hazard_multipliers", "overrides"}``); None
    runs the whole library. Each row: LP IRR P5/P50/P95, TVPI P50, loss rate, default
    share, DPI at year 5, GP carry, unpaid fees, the change of ``statistic`` vs the base
    with its paired standard error, and the guardrails broken. Options as for
    ``equihome.simulate`` (num_simulations, seed, overrides, backend, client, threads,
    on_event, cancel). Raises ConfigError before anything runs when an input is invalid;
    ``dry_run=True`` validates everything, runs nothing and returns the number of runs it
    would make (as every analysis).
    """
    opts, on_event, cancel = _options(kwargs)
    spec = check_statistic(statistic)
    chosen = scenarios_from(scenarios)
    s = _setup(config, opts)
    variants = [Variant("stress:base", {}, {"scenario": "base"})]
    for sc in chosen:
        over = dict(sc.overrides)
        market = sc.market()
        if market is not None:
            over["market_stress"] = market
        variants.append(Variant(f"stress:{sc.name}", over, {"scenario": sc.name}))
    check_count(len(variants))
    for i, v in enumerate(variants[1:]):  # every scenario valid before anything runs
        try:
            s.plan(v)
        except ConfigError as exc:
            raise ConfigError([{**e, "loc": ["scenarios", i, *e["loc"]],
                                "msg": f"scenarios[{i}] ({v.info['scenario']}): {e['msg']}"}
                               for e in exc.errors]) from None
    if kwargs.get("dry_run"):
        return len(variants)
    stream = Stream(on_event, len(variants))
    base = run_variants(s, variants[:1], stream, cancel, lambda o: stress_row(o, None, spec))
    outs = base + run_variants(s, variants[1:], stream, cancel,
                               lambda o: stress_row(o, base[0], spec), slot0=1)
    fans: dict[str, Any] = {"years": base[0].result.data["fans"]["years"] if base[0].result else []}
    fans.update({o.variant.info["scenario"]: {k: o.result.data["fans"][k] for k in STRESS_FANS}
                 for o in outs if o.result is not None})
    params = {"scenarios": [sc.model_dump(mode="json") for sc in chosen], "statistic": spec}
    data = {**_meta("stress", s, params), "statistic": spec, "columns": STRESS_COLUMNS,
            "rows": [stream.rows[v.module] for v in variants], "fans": fans}
    return _finish(stream, data, outs)


# --------------------------------------------------------------------------- tornado


def tornado_inputs(s: Setup, parameters: Mapping[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """(path, low, high) of each input (ValueError naming a bad path or bump)."""
    chosen = DEFAULT_TORNADO if parameters is None else parameters
    if not isinstance(chosen, Mapping) or not chosen:
        raise ValueError("parameters: must be a non-empty object of config path -> bump")
    base = s.base.cfg.to_dict()
    out = []
    for path, bump in chosen.items():
        try:
            value = get_path(base, path)
        except KeyError:
            raise ValueError(f"parameters.{path}: not a config field") from None
        if isinstance(value, bool) or not isinstance(value, (int, float, Mapping)) or (
                isinstance(value, Mapping) and set(value) != {"green", "orange", "red"}):
            raise ValueError(f"parameters.{path}: must name a number or a per-zone value, "
                             f"got {value!r}")
        out.append((path, *bump_values(value, bump, path)))
    return out


def tornado(config: Source = "100m", parameters: Mapping[str, Any] | None = None,
            statistic: str = DEFAULT_STATISTIC, **kwargs: Any) -> Any:
    """One-at-a-time sensitivity: each input bumped down and up, the change in a statistic.

    parameters: {config path: bump}; a bump is absolute (``{"appreciation_rates": 0.01}``
    moves every zone by -+1 pp), relative (``"x1.5"``: divided down, multiplied up) or
    explicit (``[low, high]``); None: :data:`DEFAULT_TORNADO`. Rows are sorted by the larger
    absolute change (``swing``), each with the low and high values, the statistic at low,
    base and high, and the paired standard error of each change. A bump that makes the
    config invalid is reported in its row's ``error``; the other rows still run.
    """
    opts, on_event, cancel = _options(kwargs)
    spec = check_statistic(statistic)
    s = _setup(config, opts)
    inputs = tornado_inputs(s, parameters)
    variants = [Variant("tornado:base")]
    for path, low, high in inputs:
        variants += [Variant(f"tornado:{path}:{side}", nest(path, value), {"path": path})
                     for side, value in (("low", low), ("high", high))]
    check_count(len(variants))
    if kwargs.get("dry_run"):
        return len(variants)
    stream = Stream(on_event, len(variants))
    base = run_variants(s, variants[:1], stream, cancel, lambda o: {"parameter": "base"})[0]
    assert base.result is not None
    b_stat = stat_value(spec, base.result.scenarios, base.hurdle)
    sides: dict[str, dict[str, Outcome]] = {}   # path -> the sides finished so far
    built: dict[str, dict[str, Any]] = {}       # path -> its row, once both sides are in
    lock = threading.Lock()  # on Dask the variants finish on several threads, in any order

    def row(out: Outcome) -> dict[str, Any] | None:
        path, side = out.variant.info["path"], out.variant.module.rsplit(":", 1)[1]
        with lock:
            done = sides.setdefault(path, {})
            done[side] = out
            if len(done) < 2:
                return None
            built[path] = tornado_row(path, inputs, done["low"], done["high"], base, b_stat,
                                      spec)
            return built[path]

    outs = [base] + run_variants(s, variants[1:], stream, cancel, row, slot0=1)
    rows = [built[p] for p, _, _ in inputs]
    rows.sort(key=lambda r: (r["error"] is not None, -(r["swing"] or 0.0)))
    data = {**_meta("tornado", s, {"parameters": {p: [lo, hi] for p, lo, hi in inputs},
                                   "statistic": spec}),
            "statistic": spec, "base_value": b_stat, "columns": TORNADO_COLUMNS, "rows": rows}
    return _finish(stream, data, outs)


def tornado_row(path: str, inputs: list, low: Outcome, high: Outcome, base: Outcome,
                b_stat: float, spec: str) -> dict[str, Any]:
    """One tornado row from the low and high runs of an input."""
    lo_v, hi_v = next((lo, hi) for p, lo, hi in inputs if p == path)
    row: dict[str, Any] = {"parameter": path, "low": lo_v, "high": hi_v, "stat_base": b_stat}
    errors = []
    assert base.result is not None
    for side, out in (("low", low), ("high", high)):
        if out.result is None:
            errors.append(f"{side}: {out.error}")
            row.update({f"stat_{side}": None, f"change_{side}": None, f"se_{side}": None})
            continue
        v = stat_value(spec, out.result.scenarios, out.hurdle)
        row[f"stat_{side}"] = v
        row[f"change_{side}"] = v - b_stat
        row[f"se_{side}"] = paired_se(spec, base.result.scenarios, out.result.scenarios,
                                      base.hurdle, out.hurdle)
    changes = [abs(c) for c in (row["change_low"], row["change_high"])
               if c is not None and math.isfinite(c)]
    row["swing"] = max(changes) if changes else None
    row["error"] = "; ".join(errors) or None
    return row


# --------------------------------------------------------------------------- breakeven


class NoRoot(SimulationError):
    """The statistic does not cross the target inside the bounds."""


def _target(target: Any, spec: str | None, cfg: FundConfig) -> tuple[str, float]:
    """(statistic, target value) from a number or {"statistic", "value"} ("hurdle" allowed)."""
    if isinstance(target, Mapping):
        unknown = sorted(set(target) - {"statistic", "value"})
        if unknown:
            raise ValueError(f"target: unknown field(s) {', '.join(unknown)} (statistic, value)")
        spec, value = target.get("statistic", spec), target.get("value")
    else:
        value = target
    spec = check_statistic(spec or DEFAULT_STATISTIC)
    if value == "hurdle":
        value = cfg.hurdle_rate
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"target: the value must be a finite number or 'hurdle', got {value!r}")
    return spec, float(value)


def breakeven(config: Source = "100m", parameter: str = "appreciation_rates",
              target: Any = None, bounds: Sequence[float] | None = None,
              statistic: str | None = None, xtol: float = 1e-5, ftol: float = 1e-5,
              max_iterations: int = 30, **kwargs: Any) -> Any:
    """The value x of ``parameter`` at which a statistic equals ``target``.

    target: a number (of ``statistic``, default ``lp_irr:p50``) or ``{"statistic":
    "lp_irr:p50", "value": "hurdle"}`` (the config's hurdle). A per-zone parameter
    (``appreciation_rates``) sets every zone to x. With common random numbers the
    statistic is a deterministic function of x; Brent's method searches ``bounds`` (low,
    high) until |statistic - target| <= ftol or the bracket is narrower than xtol. Raises
    NoRoot naming the statistic at both ends when it does not cross the target there.
    """
    opts, on_event, cancel = _options(kwargs)
    s = _setup(config, opts)
    spec, goal = _target(DEFAULT_TARGET if target is None else target, statistic, s.base.cfg)
    a, b = _bounds(bounds)
    try:
        shape = get_path(s.base.cfg.to_dict(), parameter)
    except KeyError:
        raise ValueError(f"parameter: {parameter!r} is not a config field") from None
    if isinstance(shape, bool) or not isinstance(shape, (int, float, Mapping)):
        raise ValueError(f"parameter: {parameter!r} must name a number or a per-zone value")

    def variant(i: int, x: float) -> Variant:
        value = _map(shape, lambda _: x) if isinstance(shape, Mapping) else x
        if isinstance(shape, int):
            raise ValueError(f"parameter: {parameter!r} is an integer; breakeven needs a "
                             "continuous input")
        return Variant(f"breakeven:{i}", nest(parameter, value), {"x": x, "iteration": i})

    for x in (a, b):
        s.plan(variant(0, x))  # both ends valid before anything runs (ConfigError)
    for name, v in (("xtol", xtol), ("ftol", ftol)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
            raise ValueError(f"{name}: must be a number between 0 and 1 (exclusive), got {v!r}")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or not (
            1 <= max_iterations <= MAX_VARIANTS - 2):
        raise ValueError(f"max_iterations: must be an integer from 1 to {MAX_VARIANTS - 2}, "
                         f"got {max_iterations!r}")
    if kwargs.get("dry_run"):
        return max_iterations + 2
    stream = Stream(on_event, EXPECTED_EVALUATIONS)
    evals: list[tuple[float, float]] = []

    def f(x: float) -> float:
        i = len(evals)
        stream.grow(i + 1)
        out = run_one(s, variant(i, x), i, stream, cancel, lambda o: _eval_row(o, spec, goal))
        if out.result is None:
            raise SimulationError("breakeven", f"{parameter} = {x:g}: {out.error}")
        value = stat_value(spec, out.result.scenarios, out.hurdle)
        evals.append((x, value))
        return value - goal

    try:
        x, lo, hi, converged = brent(f, a, b, xtol, ftol, max_iterations, spec, goal, parameter)
    except (SimulationCancelled, SimulationError) as exc:
        stream.fail(exc, f"breakeven:{len(evals)}")
        raise
    value = dict(evals)[x]
    data = {**_meta("breakeven", s, {"parameter": parameter, "target": goal, "statistic": spec,
                                     "bounds": [a, b], "xtol": xtol, "ftol": ftol}),
            "parameter": parameter, "statistic": spec, "target": goal, "x": x,
            "value": value, "iterations": len(evals), "bracket": [lo, hi],
            "converged": converged, "columns": ["iteration", "x", "statistic", "residual"],
            "rows": [stream.rows[f"breakeven:{i}"] for i in range(len(evals))]}
    return _finish(stream, data, [])


DEFAULT_TARGET = {"statistic": DEFAULT_STATISTIC, "value": "hurdle"}
EXPECTED_EVALUATIONS = 10


def _bounds(bounds: Any) -> tuple[float, float]:
    ok = (isinstance(bounds, (list, tuple)) and len(bounds) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                  for v in bounds) and bounds[0] < bounds[1])
    if not ok:
        raise ValueError(f"bounds: must be [low, high] with low < high, got {bounds!r}")
    return float(bounds[0]), float(bounds[1])


def _eval_row(out: Outcome, spec: str, goal: float) -> dict[str, Any]:
    assert out.result is not None
    value = stat_value(spec, out.result.scenarios, out.hurdle)
    return {"iteration": out.variant.info["iteration"], "x": out.variant.info["x"],
            "statistic": value, "residual": value - goal}


def brent(f: Callable[[float], float], a: float, b: float, xtol: float, ftol: float,
          max_iterations: int, spec: str, goal: float,
          parameter: str) -> tuple[float, float, float, bool]:
    """Brent's root finder on [a, b]: (x, bracket low, bracket high, converged).

    Inverse quadratic interpolation or the secant step when they stay inside the bracket
    and shrink it fast enough, bisection otherwise (Brent 1973). NoRoot when f(a) and f(b)
    have the same sign (neither within ftol of 0).
    """
    fa, fb = f(a), f(b)
    if not (math.isfinite(fa) and math.isfinite(fb)):
        raise NoRoot("breakeven", f"{spec} is undefined at {parameter} = {a:g} or {b:g}")
    if abs(fa) <= ftol:
        return a, a, b, True
    if abs(fb) <= ftol:
        return b, a, b, True
    if fa * fb > 0:
        raise NoRoot("breakeven", (
            f"no root in the bounds: {spec} is {fa + goal:.6g} at {parameter} = {a:g} and "
            f"{fb + goal:.6g} at {b:g}, both on the same side of the target {goal:.6g}"))
    c, fc, d = a, fa, b - a
    e = d
    for _ in range(max_iterations):
        if fb * fc > 0:
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 2e-16 * abs(b) + 0.5 * xtol
        m = 0.5 * (c - b)
        if abs(fb) <= ftol or abs(m) <= tol:
            return b, min(b, c), max(b, c), True
        if abs(e) >= tol and abs(fa) > abs(fb):
            s_ = fb / fa
            if a == c:
                p, q = 2.0 * m * s_, 1.0 - s_
            else:
                q_, r = fa / fc, fb / fc
                p = s_ * (2.0 * m * q_ * (q_ - r) - (b - a) * (r - 1.0))
                q = (q_ - 1.0) * (r - 1.0) * (s_ - 1.0)
            if p > 0:
                q = -q
            p = abs(p)
            if 2.0 * p < min(3.0 * m * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q
            else:
                d = e = m
        else:
            d = e = m
        a, fa = b, fb
        b += d if abs(d) > tol else (tol if m > 0 else -tol)
        fb = f(b)
    return b, min(b, c), max(b, c), False


# --------------------------------------------------------------------------- sweep and requests


def sweep_analysis(config: Source = "100m", grid: Mapping[str, Sequence[Any]] | None = None,
                   **kwargs: Any) -> Any:
    """A strategy sweep (``equihome.sweep``) as an analysis result, with the same events."""
    from equihome.run.sweep import SweepResult
    from equihome.run.sweep import sweep as run_sweep

    table = run_sweep(config, grid, **kwargs)
    if not isinstance(table, SweepResult):  # dry_run: the number of strategies
        return table
    return AnalysisResult(table.analysis_data, table.results, table.execution_time)


def _kind_call(kind: str) -> Callable[..., Any]:
    calls: dict[str, Callable[..., Any]] = {"stress": stress, "tornado": tornado,
                                            "breakeven": breakeven, "sweep": sweep_analysis}
    return calls[kind]


PARAMS: dict[str, tuple[str, ...]] = {
    "stress": ("scenarios", "statistic"),
    "tornado": ("parameters", "statistic"),
    "breakeven": ("parameter", "target", "bounds", "statistic", "xtol", "ftol",
                  "max_iterations"),
    "sweep": ("grid",),
}


def analysis_call(request: Mapping[str, Any]) -> tuple[Callable[..., Any], Source,
                                                       dict[str, Any]]:
    """(function, config source, keyword arguments) of an analysis request
    ``{"kind", "preset" | "config", "overrides", "params"}`` (ValueError naming the field)."""
    kind = request.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    params = request.get("params") or {}
    if not isinstance(params, Mapping):
        raise ValueError("params: must be an object")
    unknown = sorted(set(params) - set(PARAMS[kind]))
    if unknown:
        raise ValueError(f"params: unknown field(s) for {kind}: {', '.join(unknown)} "
                         f"(allowed: {', '.join(PARAMS[kind])})")
    source = request["config"] if request.get("config") is not None else request.get("preset")
    kwargs = dict(params)
    kwargs["overrides"] = request.get("overrides")
    return _kind_call(kind), source, kwargs


def run_analysis(request: Mapping[str, Any], **options: Any) -> AnalysisResult:
    """Run an analysis request (see :func:`analysis_call`); ``options``: on_event, cancel,
    threads, default_seed, backend, client, kernels."""
    fn, source, kwargs = analysis_call(request)
    return fn(source, **kwargs, **options)


def validate_request(request: Mapping[str, Any]) -> int:
    """Check an analysis request completely without running it (ConfigError for config
    fields, ValueError for the rest; both name the field); returns the runs it needs at most."""
    fn, source, kwargs = analysis_call(request)
    try:
        return int(fn(source, **kwargs, dry_run=True))
    except TypeError as exc:  # a params field of the wrong shape reaching a signature
        raise ValueError(f"params: {exc}") from None


def _finish(stream: Stream, data: dict[str, Any], outs: list[Outcome]) -> AnalysisResult:
    """Send the final events and wrap the result (with each variant's SimulationResult)."""
    elapsed = stream.finish(data)
    return AnalysisResult(data, [o.result for o in outs], elapsed)
