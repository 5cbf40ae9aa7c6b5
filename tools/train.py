"""Pure OmniPose/HRNet training with COCO OKS evaluation.

    python tools/train.py --cfg experiments/synthetic/omnipose_quickstart.yaml
    python tools/train.py --cfg experiments/coco/omnipose_w48_384x288.yaml TRAIN.BATCH_SIZE_PER_GPU 16
    torchrun --nproc_per_node 4 tools/train.py --cfg experiments/coco/omnipose_w48_384x288.yaml
    python tools/train.py --cfg X --resume OmniPose/trained/coco/omnipose/X/checkpoint.pth
    python tools/train.py --cfg X --init-from path/to/model_best.pth     # new run from pretrained generator weights

Runs land in OUTPUT_DIR/<dataset>/<model>/<config name>/ (OUTPUT_DIR defaults to OmniPose/trained): checkpoint.pth
(every epoch), model_best.pth and final_state.pth (bare generator weights), metrics.jsonl, config.yaml, the log, tb/.
"""
import logging

from lib.core import trainer
from lib.core.function import build_pure_step, build_train_generator
from lib.core.runtime import place_model
from lib.dataset.loader import build_data
from lib.models import check_train_batch_size
from lib.utils import checkpoint as ckpt
from lib.utils.errors import run_main

logger = logging.getLogger("train")


def parse_args(argv=None):
    return trainer.training_arg_parser(__doc__).parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    run = trainer.setup_run(args.cfg, args.opts, "OmniPose/trained", "train", vars(args))
    cfg, device = run.cfg, run.device

    model = build_train_generator(cfg)
    if args.init_from:
        ckpt.load_weights(model, args.init_from, trusted_files=cfg.TRUSTED_PICKLE_FILES)
        logger.info("initialised the generator from %s", args.init_from)
    model = place_model(model, cfg, device)
    check_train_batch_size(cfg, cfg.TRAIN.BATCH_SIZE_PER_GPU)
    data = trainer.Data(*build_data(cfg, device))
    step, scheduler = build_pure_step(cfg, device, model, data.num_iters)
    return trainer.fit(run, step, scheduler, data, args.resume)


if __name__ == "__main__":
    run_main(main)
