"""COCO evaluation on the tiny synthetic set: ground truth as predictions scores AP 1.0; a shifted copy does not."""
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from lib.core.evaluate import COCO_STAT_NAMES, evaluate_coco, format_table


@pytest.fixture(scope="module")
def coco_gt(tiny_synthetic, tmp_path_factory):
    """The synthetic validation annotations with every third labelled joint marked occluded (v=1), so both
    visibility classes are scored."""
    data = json.loads((tiny_synthetic / "annotations" / "person_keypoints_val2017.json").read_text())
    labelled = 0
    for ann in data["annotations"]:
        for k in range(2, len(ann["keypoints"]), 3):
            if ann["keypoints"][k] > 0:
                labelled += 1
                ann["keypoints"][k] = 1 if labelled % 3 == 0 else 2
    path = tmp_path_factory.mktemp("gt") / "person_keypoints_val.json"
    path.write_text(json.dumps(data))
    return COCO(str(path))


def gt_as_predictions(coco, shift=0.0):
    preds, boxes, image_ids = [], [], []
    for ann in coco.dataset["annotations"]:
        if ann["num_keypoints"] == 0:
            continue
        kps = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
        joints = np.concatenate([kps[:, :2] + shift, np.ones((17, 1))], axis=1)
        preds.append(joints)
        x, y, w, h = ann["bbox"]
        boxes.append([x + w / 2, y + h / 2, w / 200, h / 200, ann["area"], 1.0])
        image_ids.append(ann["image_id"])
    return np.array(preds), np.array(boxes), np.array(image_ids)


def test_ground_truth_scores_ap_one(coco_gt, tmp_path):
    preds, boxes, ids = gt_as_predictions(coco_gt)
    stats, ap = evaluate_coco(coco_gt, preds, boxes, ids, str(tmp_path / "res.json"))
    assert list(stats)[:10] == COCO_STAT_NAMES
    assert ap == pytest.approx(1.0)
    assert stats["AR"] == pytest.approx(1.0)
    assert stats["acc v=2"] == pytest.approx(1.0)
    assert (tmp_path / "res.json").is_file()
    assert "AP" in format_table(stats, "gt")


def test_visibility_breakdown_is_reported(coco_gt, tmp_path):
    n_v1 = sum(int((np.asarray(a["keypoints"]).reshape(-1, 3)[:, 2] == 1).sum()) for a in coco_gt.dataset["annotations"])
    preds, boxes, ids = gt_as_predictions(coco_gt)
    stats, _ = evaluate_coco(coco_gt, preds, boxes, ids, str(tmp_path / "res.json"))
    assert stats["joints v=1"] == n_v1 > 0
    assert stats["AP (v=1 only)"] == pytest.approx(1.0)
    assert stats["acc v=1"] == pytest.approx(1.0)


def test_shifted_predictions_score_lower(coco_gt, tmp_path):
    preds, boxes, ids = gt_as_predictions(coco_gt, shift=25.0)
    stats, ap = evaluate_coco(coco_gt, preds, boxes, ids, str(tmp_path / "res.json"))
    assert ap < 0.9
    assert stats["acc v=2"] < 1.0


def test_test_set_without_keypoints_only_writes(coco_gt, tmp_path):
    preds, boxes, ids = gt_as_predictions(coco_gt)
    stats, ap = evaluate_coco(coco_gt, preds, boxes, ids, str(tmp_path / "res.json"), has_keypoints=False)
    assert stats == {} and ap == 0.0 and (tmp_path / "res.json").is_file()
