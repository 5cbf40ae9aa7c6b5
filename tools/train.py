"""Pure OmniPose/HRNet training with COCO OKS evaluation.

    python tools/train.py --cfg experiments/synthetic/omnipose_quickstart.yaml
    python tools/train.py --cfg experiments/coco/omnipose_w48_384x288.yaml TRAIN.BATCH_SIZE_PER_GPU 16
    torchrun --nproc_per_node 4 tools/train.py --cfg experiments/coco/omnipose_w48_384x288.yaml
    python tools/train.py --cfg X --resume                    # continue the run folder's checkpoint.pth exactly
    python tools/train.py --cfg X --resume OmniPose/trained/coco/omnipose/X/checkpoint.pth
    python tools/train.py --cfg X --weights path/to/model_best.pth --work-dir runs/finetune   # a new run from weights

Runs land in OUTPUT_DIR/<dataset>/<model>/<config name>/ (OUTPUT_DIR defaults to OmniPose/trained), or --work-dir:
checkpoint.pth (every epoch), model_best.pth and final_state.pth (bare generator weights), metrics.jsonl,
config.yaml, the log, tb/. A folder that holds a run is never overwritten nor silently continued: --resume,
--auto-resume (or AUTO_RESUME True) continue it, --overwrite moves it aside, --work-dir picks another folder.
"""
import logging

from lib.core import trainer, workdir
from lib.core.function import build_pure_step, build_train_generator
from lib.core.runtime import place_model
from lib.utils import checkpoint as ckpt
from lib.utils.errors import run_main

logger = logging.getLogger("train")


def parse_args(argv=None):
    return trainer.parse_training_args(__doc__, argv)


def main(argv=None):
    args = parse_args(argv)
    run = trainer.setup_run(args, workdir.PURE_OUTPUT, "train", "pure")
    cfg, device = run.cfg, run.device

    model = build_train_generator(cfg)
    if args.weights:
        ckpt.load_weights(model, args.weights, trusted_files=cfg.TRUSTED_PICKLE_FILES)
        logger.info("initialised the generator from %s", args.weights)
    model = place_model(model, cfg, device)
    return trainer.train(run, model, build_pure_step)


if __name__ == "__main__":
    run_main(main, trainer.USER_ERRORS)
