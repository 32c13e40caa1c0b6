#!/usr/bin/env bash
# Start JupyterLab with the equihome server extension on the notebooks folder.
# Sets up .venv first if needed (scripts/setup.sh installs the lab dependencies with .[test]).
# Extra arguments go to `jupyter lab` (e.g. --port=8899).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/jupyter-lab ] || ! .venv/bin/python -c "import equihome_jupyter" 2>/dev/null; then
  bash scripts/setup.sh
fi
# A wheel install enables the extension through etc/jupyter/jupyter_server_config.d; an
# editable (development) install does not install data files, so put the same file there.
mkdir -p .venv/etc/jupyter/jupyter_server_config.d
cp jupyter_ext/jupyter-config/jupyter_server_config.d/equihome_jupyter.json \
  .venv/etc/jupyter/jupyter_server_config.d/
ROOT_FLAG=()
if [ "$(id -u)" -eq 0 ]; then ROOT_FLAG=(--allow-root); fi  # e.g. in a container
exec .venv/bin/jupyter lab notebooks/ "${ROOT_FLAG[@]}" "$@"
