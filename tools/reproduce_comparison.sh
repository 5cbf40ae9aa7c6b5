#!/usr/bin/env bash
# Pure versus adversarial OmniPose on one config (default: the synthetic quickstart), same seed for every run:
#   (a) OmniPose              tools/train.py, E epochs from random init
#   (b) OmniPoseAN            tools/train_AN.py, E epochs from random init
#   (c) OmniPoseAN2           tools/train_AN.py --init-from (a)'s model_best.pth, E2 fine-tune epochs
#                             (GAN.WARMUP_EPOCHS W of them train the discriminators only)
#   (d) OmniPoseAN2 control   (c) with GAN.LAMBDA_P 0.0 GAN.LAMBDA_C 0.0: the same fine-tune without adversarial loss
# then tools/plot_runs.py -> docs/ap_per_epoch.png, and docs/comparison.md (table, machine, seed, settings, wall
# times, commands; a README fragment, rewritten on every run). Takes about an hour on a 2-core CPU with the defaults.
#
#   bash tools/reproduce_comparison.sh
#   COMPARISON_EPOCHS=3 COMPARISON_FT_EPOCHS=1 COMPARISON_OUT=/tmp/cmp bash tools/reproduce_comparison.sh
#   COMPARISON_DRY_RUN=1 bash tools/reproduce_comparison.sh        # print the four commands, run nothing
#
# Environment (defaults in brackets):
#   COMPARISON_CFG          experiment yaml [experiments/synthetic/omnipose_benchmark.yaml: the default, harder data]
#   COMPARISON_OUT          output root; the runs land in <root>/<run>/<dataset>/<model>/<config name> [OmniPose/comparison]
#   COMPARISON_SEED         SEED of all four runs [0]
#   COMPARISON_EPOCHS       E, epochs of (a) and (b) [TRAIN.END_EPOCH of the config]
#   COMPARISON_FT_EPOCHS    E2, epochs of the fine-tunes (c) and (d) [2]
#   COMPARISON_WARMUP       W, discriminator-only warm-up epochs of (c) and (d) [0]
#   COMPARISON_FT_LR        generator LR of the fine-tunes [a tenth of the config's TRAIN.LR]
#   COMPARISON_FT_VAL_INTERVAL  TRAIN.VAL_INTERVAL of the fine-tunes, so each epoch gets an AP point [1]
#   COMPARISON_OPTS         KEY VALUE overrides for all four runs, e.g. "WORKERS 2 TRAIN.BATCH_SIZE_PER_GPU 16"
#                           (values without spaces: TRAIN.LR_STEP [6,8]); the settings above are applied after them
#   COMPARISON_FT_OPTS      KEY VALUE overrides for (c) and (d) only, applied last
#   COMPARISON_DOCS         where the graph and comparison.md go [docs]
#   COMPARISON_OVERWRITE=1  delete existing run folders of this comparison first (else an existing one is an error)
#   COMPARISON_DRY_RUN=1    print the commands and exit without training, plotting or writing anything
#   PYTHON                  interpreter [python, or .venv/bin/python when present; see tools/_run_common.sh]
set -Eeuo pipefail
trap 'echo "reproduce_comparison.sh: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."
source tools/_run_common.sh

say() { echo "[comparison] $*"; }
die() { echo "reproduce_comparison.sh: $*" >&2; exit 1; }
quote() { printf '%q ' "$@"; }

CFG=${COMPARISON_CFG:-experiments/synthetic/omnipose_benchmark.yaml}
OUT=${COMPARISON_OUT:-OmniPose/comparison}
SEED=${COMPARISON_SEED:-0}
E2=${COMPARISON_FT_EPOCHS:-2}
W=${COMPARISON_WARMUP:-0}
FT_VAL=${COMPARISON_FT_VAL_INTERVAL:-1}
DOCS=${COMPARISON_DOCS:-docs}
DRY=${COMPARISON_DRY_RUN:-0}
read -r -a OPTS <<< "${COMPARISON_OPTS:-}"
read -r -a FT_OPTS <<< "${COMPARISON_FT_OPTS:-}"
[ -f "$CFG" ] || die "config not found: $CFG"

# The config's epochs, LR and run-folder name parts, after COMPARISON_OPTS.
info=$("$PYTHON" -c '
import sys
from lib.config import config_name, load_cfg
cfg = load_cfg(sys.argv[1], sys.argv[2:])
print(cfg.TRAIN.END_EPOCH, "%g" % cfg.TRAIN.LR, "%g" % (cfg.TRAIN.LR / 10), cfg.DATASET.DATASET, cfg.MODEL.NAME,
      config_name(sys.argv[1]))
' "$CFG" ${OPTS[@]+"${OPTS[@]}"}) || die "could not read $CFG with COMPARISON_OPTS='${COMPARISON_OPTS:-}'"
read -r CFG_E CFG_LR CFG_LR10 DATASET MODEL CFG_NAME <<< "$info"
E=${COMPARISON_EPOCHS:-$CFG_E}
FT_LR=${COMPARISON_FT_LR:-$CFG_LR10}
for pair in "E:$E" "E2:$E2" "W:$W" "SEED:$SEED" "FT_VAL_INTERVAL:$FT_VAL"; do
  [[ ${pair#*:} =~ ^[0-9]+$ ]] || die "${pair%%:*}=${pair#*:} must be a non-negative integer"
done
[ "$E" -ge 1 ] && [ "$E2" -ge 1 ] || die "E=$E and E2=$E2 must be >= 1"
[ "$W" -lt "$E2" ] || die "W=$W warm-up epochs leave no adversarial epoch in E2=$E2"

NAMES=(OmniPose OmniPoseAN OmniPoseAN2 OmniPoseAN2_control)
LABELS=("OmniPose (pure)" "OmniPoseAN (adversarial from scratch)" "OmniPoseAN2 (adversarial fine-tune)"
        "OmniPoseAN2 control (fine-tune, lambda 0)")
run_dir() { echo "$OUT/$1/$DATASET/$MODEL/$CFG_NAME"; }
PURE_BEST="$(run_dir OmniPose)/model_best.pth"

COMMON=(${OPTS[@]+"${OPTS[@]}"} SEED "$SEED")
FT=(TRAIN.END_EPOCH "$E2" TRAIN.LR "$FT_LR" TRAIN.WARMUP_ITERS 0 TRAIN.LR_STEP "[99]" TRAIN.VAL_INTERVAL "$FT_VAL"
    GAN.WARMUP_EPOCHS "$W")
CMD_0=("$PYTHON" tools/train.py --cfg "$CFG" "${COMMON[@]}" OUTPUT_DIR "$OUT/OmniPose" TRAIN.END_EPOCH "$E")
CMD_1=("$PYTHON" tools/train_AN.py --cfg "$CFG" "${COMMON[@]}" OUTPUT_DIR "$OUT/OmniPoseAN" TRAIN.END_EPOCH "$E")
CMD_2=("$PYTHON" tools/train_AN.py --cfg "$CFG" --init-from "$PURE_BEST" "${COMMON[@]}" OUTPUT_DIR "$OUT/OmniPoseAN2"
       "${FT[@]}" ${FT_OPTS[@]+"${FT_OPTS[@]}"})
CMD_3=("$PYTHON" tools/train_AN.py --cfg "$CFG" --init-from "$PURE_BEST" "${COMMON[@]}"
       OUTPUT_DIR "$OUT/OmniPoseAN2_control" "${FT[@]}" ${FT_OPTS[@]+"${FT_OPTS[@]}"} GAN.LAMBDA_P 0.0 GAN.LAMBDA_C 0.0)
SETTINGS=("E=$E epochs, config LR $CFG_LR" "E=$E epochs, config LR $CFG_LR, GAN defaults of the config"
          "E2=$E2 epochs from the pure run's model_best.pth, LR $FT_LR, W=$W D warm-up epochs"
          "as OmniPoseAN2, with GAN.LAMBDA_P 0.0 GAN.LAMBDA_C 0.0")

say "config $CFG (seed $SEED): E=$E, E2=$E2, W=$W, fine-tune LR $FT_LR; output root $OUT"
if [ "$DRY" = 1 ]; then
  for i in 0 1 2 3; do
    name="CMD_$i[@]"
    say "run ${NAMES[$i]}: $(quote "${!name}")"
  done
  say "then: $(quote "$PYTHON" tools/plot_runs.py "$(run_dir OmniPose)" "$(run_dir OmniPoseAN)" \
    "$(run_dir OmniPoseAN2)" "$(run_dir OmniPoseAN2_control)" --offsets 0 0 "$E" "$E" --out "$DOCS/ap_per_epoch.png")"
  say "dry run: nothing was run"
  exit 0
fi

for name in "${NAMES[@]}"; do
  dir=$(run_dir "$name")
  if [ -e "$dir" ]; then
    [ "${COMPARISON_OVERWRITE:-0}" = 1 ] || die "$dir exists (an earlier comparison?): set COMPARISON_OVERWRITE=1 to delete the four run folders, or COMPARISON_OUT to use another root"
    say "deleting the earlier run $dir (COMPARISON_OVERWRITE=1)"
    rm -rf -- "$dir"
  fi
done

ensure_synthetic "$CFG" || die "could not generate the synthetic dataset for $CFG"

START_ALL=$(date +%s)
WALL=()
for i in 0 1 2 3; do
  name="CMD_$i[@]"
  say "run ${NAMES[$i]}: $(quote "${!name}")"
  t0=$(date +%s)
  "${!name}" || die "run ${NAMES[$i]} failed (command above); its log is in $(run_dir "${NAMES[$i]}")"
  WALL+=($(( $(date +%s) - t0 )))
  dir=$(run_dir "${NAMES[$i]}")
  [ -s "$dir/metrics.jsonl" ] || die "run ${NAMES[$i]} finished without $dir/metrics.jsonl"
  [ -f "$dir/model_best.pth" ] || die "run ${NAMES[$i]} finished without $dir/model_best.pth"
  say "run ${NAMES[$i]} done in ${WALL[$i]} s: $dir"
done

mkdir -p "$DOCS"
PLOT=("$PYTHON" tools/plot_runs.py "$(run_dir OmniPose)" "$(run_dir OmniPoseAN)" "$(run_dir OmniPoseAN2)"
      "$(run_dir OmniPoseAN2_control)" --labels "${LABELS[@]}" --offsets 0 0 "$E" "$E" --out "$DOCS/ap_per_epoch.png")
say "plot: $(quote "${PLOT[@]}")"
TABLE=$("${PLOT[@]}") || die "tools/plot_runs.py failed"

hms() { printf '%dh %02dm %02ds' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }
CPU_MODEL=$(grep -m1 -E '^(model name|Model|cpu model)' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
TORCH=$("$PYTHON" -c '
import torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU visible"
print(f"{torch.__version__} ({gpu})")' 2>/dev/null || echo unknown)
PY_VERSION=$("$PYTHON" -c 'import platform; print(platform.python_version())')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$COMMIT" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
PURE_BEST_EPOCH=$("$PYTHON" -c '
import sys
from lib.core.engine import read_metrics
records = read_metrics(sys.argv[1])
print(records[-1].get("best_epoch", -1) + 1 if records else "?")
' "$(run_dir OmniPose)")
MD="$DOCS/comparison.md"
{
  echo "<!-- generated by tools/reproduce_comparison.sh on $(date -u '+%Y-%m-%d %H:%M UTC'); re-run it to regenerate -->"
  echo "### Pure versus adversarial OmniPose ($CFG_NAME)"
  echo
  echo "![COCO OKS AP per epoch]($DOCS/ap_per_epoch.png)"
  echo
  echo "$TABLE"
  echo
  echo "Config \`$CFG\`, \`SEED $SEED\` for all four runs${COMPARISON_OPTS:+, common overrides \`$COMPARISON_OPTS\`}."
  echo "The fine-tunes start from the pure run's \`model_best.pth\` (epoch $PURE_BEST_EPOCH of $E) and are plotted"
  echo "after its $E epochs; their settings:"
  echo "\`TRAIN.END_EPOCH $E2 TRAIN.LR $FT_LR TRAIN.WARMUP_ITERS 0 TRAIN.LR_STEP [99] TRAIN.VAL_INTERVAL $FT_VAL GAN.WARMUP_EPOCHS $W${COMPARISON_FT_OPTS:+ $COMPARISON_FT_OPTS}\`."
  echo
  echo "| run | trainer | settings | wall time |"
  echo "|---|---|---|---|"
  for i in 0 1 2 3; do
    trainer=tools/train_AN.py; [ "$i" = 0 ] && trainer=tools/train.py
    echo "| ${LABELS[$i]} | \`$trainer\` | ${SETTINGS[$i]} | $(hms "${WALL[$i]}") |"
  done
  echo
  echo "Machine: ${CPU_MODEL:-unknown CPU}, $(nproc) cores (nproc); torch $TORCH; Python $PY_VERSION; commit $COMMIT."
  echo "Total wall time $(hms $(( $(date +%s) - START_ALL ))) (data generation not included)."
  echo
  echo "Reproduce with \`bash tools/reproduce_comparison.sh\`; the commands it ran (interpreter shown as python):"
  echo
  echo '```bash'
  for i in 0 1 2 3; do
    name="CMD_$i[@]"
    cmd=("${!name}")
    quote python "${cmd[@]:1}"
    echo
  done
  echo '```'
} > "$MD"
say "wrote $DOCS/ap_per_epoch.png and $MD"
echo "$TABLE"
