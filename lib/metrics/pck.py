"""PCK, the Percentage of Correct Keypoints: a labelled joint is correct when its prediction lies within
`threshold * normaliser` of the ground truth, with one normaliser (a length in the joints' px) per person.

The normalisers in use:
  * torso (LSP, PCK@0.2): ||right shoulder - left hip||, the diagonal the Adversarial-Pose-Estimation LSP code
    normalised by; where one of those two joints is not labelled, the other diagonal ||left shoulder - right hip||.
    A person with neither diagonal labelled is left out (NaN normaliser), as is any non-positive length.
  * head (MPII, PCKh@0.5): 0.6 x the diagonal of the annotated head box (lib.dataset.mpii.compute_pckh).
  * box (a diagnostic on COCO-format data, PCK@0.1 (box)): max(w, h) of the person's ground-truth box, as Yang and
    Ramanan's PCK.
Correct means distance <= threshold * normaliser (the same "<=" for every dataset). Values are percentages.

    name_values, table = evaluate_pck(preds, gt_joints, gt_vis, torso_sizes(gt_joints, gt_vis, LSP_TORSO),
                                      joint_names, groups, thresholds=(0.2, 0.1))
"""
from collections import OrderedDict

import numpy as np


def _check_shapes(preds, gt_joints, gt_vis, normalisers):
    n, k = gt_vis.shape if gt_vis.ndim == 2 else (None, None)
    if preds.shape != (n, k, 2) or gt_joints.shape != (n, k, 2) or normalisers.shape != (n,):
        raise ValueError(
            f"PCK: expected preds (N, K, 2+), gt_joints (N, K, 2), gt_vis (N, K) and normalisers (N,); got "
            f"{preds.shape}, {gt_joints.shape}, {gt_vis.shape}, {normalisers.shape}"
        )


def normalised_errors(preds, gt_joints, normalisers):
    """(N, K) distance between prediction and ground truth divided by the person's normaliser; NaN where the
    normaliser is not a positive finite number."""
    preds = np.asarray(preds, dtype=np.float64)[..., :2]
    gt_joints = np.asarray(gt_joints, dtype=np.float64)
    normalisers = np.asarray(normalisers, dtype=np.float64).reshape(-1)
    valid = np.isfinite(normalisers) & (normalisers > 0)
    safe = np.where(valid, normalisers, 1.0)
    errors = np.linalg.norm(preds - gt_joints, axis=-1) / safe[:, None]
    return np.where(valid[:, None], errors, np.nan)


def pck_per_joint(preds, gt_joints, gt_vis, normalisers, threshold):
    """PCK of each joint over the persons.

    Args:
        preds: (N, K, 2+) predicted (x, y) (extra columns such as a score are ignored).
        gt_joints: (N, K, 2) ground truth in the same px.
        gt_vis: (N, K), > 0 where the joint is labelled.
        normalisers: (N,) one length per person (NaN or <= 0: the person is not counted).
        threshold: a joint is correct when distance <= threshold * normaliser.
    Returns:
        pck: (K,) float64 percent, NaN for a joint that was never counted.
        counts: (K,) int64, labelled joints of persons with a valid normaliser.
    """
    preds = np.asarray(preds, dtype=np.float64)[..., :2]
    gt_joints = np.asarray(gt_joints, dtype=np.float64)
    gt_vis = np.asarray(gt_vis)
    normalisers = np.asarray(normalisers, dtype=np.float64).reshape(-1)
    _check_shapes(preds, gt_joints, gt_vis, normalisers)
    errors = normalised_errors(preds, gt_joints, normalisers)
    valid = np.isfinite(normalisers) & (normalisers > 0)
    counted = (gt_vis > 0) & valid[:, None]
    counts = counted.sum(axis=0)
    # A non-finite prediction is counted and wrong (NaN <= threshold is False).
    with np.errstate(invalid="ignore"):
        hits = (counted & (errors <= threshold)).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pck = np.where(counts > 0, 100.0 * hits / np.maximum(counts, 1), np.nan)
    return pck, counts.astype(np.int64)


def torso_sizes(gt_joints, gt_vis, diagonals):
    """(N,) torso length per person: the first of `diagonals` ((a, b) joint pairs) whose two joints are labelled;
    NaN where none is."""
    gt_joints = np.asarray(gt_joints, dtype=np.float64)
    labelled = np.asarray(gt_vis) > 0
    sizes = np.full(len(gt_joints), np.nan)
    for a, b in reversed(list(diagonals)):  # the first pair wins: written last
        ok = labelled[:, a] & labelled[:, b]
        length = np.linalg.norm(gt_joints[:, a] - gt_joints[:, b], axis=-1)
        sizes = np.where(ok, length, sizes)
    return sizes


def box_sizes(boxes_xywh):
    """(N,) max(w, h) of person boxes [x, y, w, h]."""
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    return np.maximum(boxes[:, 2], boxes[:, 3])


def _weighted_mean(pck, counts, included):
    weights = np.where(included, counts, 0).astype(np.float64)
    if weights.sum() == 0:
        return float("nan")
    return float(np.nansum(np.nan_to_num(pck) * weights) / weights.sum())


def evaluate_pck(preds, gt_joints, gt_vis, normalisers, joint_names, groups=(), thresholds=(0.2,), excluded=(),
                 label="PCK"):
    """PCK at several thresholds, with joint groups, a mean and a per-joint table.

    Args:
        preds, gt_joints, gt_vis, normalisers: see pck_per_joint.
        joint_names: K names.
        groups: (name, joint ids) pairs; a group's value is the mean PCK of its counted joints at thresholds[0].
        thresholds: the first gives the groups, 'Mean' and the per-joint entries; the others 'Mean@<t>'.
        excluded: joint ids left out of the means (MPII leaves out pelvis and thorax); they stay in the table.
        label: metric name in the per-joint keys and the table ('PCK', 'PCKh').
    Returns:
        name_values: OrderedDict of the groups, 'Mean' (count-weighted over the joints not excluded), 'Mean@<t>'
            for the other thresholds, then '<label>@<t0> <joint name>' for every joint (percent; NaN where nothing
            was counted).
        table: a markdown table, one row per joint (PCK at every threshold and the count), then the groups and means.
    """
    joint_names = list(joint_names)
    if not thresholds:
        raise ValueError("evaluate_pck: give at least one threshold")
    per_threshold = [pck_per_joint(preds, gt_joints, gt_vis, normalisers, t) for t in thresholds]
    if len(per_threshold[0][0]) != len(joint_names):
        raise ValueError(f"evaluate_pck: {len(joint_names)} joint names for {len(per_threshold[0][0])} joints")
    counts = per_threshold[0][1]
    included = np.ones(len(joint_names), dtype=bool)
    included[list(excluded)] = False

    first, name_values = per_threshold[0][0], OrderedDict()
    for name, ids in groups:
        counted = [k for k in ids if counts[k] > 0]
        name_values[name] = float(np.mean(first[counted])) if counted else float("nan")
    for i, threshold in enumerate(thresholds):
        name_values["Mean" if i == 0 else f"Mean@{threshold:g}"] = _weighted_mean(per_threshold[i][0], counts,
                                                                                    included)
    for k, name in enumerate(joint_names):
        name_values[f"{label}@{thresholds[0]:g} {name}"] = float(first[k])

    heads = [f"{label}@{t:g}" for t in thresholds]
    lines = ["| joint | " + " | ".join(heads) + " | count |", "|---|" + "---|" * (len(heads) + 1)]
    for k, name in enumerate(joint_names):
        values = " | ".join(f"{p[0][k]:.2f}" for p in per_threshold)
        lines.append(f"| {name}{' (not in the mean)' if not included[k] else ''} | {values} | {counts[k]} |")
    for name, _ in groups:
        lines.append(f"| **{name}** | {name_values[name]:.2f} |" + " |" * len(heads))
    means = " | ".join(f"{_weighted_mean(p[0], counts, included):.2f}" for p in per_threshold)
    lines.append(f"| **Mean** | {means} | {int(counts[included].sum())} |")
    return name_values, "\n".join(lines)


BOX_PCK_THRESHOLD = 0.1


def box_pck(preds, records, joint_names, threshold=BOX_PCK_THRESHOLD):
    """PCK normalised by each person's ground-truth box, max(w, h): the diagnostic on COCO-format data evaluated on
    ground-truth boxes (one prediction per record, in db order).

    Args:
        preds: (N, K, 2+) predicted joints in image px.
        records: the dataset's N db records ('joints' (K, 2), 'joints_vis' (K,), 'box' [x, y, w, h]).
        joint_names: K names.
        threshold: the PCK threshold (BOX_PCK_THRESHOLD, 0.1 of the box by default).
    Returns:
        (OrderedDict 'box PCK@<t>' (percent, over every labelled joint) then 'box PCK@<t> <joint>', the table).
    """
    if len(preds) != len(records):
        raise ValueError(f"box_pck: {len(preds)} predictions for {len(records)} records")
    gt = np.stack([r["joints"] for r in records]).astype(np.float64)
    vis = np.stack([r["joints_vis"] for r in records])
    sizes = box_sizes([r["box"] for r in records])
    values, table = evaluate_pck(preds, gt, vis, sizes, joint_names, thresholds=(threshold,), label="box PCK")
    values[f"box PCK@{threshold:g}"] = values.pop("Mean")
    values.move_to_end(f"box PCK@{threshold:g}", last=False)
    return values, table
