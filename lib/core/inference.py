"""Test-time forward: the flip test lives here, once, for validation, tools/test.py, the demo and export checks.

The flipped input's heatmaps are mirrored back and their left/right channels swapped, then averaged with the plain
forward. With the codec's (size-1)/2 alignment a mirrored joint lands exactly on the mirrored cell, so no shift is
needed (OmniPose/DARK); the released HRNet weights were trained on the original code's targets, which are not aligned
that way, and their flip test shifts by one cell (TEST.SHIFT_HEATMAP). `flip_shift` decides which applies.
"""
import torch

from lib.codec import TARGET_CONVENTION
from lib.core.loss import output_to_heatmap


def flip_back(heatmaps, flip_pairs):
    """Mirrors (B, K, H, W) heatmaps along W and swaps each (left, right) channel pair."""
    flipped = heatmaps.flip(dims=[3])
    order = list(range(heatmaps.shape[1]))
    for left, right in flip_pairs:
        order[left], order[right] = right, left
    return flipped[:, order]


def flip_shift(cfg, model):
    """Whether the flip test (when on) shifts the flipped heatmaps, and why (a sentence for the log).

    Weights trained by this project record the codec's target convention (lib.utils.checkpoint.weights_record; the
    trainers record it on the model they train, the loader copies it from the file), and are never shifted: their
    targets are centred, and a shift costs AP (perfect targets through the flip path, synthetic val, ground-truth
    boxes: AP 1.000 -> 0.911 at 64x48 heatmaps, -> 0.655 at 32x24). Weights with no record (the released
    OmniPose/HRNet files) follow TEST.SHIFT_HEATMAP.

    Raises:
        ValueError: the weights record a convention this code does not know.
    """
    convention = getattr(model, "weights_record", {}).get("target_convention")
    if convention == TARGET_CONVENTION:
        ignored = " (TEST.SHIFT_HEATMAP True ignored)" if cfg.TEST.SHIFT_HEATMAP else ""
        return False, (f"flip test without heatmap shift{ignored}: the weights were trained by this project on "
                       f"centred targets (target_convention {convention!r})")
    if convention is not None:
        raise ValueError(f"the weights record target_convention {convention!r}; this code knows only "
                         f"{TARGET_CONVENTION!r} (lib/codec/heatmap.py), so the flip alignment is unknown")
    return bool(cfg.TEST.SHIFT_HEATMAP), (
        f"flip test {'with' if cfg.TEST.SHIFT_HEATMAP else 'without'} heatmap shift, as TEST.SHIFT_HEATMAP says: the "
        "weights carry no target-convention record (a released or external file)")


@torch.no_grad()
def predict_heatmaps(model, images, flip_pairs=None, shift_heatmap=False, loss_type="mse"):
    """Heatmaps for a batch of normalised crops, with the flip test when `flip_pairs` is given.

    Args:
        model: generator, (B, 3, H, W) -> (B, K, H/4, W/4).
        images: (B, 3, H, W) on the model's device.
        flip_pairs: list of (left, right) joint indices; None disables the flip test.
        shift_heatmap: shift the flipped-back heatmaps one cell right (HRNet-style targets; see flip_shift).
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
