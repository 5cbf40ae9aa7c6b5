#!/usr/bin/env bash
# Pure versus adversarial OmniPose on one config (default: the benchmark data), for one or several seeds. Per seed k,
# every run with SEED k, in <root>/seed<k>/<run>/:
#   (a) OmniPose              tools/train.py, E epochs from random init
#   (b) OmniPoseAN            tools/train_AN.py, E epochs from random init
#   (c) OmniPoseAN2           tools/train_AN.py --init-from seed k's (a) model_best.pth, E2 fine-tune epochs
#                             (GAN.WARMUP_EPOCHS W of them train the discriminators only)
#   (d) OmniPoseAN2_control   (c) with GAN.LAMBDA_P 0.0 GAN.LAMBDA_C 0.0: the same fine-tune without adversarial loss
# then tools/studies/compare_seeds.py -> REPORT/ap_per_epoch.png (one colour per run, one line style per seed) and the
# tables in REPORT/comparison.md: mean +- sample standard deviation over the seeds per run, and the paired differences
# (c) - (d) and (b) - (a) with their 95 % t intervals and whether the gain is larger than the seed noise; also the
# settings, per-run wall times, machine and commands (a page rewritten on every run). REPORT is
# OmniPose/reports/comparison; with --docs it is docs/results/comparison, to update a committed page on purpose.
# About an hour per seed on a 2-core CPU with the defaults. Calibrate GAN.LAMBDA_P / LAMBDA_C first
# (tools/studies/calibrate_lambda.py) and pass the chosen values in COMPARISON_OPTS.
#
#   bash tools/studies/reproduce_comparison.sh                                   # seed 0
#   bash tools/studies/reproduce_comparison.sh --seeds 0 1 2                     # or COMPARISON_SEEDS="0 1 2"
#   COMPARISON_RESUME=1 bash tools/studies/reproduce_comparison.sh --seeds 0 1 2 # after an interruption: finished runs stay
#   COMPARISON_EPOCHS=3 COMPARISON_FT_EPOCHS=1 COMPARISON_OUT=/tmp/cmp bash tools/studies/reproduce_comparison.sh
#   COMPARISON_DRY_RUN=1 bash tools/studies/reproduce_comparison.sh --seeds 0 1  # print the commands, run nothing
#
# Arguments: --seeds K [K ...] (wins over COMPARISON_SEEDS and COMPARISON_SEED); --docs writes the graph and
# comparison.md into docs/results/comparison instead of OmniPose/reports/comparison; -h / --help prints this.
# Environment (defaults in brackets):
#   COMPARISON_CFG          experiment yaml [experiments/synthetic/omnipose_benchmark.yaml: the default, harder data]
#   COMPARISON_OUT          output root; the runs land in <root>/seed<k>/<run>/<dataset>/<model>/<config name>
#                           [OmniPose/comparison]
#   COMPARISON_SEEDS        the seeds, space-separated, e.g. "0 1 2" [COMPARISON_SEED]
#   COMPARISON_SEED         a single seed (kept for older calls) [0]
#   COMPARISON_EPOCHS       E, epochs of (a) and (b) [TRAIN.END_EPOCH of the config]
#   COMPARISON_FT_EPOCHS    E2, epochs of the fine-tunes (c) and (d) [2]
#   COMPARISON_WARMUP       W, discriminator-only warm-up epochs of (c) and (d) [0]
#   COMPARISON_FT_LR        generator LR of the fine-tunes [a tenth of the config's TRAIN.LR]
#   COMPARISON_FT_VAL_INTERVAL  TRAIN.VAL_INTERVAL of the fine-tunes, so each epoch gets an AP point [1]
#   COMPARISON_OPTS         KEY VALUE overrides for all four runs, e.g. "WORKERS 2 GAN.LAMBDA_P 0.003"
#                           (values without spaces: TRAIN.LR_STEP [6,8]); the settings above are applied after them
#   COMPARISON_FT_OPTS      KEY VALUE overrides for (c) and (d) only, applied last
#   COMPARISON_RUNS         all: the four runs above; scratch: (a) and (b) only (pure against adversarial from random
#                           init, without the fine-tunes); finetune: (c) and (d) only, every seed's pair starting from
#                           COMPARISON_INIT_FROM (the adversarial fine-tune of a model trained elsewhere, e.g. the
#                           quickstart's or a released COCO model; the seed then varies the discriminators, the data
#                           order and augmentation, not the starting generator) [all]
#   COMPARISON_INIT_FROM    the generator weights the finetune runs start from (COMPARISON_RUNS=finetune only)
#   COMPARISON_DOCS         where the graph and comparison.md go, e.g. docs/results/comparison_finetune to
#                           regenerate that committed page [OmniPose/reports/comparison; docs/results/comparison
#                           with --docs]
#   COMPARISON_OVERWRITE=1  delete the run folders of the requested seeds first and train everything again
#   COMPARISON_RESUME=1     keep what an earlier, interrupted call with the SAME settings left: a finished run
#                           (metrics.jsonl up to its last epoch, model_best.pth) is skipped, an unfinished one with a
#                           checkpoint.pth continues from it (AUTO_RESUME True), one without is started again; a
#                           seed's fine-tunes are trained again whenever its pure run is not skipped
#                           Without either of the two, an existing run folder is an error (nothing is deleted).
#   COMPARISON_DRY_RUN=1    print the commands (with COMPARISON_RESUME=1: what would be skipped or resumed) and exit
#                           without training, plotting or writing anything
#   PYTHON                  interpreter [python, or .venv/bin/python when present; see tools/_run_common.sh]
set -Eeuo pipefail
trap 'echo "reproduce_comparison.sh: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"  # for --help, whatever the caller's folder
cd "$(dirname "$0")/../.."
source tools/_run_common.sh

say() { echo "[comparison] $*"; }
die() { echo "reproduce_comparison.sh: $*" >&2; exit 1; }
quote() { printf '%q ' "$@"; }
usage() { sed -n '2,/^set -Eeuo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; }

SEED_ARGS=()
TO_DOCS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds)
      shift
      while [ $# -gt 0 ] && [[ $1 != -* ]]; do SEED_ARGS+=("$1"); shift; done
      [ ${#SEED_ARGS[@]} -gt 0 ] || die "--seeds needs at least one seed, e.g. --seeds 0 1 2" ;;
    --docs) TO_DOCS=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1': expected --seeds K [K ...] or --docs (settings go in COMPARISON_* variables; see --help)" ;;
  esac
done
if [ ${#SEED_ARGS[@]} -gt 0 ]; then
  SEEDS=("${SEED_ARGS[@]}")
else
  read -r -a SEEDS <<< "${COMPARISON_SEEDS:-${COMPARISON_SEED:-0}}"
fi
[ ${#SEEDS[@]} -gt 0 ] || die "COMPARISON_SEEDS is empty: give at least one seed"

CFG=${COMPARISON_CFG:-experiments/synthetic/omnipose_benchmark.yaml}
OUT=${COMPARISON_OUT:-OmniPose/comparison}
E2=${COMPARISON_FT_EPOCHS:-2}
W=${COMPARISON_WARMUP:-0}
FT_VAL=${COMPARISON_FT_VAL_INTERVAL:-1}
if [ "$TO_DOCS" = 1 ]; then
  [ -z "${COMPARISON_DOCS:-}" ] || die "--docs writes into docs/results/comparison, COMPARISON_DOCS=$COMPARISON_DOCS names another folder: give one of the two"
  REPORT=docs/results/comparison
else
  REPORT=${COMPARISON_DOCS:-OmniPose/reports/comparison}
fi
DRY=${COMPARISON_DRY_RUN:-0}
RESUME=${COMPARISON_RESUME:-0}
OVERWRITE=${COMPARISON_OVERWRITE:-0}
read -r -a OPTS <<< "${COMPARISON_OPTS:-}"
read -r -a FT_OPTS <<< "${COMPARISON_FT_OPTS:-}"
[ -f "$CFG" ] || die "config not found: $CFG"
RUNS=${COMPARISON_RUNS:-all}
INIT_FROM=${COMPARISON_INIT_FROM:-}
case $RUNS in
  all) RUN_INDICES=(0 1 2 3)
       [ -z "$INIT_FROM" ] || die "COMPARISON_INIT_FROM=$INIT_FROM is for COMPARISON_RUNS=finetune (with all, each seed's fine-tunes start from its own pure run)" ;;
  scratch) RUN_INDICES=(0 1)
       [ -z "$INIT_FROM" ] || die "COMPARISON_INIT_FROM=$INIT_FROM is for COMPARISON_RUNS=finetune (scratch trains from random init only)" ;;
  finetune) RUN_INDICES=(2 3)
       [ -n "$INIT_FROM" ] || die "COMPARISON_RUNS=finetune needs COMPARISON_INIT_FROM=<generator .pth> to start the fine-tunes from"
       [ -f "$INIT_FROM" ] || die "COMPARISON_INIT_FROM=$INIT_FROM: no such file (expected a generator checkpoint, e.g. a model_best.pth)" ;;
  *) die "COMPARISON_RUNS=$RUNS: expected all, scratch or finetune" ;;
esac
[ "$RESUME" = 1 ] && [ "$OVERWRITE" = 1 ] && die "COMPARISON_RESUME=1 keeps finished runs, COMPARISON_OVERWRITE=1 deletes them: set one of the two"

# The config's epochs, LR and run-folder name parts after COMPARISON_OPTS; then the run kinds (folder name, label),
# in training order pure, scratch, fine-tune, control, from tools/studies/compare_seeds.py (which reads their results).
info=$("$PYTHON" -c '
import sys
from lib.config import config_name, load_cfg
from tools.studies.compare_seeds import RUN_KINDS
cfg = load_cfg(sys.argv[1], sys.argv[2:])
print(cfg.TRAIN.END_EPOCH, "%g" % cfg.TRAIN.LR, "%g" % (cfg.TRAIN.LR / 10), cfg.DATASET.DATASET, cfg.MODEL.NAME,
      config_name(sys.argv[1]))
for kind in RUN_KINDS:
    print(kind.name, kind.label, sep="\t")
' "$CFG" ${OPTS[@]+"${OPTS[@]}"}) || die "could not read $CFG with COMPARISON_OPTS='${COMPARISON_OPTS:-}'"
NAMES=()
LABELS=()
{
  read -r CFG_E CFG_LR CFG_LR10 DATASET MODEL CFG_NAME
  while IFS=$'\t' read -r name label; do NAMES+=("$name"); LABELS+=("$label"); done
} <<< "$info"
[ ${#NAMES[@]} -eq 4 ] || die "tools/studies/compare_seeds.py RUN_KINDS has ${#NAMES[@]} runs; this script trains 4"
E=${COMPARISON_EPOCHS:-$CFG_E}
FT_LR=${COMPARISON_FT_LR:-$CFG_LR10}
for pair in "E:$E" "E2:$E2" "W:$W" "FT_VAL_INTERVAL:$FT_VAL"; do
  [[ ${pair#*:} =~ ^[0-9]+$ ]] || die "${pair%%:*}=${pair#*:} must be a non-negative integer"
done
for seed in "${SEEDS[@]}"; do [[ $seed =~ ^[0-9]+$ ]] || die "seed '$seed' must be a non-negative integer"; done
[ "$(printf '%s\n' "${SEEDS[@]}" | sort -u | wc -l)" -eq ${#SEEDS[@]} ] || die "seeds '${SEEDS[*]}' name a seed twice"
[ "$E" -ge 1 ] && [ "$E2" -ge 1 ] || die "E=$E and E2=$E2 must be >= 1"
[ "$W" -lt "$E2" ] || die "W=$W warm-up epochs leave no adversarial epoch in E2=$E2"

seed_root() { echo "$OUT/seed$1"; }
run_dir() { echo "$(seed_root "$1")/${NAMES[$2]}/$DATASET/$MODEL/$CFG_NAME"; }  # seed, run index
run_epochs() { if [ "$1" -lt 2 ]; then echo "$E"; else echo "$E2"; fi; }        # run index
wall_file() { echo "$(seed_root "$1")/${NAMES[$2]}.wall_s"; }                   # seconds [resumed], per finished run

FT=(TRAIN.END_EPOCH "$E2" TRAIN.LR "$FT_LR" TRAIN.WARMUP_ITERS 0 TRAIN.LR_STEP "[99]" TRAIN.VAL_INTERVAL "$FT_VAL"
    GAN.WARMUP_EPOCHS "$W")
# set_command SEED I: CMD = the command of run I of that seed (as first started; a resume appends AUTO_RESUME).
set_command() {
  local seed=$1 i=$2
  local common=(${OPTS[@]+"${OPTS[@]}"} SEED "$seed" OUTPUT_DIR "$(seed_root "$seed")/${NAMES[$i]}")
  local init=(--init-from "${INIT_FROM:-$(run_dir "$seed" 0)/model_best.pth}")
  case $i in
    0) CMD=("$PYTHON" tools/train.py --cfg "$CFG" "${common[@]}" TRAIN.END_EPOCH "$E") ;;
    1) CMD=("$PYTHON" tools/train_AN.py --cfg "$CFG" "${common[@]}" TRAIN.END_EPOCH "$E") ;;
    2) CMD=("$PYTHON" tools/train_AN.py --cfg "$CFG" "${init[@]}" "${common[@]}" "${FT[@]}"
            ${FT_OPTS[@]+"${FT_OPTS[@]}"}) ;;
    3) CMD=("$PYTHON" tools/train_AN.py --cfg "$CFG" "${init[@]}" "${common[@]}" "${FT[@]}"
            ${FT_OPTS[@]+"${FT_OPTS[@]}"} GAN.LAMBDA_P 0.0 GAN.LAMBDA_C 0.0) ;;
  esac
}
FT_START="the seed's pure model_best.pth"
[ -z "$INIT_FROM" ] || FT_START=$INIT_FROM
SETTINGS=("E=$E epochs, config LR $CFG_LR" "E=$E epochs, config LR $CFG_LR, GAN settings of the config"
          "E2=$E2 epochs from $FT_START, LR $FT_LR, W=$W D warm-up epochs"
          "as OmniPoseAN2, with GAN.LAMBDA_P 0.0 GAN.LAMBDA_C 0.0")

# run_state DIR EPOCHS: absent | finished | resumable DONE | restart DONE | too_many DONE (DONE: epochs in
# metrics.jsonl). Plain json, no torch import: it runs once per run.
run_state() {
  "$PYTHON" -c '
import json, os, sys
run_dir, epochs = sys.argv[1], int(sys.argv[2])
path = os.path.join(run_dir, "metrics.jsonl")
records = [json.loads(line) for line in open(path) if line.strip()] if os.path.isfile(path) else []
done = records[-1]["epoch"] + 1 if records else 0
has = lambda name: os.path.isfile(os.path.join(run_dir, name))
if not os.path.isdir(run_dir):
    print("absent")
elif done > epochs:
    print("too_many", done)
elif done == epochs and has("model_best.pth"):
    print("finished")
else:
    print("resumable" if has("checkpoint.pth") else "restart", done)
' "$1" "$2"
}

# ACTIONS[seed,i]: run | skip | resume | restart (restart and a stale fine-tune delete the folder first).
declare -A ACTIONS
plan_seed() {
  local seed=$1 i state done dir pure_skipped=0
  [ "$RUNS" = all ] || pure_skipped=1  # the fine-tunes' start is a fixed file, not a run of this call
  for i in "${RUN_INDICES[@]}"; do
    dir=$(run_dir "$seed" "$i")
    if [ "$RESUME" != 1 ]; then ACTIONS[$seed,$i]=run; continue; fi
    read -r state done <<< "$(run_state "$dir" "$(run_epochs "$i")")"
    if [ "$i" -ge 2 ] && [ "$pure_skipped" = 0 ] && [ "$state" != absent ]; then
      state=stale  # its pure model is trained (again) in this call, so it must be too
    fi
    case $state in
      absent) ACTIONS[$seed,$i]=run ;;
      finished) ACTIONS[$seed,$i]=skip; if [ "$i" = 0 ]; then pure_skipped=1; fi ;;
      resumable) ACTIONS[$seed,$i]=resume; say "seed $seed: ${NAMES[$i]} stopped after epoch $done of $(run_epochs "$i"): resuming from its checkpoint.pth" ;;
      restart) ACTIONS[$seed,$i]=restart; say "seed $seed: ${NAMES[$i]} is unfinished and has no checkpoint.pth: starting it again" ;;
      stale) ACTIONS[$seed,$i]=restart; say "seed $seed: ${NAMES[$i]} is trained again: its pure run is not finished" ;;
      too_many) die "$dir has $done epochs, this comparison expects $(run_epochs "$i"): other settings? Use another COMPARISON_OUT, or COMPARISON_OVERWRITE=1 to delete it" ;;
      *) die "could not read the state of $dir" ;;
    esac
  done
}

say "config $CFG, seeds ${SEEDS[*]}: E=$E, E2=$E2, W=$W, fine-tune LR $FT_LR; output root $OUT"
say "report: $REPORT/comparison.md and $REPORT/ap_per_epoch.png"
for seed in "${SEEDS[@]}"; do plan_seed "$seed"; done
COMPARE=("$PYTHON" tools/studies/compare_seeds.py --root "$OUT" --seeds "${SEEDS[@]}" --run-subdir "$DATASET/$MODEL/$CFG_NAME"
         --out "$REPORT/ap_per_epoch.png" --kinds $(for i in "${RUN_INDICES[@]}"; do echo "${NAMES[$i]}"; done))
if [ "$DRY" = 1 ]; then
  for seed in "${SEEDS[@]}"; do
    for i in "${RUN_INDICES[@]}"; do
      set_command "$seed" "$i"
      case ${ACTIONS[$seed,$i]} in
        skip) say "seed $seed: ${NAMES[$i]} finished, skipped (COMPARISON_RESUME=1): $(run_dir "$seed" "$i")" ;;
        resume) say "seed $seed: resume ${NAMES[$i]}: $(quote "${CMD[@]}" AUTO_RESUME True)" ;;
        *) say "seed $seed: run ${NAMES[$i]}: $(quote "${CMD[@]}")" ;;
      esac
    done
  done
  say "then: $(quote "${COMPARE[@]}")"
  say "dry run: nothing was run"
  exit 0
fi

for seed in "${SEEDS[@]}"; do
  for i in "${RUN_INDICES[@]}"; do
    dir=$(run_dir "$seed" "$i")
    [ -e "$dir" ] || continue
    if [ "$OVERWRITE" = 1 ]; then
      say "deleting the earlier run $dir (COMPARISON_OVERWRITE=1)"
      rm -rf -- "$dir" "$(wall_file "$seed" "$i")"
    elif [ "$RESUME" != 1 ]; then
      die "$dir exists (an earlier comparison?): set COMPARISON_RESUME=1 to keep its finished runs, COMPARISON_OVERWRITE=1 to delete the run folders of seeds ${SEEDS[*]}, or COMPARISON_OUT to use another root"
    fi
  done
done

ensure_synthetic "$CFG" || die "could not generate the synthetic dataset for $CFG"

START_ALL=$(date +%s)
SKIPPED=0
for seed in "${SEEDS[@]}"; do
  for i in "${RUN_INDICES[@]}"; do
    dir=$(run_dir "$seed" "$i")
    set_command "$seed" "$i"
    case ${ACTIONS[$seed,$i]} in
      skip) say "seed $seed: ${NAMES[$i]} finished earlier, skipped: $dir"; SKIPPED=$((SKIPPED + 1)); continue ;;
      restart) rm -rf -- "$dir" "$(wall_file "$seed" "$i")" ;;
      resume) CMD+=(AUTO_RESUME True) ;;
    esac
    say "seed $seed: run ${NAMES[$i]}: $(quote "${CMD[@]}")"
    t0=$(date +%s)
    "${CMD[@]}" || die "seed $seed: run ${NAMES[$i]} failed (command above); its log is in $dir"
    [ -s "$dir/metrics.jsonl" ] || die "seed $seed: run ${NAMES[$i]} finished without $dir/metrics.jsonl"
    [ -f "$dir/model_best.pth" ] || die "seed $seed: run ${NAMES[$i]} finished without $dir/model_best.pth"
    wall=$(( $(date +%s) - t0 ))
    if [ "${ACTIONS[$seed,$i]}" = resume ]; then echo "$wall resumed"; else echo "$wall"; fi > "$(wall_file "$seed" "$i")"
    say "seed $seed: run ${NAMES[$i]} done in $wall s: $dir"
  done
done

mkdir -p "$REPORT"
say "compare: $(quote "${COMPARE[@]}")"
TABLE=$("${COMPARE[@]}") || die "tools/studies/compare_seeds.py failed"

hms() { printf '%dh %02dm %02ds' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }
wall_cell() {  # seed, run index
  local file seconds note
  file=$(wall_file "$1" "$2")
  [ -f "$file" ] || { echo "-"; return; }
  read -r seconds note < "$file"
  echo "$(hms "$seconds")${note:+ (resumed: the last part only)}"
}
CPU_MODEL=$(grep -m1 -E '^(model name|Model|cpu model)' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
TORCH=$("$PYTHON" -c '
import torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU visible"
print(f"{torch.__version__} ({gpu})")' 2>/dev/null || echo unknown)
PY_VERSION=$("$PYTHON" -c 'import platform; print(platform.python_version())')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$COMMIT" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
if [ "$RUNS" = scratch ]; then
  START_NOTE=""
elif [ "$RUNS" = finetune ]; then
  START_NOTE="The fine-tunes of every seed start from \`$INIT_FROM\` (COMPARISON_RUNS=finetune: no pure or from-scratch runs here) and are plotted from epoch 1; their settings:"
else
  PURE_BEST_EPOCHS=$("$PYTHON" -c '
import sys
from lib.core.workdir import read_metrics
best = []
for seed, run_dir in zip(sys.argv[1::2], sys.argv[2::2]):
    epoch = read_metrics(run_dir)[-1].get("best_epoch")
    best.append("seed %s: %s" % (seed, "?" if epoch is None else epoch + 1))
print(", ".join(best))
' $(for seed in "${SEEDS[@]}"; do echo "$seed" "$(run_dir "$seed" 0)"; done))
  START_NOTE="The fine-tunes start from their seed's pure \`model_best.pth\` (its best epoch of $E, per seed: $PURE_BEST_EPOCHS) and are plotted after its $E epochs; their settings:"
fi
MD="$REPORT/comparison.md"
{
  echo "<!-- generated by tools/studies/reproduce_comparison.sh on $(date -u '+%Y-%m-%d %H:%M UTC'); re-run it to regenerate -->"
  echo "### Pure versus adversarial OmniPose ($CFG_NAME, seeds ${SEEDS[*]})"
  echo
  echo "![COCO OKS AP per epoch](ap_per_epoch.png)"  # relative to this file: the graph lies next to it
  echo
  echo "$TABLE"
  echo
  echo "Config \`$CFG\`; each seed's runs use \`SEED\` = that seed${COMPARISON_OPTS:+, common overrides \`$COMPARISON_OPTS\`}."
  if [ -n "$START_NOTE" ]; then
  echo "$START_NOTE"
  echo "\`TRAIN.END_EPOCH $E2 TRAIN.LR $FT_LR TRAIN.WARMUP_ITERS 0 TRAIN.LR_STEP [99] TRAIN.VAL_INTERVAL $FT_VAL GAN.WARMUP_EPOCHS $W${COMPARISON_FT_OPTS:+ $COMPARISON_FT_OPTS}\`."
  fi
  echo
  echo "| run | trainer | settings |$(for seed in "${SEEDS[@]}"; do printf ' wall time, seed %s |' "$seed"; done)"
  echo "|---|---|---|$(for seed in "${SEEDS[@]}"; do printf -- '---|'; done)"
  for i in "${RUN_INDICES[@]}"; do
    trainer=tools/train_AN.py; [ "$i" = 0 ] && trainer=tools/train.py
    echo "| ${LABELS[$i]} | \`$trainer\` | ${SETTINGS[$i]} |$(for seed in "${SEEDS[@]}"; do printf ' %s |' "$(wall_cell "$seed" "$i")"; done)"
  done
  echo
  echo "Machine: ${CPU_MODEL:-unknown CPU}, $(nproc) cores (nproc); torch $TORCH; Python $PY_VERSION; commit $COMMIT."
  SKIP_NOTE=""
  [ "$SKIPPED" = 0 ] || SKIP_NOTE="; $SKIPPED finished runs of an earlier call skipped"
  echo "Total wall time of this call $(hms $(( $(date +%s) - START_ALL ))) (data generation not included$SKIP_NOTE)."
  echo
  # The call itself, with every COMPARISON_* setting it was given (not the defaults).
  CALL=""
  for var in COMPARISON_CFG COMPARISON_RUNS COMPARISON_INIT_FROM COMPARISON_EPOCHS COMPARISON_FT_EPOCHS COMPARISON_WARMUP \
             COMPARISON_FT_LR COMPARISON_FT_VAL_INTERVAL COMPARISON_OPTS COMPARISON_FT_OPTS COMPARISON_OUT \
             COMPARISON_DOCS; do
    [ -z "${!var:-}" ] || CALL+="$var=$(printf '%q' "${!var}") "
  done
  CALL_ARGS=""
  [ "$TO_DOCS" != 1 ] || CALL_ARGS=" --docs"
  echo "Reproduce with \`${CALL}bash tools/studies/reproduce_comparison.sh --seeds ${SEEDS[*]}$CALL_ARGS\`; the commands of its runs (interpreter shown as python):"
  echo
  echo '```bash'
  for seed in "${SEEDS[@]}"; do
    for i in "${RUN_INDICES[@]}"; do
      set_command "$seed" "$i"
      quote python "${CMD[@]:1}"
      echo
    done
  done
  echo '```'
} > "$MD"
say "wrote $REPORT/ap_per_epoch.png and $MD"
echo "$TABLE"
