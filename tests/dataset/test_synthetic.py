"""Tests of the synthetic COCO person-keypoint generator (lib/dataset/synthetic/, tools/data/make_synthetic_coco.py)."""
import contextlib
import io
import json
import os

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lib.dataset import synthetic
from tools.analysis import dataset_stats
from tools.data import make_synthetic_coco

N_TRAIN, N_VAL, SEED = 6, 4, 3
SETS = ("train2017", "val2017")


def _ann_path(root, set_name):
    return os.path.join(root, "annotations", f"person_keypoints_{set_name}.json")


def _quiet_coco(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(path)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    synthetic.generate(root, N_TRAIN, N_VAL, seed=SEED)
    return root


def _read_all(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_layout_matches_coco(dataset):
    for set_name in SETS:
        data = json.load(open(_ann_path(dataset, set_name)))
        assert data["categories"] == [synthetic.CATEGORY]
        assert data["categories"][0]["skeleton"][0] == [16, 14] and len(data["categories"][0]["skeleton"]) == 19
        for img in data["images"]:
            assert set(img) >= {"id", "file_name", "width", "height"}
            assert img["file_name"] == f"{img['id']:012d}.jpg"
            path = os.path.join(dataset, "images", set_name, img["file_name"])
            assert os.path.getsize(path) > 1000
            assert 320 <= img["width"] <= 480 and 320 <= img["height"] <= 480
    assert len(os.listdir(os.path.join(dataset, "images", "train2017"))) == N_TRAIN
    assert len(os.listdir(os.path.join(dataset, "images", "val2017"))) == N_VAL
    assert os.path.isfile(os.path.join(dataset, "person_detection_results", synthetic.DETECTIONS_FILE))
    leftovers = [p for p in _read_all(dataset) if ".tmp" in p]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def test_same_seed_same_bytes_with_any_workers(dataset, tmp_path):
    again = str(tmp_path / "again")
    synthetic.generate(again, N_TRAIN, N_VAL, seed=SEED, workers=2)
    first, second = _read_all(dataset), _read_all(again)
    assert sorted(first) == sorted(second)
    for rel in first:
        assert first[rel] == second[rel], f"{rel} differs between two runs with seed {SEED}"


def test_other_seed_other_data(dataset, tmp_path):
    other = str(tmp_path / "other")
    synthetic.generate(other, 2, 0, seed=SEED + 1)
    a = open(os.path.join(dataset, "images", "train2017", "000000000001.jpg"), "rb").read()
    b = open(os.path.join(other, "images", "train2017", "000000000001.jpg"), "rb").read()
    assert a != b


@pytest.mark.parametrize("set_name", SETS)
def test_pycocotools_gt_as_predictions_scores_ap_one(dataset, set_name):
    gt = _quiet_coco(_ann_path(dataset, set_name))
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
               for a in gt.dataset["annotations"] if a["num_keypoints"] > 0]
    assert results, "the tiny set should contain labelled persons"
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


@pytest.mark.parametrize("set_name", SETS)
def test_annotation_fields_are_honest(dataset, set_name):
    coco = _quiet_coco(_ann_path(dataset, set_name))
    sizes = {img["id"]: (img["width"], img["height"]) for img in coco.dataset["images"]}
    anns = coco.dataset["annotations"]
    assert len({a["id"] for a in anns}) == len(anns)
    for a in anns:
        w, h = sizes[a["image_id"]]
        kps = np.asarray(a["keypoints"], float).reshape(synthetic.NUM_KEYPOINTS, 3)
        x, y, bw, bh = a["bbox"]
        assert a["iscrowd"] == 0 and a["category_id"] == 1
        assert bw > 0 and bh > 0 and x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
        assert a["num_keypoints"] == int((kps[:, 2] > 0).sum())
        assert set(np.unique(kps[:, 2])) <= {0, 1, 2}
        unlabelled = kps[:, 2] == 0
        assert np.all(kps[unlabelled, :2] == 0), "v=0 joints must be stored as x = y = 0"
        lab = kps[~unlabelled]
        assert np.all((lab[:, 0] >= x) & (lab[:, 0] <= x + bw) & (lab[:, 1] >= y) & (lab[:, 1] <= y + bh))
        assert np.all((lab[:, 0] >= 0) & (lab[:, 0] <= w - 1) & (lab[:, 1] >= 0) & (lab[:, 1] <= h - 1))
        assert a["area"] > 0
        # area is the visible-mask area, i.e. the segmentation's.
        assert coco.annToMask(a).sum() == a["area"]


def test_labels_follow_the_rendered_label_map():
    """v=2 joints lie on pixels of their own person; some joints are honestly occluded (v=1) by something else."""
    occluded_by_other = 0
    for index in range(6):
        sample = synthetic.render_sample(SEED, "train", index)
        label = sample.label_map
        for ann in sample.annotations:
            base = ann["_label_base"]
            kps = np.asarray(ann["keypoints"], float).reshape(-1, 3)
            for x, y, v in kps:
                if v == 0:
                    continue
                owner = label[int(round(y)), int(round(x))]
                mine = base <= owner < base + synthetic.NUM_PARTS
                if v == 2:
                    assert mine
                elif not mine:
                    occluded_by_other += 1
    assert occluded_by_other > 0


def test_tiny_persons_have_no_joints():
    cfg = synthetic.SynthConfig(tiny_prob=1.0, max_persons=1)
    tiny = [a for i in range(4) for a in synthetic.render_sample(0, "val", i, cfg).annotations
            if a["num_keypoints"] == 0]
    assert tiny
    for a in tiny:
        assert a["keypoints"] == [0] * (3 * synthetic.NUM_KEYPOINTS) and a["area"] > 0


@pytest.mark.parametrize("yaw, left_on_image_right", [(0.0, True), (180.0, False)], ids=["front", "back"])
def test_facing_sets_left_and_right(yaw, left_on_image_right):
    _, kps = synthetic.render_figure(seed=5, yaw=yaw, pose="stand")
    for left, right in ((5, 6), (11, 12)):  # shoulders, hips
        assert (kps[left, 0] > kps[right, 0]) == left_on_image_right
    face_visible = kps[:3, 2] == 2  # nose and eyes
    assert face_visible.all() if yaw == 0.0 else not face_visible.any()


def test_profile_hides_far_side():
    _, kps = synthetic.render_figure(seed=5, yaw=90.0, pose="stand")  # facing image right: left side away
    assert kps[1, 2] == 0 and kps[3, 2] == 0  # far (left) eye and ear: turned away, so not labelled
    assert kps[2, 2] == 2 and kps[0, 2] == 2  # near eye and nose


def test_small_persons_carry_no_joints():
    """As COCO: persons whose visible area is below 32^2 px are annotated, but without joints."""
    anns = [a for i in range(8) for a in synthetic.render_sample(SEED, "val", i).annotations]
    small = [a for a in anns if a["area"] < synthetic.SMALL_AREA]
    assert small, "the default set should hold small (background) persons"
    assert all(a["num_keypoints"] == 0 for a in small)
    assert any(a["num_keypoints"] > 0 for a in anns)


def test_calibrated_statistics(tmp_path):
    """Mask / box area and the share of occluded joints stay near their calibration on real persons (docs/datasets.md,
    the synthetic data set: 0.42 and 12 % on 300 images; before the calibration 0.32 and 36 %)."""
    root = str(tmp_path / "calib")
    synthetic.generate(root, 0, 40, seed=0)
    stats = dataset_stats.compute_stats(dataset_stats.load(_ann_path(root, "val2017")))
    assert stats["persons"] > 60
    assert 0.35 <= stats["mask_box_ratio"]["median"] <= 0.50, stats["mask_box_ratio"]
    assert 0.06 <= stats["v1_share"] <= 0.20, stats["v1_share"]
    assert stats["size_small"] == 0.0  # no labelled person below COCO's 32^2 px


def test_detections_are_coco_results(dataset):
    dets = json.load(open(os.path.join(dataset, "person_detection_results", synthetic.DETECTIONS_FILE)))
    coco = _quiet_coco(_ann_path(dataset, "val2017"))
    sizes = {img["id"]: (img["width"], img["height"]) for img in coco.dataset["images"]}
    assert dets
    for d in dets:
        assert set(d) == {"image_id", "category_id", "bbox", "score"}
        assert d["image_id"] in sizes and d["category_id"] == 1 and 0 < d["score"] <= 1
        x, y, bw, bh = d["bbox"]
        w, h = sizes[d["image_id"]]
        assert bw > 0 and bh > 0 and x >= 0 and y >= 0 and x + bw <= w + 0.01 and y + bh <= h + 0.01
    with contextlib.redirect_stdout(io.StringIO()):
        coco.loadRes(dets)  # pycocotools accepts it as bbox results


def test_cli_writes_dataset_and_preview(tmp_path, capsys):
    out = tmp_path / "cli"
    assert make_synthetic_coco.main(["--out", str(out), "--train", "1", "--val", "1", "--seed", "7"]) == 0
    assert (out / "annotations" / "person_keypoints_val2017.json").is_file()
    assert "train: 1 images" in capsys.readouterr().out
    png = tmp_path / "preview.png"
    make_synthetic_coco.main(["--preview", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["--train", "-1"], "--train"),
    (["--seed", "-3"], "--seed"),
    (["--workers", "0"], "--workers"),
    (["--max-persons", "0"], "persons"),
    (["--blur-prob", "1.5"], "blur_prob"),
    (["--min-height", "10"], "min_height"),
    (["--jpeg-quality", "90", "10"], "JPEG quality"),
    (["--train", "abc"], "--train"),
], ids=["neg-train", "neg-seed", "zero-workers", "zero-persons", "prob>1", "tiny-min-height", "jpeg-order",
        "not-int"])
def test_cli_rejects_bad_values(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        make_synthetic_coco.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_generate_rejects_unknown_knob(tmp_path):
    with pytest.raises(ValueError, match="occluder_probability"):
        synthetic.generate(str(tmp_path), 1, 1, occluder_probability=0.5)


def test_rerun_replaces_the_annotations(tmp_path):
    root = str(tmp_path / "rerun")
    synthetic.generate(root, 2, 1, seed=0)
    synthetic.generate(root, 1, 1, seed=1)
    data = json.load(open(_ann_path(root, "train2017")))
    assert len(data["images"]) == 1 and data["info"]["seed"] == 1


def test_preset_sets_the_knob_defaults_and_a_flag_still_wins():
    quick = synthetic.preset_config("quickstart")
    args = make_synthetic_coco.parse_args(["--preset", "quickstart"])
    assert args.config == quick and quick != synthetic.SynthConfig()
    assert quick.max_persons < synthetic.SynthConfig().max_persons
    assert quick.min_height > synthetic.SynthConfig().min_height
    args = make_synthetic_coco.parse_args(["--preset", "quickstart", "--max-persons", "5"])
    assert args.config.max_persons == 5 and args.config.min_height == quick.min_height
    assert make_synthetic_coco.parse_args([]).config == synthetic.SynthConfig()


def test_unknown_preset_is_named(capsys):
    with pytest.raises(SystemExit):
        make_synthetic_coco.parse_args(["--preset", "easy"])
    assert "easy" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'easy'.*default"):
        synthetic.preset_config("easy")


def test_quickstart_preset_has_fewer_larger_less_occluded_persons(tmp_path):
    """What the preset promises, measured on 30 images of each."""
    stats = {}
    for name in ("default", "quickstart"):
        root = str(tmp_path / name)
        synthetic.generate(root, 0, 30, seed=1, config=synthetic.preset_config(name))
        stats[name] = dataset_stats.compute_stats(dataset_stats.load(_ann_path(root, "val2017")))
    easy, hard = stats["quickstart"], stats["default"]
    assert easy["persons_per_image"] < hard["persons_per_image"]
    assert easy["box_h_px"]["median"] > hard["box_h_px"]["median"]
    assert easy["v1_share"] < hard["v1_share"]


def test_stale_dataset_is_recognised(dataset, monkeypatch, capsys):
    """A dataset made by other code or other arguments is named as such (the run scripts warn instead of reusing it
    silently); the one these arguments make is not."""
    assert synthetic.stale_reason(dataset, N_TRAIN, N_VAL, seed=SEED) is None
    assert "6 images, expected 7" in synthetic.stale_reason(dataset, N_TRAIN + 1, N_VAL, seed=SEED)
    assert "seed 3" in synthetic.stale_reason(dataset, N_TRAIN, N_VAL, seed=SEED + 1)
    reason = synthetic.stale_reason(dataset, N_TRAIN, N_VAL, seed=SEED, config=synthetic.preset_config("quickstart"))
    assert "other settings" in reason and "max_persons" in reason
    assert "is missing" in synthetic.stale_reason(os.path.join(dataset, "nowhere"), 1, 1)
    args = ["--check", "--out", dataset, "--train", str(N_TRAIN), "--val", str(N_VAL), "--seed", str(SEED)]
    assert make_synthetic_coco.main(args) == 0 and "matches" in capsys.readouterr().out
    monkeypatch.setattr(synthetic.coco_writer, "GENERATOR_VERSION", "0.9")  # newer code than the data
    assert make_synthetic_coco.main(args) == 1
    version = json.load(open(_ann_path(dataset, "val2017")))["info"]["version"]
    assert version == synthetic.GENERATOR_VERSION != "0.9"
    assert f"generated with version {version!r}, the generator now writes '0.9'" in capsys.readouterr().out
