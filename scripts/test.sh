#!/usr/bin/env bash
# Set everything up (venv, package, Debian's chromium for the browser test, the SDK's npm
# packages), then run every check: ruff, mypy, the TypeScript SDK's tests (against a real server)
# and the whole pytest suite (engine, server, Dask, Jupyter, notebooks, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the browser test drives Debian's chromium (tests/test_browser.py)
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update && $SUDO apt-get install -y chromium
fi
.venv/bin/ruff check equihome tests benchmarks schemas jupyter_ext
.venv/bin/mypy  # the type checker over equihome/ (settings in pyproject.toml)
bash sdk/typescript/scripts/ci.sh
exec .venv/bin/python -m pytest "$@"
