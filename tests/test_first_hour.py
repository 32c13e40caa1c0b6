"""What a newcomer meets in the first hour (issue 13): the README is literally true, setup is
skipped when nothing changed, and every message appears once, in plain numbers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from equihome.cli import main

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"


def run_setup(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``bash scripts/setup.sh ARGS`` in ``cwd`` (its copy of the script), output captured."""
    return subprocess.run(["bash", "scripts/setup.sh", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


def copy_sources(dest: Path) -> Path:
    """A copy of the repository's sources (no .venv, build products or .git) under ``dest``."""
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "*.so", "*.c",
                                    "node_modules", "__pycache__", ".*_cache", ".hypothesis")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


README = (ROOT / "README.md").read_text()
VENV_COMMANDS = ("equihome", "pip", "python", "jupyter", "dask")
ACTIVATE = ". .venv/bin/activate"


def bash_blocks(text: str = README) -> list[str]:
    """The README's ```bash blocks, in order."""
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def section(title: str, text: str = README) -> str:
    """The README text under ``## title`` up to the next ``## `` heading."""
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


# --------------------------------------------------------------------------- 1-3. the README


def test_readme_names_every_prerequisite_the_commands_use():
    """Python and the C compiler, Node and npm, chromium through apt-get (sudo when not root),
    with the versions the project itself requires."""
    intro = README.split("\n## ", 1)[0]
    python = re.search(r'requires-python = ">=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert f"Python ≥ {python.group(1)} with `venv` and a C compiler" in intro
    ci = (ROOT / "sdk/typescript/scripts/ci.sh").read_text()
    node = re.search(r"Node >= (\d+)", ci).group(1)
    assert "command -v node" in ci and "command -v npm" in ci
    assert f"Node ≥ {node} with npm" in intro
    test_sh = (ROOT / "scripts/test.sh").read_text()
    assert "apt-get install -y chromium" in test_sh and 'SUDO="sudo"' in test_sh
    assert "apt-get update && apt-get install -y chromium" in intro
    assert "`sudo` when not run as root" in intro


def test_readme_activates_the_venv_before_its_commands():
    """Every ```bash line that runs a .venv command comes after ``. .venv/bin/activate`` in
    its block (or names .venv/bin/ itself); the intro says to activate."""
    assert f"(`{ACTIVATE}`)" in README.split("## What it is", 1)[0]
    for block in bash_blocks():
        active = False
        for line in block.splitlines():
            words = line.split()
            active = active or ACTIVATE in line
            if words and words[0] in VENV_COMMANDS:
                assert active, f"README runs {line!r} without activating .venv"
    assert "`python benchmarks/" not in README


def test_readme_command_line_block_runs(tmp_path):
    """The Command line section's block, as written (activation path made absolute), in a
    temporary directory holding a my_fund.json."""
    import equihome

    block = bash_blocks(section("Command line"))[0]
    assert block.startswith(ACTIVATE)
    (tmp_path / "my_fund.json").write_text(json.dumps(equihome.PRESETS["100m"]))
    script = "set -euo pipefail\n" + block.replace(ACTIVATE, f". {VENV}/bin/activate", 1)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "result.json").read_text())["num_simulations"] == 1000
    assert "100m" in done.stdout.split() and '"$schema"' in done.stdout


def test_every_api_path_the_readme_names_answers(server):
    """Each ``/api/...`` path in the README, on a real ``equihome serve`` (ids filled in)."""
    from server_util import KEY_A

    assert not re.search(r"(?<![\w/])/health", README), "the health check is /api/health"
    paths = {p for p in re.findall(r"/api(?:/[\w{}.-]+)+", README) if not p.endswith("/...")}
    assert {"/api/health", "/api/simulations", "/api/simulations/{id}/cancel"} <= paths
    status, rec = server.request("POST", "/simulations", {
        "preset": "100m", "overrides": {"num_simulations": 64, "monte_carlo_seed": 1}})
    assert status == 201
    wait_done(server, rec["id"])
    status, analysis = server.request("POST", "/analyses", {
        "kind": "tornado", "preset": "100m", "params": {"parameters": {"hurdle_rate": 0.01}},
        "overrides": {"num_simulations": 40, "monte_carlo_seed": 1}})
    assert status == 201
    deadline = time.monotonic() + 60
    while server.request("GET", f"/analyses/{analysis['id']}")[1]["status"] != "completed":
        assert time.monotonic() < deadline, "the README's analysis did not finish"
        time.sleep(0.1)
    for path in sorted(paths):
        concrete = path.replace("6f1c...", rec["id"]).replace("{id}", rec["id"])
        concrete = concrete.replace("0b7e...", analysis["id"])
        method = "POST" if concrete.endswith("/cancel") else "GET"
        status, body = server.request(method, concrete[len("/api"):], key=KEY_A)
        assert status != 404 and status < 500, (path, status, body)
        assert method == "POST" or status == 200, (path, status, body)


def wait_done(server, sim_id: str, timeout: float = 60.0) -> None:
    """Poll the simulation until it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.request("GET", f"/simulations/{sim_id}")[1]["status"] == "completed":
            return
        time.sleep(0.1)
    raise AssertionError(f"simulation {sim_id} did not complete")


# --------------------------------------------------------------------------- 4. setup skip


def test_setup_skips_the_install_when_nothing_changed():
    """Two setups in a row: the second only checks the hash (the first may install)."""
    first = run_setup()
    assert first.returncode == 0, first.stderr
    second = run_setup()
    assert second.returncode == 0, second.stderr
    assert "skipping pip install" in second.stderr
    assert "installing" not in second.stderr
    assert run_setup("--check").stdout.strip() == "setup: .venv is up to date (build inputs unchanged)"
    assert (VENV / ".equihome-build-hash").read_text().strip() == run_setup("--hash").stdout.strip()


def test_the_setup_hash_covers_exactly_the_build_inputs(tmp_path):
    """Editing a .pxi, .pxd, .pyx, setup.py or pyproject.toml changes the hash; a .py does not."""
    copy = copy_sources(tmp_path / "repo")
    base = run_setup("--hash", cwd=copy).stdout.strip()
    assert base == run_setup("--hash").stdout.strip() and len(base) == 64
    (copy / "equihome" / "engine.py").write_text("# not a build input\n")
    assert run_setup("--hash", cwd=copy).stdout.strip() == base
    seen = {base}
    for name in ("equihome/_ledger.pxi", "equihome/_core.pxd", "equihome/_core.pyx", "setup.py",
                 "pyproject.toml"):
        with open(copy / name, "a") as f:
            f.write("\n# edited\n")
        h = run_setup("--hash", cwd=copy).stdout.strip()
        assert h not in seen, name
        seen.add(h)


def test_a_fresh_clone_never_skips(tmp_path):
    """No .venv (a fresh clone), a stale stamp, or a core that does not import: install."""
    copy = copy_sources(tmp_path / "repo")
    fresh = run_setup("--check", cwd=copy)
    assert fresh.returncode == 1 and "install needed (no .venv yet)" in fresh.stdout
    assert not (copy / ".venv").exists()  # --check only looks
    # the copy sees this checkout's .venv (stamp and all), whose core is this checkout's,
    # not the copy's (as after moving a checkout: the editable install points elsewhere)
    (copy / ".venv").symlink_to(VENV, target_is_directory=True)
    assert run_setup("--check").returncode == 0
    broken = run_setup("--check", cwd=copy)
    assert broken.returncode == 1, broken.stdout
    assert "the compiled core does not import from this checkout" in broken.stdout
    with open(copy / "equihome" / "_irr.pxi", "a") as f:
        f.write("\n# edited\n")
    stale = run_setup("--check", cwd=copy)
    assert stale.returncode == 1 and "build inputs changed" in stale.stdout


# --------------------------------------------------------------------------- 9. extension, wheel


def test_setup_enables_the_jupyter_extension_in_an_editable_install():
    """pip install -e installs no data files: setup.sh places the config that enables it."""
    assert run_setup().returncode == 0
    placed = VENV / "etc/jupyter/jupyter_server_config.d/equihome_jupyter.json"
    source = ROOT / "jupyter_ext/jupyter-config/jupyter_server_config.d/equihome_jupyter.json"
    assert placed.read_text() == source.read_text()
    listing = subprocess.run([str(VENV / "bin/jupyter"), "server", "extension", "list"],
                             capture_output=True, text=True, timeout=120)
    line = next(ln for ln in listing.stderr.splitlines() + listing.stdout.splitlines()
                if "equihome_jupyter" in ln and "enabled" in ln.lower())
    assert "disabled" not in line


def test_readme_says_how_to_enable_the_extension_without_the_scripts():
    """The lab extra brings Jupyter; the enable command names the installed extension."""
    import equihome_jupyter

    lab = section("Notebooks")
    assert '"equihome[lab]"' in lab and "JupyterLab, ipywidgets and matplotlib" in lab
    assert any("\njupyter server extension enable equihome_jupyter\n" in b
               for b in bash_blocks(lab))
    assert [p["module"] for p in equihome_jupyter._jupyter_server_extension_points()] == [
        "equihome_jupyter"]


def test_the_wheel_excludes_the_generated_c():
    """setuptools leaves ``equihome/*.c`` out of the package data (so out of the wheel; built
    by hand: ``pip wheel . -w /tmp/w --no-deps`` then ``unzip -l``), keeps the Cython sources."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        from pip._vendor import tomli as tomllib
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["exclude-package-data"]["equihome"] == ["*.c"]
    assert {"*.pyx", "*.pxd", "*.pxi"} <= set(tool["package-data"]["equihome"])


# --------------------------------------------------------------------------- 5. guardrails once


@pytest.mark.parametrize(("tty", "quiet"), [(True, False), (False, False), (False, True)],
                         ids=["terminal", "pipe", "quiet"])
def test_each_guardrail_violation_is_printed_once(tty, quiet, capsys, monkeypatch):
    """Live on stderr or (``--quiet``) in the summary, never both."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    args = ["run", "--simulations", "300", "--seed", "7", "--threads", "1"]
    assert main(args + (["--quiet"] if quiet else [])) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    lines = re.findall(r"\[(?:info|warning|error|critical)\] \w+: [^\r\n\033]*", text)
    assert len(lines) >= 2 and "[info] min_simulations: " in text
    assert sorted(set(lines)) == sorted(lines), "a violation printed twice"
    assert all(line in (captured.out if quiet else captured.err) for line in lines)


# --------------------------------------------------------------------------- 7. --out


def out_cases(tmp_path: Path) -> list[tuple[Path, str]]:
    """(--out path, what its error must say): none of them can take the result."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    return [(tmp_path / "missing" / "deeper" / "r.json", "does not exist"),
            (a_file / "r.json", "is not a directory"),
            (tmp_path, "is a directory"),
            (Path("/proc/r.json"), "is not writable")]  # unwritable even for root


def test_out_is_checked_before_the_run(tmp_path, capsys):
    """Exit 2 and one error naming the path, before anything runs; no directory made."""
    for out, reason in out_cases(tmp_path):
        code = main(["run", "--simulations", "20000", "--seed", "1", "--out", str(out)])
        captured = capsys.readouterr()
        assert code == 2, (out, captured)
        assert captured.out == ""  # no summary: nothing ran
        assert captured.err.startswith(f"error: --out {out}: ") and reason in captured.err
        assert captured.err.count("\n") == 1  # no guardrail lines: the run never started
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_out_into_an_existing_directory_and_over_a_file(tmp_path, capsys):
    """A writable directory or an existing file takes the result (no probe file left)."""
    out = tmp_path / "r.json"
    for _ in range(2):  # creates, then overwrites
        assert main(["run", "--simulations", "50", "--seed", "1", "--quiet",
                     "--out", str(out)]) == 0
    assert f"result written to {out}" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# --------------------------------------------------------------------------- a notebook kernel


KERNEL_CELLS = [
    # 6: the widget Run in a kernel
    'import equihome\nfrom equihome.ui.widgets import Run\n'
    'run = equihome.simulate("100m", num_simulations=40, seed=5, display=True)\n'
    'print(type(run).__name__, isinstance(run, Run), run.result().metrics["irr"])',
    # 6: a kernel no Jupyter server runs (nbclient's own): no server is guessed
    'try:\n    equihome.connect()\nexcept RuntimeError as exc:\n    print(exc)',
    # 10: the sweep plot as a cell's last line; 8: the frontier as one
    '%matplotlib inline\n'
    'table = equihome.sweep("100m", grid={"hurdle_rate": [0.06, 0.08]}, num_simulations=32, seed=3)\n'
    'table.plot()',
    'table.frontier()',
]


@pytest.fixture(scope="module")
def kernel_outputs() -> list[list[dict]]:
    """The outputs of KERNEL_CELLS run in a real IPython kernel (as nbclient runs notebooks)."""
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in KERNEL_CELLS])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return [cell.outputs for cell in nb.cells]


@contextmanager
def jupyter_server(tmp_path: Path, runtime: Path) -> Iterator[tuple[str, str]]:
    """A real Jupyter server with the equihome extension (isolated dirs): (base URL, token)."""
    token = "first-hour-test-token"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "jupyter_server", "--ServerApp.port=0", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
           f"--ServerApp.root_dir={tmp_path}", "--ServerApp.allow_root=True",
           "--ServerApp.jpserver_extensions={'equihome_jupyter': True}",
           f"--EquihomeExtension.db_path={tmp_path / 'equihome.db'}"]
    log = tmp_path / "jupyter.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        yield wait_for_server(runtime, proc, log, token), token
    finally:
        proc.terminate()
        proc.wait(30)


def wait_for_server(runtime: Path, proc: subprocess.Popen, log: Path, token: str) -> str:
    """The base URL from the server's runtime file, once it answers."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        files = [f for f in runtime.glob("jpserver-*.json") if f.name != "jpserver-1.json"]
        if files:
            base = json.loads(files[0].read_text())["url"].rstrip("/")
            try:
                rest(base, token, "GET", "api/status")
                return base
            except OSError:
                pass
        time.sleep(0.2)
    raise RuntimeError("Jupyter server did not start:\n" + log.read_text())


def rest(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    """A Jupyter REST call with the token; the JSON answer."""
    req = urllib.request.Request(f"{base}/{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def run_in_kernel(connection_file: Path, code: str) -> str:
    """Run ``code`` in a running kernel (by its connection file); what it printed."""
    from jupyter_client import BlockingKernelClient

    deadline = time.monotonic() + 60
    while not connection_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        shown: list[str] = []

        def keep(msg: dict) -> None:
            content = msg["content"]
            shown.append(content.get("text", "") + "".join(content.get("traceback", [])))

        reply = client.execute_interactive(code, output_hook=keep, timeout=60)
        assert reply["content"]["status"] == "ok", "".join(shown)
        return "".join(shown)
    finally:
        client.stop_channels()


def texts(outputs: list[dict]) -> str:
    """Everything a cell showed as text (streams and text/plain results)."""
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)


# --------------------------------------------------------------------------- 6. connect, display


def test_connect_without_a_url_outside_a_notebook_says_what_to_do():
    import equihome

    with pytest.raises(RuntimeError) as err:
        equihome.connect()
    msg = str(err.value)
    assert "not a notebook kernel" in msg
    assert 'connect("http://127.0.0.1:8000", key="...")' in msg


def test_connect_without_a_url_in_a_kernel_no_server_started(kernel_outputs):
    """nbclient's kernel belongs to no Jupyter server: an error, not the first server found."""
    shown = texts(kernel_outputs[1])
    assert "this kernel was not started by a Jupyter server" in shown
    assert 'connect("http://127.0.0.1:8000", key="...")' in shown


def test_connect_without_a_url_finds_the_server_of_its_kernel(tmp_path):
    """A kernel a real Jupyter server started connects to that server's equihome endpoint,
    past a decoy runtime file (same root, alive pid, nothing listening) listed alongside."""
    runtime = tmp_path / "runtime"
    with jupyter_server(tmp_path, runtime) as (base, token):
        decoy = {"url": "http://127.0.0.1:9/", "token": "decoy", "pid": os.getpid(),
                 "root_dir": str(tmp_path), "port": 9, "base_url": "/", "secure": False}
        (runtime / "jpserver-1.json").write_text(json.dumps(decoy))
        kid = rest(base, token, "POST", "api/kernels", {"name": "python3"})["id"]
        code = ('import equihome\nc = equihome.connect()\n'
                'print(c.base, c.health()["status"])')
        shown = run_in_kernel(runtime / f"kernel-{kid}.json", code)
    assert shown.strip() == f"{base}/equihome/ ok"


def test_display_in_a_notebook_leaves_the_result_in_the_saved_notebook(kernel_outputs):
    """The live widget's output is replaced, once the run ends, by its static rendering: the
    notebook nbclient saves holds the metrics table and charts, and no widget reference."""
    out = kernel_outputs[0]
    [view] = [o["data"] for o in out if o.get("output_type") == "display_data"]
    assert "application/vnd.jupyter.widget-view+json" not in view
    assert "equihome-metrics-table" in view["text/html"]
    assert "data:image/png;base64," in view["text/html"]
    printed = "".join(o.get("text", "") for o in out if o.get("output_type") == "stream")
    assert printed.startswith("Run True ")


def test_display_outside_jupyter_is_a_text_progress_bar(capsys, monkeypatch):
    """On a terminal: the CLI's bar on stderr, no widget repr; the handle's result is the run's."""
    import equihome

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    run = equihome.simulate("100m", num_simulations=300, seed=5, display=True)
    captured = capsys.readouterr()
    assert captured.out == ""  # no "VBox(children=..." repr
    assert "\r[" in captured.err and "100.0%" in captured.err and captured.err.endswith("\n")
    assert "[info] min_simulations:" in captured.err
    assert run.done()
    assert run.result().to_json() == equihome.simulate("100m", num_simulations=300,
                                                         seed=5).to_json()


def test_watching_a_server_outside_jupyter_is_a_text_progress_bar(server, capsys, monkeypatch):
    from server_util import KEY_A

    import equihome

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    run = equihome.connect(server.base, key=KEY_A).run(
        "100m", overrides={"num_simulations": 300, "monte_carlo_seed": 5})
    result = run.result(timeout=60)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "100.0%" in captured.err and "[info] min_simulations:" in captured.err
    assert result.metrics == equihome.simulate("100m", num_simulations=300, seed=5).metrics


# --------------------------------------------------------------------------- 8. plain numbers


def non_plain(value: object, path: str = "event") -> list[str]:
    """Where ``value`` holds anything but plain JSON types (numpy scalars included: an
    np.float64 *is* a float, so the check is on the exact type)."""
    if type(value) is dict:
        return [p for k, v in value.items()
                for p in ([f"{path} key {k!r}"] if type(k) is not str else [])
                + non_plain(v, f"{path}.{k}")]
    if type(value) is list:
        return [p for i, v in enumerate(value) for p in non_plain(v, f"{path}[{i}]")]
    if type(value) in (str, int, float, bool) or value is None:
        return []
    return [f"{path}: {type(value).__module__}.{type(value).__name__}"]


def test_events_carry_plain_python_numbers():
    """Every event of a real run (every type, guardrails in all stages) is plain JSON."""
    import json

    import equihome

    events: list[dict] = []
    strict = {"guardrails": {"var_99": 0.0, "cvar_99": 0.0, "max_ltv": 0.1, "irr_p5": 0.0,
                             "weighted_average_life": 0.5, "hurdle_clear_probability": 1.0}}
    equihome.simulate("100m", num_simulations=300, seed=3, overrides=strict, threads=2,
                      chunk_size=64, on_event=events.append)
    kinds = {e["type"] for e in events}
    assert kinds == {"module_started", "progress", "module_completed", "intermediate_result",
                     "guardrail_violation", "result"}
    assert sum(e["type"] == "guardrail_violation" for e in events) >= 5
    assert [p for e in events for p in non_plain(e)] == []
    for e in events:
        assert json.loads(json.dumps(e, allow_nan=False)) == e
    assert "np." not in "".join(map(str, events))  # what on_event=print shows


def test_the_frontier_prints_as_a_table():
    import equihome

    table = equihome.sweep("100m", grid={"hurdle_rate": [0.06, 0.08],
                                         "avg_loan_ltv": [0.3, 0.4]}, num_simulations=32, seed=3)
    front = table.frontier()
    assert isinstance(front, list) and all(type(r) is dict for r in front)  # still the rows
    lines = repr(front).splitlines()
    assert lines[0].split() == table.columns
    assert len(lines) == 1 + len(front) and str(front) == repr(front)
    assert "{" not in repr(front) and "np." not in repr(front)
    assert repr(table).splitlines()[1:] == str(table).splitlines()


def test_the_frontier_is_a_table_in_a_notebook(kernel_outputs):
    shown = texts(kernel_outputs[3])
    assert shown.split("\n")[0].split()[:2] == ["hurdle_rate", "irr_p50"]
    assert "{" not in shown


# --------------------------------------------------------------------------- 10. plot, notebook


def test_the_sweep_plot_labels_every_strategy_even_overlapping_ones():
    """guardrail thresholds change no number: those strategies coincide, and share a label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import equihome

    table = equihome.sweep("100m", grid={"avg_loan_ltv": [0.3, 0.45],
                                         "guardrails.min_simulations": [100, 200, 300]},
                           num_simulations=32, seed=3)
    _, ax = plt.subplots()
    assert table.plot(ax=ax) is None
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == 2  # one per distinct point
    for row in table.rows:
        line = (f"avg_loan_ltv={100 * row['avg_loan_ltv']:g}%, "
                f"min_simulations={row['guardrails.min_simulations']}")
        assert sum(line in label.splitlines() for label in labels) == 1, line
    assert all(label.startswith("3 strategies:") for label in labels)
    plt.close("all")


def test_the_sweep_plot_prints_no_axes_line_in_a_notebook(kernel_outputs):
    out = kernel_outputs[2]
    assert [o["output_type"] for o in out] == ["display_data"]  # the figure, no execute_result
    assert "image/png" in out[0]["data"]
    assert "<Axes" not in texts(out)
