"""Heatmap losses, selected by LOSS.TYPE.

'mse': HRNet's target-weighted MSE, 0.5 * mean over batch, joints and pixels of (w * (pred - gt))^2.
'bce': per-pixel binary cross-entropy on logits with target pixels up-weighted, as the Adversarial-Pose-Estimation
project used because plain MSE trained slowly on sparse Gaussian targets. Its network output is a logit map, so
`output_to_heatmap` applies the sigmoid wherever the output is read as a heatmap (evaluation, discriminators).
Two weightings (LOSS.BCE_WEIGHTING): 'fixed', pixel weight 1 + (BCE_POS_WEIGHT - 1) * target; 'balanced', that
project's positive/negative-balanced form ('bce_skew'): the positive pixels weigh n_negative / n_positive of the batch,
so positives and negatives carry equal total weight. Its positives were target > 0; our codec draws the Gaussian over
the whole grid, where "> 0" is nearly every pixel, so a positive here is a pixel within 3 sigma of the peak
(target >= exp(-4.5), BALANCED_POSITIVE_LEVEL), of a labelled joint.

Stacked generators (MODEL.NAME hourglass) return one output per stack in training mode; every loss here accepts such
a list and sums the per-stack losses (intermediate supervision: each stack gets the full loss, so the last stack's
gradient, the one the discriminators' terms are calibrated against, is the same as a single-output model's).
`final_output` picks the last stack wherever one output is wanted.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _joint_weight(target_weight, use_target_weight):
    """(B, K) or (B, K, 1) weights -> (B, K, 1, 1), or 1.0 when unused."""
    if not use_target_weight:
        return 1.0
    return target_weight.reshape(target_weight.shape[0], target_weight.shape[1], 1, 1)


BCE_WEIGHTINGS = ("fixed", "balanced")
BALANCED_POSITIVE_LEVEL = math.exp(-4.5)  # a unit-peak Gaussian's value at 3 sigma


def final_output(output):
    """The output one reads as the prediction: the last stack's for a list (stacked generator in training mode),
    else the output itself."""
    return output[-1] if isinstance(output, (list, tuple)) else output


class _StackableLoss(nn.Module):
    """forward(output, target, target_weight) on one (B, K, H, W) output, or the sum over a list of them."""

    def forward(self, output, target, target_weight):
        if isinstance(output, (list, tuple)):
            if not output:
                raise ValueError(f"{type(self).__name__}: got an empty list of stack outputs")
            return sum(self.single(o.float(), target, target_weight) for o in output)
        return self.single(output.float(), target, target_weight)


class JointsMSELoss(_StackableLoss):
    def __init__(self, use_target_weight=True):
        super().__init__()
        self.use_target_weight = use_target_weight

    def single(self, output, target, target_weight):
        """output, target: (B, K, H, W); target_weight: (B, K) or (B, K, 1). Returns a scalar."""
        weight = _joint_weight(target_weight, self.use_target_weight)
        return 0.5 * ((output - target) * weight).pow(2).mean()


class JointsWeightedBCELoss(_StackableLoss):
    """Weighted BCE on logits; weighting 'fixed' (pos_weight) or 'balanced' (see the module docstring)."""

    def __init__(self, use_target_weight=True, pos_weight=10.0, weighting="fixed"):
        super().__init__()
        if weighting not in BCE_WEIGHTINGS:
            raise ValueError(f"BCE weighting {weighting!r} (LOSS.BCE_WEIGHTING) is not one of {BCE_WEIGHTINGS}")
        self.use_target_weight = use_target_weight
        self.pos_weight = pos_weight
        self.weighting = weighting

    def pixel_weight(self, target, target_weight):
        """(B, K, H, W) per-pixel weights (no gradient)."""
        if self.weighting == "fixed":
            return 1.0 + (self.pos_weight - 1.0) * target
        with torch.no_grad():
            labelled = torch.ones_like(target, dtype=torch.bool)
            if self.use_target_weight:
                labelled = (_joint_weight(target_weight, True) > 0).expand_as(target)
            positive = (target >= BALANCED_POSITIVE_LEVEL) & labelled
            n_positive = positive.sum()
            ratio = (labelled.sum() - n_positive).float() / n_positive.clamp_min(1).float()
            return torch.where(positive, ratio.clamp_min(1.0), torch.ones_like(target))

    def single(self, output, target, target_weight):
        """output: logits (B, K, H, W); target in [0, 1]; target_weight: (B, K) or (B, K, 1)."""
        pixel_weight = self.pixel_weight(target, target_weight)
        loss = F.binary_cross_entropy_with_logits(output, target, weight=pixel_weight, reduction="none")
        return (loss * _joint_weight(target_weight, self.use_target_weight)).mean()


def build_loss(cfg):
    if cfg.LOSS.TYPE == "mse":
        return JointsMSELoss(cfg.LOSS.USE_TARGET_WEIGHT)
    if cfg.LOSS.TYPE == "bce":
        return JointsWeightedBCELoss(cfg.LOSS.USE_TARGET_WEIGHT, cfg.LOSS.BCE_POS_WEIGHT, cfg.LOSS.BCE_WEIGHTING)
    raise ValueError(f"LOSS.TYPE={cfg.LOSS.TYPE!r} is not one of ('mse', 'bce')")


def output_to_heatmap(output, loss_type):
    """The network output read as heatmaps: unchanged for 'mse', sigmoid of the logits for 'bce'."""
    return torch.sigmoid(output) if loss_type == "bce" else output


def bce_prior_logit(heatmap_size, sigma, pos_weight, weighting="fixed"):
    """The constant logit that minimises the weighted BCE on a one-Gaussian target map: the starting bias of the
    output conv for LOSS.TYPE 'bce' (as focal-loss detectors start from the class prior). Starting at sigmoid(0) =
    0.5 everywhere, the first few hundred iterations only learn to darken the background.

    The optimal constant is sum(w t) / sum(w). A unit-peak Gaussian holds 2*pi*sigma^2 of target mass and
    pi*sigma^2 of squared mass, so with pixel weights 1 + (pos_weight - 1) * t ('fixed') it is closed-form. For
    'balanced' the positives are the disc of radius 3 sigma (area 9 pi sigma^2, holding all but exp(-4.5) of the
    mass), weighted by (N - area) / area.
    """
    width, height = heatmap_size
    mass, squared = 2.0 * math.pi * sigma**2, math.pi * sigma**2
    if weighting == "balanced":
        pixels, area = width * height, min(9.0 * math.pi * sigma**2, 0.5 * width * height)
        inside, outside = mass * (1.0 - BALANCED_POSITIVE_LEVEL), mass * BALANCED_POSITIVE_LEVEL
        ratio = max((pixels - area) / area, 1.0)
        p = (ratio * inside + outside) / (ratio * area + pixels - area)
    elif weighting == "fixed":
        p = (mass + (pos_weight - 1.0) * squared) / (width * height + (pos_weight - 1.0) * mass)
    else:
        raise ValueError(f"BCE weighting {weighting!r} (LOSS.BCE_WEIGHTING) is not one of {BCE_WEIGHTINGS}")
    p = min(max(p, 1e-4), 0.5)
    return math.log(p / (1.0 - p))


# ------------------------------------------------------------------------------------------------------------------
# The discriminators' per-joint BCE terms (adversarial training)
# ------------------------------------------------------------------------------------------------------------------
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
    [1, balance_max], so a strong generator's mostly-correct fakes do not teach D "always 1".

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


class NonFiniteLoss(FloatingPointError):
    """A loss term is NaN or infinite; the training loop adds the epoch and iteration to the message."""


def check_finite(losses, where=""):
    """Raises NonFiniteLoss naming every term (and `where`: which step) if any of `losses` (name -> tensor or
    float) is not finite. Called before the optimizer steps, so no NaN reaches the weights."""
    values = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in losses.items()}
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        terms = ", ".join(f"{k}={v:.6g}" for k, v in values.items())
        raise NonFiniteLoss(f"{', '.join(bad)} not finite{' in the ' + where + ' step' if where else ''} ({terms})")
