#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment in .venv with torch==2.13.0 installed FIRST (on our CPU
# machines this is the local CPU wheel; any other torch spec pulls several GB of CUDA wheels), then the
# requirements and the test extras. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-test.txt pyproject.toml | sha1sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch==${TORCH_VERSION:-2.13.0}"
  .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
fi
echo "[setup] installing requirements.txt and requirements-test.txt"
.venv/bin/python -m pip install -q -r requirements.txt -r requirements-test.txt
echo "$want" > "$stamp"
