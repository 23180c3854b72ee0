#!/usr/bin/env bash
# Create .venv with arc_induct installed editable. Idempotent: re-running only adds what is missing.
#   bash scripts/setup.sh          # the package, its test tools and the notebook tools
# Uses only the package registries; never downloads model weights or data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# notebook: jupytext + nbclient build and execute the Kaggle notebook in tests (notebooks/build.py)
.venv/bin/python -m pip install -q -e '.[test,notebook]'
echo "setup: .venv ready ($(.venv/bin/python -V))"
