"""The real thing: JupyterLab with the extension, the quickstart notebook run in Chromium.

Starts JupyterLab on a free port (isolated config, a known token, a temp notebook dir holding
a copy of the quickstart), drives Debian's /usr/bin/chromium with Playwright, runs all cells,
waits for the progress bar to reach 100 % and the metrics table to appear, and checks the
table's median LP IRR against the value the kernel printed. The screenshot is saved in the
test's temp dir (and to docs/notebook-view.png with EQUIHOME_UPDATE_SCREENSHOT=1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "equihome-browser-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server: (base URL, log path)."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", nbdir / "quickstart.ipynb")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
           "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "lab.log"
    for _attempt in range(3):  # the free port may be taken between the probe and the bind
        port = free_port()
        cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.port={port}",
               "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False",
               f"--ServerApp.root_dir={nbdir}", "--ServerApp.allow_root=True",
               "--ServerApp.jpserver_extensions={'equihome_jupyter': True}",
               f"--EquihomeExtension.db_path={tmp_path / 'equihome.db'}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate"]
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=nbdir)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/equihome/api/health?token={TOKEN}",
                                            timeout=5) as r:
                    ready = json.load(r)["status"] == "ok"
                    break
            except OSError:
                time.sleep(0.2)
        if ready:
            break
        proc.terminate()
        proc.wait(30)
    else:
        pytest.fail("JupyterLab did not start:\n" + log.read_text())
    yield base, log, nbdir
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def run_all(page, attempts: int = 3) -> None:
    """Run > Run All Cells; again if no cell started (the kernel was not connected yet)."""
    started = """() => [...document.querySelectorAll('.jp-InputPrompt')]
                   .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
    for attempt in range(attempts):
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            page.wait_for_function(started, timeout=20_000)
            return
        except Exception:
            if attempt == attempts - 1:
                raise


def save_and_read(page, nbdir: Path) -> str:
    """Save the notebook (Ctrl+S) and return the view's saved HTML output: static HTML
    with the metrics table, no widget reference (which a reopened notebook cannot show)."""
    path = nbdir / "quickstart.ipynb"
    before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == before:
        assert time.monotonic() < deadline, "the notebook was not saved"
        time.sleep(0.2)
    time.sleep(0.5)  # the write is complete once the contents API answered
    outputs = [o for c in json.loads(path.read_text())["cells"] for o in c.get("outputs", [])]
    views = [o["data"] for o in outputs if "equihome-static-result" in
             "".join(o.get("data", {}).get("text/html", ""))]
    assert len(views) == 1, [list(o.get("data", {})) for o in outputs]
    assert "application/vnd.jupyter.widget-view+json" not in views[0]
    html = "".join(views[0]["text/html"])
    assert "equihome-metrics-table" in html and "data:image/png;base64," in html
    return html


def reopened_shows(browser, base: str, nbdir: Path, shown: str) -> None:
    """With every kernel shut down, the saved notebook opened in a new page still shows
    the metrics table (its median LP IRR as before) and the charts, and no widget error."""
    with urllib.request.urlopen(f"{base}/api/kernels?token={TOKEN}", timeout=10) as r:
        kernels = json.load(r)
    for k in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{k['id']}?token={TOKEN}",
                                     method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    page.set_default_timeout(60_000)
    page.goto(f"{base}/lab/tree/quickstart.ipynb?token={TOKEN}&reset")
    cell = page.locator(".equihome-static-result td.eq-lp_irr-p50")
    cell.wait_for()
    assert cell.inner_text().strip() == shown
    img = page.locator(".equihome-static-result img.equihome-charts")
    img.scroll_into_view_if_needed()
    assert page.evaluate("() => document.querySelector('img.equihome-charts').naturalWidth") > 100
    assert page.get_by_text("model not found").count() == 0
    page.close()


def test_quickstart_in_chromium(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is required: apt-get install chromium"
    base, log, nbdir = lab
    t0 = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.set_default_timeout(60_000)
            page.goto(f"{base}/lab/tree/quickstart.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
            # the kernel is started and idle before running (status bar: "... | Idle")
            page.get_by_text(re.compile(r"\| Idle$")).first.wait_for()
            run_all(page)
            # the live widget shows, then the finished run leaves its static rendering
            cell = page.locator(".equihome-static-result td.eq-lp_irr-p50")
            cell.wait_for()
            shown = cell.inner_text().strip()
            printed = page.locator(".jp-OutputArea-output", has_text="Median LP IRR:")
            printed.wait_for()
            m = re.search(r"Median LP IRR: (-?[\d.]+%)", printed.inner_text())
            assert m, printed.inner_text()
            assert shown == m.group(1)
            assert page.locator(".equihome-static-result img.equihome-charts").count() == 1
            saved = save_and_read(page, nbdir)
            reopened_shows(browser, base, nbdir, shown)
            assert saved
            no_news = page.locator(".jp-toast-button", has_text=re.compile(r"^No$"))
            if no_news.count():  # the "official Jupyter news?" toast would cover the view
                no_news.first.click()
            view = page.locator(".jp-OutputArea-output").filter(
                has=page.locator(".equihome-static-result"))
            view.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "notebook.png"), full_page=True)
            if os.environ.get("EQUIHOME_UPDATE_SCREENSHOT") == "1":
                (ROOT / "docs").mkdir(exist_ok=True)
                view.screenshot(path=str(ROOT / "docs" / "notebook-view.png"))
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(log.read_text()[-4000:])
            raise
        finally:
            browser.close()
    assert (tmp_path / "notebook.png").stat().st_size > 10_000
    print(f"browser test: {time.monotonic() - t0:.1f} s in the browser")
