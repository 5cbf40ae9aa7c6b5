#!/usr/bin/env bash
# Evaluate weights:  bash run_test.sh CONFIG TEST.MODEL_FILE path/to/weights.pth [KEY VALUE ...]
set -euo pipefail
cd "$(dirname "$0")"
source tools/_run_common.sh
CFG=${1:-$QUICKSTART_CFG}
[ $# -gt 0 ] && shift
ensure_synthetic "$CFG"
exec "$PYTHON" tools/test.py --cfg "$CFG" "$@"
