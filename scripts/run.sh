#!/usr/bin/env bash
# Set everything up, then run the main job: a 1,000-scenario Monte Carlo of the 100m preset.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/equihome run --preset 100m "$@"
