"""Heatmap losses, selected by LOSS.TYPE.

'mse': HRNet's target-weighted MSE, 0.5 * mean over batch, joints and pixels of (w * (pred - gt))^2.
'bce': per-pixel binary cross-entropy on logits with target pixels up-weighted, as the Adversarial-Pose-Estimation
project used because plain MSE trained slowly on sparse Gaussian targets. Its network output is a logit map, so
`output_to_heatmap` applies the sigmoid wherever the output is read as a heatmap (evaluation, discriminators).
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


class JointsMSELoss(nn.Module):
    def __init__(self, use_target_weight=True):
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, output, target, target_weight):
        """output, target: (B, K, H, W); target_weight: (B, K) or (B, K, 1). Returns a scalar."""
        weight = _joint_weight(target_weight, self.use_target_weight)
        return 0.5 * ((output - target) * weight).pow(2).mean()


class JointsWeightedBCELoss(nn.Module):
    def __init__(self, use_target_weight=True, pos_weight=10.0):
        super().__init__()
        self.use_target_weight = use_target_weight
        self.pos_weight = pos_weight

    def forward(self, output, target, target_weight):
        """output: logits (B, K, H, W); target in [0, 1]; target_weight: (B, K) or (B, K, 1)."""
        pixel_weight = 1.0 + (self.pos_weight - 1.0) * target
        loss = F.binary_cross_entropy_with_logits(output, target, weight=pixel_weight, reduction="none")
        return (loss * _joint_weight(target_weight, self.use_target_weight)).mean()


def build_loss(cfg):
    if cfg.LOSS.TYPE == "mse":
        return JointsMSELoss(cfg.LOSS.USE_TARGET_WEIGHT)
    if cfg.LOSS.TYPE == "bce":
        return JointsWeightedBCELoss(cfg.LOSS.USE_TARGET_WEIGHT, cfg.LOSS.BCE_POS_WEIGHT)
    raise ValueError(f"LOSS.TYPE={cfg.LOSS.TYPE!r} is not one of ('mse', 'bce')")


def output_to_heatmap(output, loss_type):
    """The network output read as heatmaps: unchanged for 'mse', sigmoid of the logits for 'bce'."""
    return torch.sigmoid(output) if loss_type == "bce" else output


def bce_prior_logit(heatmap_size, sigma, pos_weight):
    """The constant logit that minimises the weighted BCE on a one-Gaussian target map: the starting bias of the
    output conv for LOSS.TYPE 'bce' (as focal-loss detectors start from the class prior). Starting at sigmoid(0) =
    0.5 everywhere, the first few hundred iterations only learn to darken the background.

    A unit-peak Gaussian holds 2*pi*sigma^2 of target mass and pi*sigma^2 of squared mass, so with pixel weights
    1 + (pos_weight - 1) * t the optimal constant is sum(w t) / sum(w).
    """
    width, height = heatmap_size
    mass, squared = 2.0 * math.pi * sigma**2, math.pi * sigma**2
    p = (mass + (pos_weight - 1.0) * squared) / (width * height + (pos_weight - 1.0) * mass)
    p = min(max(p, 1e-4), 0.5)
    return math.log(p / (1.0 - p))
