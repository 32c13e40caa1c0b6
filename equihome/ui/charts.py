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

BLUE, ORANGE, GREY, RED = "#1f6fb2", "#d9822b", "#9aa5b1", "#c62828"
_DOLLAR = ("carry", "unpaid_fees", "fees_paid", "deployed")
_MULTIPLE = ("tvpi", "dpi", "multiple")
_PLAIN = ("term", "num_", "months", "count", "year")


def unit(name: str | None) -> str:
    """How a statistic or input reads on an axis: "%" rates, "x" multiples, "$M" dollars,
    "" plain numbers (terms in years, counts)."""
    metric = (name or "").partition(":")[0]
    if any(h in metric for h in _DOLLAR):
        return "$M"
    if any(h in metric for h in _MULTIPLE):
        return "x"
    if any(h in metric for h in _PLAIN):
        return ""
    return "%"


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


def _format_axis(axis: Any, kind: str) -> None:
    """Tick labels in the statistic's unit."""
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    if kind == "%":
        axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    elif kind == "x":
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2f}x"))
    elif kind == "$M":
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.1f}M"))


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
            if not _number(v):
                continue
            width = (v - base) * s
            ax.barh(i, width, left=base * s, height=0.6, color=colour, alpha=0.85,
                    gid=f"{side}:{name}", label=f"{side} input" if i == 0 else None)
            right = width > 0 or (width == 0 and side == "high")  # no change: low left
            ax.annotate(fmt_value(r.get(side), pkind, compact=True), (v * s, i), fontsize=7,
                        va="center", xytext=(3 if right else -3, 0),
                        textcoords="offset points", ha="left" if right else "right")
    ax.axvline(base * s, color="black", lw=1, label=f"base {fmt_value(base, kind)}")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
        if r.get("error"):
            tick.set_color(RED)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the largest swing on top
    ax.margins(x=0.25)
    _format_axis(ax.xaxis, kind)
    ax.set_xlabel(f"{spec} ({_unit_text(kind)})")
    ax.set_title(f"Tornado: {spec}, {len(rows)} inputs bumped low/high, "
                 f"{data.get('num_simulations', 0):,} scenarios per run", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)


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
    _format_axis(ax.yaxis, "%")
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
    _format_axis(ax.xaxis, pkind)
    _format_axis(ax.yaxis, kind)
    ax.set_xlabel(f"{param} ({_unit_text(pkind)})")
    ax.set_ylabel(f"{spec} ({_unit_text(kind)})")
    state = "converged" if data.get("converged") else "NOT converged"
    ax.set_title(f"Breakeven: {param} where {spec} = {fmt_value(target, kind)}\n"
                 f"{data.get('iterations', len(evals))} runs of "
                 f"{data.get('num_simulations', 0):,} scenarios, {state}", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


def plot_sweep(ax: Any, data: dict[str, Any], risk: str = "cvar_99",
               ret: str = "irr_p50") -> None:
    """Every strategy's risk (CVaR 99) against its return (median LP IRR), with the
    efficient frontier through the undominated ones."""
    rows = [r for r in data["rows"] if _number(r.get(risk)) and _number(r.get(ret))]
    ax.scatter([r[risk] for r in rows], [r[ret] for r in rows], color=GREY, zorder=2,
               label="strategies", gid="strategies")
    front = sorted((r for r in rows if r.get("efficient")), key=lambda r: (r[risk], -r[ret]))
    if front:
        ax.plot([r[risk] for r in front], [r[ret] for r in front], marker="o", color=BLUE,
                zorder=3, label="efficient frontier", gid="frontier")
    keys: Sequence[str] = data.get("grid_keys") or []
    groups: dict[tuple[float, float], list[str]] = {}
    for r in rows:  # strategies at the same point share one label, a line each
        groups.setdefault((round(r[risk], 6), round(r[ret], 6)), []).append(", ".join(
            f"{k.split('.')[-1]}={fmt_value(r.get(k), unit(k), compact=True)}" for k in keys))
    for (x, y), lines in groups.items():
        ax.annotate("\n".join(lines), (x, y), fontsize=6, xytext=(4, 4),
                    textcoords="offset points", va="bottom")
    _format_axis(ax.xaxis, "%")
    _format_axis(ax.yaxis, "%")
    ax.set_xlabel(f"{risk}, LP loss (%, lower is better)")
    ax.set_ylabel(f"{ret}, LP net IRR (%, higher is better)")
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
    return 7.5, 4.6


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
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


__all__ = ["draw", "figsize", "plot_analysis", "plot_breakeven", "plot_stress", "plot_sweep",
           "plot_tornado", "svg", "unit"]
