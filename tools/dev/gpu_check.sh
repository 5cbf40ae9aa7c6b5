#!/usr/bin/env bash
# The CUDA paths, run for real on a GPU machine, each step under a time cap, summarised in OUT/summary.txt:
#   1. the quickstart recipe with fp16 autocast + GradScaler (the config's AMP True), channels_last, WORKERS 8;
#   2. the adversarial trainer (two GradScalers), 2 epochs;
#   3. both trainers under torchrun on every visible GPU (DDP over nccl from 2 GPUs; with one GPU torchrun runs a
#      single process without a process group, so DDP itself is not exercised and the summary says so);
#   4. tools/analysis/benchmark.py: the quickstart model, and the COCO W48 384x288 model in fp16 and fp32 (batch 32);
#   5. the test suite with the GPU visible (DEVICE auto picks cuda): one line per test in OUT/tests.log as it ends,
#      so a run stopped by its cap still names what failed.
#   bash tools/dev/gpu_check.sh [OUT_DIR]        (default gpu_check/; caps: QCAP ACAP DCAP BCAP TCAP seconds)
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/_run_common.sh
OUT=${1:-gpu_check}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
RUNS=$OUT/runs
SUM=$OUT/summary.txt
QS=$QUICKSTART_CFG
W48=experiments/coco/omnipose_w48_384x288.yaml
NW=${NW:-8}
START=$(date +%s)
export PYTHONUNBUFFERED=1

say() { echo "[$(( $(date +%s) - START ))s] $*" | tee -a "$SUM"; }
# step NAME CAP CMD...: CMD under `timeout CAP`, its output in OUT/NAME.log, rc and seconds in the summary.
step() {
  local name=$1 cap=$2 t0 rc
  shift 2
  t0=$(date +%s)
  say "BEGIN $name (cap ${cap}s): $*"
  timeout -k 5 "$cap" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  say "END $name rc=$rc$([ $rc = 124 ] && echo ' (time cap)') in $(( $(date +%s) - t0 ))s"
  grep -hE "done: best|^\| [0-9.]+ +\||_img_s|peak_mem|[0-9]+ (passed|failed)" "$OUT/$name.log" | tail -n 6 | sed 's/^/    /' \
    | tee -a "$SUM"
}

{ nvidia-smi; lscpu | grep -E "Model name|^CPU\(s\)"; "$PYTHON" -c "import torch; print('torch', torch.__version__, \
'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'gpus', torch.cuda.device_count())"; \
  git rev-parse HEAD; } > "$OUT/env.txt" 2>&1
tail -n 4 "$OUT/env.txt" | tee -a "$SUM"
GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
[ "$GPUS" -ge 1 ] || say "WARNING: no CUDA device visible: every step below runs on the CPU"

SYNTHETIC_ARGS="--workers $NW" ensure_synthetic "$QS" > "$OUT/data.log" 2>&1 || say "data generation failed: $OUT/data.log"
step quickstart "${QCAP:-300}" "$PYTHON" tools/train.py --cfg "$QS" OUTPUT_DIR "$RUNS/trained" WORKERS "$NW"
step adversarial "${ACAP:-90}" "$PYTHON" tools/train_AN.py --cfg "$QS" OUTPUT_DIR "$RUNS/trained_GAN" WORKERS "$NW" \
  TRAIN.END_EPOCH 2 TRAIN.VAL_INTERVAL 1
[ "$GPUS" -ge 2 ] || say "NOTE: $GPUS GPU(s): torchrun runs one process without a process group (no DDP, no nccl)"
for trainer in train train_AN; do
  step "torchrun_$trainer" "${DCAP:-90}" "$PYTHON" -m torch.distributed.run --standalone \
    --nproc_per_node "$(( GPUS > 0 ? GPUS : 1 ))" tools/$trainer.py --cfg "$QS" OUTPUT_DIR "$RUNS/torchrun_$trainer" \
    WORKERS "$NW" TRAIN.END_EPOCH 1 TRAIN.VAL_INTERVAL 1
done
step bench_quickstart "${BCAP:-60}" "$PYTHON" tools/analysis/benchmark.py --cfg "$QS" --json "$OUT/bench_quickstart.json"
step bench_w48_fp16 "${BCAP:-60}" "$PYTHON" tools/analysis/benchmark.py --cfg "$W48" --batch 32 --amp --json "$OUT/bench_w48_fp16.json"
step bench_w48_fp32 "${BCAP:-60}" "$PYTHON" tools/analysis/benchmark.py --cfg "$W48" --batch 32 --json "$OUT/bench_w48_fp32.json"
XDIST=$("$PYTHON" -c "import xdist" 2>/dev/null && echo "-n ${TN:-8}")
step tests "${TCAP:-300}" "$PYTHON" -m pytest -v -p no:cacheprovider -rfEs $XDIST
grep -h "FAILED\|ERROR" "$OUT/tests.log" | grep "tests/" | sort -u | sed 's/^/    /' | tee -a "$SUM"
say "done; logs in $OUT"
