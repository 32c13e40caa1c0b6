"""The Dask backend and strategy sweeps, on a real LocalCluster (2 worker processes).

Same seed -> the same result JSON as the local backend, whatever the task size, even when
a worker dies mid-run; cancel releases the futures; events follow the local rules; the
server with ``--dask-scheduler`` runs on the cluster. Every wait here has a deadline.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading

import pytest
from distributed import Client, LocalCluster
from server_helpers import run, subscribe_and_collect
from server_util import ServerProcess
from waiting import wait_until

import equihome
from equihome import STAGES
from equihome.cli import main as cli_main
from equihome.run import distributed as eq_dask
from equihome.run.engine import SimulationError

SEED = 17
RUN_DEADLINE = 60.0  # s for any one Dask run


@pytest.fixture(scope="module")
def cluster():
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the scheduler's INFO lines (and the killed worker's warnings)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR) as c:
            yield c
    finally:
        quiet.setLevel(level)


@pytest.fixture(scope="module")
def client(cluster):
    with Client(cluster) as c:  # also the default client, for client=None
        c.wait_for_workers(2, timeout=60)
        yield c
        eq_dask.close_clients()  # the address clients, before their scheduler goes away


def local(n: int, seed: int = SEED, **kw) -> equihome.SimulationResult:
    return equihome.simulate("100m", num_simulations=n, seed=seed, **kw)


def on_dask(where, n: int, seed: int = SEED, **kw) -> equihome.SimulationResult:
    """``where``: a Client, a scheduler address or None (the default client).

    A watchdog cancels the run after RUN_DEADLINE s, so a stuck cluster fails the test.
    """
    token = kw.setdefault("cancel", equihome.CancelToken())
    watchdog = threading.Timer(RUN_DEADLINE, token.cancel)
    watchdog.start()
    try:
        return equihome.simulate("100m", num_simulations=n, seed=seed, backend="dask",
                                 client=where, **kw)
    finally:
        watchdog.cancel()


def chunk_prefix(client) -> dict:
    """The scheduler's totals for the engine's task prefix: compute seconds, tasks on dead workers."""

    def read(dask_scheduler) -> dict:
        p = dask_scheduler.task_prefixes.get("equihome-chunk")
        if p is None:
            return {"compute": 0.0, "suspicious": 0}
        return {"compute": float(p.all_durations.get("compute", 0.0)), "suspicious": p.suspicious}

    return client.run_on_scheduler(read)


# --------------------------------------------------------------------------- same numbers


def test_dask_result_is_bit_identical_to_local_for_any_task_size(client, cluster):
    expected = local(300, chunk_size=64, threads=2).to_json()
    assert on_dask(client, 300, task_size=128).to_json() == expected
    # tasks smaller than the 20 sample paths: paths are merged across tasks by scenario
    assert on_dask(client, 300, task_size=7, chunk_size=5).to_json() == expected
    # by address (a cached client) and by the default client
    assert on_dask(cluster.scheduler_address, 300).to_json() == expected
    assert on_dask(None, 300, task_size=100).to_json() == expected
    assert on_dask(client, 300, seed=SEED + 1, task_size=128).to_json() != expected


def test_dask_events_follow_the_local_rules(client):
    n = 600
    ref_events: list[dict] = []
    ref = local(n, on_event=ref_events.append)
    events: list[dict] = []
    r = on_dask(client, n, task_size=100, on_event=events.append)
    assert r.to_json() == ref.to_json()
    types = [e["type"] for e in events]
    assert types[-1] == "result" and types.count("result") == 1 and "error" not in types
    values = [e["progress"] for e in events if e["type"] == "progress"]
    assert values == sorted(values) and values[-1] == 100.0 and all(0 <= v <= 100 for v in values)
    for e in events:
        if e["type"] == "progress":
            assert e["module"] in STAGES and e["message"]
    started = [e["module"] for e in events if e["type"] == "module_started"]
    completed = [e for e in events if e["type"] == "module_completed"]
    assert started == list(STAGES) and [e["module"] for e in completed] == list(STAGES)
    for name in STAGES:
        s = next(i for i, e in enumerate(events) if e["type"] == "module_started" and e["module"] == name)
        c = next(i for i, e in enumerate(events) if e["type"] == "module_completed" and e["module"] == name)
        assert s < c
    # execution_time sums the workers' stage times over the 6 tasks
    assert all(e["execution_time"] >= 0 for e in completed)
    assert r.stage_times["exit_simulator"] > 0
    inter = [e for e in events if e["type"] == "intermediate_result"]
    waterfall = [e for e in inter if e["module"] == "waterfall_engine"]
    assert len(waterfall) == 1 and waterfall[0]["data"]["tranches"] == r.data["tranches"]
    running = [e["data"] for e in inter if e["module"] == "metrics"]
    done = [d["completed_scenarios"] for d in running]
    assert done == sorted(done) and done[-1] == n
    assert running[-1]["irr_p50"] == pytest.approx(r.metrics["irr"])
    assert [e for e in events if e["type"] == "guardrail_violation"] == \
        [e for e in ref_events if e["type"] == "guardrail_violation"]
    assert events[-1]["result"] == r.data
    json.dumps(events, allow_nan=False)


def test_a_failing_task_reports_its_stage(client):
    """A stage that raises on the workers fails the run naming the stage, as locally."""

    def break_waterfall() -> None:
        from equihome.model import waterfall_engine as w

        def boom(*args, **kwargs):
            raise ValueError("synthetic failure")

        w._saved_run, w.run = w.run, boom

    def restore() -> None:
        from equihome.model import waterfall_engine as w

        w.run = w._saved_run

    client.run(break_waterfall)
    events: list[dict] = []
    try:
        with pytest.raises(SimulationError) as info:
            on_dask(client, 200, task_size=100, on_event=events.append)
    finally:
        client.run(restore)
    assert info.value.module == "waterfall_engine" and "synthetic failure" in str(info.value)
    assert events[-1]["type"] == "error" and events[-1]["module"] == "waterfall_engine"
    assert not any(e["type"] == "result" for e in events)
    assert on_dask(client, 64).to_json() == local(64).to_json()  # the workers are fine again


# --------------------------------------------------------------------------- cancel


def executed_tasks(client) -> int:
    """Tasks the cluster's workers have run so far, all of them together."""

    def count(dask_worker) -> int:
        return dask_worker.state.executed_count

    return sum(client.run(count).values())


def test_cancel_is_quick_and_releases_the_futures(client):
    """A cancel mid-run stops the run at once: the cluster runs few of its 79 tasks."""
    n, task_size = 20_000, 256
    tasks = -(-n // task_size)
    token = equihome.CancelToken()
    events: list[dict] = []

    def listener(e: dict) -> None:
        events.append(e)
        if e["type"] == "intermediate_result":  # mid-run: the first task is back
            token.cancel()

    before = executed_tasks(client)
    with pytest.raises(equihome.SimulationCancelled):
        on_dask(client, n, task_size=task_size, on_event=listener, cancel=token)
    assert events[-1] == {"type": "error", "error": "cancelled", "module": events[-1]["module"]}
    assert not any(e["type"] == "result" for e in events)

    def engine_keys() -> list:
        return [k for k in client.futures if "equihome-chunk" in str(k)]

    wait_until(lambda: not engine_keys(), 30, "the client to release the run's futures")
    wait_until(lambda: not any(client.processing().values()), 30,
               "the scheduler to stop processing the run's tasks")

    def scheduler_keys(dask_scheduler) -> list:
        return [str(k) for k in dask_scheduler.tasks if "equihome-chunk" in str(k)]

    wait_until(lambda: not client.run_on_scheduler(scheduler_keys), 30,
               "the scheduler to forget the run's tasks")
    # the work done is bounded by the cancel, not by the run: those in flight at most
    assert executed_tasks(client) - before < tasks // 4


# --------------------------------------------------------------------------- worker loss


def test_a_worker_killed_mid_run_changes_nothing(client):
    n = 2000
    expected = local(n).to_json()
    pids = client.run(os.getpid)
    before = chunk_prefix(client)
    killed: list[str] = []

    def executing(dask_worker) -> int:
        return len(dask_worker.state.executing)

    def listener(e: dict) -> None:
        if e["type"] == "intermediate_result" and not killed:  # after the first task is back
            busy = [w for w, k in client.run(executing).items() if k]
            if busy:
                killed.append(busy[0])
                os.kill(pids[busy[0]], signal.SIGKILL)

    r = on_dask(client, n, task_size=128, on_event=listener)
    assert killed, "no worker was busy when the first task finished"
    assert r.to_json() == expected
    assert chunk_prefix(client)["suspicious"] > before["suspicious"]  # a task was re-run
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the worker for the next tests
    assert killed[0] not in client.scheduler_info()["workers"]


# --------------------------------------------------------------------------- missing Dask


def test_missing_dask_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now fails
    events: list[dict] = []
    with pytest.raises(ImportError, match=r"pip install \"equihome\[dask\]\""):
        equihome.simulate("100m", num_simulations=8, seed=1, backend="dask",
                          on_event=events.append)
    assert events == []  # refused before anything ran
    code = cli_main(["serve", "--port", "0", "--db", str(tmp_path / "x.db"),
                     "--dask-scheduler", "tcp://127.0.0.1:1"])
    assert code == 2
    with pytest.raises(ValueError, match="backend"):
        equihome.simulate("100m", num_simulations=8, seed=1, backend="spark")
    with pytest.raises(ValueError, match="client"):
        equihome.simulate("100m", num_simulations=8, seed=1, client="tcp://127.0.0.1:1")


def test_the_engine_does_not_import_dask():
    code = ("import sys, equihome; equihome.simulate('100m', num_simulations=8, seed=1); "
            "equihome.sweep('100m', {'hurdle_rate': [0.07]}, num_simulations=8, seed=1); "
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- sweep


def test_efficient_frontier_on_a_hand_built_table():
    rows = [
        {"name": "A", "cvar_99": 0.10, "irr_p50": 0.08, "var_99": 0.05, "tvpi_p50": 1.2},
        {"name": "B", "cvar_99": 0.05, "irr_p50": 0.06, "var_99": 0.03, "tvpi_p50": 1.5},
        {"name": "C", "cvar_99": 0.10, "irr_p50": 0.07, "var_99": 0.01, "tvpi_p50": 1.1},  # < A
        {"name": "D", "cvar_99": 0.02, "irr_p50": 0.03, "var_99": 0.02, "tvpi_p50": 1.4},
        {"name": "E", "cvar_99": 0.05, "irr_p50": 0.06, "var_99": 0.04, "tvpi_p50": 1.3},  # = B
        {"name": "F", "cvar_99": None, "irr_p50": 0.20, "var_99": 0.06, "tvpi_p50": 2.0},
        {"name": "G", "cvar_99": 0.12, "irr_p50": 0.08, "var_99": 0.06, "tvpi_p50": 1.0},  # < A
        {"name": "H", "cvar_99": 0.02, "irr_p50": 0.02, "var_99": 0.05, "tvpi_p50": 1.0},  # < D
        {"name": "I", "cvar_99": 0.30, "irr_p50": float("nan"), "var_99": 0.1, "tvpi_p50": 0.9},
    ]
    names = [r["name"] for r in equihome.efficient_frontier(rows)]
    assert names == ["D", "B", "E", "A"]  # by rising risk; equal rows are both efficient
    other = [r["name"] for r in equihome.efficient_frontier(rows, risk="var_99", ret="tvpi_p50")]
    assert other == ["C", "D", "B", "F"]
    assert equihome.efficient_frontier([]) == []


def test_sweep_grid_is_validated_before_anything_runs():
    with pytest.raises(ValueError, match="avg_loan_ltv"):
        equihome.sweep("100m", {"avg_loan_ltv": []}, num_simulations=8, seed=1)
    with pytest.raises(ValueError, match="grid"):
        equihome.sweep("100m", {"price_path": [1], "price_path.model_type": ["gbm"]},
                       num_simulations=8, seed=1)
    with pytest.raises(equihome.ConfigError, match="hurdle_rate"):
        equihome.sweep("100m", {"hurdle_rate": [0.07, 5.0]}, num_simulations=8, seed=1)


def test_small_sweep_is_the_same_locally_and_on_dask(client):
    grid = {"avg_loan_ltv": [0.3, 0.4], "price_path.model_type": ["gbm", "regime_switching"]}
    seen: list[dict] = []
    table = equihome.sweep("100m", grid, num_simulations=64, seed=SEED, on_row=seen.append)
    token = equihome.CancelToken()
    watchdog = threading.Timer(RUN_DEADLINE, token.cancel)
    watchdog.start()
    try:
        remote = equihome.sweep("100m", grid, num_simulations=64, seed=SEED, backend="dask",
                                client=client, task_size=32, cancel=token)
    finally:
        watchdog.cancel()
    assert remote.to_json() == table.to_json()
    assert len(seen) == 4 and table.seed == SEED and table.num_simulations == 64
    assert [(r["avg_loan_ltv"], r["price_path.model_type"]) for r in table.rows] == [
        (0.3, "gbm"), (0.3, "regime_switching"), (0.4, "gbm"), (0.4, "regime_switching")]
    # common random numbers: each row is the plain run of that strategy with the same seed
    one = local(64, overrides={"avg_loan_ltv": 0.4, "price_path": {"model_type": "gbm"}})
    row = table.rows[2]
    assert row["irr_p50"] == one.statistics["lp_irr"]["p50"]
    assert row["irr_p5"] == one.statistics["lp_irr"]["p5"]
    assert row["tvpi_p50"] == one.statistics["lp_tvpi"]["p50"]
    assert row["cvar_99"] == one.risk["cvar_99"]
    assert row["hurdle_clear_probability"] == one.risk["hurdle_clear_probability"]
    front = table.frontier()
    assert front and all(r["efficient"] for r in front)
    assert sum(r["efficient"] for r in table.rows) == len(front)
    assert set(table.columns) == set(table.rows[0])
    assert json.loads(table.to_json())["rows"][0]["efficient"] == table.rows[0]["efficient"]


# --------------------------------------------------------------------------- server


def test_server_with_dask_scheduler_runs_on_the_cluster(client, cluster, tmp_path):
    n, seed = 300, 23
    expected = local(n, seed=seed).data
    before = chunk_prefix(client)["compute"]
    srv = ServerProcess(db=tmp_path / "equihome.db",
                        extra=("--dask-scheduler", cluster.scheduler_address)).start()
    try:
        status, rec = srv.request("POST", "/simulations", {
            "preset": "100m", "overrides": {"num_simulations": n, "monte_carlo_seed": seed}})
        assert status == 201, rec
        messages = run(subscribe_and_collect(srv, rec["id"]), 90)
    finally:
        srv.stop()
    types = [m["type"] for m in messages]
    assert types[-1] == "result", messages[-1]
    assert messages[-1]["result"] == expected
    assert [m["module"] for m in messages if m["type"] == "module_completed"] == list(STAGES)
    assert chunk_prefix(client)["compute"] > before  # its tasks ran on the cluster


def test_analyses_are_the_same_locally_and_on_dask(client):
    """Stress and tornado give byte-identical JSON on local threads and on the cluster."""
    kw = dict(num_simulations=48, seed=SEED)
    for analysis in (
            lambda **o: equihome.stress("100m", ["mvd_31_frozen", "rates_up"], **kw, **o),
            lambda **o: equihome.tornado("100m", {"hurdle_rate": 0.01}, **kw, **o)):
        remote = analysis(backend="dask", client=client, task_size=16)
        assert remote.to_json() == analysis().to_json()


def test_sweep_plot_draws_every_strategy_and_the_frontier():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = equihome.sweep("100m", grid={"hurdle_rate": [0.06, 0.08],
                                       "avg_loan_ltv": [0.3, 0.4]}, num_simulations=32, seed=3)
    _, ax = plt.subplots()
    assert res.plot(ax=ax) is None  # no <Axes ...> line under a notebook cell
    scatter, = ax.collections
    assert len(scatter.get_offsets()) == 4
    frontier_line = [ln for ln in ax.get_lines() if ln.get_label() == "efficient frontier"]
    assert len(frontier_line) == 1
    assert len(frontier_line[0].get_xdata()) == len(res.frontier())


def test_dask_portfolio_with_contract_and_leverage_matches_local(client):
    """The same tape (rows inside the config JSON) and seed on Dask: the same JSON as a local
    run, with tasks of several chunks (their contract and leverage metrics kept)."""
    rows = equihome.load_loan_tape("examples/loan_tape.csv").to_rows()
    over = {"fund_size": 250_000_000, "deployment_period": 5,
            "contract": {"type": "interest_plus_share"},
            "leverage": {"subscription_line": {"enabled": True}},
            "portfolio": {"loans": rows, "as_of": "2025-06", "called_to_date": 205_000_000,
                          "cash": 3_000_000}}
    expected = local(96, chunk_size=16, overrides=over)
    assert "portfolio" in expected.data and "leverage" in expected.data
    got = on_dask(client, 96, task_size=48, chunk_size=16, overrides=over)
    assert got.to_json() == expected.to_json()
