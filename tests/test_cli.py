"""Tests of the command-line interface (equihome.cli): in-process via main() and as a process."""

import copy
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import equihome
from equihome.cli import main

ROOT = Path(equihome.__file__).resolve().parent.parent


def _strict_json(text: str):
    """Parse JSON, rejecting NaN/Infinity."""

    def reject(name: str):
        raise ValueError(f"non-finite JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def _cli_process(*args: str, **kwargs) -> subprocess.Popen:
    """Start ``python -m equihome.cli ARGS`` with the project importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.Popen([sys.executable, "-m", "equihome.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture(scope="module")
def expected_irr() -> float:
    return equihome.simulate("100m", num_simulations=200, seed=7).metrics["irr"]


# --------------------------------------------------------------------------- run


def test_run_preset_writes_finite_json(tmp_path, capsys, expected_irr):
    out = tmp_path / "result.json"
    code = main(["run", "--preset", "100m", "--simulations", "200", "--seed", "7",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "LP net IRR" in captured.out
    assert "200 scenarios, seed 7" in captured.out
    assert "scenarios/s" in captured.out
    data = _strict_json(out.read_text())
    assert data["metrics"]["irr"] == expected_irr
    assert data["num_simulations"] == 200
    # not a terminal: no progress bar, but the guardrail violations are reported live
    assert "\r" not in captured.err
    assert "[info] min_simulations:" in captured.err


def test_run_progress_bar_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["run", "--simulations", "300", "--seed", "7", "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert "\r[" in err and "100.0%" in err and "Simulation complete" in err
    assert err.endswith("\n")
    # each violation is printed on its own line, the bar cleared first
    assert err.startswith("[info] min_simulations:")  # before the bar appears
    assert re.search(r"\r\033\[K\[(error|warning|info)\] \w+: ", err)


def test_run_default_preset_and_config_file(tmp_path, capsys, expected_irr):
    path = tmp_path / "fund.json"
    path.write_text(json.dumps(equihome.PRESETS["100m"]))
    args = ["--simulations", "200", "--seed", "7", "--quiet", "--threads", "1"]
    results = []
    for extra in ([], [str(path)]):
        out = tmp_path / f"r{len(results)}.json"
        assert main(["run", *extra, *args, "--out", str(out)]) == 0
        results.append(_strict_json(out.read_text()))
    captured = capsys.readouterr()
    assert captured.err == ""  # --quiet
    assert results[0]["metrics"]["irr"] == results[1]["metrics"]["irr"] == expected_irr


def test_run_reference_kernels(capsys):
    code = main(["run", "--simulations", "5", "--seed", "3", "--kernels", "reference", "--quiet"])
    assert code == 0
    assert "reference kernels" in capsys.readouterr().out


def test_invalid_config_file(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"fund_term": 45}))
    assert main(["run", str(path), "--simulations", "10"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert any("fund_term" in line and "45" in line for line in lines)
    assert all(line.startswith("error: ") for line in lines)


def test_one_error_line_per_field(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"fund_term": 45, "hurdle_rate": "high"}))
    assert main(["run", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert any(line.startswith("error: fund_term:") for line in lines)
    assert any(line.startswith("error: hurdle_rate:") for line in lines)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--preset", "no-such-fund"], "no-such-fund"),
        (["run", "missing.json"], "missing.json"),
        (["run", "--threads", "0", "--simulations", "10"], "threads"),
        (["run", "--simulations", "0"], "num_simulations"),
        (["run", "--seed", "-1"], "monte_carlo_seed"),
    ],
)
def test_invalid_input_exits_2(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert needle in err


@pytest.mark.parametrize(
    "args",
    [
        ["run", "fund.json", "--preset", "100m"],
        ["run", "--kernels", "fortran"],
        ["run", "--simulations", "many"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(args, capsys):
    assert main(args) == 2
    assert "usage:" in capsys.readouterr().err


# --------------------------------------------------------------------------- schema, presets


def test_schema(capsys):
    assert main(["schema"]) == 0
    schema = _strict_json(capsys.readouterr().out)
    assert "fund_size" in schema["properties"]
    assert schema == equihome.config_json_schema()


def test_presets(capsys):
    assert main(["presets"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "100m" in names
    assert set(names) == set(equihome.PRESETS)


# --------------------------------------------------------------------------- as a process


def test_subprocess_run(tmp_path, expected_irr):
    out = tmp_path / "result.json"
    proc = _cli_process("run", "--preset", "100m", "--simulations", "200", "--seed", "7",
                        "--out", str(out))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "LP net IRR" in stdout
    assert _strict_json(out.read_text())["metrics"]["irr"] == expected_irr


def test_subprocess_ctrl_c_cancels(tmp_path):
    """SIGINT once the run has started: "cancelled" and exit code 130, promptly."""
    cfg = copy.deepcopy(equihome.PRESETS["100m"])
    cfg["guardrails"] = {"min_simulations": 100_000}  # a violation is printed as the run starts
    path = tmp_path / "long.json"
    path.write_text(json.dumps(cfg))
    proc = _cli_process("run", str(path), "--simulations", "50000", "--threads", "1")
    try:
        first = proc.stderr.readline()
        assert first.startswith("[info] min_simulations:")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert stderr.strip() == "cancelled"
    assert stdout == ""


# --------------------------------------------------------------------------- analyses


def test_tornado_cli_prints_the_ranked_table_and_writes_the_result(tmp_path, capsys):
    out = tmp_path / "tornado.json"
    code = main(["tornado", "--simulations", "80", "--seed", "5", "--param", "loan_term=6,14",
                 "--param", "appreciation_rates=0.01", "--param", "default_rates=x2",
                 "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    lines = [line.split()[0] for line in text.splitlines()[2:5]]
    written = _strict_json(out.read_text())
    assert lines == [r["parameter"] for r in written["rows"]] and lines[0] == "appreciation_rates"
    swings = [r["swing"] for r in written["rows"]]
    assert swings == sorted(swings, reverse=True)
    same = equihome.tornado("100m", {"loan_term": [6, 14], "appreciation_rates": 0.01,
                                     "default_rates": "x2"}, num_simulations=80, seed=5)
    assert written == same.data


def test_stress_and_breakeven_cli_errors(tmp_path, capsys):
    assert main(["stress", "--simulations", "20", "--scenario", "mvd_99"]) == 2
    assert "unknown stress scenario 'mvd_99'" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "price_shock": {"decline": -3}}))
    assert main(["stress", "--simulations", "20", "--scenario-file", str(bad)]) == 2
    assert "scenarios[0].price_shock.decline" in capsys.readouterr().err
    assert main(["breakeven", "--param", "appreciation_rates", "--bounds", "0", "0.01",
                 "--simulations", "40", "--seed", "1"]) == 1
    assert "no root in the bounds" in capsys.readouterr().err
    assert main(["tornado", "--param", "appreciation_rates"]) == 2
    assert "expected PATH=BUMP" in capsys.readouterr().err


def test_stress_cli_runs_a_scenario_file(tmp_path, capsys):
    scenario = tmp_path / "crash.json"
    scenario.write_text(json.dumps([{"name": "crash", "price_shock": {
        "start_month": 6, "immediate": -0.3, "decline": -0.3}}]))
    code = main(["stress", "--simulations", "60", "--seed", "2", "--scenario", "rates_up",
                 "--scenario-file", str(scenario)])
    assert code == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows[:3] == ["base", "rates_up", "crash"]
