"""Adversarial training: the OmniPose generator against a Pose and a Confidence Discriminator (Adversarial PoseNet),
evaluated by the pure trainer's validate(), unchanged. The same yaml drives both trainers; the GAN section holds
the adversarial knobs (defaults apply when a yaml has none).

    # from scratch: runs land in OmniPose/trained_GAN/...
    python tools/train_AN.py --cfg experiments/synthetic/omnipose_quickstart.yaml
    # from a pretrained generator (a pure run's model_best.pth or an original release file):
    # runs land in OmniPose/trained_GAN_2/...
    python tools/train_AN.py --cfg X --init-from OmniPose/trained/.../model_best.pth GAN.WARMUP_EPOCHS 1
    torchrun --nproc_per_node 4 tools/train_AN.py --cfg experiments/coco/omnipose_w48_384x288_train.yaml

checkpoint.pth holds the generator, both discriminators, every optimizer and scheduler, the epoch and the best
indicator; model_best.pth and final_state.pth hold the generator alone, so inference costs what pure OmniPose costs.
"""
import logging
import os

import torch

from lib.config import load_cfg, require_path
from lib.core import engine
from lib.core.ema import build_ema
from lib.utils.precision import training_amp_enabled
from lib.core.function_AN import AdversarialStep, train_adversarial_epoch
from lib.core.loss import build_loss
from lib.models import check_train_batch_size
from lib.models.discriminator import build_discriminators
from lib.utils import checkpoint as ckpt
from lib.utils import dist
from lib.utils.errors import run_main

logger = logging.getLogger("train_AN")


def parse_args(argv=None):
    parser = engine.training_arg_parser(__doc__, "generator weights to start from (overrides GAN.GENERATOR_INIT)")
    return parser.parse_args(argv)


def build_d_optimizer(cfg, discriminators):
    params = [p for d in discriminators if d is not None for p in d.parameters()]
    betas = tuple(cfg.GAN.D_BETAS)
    if cfg.GAN.D_OPTIMIZER == "adam":
        return torch.optim.Adam(params, lr=cfg.GAN.D_LR, betas=betas, weight_decay=cfg.GAN.D_WD)
    if cfg.GAN.D_OPTIMIZER == "adamw":
        return torch.optim.AdamW(params, lr=cfg.GAN.D_LR, betas=betas, weight_decay=cfg.GAN.D_WD)
    raise ValueError(f"GAN.D_OPTIMIZER={cfg.GAN.D_OPTIMIZER!r} is not one of ('adam', 'adamw')")


def build_models(cfg, device, init_from=""):
    """(generator, pose_disc, conf_disc) placed on `device`; the generator loaded from `init_from` when given.
    Either discriminator is None when the config switches it off."""
    generator = engine.build_train_generator(cfg)
    if init_from:
        ckpt.load_weights(generator, init_from, trusted_files=cfg.TRUSTED_PICKLE_FILES)
        logger.info("initialised the generator from %s", init_from)
    pose_disc, conf_disc = build_discriminators(cfg)
    generator = engine.place_model(generator, cfg, device)
    pose_disc = engine.place_model(pose_disc, cfg, device) if pose_disc is not None else None
    conf_disc = engine.place_model(conf_disc, cfg, device) if conf_disc is not None else None
    return generator, pose_disc, conf_disc


def build_step(cfg, device, models, num_iters):
    """The AdversarialStep over `models` (build_models) with its optimizers and AMP scalers, and the generator's
    per-iteration LR schedule. Returns (step, scheduler); the optimizers and scalers are step attributes."""
    generator, pose_disc, conf_disc = models
    criterion = build_loss(cfg).to(device)
    g_optimizer = engine.build_optimizer(cfg, generator.parameters())
    d_optimizer = build_d_optimizer(cfg, (pose_disc, conf_disc))
    scheduler = engine.build_scheduler(cfg, g_optimizer, num_iters)
    use_amp = training_amp_enabled(cfg, device)  # fp16 on CUDA (with scalers), bf16 on a CPU that has it
    g_scaler = torch.amp.GradScaler("cuda") if use_amp and device.type == "cuda" else None
    d_scaler = torch.amp.GradScaler("cuda") if use_amp and device.type == "cuda" else None
    step = AdversarialStep(
        engine.wrap_ddp(generator, device), engine.wrap_ddp(pose_disc, device), engine.wrap_ddp(conf_disc, device),
        g_optimizer, d_optimizer, criterion, cfg.GAN, loss_type=cfg.LOSS.TYPE, device_type=device.type,
        amp=use_amp, g_scaler=g_scaler, d_scaler=d_scaler, clip_grad_norm=cfg.TRAIN.CLIP_GRAD_NORM)
    return step, scheduler


def main(argv=None):
    args = parse_args(argv)
    init_from = args.init_from or load_cfg(args.cfg, args.opts).GAN.GENERATOR_INIT
    default_output = "OmniPose/trained_GAN_2" if init_from else "OmniPose/trained_GAN"
    cfg, device, run_dir = engine.setup_run(args.cfg, args.opts, default_output, "train_AN", vars(args))
    if not (cfg.GAN.POSE_DISC or cfg.GAN.CONF_DISC):
        raise ValueError(f"{args.cfg}: GAN.POSE_DISC and GAN.CONF_DISC are both False; use tools/train.py for a "
                         "pure run")

    if init_from and not args.init_from:
        init_from = require_path(cfg, "GAN.GENERATOR_INIT")
    # Models before data, as always: the same seed gives the same initial weights as earlier runs.
    generator, pose_disc, conf_disc = build_models(cfg, device, init_from)
    check_train_batch_size(cfg, cfg.TRAIN.BATCH_SIZE_PER_GPU)
    train_set, val_set, train_loader, val_loader, num_iters = engine.build_data(cfg, device)
    step, scheduler = build_step(cfg, device, (generator, pose_disc, conf_disc), num_iters)
    g_optimizer, d_optimizer, g_scaler, d_scaler = step.g_optimizer, step.d_optimizer, step.g_scaler, step.d_scaler

    ema = build_ema(cfg, generator)  # TRAIN.EMA_DECAY > 0: validated and released instead of the raw weights
    eval_model, raw_model = engine.evaluated_models(generator, ema, cfg)
    checkpoint_modules = {"pose_disc": pose_disc, "conf_disc": conf_disc, "ema": ema}  # beside the generator
    tracker = engine.BestTracker(cfg, run_dir)
    start_epoch = 0
    resume = engine.resume_path(args.resume, cfg, run_dir)
    if resume:
        state = ckpt.load_training_checkpoint(resume, cfg, trainer="adversarial")
        ckpt.restore_training_state(state, model=generator, optimizer=g_optimizer, scheduler=scheduler,
                                    scaler=g_scaler, extra_modules=checkpoint_modules,
                                    extra_optimizers={"d_optimizer": d_optimizer, "d_scaler": d_scaler})
        start_epoch, tracker.best_perf, tracker.best_epoch = state["epoch"], state["best_perf"], state["best_epoch"]
        if dist.is_main_process():
            engine.truncate_metrics(run_dir, start_epoch)
        logger.info("resumed from %s at epoch %d (best %.4f at epoch %d)", resume, start_epoch, tracker.best_perf,
                    tracker.best_epoch)

    writer = engine.make_tb_writer(cfg, run_dir)
    for epoch in range(start_epoch, cfg.TRAIN.END_EPOCH):
        engine.start_epoch(train_loader, cfg, epoch)
        record = {"epoch": epoch, "trainer": "adversarial"}
        record.update(train_adversarial_epoch(cfg, train_loader, step, scheduler, epoch, device, num_iters, writer,
                                              ema))
        if tracker.should_validate(epoch):
            record.update(tracker.validate(epoch, val_loader, val_set, eval_model, device, writer, raw_model))
        if dist.is_main_process():
            ckpt.save_training_checkpoint(
                os.path.join(run_dir, "checkpoint.pth"), cfg, trainer="adversarial", epoch=epoch + 1,
                model=generator, optimizer=g_optimizer, scheduler=scheduler, scaler=g_scaler,
                best_perf=tracker.best_perf, best_epoch=tracker.best_epoch, extra_modules=checkpoint_modules,
                extra_optimizers={"d_optimizer": d_optimizer, "d_scaler": d_scaler})
            engine.append_metrics(run_dir, dict(record, best_perf=tracker.best_perf, best_epoch=tracker.best_epoch))
        dist.barrier()

    return engine.finish_run(eval_model, run_dir, tracker, writer)


if __name__ == "__main__":
    run_main(main)
