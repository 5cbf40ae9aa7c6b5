#!/usr/bin/env bash
# Multi-process training on one machine, with elastic restarts (docs/distributed.md has multi-node and SLURM).
#   bash tools/dist_train.sh CONFIG NPROC [KEY VALUE ...]                          # tools/train.py
#   TRAINER=adversarial bash tools/dist_train.sh CONFIG NPROC [KEY VALUE ...]      # tools/train_AN.py
# NPROC processes (one per GPU; on a CPU, gloo), TRAIN.BATCH_SIZE_PER_GPU each: the global batch is their product
# (TRAIN.AUTO_SCALE_LR True with TRAIN.BASE_BATCH_SIZE scales the LR to it). torchrun restarts every process up to
# MAX_RESTARTS times (default 3) when one fails; AUTO_RESUME True makes each attempt continue from checkpoint.pth.
# --standalone: a private rendezvous on a free port, so two jobs on one machine do not collide.
# DRY_RUN=1 prints the command without running it. Paths are relative to the repository root (the script cd's there).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/_run_common.sh
if [ $# -lt 2 ]; then
  echo "usage: [TRAINER=pure|adversarial] bash tools/dist_train.sh CONFIG NPROC [KEY VALUE ...]" >&2
  exit 2
fi
CFG=$1
NPROC=$2
shift 2
case "${TRAINER:-pure}" in
  pure) TOOL=tools/train.py ;;
  adversarial) TOOL=tools/train_AN.py ;;
  *) echo "error: TRAINER=${TRAINER}: expected pure or adversarial" >&2; exit 2 ;;
esac
if ! [[ "$NPROC" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: NPROC=$NPROC: expected the number of processes (a positive integer)" >&2
  exit 2
fi
if [ ! -f "$CFG" ]; then
  echo "error: CONFIG $CFG: no such file" >&2
  exit 2
fi
MAX_RESTARTS=${MAX_RESTARTS:-3}
if ! [[ "$MAX_RESTARTS" =~ ^[0-9]+$ ]]; then
  echo "error: MAX_RESTARTS=$MAX_RESTARTS: expected a non-negative integer" >&2
  exit 2
fi
CMD=("$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$NPROC" --max-restarts "$MAX_RESTARTS"
     "$TOOL" --cfg "$CFG" AUTO_RESUME True "$@")
echo "[dist_train] ${CMD[*]}" >&2
if [ "${DRY_RUN:-0}" = 1 ]; then
  exit 0
fi
exec "${CMD[@]}"
