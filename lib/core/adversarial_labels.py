"""Per-joint labels of the fake heatmaps for the two discriminators, and the composite real maps.

The Pose Discriminator's "correct" label of a fake joint:
  * COCO-format data: the joint's OKS term exp(-d^2 / (2 A kappa^2)) >= GAN.TAU_P.
  * datasets without OKS constants (LSP, MPII: they give a PCK normaliser, meta["pck_norm_hm"]): PCK-style,
    d <= alpha x normaliser, with alpha = GAN.PCK_ALPHA or the dataset's evaluation threshold (LSP: 0.2 x torso,
    MPII: 0.5 x head size; `pck_label_threshold`). So the label means what the benchmark scores, as the paper's
    "normalized distance" did, instead of borrowing COCO's constants for joints COCO does not have.
The Confidence Discriminator's label: the clamped prediction's relative squared error to the target < GAN.EPS_C.
Both decode with the evaluation decoder (argmax + quarter pixel, no DARK, no flip), so a label tracks what is scored.
"""
import torch

from lib.codec import argmax_decode
from lib.dataset.keypoint_info import by_num_joints
from lib.metrics.oks import oks_per_joint

# Guards against 0/0 in the labels; any labelled joint has a Gaussian target and an area far above these.
_MIN_AREA_HM = 1e-6  # heatmap px^2
_MIN_TARGET_ENERGY = 1e-12


def joint_kappa(num_joints):
    """Per-joint OKS constants kappa_j = 2 sigma_j of the dataset with `num_joints` joints (its keypoint record:
    COCO's own, MPII's borrowed from COCO's body parts).

    Returns:
        tuple of num_joints floats.
    """
    kappa = by_num_joints(num_joints).kappa
    if kappa is None:
        raise ValueError(f"the {num_joints}-joint keypoint record has no OKS constants: label PCK-style "
                         "(GAN.PCK_ALPHA) or pass kappa explicitly")
    return kappa


def joint_mask(target_weight, batch, num_joints):
    """(B, J) or (B, J, 1) target weights -> (B, J) float mask, 1 where the joint is labelled."""
    if target_weight.numel() != batch * num_joints:
        raise ValueError(
            f"target_weight of shape {tuple(target_weight.shape)} does not fit (B, J) = ({batch}, {num_joints})"
        )
    return (target_weight.reshape(batch, num_joints) > 0).float()


@torch.no_grad()
def label_scores(pred, target, joints_hm, area_hm, kappa):
    """The two per-joint scores behind the fake labels, without thresholds.

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

    # Same decoder as evaluation without DARK or flip, so the label tracks what is scored.
    coords, _ = argmax_decode(pred)  # (B, J, 2) heatmap px
    dist_sq = (coords.float() - joints_hm.float()).pow(2).sum(dim=-1)  # (B, J)
    area = area_hm.reshape(batch, 1).float().clamp_min(_MIN_AREA_HM)
    ks = oks_per_joint(dist_sq, area, kappa)
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
    """Per-joint labels of the fake samples for P and C; the labels of weight-0 joints are arbitrary
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
    joint_mask(target_weight, pred.shape[0], pred.shape[1])
    if pck_radius_hm is not None:
        if pred.dim() != 4 or pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be (B, J, H, W)")
        return pck_correct(pred, joints_hm, pck_radius_hm), (relative_map_error(pred, target) < eps_c).float()
    ks, rel_err = label_scores(pred, target, joints_hm, area_hm, kappa)
    return (ks >= tau_p).float(), (rel_err < eps_c).float()


def composite_real(pred, target, target_weight):
    """The real input maps: GT where the joint is labelled, the detached clamped prediction where it
    is not, so an empty channel cannot mark a sample as real.

    Args:
        pred: (B, J, H, W) predicted heatmaps; target: (B, J, H, W) GT heatmaps; target_weight: (B, J) or (B, J, 1).
    Returns:
        (B, J, H, W) detached tensor.
    """
    mask = joint_mask(target_weight, pred.shape[0], pred.shape[1])[:, :, None, None].bool()
    return torch.where(mask, target.to(pred.dtype), pred.detach().clamp(0.0, 1.0)).detach()
