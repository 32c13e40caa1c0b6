"""Charts of analysis results (matplotlib): tornado, stress, breakeven and sweep.

:func:`plot_analysis` draws an analysis's wire payload (``AnalysisResult.data``) on an axes
(or a new pyplot figure, which a notebook shows) and returns None; :func:`svg` returns the
same chart as an inline SVG string, drawn on a pyplot-free Figure (no display, any thread),
for ``AnalysisResult._repr_html_`` and the notebook view.

Values stay in their own units on the axes (rates as fractions shown with a % formatter,
multiples with an x, dollars in $M), so a chart's artists read back as the table's numbers.

>>> equihome.tornado("100m", num_simulations=500, seed=1).plot()
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from equihome.io.units import kind_of

BLUE, ORANGE, GREY, RED = "#1f6fb2", "#d9822b", "#9aa5b1", "#c62828"
#: No date (the same result draws the same bytes) and no RDF/creator links in an SVG.
SVG_METADATA: dict[str, Any] = {"Date": None, "Creator": None, "Format": None, "Type": None}


def unit(name: str | None) -> str:
    """How a statistic or input reads on an axis: "%" rates, "x" multiples, "$M" dollars,
    "" plain numbers (terms in years, counts). The tables' rule: :func:`equihome.io.units.kind_of`."""
    return kind_of(name)


def _scale(kind: str) -> float:
    """Factor from a value to where it is drawn ($ are drawn in $M)."""
    return 1e-6 if kind == "$M" else 1.0


def fmt_value(v: Any, kind: str, compact: bool = False) -> str:
    """A value for a chart label (per-zone values as green/orange/red); ``compact``: rates
    to 3 significant digits (inputs: 5%, 0.25%, 6.67%), else statistics to 0.01 %."""
    if v is None:
        return "n/a"
    if isinstance(v, dict):
        return "/".join(fmt_value(v.get(z), kind, compact) for z in ("green", "orange", "red"))
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if kind == "%":
        return f"{100 * v:.3g}%" if compact else f"{v:.2%}"
    if kind == "x":
        return f"{v:.3f}x"
    if kind == "$M":
        return f"${v / 1e6:,.2f}M"
    return f"{v:g}"


def format_axis(axis: Any, kind: str) -> None:
    """Tick labels in the statistic's unit."""
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    if kind == "%":
        axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    elif kind == "x":
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2f}x"))
    elif kind == "$M":
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{'-' if v < 0 else ''}${abs(v):,.1f}M"))


def _unit_text(kind: str) -> str:
    return {"%": "%", "x": "multiple, x", "$M": "$M"}.get(kind, "value")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


# --------------------------------------------------------------------------- charts


def plot_tornado(ax: Any, data: dict[str, Any]) -> None:
    """Horizontal bars from the base value to the statistic at each input's low (blue) and
    high (orange) value, the largest swing on top; each bar labelled with its input value."""
    spec = data.get("statistic") or "lp_irr:p50"
    kind = unit(spec)
    s = _scale(kind)
    base = float(data["base_value"])
    rows = [r for r in data["rows"] if r.get("parameter") != "base"]
    labels = []
    for i, r in enumerate(rows):
        name = str(r["parameter"])
        labels.append(f"{name}\n(failed: see table)" if r.get("error") else name)
        pkind = unit(name)
        for side, colour in (("low", BLUE), ("high", ORANGE)):
            v = r.get(f"stat_{side}")
            if _number(v):
                ax.barh(i, (v - base) * s, left=base * s, height=0.6, color=colour, alpha=0.85,
                        gid=f"{side}:{name}", label=f"{side} input" if i == 0 else None)
        for side, x, right in _label_places(r, base):
            ax.annotate(fmt_value(r.get(side), pkind, compact=True), (x * s, i), fontsize=7,
                        va="center", xytext=(3 if right else -3, 0),
                        textcoords="offset points", ha="left" if right else "right")
    ax.axvline(base * s, color="black", lw=1, label=f"base {fmt_value(base, kind)}")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
        if r.get("error"):
            tick.set_color(RED)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the largest swing on top
    ax.margins(x=0.25)
    format_axis(ax.xaxis, kind)
    ax.set_xlabel(f"{spec} ({_unit_text(kind)})")
    ax.set_title(f"Tornado: {spec}, {len(rows)} inputs bumped low/high, "
                 f"{data.get('num_simulations', 0):,} scenarios per run", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)


def _label_places(row: dict[str, Any], base: float) -> list[tuple[str, float, bool]]:
    """Where a tornado row's input labels go: (side, x, to the right?). The side whose
    statistic is lower is labelled left of its bar (or of the base line, when both bars lie
    right of it), the other right, so the two labels never overlap."""
    vals = {side: float(row[f"stat_{side}"]) for side in ("low", "high")
            if _number(row.get(f"stat_{side}"))}
    sides = list(vals)
    if len(sides) == 1:
        v = vals[sides[0]]
        return [(sides[0], v, v > base or (v == base and sides[0] == "high"))]
    left, right = sorted(sides, key=lambda side: (vals[side], side != "low"))
    return [(left, min(vals[left], base), False), (right, max(vals[right], base), True)]


def plot_stress(ax: Any, data: dict[str, Any]) -> None:
    """LP IRR P5-P95 range (a bar) and P50 (a diamond) per scenario, base first in blue,
    with the hurdle as a dashed line."""
    rows = data["rows"]
    names = [str(r["scenario"]) for r in rows]
    labelled: set[str] = set()
    for i, r in enumerate(rows):
        if not (_number(r.get("irr_p5")) and _number(r.get("irr_p95"))):
            continue
        is_base = r["scenario"] == "base"
        colour = BLUE if is_base else ORANGE
        label = "P5-P95, base" if is_base else "P5-P95, stressed"
        ax.bar(i, r["irr_p95"] - r["irr_p5"], bottom=r["irr_p5"], width=0.55, color=colour,
               alpha=0.35, edgecolor=colour, gid=f"range:{r['scenario']}",
               label=label if label not in labelled else None)
        labelled.add(label)
    pts = [(i, r["irr_p50"]) for i, r in enumerate(rows) if _number(r.get("irr_p50"))]
    if pts:
        ax.plot([i for i, _ in pts], [v for _, v in pts], linestyle="none", marker="D",
                color="black", markersize=5, label="P50 (median)", gid="p50")
        for i, v in pts:
            ax.annotate(fmt_value(v, "%"), (i, v), fontsize=7, xytext=(0, 5),
                        textcoords="offset points", ha="center")
    hurdle = (data.get("config") or {}).get("hurdle_rate")
    if _number(hurdle):
        ax.axhline(hurdle, color=RED, lw=1, linestyle="--", label=f"hurdle {hurdle:.1%}",
                   gid="hurdle")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    for tick in ax.get_xticklabels():
        if tick.get_text() == "base":
            tick.set_fontweight("bold")
            tick.set_color(BLUE)
    ax.use_sticky_edges = False  # bars would pin the y limits to the lowest P5
    ax.margins(y=0.08)
    format_axis(ax.yaxis, "%")
    ax.set_ylabel("LP net IRR (%)")
    ax.set_title(f"Stress: LP net IRR P5/P50/P95, base + {len(rows) - 1} scenarios, "
                 f"{data.get('num_simulations', 0):,} simulations each", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot_breakeven(ax: Any, data: dict[str, Any]) -> None:
    """Each evaluation (x, statistic) numbered in order, the target line, and the answer
    marked with a star."""
    spec, param = data["statistic"], data["parameter"]
    kind, pkind = unit(spec), unit(param)
    s = _scale(kind)
    evals = [(r["x"], r["statistic"], r["iteration"]) for r in data["rows"]
             if _number(r.get("x")) and _number(r.get("statistic"))]
    if evals:
        line = sorted(evals)
        ax.plot([x for x, _, _ in line], [v * s for _, v, _ in line], color=GREY, lw=1,
                linestyle=":")
        ax.plot([x for x, _, _ in evals], [v * s for _, v, _ in evals], linestyle="none",
                marker="o", color=BLUE, label="evaluations", gid="evaluations")
        for xi, v, i in evals:
            ax.annotate(str(i), (xi, v * s), fontsize=7, xytext=(4, -9),
                        textcoords="offset points")
    target = data["target"]
    ax.axhline(target * s, color=RED, lw=1, linestyle="--",
               label=f"target {fmt_value(target, kind)}", gid="target")
    answer, value = data.get("x"), data.get("value")
    if _number(answer) and isinstance(value, (int, float)) and _number(value):
        ax.axvline(answer, color="black", lw=0.8, linestyle=":")
        ax.plot([answer], [value * s], marker="*", markersize=14, color=ORANGE,
                linestyle="none", label=f"{param} = {fmt_value(answer, pkind)}", gid="answer")
    format_axis(ax.xaxis, pkind)
    format_axis(ax.yaxis, kind)
    ax.set_xlabel(f"{param} ({_unit_text(pkind)})")
    ax.set_ylabel(f"{spec} ({_unit_text(kind)})")
    state = "converged" if data.get("converged") else "NOT converged"
    ax.set_title(f"Breakeven: {param} where {spec} = {fmt_value(target, kind)}\n"
                 f"{data.get('iterations', len(evals))} runs of "
                 f"{data.get('num_simulations', 0):,} scenarios, {state}", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


AXIS_NAMES = {"cvar_99": "CVaR 99 of the LP capital loss (1 - TVPI)",
              "var_99": "VaR 99 of the LP capital loss (1 - TVPI)",
              "cvar_95": "CVaR 95 of the LP capital loss (1 - TVPI)",
              "var_95": "VaR 95 of the LP capital loss (1 - TVPI)",
              "irr_p50": "median LP net IRR", "irr_p5": "P5 of the LP net IRR",
              "irr_p95": "P95 of the LP net IRR", "tvpi_p50": "median LP TVPI",
              "roi_p50": "median ROI", "hurdle_clear_probability": "P(LP IRR >= hurdle)"}
LABEL_FONT = 7.0              # pt, the strategy labels of the sweep chart
LINE_HEIGHT = 1.3             # line spacing of those labels, in font sizes


def strategy_label(row: dict[str, Any], keys: Sequence[str]) -> str:
    """A strategy's grid values, e.g. ``avg_loan_ltv=30%, model_type=gbm``."""
    return ", ".join(f"{k.split('.')[-1]}={fmt_value(row.get(k), unit(k), compact=True)}"
                     for k in keys)


def point_groups(rows: Sequence[dict[str, Any]], risk: str, ret: str,
                 tolerance: float = 0.02) -> list[list[dict[str, Any]]]:
    """The rows with both numbers, grouped when closer than ``tolerance`` of the data's span
    on both axes (points a reader could not tell apart), in order of first appearance."""
    ok = [r for r in rows if _number(r.get(risk)) and _number(r.get(ret))]
    xs, ys = [r[risk] for r in ok], [r[ret] for r in ok]
    tol_x = tolerance * (((max(xs) - min(xs)) if xs else 0.0) or 1.0)
    tol_y = tolerance * (((max(ys) - min(ys)) if ys else 0.0) or 1.0)
    groups: list[list[dict[str, Any]]] = []
    for r in ok:
        near = next((g for g in groups if abs(g[0][risk] - r[risk]) <= tol_x
                     and abs(g[0][ret] - r[ret]) <= tol_y), None)
        if near is None:
            groups.append([r])
        else:
            near.append(r)
    return groups


def group_label(group: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    """One strategy's label, or ``N strategies:`` and a line for each."""
    lines = [strategy_label(r, keys) for r in group]
    return lines[0] if len(lines) == 1 else "\n".join([f"{len(lines)} strategies:", *lines])


def frontier(rows: Sequence[dict[str, Any]], risk: str, ret: str) -> list[dict[str, Any]]:
    """The rows no other beats on both ``risk`` (lower better) and ``ret`` (higher better),
    by rising risk: the rule of ``equihome.run.sweep.efficient_frontier``."""
    ok = [r for r in rows if _number(r.get(risk)) and _number(r.get(ret))]
    return sorted((r for r in ok if not any(
        o[risk] <= r[risk] and o[ret] >= r[ret] and (o[risk] < r[risk] or o[ret] > r[ret])
        for o in ok)), key=lambda r: (r[risk], -r[ret]))


def label_positions(wanted: Sequence[float], heights: Sequence[float],
                    gap: float = 0.01) -> list[float]:
    """Centres (axes fraction) of labels stacked in one column without overlap: each as close
    to its ``wanted`` centre as the labels above it allow (``wanted`` falling), then the
    column lifted back inside [0, 1] where it ran out below."""
    pos: list[float] = []
    for i, (w, h) in enumerate(zip(wanted, heights, strict=True)):
        top = 1.0 if i == 0 else pos[-1] - heights[i - 1] / 2 - gap
        pos.append(min(w + h / 2, top) - h / 2)
    if pos and pos[-1] - heights[-1] / 2 < 0.0:
        lift = min(-(pos[-1] - heights[-1] / 2), max(0.0, 1.0 - (pos[0] + heights[0] / 2)))
        pos = [p + lift for p in pos]
    return pos


def plot_sweep(ax: Any, data: dict[str, Any], risk: str = "cvar_99",
               ret: str = "irr_p50") -> None:
    """Every strategy's risk (CVaR 99) against its return (median LP IRR), with the
    efficient frontier as a line.

    Strategies at (nearly) one point share a larger marker (its area grows with their
    count) and one label, ``N strategies:`` with a line each. Labels sit in a column right
    of the axes, stacked without overlap, each joined to its point by a thin leader line.
    """
    keys: Sequence[str] = data.get("grid_keys") or []
    rows = [r for r in data["rows"] if _number(r.get(risk)) and _number(r.get(ret))]
    groups = point_groups(rows, risk, ret)
    count = {id(r): len(g) for g in groups for r in g}
    rkind, vkind = unit(risk), unit(ret)
    ax.scatter([r[risk] for r in rows], [r[ret] for r in rows],
               s=[36.0 * count[id(r)] for r in rows], color=GREY, alpha=0.7,
               edgecolors="#333333", linewidths=0.6, zorder=2,
               label="strategy (larger: several at one point)", gid="strategies")
    front = frontier(rows, risk, ret)
    if front:
        ax.plot([r[risk] for r in front], [r[ret] for r in front], marker="o", markersize=4,
                color=BLUE, zorder=3, label="efficient frontier", gid="frontier")
    ax.use_sticky_edges = False
    ax.margins(0.12)
    ax.autoscale_view()
    y0, y1 = ax.get_ylim()
    ax.set_ylim(y0, y1)  # frozen: the labels below are placed against these limits
    axes_pt = max(ax.get_position().height * ax.figure.get_figheight() * 72.0, 1.0)
    line = LABEL_FONT * LINE_HEIGHT / axes_pt
    order = sorted(groups, key=lambda g: -g[0][ret])
    texts = [group_label(g, keys) for g in order]
    heights = [line * (t.count("\n") + 1) for t in texts]
    wanted = [(g[0][ret] - y0) / ((y1 - y0) or 1.0) for g in order]
    for g, text, y in zip(order, texts, label_positions(wanted, heights), strict=True):
        ax.annotate(text, (g[0][risk], g[0][ret]), xytext=(1.03, y),
                    textcoords="axes fraction", fontsize=LABEL_FONT, va="center", ha="left",
                    annotation_clip=False, gid=f"label:{len(g)}",
                    arrowprops={"arrowstyle": "-", "color": GREY, "lw": 0.6,
                                "shrinkA": 1, "shrinkB": 4})
    format_axis(ax.xaxis, rkind)
    format_axis(ax.yaxis, vkind)
    ax.set_xlabel(f"{AXIS_NAMES.get(risk, risk)} ({_unit_text(rkind)}, lower is better)")
    ax.set_ylabel(f"{AXIS_NAMES.get(ret, ret)} ({_unit_text(vkind)}, higher is better)")
    ax.set_title(f"Sweep: {len(data['rows'])} strategies, "
                 f"{data.get('num_simulations', 0):,} scenarios each", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


PLOTTERS = {"tornado": plot_tornado, "stress": plot_stress, "breakeven": plot_breakeven,
            "sweep": plot_sweep}


def figsize(data: dict[str, Any]) -> tuple[float, float]:
    """A figure size (inches) that fits the analysis's rows."""
    n = len(data.get("rows") or [])
    kind = data.get("kind")
    if kind == "tornado":
        return 8.5, 1.4 + 0.5 * n
    if kind == "stress":
        return max(7.0, 1.5 + 0.6 * n), 4.8
    if kind == "sweep":
        return sweep_size(data)
    return 7.5, 4.6


def sweep_size(data: dict[str, Any], risk: str = "cvar_99",
               ret: str = "irr_p50") -> tuple[float, float]:
    """Room for the sweep chart and its column of labels (inches)."""
    groups = point_groups(data.get("rows") or [], risk, ret)
    keys = data.get("grid_keys") or []
    texts = [group_label(g, keys) for g in groups]
    lines = sum(t.count("\n") + 1 for t in texts) + 0.8 * len(texts)
    widest = max((len(line) for t in texts for line in t.splitlines()), default=0)
    return 6.5 + widest * LABEL_FONT * 0.55 / 72, max(4.6, 1.6 + lines * LABEL_FONT * 1.4 / 72)


def draw(ax: Any, data: dict[str, Any]) -> None:
    """Draw the chart of ``data``'s kind on ``ax`` (ValueError for an unknown kind)."""
    kind = data.get("kind")
    if kind not in PLOTTERS:
        raise ValueError(f"no chart for analysis kind {kind!r} (one of {', '.join(PLOTTERS)})")
    PLOTTERS[kind](ax, data)


def plot_analysis(data: dict[str, Any], ax: Any = None) -> None:
    """Draw an analysis's chart on ``ax`` or on a new pyplot figure (shown by a notebook).

    Returns None, so a notebook prints no ``<Axes ...>`` line. Needs matplotlib
    (``pip install "equihome[lab]"``).
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize(data), layout="constrained")
    draw(ax, data)


def svg(data: dict[str, Any]) -> str:
    """The chart as an inline ``<svg>`` element (text kept as text, no XML prologue).

    Drawn on a pyplot-free Figure: no display and no global figure state, so any thread
    may call it.
    """
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize(data), layout="constrained")
    draw(fig.add_subplot(), data)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata=SVG_METADATA)
    text = buf.getvalue()
    return text[text.index("<svg"):]


__all__ = ["draw", "figsize", "frontier", "plot_analysis", "plot_breakeven", "plot_stress",
           "plot_sweep", "plot_tornado", "point_groups", "svg", "sweep_size", "unit"]
