#!/usr/bin/env bash
# Demo: poses drawn on images, folders or videos, into OmniPose/samples/.
set -euo pipefail
cd "$(dirname "$0")"
source tools/_run_common.sh
if [ ! -f tools/demo.py ]; then
  echo "run_demo.sh: the demo is not yet available (tools/demo.py lands with its issue)." >&2
  exit 2
fi
CFG=${1:-$QUICKSTART_CFG}
[ $# -gt 0 ] && shift
exec "$PYTHON" tools/demo.py --cfg "$CFG" "$@"
