"""Optimizers and per-iteration learning-rate schedules (linear warm-up, then step decay or a half cosine) for the
generator and the discriminators, and the batch/LR rule of multi-process runs (TRAIN.AUTO_SCALE_LR)."""
import logging
import math

import torch

from lib.utils import dist

logger = logging.getLogger(__name__)


def lr_scale(cfg):
    """The factor TRAIN.LR and GAN.D_LR are multiplied by: global batch / TRAIN.BASE_BATCH_SIZE with
    TRAIN.AUTO_SCALE_LR (the linear scaling rule), else 1. The global batch is TRAIN.BATCH_SIZE_PER_GPU times the
    number of processes: every process draws its own batch and DDP averages their gradients."""
    if not cfg.TRAIN.AUTO_SCALE_LR:
        return 1.0
    if cfg.TRAIN.BASE_BATCH_SIZE <= 0:
        raise ValueError(f"TRAIN.AUTO_SCALE_LR True needs TRAIN.BASE_BATCH_SIZE > 0 (the global batch TRAIN.LR was "
                         f"tuned for), got {cfg.TRAIN.BASE_BATCH_SIZE}")
    return cfg.TRAIN.BATCH_SIZE_PER_GPU * dist.get_world_size() / cfg.TRAIN.BASE_BATCH_SIZE


def log_batch_rule(cfg):
    """States the global batch and the LR it runs with, once at start-up."""
    world = dist.get_world_size()
    global_batch = cfg.TRAIN.BATCH_SIZE_PER_GPU * world
    if cfg.TRAIN.AUTO_SCALE_LR:
        rule = (f"TRAIN.AUTO_SCALE_LR: the LRs (TRAIN.LR, GAN.D_LR) x {global_batch} / TRAIN.BASE_BATCH_SIZE "
                f"{cfg.TRAIN.BASE_BATCH_SIZE}, TRAIN.LR {cfg.TRAIN.LR:g} -> {cfg.TRAIN.LR * lr_scale(cfg):g}")
    else:
        rule = f"LR {cfg.TRAIN.LR:g}, not rescaled with the number of processes (TRAIN.AUTO_SCALE_LR False)"
    logger.info("global batch %d = %d per process (TRAIN.BATCH_SIZE_PER_GPU) x %d process%s; %s", global_batch,
                cfg.TRAIN.BATCH_SIZE_PER_GPU, world, "" if world == 1 else "es", rule)


def build_optimizer(cfg, params, name=None, lr=None, wd=None):
    """adam | adamw | sgd, with weight decay really applied (the original's Adam dropped TRAIN.WD). The LR defaults
    to TRAIN.LR times lr_scale(cfg)."""
    name = name or cfg.TRAIN.OPTIMIZER
    lr = cfg.TRAIN.LR * lr_scale(cfg) if lr is None else lr
    wd = cfg.TRAIN.WD if wd is None else wd
    params = [p for p in params if p.requires_grad]  # the frozen Gaussian filters stay out
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.TRAIN.MOMENTUM, weight_decay=wd,
                               nesterov=cfg.TRAIN.NESTEROV)
    raise ValueError(f"TRAIN.OPTIMIZER={name!r} is not one of ('adam', 'adamw', 'sgd')")


class WarmupMultiStep:
    """LR factor at a global iteration: linear warm-up over TRAIN.WARMUP_ITERS, times LR_FACTOR for each milestone
    reached. Milestones are epochs: factor LR_FACTOR^k from the first iteration of epoch LR_STEP[k-1] on (the original
    stepped one epoch early). A plain callable object, so LambdaLR's state_dict keeps it."""

    def __init__(self, iters_per_epoch, milestones, factor, warmup_iters, warmup_factor):
        self.iters_per_epoch = max(int(iters_per_epoch), 1)
        self.milestones = sorted(int(m) for m in milestones)
        self.factor = factor
        self.warmup_iters = int(warmup_iters)
        self.warmup_factor = warmup_factor

    def __call__(self, iteration):
        epoch = iteration // self.iters_per_epoch
        decay = self.factor ** sum(1 for m in self.milestones if epoch >= m)
        if self.warmup_iters > 0 and iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            return decay * (self.warmup_factor * (1 - alpha) + alpha)
        return decay


class WarmupCosine:
    """LR factor at a global iteration: linear warm-up over TRAIN.WARMUP_ITERS, then a half cosine from 1 down to
    TRAIN.LR_FACTOR, reached once the last iteration of TRAIN.END_EPOCH has stepped (TRAIN.LR_STEP is unused). A plain callable object, so
    LambdaLR's state_dict keeps it."""

    def __init__(self, total_iters, final_factor, warmup_iters, warmup_factor):
        self.total_iters = max(int(total_iters), 1)
        self.final_factor = final_factor
        self.warmup_iters = int(warmup_iters)
        self.warmup_factor = warmup_factor

    def __call__(self, iteration):
        progress = min(max(iteration - self.warmup_iters, 0) / max(self.total_iters - self.warmup_iters, 1), 1.0)
        factor = self.final_factor + (1 - self.final_factor) * 0.5 * (1 + math.cos(math.pi * progress))
        if self.warmup_iters > 0 and iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            return factor * (self.warmup_factor * (1 - alpha) + alpha)
        return factor


LR_SCHEDULES = ("step", "cosine")


def build_scheduler(cfg, optimizer, iters_per_epoch):
    """A per-iteration LambdaLR (TRAIN.LR_SCHEDULE 'step' or 'cosine'). Created BEFORE any optimizer state is loaded,
    so resuming past a milestone does not decay twice (the original built its scheduler from the already-decayed
    LR)."""
    if cfg.TRAIN.LR_SCHEDULE == "step":
        rule = WarmupMultiStep(iters_per_epoch, cfg.TRAIN.LR_STEP, cfg.TRAIN.LR_FACTOR, cfg.TRAIN.WARMUP_ITERS,
                               cfg.TRAIN.WARMUP_FACTOR)
    elif cfg.TRAIN.LR_SCHEDULE == "cosine":
        rule = WarmupCosine(iters_per_epoch * cfg.TRAIN.END_EPOCH, cfg.TRAIN.LR_FACTOR, cfg.TRAIN.WARMUP_ITERS,
                            cfg.TRAIN.WARMUP_FACTOR)
    else:
        raise ValueError(f"TRAIN.LR_SCHEDULE={cfg.TRAIN.LR_SCHEDULE!r} is not one of {LR_SCHEDULES}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, rule)


def build_d_optimizer(cfg, discriminators):
    """One optimizer over every present discriminator's parameters (GAN.D_OPTIMIZER, D_LR (times lr_scale), D_BETAS,
    D_WD)."""
    params = [p for d in discriminators if d is not None for p in d.parameters()]
    betas = tuple(cfg.GAN.D_BETAS)
    lr = cfg.GAN.D_LR * lr_scale(cfg)
    if cfg.GAN.D_OPTIMIZER == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=cfg.GAN.D_WD)
    if cfg.GAN.D_OPTIMIZER == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=cfg.GAN.D_WD)
    raise ValueError(f"GAN.D_OPTIMIZER={cfg.GAN.D_OPTIMIZER!r} is not one of ('adam', 'adamw')")


def optimizer_step(loss, optimizer, params, scaler=None, max_norm=0.0):
    """Backward, optional gradient-norm clipping (on unscaled gradients), optimizer step; with an enabled AMP
    GradScaler the loss is scaled and the scaler updated. The caller zeroes the gradients first."""
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        if max_norm > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, max_norm)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, max_norm)
        optimizer.step()
