"""Charts of a simulation result (matplotlib): distributions, fans over time and exit mix.

:func:`figure` draws a result payload (``SimulationResult.data``) on a pyplot-free
``matplotlib.figure.Figure`` (no display, no global state: safe in any thread); :func:`svg`
returns it as inline SVG text (the HTML report) and :func:`png` as PNG bytes (the notebook
view). ``panels`` picks and orders the charts (default: all of :data:`PANELS`).

Values keep their units on the axes, as in :mod:`equihome.ui.charts`: rates as fractions with
a % formatter, multiples with an x, dollars drawn in $M, years on the x axis of the fans.

>>> png(equihome.simulate("100m", num_simulations=1000, seed=1).data)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from equihome.io.units import finite_number
from equihome.ui.charts import BLUE, GREY, ORANGE, RED, SVG_METADATA, format_axis

GREEN = "#2e7d32"
PANELS = ("lp_irr", "lp_tvpi", "j_curve", "nav", "multiples", "exit_mix")
HISTOGRAMS = {"lp_irr": ("LP net IRR", "%"), "lp_tvpi": ("LP TVPI (net multiple)", "x")}
FANS = {"j_curve": "J-curve: LP cumulative net cash flow", "nav": "Fund NAV"}


def _nan(v: Any) -> float:
    """None (a value that does not exist) as NaN, so a line breaks there."""
    return float("nan") if v is None else float(v)


def _empty(ax: Any, title: str, why: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=8, color=GREY,
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def total(hist: dict[str, Any]) -> int:
    """Scenarios a histogram counts: its bins, both tails and the missing values."""
    return int(sum(hist["counts"]) + hist["below"] + hist["above"] + hist["missing"])


def plot_histogram(ax: Any, data: dict[str, Any], metric: str) -> None:
    """The bounded histogram of ``metric`` (bars: share of all scenarios per bin), its P5,
    median and P95 as lines, the hurdle (IRR) or 1.00x (TVPI) as a dashed line, and the
    scenarios outside the bins counted in a note."""
    name, kind = HISTOGRAMS[metric]
    hist = (data.get("histograms") or {}).get(metric)
    if not hist or not hist.get("counts"):
        _empty(ax, f"{name} distribution", "no histogram in this result")
        return
    edges, counts, n = hist["edges"], hist["counts"], total(hist)
    widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
    ax.bar(edges[:-1], [c / n for c in counts], width=widths, align="edge", color=BLUE,
           alpha=0.75, edgecolor="white", linewidth=0.4, gid=f"hist:{metric}")
    st: dict[str, Any] = (data.get("statistics") or {}).get(metric) or {}
    for q, style, label in (("p5", ":", "P5"), ("p50", "-", "median"), ("p95", ":", "P95")):
        v = st.get(q)
        if finite_number(v):
            text = f"{100 * v:.2f}%" if kind == "%" else f"{v:.2f}x"
            ax.axvline(v, color="black", lw=1.2 if q == "p50" else 0.9, linestyle=style,
                       label=f"{label} {text}", gid=f"{q}:{metric}")
    hurdle = (data.get("config") or {}).get("hurdle_rate")
    if metric == "lp_irr" and finite_number(hurdle):
        ax.axvline(hurdle, color=RED, lw=1, linestyle="--", label=f"hurdle {hurdle:.1%}")
    elif metric == "lp_tvpi":
        ax.axvline(1.0, color=RED, lw=1, linestyle="--", label="1.00x: capital back")
    tails = [f"{hist['below']} below", f"{hist['above']} above the bins"]
    if hist["missing"]:
        tails.append(f"{hist['missing']} without a value")
    ax.text(0.01, 0.98, f"{n:,} scenarios; " + ", ".join(tails), transform=ax.transAxes,
            fontsize=7, va="top", color="#555555")
    format_axis(ax.xaxis, kind)
    format_axis(ax.yaxis, "%")
    ax.set_xlabel(f"{name} ({'%' if kind == '%' else 'multiple, x'})")
    ax.set_ylabel("share of scenarios (%)")
    ax.set_title(f"{name} distribution", fontsize=10)
    ax.set_ylim(0, max(counts) / n * 1.25)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(axis="y", alpha=0.3)


def _band(ax: Any, years: Sequence[int], fan: dict[str, list], scale: float, colour: str,
          name: str) -> None:
    """A P5-P95 band and the median line of one fan."""
    lo = [_nan(v) * scale for v in fan["p5"]]
    hi = [_nan(v) * scale for v in fan["p95"]]
    ax.fill_between(years, lo, hi, color=colour, alpha=0.2, label=f"{name} P5-P95",
                    gid=f"band:{name}")
    ax.plot(years, [_nan(v) * scale for v in fan["p50"]], color=colour, lw=1.6,
            label=f"{name} median", gid=f"median:{name}")


def plot_fan(ax: Any, data: dict[str, Any], key: str) -> None:
    """The P5-P95 band and median of a dollar fan ("j_curve" or "nav") by year, in $M."""
    fans = data.get("fans") or {}
    fan, years = fans.get(key), fans.get("years") or []
    if not fan or not years:
        _empty(ax, FANS[key], "no yearly fan in this result")
        return
    _band(ax, years, fan, 1e-6, BLUE, "LP net cash" if key == "j_curve" else "NAV")
    if key == "j_curve":
        ax.axhline(0.0, color="black", lw=0.8)
    format_axis(ax.yaxis, "$M")
    ax.set_xlabel("year")
    ax.set_ylabel("$M")
    ax.set_title(f"{FANS[key]} ($M, P5-P95 and median)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)


def plot_multiples(ax: Any, data: dict[str, Any]) -> None:
    """LP DPI (cash returned) and TVPI (cash + NAV) per dollar paid in, by year (x)."""
    fans = data.get("fans") or {}
    years = fans.get("years") or []
    drawn = [(k, c, n) for k, c, n in (("lp_dpi", GREEN, "DPI"), ("lp_tvpi", ORANGE, "TVPI"))
             if fans.get(k)]
    if not drawn or not years:
        _empty(ax, "LP DPI and TVPI", "no multiple fans in this result")
        return
    for key, colour, name in drawn:
        _band(ax, years, fans[key], 1.0, colour, name)
    ax.axhline(1.0, color=RED, lw=0.8, linestyle="--", label="1.00x")
    format_axis(ax.yaxis, "x")
    ax.set_xlabel("year")
    ax.set_ylabel("multiple of paid-in capital (x)")
    ax.set_title("LP DPI and TVPI (x, P5-P95 and median)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)


def plot_exit_mix(ax: Any, data: dict[str, Any]) -> None:
    """Each exit kind's share of the loans made (%), one bar each, its value written."""
    mix = data.get("exit_mix") or {}
    if not mix:
        _empty(ax, "Exit mix", "no exit mix in this result")
        return
    names = list(mix)
    shares = [float(mix[k].get("share") or 0.0) for k in names]
    ax.barh(range(len(names)), shares, color=GREEN, alpha=0.8, gid="exit_mix")
    for i, v in enumerate(shares):
        ax.annotate(f"{v:.1%}", (v, i), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, max(shares + [0.01]) * 1.2)
    format_axis(ax.xaxis, "%")
    ax.set_xlabel("share of loans made (%)")
    ax.set_title("Exit mix (how loans ended)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def draw(ax: Any, data: dict[str, Any], panel: str) -> None:
    """Draw chart ``panel`` (one of :data:`PANELS`) of a result on ``ax``."""
    if panel in HISTOGRAMS:
        plot_histogram(ax, data, panel)
    elif panel in FANS:
        plot_fan(ax, data, panel)
    elif panel == "multiples":
        plot_multiples(ax, data)
    elif panel == "exit_mix":
        plot_exit_mix(ax, data)
    else:
        raise ValueError(f"panels: unknown chart {panel!r} (one of {', '.join(PANELS)})")


def figure(data: dict[str, Any], panels: Sequence[str] = PANELS, width: float = 11.0) -> Any:
    """A pyplot-free Figure of the result's charts, two a row (``width`` inches wide)."""
    from matplotlib.figure import Figure

    panels = list(panels)
    if not panels:
        raise ValueError("panels: name at least one chart")
    rows = (len(panels) + 1) // 2
    fig = Figure(figsize=(width, 3.3 * rows), layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(panels):
            draw(ax, data, panels[i])
        else:
            ax.set_visible(False)
    return fig


def svg(data: dict[str, Any], panels: Sequence[str] = PANELS) -> str:
    """The charts as one inline ``<svg>`` element (text kept as text, no XML prologue, no
    date or links in its metadata)."""
    import matplotlib

    buf = io.StringIO()
    salt = "equihome:" + ",".join(panels)  # same bytes each time; ids unique per chart set
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure(data, panels).savefig(buf, format="svg", metadata=SVG_METADATA)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def png(data: dict[str, Any], dpi: float = 72, panels: Sequence[str] = PANELS) -> bytes:
    """The charts as PNG bytes (``dpi`` dots per inch): a drop-in for the notebook view."""
    buf = io.BytesIO()
    figure(data, panels).savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


__all__ = ["PANELS", "draw", "figure", "plot_exit_mix", "plot_fan", "plot_histogram",
           "plot_multiples", "png", "svg", "total"]
