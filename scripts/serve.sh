#!/usr/bin/env bash
# Set everything up, then run the main job: the engine server (REST /api, WebSocket /ws).
# It prints its URL and a fresh API key; Ctrl-C stops it (running simulations resume next start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/equihome serve "$@"
