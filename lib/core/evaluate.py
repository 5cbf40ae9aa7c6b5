"""COCO keypoint evaluation, shared by every trainer, tools/test.py and the demo's json output.

Order (as HRNet/mmpose): per-person records -> rescoring (box score x mean joint score above TEST.IN_VIS_THRE) ->
OKS-NMS (or soft-OKS-NMS) per image -> results json in the run folder -> pycocotools COCOeval ('keypoints').
Also a visibility breakdown: AP computed on the labelled-occluded (v=1) joints alone, and per-visibility keypoint
accuracy, because the adversarial paper's gain was concentrated on occluded joints.
"""
import contextlib
import copy
import io
import json
import logging
import os
from collections import OrderedDict, defaultdict

import numpy as np

from lib.core.nms import oks_nms, soft_oks_nms
from lib.dataset.keypoint_info import COCO_KEYPOINTS
from lib.metrics.oks import oks_per_joint

logger = logging.getLogger(__name__)

COCO_STAT_NAMES = ["AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)"]
# A joint counts as correct in the per-visibility accuracy when its own OKS term reaches this (≈ PCK at OKS 0.5).
JOINT_CORRECT_KS = 0.5


def make_person_records(preds, boxes, image_ids, in_vis_thre):
    """Per-person records with rescoring.

    Args:
        preds: (N, K, 3) x, y in image px and the joint score (heatmap max).
        boxes: (N, 6) centre x, centre y, scale w, scale h, area (image px^2), box score.
        image_ids: (N,) COCO image ids.
        in_vis_thre: joints scoring above this enter the mean joint score.
    Returns:
        list of dicts {image_id, keypoints (K, 3), area, score}.
    """
    records = []
    for joints, box, image_id in zip(preds, boxes, image_ids):
        visible = joints[:, 2] > in_vis_thre
        joint_score = float(joints[visible, 2].mean()) if visible.any() else 0.0
        records.append({
            "image_id": int(image_id),
            "keypoints": np.asarray(joints, dtype=np.float64),
            "area": float(box[4]),
            "score": float(box[5]) * joint_score,
        })
    return records


def nms_per_image(records, oks_thre, soft=False, sigmas=COCO_KEYPOINTS.sigmas):
    """Groups records by image and keeps the OKS-NMS survivors (soft-NMS rescoring when `soft`)."""
    by_image = defaultdict(list)
    for record in records:
        by_image[record["image_id"]].append(record)
    kept = []
    for image_id in sorted(by_image):
        persons = by_image[image_id]
        joints = np.stack([p["keypoints"] for p in persons])
        scores = np.array([p["score"] for p in persons])
        areas = np.array([p["area"] for p in persons])
        if soft:
            keep, new_scores = soft_oks_nms(joints, scores, areas, oks_thre, sigmas)
            for i in keep:
                person = dict(persons[i])
                person["score"] = float(new_scores[i])
                kept.append(person)
        else:
            kept.extend(persons[i] for i in oks_nms(joints, scores, areas, oks_thre, sigmas))
    return kept


def write_results(records, path):
    """COCO results json (category 1), written atomically."""
    results = [{
        "image_id": r["image_id"],
        "category_id": 1,
        "keypoints": [round(float(v), 3) for v in r["keypoints"].reshape(-1)],
        "score": round(float(r["score"]), 6),
    } for r in records]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f)
    os.replace(tmp, path)
    return results


def quietly(call, *args):
    """Runs a pycocotools call with its progress prints ("creating index...", "Loading and preparing results...")
    kept off stdout; they go to the log at debug level."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        out = call(*args)
    if printed.getvalue().strip():
        logger.debug("pycocotools: %s", " | ".join(printed.getvalue().split("\n")).strip(" |"))
    return out


def coco_eval_stats(coco_gt, results, sigmas, title):
    """Runs COCOeval('keypoints'), logs its table under `title`, and returns the 10 standard stats, or None when
    there is nothing to evaluate."""
    from pycocotools.cocoeval import COCOeval

    if not results:
        logger.info("COCOeval, %s: no predictions to evaluate, every stat 0", title)
        return None
    coco_dt = quietly(coco_gt.loadRes, copy.deepcopy(results))
    evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
    evaluator.params.useSegm = None
    if len(sigmas) != 17:
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # pycocotools prints; its table goes to the log, labelled
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    lines = printed.getvalue().splitlines()
    logger.info("COCOeval, %s:\n%s", title, "\n".join(line for line in lines if "(A" in line))
    logger.debug("pycocotools: %s", " | ".join(line for line in lines if line.strip() and "(A" not in line))
    return [float(v) for v in evaluator.stats]


def _occluded_only_gt(coco_gt):
    """A copy of the ground truth keeping only v=1 joints (others set to unlabelled)."""
    from pycocotools.coco import COCO

    data = copy.deepcopy(coco_gt.dataset)
    for ann in data["annotations"]:
        kps = np.asarray(ann.get("keypoints", []), dtype=np.float64).reshape(-1, 3)
        if kps.size == 0:
            continue
        kps[kps[:, 2] != 1] = 0
        ann["keypoints"] = kps.reshape(-1).tolist()
        ann["num_keypoints"] = int((kps[:, 2] > 0).sum())
    occluded = COCO()
    occluded.dataset = data
    quietly(occluded.createIndex)
    return occluded


def visibility_accuracy(coco_gt, results, sigmas=COCO_KEYPOINTS.sigmas):
    """Per-visibility keypoint accuracy.

    Each non-crowd ground-truth person is matched to the prediction in its image with the highest OKS over its
    labelled joints; a labelled joint is correct when its own OKS term (lib.metrics.oks) >= JOINT_CORRECT_KS.
    Returns {'acc v=1': ..., 'acc v=2': ..., 'joints v=1': count, 'joints v=2': count}.
    """
    preds_by_image = defaultdict(list)
    for r in results:
        preds_by_image[r["image_id"]].append(np.asarray(r["keypoints"], dtype=np.float64).reshape(-1, 3))
    kappa = 2.0 * np.asarray(sigmas)
    correct = {1: 0, 2: 0}
    total = {1: 0, 2: 0}
    for ann in coco_gt.dataset["annotations"]:
        if ann.get("iscrowd", 0) or ann.get("num_keypoints", 0) == 0:
            continue
        gt = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        labelled = gt[:, 2] > 0
        for v in (1, 2):
            total[v] += int((gt[:, 2] == v).sum())
        candidates = preds_by_image.get(ann["image_id"], [])
        if not candidates:
            continue
        area = max(float(ann.get("area", 0.0)), 1.0)
        d2 = np.stack([((c[:, :2] - gt[:, :2]) ** 2).sum(axis=1) for c in candidates])  # (P, K)
        ks = oks_per_joint(d2, area, kappa[None, :])
        best = int(np.argmax((ks * labelled[None]).sum(axis=1)))
        hit = ks[best] >= JOINT_CORRECT_KS
        for v in (1, 2):
            correct[v] += int((hit & (gt[:, 2] == v)).sum())
    out = OrderedDict()
    for v in (1, 2):
        out[f"acc v={v}"] = correct[v] / total[v] if total[v] else float("nan")
    for v in (1, 2):
        out[f"joints v={v}"] = total[v]
    return out


def evaluate_coco(coco_gt, preds, boxes, image_ids, output_path, oks_thre=0.9, in_vis_thre=0.2, soft_nms=False,
                  sigmas=COCO_KEYPOINTS.sigmas, has_keypoints=True):
    """Rescore, NMS, write `output_path`, evaluate.

    Args:
        coco_gt: pycocotools COCO of the evaluated split.
        preds, boxes, image_ids: see make_person_records.
        output_path: the results json to write.
        has_keypoints: False for test sets without keypoint annotations: only the json is written.
    Returns:
        (OrderedDict of stats: the 10 COCO stats, 'AP (v=1 only)', per-visibility accuracy; AP as the indicator).
    """
    records = make_person_records(preds, boxes, image_ids, in_vis_thre)
    kept = nms_per_image(records, oks_thre, soft_nms, sigmas)
    results = write_results(kept, output_path)
    logger.info("wrote %d person predictions (%d before OKS-NMS) to %s", len(results), len(records), output_path)
    stats = OrderedDict()
    if not has_keypoints:
        logger.info("%s has no keypoint annotations: predictions written, nothing evaluated", output_path)
        return stats, 0.0
    values = coco_eval_stats(coco_gt, results, sigmas, "all labelled joints (v=1 and v=2): the standard COCO stats")
    if values is None:
        values = [0.0] * len(COCO_STAT_NAMES)
    stats.update(zip(COCO_STAT_NAMES, values))
    occluded_gt = _occluded_only_gt(coco_gt)
    if any(ann["num_keypoints"] > 0 for ann in occluded_gt.dataset["annotations"]):
        occ = coco_eval_stats(occluded_gt, results, sigmas, "occluded joints only (v=1; visible joints treated as "
                               "unlabelled): its AP is 'AP (v=1 only)'")
        stats["AP (v=1 only)"] = occ[0] if occ else 0.0
    else:
        logger.info("COCOeval, occluded joints only: the ground truth has no v=1 joints, 'AP (v=1 only)' is nan")
        stats["AP (v=1 only)"] = float("nan")
    stats.update(visibility_accuracy(coco_gt, results, sigmas))
    return stats, stats["AP"]


# The summary's columns: (stat name, column head).
SUMMARY_COLUMNS = [("AP", "AP"), ("AP .5", "AP .5"), ("AP .75", "AP .75"), ("AP (M)", "AP M"), ("AP (L)", "AP L"),
                   ("AR", "AR"), ("AP (v=1 only)", "AP v=1"), ("acc v=1", "acc v=1"), ("acc v=2", "acc v=2")]


def summary_table(name_values, boxes_used):
    """The one table a person reads after an evaluation: the headline COCO stats, the visibility breakdown and the
    boxes used (markdown, columns aligned). Evaluations without COCO stats (MPII, LSP) get format_table instead."""
    if "AP" not in name_values:
        return format_table(name_values)
    heads = [head for _, head in SUMMARY_COLUMNS] + ["boxes used"]
    cells = [f"{float(name_values.get(name, float('nan'))):.4f}" for name, _ in SUMMARY_COLUMNS] + [boxes_used]
    widths = [max(len(h), len(c)) for h, c in zip(heads, cells)]

    def row(items):
        return "| " + " | ".join(item.ljust(width) for item, width in zip(items, widths)) + " |"

    return "\n".join([row(heads), "|" + "|".join("-" * (width + 2) for width in widths) + "|", row(cells)])


def format_table(name_values, title=""):
    """A markdown table of name -> value, ready to paste."""
    names = list(name_values)
    head = "| " + " | ".join(["run"] + names) + " |"
    sep = "|" + "---|" * (len(names) + 1)
    vals = []
    for v in name_values.values():
        vals.append(f"{v:.4f}" if isinstance(v, float) else str(v))
    row = "| " + " | ".join([title or "-"] + vals) + " |"
    return "\n".join([head, sep, row])
