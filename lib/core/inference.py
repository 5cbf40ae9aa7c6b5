"""Test-time forward: the flip test lives here, once, for validation, tools/test.py, the demo and export checks.

The flipped input's heatmaps are mirrored back and their left/right channels swapped, then averaged with the plain
forward. With the codec's (size-1)/2 alignment a mirrored joint lands exactly on the mirrored cell, so no shift is
needed (OmniPose/DARK); HRNet's targets were not aligned that way and its flip test shifts by one cell (SHIFT_HEATMAP).
"""
import torch

from lib.core.loss import output_to_heatmap


def flip_back(heatmaps, flip_pairs):
    """Mirrors (B, K, H, W) heatmaps along W and swaps each (left, right) channel pair."""
    flipped = heatmaps.flip(dims=[3])
    order = list(range(heatmaps.shape[1]))
    for left, right in flip_pairs:
        order[left], order[right] = right, left
    return flipped[:, order]


@torch.no_grad()
def predict_heatmaps(model, images, flip_pairs=None, shift_heatmap=False, loss_type="mse"):
    """Heatmaps for a batch of normalised crops, with the flip test when `flip_pairs` is given.

    Args:
        model: generator, (B, 3, H, W) -> (B, K, H/4, W/4).
        images: (B, 3, H, W) on the model's device.
        flip_pairs: list of (left, right) joint indices; None disables the flip test.
        shift_heatmap: shift the un-flipped heatmaps one cell right (HRNet-style targets).
        loss_type: 'mse' or 'bce' (bce outputs are logits and get a sigmoid).
    Returns:
        (B, K, H/4, W/4) float heatmaps.
    """
    heatmaps = output_to_heatmap(model(images), loss_type).float()
    if flip_pairs is None:
        return heatmaps
    flipped = flip_back(output_to_heatmap(model(images.flip(dims=[3])), loss_type).float(), flip_pairs)
    if shift_heatmap:
        flipped[:, :, :, 1:] = flipped[:, :, :, :-1].clone()
    return (heatmaps + flipped) * 0.5
