"""SimulationView: state after a scripted event stream, from the main and a worker thread."""

from __future__ import annotations

import threading

import pytest
from waiting import wait_until

pytest.importorskip("ipywidgets")
import equihome  # noqa: E402
from equihome.run.engine import STAGES  # noqa: E402
from equihome.ui.widgets import SimulationView, ViewState, compare, fmt  # noqa: E402


@pytest.fixture(scope="module")
def recorded():
    """The events and result of a real small run."""
    events: list[dict] = []
    result = equihome.simulate("100m", num_simulations=200, seed=3, on_event=events.append)
    return events, result


def scripted() -> list[dict]:
    res = equihome.simulate("100m", num_simulations=64, seed=1)
    return [
        {"type": "module_started", "module": "loan_generator"},
        {"type": "progress", "progress": 12.5, "module": "loan_generator", "message": "Generating loans"},
        {"type": "guardrail_violation", "violation": {"rule": "max_ltv", "severity": "warning",
                                                      "message": "LTV high", "details": {}}},
        {"type": "module_completed", "module": "loan_generator", "execution_time": 0.25},
        {"type": "module_started", "module": "price_path_simulator"},
        {"type": "progress", "progress": 40.0, "module": "price_path_simulator", "message": "Paths"},
        {"type": "intermediate_result", "module": "metrics",
         "data": {"completed_scenarios": 32, "irr_p50": 0.05}},
        {"type": "guardrail_violation", "violation": {"rule": "var_99", "severity": "error",
                                                      "message": "VaR too high", "details": {}}},
        {"type": "progress", "progress": 100.0, "module": "guardrail_monitor", "message": "done"},
        {"type": "result", "result": res.data, "execution_time": 1.5},
    ], res


def test_scripted_stream_state():
    events, res = scripted()
    view = SimulationView(loop=None)
    for ev in events[:6]:
        view.handle(ev)
    view.flush()
    assert view.progress.value == 40.0
    assert view.state.modules["loan_generator"] == {"state": "done", "seconds": 0.25}
    assert view.state.modules["price_path_simulator"]["state"] == "running"
    assert view.state.modules["exit_simulator"]["state"] == "waiting"
    assert "0.25 s" in view.modules.value and "waiting" in view.modules.value
    assert len(view.guardrails.children) == 1
    assert "max_ltv" in view.guardrails.children[0].value
    assert view.results.layout.display == "none"
    for ev in events[6:]:
        view.handle(ev)
    assert view.progress.value == 100.0 and view.progress.bar_style == "success"
    assert [c.value.count("#c62828") for c in view.guardrails.children] == [0, 2]  # error: red
    assert view.results.layout.display == "flex"
    cells = view.metric_cells()
    assert cells["lp_irr"][0] == fmt(res.statistics["lp_irr"]["p50"], "%")
    assert cells["lp_irr"][1] == fmt(res.statistics["lp_irr"]["p5"], "%")
    assert cells["lp_tvpi"][2] == fmt(res.statistics["lp_tvpi"]["p95"], "x")
    assert cells["hurdle_clear_probability"][0] == fmt(res.risk["hurdle_clear_probability"], "%")
    html = view.metrics_table.value
    for key in ("lp_irr", "lp_tvpi", "roi", "gross_irr"):
        assert f"eq-{key}-p50" in html
    assert f">{cells['lp_irr'][0]}<" in html and f">{cells['cvar_99'][0]}<" in html
    assert view.charts.value[:4] == b"\x89PNG"
    assert "Equity" in view.tranche_table.value


def test_error_event_shown():
    view = SimulationView(loop=None)
    view.handle({"type": "module_started", "module": "loan_generator"})
    view.handle({"type": "error", "error": "loan_generator: boom", "module": "loan_generator"})
    assert "boom" in view.error.value and view.progress.bar_style == "danger"
    assert view.results.layout.display == "none"


def test_real_run_events(recorded):
    events, result = recorded
    state = ViewState()
    for ev in events:
        state.apply(ev)
    assert state.progress == 100.0
    assert all(m["state"] == "done" for m in state.modules.values())
    assert set(state.modules) == set(STAGES)
    assert len(state.violations) == len(result.guardrails)
    assert state.result["metrics"]["irr"] == result.metrics["irr"]


def test_throttled_and_safe_from_a_worker_thread(recorded):
    """Events from another thread: at most ~10 draws a second, the final state always drawn."""
    events, result = recorded
    events = events * 20  # a burst of events
    view = SimulationView(loop=None)
    view.thread = -1  # the test thread is not the view's: draws are throttled
    t = threading.Thread(target=lambda: [view.handle(e) for e in events])
    t.start()
    t.join(timeout=60)
    assert not t.is_alive()
    assert view.draws < len(events) / 10
    assert view.progress.value == 100.0
    assert view.metric_cells()["lp_irr"][0] == fmt(result.statistics["lp_irr"]["p50"], "%")


def test_compare(recorded):
    _, a = recorded
    b = equihome.simulate("100m", num_simulations=200, seed=4)
    table = compare([a, b], names=["seed 3", "seed 4"])
    assert table.rows["LP net IRR median"] == [a.statistics["lp_irr"]["p50"],
                                               b.statistics["lp_irr"]["p50"]]
    assert "seed 4" in table._repr_html_() and "LP net IRR median" in repr(table)


def test_draws_on_the_loop_thread_from_a_worker(recorded):
    """With an event loop (the kernel's), handle() from a worker only schedules; the loop draws."""
    import asyncio

    events, result = recorded

    async def main():
        view = SimulationView()
        assert view.loop is asyncio.get_running_loop()
        drawn_on = set()
        original = view._draw

        def draw():
            drawn_on.add(threading.get_ident())
            original()

        view._draw = draw
        worker = threading.Thread(target=lambda: [view.handle(e) for e in events])
        worker.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while view.progress.value < 100:  # the view redraws on this loop, so poll here
            assert loop.time() < deadline, "timed out waiting for the view to reach 100 %"
            await asyncio.sleep(0.02)
        worker.join(timeout=30)
        return view, drawn_on

    view, drawn_on = asyncio.run(main())
    assert drawn_on == {threading.get_ident()}
    assert view.progress.value == 100.0
    assert view.metric_cells()["lp_irr"][0] == fmt(result.statistics["lp_irr"]["p50"], "%")


def test_simulate_with_display_returns_at_once(recorded):
    from equihome.ui.widgets import Run, simulate

    events, result = recorded
    run = simulate("100m", num_simulations=200, seed=3)
    assert isinstance(run, Run)
    got = run.result(timeout=60)
    assert got.to_json() == result.to_json()
    assert run.view.progress.value == 100.0 and run.done()


def test_cancel_a_displayed_run():
    from equihome.ui.widgets import simulate

    run = simulate("100m", num_simulations=20_000, seed=1)
    run.cancel()
    with pytest.raises(equihome.SimulationCancelled):
        run.result(timeout=60)
    assert run.view.state.error == "cancelled"
    assert "cancelled" in run.view.error.value and "equihome-error" not in run.view.error.value
    assert run.view.progress.bar_style == "warning"
    states = {m["state"] for m in run.view.state.modules.values()}
    assert states <= {"done", "stopped"} and "stopped" in states  # none left "running"
    assert run.view.state.line().startswith("Cancelled")


def test_explorer_debounces_and_overlays():

    from equihome.ui.explorer import Explorer

    ex = Explorer("100m", num_simulations=128, seed=1, debounce=0.2)
    first = ex.run_now()
    assert ex.runs == 1 and ex.chart.value[:4] == b"\x89PNG"
    for h in (0.05, 0.055, 0.06):  # three quick moves: one re-run after the last
        ex.set(hurdle_rate=h)
    wait_until(lambda: ex.runs >= 2, 60, "the debounced re-run")
    assert ex.runs == 2
    assert ex.result.data["config"]["hurdle_rate"] == 0.06
    assert ex.previous is first
    ex.set(waterfall_structure="american", green_share=0.7)
    r = ex.run_now()
    assert r.data["config"]["waterfall_structure"] == "american"
    assert abs(r.data["config"]["zone_allocations"]["green"] - 0.7) < 1e-12


def test_top_level_entry_points_reach_the_widgets():
    """compare() is the widget table everywhere; simulate(display=True) is the widget Run in
    a notebook kernel and a finished run here, outside one (both: tests/test_first_hour.py)."""
    import equihome
    from equihome.ui.widgets import Comparison

    run = equihome.simulate("100m", num_simulations=40, seed=5, display=True)
    assert run.done()
    result = run.result()
    assert result.to_json() == equihome.simulate("100m", num_simulations=40, seed=5).to_json()
    assert isinstance(equihome.compare([result, result], names=["a", "b"]), Comparison)


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_progress_line_counts_once_with_elapsed_and_time_left():
    clock = Clock()
    state = ViewState(clock=clock)
    state.apply({"type": "module_started", "module": "loan_generator"})
    clock.t += 4.0
    state.apply({"type": "progress", "progress": 25.0, "module": "exit_simulator",
                 "message": "Simulating exits (192/20,000 scenarios done)"})
    state.apply({"type": "intermediate_result", "module": "metrics",
                 "data": {"completed_scenarios": 5000, "total_scenarios": 20000}})
    assert state.line() == "5,000 / 20,000 scenarios \u00b7 4.0 s elapsed \u00b7 about 12.0 s left"
    assert state.message == "Simulating exits and the cash ledger"  # no second count
    clock.t += 60.0
    assert "1 min 04 s elapsed" in state.line()


def test_stage_states_go_running_then_done():
    """The stage of the latest progress runs; one begun earlier and unfinished is in
    progress (chunks interleave); completed stages are done; the result ends them all."""
    _, res = scripted()
    state = ViewState()
    state.apply({"type": "module_started", "module": "loan_generator"})
    state.apply({"type": "progress", "progress": 5.0, "module": "loan_generator", "message": ""})
    assert state.modules["loan_generator"]["state"] == "running"
    state.apply({"type": "module_started", "module": "price_path_simulator"})
    state.apply({"type": "progress", "progress": 9.0, "module": "price_path_simulator",
                 "message": ""})
    assert [state.modules[m]["state"] for m in STAGES[:3]] == ["started", "running", "waiting"]
    state.apply({"type": "module_completed", "module": "loan_generator", "execution_time": 0.5})
    assert state.modules["loan_generator"] == {"state": "done", "seconds": 0.5}
    state.apply({"type": "result", "result": res.data, "execution_time": 1.0})
    assert all(m["state"] == "done" for m in state.modules.values())
    assert state.line().startswith(f"{res.data['num_simulations']:,} / ")


def test_a_cancelled_run_is_shown_cancelled_not_failed():
    view = SimulationView(loop=None)
    for ev in ({"type": "module_started", "module": "loan_generator"},
               {"type": "progress", "progress": 10.0, "module": "exit_simulator", "message": ""},
               {"type": "module_completed", "module": "loan_generator", "execution_time": 0.1},
               {"type": "error", "error": "cancelled", "module": "exit_simulator"}):
        view.handle(ev)
    view.flush()
    states = {m: v["state"] for m, v in view.state.modules.items()}
    assert states["loan_generator"] == "done"
    assert {s for m, s in states.items() if m != "loan_generator"} == {"stopped"}
    assert view.progress.bar_style == "warning"
    assert "equihome-cancelled" in view.error.value and "equihome-error" not in view.error.value
    assert "Cancelled" in view.status.value and "running" not in view.modules.value
    static = view.static_html()
    assert "equihome-cancelled" in static and "stopped" in static


def test_a_failed_stage_is_marked_failed_and_the_rest_stopped():
    state = ViewState()
    state.apply({"type": "progress", "progress": 10.0, "module": "exit_simulator", "message": ""})
    state.apply({"type": "error", "error": "exit_simulator: boom", "module": "exit_simulator"})
    assert state.modules["exit_simulator"]["state"] == "failed"
    assert state.modules["metrics"]["state"] == "stopped"


class Handle:
    """Records what a display handle is updated with (the kernel's DisplayHandle API)."""

    def __init__(self) -> None:
        self.updates: list[tuple[dict, bool]] = []

    def update(self, obj: dict, raw: bool = False) -> None:
        self.updates.append((obj, raw))


def test_the_finished_view_leaves_static_html_without_the_widget(recorded):
    events, result = recorded
    view = SimulationView(loop=None)
    view.display_handle = Handle()
    for ev in events[:-1]:
        view.handle(ev)
    view.flush()
    assert view.display_handle.updates == []  # still running: the widget stays
    view.handle(events[-1])
    [(bundle, raw)] = view.display_handle.updates
    assert raw and set(bundle) == {"text/html", "text/plain"}
    page = bundle["text/html"]
    cells = view.metric_cells()
    assert f">{cells['lp_irr'][0]}<" in page and f">{cells['cvar_99'][0]}<" in page
    assert "data:image/png;base64," in page and "equihome-tranches" in page
    import base64
    assert base64.b64encode(view.charts.value).decode() in page  # drawn once, not twice
    for v in result.guardrails:
        assert v["rule"] in page
    view.handle(events[-1])
    assert len(view.display_handle.updates) == 1  # published once


def test_compare_shows_differences_from_the_base_and_guardrails(recorded):
    _, a = recorded
    b = equihome.simulate("100m", num_simulations=200, seed=3, overrides={"fund_term": 12})
    table = compare([a, b], names=["base", "12y"])
    med = "LP net IRR median"
    assert table.deltas[med] == [None, b.statistics["lp_irr"]["p50"] - a.statistics["lp_irr"]["p50"]]
    text = repr(table)
    d = table.deltas[med][1]
    assert f"{d * 100:+.2f} pp" in text and "\u0394 vs base" in text
    rules = {v["rule"] for v in a.guardrails} | {v["rule"] for v in b.guardrails}
    assert set(table.guardrails) == rules
    for rule, sev in table.guardrails.items():
        for i, r in enumerate((a, b)):
            raised = [v["severity"] for v in r.guardrails if v["rule"] == rule]
            assert sev[i] == (raised[0] if raised else "")
    assert "GP carry median" in text and "$" in text and "M" in text
    frame = table.to_frame()
    assert list(frame.columns) == ["base", "12y"] and frame.loc[med, "12y"] == b.statistics["lp_irr"]["p50"]


def test_explorer_table_shows_the_base_and_the_difference():
    from equihome.ui.explorer import Explorer

    ex = Explorer("100m", num_simulations=96, seed=2)
    base = ex.run_now()
    now = ex.set(hurdle_rate=0.05).run_now()
    assert ex.baseline is base
    d = now.risk["hurdle_clear_probability"] - base.risk["hurdle_clear_probability"]
    assert f"{d * 100:+.2f} pp" in ex.table.value
    assert all(v["rule"] in ex.guardrails.value for v in now.guardrails if v["severity"] != "info")
