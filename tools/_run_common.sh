# Shared by run_train.sh, run_train_AN.sh, run_test.sh and run_demo.sh (sourced, not run).
# Picks the interpreter, and generates the synthetic dataset on first use.
# An explicit PYTHON wins; else the project's .venv (unless another virtual environment is active); else python.
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ] && [ -z "${VIRTUAL_ENV:-}" ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
QUICKSTART_CFG=experiments/synthetic/omnipose_quickstart.yaml
SYNTHETIC_ROOT=data/synthetic

# ensure_synthetic CONFIG: if CONFIG's DATASET.ROOT is data/synthetic and has no annotations yet, generate it.
ensure_synthetic() {
  local cfg=$1 root
  root=$("$PYTHON" -c "from lib.config import load_cfg; import sys; print(load_cfg(sys.argv[1]).DATASET.ROOT)" "$cfg") || return 1
  case "$root" in
    *synthetic*)
      if [ ! -f "$root/annotations/person_keypoints_val2017.json" ] || [ ! -f "$root/annotations/person_keypoints_train2017.json" ]; then
        echo "[run] $root has no synthetic dataset yet: generating it (tools/make_synthetic_coco.py, one-time)"
        "$PYTHON" tools/make_synthetic_coco.py --out "$root" ${SYNTHETIC_ARGS:---workers 2} || return 1
      fi ;;
  esac
}
