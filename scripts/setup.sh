#!/usr/bin/env bash
# Create .venv (if needed) and install equihome with its test extras, building the Cython core.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
.venv/bin/python -c "import equihome._core" # fails loudly if the compiled core did not build
