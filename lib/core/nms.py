"""OKS-based non-maximum suppression over the persons of one image, in numpy (no compiled extensions).

OKS between two predictions follows the COCO keypoint metric: the per-joint term exp(-d^2 / (2 A (2 sigma_j)^2))
(lib.metrics.oks) averaged over joints, with A the mean of the two persons' areas.
"""
import numpy as np

from lib.dataset.keypoint_info import COCO_KEYPOINTS
from lib.metrics.oks import oks_per_joint


def oks_iou(ref_joints, ref_area, other_joints, other_areas, sigmas, vis_thresh=None):
    """OKS of one reference person against several others.

    Args:
        ref_joints: (K, 3) x, y, score of the reference person.
        ref_area: its area in image px^2.
        other_joints: (N, K, 3); other_areas: (N,).
        sigmas: (K,) COCO per-keypoint sigmas.
        vis_thresh: if set, only joints whose scores are both above it count (None = all joints, as the original).
    Returns:
        (N,) OKS values in [0, 1].
    """
    if len(other_joints) == 0:
        return np.zeros(0)
    dx = other_joints[:, :, 0] - ref_joints[None, :, 0]
    dy = other_joints[:, :, 1] - ref_joints[None, :, 1]
    area = (ref_area + other_areas[:, None]) / 2.0 + np.spacing(1)
    # (2 A) kappa^2 gives the same floats as HRNet's kappa^2 A 2: doubling a float is exact.
    oks = oks_per_joint(dx ** 2 + dy ** 2, area, 2.0 * np.asarray(sigmas))
    if vis_thresh is not None:
        keep = (ref_joints[None, :, 2] > vis_thresh) & (other_joints[:, :, 2] > vis_thresh)
        terms = np.where(keep, oks, 0.0)
        counts = keep.sum(axis=1)
        return np.where(counts > 0, terms.sum(axis=1) / np.maximum(counts, 1), 0.0)
    return oks.mean(axis=1)


def oks_nms(joints, scores, areas, threshold, sigmas=COCO_KEYPOINTS.sigmas, vis_thresh=None):
    """Greedy OKS-NMS.

    Args:
        joints: (N, K, 3); scores: (N,); areas: (N,) image px^2.
        threshold: a person is suppressed when its OKS with a kept, higher scoring person exceeds this.
    Returns:
        list of kept indices, highest score first.
    """
    joints, scores, areas = np.asarray(joints, float), np.asarray(scores, float), np.asarray(areas, float)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        overlaps = oks_iou(joints[i], areas[i], joints[rest], areas[rest], sigmas, vis_thresh)
        order = rest[overlaps <= threshold]
    return keep


def soft_oks_nms(joints, scores, areas, threshold, sigmas=COCO_KEYPOINTS.sigmas, vis_thresh=None,
                 max_dets=20):
    """Soft-OKS-NMS with linear decay: a person's score is multiplied by (1 - OKS) with each higher scoring person
    whose OKS exceeds `threshold`, then those below a tiny score are dropped.

    Returns:
        (kept indices, highest rescored first, at most max_dets; the rescored scores (N,)).
    """
    joints, areas = np.asarray(joints, float), np.asarray(areas, float)
    scores = np.asarray(scores, float).copy()
    remaining = list(range(len(scores)))
    keep = []
    while remaining and len(keep) < max_dets:
        best = max(remaining, key=lambda idx: scores[idx])
        keep.append(best)
        remaining.remove(best)
        if not remaining:
            break
        rest = np.array(remaining)
        overlaps = oks_iou(joints[best], areas[best], joints[rest], areas[rest], sigmas, vis_thresh)
        decay = np.where(overlaps > threshold, 1.0 - overlaps, 1.0)
        scores[rest] *= decay
        remaining = [idx for idx in remaining if scores[idx] > 1e-4]
    return keep, scores
