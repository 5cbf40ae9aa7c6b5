r"""Evaluate a checkpoint, a bare weight file, or an original OmniPose/HRNet release file.

    python tools/test.py --cfg experiments/coco/omnipose_w48_384x288.yaml TEST.MODEL_FILE model_best.pth
    python tools/test.py --cfg experiments/coco/omnipose_w48_384x288.yaml MODEL.EXTRA.HEAD waspv1 \
        TEST.MODEL_FILE OmniPose_w48_coco.pth TEST.USE_GT_BBOX False
Weights load strictly: a file for another head or joint count is an error that says which setting to change.
Prints the stats as a table and says whether ground-truth or detector boxes were used.
"""
import argparse
import logging
import os

from lib.config import load_cfg
from lib.core import engine
from lib.core.evaluate import format_table
from lib.core.function import validate
from lib.dataset import build_dataset
from lib.models import build_generator
from lib.utils import checkpoint as ckpt
from lib.utils import dist
from lib.utils.logger import setup_logger

logger = logging.getLogger("test")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", required=True, help="experiment yaml")
    parser.add_argument("--output-dir", default="", help="where results land (default: the weights' run folder)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ... (TEST.MODEL_FILE)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_cfg(args.cfg, args.opts)
    if not cfg.TEST.MODEL_FILE:
        raise SystemExit(f"{args.cfg}: set TEST.MODEL_FILE to the weights to evaluate "
                         "(checkpoint.pth, model_best.pth, final_state.pth or an original release file)")
    device = dist.init_distributed(cfg.DEVICE)
    engine.configure_torch(cfg, device)
    out_dir = args.output_dir or os.path.join(os.path.dirname(os.path.abspath(cfg.TEST.MODEL_FILE)), "test")
    if dist.is_main_process():
        os.makedirs(out_dir, exist_ok=True)
    setup_logger(out_dir, dist.get_rank(), "test")
    engine.log_environment(cfg, args, device)

    model = build_generator(cfg)
    ckpt.load_weights(model, cfg.TEST.MODEL_FILE)
    model.to(device)
    dataset = build_dataset(cfg, is_train=False)
    loader = engine.build_loader(dataset, cfg, False, device)
    perf, name_values = validate(cfg, loader, dataset, model, out_dir, device)
    if dist.is_main_process():
        boxes = "ground-truth boxes" if cfg.TEST.USE_GT_BBOX else f"detector boxes ({cfg.TEST.COCO_BBOX_FILE})"
        print(f"\n{cfg.TEST.MODEL_FILE} on {cfg.DATASET.TEST_SET} with {boxes}, flip test "
              f"{'on' if cfg.TEST.FLIP_TEST else 'off'}, {'DARK' if cfg.TEST.POST_PROCESS else 'argmax'} decoding:")
        print(format_table(name_values, os.path.basename(cfg.TEST.MODEL_FILE)))
        print(f"results in {out_dir}")
    dist.cleanup()
    return perf, name_values


if __name__ == "__main__":
    main()
