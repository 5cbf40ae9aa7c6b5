"""Adversarial training: the OmniPose generator against a Pose and a Confidence Discriminator (Adversarial PoseNet),
evaluated by the pure trainer's validate(), unchanged. The same yaml drives both trainers; the GAN section holds
the adversarial knobs (defaults apply when a yaml has none).

    # from scratch: runs land in OmniPose/trained_GAN/...
    python tools/train_AN.py --cfg experiments/synthetic/omnipose_quickstart.yaml
    # from a pretrained generator (a pure run's model_best.pth or an original release file):
    # runs land in OmniPose/trained_GAN_2/...
    python tools/train_AN.py --cfg X --weights OmniPose/trained/.../model_best.pth GAN.WARMUP_EPOCHS 1
    torchrun --nproc_per_node 4 tools/train_AN.py --cfg experiments/coco/omnipose_w48_384x288_train.yaml

checkpoint.pth holds the generator, both discriminators, every optimizer and scheduler, the epoch and the best
indicator; model_best.pth and final_state.pth hold the generator alone, so inference costs what pure OmniPose costs.
Run folders, --resume, --auto-resume, --overwrite and --work-dir behave as in tools/train.py.
"""
import logging

from lib.config import load_cfg, require_path
from lib.core import trainer, workdir
from lib.core.function_AN import build_adversarial_models, build_adversarial_step
from lib.utils.errors import UserError, run_main

logger = logging.getLogger("train_AN")


def parse_args(argv=None):
    return trainer.parse_training_args(__doc__, argv, "generator weights to start from (overrides GAN.GENERATOR_INIT)")


def main(argv=None):
    args = parse_args(argv)
    asked = load_cfg(args.cfg, args.opts)
    if not (asked.GAN.POSE_DISC or asked.GAN.CONF_DISC):  # before a run folder is made for it
        raise UserError(f"{args.cfg}: GAN.POSE_DISC and GAN.CONF_DISC are both False; use tools/train.py for a "
                        "pure run")
    init_from = args.weights or asked.GAN.GENERATOR_INIT
    default_output = workdir.FINETUNE_OUTPUT if init_from else workdir.ADVERSARIAL_OUTPUT
    run = trainer.setup_run(args, default_output, "train_AN", "adversarial")
    cfg, device = run.cfg, run.device
    if init_from and not args.weights:
        init_from = require_path(cfg, "GAN.GENERATOR_INIT")

    models = build_adversarial_models(cfg, device, init_from)
    return trainer.train(run, models, build_adversarial_step)


if __name__ == "__main__":
    run_main(main, trainer.USER_ERRORS)
