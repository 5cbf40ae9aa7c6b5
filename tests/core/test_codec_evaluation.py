"""The whole evaluation path without a network: ground truth encoded to targets by the dataset, decoded by the
codec, mapped back to the image and scored by COCOeval gives AP >= 0.95, with ground-truth boxes and with jittered
detector boxes (the tiny synthetic set: several persons per image, occluded joints)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lib.config import load_cfg
from lib.core.evaluate import evaluate_coco
from lib.dataset.coco import COCODataset


@pytest.fixture
def coco_root(tmp_path, tiny_synthetic):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "person_keypoints_val.json").symlink_to(
        tiny_synthetic / "annotations" / "person_keypoints_val2017.json")
    (root / "images" / "val").mkdir(parents=True)
    for image in sorted((tiny_synthetic / "images" / "val2017").glob("*.jpg")):
        (root / "images" / "val" / image.name).symlink_to(image)
    return root


def jittered_detections(annotation_file, out_path, seed=0):
    """Each ground-truth box moved and resized by a few percent, with a score: a detector that found everyone who has
    a labelled joint (the persons evaluation scores)."""
    rng = np.random.default_rng(seed)
    data = json.loads(Path(annotation_file).read_text())
    dets = []
    for ann in data["annotations"]:
        if not any(v > 0 for v in ann["keypoints"][2::3]):
            continue
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


class PerfectModel(torch.nn.Module):
    """What an ideal network trained on this codec's targets outputs: for each crop of `dataset`, the crop's target,
    and for the mirrored crop the target of the mirrored joints (x -> W-1-x in input px, left and right swapped),
    encoded afresh rather than derived from flip_back. Crops are recognised by their bytes."""

    def __init__(self, dataset):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # a weight, so there is a file to save and load
        codec, width = dataset.codec, dataset.codec.input_size[0]
        swap = list(range(dataset.num_joints))
        for left, right in dataset.flip_pairs:
            swap[left], swap[right] = right, left
        self.answers = {}
        for i in range(len(dataset)):
            image, target, _, meta = dataset[i]
            self.answers[self.key(image)] = target
            mirrored = codec.heatmap_to_input(meta["joints_hm"].astype(np.float64))
            mirrored[:, 0] = (width - 1) - mirrored[:, 0]
            mirrored_target, _ = codec.encode(mirrored[swap], meta["joints_vis"][swap])
            self.answers[self.key(image.flip(dims=[2]))] = torch.from_numpy(mirrored_target)

    @staticmethod
    def key(image):
        return image.contiguous().numpy().tobytes()

    def forward(self, images):
        return torch.stack([self.answers[self.key(image)] for image in images]) + 0 * self.anchor


def test_flip_test_never_shifts_weights_trained_here(coco_root, tmp_path, caplog):
    """Perfect targets through validate()'s flip path with the HRNet yaml (TEST.SHIFT_HEATMAP true): weights saved by
    this project (recording the codec's target convention) are evaluated without the shift and score as without the
    flip test; a file without the record (a released one) keeps the configured shift, which costs these targets AP."""
    from lib.codec import TARGET_CONVENTION
    from lib.dataset.loader import build_loader
    from lib.core.function import validate
    from lib.utils.checkpoint import load_weights, record_weights, save_generator_weights

    def ap_of(model, *opts):
        cfg = load_cfg("experiments/coco/hrnet_w32_256x192.yaml", base + list(opts))
        loader = build_loader(dataset, cfg, False, torch.device("cpu"))
        caplog.clear()
        with caplog.at_level("INFO", logger="lib.core.function"):
            ap, _ = validate(cfg, loader, dataset, model, str(tmp_path / "eval"), torch.device("cpu"))
        return ap, caplog.text

    # The quickstart's 24x32 heatmaps: on large persons a one-cell shift of 48x64 maps can stay above OKS 0.95.
    base = ["DATASET.ROOT", str(coco_root), "DATASET.TEST_SET", "val", "WORKERS", "0", "TEST.BATCH_SIZE_PER_GPU", "2",
            "MODEL.IMAGE_SIZE", "[96,128]", "MODEL.HEATMAP_SIZE", "[24,32]"]
    cfg = load_cfg("experiments/coco/hrnet_w32_256x192.yaml", base)
    assert cfg.TEST.SHIFT_HEATMAP and cfg.TEST.FLIP_TEST
    dataset = COCODataset(cfg, str(coco_root), "val", is_train=False)
    oracle = PerfectModel(dataset)

    trained = tmp_path / "model_best.pth"
    record_weights(oracle, target_convention=TARGET_CONVENTION)
    save_generator_weights(oracle, trained)
    oracle.weights_record = {}
    released = tmp_path / "released.pth"
    torch.save(oracle.state_dict(), released)
    assert set(torch.load(trained, weights_only=True)) == {"anchor"}  # still a bare state_dict
    oracle.load_state_dict(torch.load(trained, weights_only=True), strict=True)  # as a plain PyTorch user loads it

    no_flip, _ = ap_of(oracle, "TEST.FLIP_TEST", "False")
    load_weights(oracle, trained)
    ap_trained, log_trained = ap_of(oracle)
    oracle.weights_record = {}
    load_weights(oracle, released)
    ap_released, log_released = ap_of(oracle)
    ap_released_no_shift, _ = ap_of(oracle, "TEST.SHIFT_HEATMAP", "False")

    assert "without heatmap shift (TEST.SHIFT_HEATMAP True ignored)" in log_trained and "centred-v1" in log_trained
    assert "with heatmap shift, as TEST.SHIFT_HEATMAP says" in log_released
    assert no_flip >= 0.95
    assert ap_trained == pytest.approx(no_flip, abs=1e-9) == pytest.approx(ap_released_no_shift, abs=1e-9)
    assert ap_released < ap_trained - 0.005, (ap_released, ap_trained)
    print(f"perfect targets, GT boxes: no flip {no_flip:.4f}, trained here {ap_trained:.4f}, released file with "
          f"the configured shift {ap_released:.4f}")


def test_an_unknown_target_convention_is_an_error():
    from lib.core.inference import flip_shift

    model = torch.nn.Linear(1, 1)
    model.weights_record = {"target_convention": "something-else"}
    with pytest.raises(ValueError, match="something-else"):
        flip_shift(load_cfg(None), model)
