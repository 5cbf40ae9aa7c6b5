r"""Evaluate a checkpoint, a bare weight file, or an original OmniPose/HRNet release file.

    python tools/test.py --cfg experiments/coco/omnipose_w48_384x288.yaml --weights model_best.pth
    python tools/test.py --cfg experiments/coco/omnipose_w48_384x288.yaml MODEL.EXTRA.HEAD waspv1 \
        --weights OmniPose_w48_coco.pth TEST.USE_GT_BBOX False --work-dir results/released
--weights is TEST.MODEL_FILE (either spelling works). Weights load strictly: a file for another head or joint count
is an error that says which setting to change. The log (stdout and test/test_<time>.log next to the weights, or
--work-dir) says which boxes and which flip-test alignment were used and why, labels both COCOeval tables, and ends
with one summary table.
"""
import logging
import os

from lib import cli
from lib.config import load_cfg, require_path
from lib.core.runtime import configure_torch, run_environment
from lib.core.function import validate
from lib.core.predictor import load_generator
from lib.dataset import build_dataset
from lib.dataset.joints_dataset import ImageReadError
from lib.dataset.loader import build_loader
from lib.utils import dist
from lib.utils.checkpoint import WeightLoadError
from lib.utils.environment import log_environment
from lib.utils.errors import UserError, as_user_errors, run_main
from lib.utils.logger import setup_logger

logger = logging.getLogger("test")

# Library errors that are the user's to fix here (lib.utils.errors.run_main): weights that do not fit the config,
# unreadable images.
USER_ERRORS = (WeightLoadError, ImageReadError)


def parse_args(argv=None):
    parser = cli.ArgumentParser(__doc__)
    cli.add_weights(parser, "the weights to evaluate (same as TEST.MODEL_FILE)", default="")
    cli.add_work_dir(parser, "where results land (default: the weights' folder/test)", aliases=("--output-dir",),
                     default="")
    cli.add_device(parser)
    return cli.parse(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    weights_opt = ["TEST.MODEL_FILE", args.weights] if args.weights else []
    cfg = load_cfg(args.cfg, args.opts + weights_opt + cli.device_override(args))
    if not cfg.TEST.MODEL_FILE:
        raise UserError(f"{args.cfg}: no weights to evaluate",
                        hint="give --weights FILE (or TEST.MODEL_FILE FILE): a checkpoint.pth, model_best.pth, "
                             "final_state.pth or an original release file")
    weights = require_path(cfg, "TEST.MODEL_FILE")
    with cli.device_errors():
        device = dist.init_distributed(cfg.DEVICE)
    out_dir = args.work_dir or os.path.join(os.path.dirname(os.path.abspath(weights)), "test")
    if dist.is_main_process():
        os.makedirs(out_dir, exist_ok=True)
    setup_logger(out_dir, dist.get_rank(), "test")
    precision = configure_torch(cfg, device)  # after the logger: it reports the precision in use
    log_environment(cfg, vars(args), run_environment(device, precision))

    model = load_generator(cfg, weights)  # strict; MODEL.PRETRAINED is not needed
    record = getattr(model, "weights_record", {})
    logger.info("weights %s: %s", weights, f"trained by this project, record {record}" if record else
                "no weights record (a released or external file)")
    model.to(device)
    with as_user_errors(ValueError):  # the dataset's malformed-file errors name the file
        dataset = build_dataset(cfg, is_train=False)
    loader = build_loader(dataset, cfg, False, device)
    perf, name_values = validate(cfg, loader, dataset, model, out_dir, device)
    if dist.is_main_process():
        logger.info("evaluated %s; predictions, stats and this log are in %s", weights, out_dir)
    dist.cleanup()
    return perf, name_values


if __name__ == "__main__":
    run_main(main, USER_ERRORS)
