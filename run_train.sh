#!/usr/bin/env bash
# Pure OmniPose training + COCO OKS evaluation.
#   bash run_train.sh                                   # synthetic quickstart (generates data/synthetic on first use)
#   bash run_train.sh experiments/coco/omnipose_w48_384x288.yaml [KEY VALUE ...] [--work-dir DIR] [--resume]
set -euo pipefail
cd "$(dirname "$0")"
source tools/_run_common.sh
if first_is_config "$@"; then CFG=$1; shift; else CFG=$QUICKSTART_CFG; fi
ensure_synthetic "$CFG"
exec "$PYTHON" tools/train.py --cfg "$CFG" "$@"
