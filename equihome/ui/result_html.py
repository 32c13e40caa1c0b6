"""A simulation result as static HTML (no widgets, no scripts): the panel a notebook view
leaves in the saved notebook, and the parts the live view draws.

Every function takes the wire ``result`` payload (``SimulationResult.data``). Numbers read
as people read them: rates in %, multiples with an x, dollars in $M; numbers line up
(right-aligned, tabular figures).
"""

from __future__ import annotations

import base64
import html
from typing import Any

from equihome.io.result import RISK_MEANING, fmt, labelled

SEVERITY_COLOURS = {"info": "#1f6fb2", "warning": "#b26b00", "error": "#c62828",
                    "critical": "#7f0000"}
# (row label, statistics key, format); the median and P5-P95 of each
KEY_METRICS = labelled("lp_irr", "lp_tvpi", "roi", "gross_irr", "gp_carry", "fees_paid")
RISK_METRICS = labelled("hurdle_clear_probability", "var_99", "cvar_99", "var_95", "cvar_95")
CONTRACT_METRICS = labelled("loss_rate", "cap_binding_share", "effective_rate")
LEVERAGE_ROWS = labelled("lp_irr_unlevered", "lp_irr_uplift", "nav_facility_peak",
                         "subscription_line_peak", "facility_interest", "facility_fees",
                         "covenant_months", "min_interest_coverage", "lender_loss")
TABLE = ("border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums;"
         "margin:4px 12px 4px 0")
TH = "padding:2px 10px;border-bottom:1px solid #888;text-align:{align}"
TD = "padding:2px 10px;text-align:{align};white-space:nowrap"


def _th(text: str, align: str = "right") -> str:
    return f"<th style='{TH.format(align=align)}'>{html.escape(text)}</th>"


def _td(text: str, align: str = "right", cls: str = "", title: str = "") -> str:
    attrs = (f" class='{html.escape(cls)}'" if cls else "") + (
        f" title='{html.escape(title)}'" if title else "")
    return f"<td{attrs} style='{TD.format(align=align)}'>{html.escape(text)}</td>"


def metrics_html(result: dict) -> str:
    """Key numbers (median, P5, P95), the risk measures with what they mean, and the
    contract's numbers when the result names one."""
    rows = [f"<tr>{_th('metric', 'left')}{_th('median')}{_th('P5')}{_th('P95')}</tr>"]
    stats = dict(result["statistics"])
    contract = result.get("contract") or {}
    levered = (result.get("leverage") or {}).get("statistics") or {}
    stats.update((contract.get("statistics") or {}) if contract else {})
    stats.update(levered)
    key_rows = (KEY_METRICS + (CONTRACT_METRICS[1:] if contract else ())
                + (LEVERAGE_ROWS if levered else ()))
    for label, key, kind in key_rows:
        s = stats.get(key) or {}
        rows.append(f"<tr>{_td(label, 'left')}" + "".join(
            _td(fmt(s.get(q), kind), cls=f"eq-{key}-{q}") for q in ("p50", "p5", "p95"))
            + "</tr>")
    hurdle = fmt((result.get("config") or {}).get("hurdle_rate"), "%")
    for label, key, kind in RISK_METRICS:
        meaning = RISK_MEANING[key].format(hurdle=hurdle)
        rows.append(f"<tr>{_td(label, 'left', title=meaning)}"
                    f"{_td(fmt(result['risk'].get(key), kind), cls=f'eq-{key}')}"
                    f"<td colspan='2' style='padding:2px 10px;color:#666;font-size:11px'>"
                    f"{html.escape(meaning)}</td></tr>")
    n = result.get("num_simulations")
    named = f"; contract {html.escape(contract['summary'])}" if contract else ""
    book = result.get("portfolio")
    if book:
        named += (f"; own book of {book['loans']:,} loans from {html.escape(book['as_of'])}, "
                  f"opening NAV {fmt(book['opening_nav'], '$')}")
    caption = (f"<caption style='text-align:left;font-weight:bold'>{n:,} scenarios, seed "
               f"{result.get('seed')}{named}</caption>")
    return (f"<table class='equihome-metrics-table' style='{TABLE}'>{caption}"
            f"{''.join(rows)}</table>")


def tranches_html(tranches: list[dict]) -> str:
    """Median return and multiple of each debt tranche, then the LP equity."""
    rows = "".join(f"<tr>{_td(str(t['name']), 'left')}{_td(fmt(t.get('return'), '%'))}"
                   f"{_td(fmt(t.get('multiple'), 'x'))}</tr>" for t in tranches)
    return (f"<table class='equihome-tranches' style='{TABLE}'><tr>{_th('tranche', 'left')}"
            f"{_th('median return')}{_th('median multiple')}</tr>{rows}</table>")


def exit_mix_html(mix: dict) -> str:
    """The share of loans by exit route."""
    rows = "".join(f"<tr>{_td(k, 'left')}{_td(fmt(v.get('share'), '%'))}</tr>"
                   for k, v in mix.items())
    return (f"<table class='equihome-exits' style='{TABLE}'><tr>{_th('exit', 'left')}"
            f"{_th('share of loans')}</tr>{rows}</table>")


def violation_html(v: dict) -> str:
    """One guardrail violation, coloured by severity."""
    sev = v.get("severity", "warning")
    colour = SEVERITY_COLOURS.get(sev, "#b26b00")
    return (f"<div class='equihome-guardrail equihome-{html.escape(sev)}' "
            f"style='color:{colour};border-left:4px solid {colour};padding-left:6px'>"
            f"<b>[{html.escape(sev)}] {html.escape(str(v.get('rule', '')))}</b>: "
            f"{html.escape(str(v.get('message', '')))}</div>")


def charts_png(result: dict) -> bytes:
    """The result's charts (LP IRR and TVPI histograms, fans, exit mix) as one PNG."""
    from equihome.ui import result_charts  # matplotlib: equihome[lab]

    return result_charts.png(result)


def charts_html(result: dict, png: bytes | None = None) -> str:
    """The charts (``png``: already drawn, else drawn now) as an inline PNG image, kept by
    saved and exported notebooks."""
    data = base64.b64encode(png or charts_png(result)).decode("ascii")
    return (f"<img class='equihome-charts' alt='LP IRR and TVPI distributions, fans and exit "
            f"mix' style='max-width:900px' src='data:image/png;base64,{data}'/>")


def static_html(result: dict, title: str, execution_time: float | None = None,
                guardrails: list[dict] | None = None, png: bytes | None = None) -> str:
    """The finished view as one static block: title, key numbers, charts (``png``: already
    drawn), tranches, exit mix and guardrails (``guardrails``: default the result's own)."""
    took = f" in {execution_time:.2f} s" if execution_time is not None else ""
    violations = result.get("guardrails", []) if guardrails is None else guardrails
    return (f"<div class='equihome-static-result'><div><b>{html.escape(title)}</b> "
            f"&middot; complete{took}</div>"
            + "".join(violation_html(v) for v in violations)
            + metrics_html(result) + charts_html(result, png)
            + "<div style='display:flex;flex-wrap:wrap;align-items:flex-start'>"
            + tranches_html(result.get("tranches") or [])
            + exit_mix_html(result.get("exit_mix") or {}) + "</div></div>")


def table(rows: list[str], cls: str) -> str:
    """Rows (``<tr>`` text) as a compact table of class ``cls``."""
    return f"<table class='{html.escape(cls)}' style='{TABLE}'>{''.join(rows)}</table>"


def text_row(label: str, cells: list[str], header: bool = False) -> str:
    """A table row: the label left, the cells right-aligned (``header``: header cells)."""
    if header:
        return f"<tr>{_th(label, 'left')}" + "".join(_th(c) for c in cells) + "</tr>"
    return f"<tr>{_td(label, 'left')}" + "".join(_td(c) for c in cells) + "</tr>"


def dict_get(d: Any, *keys: str) -> Any:
    """d[k1][k2]... or None where any level is missing."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d
