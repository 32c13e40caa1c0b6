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
    assert "cancelled" in run.view.error.value


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
