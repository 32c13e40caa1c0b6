#!/usr/bin/env bash
# The SDK's CI step: install the locked dev dependencies and run every SDK test (build, strict
# type-check of sources and tests, node --test against the real server from ../../.venv).
# From the repository root, after scripts/setup.sh made .venv:  bash sdk/typescript/scripts/ci.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "sdk/typescript: node and npm are required (Node >= 20)" >&2
  exit 1
fi
npm ci --no-audit --no-fund
npm run typecheck
npm test
