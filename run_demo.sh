#!/usr/bin/env bash
# Demo: poses drawn on images, folders or videos, into OmniPose/samples/<run name>/ (tools/demo.py --help).
#   bash run_demo.sh                          # quickstart model on synthetic val images with their GT boxes
#                                             # (trains it first with run_train.sh when model_best.pth is missing)
#   bash run_demo.sh CONFIG [KEY VALUE ...]   # CONFIG's trained model_best.pth on its DATASET.TEST_SET, GT boxes
#   bash run_demo.sh CONFIG --weights W --input PATH --whole-image [options] [KEY VALUE ...]
#                                             # any --option: everything is passed to tools/demo.py as given
set -euo pipefail
cd "$(dirname "$0")"
source tools/_run_common.sh
if first_is_config "$@"; then CFG=$1; shift; else CFG=$QUICKSTART_CFG; fi

for arg in "$@"; do
  case "$arg" in
    --*) exec "$PYTHON" tools/demo.py --cfg "$CFG" "$@" ;;
  esac
done

# Only KEY VALUE overrides: the config's own run folder and test split (the same paths train.py and test.py use).
ensure_synthetic "$CFG"
mapfile -t PATHS < <("$PYTHON" - "$CFG" "$@" <<'EOF'
import os, sys
from lib.config import load_cfg
from lib.core.workdir import run_dir_for
from lib.utils.errors import UserError, run_main
cfg = run_main(lambda: load_cfg(sys.argv[1], sys.argv[2:]))
weights = os.path.join(run_dir_for(cfg, sys.argv[1]), "model_best.pth")
if cfg.DATASET.DATASET != "coco":  # the default input below is COCO's layout (images/<set>, annotations/...)
    def refuse():
        raise UserError(f"run_demo.sh: without --options it reads a COCO-layout test split, and {sys.argv[1]} has "
                        f"DATASET.DATASET {cfg.DATASET.DATASET!r}",
                        hint=f"pass the input yourself, e.g. bash run_demo.sh {sys.argv[1]} --weights {weights} "
                             "--input FOLDER_OR_VIDEO --whole-image (one person per image, as LSP) "
                             "or --boxes-json FILE")
    run_main(refuse)
print(weights)
print(os.path.join(cfg.DATASET.ROOT, "images", cfg.DATASET.TEST_SET))
print(os.path.join(cfg.DATASET.ROOT, "annotations", f"person_keypoints_{cfg.DATASET.TEST_SET}.json"))
EOF
)
[ ${#PATHS[@]} -eq 3 ] || exit 2
WEIGHTS=${PATHS[0]} IMAGES=${PATHS[1]} ANNOTATIONS=${PATHS[2]}

if [ ! -f "$WEIGHTS" ]; then
  if [ "$(realpath "$CFG")" = "$(realpath "$QUICKSTART_CFG")" ]; then
    echo "[run_demo] no quickstart checkpoint at $WEIGHTS: training it first (bash run_train.sh, about 15 minutes on a 2-core CPU)"
    bash run_train.sh "$CFG" "$@"
  else
    echo "error: run_demo.sh: no weights at $WEIGHTS" >&2
    echo "hint: train with 'bash run_train.sh $CFG' or pass --weights W --input PATH and a box source (tools/demo.py --help)" >&2
    exit 2
  fi
fi
exec "$PYTHON" tools/demo.py --cfg "$CFG" --weights "$WEIGHTS" --input "$IMAGES" --boxes-json "$ANNOTATIONS" "$@"
