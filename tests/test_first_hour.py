"""What a newcomer meets in the first hour (issue 13): the README is literally true, setup is
skipped when nothing changed, and every message appears once, in plain numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from equihome.cli import main

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"


def run_setup(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``bash scripts/setup.sh ARGS`` in ``cwd`` (its copy of the script), output captured."""
    return subprocess.run(["bash", "scripts/setup.sh", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


def copy_build_inputs(dest: Path) -> Path:
    """A copy of the repository's sources (no .venv, build products or .git) under ``dest``."""
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "*.so", "*.c",
                                    "node_modules", "__pycache__", ".*_cache", ".hypothesis")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


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
    copy = copy_build_inputs(tmp_path / "repo")
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
    copy = copy_build_inputs(tmp_path / "repo")
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
