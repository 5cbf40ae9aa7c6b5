"""The whole evaluation path on real data without a network: ground truth encoded to targets by the dataset,
decoded by the codec, mapped back to the image and scored by COCOeval gives AP >= 0.95, with ground-truth boxes
and with jittered detector boxes (real OCHuman photos and annotations)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lib.config import load_cfg
from lib.core.evaluate import evaluate_coco
from lib.dataset.coco import COCODataset

OCHUMAN = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ochuman"


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "person_keypoints_val.json").symlink_to(OCHUMAN / "test_ochuman.json")
    (root / "images" / "val").mkdir(parents=True)
    for photo in sorted(OCHUMAN.glob("*.jpg")):
        (root / "images" / "val" / photo.name).symlink_to(photo)
    return root


def jittered_detections(annotation_file, out_path, seed=0):
    """Each ground-truth box moved and resized by a few percent, with a score: a detector that found everyone."""
    rng = np.random.default_rng(seed)
    data = json.loads(Path(annotation_file).read_text())
    dets = []
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        dx, dy = rng.uniform(-0.05, 0.05, 2) * (w, h)
        sw, sh = rng.uniform(0.95, 1.08, 2)
        dets.append({"image_id": ann["image_id"], "category_id": 1, "score": float(rng.uniform(0.6, 1.0)),
                     "bbox": [x + dx, y + dy, w * sw, h * sh]})
    out_path.write_text(json.dumps(dets))
    return out_path


def encode_decode_ap(dataset, tmp_path):
    """Targets of each sample decoded back to image px; detector samples get their matching GT joints' targets."""
    preds, boxes, ids = [], [], []
    for i in range(len(dataset)):
        _, target, _, meta = dataset[i]
        coords, maxvals = dataset.codec.decode_to_image(target[None].numpy(), meta["center"][None], meta["scale"][None])
        preds.append(np.concatenate([coords[0], maxvals[0][:, None]], axis=1))
        area = float(np.prod(meta["scale"] * 200.0))
        boxes.append([*meta["center"], *meta["scale"], area, meta["score"]])
        ids.append(meta["image_id"])
    stats, ap = evaluate_coco(dataset.coco, np.array(preds), np.array(boxes), np.array(ids), str(tmp_path / "r.json"),
                              oks_thre=0.9, in_vis_thre=0.2)
    return ap


@pytest.mark.parametrize("dark", [True, False], ids=["dark", "argmax"])
def test_gt_boxes_encode_decode_ap(coco_root, tmp_path, dark):
    cfg = load_cfg(None, ["DATASET.ROOT", str(coco_root), "DATASET.TEST_SET", "val", "MODEL.IMAGE_SIZE", "[192,256]",
                          "MODEL.HEATMAP_SIZE", "[48,64]", "MODEL.SIGMA", "2.0", "TEST.POST_PROCESS", str(dark)])
    ap = encode_decode_ap(COCODataset(cfg, str(coco_root), "val", is_train=False), tmp_path)
    assert ap >= 0.95


def test_detector_boxes_encode_decode_ap(coco_root, tmp_path):
    """Detector crops carry no joints, so their targets are built from the ground truth of the person each box
    came from (same order); what is tested is the crop geometry of jittered boxes through decode and back."""
    dets = jittered_detections(coco_root / "annotations" / "person_keypoints_val.json", tmp_path / "dets.json")
    opts = ["DATASET.ROOT", str(coco_root), "DATASET.TEST_SET", "val", "MODEL.IMAGE_SIZE", "[192,256]",
            "MODEL.HEATMAP_SIZE", "[48,64]", "MODEL.SIGMA", "2.0"]
    gt_set = COCODataset(load_cfg(None, opts), str(coco_root), "val", is_train=False)
    det_set = COCODataset(load_cfg(None, opts + ["TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", str(dets)]),
                          str(coco_root), "val", is_train=False)
    assert len(det_set) == len(gt_set)
    for det_record, gt_record in zip(det_set.db, gt_set.db):
        assert det_record["image_id"] == gt_record["image_id"]
        det_record["joints"], det_record["joints_vis"] = gt_record["joints"], gt_record["joints_vis"]
    assert encode_decode_ap(det_set, tmp_path) >= 0.95
