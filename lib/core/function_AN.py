"""Adversarial training of the generator against the Pose and Confidence Discriminators: labels, losses, one step.

Provenance: shared design adversarial-design.md, section 5 (5.1 tensors, 5.4 labels, 5.5 losses, 5.6 the training
step); section 4.3-4.8 give the reasons (clamped fakes, composite reals, per-joint masks, OKS-based labels,
balanced fake term, non-saturating generator term). The epoch loop is added to this module by the trainer.

The Pose Discriminator's per-joint "correct" label of a fake joint:
  * COCO-format data: the joint's OKS term exp(-d^2 / (2 A kappa^2)) >= GAN.TAU_P (spec 5.4).
  * datasets without OKS constants (LSP, MPII: they give a PCK normaliser, meta["pck_norm_hm"]): PCK-style,
    d <= alpha x normaliser, with alpha = GAN.PCK_ALPHA or the dataset's evaluation threshold (LSP: 0.2 x torso,
    MPII: 0.5 x head size; `pck_label_threshold`). So the label means what the benchmark scores, as the paper's
    "normalized distance" and the Adversarial-Pose-Estimation LSP code's PCK@0.2 labels did, instead of borrowing
    COCO's constants for joints COCO does not have.
Stacked generators (hourglass) return every stack's output in training mode: all of them get the heatmap loss
(intermediate supervision); the last stack's heatmaps are the prediction, and both discriminators see only those.
"""
import logging
import math

import torch
import torch.nn.functional as F

from lib.codec import argmax_decode
from lib.core.loss import final_output, output_to_heatmap
from lib.dataset.coco import COCO_SIGMAS
from lib.models.discriminator import downsample_image
from lib.utils import dist

logger = logging.getLogger(__name__)

__all__ = [
    "COCO_SIGMAS",
    "COCO_KAPPA",
    "MPII_KAPPA",
    "joint_kappa",
    "label_scores",
    "adversarial_labels",
    "pck_correct",
    "composite_real",
    "masked_bce",
    "balanced_bce",
    "AdversarialStep",
]

# OKS uses kappa = 2 * sigma: ks = exp(-d^2 / (2 s^2 kappa^2)) (spec 5.4).
COCO_KAPPA = tuple(2.0 * float(s) for s in COCO_SIGMAS)

# MPII has no OKS constants. We give each MPII joint the COCO kappa of the same body part, so that P's labels mean
# the same thing ("within the annotators' spread for this kind of joint") on both datasets. The four MPII joints
# without a COCO counterpart borrow the nearest part: pelvis -> hip (torso point, similarly ill-defined), thorax and
# upper neck -> shoulder (points on the shoulder line), head top -> ear (a head point, small spread).
# Order: r/l ankle..hip, pelvis, thorax, upper neck, head top, r wrist..shoulder, l shoulder..wrist.
_ANKLE, _KNEE, _HIP, _WRIST, _ELBOW, _SHOULDER, _EAR = (
    COCO_KAPPA[15], COCO_KAPPA[13], COCO_KAPPA[11], COCO_KAPPA[9], COCO_KAPPA[7], COCO_KAPPA[5], COCO_KAPPA[3],
)
MPII_KAPPA = (
    _ANKLE, _KNEE, _HIP, _HIP, _KNEE, _ANKLE,  # r ankle, r knee, r hip, l hip, l knee, l ankle
    _HIP, _SHOULDER, _SHOULDER, _EAR,  # pelvis, thorax, upper neck, head top
    _WRIST, _ELBOW, _SHOULDER, _SHOULDER, _ELBOW, _WRIST,  # r wrist, r elbow, r shoulder, l shoulder, l elbow, l wrist
)

_KAPPA_BY_NUM_JOINTS = {17: COCO_KAPPA, 16: MPII_KAPPA}

# Guards against 0/0 in the labels; any labelled joint has a Gaussian target and an area far above these.
_MIN_AREA_HM = 1e-6  # heatmap px^2
_MIN_TARGET_ENERGY = 1e-12


def joint_kappa(num_joints):
    """Per-joint OKS constants kappa_j = 2 sigma_j for COCO (17 joints) or MPII (16 joints, see MPII_KAPPA).

    Returns:
        tuple of num_joints floats.
    """
    if num_joints not in _KAPPA_BY_NUM_JOINTS:
        raise ValueError(
            f"no OKS constants for num_joints={num_joints}; expected one of {sorted(_KAPPA_BY_NUM_JOINTS)} "
            "(17 COCO, 16 MPII) or pass kappa explicitly"
        )
    return _KAPPA_BY_NUM_JOINTS[num_joints]


def _joint_mask(target_weight, batch, num_joints):
    """(B, J) or (B, J, 1) target weights -> (B, J) float mask, 1 where the joint is labelled."""
    if target_weight.numel() != batch * num_joints:
        raise ValueError(
            f"target_weight of shape {tuple(target_weight.shape)} does not fit (B, J) = ({batch}, {num_joints})"
        )
    return (target_weight.reshape(batch, num_joints) > 0).float()


@torch.no_grad()
def label_scores(pred, target, joints_hm, area_hm, kappa):
    """The two per-joint scores behind the fake labels (spec 5.4), without thresholds.

    Args:
        pred: (B, J, H, W) predicted heatmaps (values read as heatmaps, before clamping).
        target: (B, J, H, W) ground-truth Gaussian heatmaps.
        joints_hm: (B, J, 2) ground-truth joints in heatmap pixels, (x, y).
        area_hm: (B,) object area in heatmap pixels^2.
        kappa: J per-joint OKS constants (sequence or tensor).
    Returns:
        ks: (B, J) OKS term exp(-d^2 / (2 A kappa^2)) of the argmax + quarter-pixel decoded prediction.
        rel_err: (B, J) ||clamp(pred, 0, 1) - target||^2 / ||target||^2 (huge where the target is empty).
    """
    if pred.dim() != 4 or pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be (B, J, H, W)")
    batch, num_joints = pred.shape[:2]
    if joints_hm.shape != (batch, num_joints, 2):
        raise ValueError(f"joints_hm has shape {tuple(joints_hm.shape)}, expected ({batch}, {num_joints}, 2)")
    if area_hm.numel() != batch:
        raise ValueError(f"area_hm has shape {tuple(area_hm.shape)}, expected ({batch},)")
    kappa = torch.as_tensor(kappa, dtype=torch.float32, device=pred.device).flatten()
    if kappa.numel() != num_joints:
        raise ValueError(f"kappa has {kappa.numel()} values, expected one per joint ({num_joints})")
    pred, target = pred.float(), target.float()

    # Same decoder as evaluation without DARK or flip (spec 5.4), so the label tracks what is scored.
    coords, _ = argmax_decode(pred)  # (B, J, 2) heatmap px
    dist_sq = (coords.float() - joints_hm.float()).pow(2).sum(dim=-1)  # (B, J)
    area = area_hm.reshape(batch, 1).float().clamp_min(_MIN_AREA_HM)
    ks = torch.exp(-dist_sq / (2.0 * area * kappa.pow(2)))
    return ks, relative_map_error(pred, target)


@torch.no_grad()
def relative_map_error(pred, target):
    """(B, J) ||clamp(pred, 0, 1) - target||^2 / ||target||^2 (huge where the target is empty): C's label score."""
    pred, target = pred.float(), target.float()
    err = (pred.clamp(0.0, 1.0) - target).pow(2).sum(dim=(2, 3))
    energy = target.pow(2).sum(dim=(2, 3))
    return err / energy.clamp_min(_MIN_TARGET_ENERGY)


@torch.no_grad()
def pck_correct(pred, joints_hm, radius_hm):
    """(B, J) 0/1: the argmax + quarter-pixel decoded joint (the evaluation decoder without DARK or flip, as the OKS
    labels) lies within `radius_hm` (B,) heatmap px (alpha x the PCK normaliser) of the ground truth."""
    batch, num_joints = pred.shape[:2]
    if joints_hm.shape != (batch, num_joints, 2):
        raise ValueError(f"joints_hm has shape {tuple(joints_hm.shape)}, expected ({batch}, {num_joints}, 2)")
    if radius_hm.numel() != batch:
        raise ValueError(f"PCK radius has shape {tuple(radius_hm.shape)}, expected ({batch},)")
    coords, _ = argmax_decode(pred.float())
    distance = (coords.float() - joints_hm.float()).norm(dim=-1)
    return (distance <= radius_hm.reshape(batch, 1).float()).float()


@torch.no_grad()
def adversarial_labels(pred, target, target_weight, joints_hm, area_hm, tau_p, eps_c, kappa, pck_radius_hm=None):
    """Per-joint labels of the fake samples for P and C (spec 5.4); the labels of weight-0 joints are arbitrary
    (every loss masks them out). With `pck_radius_hm` (B,) (datasets without OKS constants) P's label is
    pck_correct instead of the OKS rule, and area_hm, tau_p and kappa are not used.

    Args:
        pred: (B, J, H, W) predicted heatmaps; target: (B, J, H, W) GT heatmaps.
        target_weight: (B, J) or (B, J, 1); only checked for shape here.
        joints_hm: (B, J, 2) GT joints in heatmap px (x, y); area_hm: (B,) object area in heatmap px^2.
        tau_p: P's threshold on the OKS term (ks >= tau_p is correct).
        eps_c: C's threshold on the relative map error (r < eps_c is confident).
        kappa: J per-joint OKS constants (`joint_kappa`).
    Returns:
        p_fake, c_fake: (B, J) float tensors of 0/1.
    """
    _joint_mask(target_weight, pred.shape[0], pred.shape[1])
    if pck_radius_hm is not None:
        if pred.dim() != 4 or pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be (B, J, H, W)")
        return pck_correct(pred, joints_hm, pck_radius_hm), (relative_map_error(pred, target) < eps_c).float()
    ks, rel_err = label_scores(pred, target, joints_hm, area_hm, kappa)
    return (ks >= tau_p).float(), (rel_err < eps_c).float()


def composite_real(pred, target, target_weight):
    """The real input maps (spec 4.4b / 5.1): GT where the joint is labelled, the detached clamped prediction where it
    is not, so an empty channel cannot mark a sample as real.

    Args:
        pred: (B, J, H, W) predicted heatmaps; target: (B, J, H, W) GT heatmaps; target_weight: (B, J) or (B, J, 1).
    Returns:
        (B, J, H, W) detached tensor.
    """
    mask = _joint_mask(target_weight, pred.shape[0], pred.shape[1])[:, :, None, None].bool()
    return torch.where(mask, target.to(pred.dtype), pred.detach().clamp(0.0, 1.0)).detach()


def masked_bce(logits, target_value, mask):
    """BCE-with-logits toward one value (or a (B, J) target), mean over the masked (B, J) entries.

    Args:
        logits: (B, J); target_value: float or (B, J) tensor; mask: (B, J) of 0/1.
    Returns:
        scalar; 0 (still attached to `logits`) when the mask is empty.
    """
    logits = logits.float()
    target = torch.as_tensor(target_value, dtype=logits.dtype, device=logits.device).expand_as(logits)
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    # where(), not a product: a non-finite logit at a masked joint must not leak in as NaN * 0.
    return torch.where(mask > 0, loss * mask, torch.zeros_like(loss)).sum() / mask.sum().clamp_min(1.0)


def balanced_bce(logits, labels, mask, balance_max, positive_target=1.0):
    """BCE on per-joint 0/1 labels with the negatives up-weighted by n_pos / n_neg of the masked batch, clamped to
    [1, balance_max] (spec 5.5), so a strong generator's mostly-correct fakes do not teach D "always 1" (spec 4.7).

    Args:
        logits: (B, J); labels: (B, J) of 0/1; mask: (B, J) of 0/1.
        balance_max: upper bound of the negative weight (>= 1).
        positive_target: the BCE target of positive labels (label smoothing, <= 1).
    Returns:
        scalar, mean over the masked entries (not over the weights, so the up-weighting raises the negatives' share).
    """
    if balance_max < 1.0:
        raise ValueError(f"balance_max={balance_max} must be >= 1")
    logits, labels = logits.float(), labels.float()
    positives = labels * mask
    negatives = (1.0 - labels) * mask
    n_pos, n_neg = positives.sum(), negatives.sum()
    neg_weight = (n_pos / n_neg.clamp_min(1.0)).clamp(1.0, balance_max)
    loss = F.binary_cross_entropy_with_logits(logits, labels * positive_target, reduction="none")
    weighted = torch.where(mask > 0, loss * (positives + neg_weight * negatives), torch.zeros_like(loss))
    return weighted.sum() / mask.sum().clamp_min(1.0)


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


class AdversarialStep:
    """One iteration of spec 5.6: one generator forward, a discriminator step, then a generator step.

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
    """

    def __init__(self, generator, pose_disc, conf_disc, g_optimizer, d_optimizer, criterion, gan_cfg, kappa=None,
                 loss_type="mse", device_type="cpu", amp=False, g_scaler=None, d_scaler=None, clip_grad_norm=0.0,
                 d_clip_grad_norm=0.0):
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

    def _autocast(self):
        return torch.autocast(self.device_type, enabled=self.amp)

    def discriminators(self):
        """The present discriminators, as given (possibly DDP-wrapped)."""
        return [d for d in (self.pose_disc, self.conf_disc) if d is not None]

    def _disc_params(self):
        return [p for d in self.discriminators() for p in d.parameters()]

    def _step(self, loss, optimizer, params, scaler, max_norm):
        """Backward, optional clipping (on unscaled gradients), optimizer step."""
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

    @staticmethod
    def _check_finite(where, losses):
        values = {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for k, v in losses.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            text = ", ".join(f"{k}={v:.6g}" for k, v in values.items())
            raise FloatingPointError(f"non-finite loss in the {where} step: {bad} ({text})")

    def __call__(self, batch, ramp, train_generator=True, measure_grad_ratio=False):
        """Runs one iteration.

        Args:
            batch: (images (B, 3, H, W), target (B, J, h, w), target_weight (B, J) or (B, J, 1),
                joints_hm (B, J, 2) GT joints in heatmap px (x, y), area_hm (B,) object area in heatmap px^2
                [, pck_radius_hm (B,): P's correctness radius in heatmap px, for datasets without OKS constants]),
                all on the training device.
            ramp: factor in [0, 1] on the generator's adversarial terms (spec 5.5 ramp).
            train_generator: False in the D warm-up (spec 5.7 phase 1): G forward under no_grad in the mode the
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
            # outside [0, 1]; that is the spec's choice (D must not key on negative noise), kept on purpose.
            fake = pred.clamp(0.0, 1.0)
        self._check_finite("generator forward", {"loss_mse": loss_mse})
        batch_size, num_joints = pred.shape[:2]
        mask = _joint_mask(target_weight, batch_size, num_joints)  # (B, J)
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
        """D update (spec 5.6 step 2). Returns the detached fake logits per discriminator (for warm-up logging)."""
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
        self._check_finite("discriminator", {**losses, "loss_r1": loss_r1})
        self.d_optimizer.zero_grad(set_to_none=True)
        self._step(loss_d, self.d_optimizer, self._disc_params(), self.d_scaler, self.d_clip_grad_norm)
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
        """G update (spec 5.6 step 3) against the unwrapped, frozen, eval-mode discriminators."""
        discs = [dist.unwrap(d) for d in self.discriminators()]
        was_training = [d.training for d in discs]
        requires = [[p.requires_grad for p in d.parameters()] for d in discs]
        try:
            for d in discs:
                d.eval()
                d.requires_grad_(False)
            pose_disc = dist.unwrap(self.pose_disc) if self.pose_disc is not None else None
            conf_disc = dist.unwrap(self.conf_disc) if self.conf_disc is not None else None
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
                    # Non-saturating generator loss: every labelled joint toward 1, no smoothing (spec 5.5).
                    term = masked_bce(run().float(), 1.0, mask)
                terms[f"loss_adv_{name}"] = term
                if weight != 0.0:
                    weighted_adv = weighted_adv + weight * term
            self._check_finite("generator", {"loss_mse": loss_mse, **terms})
            loss_g = loss_mse + weighted_adv

            stats["grad_ratio"] = math.nan
            if measure_grad_ratio:
                stats["grad_ratio"] = self._grad_ratio(output, loss_mse, weighted_adv)
            self.g_optimizer.zero_grad(set_to_none=True)
            self._step(loss_g, self.g_optimizer, list(self.generator.parameters()), self.g_scaler,
                       self.clip_grad_norm)
        finally:
            for d, flag, flags in zip(discs, was_training, requires):
                d.train(flag)
                for p, req in zip(d.parameters(), flags):
                    p.requires_grad_(req)
        stats["loss_adv_pose"] = terms["loss_adv_pose"].item()
        stats["loss_adv_conf"] = terms["loss_adv_conf"].item()

    @staticmethod
    def _grad_ratio(output, loss_mse, weighted_adv):
        """||d(ramp * lambda * L_adv)/d output|| / ||d L_mse / d output|| (spec 5.5 calibration signal)."""
        (grad_mse,) = torch.autograd.grad(loss_mse, output, retain_graph=True)
        if not weighted_adv.requires_grad:
            return 0.0
        (grad_adv,) = torch.autograd.grad(weighted_adv, output, retain_graph=True, allow_unused=True)
        adv_norm = 0.0 if grad_adv is None else grad_adv.float().norm().item()
        mse_norm = grad_mse.float().norm().item()
        return adv_norm / mse_norm if mse_norm > 0 else math.nan


# ------------------------------------------------------------------------------------------------------------------
# The epoch loop (the pure trainer's structure; validation is lib.core.function.validate, unchanged).
# ------------------------------------------------------------------------------------------------------------------
def adversarial_ramp(iteration, ramp_iters):
    """Linear 0 -> 1 over `ramp_iters` adversarial iterations (spec 5.5); 1 when the ramp is off."""
    if ramp_iters <= 0:
        return 1.0
    return min(1.0, iteration / float(ramp_iters))


def train_adversarial_epoch(cfg, loader, step, scheduler, epoch, device, num_iters, writer=None, ema=None):
    """One epoch of AdversarialStep iterations. `ema` (lib.core.ema.ModelEMA or None) follows every generator step.

    Epochs < GAN.WARMUP_EPOCHS train the discriminators only (generator frozen, spec 5.7 phase 1); afterwards the
    generator's adversarial weight ramps over GAN.RAMP_EPOCHS epochs. The generator's LR schedule advances every
    iteration, in warm-up too, so its milestones mean the same epochs as in the pure trainer.

    Returns:
        dict of epoch means of every logged term, plus 'lr', 'seconds', 'images_per_s', 'phase', 'ramp',
        'iterations'.
    """
    import time
    import warnings

    from tqdm import tqdm

    from lib.core.function import AverageMeter, to_device

    warmup = epoch < cfg.GAN.WARMUP_EPOCHS
    ramp_iters = int(round(cfg.GAN.RAMP_EPOCHS * num_iters))
    # Datasets without OKS constants label P's fakes PCK-style (module docstring).
    pck_alpha = cfg.GAN.PCK_ALPHA or float(getattr(loader.dataset, "pck_label_threshold", 0.0))
    if hasattr(loader.dataset, "pck_label_threshold") or cfg.GAN.PCK_ALPHA:
        logger.info("epoch %d: Pose Discriminator labels PCK-style, correct within %g x the PCK normaliser", epoch,
                    pck_alpha)
    step.generator.train()
    for disc in step.discriminators():
        disc.train()
    meters, start = {}, time.time()
    progress = tqdm(total=num_iters, desc=f"epoch {epoch}{' (D warm-up)' if warmup else ''}",
                    disable=not dist.is_main_process(), dynamic_ncols=True, mininterval=2.0)
    ramp = 0.0
    count = iterations = 0
    for i, batch in enumerate(loader):
        if i >= num_iters:
            break
        images, target, target_weight, meta = to_device(batch, device)
        joints_hm = meta["joints_hm"].to(device)
        area_hm = meta["area_hm"].to(device=device, dtype=torch.float32)
        extra = ()
        if "pck_norm_hm" in meta:
            if pck_alpha <= 0:
                raise ValueError(f"GAN.PCK_ALPHA={cfg.GAN.PCK_ALPHA} and {type(loader.dataset).__name__} has no "
                                 "pck_label_threshold: set GAN.PCK_ALPHA > 0 for its PCK-style labels")
            extra = (pck_alpha * meta["pck_norm_hm"].to(device=device, dtype=torch.float32),)
        adv_iter = (epoch - cfg.GAN.WARMUP_EPOCHS) * num_iters + i
        ramp = 0.0 if warmup else adversarial_ramp(adv_iter, ramp_iters)
        measure = (not warmup) and i % cfg.PRINT_FREQ == 0
        stats = step((images, target, target_weight, joints_hm, area_hm) + extra, ramp, train_generator=not warmup,
                     measure_grad_ratio=measure)
        with warnings.catch_warnings():  # warm-up steps the schedule without a generator step, on purpose
            warnings.simplefilter("ignore", UserWarning)
            scheduler.step()
        if ema is not None and not warmup:
            ema.update(dist.unwrap(step.generator))
        for key, value in stats.items():
            if isinstance(value, float) and math.isfinite(value):
                meters.setdefault(key, AverageMeter()).update(value, images.size(0))
        count += images.size(0)
        iterations = i + 1
        lr = step.g_optimizer.param_groups[0]["lr"]
        progress.set_postfix(mse=f"{stats['loss_mse']:.3g}", dP=f"{stats['loss_d_pose']:.3f}",
                             dC=f"{stats['loss_d_conf']:.3f}", ramp=f"{ramp:.2f}", refresh=False)
        progress.update(1)
        if i % cfg.PRINT_FREQ == 0 or i == num_iters - 1:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in stats.items() if isinstance(v, float) and math.isfinite(v))
            logger.info("epoch %d [%d/%d] %s | ramp %.3f lr %.3e", epoch, i, num_iters, shown, ramp, lr)
            if writer is not None:
                global_step = epoch * num_iters + i
                for key, value in stats.items():
                    if isinstance(value, float) and math.isfinite(value):
                        writer.add_scalar(f"train_AN/{key}", value, global_step)
                writer.add_scalar("train_AN/ramp", ramp, global_step)
                writer.add_scalar("train/lr", lr, global_step)
    progress.close()
    seconds = time.time() - start
    out = {key: dist.all_reduce_mean(m.avg) for key, m in sorted(meters.items())}
    out.update({"loss": out.get("loss_mse", float("nan")), "lr": step.g_optimizer.param_groups[0]["lr"],
                "seconds": seconds, "images_per_s": count * dist.get_world_size() / max(seconds, 1e-9),
                "phase": "d_warmup" if warmup else "adversarial", "ramp": ramp, "iterations": iterations})
    return out
