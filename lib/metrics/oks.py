"""The per-joint OKS term of the COCO keypoint metric, the one definition used by evaluation (per-visibility accuracy),
OKS-NMS and the adversarial Pose Discriminator's labels:

    ks_j = exp(-d_j^2 / (2 A kappa_j^2)),   kappa_j = 2 sigma_j (lib.dataset.keypoint_info)

with d_j the distance between two placements of joint j and A the person's area (its scale squared), in the same
pixels. Each caller computes d^2 and A its own way (a heatmap batch, an image's persons) and passes them in.

    ks = oks_per_joint(dist_sq, area, kappa)   # numpy arrays, or torch tensors on any device; broadcasting as given
"""
import numpy as np
import torch


def oks_per_joint(dist_sq, area, kappa):
    """Per-joint OKS term exp(-dist_sq / (2 area kappa^2)).

    Args:
        dist_sq: squared joint distances, e.g. (B, J) or (N, K).
        area: the person's area, broadcastable against dist_sq, e.g. (B, 1) or a number.
        kappa: per-joint constants (2 sigma), broadcastable against dist_sq, e.g. (J,).
    Returns:
        exp(-dist_sq / ((2 * area) * kappa**2)), a torch tensor when dist_sq is one (its dtype and device), else a
        numpy array. The operations run in this order in both libraries, so a caller gets the same floats as the
        expression written out in its own types.
    """
    exponent = -dist_sq / (2.0 * area * kappa ** 2)
    return torch.exp(exponent) if isinstance(exponent, torch.Tensor) else np.exp(exponent)
