"""tools/analysis/bootstrap_ap.py: resampling keeps each drawn image's ground truth and predictions together under a
new id, perfect predictions score 1 on every draw, a paired difference of a model with itself is 0, and a model that
misses one image's persons gets an interval that contains its full-set AP and is not a point."""
import json

import numpy as np
import pytest

from tools.analysis import bootstrap_ap

KPTS = 17


def _person(image_id, ann_id, x0):
    xs = x0 + np.arange(KPTS) * 3.0
    ys = 20 + np.arange(KPTS) * 4.0
    kps = np.stack([xs, ys, np.full(KPTS, 2.0)], 1).reshape(-1).tolist()
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "keypoints": kps, "num_keypoints": KPTS,
            "area": 4000.0, "bbox": [x0, 20, 60, 70], "iscrowd": 0}


def _gt(n_images=6):
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 200, "height": 200} for i in range(1, n_images + 1)]
    anns = [_person(i, 10 * i + k, 10 + 80 * k) for i in range(1, n_images + 1) for k in range(2)]
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": [str(j) for j in range(KPTS)], "skeleton": []}]}


def _perfect(gt):
    return [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in gt["annotations"]]


def test_resample_renames_repeats_and_keeps_pairs_together():
    gt = _gt(3)
    dets = _perfect(gt)
    out_gt, (out_dets,) = bootstrap_ap.resample(gt, [dets], [2, 2, 3])
    assert [im["id"] for im in out_gt["images"]] == [1, 2, 3]
    assert [a["image_id"] for a in out_gt["annotations"]] == [1, 1, 2, 2, 3, 3]
    assert len({a["id"] for a in out_gt["annotations"]}) == 6  # unique annotation ids
    assert [d["image_id"] for d in out_dets] == [1, 1, 2, 2, 3, 3]
    assert out_gt["annotations"][2]["keypoints"] == gt["annotations"][2]["keypoints"]  # image 2's person, again
    assert gt["images"][0]["id"] == 1 and gt["annotations"][0]["image_id"] == 1  # the input is untouched


def test_perfect_and_paired(tmp_path, capsys):
    gt = _gt()
    perfect = _perfect(gt)
    missing = [d for d in perfect if d["image_id"] != 1]  # image 1's two persons not found
    paths = {}
    for name, obj in (("gt", gt), ("a", missing), ("b", perfect)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(obj))
    out = bootstrap_ap.main(["--gt", str(paths["gt"]), "--results", str(paths["b"]), "--results-b", str(paths["b"]),
                             "--samples", "5"])
    assert out["A"]["ap"] == pytest.approx(1.0) and out["A"]["interval"] == pytest.approx([1.0, 1.0])
    assert out["A - B"]["ap"] == 0 and out["A - B"]["interval"] == [0, 0] and out["A - B"]["se"] == 0
    out = bootstrap_ap.main(["--gt", str(paths["gt"]), "--results", str(paths["a"]), "--results-b", str(paths["b"]),
                             "--samples", "40", "--json", str(tmp_path / "boot.json")])
    full = out["A"]["ap"]
    assert 0.5 < full < 1.0  # 10 of 12 persons found
    low, high = out["A"]["interval"]
    assert low < high and low <= full <= high and high <= 1.0
    assert out["A - B"]["ap"] == pytest.approx(full - 1.0) and out["A - B"]["interval"][1] <= 0
    assert json.loads((tmp_path / "boot.json").read_text())["A"]["ap"] == full
    assert "| A - B |" in capsys.readouterr().out


def test_predictions_for_other_images_are_an_error(tmp_path):
    gt = _gt(2)
    dets = _perfect(gt) + [{"image_id": 99, "category_id": 1, "keypoints": [0] * 51, "score": 1.0}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "r.json").write_text(json.dumps(dets))
    with pytest.raises(SystemExit, match="image ids that .* does not hold"):
        bootstrap_ap.main(["--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "r.json")])


def test_unreadable_inputs_name_the_file(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps(_gt(2)))
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(FileNotFoundError, match="missing.json: cannot read the keypoint results file"):
        bootstrap_ap.main(["--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "missing.json")])
    with pytest.raises(ValueError, match="bad.json: keypoint results file is not valid JSON"):
        bootstrap_ap.main(["--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "bad.json")])
