# Shared by run_train.sh, run_train_AN.sh, run_test.sh and run_demo.sh (sourced, not run).
# Picks the interpreter, and generates the synthetic dataset on first use.
# An explicit PYTHON wins; else the project's .venv (unless another virtual environment is active); else python.
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ] && [ -z "${VIRTUAL_ENV:-}" ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
QUICKSTART_CFG=experiments/synthetic/omnipose_quickstart.yaml
SYNTHETIC_ROOT=data/synthetic

# ensure_synthetic CONFIG: if CONFIG's DATASET.ROOT is a synthetic root without annotations yet, generate it with the
# config's DATASET.SYNTHETIC_PRESET and DATASET.SYNTHETIC_IMAGES (SYNTHETIC_ARGS adds or overrides generator flags).
ensure_synthetic() {
  local cfg=$1 spec root preset n_train n_val
  # Tab-separated: a ROOT may contain spaces.
  spec=$("$PYTHON" -c "from lib.config import load_cfg; import sys; d = load_cfg(sys.argv[1]).DATASET; print(d.ROOT, d.SYNTHETIC_PRESET, *d.SYNTHETIC_IMAGES, sep='\t')" "$cfg") || return 1
  IFS=$'\t' read -r root preset n_train n_val <<< "$spec"
  case "$root" in
    *synthetic*)
      if [ ! -f "$root/annotations/person_keypoints_val2017.json" ] || [ ! -f "$root/annotations/person_keypoints_train2017.json" ]; then
        echo "[run] $root has no synthetic dataset yet: generating it (tools/data/make_synthetic_coco.py --preset $preset, $n_train train / $n_val val images, one-time)"
        "$PYTHON" tools/data/make_synthetic_coco.py --out "$root" --preset "$preset" --train "$n_train" --val "$n_val" --workers 2 ${SYNTHETIC_ARGS:-} || return 1
      elif ! why=$("$PYTHON" tools/data/make_synthetic_coco.py --check --out "$root" --preset "$preset" --train "$n_train" --val "$n_val" ${SYNTHETIC_ARGS:-}); then
        # Kept (never deleted here: it may be someone's on purpose), but its numbers are not this version's.
        echo "[run] WARNING: $root is not what this version generates for $cfg: $why"
        echo "[run] WARNING: results will differ from the README's; delete $root to regenerate it"
      fi ;;
  esac
}
