#!/usr/bin/env bash
# Set everything up, then run every check: ruff and the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check equihome tests benchmarks schemas
exec .venv/bin/python -m pytest "$@"
