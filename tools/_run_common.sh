# Shared by run_train.sh, run_train_AN.sh, run_test.sh and run_demo.sh (sourced, not run).
# Picks the interpreter and the config, and generates the synthetic dataset on first use. Errors a user can fix end
# the script with one `error: ...` line and status 2, as the tools do.
# An explicit PYTHON wins; else the project's .venv (unless another virtual environment is active); else python.
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ] && [ -z "${VIRTUAL_ENV:-}" ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
QUICKSTART_CFG=experiments/synthetic/omnipose_quickstart.yaml
SYNTHETIC_ROOT=data/synthetic

# first_is_config ARGS...: whether the first argument is the CONFIG (else it is a --flag or a KEY of a KEY VALUE
# pair, and the quickstart config is meant):  if first_is_config "$@"; then CFG=$1; shift; else CFG=...; fi
first_is_config() {
  [ $# -gt 0 ] && [[ "$1" != -* ]] && [[ ! "$1" =~ ^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*$ ]]
}

# ensure_synthetic CONFIG: if CONFIG's DATASET.ROOT is a synthetic root without annotations yet, generate it with the
# config's DATASET.SYNTHETIC_PRESET and DATASET.SYNTHETIC_IMAGES (SYNTHETIC_ARGS adds or overrides generator flags).
ensure_synthetic() {
  local cfg=$1 spec root preset n_train n_val
  # Tab-separated: a ROOT may contain spaces.
  spec=$("$PYTHON" -c "
import sys
from lib.config import load_cfg
from lib.utils.errors import run_main
d = run_main(lambda: load_cfg(sys.argv[1]).DATASET)
print(d.ROOT, d.SYNTHETIC_PRESET, *d.SYNTHETIC_IMAGES, sep='\t')" "$cfg") || return 2
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
