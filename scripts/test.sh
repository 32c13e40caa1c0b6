#!/usr/bin/env bash
# Set everything up, then run every check: ruff, the TypeScript SDK's tests (against a real
# server) and the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check equihome tests benchmarks schemas
bash sdk/typescript/scripts/ci.sh
exec .venv/bin/python -m pytest "$@"
