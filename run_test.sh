#!/usr/bin/env bash
# Evaluate weights:  bash run_test.sh CONFIG --weights path/to/weights.pth [KEY VALUE ...]  (or TEST.MODEL_FILE W)
set -euo pipefail
cd "$(dirname "$0")"
source tools/_run_common.sh
if first_is_config "$@"; then CFG=$1; shift; else CFG=$QUICKSTART_CFG; fi
ensure_synthetic "$CFG"
exec "$PYTHON" tools/test.py --cfg "$CFG" "$@"
