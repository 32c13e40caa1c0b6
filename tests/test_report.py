"""The committee report, the result charts, the sweep chart and the one unit rule.

Real runs throughout: a 64-scenario simulation, a tornado and a stress; the page is opened in
Debian's Chromium (Playwright) from a file:// URL, its charts measured and printed to PDF; the
CLI runs as the installed console script.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import equihome  # noqa: E402
from equihome.io.units import kind_of as unit_rule  # noqa: E402
from equihome.model.metrics import METRICS  # noqa: E402
from equihome.run import analyses  # noqa: E402
from equihome.run.analysis_result import AnalysisResult, kind_of  # noqa: E402
from equihome.run.sweep import STAT_COLUMNS  # noqa: E402
from equihome.run.variants import AGGREGATES, RISK_STATISTICS  # noqa: E402
from equihome.ui import charts, result_charts  # noqa: E402
from equihome.ui.report import KEY_NUMBERS, RULES, flatten, report_html  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
CLI = Path(sys.executable).parent / "equihome"
WHEN = dt.datetime(2025, 3, 4, 5, 6, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def sim():
    return equihome.simulate("100m", num_simulations=64, seed=5)


@pytest.fixture(scope="module")
def tornado():
    return equihome.tornado("100m", {"appreciation_rates": 0.01, "loan_term": 2,
                                     "fee_engine.management_fee_rate": 0.005},
                            num_simulations=64, seed=5)


@pytest.fixture(scope="module")
def stress():
    return equihome.stress("100m", ["mvd_31_frozen", "rates_up"], num_simulations=64, seed=5)


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table_with(page: str, header: str) -> dict[str, list[str]]:
    """The page's table whose first header cell is ``header``: first cell -> the others."""
    (rows,) = [t for t in Tables(page).tables if t and t[0][0] == header]
    return {r[0]: r[1:] for r in rows[1:]}


def pct(v: float) -> str:
    return f"{100 * v:.2f}%"


# --------------------------------------------------------------------------- simulation page


def test_the_simulation_page_states_the_results_statistics(sim):
    page = report_html(sim.data, generated=WHEN)
    st = sim.statistics
    numbers = table_with(page, "metric")
    assert len(numbers) == len(KEY_NUMBERS)
    lp = sim.scenarios["lp_irr"]
    assert numbers["LP net IRR"][:3] == [pct(np.percentile(lp, q)) for q in (5, 50, 95)]
    assert numbers["LP TVPI (net multiple)"][1] == f"{st['lp_tvpi']['p50']:.3f}x"
    assert numbers["Gross IRR (loans)"][2] == pct(st["gross_irr"]["p95"])
    assert numbers["ROI (TVPI - 1)"][1] == pct(st["lp_tvpi"]["p50"] - 1.0)
    assert numbers["Loss rate"][3] == pct(st["loss_rate"]["mean"])
    carry = sim.scenarios["gp_carry"]
    assert numbers["GP carry"][2] == f"${np.percentile(carry, 95) / 1e6:,.2f}M"
    assert numbers["Fees and expenses paid"][1] == f"${st['fees_paid']['p50'] / 1e6:,.2f}M"
    assert numbers["Management fees"][1] == "$20.00M"  # 2 % of $100M for 10 years
    risk = table_with(page, "measure")
    cleared = float(np.mean(lp >= 0.08 - 1e-9))
    assert risk["P(LP IRR ≥ hurdle)"][0] == pct(cleared) == "9.38%"  # 6 of 64
    loss = np.maximum(0.0, 1.0 - sim.scenarios["lp_tvpi"])
    assert risk["VaR 99"][0] == pct(np.percentile(loss, 99))
    assert "capital loss (1 − TVPI" in risk["VaR 99"][1]
    assert "worst 1% of scenarios (1 of 64)" in risk["CVaR 99"][1]
    assert "Generated" not in page and "generated 2025-03-04 05:06 UTC" in page
    assert "<b>4.43%</b>" in page  # the headline median


def test_the_simulation_page_explains_every_guardrail_and_lists_every_input(sim):
    page = report_html(sim.data)
    (rails,) = [t for t in Tables(page).tables if t[0][0] == "severity"]
    order = ["error", "warning", "info"]  # errors first
    assert [r[:2] for r in rails[1:]] == sorted(
        ([v["severity"], v["rule"]] for v in sim.guardrails), key=lambda r: order.index(r[0]))
    for v in sim.guardrails:
        assert f"<b>{v['rule']}</b>" in page and RULES[v["rule"]] in page
        assert v["message"].replace("'", "&#x27;") in page
    inputs = {}
    for t in Tables(page).tables:
        if t[0] == ["input", "value"]:
            inputs.update({r[0]: r[1] for r in t[1:]})
    assert list(inputs) == [path for path, _ in flatten(sim.data["config"])]
    assert inputs["fund_size"] == "$100.00M" and inputs["hurdle_rate"] == "8%"
    assert inputs["appreciation_rates"] == "6%/5%/4%" and inputs["loan_term"] == "10"
    assert inputs["fee_engine.fixed_annual_expenses"] == "$0.10M"
    assert "Contract" not in page


def test_a_contract_result_gets_its_section():
    r = equihome.simulate("value_share_10y", num_simulations=32, seed=2)
    page = report_html(r.data)
    c = r.data["contract"]
    assert c["summary"] in page
    rows = table_with(page, "measure (per scenario)")
    assert rows["Effective annual rate earned on a loan"][1] == pct(
        c["statistics"]["effective_rate"]["p50"])


def test_a_levered_result_gets_its_leverage_section(sim):
    """The facilities' numbers, each the result's own statistic in its unit; no section for
    a fund that does not borrow."""
    r = equihome.simulate("100m", num_simulations=32, seed=2, overrides={"leverage": {
        "nav_facility": {"enabled": True}, "subscription_line": {"enabled": True}}})
    page = report_html(r.data)
    st = r.data["leverage"]["statistics"]
    rows = table_with(page, "measure (per scenario)")
    assert rows["NAV facility: peak drawn"][1] == f"${st['nav_facility_peak']['p50'] / 1e6:,.2f}M"
    assert rows["LP net IRR as if unlevered (line draws called when needed)"][0] == pct(
        st["lp_irr_unlevered"]["p5"])
    assert "NAV facility and subscription line" in page
    assert 'id="leverage"' not in report_html(sim.data) and "The fund borrows" not in \
        report_html(sim.data)


def test_the_page_is_self_contained(sim, tornado):
    for page in (report_html(sim.data), report_html(tornado.data)):
        assert page.startswith("<!DOCTYPE html>")
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
        assert "<script" not in page and "<link" not in page and "@import" not in page
        assert not re.search(r"url\((?!#)", page)  # only the SVGs' own clip paths
        assert "@media print" in page and "break-before:page" in page


def test_bad_payloads_are_clear_errors():
    with pytest.raises(ValueError, match="neither 'statistics'"):
        report_html({"a": 1})
    with pytest.raises(ValueError, match="unknown analysis 'nope'"):
        report_html({"kind": "nope"})
    with pytest.raises(ValueError, match="missing 'rows', 'columns'"):
        report_html({"kind": "stress", "config": {}, "num_simulations": 1, "seed": 1})


def test_without_matplotlib_the_report_names_the_extra(sim, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "equihome\[lab\]"'):
        report_html(sim.data)


# --------------------------------------------------------------------------- analysis pages


def test_the_tornado_page_has_its_answer_chart_and_table(tornado, tmp_path):
    out = tornado.report(tmp_path / "t.html")
    page = out.read_text()
    assert page.count("<svg") == 1
    table = table_with(page, "parameter")
    rows = {r["parameter"]: r for r in tornado.rows}
    assert sorted(table) == sorted(rows)
    cols = tornado.data["columns"][1:]
    for name, r in rows.items():
        cells = dict(zip(cols, table[name], strict=True))
        assert cells["stat_low"] == pct(r["stat_low"])
        assert cells["swing"] == pct(r["swing"])
    assert table["loan_term"][:2] == ["8", "12"]           # a term in years, not a rate
    assert table["appreciation_rates"][:2] == ["5%/4%/3%", "7%/6%/5%"]
    top = tornado.rows[0]
    assert f"{top['parameter']} (&#177;{pct(top['swing'])})" in page


def test_the_stress_page_names_each_scenario_and_its_guardrails(stress):
    page = report_html(stress.data)
    table = table_with(page, "scenario")
    assert sorted(table) == ["base", "mvd_31_frozen", "rates_up"]
    cols = stress.data["columns"][1:]
    for r in stress.rows:
        cells = dict(zip(cols, table[r["scenario"]], strict=True))
        assert cells["irr_p50"] == pct(r["irr_p50"])
        assert cells["tvpi_p50"] == f"{r['tvpi_p50']:.3f}x"
        assert cells["gp_carry"] == f"${r['gp_carry'] / 1e6:,.2f}M"
    worst = min(stress.rows[1:], key=lambda r: r["statistic"])
    assert f"Worst scenario: <b>{worst['scenario']}</b>" in page
    for rule in {g for r in stress.rows for g in r["guardrails"]}:
        assert RULES[rule] in page


# --------------------------------------------------------------------------- the real browser


def test_the_pages_render_and_print_in_chromium(sim, tornado, tmp_path):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is required: apt-get install chromium"
    pages = {"sim": (sim.report(tmp_path / "sim.html"), 3),
             "tornado": (tornado.report(tmp_path / "tornado.html"), 1)}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests: list[str] = []
            page.on("request", lambda req: requests.append(req.url))
            for name, (path, expected) in pages.items():
                page.goto(path.as_uri())
                boxes = page.eval_on_selector_all(
                    "svg", "els => els.map(e => e.getBoundingClientRect().toJSON())")
                assert len(boxes) == expected, name
                for box in boxes:
                    assert box["width"] > 300 and box["height"] > 150, (name, box)
                drawn = page.eval_on_selector_all("svg", """els => els.map(e => [...e.
                    querySelectorAll('text')].filter(t => t.getBBox().width > 0).length)""")
                assert min(drawn) >= 10, drawn  # titles, labels and ticks drawn as text
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 1200, f"{name}: the page scrolls sideways ({width}px)"
                page.emulate_media(media="print")
                breaks = page.eval_on_selector_all(
                    "section", "els => els.map(e => getComputedStyle(e).breakBefore)")
                assert breaks[0] == "auto" and set(breaks[1:]) == {"page"}
                pdf = page.pdf(format="A4")
                assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
                page.emulate_media(media="screen")
            assert requests and all(u.startswith("file://") for u in requests), requests
        finally:
            browser.close()


# --------------------------------------------------------------------------- the CLI


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=300)


def test_the_report_command_end_to_end(tmp_path, sim):
    result = tmp_path / "result.json"
    done = run_cli("run", "--simulations", "64", "--seed", "5", "--quiet", "--out", str(result))
    assert done.returncode == 0, done.stderr
    done = run_cli("report", str(result), "-o", str(tmp_path / "r.html"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"report written to {tmp_path / 'r.html'}"
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") == 3 and f"<b>{pct(sim.statistics['lp_irr']['p50'])}</b>" in page
    analysis = tmp_path / "stress.json"
    done = run_cli("tornado", "--param", "hurdle_rate=0.01", "--simulations", "32", "--seed", "1",
                   "--quiet", "--out", str(analysis))
    assert done.returncode == 0, done.stderr
    done = run_cli("report", str(analysis))  # default: beside the JSON
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "stress.html").read_text()
    assert page.count("<svg") == 1 and "Tornado analysis report" in page
    wrapped = tmp_path / "wrapped.json"   # a WebSocket result message holds the payload
    wrapped.write_text(json.dumps({"type": "result", "result": sim.data}))
    assert run_cli("report", str(wrapped)).returncode == 0


@pytest.mark.parametrize("content, problem", [
    (None, "cannot read the result: No such file or directory"),
    ("not json", "not JSON: Expecting value"),
    ("[1, 2]", "not a result: expected a JSON object, got list"),
    ('{"metrics": {}}', "not a complete simulation result: missing 'statistics'"),
])
def test_a_bad_result_file_exits_2_naming_it(tmp_path, content, problem):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    done = run_cli("report", str(path), "-o", str(tmp_path / "out.html"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {path}: {problem}"), done.stderr
    assert not (tmp_path / "out.html").exists()


def test_an_unwritable_output_exits_2(tmp_path, sim):
    path = tmp_path / "r.json"
    path.write_text(sim.to_json())
    done = run_cli("report", str(path), "-o", str(tmp_path / "no" / "r.html"))
    assert done.returncode == 2
    assert f"-o {tmp_path / 'no' / 'r.html'}: directory {tmp_path / 'no'} does not exist" \
        in done.stderr


# --------------------------------------------------------------------------- result charts


def test_the_histograms_bars_are_the_payloads_counts(sim):
    fig = result_charts.figure(sim.data, ("lp_irr", "lp_tvpi"))
    for ax, metric in zip(fig.axes, ("lp_irr", "lp_tvpi"), strict=True):
        hist = sim.data["histograms"][metric]
        n = result_charts.total(hist)
        assert n == 64
        bars = [p for p in ax.patches if p.get_gid() == f"hist:{metric}"] or \
            [p for c in ax.containers for p in c if c.get_gid() == f"hist:{metric}"]
        assert len(bars) == 40
        assert [round(b.get_height() * n) for b in bars] == hist["counts"]
        assert [b.get_x() for b in bars] == pytest.approx(hist["edges"][:-1])
        lines = {ln.get_gid(): ln for ln in ax.lines if ln.get_gid()}
        for q in ("p5", "p50", "p95"):
            x = lines[f"{q}:{metric}"].get_xdata()[0]
            assert x == pytest.approx(sim.statistics[metric][q])
        assert ax.get_ylabel() == "share of scenarios (%)"
        assert "%" in ax.get_yticklabels()[1].get_text()


def test_the_histogram_of_a_known_sample():
    values = np.array([0.01] * 3 + [0.05] * 5 + [0.09] * 2)
    counts, edges = np.histogram(values, bins=40, range=(0.0, 0.1))
    data = {"histograms": {"lp_irr": {"edges": edges.tolist(), "counts": counts.tolist(),
                                      "below": 1, "above": 0, "missing": 1}},
            "statistics": {"lp_irr": {"p5": 0.01, "p50": 0.05, "p95": 0.09}},
            "config": {"hurdle_rate": 0.08}}
    fig = result_charts.figure(data, ("lp_irr",))
    heights = [p.get_height() for c in fig.axes[0].containers for p in c]
    assert sum(h > 0 for h in heights) == 3
    assert sorted(h for h in heights if h > 0) == pytest.approx([2 / 12, 3 / 12, 5 / 12])
    assert "12 scenarios; 1 below, 0 above the bins, 1 without a value" in [
        t.get_text() for t in fig.axes[0].texts]


def test_fans_in_dollars_and_multiples_and_the_exit_mix(sim):
    fig = result_charts.figure(sim.data, ("j_curve", "multiples", "exit_mix"))
    jc, mult, mix = fig.axes[:3]
    fans = sim.fans
    (median,) = [ln for ln in jc.lines if ln.get_gid() == "median:LP net cash"]
    assert list(median.get_xdata()) == fans["years"]
    assert list(median.get_ydata()) == pytest.approx([v / 1e6 for v in fans["j_curve"]["p50"]])
    assert jc.get_ylabel() == "$M" and jc.get_xlabel() == "year"
    (tvpi,) = [ln for ln in mult.lines if ln.get_gid() == "median:TVPI"]
    assert list(tvpi.get_ydata()) == pytest.approx(fans["lp_tvpi"]["p50"])
    assert mult.yaxis.get_major_formatter()(1.5, 0) == "1.50x"
    widths = [p.get_width() for p in mix.patches]
    assert widths == pytest.approx([v["share"] for v in sim.exit_mix.values()])
    assert sum(widths) == pytest.approx(1.0)


def test_svg_and_png_outputs(sim):
    text = result_charts.svg(sim.data)
    assert text.startswith("<svg") and "LP net IRR distribution" in text
    assert text == result_charts.svg(sim.data)  # the same result draws the same bytes
    png = result_charts.png(sim.data, dpi=50)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    width = int.from_bytes(png[16:20], "big")
    assert width == 11 * 50


# --------------------------------------------------------------------------- the sweep chart


@pytest.fixture(scope="module")
def swept():
    """Guardrail thresholds change no number: six strategies on two points."""
    return equihome.sweep("100m", grid={"avg_loan_ltv": [0.3, 0.45],
                                        "guardrails.min_simulations": [100, 200, 300]},
                          num_simulations=32, seed=3)


def test_sweep_plot_returns_none_and_labels_every_strategy_once(swept):
    assert swept.plot() is None  # on a new pyplot figure: no <Axes ...> line
    fig = plt.gcf()
    (ax,) = fig.axes
    labels = [t for t in ax.texts if (t.get_gid() or "").startswith("label:")]
    assert len(labels) == 2
    lines = [line for t in labels for line in t.get_text().splitlines()]
    assert lines.count("3 strategies:") == 2
    for r in swept.rows:
        line = (f"avg_loan_ltv={100 * r['avg_loan_ltv']:g}%, "
                f"min_simulations={r['guardrails.min_simulations']}")
        assert lines.count(line) == 1, line
    (points,) = ax.collections
    assert list(points.get_sizes()) == [36.0 * 3] * 6  # three strategies at each point
    assert 0 < points.get_alpha() < 1
    (front,) = [ln for ln in ax.lines if ln.get_gid() == "frontier"]
    assert len(front.get_xdata()) == len(swept.frontier())
    assert "CVaR 99" in ax.get_xlabel() and "%" in ax.get_xlabel()
    assert "median LP net IRR" in ax.get_ylabel()
    plt.close(fig)


def test_sweep_labels_do_not_overlap():
    rows = [{"a": 0.1 * i, "b": i % 3, "cvar_99": 0.01 * (i % 4), "irr_p50": 0.05 + 0.0004 * i,
             "efficient": False} for i in range(12)]
    data = {"kind": "sweep", "rows": rows, "grid_keys": ["a", "b"], "num_simulations": 10}
    fig = plt.figure(figsize=charts.sweep_size(data), layout="constrained")
    ax = fig.add_subplot()
    charts.plot_sweep(ax, data)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == len(charts.point_groups(rows, "cvar_99", "irr_p50")) > 4
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    plt.close(fig)


def test_label_positions_by_hand():
    assert charts.label_positions([0.5, 0.5, 0.5], [0.1, 0.1, 0.1]) == pytest.approx(
        [0.5, 0.39, 0.28])
    # the second would end below the axes (-0.26): the column is lifted by 0.26
    assert charts.label_positions([0.05, 0.0], [0.2, 0.2]) == pytest.approx([0.31, 0.10])


# --------------------------------------------------------------------------- one unit rule


def every_name() -> set[str]:
    """Every column, statistic and input name the analyses produce or read."""
    names = set(analyses.STRESS_COLUMNS) | set(analyses.TORNADO_COLUMNS) | set(STAT_COLUMNS)
    names |= {"iteration", "x", "statistic", "residual", "efficient", "value", "target"}
    names |= {f"{m}:{a}" for m in METRICS for a in AGGREGATES} | set(RISK_STATISTICS)
    names |= set(analyses.DEFAULT_TORNADO) | {"effective_rate", "cap_binding_share"}
    for preset in equihome.PRESETS:
        names |= {p for p, _ in flatten(equihome.load_config(preset).to_dict())}
    return names


def test_charts_and_tables_read_every_name_alike():
    names = every_name()
    assert len(names) > 250
    for name in names:
        assert charts.unit(name) == kind_of(name) == unit_rule(name), name
    for spec in ("lp_tvpi:p50", "gp_carry:mean", "lp_irr:p5", "num_loans:p50", "cvar_99"):
        for column in ("statistic", "change", "swing", "stat_low", "residual"):
            assert kind_of(column, spec) == charts.unit(spec), (column, spec)


@pytest.mark.parametrize("name, expected", [
    ("lp_irr:p50", "%"), ("lp_tvpi:p50", "x"), ("gp_carry:p95", "$M"), ("cvar_99", "%"),
    ("management_fees:mean", "$M"), ("fund_expenses:p50", "$M"), ("num_loans:p50", ""),
    ("payback_month:p50", ""), ("wal_years:p50", ""), ("nav_drawdown:p50", "%"),
    ("loan_term", ""), ("fund_term", ""), ("deployment_period", ""), ("vintage_year", ""),
    ("fee_engine.management_fee_rate", "%"), ("fee_engine.fixed_annual_expenses", "$M"),
    ("fee_engine.annual_fund_expenses", "%"), ("fee_engine.setup_costs", "$M"),
    ("guardrails.loan_term_beyond_fund", "%"), ("guardrails.weighted_average_life", ""),
    ("exit_simulator.liquidation_discount", "%"), ("exit_simulator.foreclosure_time", ""),
    ("exit_simulator.appreciation_sale_multiplier", "x"), ("avg_loan_size", "$M"),
    ("dpi_year5", "x"), ("default_share", "%"), ("price_path.correlation_matrix.green_red", ""),
    ("contract.senior_term_years", ""), ("contract.cap_rate", "%"), ("contract.multiple", "x"),
])
def test_the_unit_of_names_that_used_to_disagree(name, expected):
    assert unit_rule(name) == expected


def test_every_numeric_input_reads_in_a_unit_that_fits_its_value():
    """Rates are fractions (at most 1 in size); anything of $1,000 or more is dollars."""
    counts = {"vintage_year", "num_simulations", "monte_carlo_seed"}
    for preset in equihome.PRESETS:
        for path, v in flatten(equihome.load_config(preset).to_dict()):
            values = list(v.values()) if isinstance(v, dict) else v if isinstance(v, list) else [v]
            for x in values:
                if isinstance(x, bool) or not isinstance(x, (int, float)):
                    continue
                k = unit_rule(path)
                if k == "%":
                    assert abs(x) <= 1.0, (preset, path, x)
                if abs(x) >= 1000 and path not in counts:
                    assert k == "$M", (preset, path, x)


def test_the_analysis_result_report_method_writes_the_page(tornado, tmp_path):
    again = AnalysisResult(json.loads(tornado.to_json()))  # as fetched from a server
    path = again.report(tmp_path / "x.html")
    assert path == tmp_path / "x.html" and path.read_text().count("<svg") == 1


@pytest.mark.parametrize("low, high, want", [
    (0.040, 0.050, [("low", 0.040, False), ("high", 0.050, True)]),   # either side of base
    (0.050, 0.040, [("high", 0.040, False), ("low", 0.050, True)]),   # reversed
    (0.043, 0.042, [("high", 0.042, False), ("low", 0.045, True)]),   # both below the base
    (0.047, 0.048, [("low", 0.045, False), ("high", 0.048, True)]),   # both above it
    (0.045, 0.045, [("low", 0.045, False), ("high", 0.045, True)]),   # no change
])
def test_tornado_labels_of_a_row_sit_on_opposite_sides(low, high, want):
    """Two bars on the same side of the base line (a small swing) still get one label each
    side: the lower statistic's label left of everything, the higher one's right of it."""
    from equihome.ui.charts import _label_places

    assert _label_places({"stat_low": low, "stat_high": high}, 0.045) == want
