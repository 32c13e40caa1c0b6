"""The committee report: one self-contained HTML page of a simulation or analysis result.

:func:`report_html` turns a result payload into a page: a simulation's
(``SimulationResult.data``: inputs, key numbers with P5-median-P95, risk explained in words,
charts, guardrails, the contract) or an analysis's (``AnalysisResult.data`` of a stress,
tornado, breakeven or sweep: its answer in words, chart and table, the inputs). Charts are
inline SVG, styles inline, no script and no external asset: the page reads offline, and
prints one section a page (``@media print``). :func:`write_report` writes it to a file.

Needs matplotlib for the charts (``pip install "equihome[lab]"``). This module imports
neither ``equihome.io.result`` nor ``equihome.run``: their ``report()`` methods import it.

>>> write_report(equihome.simulate("100m", num_simulations=2000, seed=1).data, "report.html")
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from equihome.io.units import cell, kind_of

ANALYSES = ("stress", "tornado", "breakeven", "sweep")
SIMULATION_KEYS = ("statistics", "risk", "fans", "exit_mix", "guardrails", "config",
                   "num_simulations", "seed")
ANALYSIS_KEYS = ("rows", "columns", "config", "num_simulations", "seed")

#: The key numbers of a simulation: (label, statistics key).
KEY_NUMBERS = (("LP net IRR", "lp_irr"), ("LP TVPI (net multiple)", "lp_tvpi"),
               ("LP DPI (cash returned)", "lp_dpi"), ("Gross IRR (loans)", "gross_irr"),
               ("Fund IRR", "fund_irr"), ("ROI (TVPI - 1)", "roi"),
               ("Loss rate", "loss_rate"), ("Largest NAV drawdown", "nav_drawdown"),
               ("GP carry", "gp_carry"), ("GP total income", "gp_total_income"),
               ("Management fees", "management_fees"), ("Fund expenses", "fund_expenses"),
               ("Fees and expenses paid", "fees_paid"), ("Fees owed at fund end", "unpaid_fees"),
               ("Loans made", "num_loans"), ("Weighted average life (years)", "wal_years"))

#: The headline inputs: (label, config path).
KEY_INPUTS = (("Fund size", "fund_size"), ("Fund term (years)", "fund_term"),
              ("Vintage", "vintage_year"), ("Waterfall", "waterfall_structure"),
              ("Hurdle rate", "hurdle_rate"), ("Carried interest", "carried_interest_rate"),
              ("GP catch-up", "catch_up_rate"),
              ("Management fee", "fee_engine.management_fee_rate"),
              ("Fee basis", "fee_engine.management_fee_basis"),
              ("Origination fee", "origination_fee_rate"),
              ("Average loan", "avg_loan_size"), ("Average LTV", "avg_loan_ltv"),
              ("Loan interest rate", "interest_rate"), ("Loan term (years)", "loan_term"),
              ("Appreciation share", "appreciation_share"),
              ("Zone allocation (green/orange/red)", "zone_allocations"),
              ("Appreciation (green/orange/red)", "appreciation_rates"),
              ("Default rate (green/orange/red)", "default_rates"),
              ("Price model", "price_path.model_type"), ("Contract", "contract.type"))

SEVERITY = {"error": "a hard risk limit is broken: the strategy should not go ahead as set up",
            "warning": "outside the preferred range: review before committing",
            "info": "a note about the run itself"}

#: What each guardrail checks and why it matters (DOMAIN.md's catalogue, in words).
RULES = {
    "max_ltv": "The highest loan-to-value at origination. Above the limit a homeowner keeps "
               "thin equity and the fund has little cushion against a price fall.",
    "stress_ltv": "The fund's claim over the home value after a 20% price fall. Above the limit "
                  "some loans would be under water in an ordinary downturn.",
    "max_loan_size": "An advance above its zone's ticket limit concentrates risk in one home.",
    "zone_concentration": "A zone's share of deployed capital. The riskier zones are capped so "
                          "one market cannot dominate the book.",
    "suburb_concentration": "One suburb's share of deployed capital: a local price shock "
                            "would hit that much of the book at once.",
    "loan_concentration": "The largest single advance as a share of commitments.",
    "loan_term_beyond_fund": "Capital still on loan when the fund ends is force-liquidated at "
                             "a discount. A large share means the loan term does not fit the "
                             "fund term.",
    "unpaid_fees": "Fees or expenses still owed at fund end: in some scenarios the fund could "
                   "not pay its costs.",
    "weighted_average_life": "The weighted average life of the loans in years: the longer, "
                             "the later capital comes back.",
    "var_99": "VaR 99: the LP capital loss (1 - TVPI) exceeded in only 1% of scenarios.",
    "cvar_99": "CVaR 99: the average LP capital loss (1 - TVPI) in the worst 1% of scenarios.",
    "irr_p5": "The LP net IRR of the 5th-percentile scenario against the hurdle less a margin: "
              "a bad but plausible outcome.",
    "hurdle_clear_probability": "The share of scenarios whose LP net IRR reaches the hurdle.",
    "min_simulations": "Too few scenarios for the tail statistics (VaR and CVaR 99) to be "
                       "trustworthy: run more before relying on them.",
    "seed_missing": "No seed was given: one was drawn and is reported, so the run can be "
                    "repeated exactly.",
    "combined_ltv": "Senior mortgage plus the fund's claim over the home value at origination "
                    "(second-lien contracts).",
    "facility_ltv": "The credit facility's loan-to-value covenant.",
    "cap_binding_share": "The share of exits at which the contract's return cap limits the "
                         "fund's payoff.",
}

#: What an analysis table's columns mean.
COLUMNS = {
    "irr_p5": "P5 of the LP net IRR (1 scenario in 20 does worse)",
    "irr_p50": "median LP net IRR", "irr_p95": "P95 of the LP net IRR",
    "tvpi_p50": "median LP TVPI (what LPs get back per dollar paid in)",
    "roi_p50": "median ROI (TVPI - 1)", "loss_rate": "mean share of lent capital lost",
    "default_share": "share of loans that ended in default",
    "dpi_year5": "median LP DPI (cash returned per dollar paid in) after five years",
    "gp_carry": "median GP carry", "unpaid_fees": "mean fees still owed at fund end",
    "hurdle_clear_probability": "share of scenarios whose LP net IRR reaches the hurdle",
    "var_99": "LP capital loss (1 - TVPI) exceeded in only 1% of scenarios",
    "cvar_99": "mean LP capital loss (1 - TVPI) in the worst 1% of scenarios",
    "statistic": "the analysed statistic", "change": "change of the statistic vs the base",
    "change_se": "standard error of that change (common random numbers)",
    "low": "the input's low value (in its own unit)", "high": "the input's high value",
    "stat_base": "the statistic of the base run",
    "stat_low": "the statistic with the input at its low value",
    "stat_high": "the statistic with the input at its high value",
    "change_low": "stat_low minus stat_base", "change_high": "stat_high minus stat_base",
    "se_low": "standard error of change_low (common random numbers)",
    "se_high": "standard error of change_high",
    "x": "the input value tried", "iteration": "the order of the evaluations",
    "swing": "the larger of the two changes: the ranking key",
    "residual": "statistic minus target at that evaluation",
    "efficient": "on the efficient frontier (no strategy beats it on both CVaR 99 and "
                 "median LP IRR)",
    "guardrails": "the guardrails (errors and warnings) the run breaks",
}

STYLE = """
:root{--ink:#1b1f24;--muted:#5f6b7a;--line:#d0d7de;--blue:#1f6fb2}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;
color:var(--ink);max-width:1120px;margin:24px auto;padding:0 24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:0 0 10px;color:var(--blue)}
h3{font-size:15px;margin:16px 0 6px}
.meta,.note,figcaption{color:var(--muted)}.note{font-size:12px}
section{margin-top:28px;border-top:2px solid var(--line);padding-top:10px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:4px 0 10px}
th,td{padding:3px 10px;border-bottom:1px solid #e6e9ed;text-align:right;vertical-align:top}
th{border-bottom:1px solid #888;font-weight:600}
.l{text-align:left}.wide td.l:last-child{white-space:normal}
.scroll{overflow-x:auto}table.data{font-size:12px}table.data th{vertical-align:bottom}
table.data td{white-space:nowrap}table.data td.l:last-child{white-space:normal;min-width:14em}
tbody tr:nth-child(even){background:#f6f8fa}
.lead{font-size:16px;margin:8px 0 0}
.badge{display:inline-block;padding:1px 7px;border-radius:3px;font-size:11px;color:#fff;
text-transform:uppercase;letter-spacing:.03em}
.sev-error{background:#c62828}.sev-warning{background:#d9822b}.sev-info{background:#7b8794}
figure{margin:12px 0;break-inside:avoid}figure svg{display:block;max-width:100%;height:auto}
.cols{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start}
.config td,.config th{font-size:12px;padding:2px 8px}
dl.terms{display:grid;grid-template-columns:max-content auto max-content auto;gap:2px 14px;
margin:6px 0}dl.terms dt{color:var(--muted)}dl.terms dd{margin:0;font-variant-numeric:tabular-nums}
@page{size:A4;margin:14mm}
@media print{body{max-width:none;margin:0;padding:0;font-size:11px}
section{break-before:page;border-top:none;margin-top:0}section.first{break-before:auto}
figure,tr,dl{break-inside:avoid}h2{break-after:avoid}.scroll{overflow:visible}
table.data{font-size:9px}table.data th,table.data td{padding:2px 4px}}
"""


# --------------------------------------------------------------------------- payloads


def unwrap(data: Any) -> Any:
    """The result payload inside a ``{"type": "result", "result": {...}}`` message or a
    ``{"result": {...}}`` wrapper; anything else as is."""
    if isinstance(data, dict) and isinstance(data.get("result"), dict) and (
            "statistics" not in data and "rows" not in data):
        return data["result"]
    return data


def kind(data: Any) -> str:
    """"simulation" or the analysis kind of a result payload; ValueError naming what is
    missing when it is neither."""
    if not isinstance(data, dict):
        raise ValueError(f"not a result: expected a JSON object, got {type(data).__name__}")
    need: tuple[str, ...]
    if "kind" in data:
        if data["kind"] not in ANALYSES:
            raise ValueError(f"kind: unknown analysis {data['kind']!r} (one of "
                             f"{', '.join(ANALYSES)})")
        need, what = ANALYSIS_KEYS, f"{data['kind']} analysis result"
    elif "statistics" in data or "metrics" in data:
        need, what = SIMULATION_KEYS, "simulation result"
    else:
        raise ValueError("not a simulation or analysis result: it has neither 'statistics' "
                         "(a simulation) nor 'kind' (an analysis)")
    missing = [k for k in need if k not in data]
    if missing:
        raise ValueError(f"not a complete {what}: missing {', '.join(map(repr, missing))}")
    return "simulation" if what == "simulation result" else str(data["kind"])


# --------------------------------------------------------------------------- formatting


def esc(v: Any) -> str:
    return html.escape(str(v))


def stat(v: Any, k: str) -> str:
    """A statistic in its unit (as the tables print it): 4.53%, 1.365x, $19.98M, 277."""
    if k == "" and isinstance(v, float) and v.is_integer():
        return f"{v:,.0f}"
    return cell(v, k)


def short(v: Any, k: str) -> str:
    """An input in its unit, compact: 8%, 0.5%, 1.5x, $100.00M; zones as g/o/r."""
    if isinstance(v, dict) and set(v) == {"green", "orange", "red"}:
        return "/".join(short(v[z], k) for z in ("green", "orange", "red"))
    if isinstance(v, list):
        return ", ".join(short(x, k) for x in v) or "none"
    if v is None:
        return "none"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return cell(v)
    if k == "%":
        return f"{100 * v:.3g}%"
    if k == "x":
        return f"{v:g}x"
    if k == "$M":
        return f"${v / 1e6:,.2f}M"
    return f"{v:g}"


def table(head: Sequence[str], rows: Iterable[Sequence[Any]], left: Sequence[int] = (0,),
          cls: str = "") -> str:
    """An HTML table; columns in ``left`` are left-aligned (text), the others right."""
    def tr(cells: Sequence[Any], tag: str) -> str:
        return "<tr>" + "".join(
            f"<{tag}{' class=l' if i in left else ''}>{c}</{tag}>"
            for i, c in enumerate(cells)) + "</tr>"

    body = "".join(tr(r, "td") for r in rows)
    return (f"<table{f' class={cls!r}' if cls else ''}><thead>{tr(head, 'th')}</thead>"
            f"<tbody>{body}</tbody></table>")


def section(title: str, body: str, first: bool = False, sid: str = "") -> str:
    attrs = (" class=first" if first else "") + (f" id={sid!r}" if sid else "")
    return f"<section{attrs}><h2>{esc(title)}</h2>{body}</section>"


def figure(svg_text: str, caption: str, name: str) -> str:
    return (f"<figure class=chart data-chart={name!r}>{svg_text}"
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def get(config: dict[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def flatten(config: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every input; per-zone values stay one entry."""
    out: list[tuple[str, Any]] = []
    for key, v in config.items():
        path = f"{prefix}{key}"
        if isinstance(v, dict) and set(v) != {"green", "orange", "red"}:
            out += flatten(v, path + ".") if v else [(path, "none")]
        elif isinstance(v, list) and v and isinstance(v[0], dict):  # a tape or a history
            out.append((path, f"{len(v):,} rows"))
        else:
            out.append((path, v))
    return out


# --------------------------------------------------------------------------- shared sections


def key_terms(config: dict[str, Any]) -> str:
    """The headline inputs as a definition grid."""
    items = [(label, short(v, kind_of(path))) for label, path in KEY_INPUTS
             if (v := get(config, path)) is not None]
    return "<dl class=terms>" + "".join(f"<dt>{esc(a)}</dt><dd>{esc(b)}</dd>"
                                        for a, b in items) + "</dl>"


def all_inputs(config: dict[str, Any]) -> str:
    """Every input in two side-by-side tables of (input, value)."""
    pairs = [(esc(p), esc(short(v, kind_of(p)))) for p, v in flatten(config)]
    half = (len(pairs) + 1) // 2
    tables = "".join(table(("input", "value"), part, left=(0,), cls="config")
                     for part in (pairs[:half], pairs[half:]) if part)
    return (f"<p class=note>Rates as %, dollars in $M, per-zone values as green/orange/red, "
            f"terms in years.</p><div class=cols>{tables}</div>")


def guardrail_rows(violations: Sequence[dict[str, Any]]) -> str:
    """Severity, rule, what it checks and what was found, errors first."""
    order = {"error": 0, "warning": 1, "info": 2}
    rows = [(f"<span class='badge sev-{esc(v['severity'])}'>{esc(v['severity'])}</span>",
             f"<b>{esc(v['rule'])}</b>", esc(RULES.get(v["rule"], "")), esc(v["message"]))
            for v in sorted(violations, key=lambda v: order.get(v["severity"], 3))]
    return table(("severity", "rule", "what it checks", "finding"), rows, left=(0, 1, 2, 3),
                 cls="wide")


def severity_note(seen: Iterable[str]) -> str:
    """What each severity present means."""
    present = set(seen)
    return "<p class=note>" + "; ".join(
        f"<b>{esc(s)}</b>: {esc(SEVERITY[s])}" for s in SEVERITY if s in present) + ".</p>"


def page(title: str, meta: str, sections: Sequence[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><div class=meta>{meta}</div></header>"
            + "".join(sections) + "</body></html>\n")


def stamp(generated: dt.datetime | None) -> str:
    when = generated or dt.datetime.now(dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def fund_line(config: dict[str, Any]) -> str:
    size, term = config.get("fund_size"), config.get("fund_term")
    parts = [f"{short(size, '$M')} fund" if size else "", f"{term}-year term" if term else "",
             f"vintage {config['vintage_year']}" if config.get("vintage_year") else ""]
    return ", ".join(p for p in parts if p)


# --------------------------------------------------------------------------- simulation


def key_numbers(data: dict[str, Any]) -> str:
    st = data["statistics"]
    rows = []
    for label, key in KEY_NUMBERS:
        if key not in st:
            continue
        k, s = kind_of(key), st[key]
        rows.append((esc(label), *(esc(stat(s.get(q), k)) for q in ("p5", "p50", "p95", "mean"))))
    return table(("metric", "P5", "median", "P95", "mean"), rows)


def risk_words(data: dict[str, Any]) -> str:
    """The risk numbers, each with what it means."""
    r, n = data["risk"], int(data["num_simulations"])
    hurdle = data["config"].get("hurdle_rate")
    h = stat(hurdle, "%") if hurdle is not None else "the hurdle"
    rows = [("P(LP IRR &#8805; hurdle)", stat(r.get("hurdle_clear_probability"), "%"),
             f"Share of scenarios in which the LPs' net IRR reaches the {esc(h)} hurdle.")]
    for q in (95, 99):
        tail = 100 - q
        rows.append((f"VaR {q}", stat(r.get(f"var_{q}"), "%"),
                     f"The LPs' capital loss (1 &#8722; TVPI, a share of paid-in capital) is at "
                     f"most this in {q}% of scenarios; 0.00% means at least {q}% of scenarios "
                     f"return all capital."))
        rows.append((f"CVaR {q}", stat(r.get(f"cvar_{q}"), "%"),
                     f"The average LP capital loss in the worst {tail}% of scenarios "
                     f"({max(1, round(n * tail / 100)):,} of {n:,})."))
    if r.get("irr_p5") is not None:
        rows.append(("P5 of LP net IRR", stat(r["irr_p5"], "%"),
                     "One scenario in twenty ends with a lower LP net IRR."))
    diag = data.get("irr_diagnostics") or {}
    if diag:
        rows.append(("IRR diagnostics", f"{diag.get('no_irr', 0)} / "
                     f"{diag.get('multiple_roots', 0)}", "Scenarios without an LP IRR / with "
                     "more than one (their IRR is the root nearest zero)."))
    note = ("" if n >= 500 else f"<p class=note>{n:,} scenarios: the 99% tail rests on "
            f"{max(1, round(n / 100))} scenario(s); run at least 500 before relying on VaR or "
            "CVaR 99.</p>")
    return table(("measure", "value", "what it means"), rows, left=(0, 2), cls="wide") + note


def headline(data: dict[str, Any]) -> str:
    st, r = data["statistics"], data["risk"]
    irr, tvpi = st.get("lp_irr") or {}, st.get("lp_tvpi") or {}
    hurdle = data["config"].get("hurdle_rate")
    return (f"<p class=lead>Median LP net IRR <b>{esc(stat(irr.get('p50'), '%'))}</b> "
            f"(P5 {esc(stat(irr.get('p5'), '%'))}, P95 {esc(stat(irr.get('p95'), '%'))}); "
            f"median LP TVPI <b>{esc(stat(tvpi.get('p50'), 'x'))}</b>; the LP IRR reaches the "
            f"{esc(stat(hurdle, '%'))} hurdle in "
            f"<b>{esc(stat(r.get('hurdle_clear_probability'), '%'))}</b> of scenarios.</p>")


def contract_part(data: dict[str, Any]) -> str:
    c = data.get("contract")
    if not c:
        return ""
    names = {"effective_rate": "Effective annual rate earned on a loan",
             "cap_binding_share": "Share of exits where the return cap binds"}
    rows = [(esc(names.get(k, k)), *(esc(stat(s.get(q), kind_of(k))) for q in ("p5", "p50", "p95")))
            for k, s in (c.get("statistics") or {}).items()]
    return section("Contract", f"<p><b>{esc(c.get('type', ''))}</b>: {esc(c.get('summary', ''))}"
                   "</p>" + table(("measure (per scenario)", "P5", "median", "P95"), rows),
                   sid="contract")


#: leverage statistic -> (what it is, unit)
LEVERAGE = {"lp_irr_unlevered": ("LP net IRR as if unlevered (line draws called when needed)", "%"),
            "lp_irr_uplift": ("LP IRR uplift: levered minus unlevered", "%"),
            "nav_facility_peak": ("NAV facility: peak drawn", "$M"),
            "subscription_line_peak": ("Subscription line: peak drawn", "$M"),
            "facility_interest": ("Interest paid to the lenders", "$M"),
            "facility_fees": ("Commitment fees paid", "$M"),
            "covenant_months": ("Months in breach of the LTV covenant", ""),
            "min_interest_coverage": ("Minimum interest coverage (trailing 12 months)", "x"),
            "lender_loss": ("Lender loss (owed at fund end, unpaid)", "$M")}


def book_part(data: dict[str, Any]) -> str:
    """The fund's own book (a portfolio run): where the simulation starts and its assumptions."""
    b = data.get("portfolio")
    if not b:
        return ""
    facts = [("as of", b["as_of"]), ("fund month 0", b["inception"]),
             ("seasoned loans", f"{b['loans']:,} ({b['defaulted']:,} in default)"),
             ("advanced", short(b["advanced"], "$M")), ("cash", short(b["cash"], "$M")),
             ("called to date", short(b["called_to_date"], "$M")),
             ("opening NAV", short(b["opening_nav"], "$M")),
             ("LP IRR and TVPI", "since inception" if b["since_inception"] else "from as_of")]
    grid = "<dl class=terms>" + "".join(f"<dt>{esc(a)}</dt><dd>{esc(v)}</dd>"
                                        for a, v in facts) + "</dl>"
    notes = "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in b["notes"]) + "</ul>"
    return section("The fund's own book", grid + notes, sid="book")


def leverage_part(data: dict[str, Any]) -> str:
    """The facilities' costs and risks over scenarios, when the fund borrows."""
    lev = data.get("leverage")
    if not lev:
        return ""
    on = [n for n, k in (("NAV facility", "nav_facility"), ("subscription line",
                                                              "subscription_line")) if lev.get(k)]
    st = lev.get("statistics") or {}
    rows = [(esc(label), *(esc(stat((st.get(k) or {}).get(q), unit)) for q in ("p5", "p50", "p95")))
            for k, (label, unit) in LEVERAGE.items() if k in st]
    return section("Leverage", f"<p>The fund borrows through: {esc(' and '.join(on))}. "
                   "Everything owed to the lenders is repaid before any distribution to the "
                   "LPs; what the book cannot repay by fund end is the lenders' loss.</p>"
                   + table(("measure (per scenario)", "P5", "median", "P95"), rows),
                   sid="leverage")


def tranche_part(data: dict[str, Any]) -> str:
    tranches = data.get("tranches") or []
    if len(tranches) < 2:  # the LP equity alone
        return ""
    rows = [(esc(t["name"]), esc(t["type"]), esc(stat(t.get("return"), "%")),
             esc(stat(t.get("multiple"), "x"))) for t in tranches]
    return ("<h3>Capital structure (medians)</h3>"
            + table(("tranche", "type", "annual return", "multiple"), rows, left=(0, 1)))


def simulation_page(data: dict[str, Any], title: str | None, generated: dt.datetime | None) -> str:
    from equihome.ui import result_charts

    config = data["config"]
    n = int(data["num_simulations"])
    meta = (f"{esc(fund_line(config))} &middot; {n:,} scenarios &middot; seed {esc(data['seed'])}"
            f" &middot; generated {stamp(generated)}")
    charts = [
        (("lp_irr", "lp_tvpi"), "Distributions over all scenarios: bars are the share of "
         "scenarios per bin; lines mark P5, the median and P95."),
        (("j_curve", "nav"), "Over the fund's life, by year: the median and the P5-P95 band."),
        (("multiples", "exit_mix"), "LP multiples by year, and how the loans ended."),
    ]
    figures = "".join(figure(result_charts.svg(data, panels), caption, "-".join(panels))
                      for panels, caption in charts)
    guardrails = data["guardrails"]
    rails = (severity_note(v["severity"] for v in guardrails) + guardrail_rows(guardrails)
             if guardrails else "<p>No guardrail is breached.</p>")
    sections = [
        section("Summary and inputs", headline(data) + "<h3>Key terms</h3>" + key_terms(config),
                first=True, sid="summary"),
        book_part(data),
        section("Key numbers and risk", key_numbers(data) + tranche_part(data)
                + "<h3>Risk, explained</h3>" + risk_words(data), sid="numbers"),
        section("Charts", figures, sid="charts"),
        section("Guardrails", rails, sid="guardrails"),
        contract_part(data),
        leverage_part(data),
        section("All inputs", all_inputs(config), sid="inputs"),
    ]
    return page(title or "Fund simulation report", meta, sections)


# --------------------------------------------------------------------------- analyses


def analysis_table(data: dict[str, Any]) -> str:
    """The analysis's rows, each value in its unit (inputs in the input's own unit)."""
    cols, spec = list(data["columns"]), data.get("statistic")
    inputs = {"tornado": ("low", "high"), "breakeven": ("x",)}.get(data["kind"], ())
    text_cols = [i for i, c in enumerate(cols)
                 if all(isinstance(r.get(c), (str, list)) or r.get(c) is None
                        for r in data["rows"])]

    def value(r: dict[str, Any], c: str) -> str:
        if c == "error" and r.get(c) is None:
            return ""
        if c in inputs:
            return esc(short(r.get(c), kind_of(str(r.get("parameter", data.get("parameter"))))))
        return esc(cell(r.get(c), kind_of(c, spec)))

    rows = [[value(r, c) for c in cols] for r in data["rows"]]
    head = [esc(c).replace("_", "_<wbr>") for c in cols]  # long names wrap at underscores
    return f"<div class=scroll>{table(head, rows, left=text_cols, cls='data')}</div>"


def glossary(data: dict[str, Any]) -> str:
    items = [(c, COLUMNS[c]) for c in data["columns"] if c in COLUMNS]
    spec = data.get("statistic")
    return ("<h3>How to read the columns</h3><dl class=terms>"
            + "".join(f"<dt>{esc(c)}</dt><dd>{esc(t)}"
                      + (f" ({esc(spec)})" if c == "statistic" and spec else "") + "</dd>"
                      for c, t in items) + "</dl>")


def answer(data: dict[str, Any]) -> str:
    """The analysis's result in a sentence or two."""
    k, rows, spec = data["kind"], data["rows"], data.get("statistic") or "lp_irr:p50"
    sk = kind_of("statistic", spec)
    if k == "breakeven":
        p = data["parameter"]
        state = "converged" if data.get("converged") else "did NOT converge"
        return (f"<p class=lead>{esc(spec)} reaches <b>{esc(stat(data.get('target'), sk))}</b> "
                f"at <b>{esc(p)} = {esc(short(data.get('x'), kind_of(p)))}</b> (value there "
                f"{esc(stat(data.get('value'), sk))}; {data.get('iterations', len(rows))} runs, "
                f"{state}).</p>")
    if k == "tornado":
        ranked = [r for r in rows if r.get("swing") is not None and r.get("parameter") != "base"]
        top = ", ".join(f"{esc(r['parameter'])} (&#177;{esc(stat(r['swing'], sk))})"
                        for r in ranked[:3])
        return (f"<p class=lead>Base {esc(spec)} = <b>{esc(stat(data.get('base_value'), sk))}</b>"
                f". The inputs that move it most: {top or 'none'}.</p>")
    if k == "stress":
        base: dict[str, Any] = next((r for r in rows if r.get("scenario") == "base"), {})
        others = [r for r in rows if r.get("scenario") != "base" and r.get("statistic") is not None]
        worst = min(others, key=lambda r: r["statistic"], default=None)
        text = f"Base {esc(spec)} = <b>{esc(stat(base.get('statistic'), sk))}</b>."
        if worst is not None:
            text += (f" Worst scenario: <b>{esc(worst['scenario'])}</b> at "
                     f"{esc(stat(worst['statistic'], sk))} ({esc(stat(worst.get('change'), sk))}"
                     f" &#177; {esc(stat(worst.get('change_se'), sk))} vs base).")
        return f"<p class=lead>{text}</p>"
    front = [r for r in rows if r.get("efficient")]
    keys = data.get("grid_keys") or []
    names = "; ".join(", ".join(f"{esc(key)}={esc(short(r.get(key), kind_of(key)))}"
                                for key in keys) for r in front)
    return (f"<p class=lead>{len(rows)} strategies; {len(front)} on the efficient frontier "
            f"(lower CVaR 99, higher median LP IRR): {names or 'none'}.</p>")


def params_part(data: dict[str, Any]) -> str:
    """What the analysis varied: stress scenarios, tornado bumps, breakeven search, grid."""
    params, k = data.get("params") or {}, data["kind"]
    rows: list[tuple[str, ...]] = []
    if k == "stress":
        for s in params.get("scenarios") or []:
            shock, hz = s.get("price_shock") or {}, s.get("hazard_multipliers") or {}
            price = (f"{short(shock.get('immediate'), '%')} at once, "
                     f"{short(shock.get('decline'), '%')} over {shock.get('decline_months')} "
                     f"months from month {shock.get('start_month')}" if shock else "none")
            hazard = (f"default x{hz.get('default')}, sale x{hz.get('sale')}, refinance "
                      f"x{hz.get('refinance')} for {hz.get('months')} months" if hz else "none")
            rows.append((esc(s.get("name")), esc(price), esc(hazard),
                         esc(", ".join(f"{a}={b}" for a, b in (s.get("overrides") or {}).items())
                             or "none")))
        return ("<h3>Stress scenarios</h3>"
                + table(("stress scenario", "price shock", "hazard multipliers", "overrides"), rows,
                        left=(0, 1, 2, 3), cls="wide"))
    if k == "tornado":
        rows += [(esc(p), esc(short(lo, kind_of(p))), esc(short(hi, kind_of(p))))
                for p, (lo, hi) in (params.get("parameters") or {}).items()]
        return "<h3>Inputs bumped</h3>" + table(("input", "low", "high"), rows)
    if k == "breakeven":
        p = data.get("parameter", "")
        bounds = " to ".join(short(b, kind_of(p)) for b in params.get("bounds") or [])
        return (f"<h3>Search</h3><p>{esc(p)} from {esc(bounds)}, target {esc(data.get('statistic'))}"
                f" = {esc(stat(data.get('target'), kind_of('target', data.get('statistic'))))}.</p>")
    grid = params.get("grid") or {}
    rows += [(esc(g), esc(", ".join(short(v, kind_of(g)) for v in vs))) for g, vs in grid.items()]
    return "<h3>Grid</h3>" + table(("input", "values"), rows, left=(0, 1))


def analysis_page(data: dict[str, Any], title: str | None, generated: dt.datetime | None) -> str:
    from equihome.ui import charts

    k, config = data["kind"], data["config"]
    spec = data.get("statistic")
    meta = (f"{esc(fund_line(config))} &middot; {int(data['num_simulations']):,} scenarios per "
            f"run &middot; seed {esc(data['seed'])}"
            + (f" &middot; statistic {esc(spec)}" if spec else "")
            + f" &middot; generated {stamp(generated)}")
    rules = sorted({g for r in data["rows"] for g in (r.get("guardrails") or [])})
    rails = ("" if not rules else section("Guardrails broken", (
        "<p>Rules a variant breaks (errors and warnings), by the column <b>guardrails</b>:</p>"
        + table(("rule", "what it checks"), [(f"<b>{esc(g)}</b>", esc(RULES.get(g, "")))
                                             for g in rules], left=(0, 1), cls="wide")),
        sid="guardrails"))
    captions = {"stress": "LP net IRR P5-P95 (bars) and median (diamonds) per scenario.",
                "tornado": "The statistic with each input at its low (blue) and high (orange) "
                           "value, largest swing on top.",
                "breakeven": "Each evaluation of the search, the target, and the answer (star).",
                "sweep": "Each strategy's risk and return; the line is the efficient frontier."}
    sections = [
        section(f"{k.capitalize()}: the answer", answer(data) + "<h3>Base terms</h3>"
                + key_terms(config) + params_part(data), first=True, sid="summary"),
        section("Chart", figure(charts.svg(data), captions[k], k), sid="charts"),
        section("Table", analysis_table(data) + glossary(data), sid="table"),
        rails,
        section("All base inputs", all_inputs(config), sid="inputs"),
    ]
    return page(title or f"{k.capitalize()} analysis report", meta, sections)


# --------------------------------------------------------------------------- entry points


def report_html(data: dict[str, Any], title: str | None = None,
                generated: dt.datetime | None = None) -> str:
    """The self-contained HTML page of a simulation or analysis result payload (ValueError
    when ``data`` is neither; ImportError naming the extra when matplotlib is missing).
    ``generated``: the time stamped on the page (default now, UTC)."""
    data = unwrap(data)
    what = kind(data)
    try:
        import matplotlib  # noqa: F401  (the charts)
    except ImportError as exc:
        raise ImportError('the report draws its charts with matplotlib: '
                          'pip install "equihome[lab]"') from exc
    if what == "simulation":
        return simulation_page(data, title, generated)
    return analysis_page(data, title, generated)


def write_report(data: dict[str, Any], path: str | Path, title: str | None = None) -> Path:
    """Write :func:`report_html` of ``data`` to ``path`` (UTF-8); returns the path."""
    out = Path(path)
    out.write_text(report_html(data, title), encoding="utf-8")
    return out


__all__ = ["kind", "report_html", "unwrap", "write_report"]
