#!/usr/bin/env bash
# Start JupyterLab with the equihome server extension on the notebooks folder.
# scripts/setup.sh sets up .venv (skipped when nothing changed; .[test] brings the lab
# dependencies) and enables the extension there. Extra arguments go to `jupyter lab`
# (e.g. --port=8899).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ROOT_FLAG=()
if [ "$(id -u)" -eq 0 ]; then ROOT_FLAG=(--allow-root); fi  # e.g. in a container
exec .venv/bin/jupyter lab notebooks/ "${ROOT_FLAG[@]}" "$@"
