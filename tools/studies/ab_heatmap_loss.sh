#!/usr/bin/env bash
# The heatmap-loss A/B: the positive/negative-balanced weighted BCE of the earlier Adversarial-Pose-Estimation
# project (LOSS.TYPE bce, LOSS.BCE_WEIGHTING balanced) against MSE, for the stacked hourglass and for OmniPose on the
# synthetic set, several seeds each, pure trainer (tools/train.py); then tools/analysis/plot_ab.py draws AP and box
# PCK@0.1 per epoch (mean over seeds, min-max band) per generator into REPORT and writes REPORT/ab_heatmap_loss.md
# (tables, machine, commands). REPORT is OmniPose/reports/ab_heatmap_loss; with --docs it is
# docs/results/ab_heatmap_loss, to update the committed page on purpose. With the defaults: 2 generators x 2 losses x
# 3 seeds = 12 runs of the quickstart schedule (3 epochs each), about 1.5-2 hours on 2 free CPU cores.
#
#   bash tools/studies/ab_heatmap_loss.sh
#   AB_DRY_RUN=1 bash tools/studies/ab_heatmap_loss.sh                       # print the commands, run nothing
#   AB_SEEDS="0 1" AB_EPOCHS=2 AB_OUT=/tmp/ab bash tools/studies/ab_heatmap_loss.sh
#
# Arguments: --docs writes the graphs and ab_heatmap_loss.md into docs/results/ab_heatmap_loss; -h / --help prints
# this.
# Environment (defaults in brackets):
#   AB_CONFIGS   generator configs [experiments/synthetic/hourglass_quickstart.yaml
#                experiments/synthetic/omnipose_quickstart.yaml]
#   AB_LOSSES    arms, among mse, bce_balanced, bce_fixed (the quickstart's positive-weighted form) [mse bce_balanced]
#   AB_SEEDS     SEED values [0 1 2]
#   AB_EPOCHS    TRAIN.END_EPOCH of every run [the config's]
#   AB_OPTS      KEY VALUE overrides for every run (values without spaces), e.g. "WORKERS 2"
#   AB_OUT       output root; a run lands in <root>/<config name>/<loss>/seed<s>/<dataset>/<model>/<config name>
#                [OmniPose/ab_heatmap_loss]
#   AB_DOCS      where the graphs and ab_heatmap_loss.md go [OmniPose/reports/ab_heatmap_loss;
#                docs/results/ab_heatmap_loss with --docs]
#   AB_OVERWRITE=1  delete existing run folders of this A/B first (else an existing one is an error)
#   AB_DRY_RUN=1    print the commands and exit
#   PYTHON       interpreter [python, or .venv/bin/python when present; see tools/_run_common.sh]
set -Eeuo pipefail
trap 'echo "ab_heatmap_loss.sh: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"  # for --help, whatever the caller's folder
cd "$(dirname "$0")/../.."
source tools/_run_common.sh

say() { echo "[ab] $*"; }
die() { echo "ab_heatmap_loss.sh: $*" >&2; exit 1; }
quote() { printf '%q ' "$@"; }
usage() { sed -n '2,/^set -Eeuo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; }

TO_DOCS=0
for arg in "$@"; do
  case "$arg" in
    --docs) TO_DOCS=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$arg': expected --docs (settings go in AB_* variables; see --help)" ;;
  esac
done

read -r -a CONFIGS <<< "${AB_CONFIGS:-experiments/synthetic/hourglass_quickstart.yaml experiments/synthetic/omnipose_quickstart.yaml}"
read -r -a LOSSES <<< "${AB_LOSSES:-mse bce_balanced}"
read -r -a SEEDS <<< "${AB_SEEDS:-0 1 2}"
read -r -a OPTS <<< "${AB_OPTS:-}"
OUT=${AB_OUT:-OmniPose/ab_heatmap_loss}
if [ "$TO_DOCS" = 1 ]; then
  [ -z "${AB_DOCS:-}" ] || die "--docs writes into docs/results/ab_heatmap_loss, AB_DOCS=$AB_DOCS names another folder: give one of the two"
  REPORT=docs/results/ab_heatmap_loss
else
  REPORT=${AB_DOCS:-OmniPose/reports/ab_heatmap_loss}
fi
DRY=${AB_DRY_RUN:-0}

loss_opts() {
  case "$1" in
    mse) echo "LOSS.TYPE mse" ;;
    bce_balanced) echo "LOSS.TYPE bce LOSS.BCE_WEIGHTING balanced" ;;
    bce_fixed) echo "LOSS.TYPE bce LOSS.BCE_WEIGHTING fixed" ;;
    *) die "AB_LOSSES: unknown arm '$1' (expected mse, bce_balanced or bce_fixed)" ;;
  esac
}
loss_label() {
  case "$1" in
    mse) echo "MSE" ;; bce_balanced) echo "balanced BCE" ;; bce_fixed) echo "positive-weighted BCE" ;;
  esac
}
for loss in "${LOSSES[@]}"; do loss_opts "$loss" > /dev/null; done  # an unknown arm stops here, in this shell
for seed in "${SEEDS[@]}"; do [[ $seed =~ ^[0-9]+$ ]] || die "AB_SEEDS: '$seed' is not a non-negative integer"; done
[ -z "${AB_EPOCHS:-}" ] || [[ $AB_EPOCHS =~ ^[1-9][0-9]*$ ]] || die "AB_EPOCHS=$AB_EPOCHS must be a positive integer"

COMMANDS=()
SPECS=()  # "config output_dir" per run, for the one run-folder lookup below
for cfg in "${CONFIGS[@]}"; do
  [ -f "$cfg" ] || die "config not found: $cfg"
  for loss in "${LOSSES[@]}"; do
    read -r -a LOPTS <<< "$(loss_opts "$loss")"
    for seed in "${SEEDS[@]}"; do
      cmd=("$PYTHON" tools/train.py --cfg "$cfg" ${OPTS[@]+"${OPTS[@]}"} "${LOPTS[@]}" SEED "$seed"
           OUTPUT_DIR "$OUT/$(basename "$cfg" .yaml)/$loss/seed$seed")
      [ -n "${AB_EPOCHS:-}" ] && cmd+=(TRAIN.END_EPOCH "$AB_EPOCHS")
      COMMANDS+=("$(quote "${cmd[@]}")")
      SPECS+=("$cfg" "$OUT/$(basename "$cfg" .yaml)/$loss/seed$seed")
    done
  done
done
# Where tools/train.py writes each run (lib.core.workdir.run_dir_for), in one interpreter start.
mapfile -t DIRS < <("$PYTHON" -c '
import sys
from lib.config import load_cfg
from lib.core.workdir import run_dir_for
n = int(sys.argv[1])
specs, opts = sys.argv[2:2 + 2 * n], sys.argv[2 + 2 * n:]
for cfg_path, out in zip(specs[0::2], specs[1::2]):
    print(run_dir_for(load_cfg(cfg_path, opts + ["OUTPUT_DIR", out]), cfg_path))
' "${#COMMANDS[@]}" "${SPECS[@]}" ${OPTS[@]+"${OPTS[@]}"}) || die "could not read the configs with AB_OPTS='${AB_OPTS:-}'"
[ "${#DIRS[@]}" -eq "${#COMMANDS[@]}" ] || die "could not resolve the run folders (AB_OPTS='${AB_OPTS:-}')"

say "${#COMMANDS[@]} runs: configs ${CONFIGS[*]}; losses ${LOSSES[*]}; seeds ${SEEDS[*]}; output root $OUT"
if [ "$DRY" = 1 ]; then
  for cmd in "${COMMANDS[@]}"; do say "run: $cmd"; done
  say "then: tools/analysis/plot_ab.py per config into $REPORT/ab_heatmap_loss_<config>.png and $REPORT/ab_heatmap_loss.md"
  say "dry run: nothing was run"
  exit 0
fi

for dir in "${DIRS[@]}"; do
  if [ -e "$dir" ]; then
    [ "${AB_OVERWRITE:-0}" = 1 ] || die "$dir exists (an earlier A/B?): set AB_OVERWRITE=1 to delete this A/B's run folders, or AB_OUT to use another root"
    rm -rf -- "$dir"
  fi
done
for cfg in "${CONFIGS[@]}"; do ensure_synthetic "$cfg" || die "could not generate the synthetic dataset for $cfg"; done

START_ALL=$(date +%s)
for i in "${!COMMANDS[@]}"; do
  say "run $((i + 1))/${#COMMANDS[@]}: ${COMMANDS[$i]}"
  t0=$(date +%s)
  eval "${COMMANDS[$i]}" || die "run failed (command above); its log is in ${DIRS[$i]}"
  [ -s "${DIRS[$i]}/metrics.jsonl" ] || die "the run finished without ${DIRS[$i]}/metrics.jsonl"
  say "done in $(( $(date +%s) - t0 )) s: ${DIRS[$i]}"
done

mkdir -p "$REPORT"
MD="$REPORT/ab_heatmap_loss.md"
{
  echo "<!-- generated by tools/studies/ab_heatmap_loss.sh on $(date -u '+%Y-%m-%d %H:%M UTC'); re-run it to regenerate -->"
  echo "### Heatmap loss A/B: ${LOSSES[*]} (seeds ${SEEDS[*]})"
  i=0
  for cfg in "${CONFIGS[@]}"; do
    name=$(basename "$cfg" .yaml)
    ARGS=()
    for loss in "${LOSSES[@]}"; do
      ARGS+=(--arm "$(loss_label "$loss")")
      for seed in "${SEEDS[@]}"; do ARGS+=("${DIRS[$i]}"); i=$((i + 1)); done
    done
    echo
    echo "#### $name"
    echo
    echo "![AP and box PCK per epoch](ab_heatmap_loss_$name.png)"  # relative to this file: the graph lies next to it
    echo
    "$PYTHON" tools/analysis/plot_ab.py "${ARGS[@]}" --metrics AP "box PCK@0.1" --out "$REPORT/ab_heatmap_loss_$name.png" \
      || die "tools/analysis/plot_ab.py failed for $name"
  done
  echo
  CPU_MODEL=$(grep -m1 -E '^(model name|Model|cpu model)' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
  echo "Machine: ${CPU_MODEL:-unknown CPU}, $(nproc) cores; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown);"
  echo "total wall time $(( $(date +%s) - START_ALL )) s. Commands (interpreter shown as \$PYTHON):"
  echo
  echo '```bash'
  for cmd in "${COMMANDS[@]}"; do echo "$cmd"; done
  echo '```'
} > "$MD"
say "wrote $MD and $REPORT/ab_heatmap_loss_*.png"
cat "$MD"
