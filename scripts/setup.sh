#!/usr/bin/env bash
# Create .venv (if needed) and install equihome with its test extras, building the Cython core.
# The install is skipped when none of the build inputs changed since the last one: their hash
# is kept in .venv/.equihome-build-hash, so a fresh clone (no .venv) always installs, and an
# edit to pyproject.toml, setup.py or a .pyx/.pxd/.pxi file (or a core that no longer
# imports from this checkout) re-installs. Either way the Jupyter server extension is then enabled in .venv.
#   bash scripts/setup.sh --check   says whether an install is needed (exit 1) or not (0)
#   bash scripts/setup.sh --hash    prints the hash of the build inputs
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
STAMP=.venv/.equihome-build-hash

build_inputs_hash() {
  # names and contents of every build input, in a fixed order
  local LC_ALL=C
  local files=()
  shopt -s nullglob
  files=(pyproject.toml setup.py equihome/*.pyx equihome/*.pxd equihome/*.pxi)
  shopt -u nullglob
  sha256sum "${files[@]}" | sha256sum | cut -d' ' -f1
}

install_reason() {
  # prints why an install is needed and succeeds, or fails when .venv is up to date
  if [ ! -x .venv/bin/python ]; then echo "no .venv yet"; return 0; fi
  if [ ! -f "$STAMP" ]; then echo "no record of a previous install"; return 0; fi
  if [ "$(cat "$STAMP")" != "$(build_inputs_hash)" ]; then echo "build inputs changed"; return 0; fi
  if ! core_imports_here; then
    echo "the compiled core does not import from this checkout"; return 0
  fi
  return 1
}

core_imports_here() {
  # equihome._core imports, and from this checkout's equihome/ (not a moved or other copy)
  .venv/bin/python - 2>/dev/null <<'PY'
import os, sys
import equihome._core as core
sys.exit(os.path.dirname(os.path.realpath(core.__file__)) != os.path.realpath("equihome"))
PY
}

install() {
  # (re)create the install: venv, pip install -e ".[test]", then record the inputs' hash
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
  fi
  rm -f "$STAMP"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  .venv/bin/python -c "import equihome._core" # fails loudly if the compiled core did not build
  build_inputs_hash > "$STAMP"
}

place_jupyter_config() {
  # A wheel install enables the extension through etc/jupyter/jupyter_server_config.d; an
  # editable (development) install does not install data files, so put the same file there.
  mkdir -p .venv/etc/jupyter/jupyter_server_config.d
  cp jupyter_ext/jupyter-config/jupyter_server_config.d/equihome_jupyter.json \
    .venv/etc/jupyter/jupyter_server_config.d/
}

case "${1:-}" in
  --hash)
    build_inputs_hash
    exit 0 ;;
  --check)
    if reason=$(install_reason); then
      echo "setup: install needed ($reason)"
      exit 1
    fi
    echo "setup: .venv is up to date (build inputs unchanged)"
    exit 0 ;;
esac
if reason=$(install_reason); then
  echo "setup: installing equihome into .venv ($reason): pip install -e \".[test]\"" >&2
  install
else
  echo "setup: .venv is up to date (build inputs unchanged), skipping pip install" >&2
fi
place_jupyter_config
