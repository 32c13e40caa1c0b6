"""Analysis charts, their static HTML, the live notebook view and the terminal bar, checked
against real small analyses (values read back from the matplotlib artists and the widgets)."""

from __future__ import annotations

import io
import sys
import threading
import xml.etree.ElementTree as ET

import pytest
from matplotlib.figure import Figure

import equihome
from equihome.io.stress import LIBRARY
from equihome.run import analyses
from equihome.run.analysis_result import AnalysisResult, cell, kind_of
from equihome.run.engine import CancelToken
from equihome.ui import charts
from equihome.ui.analysis_view import AnalysisState, AnalysisView, run_analysis
from equihome.ui.console import FinishedAnalysis
from equihome.ui.console import run_analysis as run_in_terminal

PARAMS = {"appreciation_rates": 0.01, "fee_engine.management_fee_rate": 0.005,
          "hurdle_rate": [0.05, -0.5]}  # the last one's high side is an invalid config


@pytest.fixture(scope="module")
def stress_run():
    """A real stress run over the whole library and every event it sent."""
    events: list[dict] = []
    result = analyses.stress("100m", num_simulations=100, seed=1, on_event=events.append)
    return result, events


@pytest.fixture(scope="module")
def tornado_run():
    return analyses.tornado("100m", parameters=PARAMS, num_simulations=60, seed=1)


@pytest.fixture(scope="module")
def breakeven_run():
    return analyses.breakeven("100m", "appreciation_rates", bounds=(0.0, 0.15),
                              num_simulations=60, seed=1)


def no_svg(page: str) -> str:
    """The HTML with its chart cut out (SVG clip ids are unique per drawing)."""
    head, _, rest = page.partition("<svg")
    assert rest, "no chart in the HTML"
    return head + rest.partition("</svg>")[2]


def axes():
    return Figure().add_subplot()


def by_gid(artists, prefix):
    return {a.get_gid().split(":", 1)[1]: a for a in artists
            if (a.get_gid() or "").startswith(prefix)}


# --------------------------------------------------------------------------- charts


def test_tornado_chart_bars_read_back(tornado_run):
    data = tornado_run.data
    ax = axes()
    assert charts.plot_analysis(data, ax) is None
    base = data["base_value"]
    low, high = by_gid(ax.patches, "low:"), by_gid(ax.patches, "high:")
    # 3 inputs, hurdle_rate's high side failed: 5 bars
    assert len(ax.patches) == 5 and set(high) == {"appreciation_rates",
                                                  "fee_engine.management_fee_rate"}
    for r in data["rows"]:
        bar = low[r["parameter"]]
        assert bar.get_x() == pytest.approx(base)
        assert bar.get_width() == pytest.approx(r["stat_low"] - base)
        if r["stat_high"] is not None:
            assert high[r["parameter"]].get_width() == pytest.approx(r["stat_high"] - base)
    # largest swing on top: the first row is drawn at y=0 and the y axis runs downwards
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == data["rows"][0]["parameter"] == "appreciation_rates"
    assert ax.get_ylim()[0] > ax.get_ylim()[1]
    assert low["appreciation_rates"].get_y() < low["fee_engine.management_fee_rate"].get_y()
    assert "failed" in labels[-1] and "hurdle_rate" in labels[-1]
    assert [ln.get_xdata()[0] for ln in ax.lines] == [pytest.approx(base)]  # line at base
    texts = [t.get_text() for t in ax.texts]
    assert "5%/4%/3%" in texts and "7%/6%/5%" in texts   # input values at the bar ends
    assert "lp_irr:p50" in ax.get_xlabel() and "%" in ax.get_xlabel()
    assert "60 scenarios" in ax.get_title() and "3 inputs" in ax.get_title()


def test_stress_chart_ranges_medians_and_hurdle(stress_run):
    result, _ = stress_run
    rows = result.rows
    ax = axes()
    charts.plot_analysis(result.data, ax)
    ranges = by_gid(ax.patches, "range:")
    assert list(ranges) == [r["scenario"] for r in rows] == ["base", *LIBRARY]
    for r in rows:
        bar = ranges[r["scenario"]]
        assert bar.get_y() == pytest.approx(r["irr_p5"])
        assert bar.get_height() == pytest.approx(r["irr_p95"] - r["irr_p5"])
    assert ranges["base"].get_facecolor() != ranges["mvd_45"].get_facecolor()  # base highlighted
    (p50,) = [ln for ln in ax.lines if ln.get_gid() == "p50"]
    assert list(p50.get_ydata()) == pytest.approx([r["irr_p50"] for r in rows])
    (hurdle,) = [ln for ln in ax.lines if ln.get_gid() == "hurdle"]
    assert hurdle.get_ydata()[0] == pytest.approx(result.data["config"]["hurdle_rate"])
    ticks = ax.get_xticklabels()
    assert ticks[0].get_text() == "base" and ticks[0].get_fontweight() == "bold"
    assert "base + 9 scenarios" in ax.get_title() and "100 simulations" in ax.get_title()
    assert ax.yaxis.get_major_formatter()(0.05, 0).endswith("%")
    assert "%" in ax.get_ylabel()


def test_breakeven_chart_marks_the_answer(breakeven_run):
    data = breakeven_run.data
    ax = axes()
    charts.plot_analysis(data, ax)
    lines = {ln.get_gid(): ln for ln in ax.lines if ln.get_gid()}
    evals = lines["evaluations"]
    assert list(evals.get_xdata()) == pytest.approx([r["x"] for r in data["rows"]])
    assert list(evals.get_ydata()) == pytest.approx([r["statistic"] for r in data["rows"]])
    assert lines["target"].get_ydata()[0] == pytest.approx(0.08)  # the 100m hurdle
    assert lines["answer"].get_xdata()[0] == pytest.approx(data["x"])
    assert lines["answer"].get_ydata()[0] == pytest.approx(data["value"])
    assert "appreciation_rates" in ax.get_xlabel() and f"{data['iterations']} runs" in ax.get_title()


def test_sweep_chart_points_and_frontier():
    result = analyses.sweep_analysis("100m", grid={"fee_engine.management_fee_rate": [0.01, 0.03],
                                                   "avg_loan_ltv": [0.3, 0.5]},
                                     num_simulations=60, seed=2)
    rows = result.rows
    ax = axes()
    charts.plot_analysis(result.data, ax)
    (points,) = ax.collections
    offsets = points.get_offsets()
    assert list(offsets[:, 0]) == pytest.approx([r["cvar_99"] for r in rows])
    assert list(offsets[:, 1]) == pytest.approx([r["irr_p50"] for r in rows])
    front = sorted((r for r in rows if r["efficient"]), key=lambda r: (r["cvar_99"], -r["irr_p50"]))
    (line,) = [ln for ln in ax.lines if ln.get_gid() == "frontier"]
    assert list(line.get_ydata()) == pytest.approx([r["irr_p50"] for r in front])
    assert "4 strategies" in ax.get_title()


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="no chart for analysis kind 'nope'"):
        charts.plot_analysis({"kind": "nope", "rows": []}, axes())


def test_svg_is_valid_and_names_the_scenarios(stress_run):
    result, _ = stress_run
    text = charts.svg(result.data)
    root = ET.fromstring(text)
    assert root.tag.endswith("svg") and text.startswith("<svg")
    words = " ".join(t for t in root.itertext())
    for name in ["base", *LIBRARY]:
        assert name in words
    assert "LP net IRR" in words


# --------------------------------------------------------------------------- static HTML


def test_repr_html_has_the_table_and_the_chart(stress_run, tornado_run):
    result, _ = stress_run
    page = result._repr_html_()
    assert page.count("<svg") == 1 and page.count("<tr") == len(result.rows) + 1
    assert "stress: 100 scenarios per variant, seed 1" in page
    for r in result.rows:
        assert f">{cell(r['irr_p50'], '%')}</td>" in page
        assert f">{cell(r['tvpi_p50'], 'x')}</td>" in page
        assert f">{', '.join(r['guardrails'])}</td>" in page   # guardrails as text
    assert "text-align:right" in page
    tor = tornado_run._repr_html_()
    assert kind_of("appreciation_rates") == "%"
    assert ">5.00%/4.00%/3.00%</td>" in tor            # inputs in their own units
    assert "hurdle_rate: must be between 0 and 1" in tor  # the failed bump's row
    assert tor.count("<td class='eq-error' style='padding:2px 8px;text-align:left;"
                     "white-space:nowrap'></td>") == 2    # no error: blank, as in .table


def test_repr_html_without_matplotlib_is_just_the_table(breakeven_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    page = breakeven_run._repr_html_()
    assert "<svg" not in page and page.count("<tr") == len(breakeven_run.rows) + 1
    assert "at appreciation_rates = " in page  # the answer line


# --------------------------------------------------------------------------- live view


def test_view_fed_by_a_real_stress_run():
    view = AnalysisView(loop=None)
    result = analyses.stress("100m", num_simulations=100, seed=1, on_event=view.handle)
    view.flush()
    st = view.state
    names = [f"stress:{n}" for n in ("base", *LIBRARY)]
    assert list(st.modules) == names
    assert all(m["state"] == "done" and m["seconds"] > 0 for m in st.modules.values())
    assert [r["scenario"] for r in st.rows.values()] == [r["scenario"] for r in result.rows]
    assert st.rows["stress:mvd_45"] == result.rows[7]
    assert view.progress.value == 100.0 and view.progress.bar_style == "success"
    assert "variant 10/10" in view.counter.value
    assert view.modules.value.count("equihome-done") == 10
    assert view.results.layout.display == "flex"
    assert no_svg(view.results.value) == no_svg(result._repr_html_())
    assert view.error.value == "" and view.cancel_button.layout.display == "none"


def test_view_mid_run_shows_rows_so_far(stress_run):
    result, events = stress_run
    third = [i for i, e in enumerate(events) if e["type"] == "intermediate_result"][2]
    view = AnalysisView(loop=None)
    for ev in events[:third + 2]:  # the third row, then the fourth variant's start
        view.handle(ev)
    view.flush()
    states = [m["state"] for m in view.state.modules.values()]
    assert states == ["done", "done", "done", "running"]
    assert "variant 4/10" in view.counter.value
    assert view.rows.value.count("<tr>") == 1 + 3
    assert f">{cell(result.rows[2]['irr_p50'], '%')}<" in view.rows.value
    assert view.results.layout.display == "none" and 0 < view.progress.value < 100


def test_live_tornado_table_in_the_final_columns():
    events: list[dict] = []
    result = analyses.tornado("100m", parameters=PARAMS, num_simulations=60, seed=1,
                              on_event=events.append)
    view = AnalysisView(loop=None, kind="tornado")
    for ev in events[:-1]:  # all but the result: the live table
        view.handle(ev)
    view.flush()
    table = view.rows.value
    heads = [h.rsplit(">", 1)[1] for h in table.split("</th>")[:-1]]
    assert heads == result.data["columns"]
    assert table.count("<tr>") == 1 + 3                 # tornado's label-only base row left out
    assert ">5.00%/4.00%/3.00%</td>" in table           # the low input, in its own unit
    assert "must be between 0 and 1" in table           # the failed bump, as its row says
    view.handle(events[-1])
    assert view.rows.value == "" and "<svg" in view.results.value


def test_static_rendering_is_published_once_at_the_end(stress_run):
    """A saved notebook without widget state shows the bundle's text/html: the progress so
    far at first, the result's chart and table once the display is updated at the end."""
    result, events = stress_run

    class Handle:
        updates: list[dict] = []

        def update(self, data, raw=False):
            assert raw
            self.updates.append(data)

    view = AnalysisView(loop=None)
    view.display_handle = Handle()
    first = view.mimebundle()
    assert first["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id
    assert "<svg" not in first["text/html"] and "Waiting to start" in first["text/html"]
    for ev in events:
        view.handle(ev)
    view.flush()
    (final,) = Handle.updates
    assert final["text/html"] == view.final_html and "<svg" in final["text/html"]
    assert no_svg(final["text/html"]) == no_svg(result._repr_html_())


def test_cancelled_run_reads_cancelled():
    token = CancelToken()
    view = AnalysisView(loop=None)

    def listen(event):
        view.handle(event)
        if event["type"] == "intermediate_result" and len(view.state.rows) == 2:
            token.cancel()

    with pytest.raises(equihome.SimulationCancelled):
        analyses.stress("100m", scenarios=["mvd_20", "mvd_31", "mvd_45"], num_simulations=100,
                        seed=1, on_event=listen, cancel=token)
    view.flush()
    states = {k: m["state"] for k, m in view.state.modules.items()}
    assert states == {"stress:base": "done", "stress:mvd_20": "done",
                      "stress:mvd_31": "cancelled"}
    assert "running" not in view.modules.value
    assert "cancelled" in view.error.value and "#c62828" not in view.error.value
    assert view.progress.bar_style == "warning" and view.progress.value < 100
    assert view.cancel_button.disabled and len(view.state.rows) == 2


def test_failure_is_shown_as_an_error():
    state = AnalysisState()
    state.apply({"type": "module_started", "module": "tornado:base"})
    assert state.apply({"type": "error", "error": "engine: boom", "module": "tornado:base"})
    assert state.modules["tornado:base"]["state"] == "failed"
    view = AnalysisView(loop=None)
    view.handle({"type": "error", "error": "engine: boom", "module": "tornado:base"})
    assert "boom" in view.error.value and view.progress.bar_style == "danger"


def test_throttled_and_safe_from_a_worker_thread(stress_run):
    result, events = stress_run
    burst = events * 10
    view = AnalysisView(loop=None)
    view.thread = -1  # not the view's thread: draws are throttled
    t = threading.Thread(target=lambda: [view.handle(e) for e in burst])
    t.start()
    t.join(timeout=60)
    assert not t.is_alive()
    assert view.draws < len(burst) / 10
    assert view.progress.value == 100.0 and no_svg(view.final_html) == no_svg(result._repr_html_())


def test_run_analysis_in_the_background_matches_a_direct_run():
    kw = dict(scenarios=["mvd_20"], num_simulations=60, seed=4)
    seen: list[str] = []
    run = run_analysis("stress", "100m", on_event=lambda e: seen.append(e["type"]), **kw)
    got = run.result(timeout=60)
    assert got.to_json() == analyses.stress("100m", **kw).to_json()
    assert run.done() and seen[-1] == "result"
    assert [m["state"] for m in run.view.state.modules.values()] == ["done", "done"]


def test_run_analysis_cancel_and_invalid_input():
    run = run_analysis("tornado", "100m", num_simulations=5000, seed=1)
    run.cancel()
    with pytest.raises(equihome.SimulationCancelled):
        run.result(timeout=60)
    assert run.view.state.error == "cancelled"
    assert "running" not in {m["state"] for m in run.view.state.modules.values()}
    bad = run_analysis("stress", "100m", scenarios=["no_such_scenario"], num_simulations=60)
    with pytest.raises(equihome.ConfigError, match="no_such_scenario"):
        bad.result(timeout=60)
    assert "no_such_scenario" in bad.view.error.value  # the view is not left waiting
    with pytest.raises(ValueError, match="kind: must be one of"):
        run_analysis("nope", "100m")


# --------------------------------------------------------------------------- terminal


def test_console_bar_on_stderr(capsys):
    done = run_in_terminal("tornado", "100m", parameters={"hurdle_rate": 0.01},
                           num_simulations=60, seed=1)
    err = capsys.readouterr().err
    assert isinstance(done, FinishedAnalysis) and done.done()
    assert err.count("\n") == 1 and "100.0%" in err and "variant 3/3" in err
    assert err.startswith("[" + "#" * 30 + "]")
    assert done.result().to_json() == analyses.tornado(
        "100m", parameters={"hurdle_rate": 0.01}, num_simulations=60, seed=1).to_json()


def test_console_bar_redraws_in_place_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    run_in_terminal("stress", "100m", scenarios=["mvd_20"], num_simulations=60, seed=1,
                    stream=out)
    text = out.getvalue()
    assert text.count("\r") >= 2 and text.endswith("\n") and text.count("\n") == 1
    assert "variant 2/2 \u00b7 complete" in text.rsplit("\r", 1)[1]


def test_top_level_display_outside_a_notebook(capsys):
    run = equihome.stress("100m", scenarios=["rates_up"], num_simulations=60, seed=1,
                          display=True)
    assert isinstance(run, FinishedAnalysis)
    assert [r["scenario"] for r in run.result().table] == ["base", "rates_up"]
    assert "100.0%" in capsys.readouterr().err
    assert isinstance(run.result(), AnalysisResult)
