"""The adversarial training step: the generator against a Pose and a Confidence Discriminator.

    D step: L_P^D + L_C^D on (composite reals, detached clamped fakes), per-joint labels, balanced fake term (+ R1)
    G step: L_heatmap + ramp * (LAMBDA_P * BCE(P(x, f), 1) + LAMBDA_C * BCE(C(f), 1)), discriminators frozen

The labels are lib.core.adversarial_labels; the BCE terms are in lib.core.loss; the epoch loop is the shared one in
lib.core.trainer. Stacked generators (hourglass) return every stack's output in training mode: all of them get the
heatmap loss (intermediate supervision); the last stack's heatmaps are the prediction, and both discriminators see
only those.
"""
import logging
import math

import torch

from lib.core.adversarial_labels import adversarial_labels, composite_real, joint_kappa, joint_mask
from lib.core.function import build_train_generator
from lib.core.loss import balanced_bce, build_loss, check_finite, final_output, masked_bce, output_to_heatmap
from lib.core.optim import (build_d_optimizer, build_optimizer, build_scheduler, log_batch_rule,
                             optimizer_step)
from lib.core.runtime import place_model
from lib.models.discriminator import build_discriminators, downsample_image
from lib.utils import checkpoint as ckpt
from lib.utils import dist
from lib.utils.amp import training_amp_enabled
from lib.utils.modules import frozen

logger = logging.getLogger(__name__)


def _balanced_accuracy(logits, labels, mask):
    """Mean of the accuracy on positive and on negative labels (the classes present), masked; NaN if none."""
    correct = ((logits > 0).float() == labels).float()
    rates = []
    for cls_mask in (labels * mask, (1.0 - labels) * mask):
        if cls_mask.sum() > 0:
            rates.append(((correct * cls_mask).sum() / cls_mask.sum()).item())
    return sum(rates) / len(rates) if rates else math.nan


def _masked_mean(values, mask):
    return ((values * mask).sum() / mask.sum()).item() if mask.sum() > 0 else math.nan


def adversarial_ramp(iteration, ramp_iters):
    """Linear 0 -> 1 over `ramp_iters` adversarial iterations; 1 when the ramp is off."""
    if ramp_iters <= 0:
        return 1.0
    return min(1.0, iteration / float(ramp_iters))


class AdversarialStep:
    """One iteration: one generator forward, a discriminator step, then a generator step.

        pred = G(x); f = clamp(pred, 0, 1); real = composite_real(pred, y, w); p, c = labels (no grad)
        D step: L_P^D + L_C^D on (real, f.detach()), per-joint masks, balanced fake term (+ R1 on reals)
        G step: L_mse + ramp * (LAMBDA_P * BCE(P(x_s, f), 1) + LAMBDA_C * BCE(C(f), 1)), D frozen

    DDP: the D step runs `pose_disc` / `conf_disc` as given (they may be DistributedDataParallel, so D's gradients
    are all-reduced). The generator pass always runs the UNWRAPPED modules (`.module`), with requires_grad False
    on their parameters, so no DDP reducer hooks of D fire during the generator's backward. A caller that wraps
    the discriminators some other way must pass the plain modules.

    The discriminators run in eval mode in the generator pass: their only train/eval difference is spectral norm's
    power iteration, which belongs to D's update and must not move D's buffers while G is being trained.

    Args:
        generator: maps images (B, 3, H, W) to outputs (B, J, H/4, W/4) (heatmaps, or logits for LOSS.TYPE 'bce').
        pose_disc, conf_disc: PoseDiscriminator / ConfidenceDiscriminator, either may be None.
        g_optimizer: the generator's optimizer. d_optimizer: one optimizer over all present discriminators' parameters.
        criterion: heatmap loss, callable(output, target, target_weight) -> scalar (the pure trainer's loss).
        gan_cfg: cfg.GAN (LAMBDA_P, LAMBDA_C, TAU_P, EPS_C, LABEL_SMOOTH, BALANCE_MAX, R1_GAMMA are read).
        kappa: J per-joint OKS constants; None = `joint_kappa(J)` at the first call.
        loss_type: 'mse' or 'bce' (LOSS.TYPE): how the generator output is read as heatmaps (`output_to_heatmap`).
        device_type: 'cpu' or 'cuda', for torch.autocast.
        amp: run the forwards under torch.autocast(device_type).
        g_scaler, d_scaler: torch.amp.GradScaler or None (plain backward).
        clip_grad_norm: max gradient norm of the generator (0 = off); d_clip_grad_norm: the same for D.
        print_freq: in the epoch loop, measure grad_ratio every print_freq iterations (0: never).
    """

    def __init__(self, generator, pose_disc, conf_disc, g_optimizer, d_optimizer, criterion, gan_cfg, kappa=None,
                 loss_type="mse", device_type="cpu", amp=False, g_scaler=None, d_scaler=None, clip_grad_norm=0.0,
                 d_clip_grad_norm=0.0, print_freq=0):
        if pose_disc is None and conf_disc is None:
            raise ValueError("AdversarialStep needs at least one discriminator; both pose_disc and conf_disc are None")
        if d_optimizer is None:
            raise ValueError("d_optimizer is None; it must hold the discriminators' parameters")
        self.generator = generator
        self.pose_disc, self.conf_disc = pose_disc, conf_disc
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.criterion = criterion
        self.lambda_p, self.lambda_c = float(gan_cfg.LAMBDA_P), float(gan_cfg.LAMBDA_C)
        self.tau_p, self.eps_c = float(gan_cfg.TAU_P), float(gan_cfg.EPS_C)
        self.label_smooth = float(gan_cfg.LABEL_SMOOTH)
        self.balance_max = float(gan_cfg.BALANCE_MAX)
        self.r1_gamma = float(gan_cfg.R1_GAMMA)
        if not 0.0 < self.label_smooth <= 1.0:
            raise ValueError(f"GAN.LABEL_SMOOTH={self.label_smooth} must be in (0, 1]")
        if self.r1_gamma < 0.0:
            raise ValueError(f"GAN.R1_GAMMA={self.r1_gamma} must be >= 0")
        self.kappa = kappa
        self.loss_type = loss_type
        self.device_type = device_type
        self.amp = bool(amp)
        self.g_scaler, self.d_scaler = g_scaler, d_scaler
        self.clip_grad_norm, self.d_clip_grad_norm = float(clip_grad_norm), float(d_clip_grad_norm)
        # Epoch-level schedule, read by start_epoch / train_batch (the shared loop's interface).
        self.warmup_epochs, self.ramp_epochs = int(gan_cfg.WARMUP_EPOCHS), float(gan_cfg.RAMP_EPOCHS)
        self.pck_alpha_cfg = float(gan_cfg.PCK_ALPHA)
        self.print_freq = int(print_freq)
        self.epoch, self.num_iters, self.warmup, self.ramp = 0, 1, False, 0.0

    def _autocast(self):
        return torch.autocast(self.device_type, enabled=self.amp)

    def discriminators(self):
        """The present discriminators, as given (possibly DDP-wrapped)."""
        return [d for d in (self.pose_disc, self.conf_disc) if d is not None]

    def _disc_params(self):
        return [p for d in self.discriminators() for p in d.parameters()]

    def __call__(self, batch, ramp, train_generator=True, measure_grad_ratio=False):
        """Runs one iteration.

        Args:
            batch: (images (B, 3, H, W), target (B, J, h, w), target_weight (B, J) or (B, J, 1),
                joints_hm (B, J, 2) GT joints in heatmap px (x, y), area_hm (B,) object area in heatmap px^2
                [, pck_radius_hm (B,): P's correctness radius in heatmap px, for datasets without OKS constants]),
                all on the training device.
            ramp: factor in [0, 1] on the generator's adversarial terms (GAN.RAMP_EPOCHS).
            train_generator: False in the D warm-up (phase 1 of GAN.WARMUP_EPOCHS): G forward under no_grad in the mode the
                caller set (train, so D sees phase 2's output distribution; BatchNorm statistics of G still update),
                D step only, no G step.
            measure_grad_ratio: also compute grad_ratio (costs two extra partial backwards).
        Returns:
            dict of floats: loss_mse, loss_adv_pose, loss_adv_conf (unweighted; 0 for an absent discriminator),
            loss_d_pose, loss_d_conf, loss_r1, d_acc_real, d_acc_fake (balanced, vs the labels) and their
            _pose/_conf versions, d_real_prob_pose/_conf (mean sigmoid on reals), fake_pos_rate_pose/_conf,
            grad_ratio (NaN unless measured in a generator step).
        """
        images, target, target_weight, joints_hm, area_hm, *extra = batch
        pck_radius_hm = extra[0] if extra else None
        if not 0.0 <= ramp <= 1.0:
            raise ValueError(f"ramp={ramp} must be in [0, 1]")

        # 1. Generator forward, once. A stacked generator's list: every stack gets the heatmap loss, the last stack
        # is the prediction.
        with self._autocast(), torch.set_grad_enabled(train_generator):
            raw = self.generator(images)
        stacks = [o.float() for o in raw] if isinstance(raw, (list, tuple)) else None
        output = final_output(stacks) if stacks is not None else raw.float()
        with torch.set_grad_enabled(train_generator):
            loss_mse = self.criterion(stacks if stacks is not None else output, target, target_weight)
            pred = output_to_heatmap(output, self.loss_type)  # (B, J, h, w), heatmap values
            # Spec 5.1: D sees clamp(pred, 0, 1). The clamp also zeroes G's adversarial gradient wherever pred is
            # outside [0, 1]; kept on purpose: D must not key on negative noise.
            fake = pred.clamp(0.0, 1.0)
        check_finite({"loss_mse": loss_mse}, "generator forward")
        batch_size, num_joints = pred.shape[:2]
        mask = joint_mask(target_weight, batch_size, num_joints)  # (B, J)
        if self.kappa is None and pck_radius_hm is None:
            self.kappa = joint_kappa(num_joints)
        p_fake, c_fake = adversarial_labels(
            pred, target, target_weight, joints_hm, area_hm, self.tau_p, self.eps_c, self.kappa, pck_radius_hm
        )
        real = composite_real(pred, target, target_weight)
        image_small = downsample_image(images, pred.shape[-2:]) if self.pose_disc is not None else None

        stats = {
            "loss_mse": loss_mse.item(),
            "fake_pos_rate_pose": _masked_mean(p_fake, mask),
            "fake_pos_rate_conf": _masked_mean(c_fake, mask),
        }

        # 2. Discriminator step on detached fakes and composite reals; G gets no gradient from here.
        fake_logits = self._discriminator_step(image_small, real, fake.detach(), p_fake, c_fake, mask, stats)

        # 3. Generator step against the just-updated, frozen discriminators.
        if train_generator:
            self._generator_step(output, loss_mse, image_small, fake, mask, ramp, measure_grad_ratio, stats)
        else:
            # Warm-up: report how G fares against D (before its update) without extra forwards.
            stats["loss_adv_pose"] = masked_bce(fake_logits["pose"], 1.0, mask).item() if "pose" in fake_logits else 0.0
            stats["loss_adv_conf"] = masked_bce(fake_logits["conf"], 1.0, mask).item() if "conf" in fake_logits else 0.0
            stats["grad_ratio"] = math.nan
        return stats

    def _discriminator_step(self, image_small, real, fake, p_fake, c_fake, mask, stats):
        """D update. Returns the detached fake logits per discriminator (for warm-up logging)."""
        discs = self.discriminators()
        was_training = [d.training for d in discs]
        for d in discs:
            d.train()
            d.requires_grad_(True)
        # R1 differentiates D's real logits w.r.t. the real heatmaps (what G competes on; the image is conditioning).
        real_in = real.requires_grad_(True) if self.r1_gamma > 0 else real
        batch_size = real.shape[0]
        losses, fake_logits, r1_terms = {}, {}, []
        # Reals and fakes go through D in one batch: one forward, one spectral-norm power iteration, and no
        # BatchNorm in D so the two halves cannot see each other.
        runs = (
            ("pose", self.pose_disc, p_fake,
             lambda maps: self.pose_disc(torch.cat([image_small, image_small]), maps)),
            ("conf", self.conf_disc, c_fake, lambda maps: self.conf_disc(maps)),
        )
        with self._autocast():
            for name, disc, labels, run in runs:
                if disc is None:
                    continue
                logits = run(torch.cat([real_in, fake])).float()  # (2B, J)
                logits_real, logits_fake = logits[:batch_size], logits[batch_size:]
                # One-sided smoothing on every positive target of D (real joints and correct fakes alike, so
                # "correct" means the same target whichever side it comes from); G always aims at 1.
                losses[f"loss_d_{name}"] = masked_bce(logits_real, self.label_smooth, mask) + balanced_bce(
                    logits_fake, labels, mask, self.balance_max, positive_target=self.label_smooth
                )
                fake_logits[name] = logits_fake.detach()
                if self.r1_gamma > 0:
                    r1_terms.append((logits_real * mask).sum())
                stats[f"d_acc_real_{name}"] = _masked_mean((logits_real > 0).float(), mask)
                stats[f"d_acc_fake_{name}"] = _balanced_accuracy(logits_fake, labels, mask)
                stats[f"d_real_prob_{name}"] = _masked_mean(torch.sigmoid(logits_real.detach()), mask)
        loss_d = sum(losses.values())
        loss_r1 = torch.zeros((), device=real.device)
        if self.r1_gamma > 0:
            # R1 = gamma/2 * E_batch ||d sum_j D_j(real) / d real||^2; under AMP the gradient is taken on the
            # scaled sum (fp16 underflow) and unscaled afterwards.
            scale = self.d_scaler.get_scale() if self.d_scaler is not None and self.d_scaler.is_enabled() else 1.0
            (grad_real,) = torch.autograd.grad(sum(r1_terms) * scale, real_in, create_graph=True)
            grad_real = grad_real.float() / scale
            loss_r1 = 0.5 * self.r1_gamma * grad_real.pow(2).sum(dim=(1, 2, 3)).mean()
            loss_d = loss_d + loss_r1
            real.requires_grad_(False)
        check_finite({**losses, "loss_r1": loss_r1}, "discriminator")
        self.d_optimizer.zero_grad(set_to_none=True)
        optimizer_step(loss_d, self.d_optimizer, self._disc_params(), self.d_scaler, self.d_clip_grad_norm)
        for d, flag in zip(discs, was_training):
            d.train(flag)

        stats["loss_d_pose"] = losses["loss_d_pose"].item() if "loss_d_pose" in losses else 0.0
        stats["loss_d_conf"] = losses["loss_d_conf"].item() if "loss_d_conf" in losses else 0.0
        stats["loss_r1"] = loss_r1.item()
        for key in ("d_acc_real", "d_acc_fake"):
            values = [stats[f"{key}_{n}"] for n in fake_logits if not math.isnan(stats[f"{key}_{n}"])]
            stats[key] = sum(values) / len(values) if values else math.nan
        return fake_logits

    def _generator_step(self, output, loss_mse, image_small, fake, mask, ramp, measure_grad_ratio, stats):
        """G update against the unwrapped, frozen, eval-mode discriminators."""
        pose_disc = dist.unwrap(self.pose_disc) if self.pose_disc is not None else None
        conf_disc = dist.unwrap(self.conf_disc) if self.conf_disc is not None else None
        with frozen(pose_disc, conf_disc):
            terms = {}
            runs = (
                ("pose", pose_disc, self.lambda_p, lambda: pose_disc(image_small, fake)),
                ("conf", conf_disc, self.lambda_c, lambda: conf_disc(fake)),
            )
            weighted_adv = torch.zeros((), device=output.device)
            for name, disc, lam, run in runs:
                if disc is None:
                    terms[f"loss_adv_{name}"] = torch.zeros((), device=output.device)
                    continue
                weight = ramp * lam
                # With a zero weight the term is only logged: keeping it out of the graph makes lambda = 0 (or
                # ramp = 0) give exactly the pure trainer's gradients and saves D's backward.
                with self._autocast(), torch.set_grad_enabled(weight != 0.0):
                    # Non-saturating generator loss: every labelled joint toward 1, no smoothing.
                    term = masked_bce(run().float(), 1.0, mask)
                terms[f"loss_adv_{name}"] = term
                if weight != 0.0:
                    weighted_adv = weighted_adv + weight * term
            check_finite({"loss_mse": loss_mse, **terms}, "generator")
            loss_g = loss_mse + weighted_adv

            stats["grad_ratio"] = math.nan
            if measure_grad_ratio:
                stats["grad_ratio"] = self._grad_ratio(output, loss_mse, weighted_adv)
            self.g_optimizer.zero_grad(set_to_none=True)
            optimizer_step(loss_g, self.g_optimizer, list(self.generator.parameters()), self.g_scaler,
                           self.clip_grad_norm)
        stats["loss_adv_pose"] = terms["loss_adv_pose"].item()
        stats["loss_adv_conf"] = terms["loss_adv_conf"].item()

    # ---- the shared epoch loop's interface (lib.core.trainer.train_one_epoch) ----
    trainer = "adversarial"
    main_loss = "loss_mse"
    progress_keys = ("loss_mse", "loss_d_pose", "loss_d_conf")

    def start_epoch(self, epoch, num_iters, dataset):
        """Epochs < GAN.WARMUP_EPOCHS train the discriminators only (generator frozen); afterwards the generator's
        adversarial weight ramps over GAN.RAMP_EPOCHS epochs. Returns the progress bar's suffix."""
        self.epoch, self.num_iters = epoch, num_iters
        self.warmup = epoch < self.warmup_epochs
        self.ramp_iters = int(round(self.ramp_epochs * num_iters))
        self.ramp = 0.0
        # Datasets without OKS constants label P's fakes PCK-style (lib.core.adversarial_labels).
        self.pck_alpha = self.pck_alpha_cfg or float(getattr(dataset, "pck_label_threshold", 0.0))
        self.dataset_name = type(dataset).__name__
        if hasattr(dataset, "pck_label_threshold") or self.pck_alpha_cfg:
            logger.info("epoch %d: Pose Discriminator labels PCK-style, correct within %g x the PCK normaliser",
                        epoch, self.pck_alpha)
        self.generator.train()
        for disc in self.discriminators():
            disc.train()
        return " (D warm-up)" if self.warmup else ""

    @property
    def generator_stepped(self):
        """Whether the last train_batch updated the generator (the EMA follows only then)."""
        return not self.warmup

    def train_batch(self, images, target, target_weight, meta, iteration):
        """One iteration on a batch already on the device; returns its stats (AdversarialStep.__call__)."""
        device = images.device
        joints_hm = meta["joints_hm"].to(device)
        area_hm = meta["area_hm"].to(device=device, dtype=torch.float32)
        extra = ()
        if "pck_norm_hm" in meta:
            if self.pck_alpha <= 0:
                raise ValueError(f"GAN.PCK_ALPHA={self.pck_alpha_cfg} and {self.dataset_name} has no "
                                 "pck_label_threshold: set GAN.PCK_ALPHA > 0 for its PCK-style labels")
            extra = (self.pck_alpha * meta["pck_norm_hm"].to(device=device, dtype=torch.float32),)
        adv_iter = (self.epoch - self.warmup_epochs) * self.num_iters + iteration
        self.ramp = 0.0 if self.warmup else adversarial_ramp(adv_iter, self.ramp_iters)
        measure = (not self.warmup) and self.print_freq > 0 and iteration % self.print_freq == 0
        return self((images, target, target_weight, joints_hm, area_hm) + extra, self.ramp,
                    train_generator=not self.warmup, measure_grad_ratio=measure)

    def log_fields(self):
        """Shown after the losses in the periodic log line (and written to TensorBoard)."""
        return {"ramp": self.ramp}

    def epoch_fields(self):
        """Added to the epoch's record in metrics.jsonl."""
        return {"phase": "d_warmup" if self.warmup else "adversarial", "ramp": self.ramp}

    @property
    def optimizer(self):
        """The generator's optimizer: its LR is the one scheduled and logged."""
        return self.g_optimizer

    def checkpoint_parts(self):
        """What checkpoint.pth holds besides the scheduler and the EMA (lib.utils.checkpoint's keywords)."""
        return {"model": dist.unwrap(self.generator), "optimizer": self.g_optimizer, "scaler": self.g_scaler,
                "extra_modules": {"pose_disc": dist.unwrap(self.pose_disc) if self.pose_disc is not None else None,
                                  "conf_disc": dist.unwrap(self.conf_disc) if self.conf_disc is not None else None},
                "extra_optimizers": {"d_optimizer": self.d_optimizer, "d_scaler": self.d_scaler}}


    @staticmethod
    def _grad_ratio(output, loss_mse, weighted_adv):
        """||d(ramp * lambda * L_adv)/d output|| / ||d L_mse / d output|| (the signal lambda calibration reads)."""
        (grad_mse,) = torch.autograd.grad(loss_mse, output, retain_graph=True)
        if not weighted_adv.requires_grad:
            return 0.0
        (grad_adv,) = torch.autograd.grad(weighted_adv, output, retain_graph=True, allow_unused=True)
        adv_norm = 0.0 if grad_adv is None else grad_adv.float().norm().item()
        mse_norm = grad_mse.float().norm().item()
        return adv_norm / mse_norm if mse_norm > 0 else math.nan


def build_adversarial_models(cfg, device, init_from=""):
    """(generator, pose_disc, conf_disc) placed on `device`; the generator loaded from `init_from` when given.
    Either discriminator is None when the config switches it off. Models before data, as always: the same seed
    gives the same initial weights."""
    generator = build_train_generator(cfg)
    if init_from:
        ckpt.load_weights(generator, init_from, trusted_files=cfg.TRUSTED_PICKLE_FILES)
        logger.info("initialised the generator from %s", init_from)
    pose_disc, conf_disc = build_discriminators(cfg)
    generator = place_model(generator, cfg, device)
    pose_disc = place_model(pose_disc, cfg, device) if pose_disc is not None else None
    conf_disc = place_model(conf_disc, cfg, device) if conf_disc is not None else None
    return generator, pose_disc, conf_disc


def build_adversarial_step(cfg, device, models, num_iters):
    """The AdversarialStep over `models` (build_adversarial_models; under torchrun wrapped for DDP, the generator
    with SyncBatchNorm per MODEL.SYNC_BN: the discriminators have no BatchNorm) with its optimizers (LRs per
    lib.core.optim.lr_scale) and AMP scalers, and the generator's per-iteration LR schedule. Returns (step,
    scheduler)."""
    generator, pose_disc, conf_disc = models
    log_batch_rule(cfg)
    criterion = build_loss(cfg).to(device)
    g_optimizer = build_optimizer(cfg, generator.parameters())
    d_optimizer = build_d_optimizer(cfg, (pose_disc, conf_disc))
    scheduler = build_scheduler(cfg, g_optimizer, num_iters)
    use_amp = training_amp_enabled(cfg, device)  # fp16 on CUDA (with scalers), bf16 on a CPU that has it
    g_scaler = torch.amp.GradScaler("cuda") if use_amp and device.type == "cuda" else None
    d_scaler = torch.amp.GradScaler("cuda") if use_amp and device.type == "cuda" else None
    step = AdversarialStep(
        dist.wrap_ddp(generator, device, sync_bn=cfg.MODEL.SYNC_BN), dist.wrap_ddp(pose_disc, device),
        dist.wrap_ddp(conf_disc, device),
        g_optimizer, d_optimizer, criterion, cfg.GAN, loss_type=cfg.LOSS.TYPE, device_type=device.type,
        amp=use_amp, g_scaler=g_scaler, d_scaler=d_scaler, clip_grad_norm=cfg.TRAIN.CLIP_GRAD_NORM,
        print_freq=cfg.PRINT_FREQ)
    return step, scheduler
