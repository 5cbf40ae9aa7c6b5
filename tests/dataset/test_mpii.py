"""MPIIDataset on a tiny MPII set made here (HRNet's json layout), and PCKh (pure function and evaluate() on a tiny
gt_valid.mat)."""
import json

import numpy as np
import pytest
import torch
from scipy.io import loadmat, savemat

from lib.config import load_cfg
from lib.dataset import build_dataset
from lib.dataset.keypoint_info import MPII_KEYPOINTS
from lib.dataset.mpii import MPII_MAT_JOINT_NAMES, MPIIDataset, compute_pckh
from tests.helpers import write_mpii_set

SMALL = ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]", "MODEL.SIGMA", "2.0",
         "MODEL.NUM_JOINTS", "16", "DATASET.DATASET", "mpii", "DATASET.TEST_SET", "valid"]


@pytest.fixture(autouse=True)
def _fast_torch():
    torch.set_num_threads(1)


@pytest.fixture
def mpii_root(tmp_path):
    """MPII layout: annot/valid.json + images/*.jpg, five persons (tests.helpers.write_mpii_set)."""
    write_mpii_set(tmp_path)
    return tmp_path


def _dataset(root, is_train=False, opts=()):
    cfg = load_cfg(None, SMALL + ["DATASET.ROOT", str(root)] + list(opts))
    return build_dataset(cfg, is_train)


def _write_gt_mat(path, people):
    """A gt_valid.mat with the real file's fields and layouts, from 1-based HRNet json entries."""
    joints = np.stack([np.array(p["joints"], dtype=np.float64) for p in people])  # (N, 16, 2)
    vis = np.stack([np.array(p["joints_vis"]) for p in people])  # (N, 16)
    # Head box: a square around head_top (9) and upper_neck (8), like the annotated head rectangles.
    head_center = (joints[:, 8] + joints[:, 9]) / 2
    half = np.linalg.norm(joints[:, 9] - joints[:, 8], axis=-1)[:, None] / 2
    boxes = np.stack([head_center - half, head_center + half], axis=1)  # (N, 2 corners, 2)
    savemat(path, {
        "dataset_joints": np.array([MPII_MAT_JOINT_NAMES], dtype=object),
        "jnt_missing": (1 - vis).T.astype(np.float64),  # (16, N)
        "pos_gt_src": np.transpose(joints, (1, 2, 0)),  # (16, 2, N)
        "headboxes_src": np.transpose(boxes, (1, 2, 0)),  # (2, 2, N)
    })
    return boxes


def test_loads_the_five_persons_with_hrnet_adjustments(mpii_root):
    ds = _dataset(mpii_root)
    raw = json.loads((mpii_root / "annot" / "valid.json").read_text())
    assert isinstance(ds, MPIIDataset) and len(ds) == 5
    assert ds.num_joints == 16 and ds.flip_pairs == MPII_KEYPOINTS.flip_pairs and ds.joint_names[9] == "head_top"
    assert ds.metric == "pckh"
    for i, (record, entry) in enumerate(zip(ds.db, raw)):
        s = entry["scale"]
        assert record["image"] == str(mpii_root / "images" / entry["image"]) and record["image_id"] == i
        np.testing.assert_allclose(record["center"], [entry["center"][0] - 1, entry["center"][1] + 15 * s - 1],
                                   rtol=1e-6)
        np.testing.assert_allclose(record["scale"], [1.25 * s, 1.25 * s], rtol=1e-6)
        np.testing.assert_allclose(record["joints"], np.array(entry["joints"]) - 1)
        np.testing.assert_array_equal(record["joints_vis"], entry["joints_vis"])
        assert record["area"] == pytest.approx((200 * s) ** 2)
    image, target, weight, meta = ds[2]
    assert image.shape == (3, 128, 96) and target.shape == (16, 32, 24) and weight.shape == (16, 1)
    # Joints 0 and 5 of this person are unannotated ((-1, -1), vis 0): zero weight and zero maps.
    assert weight[0, 0] == 0 and weight[5, 0] == 0 and not target[[0, 5]].any()
    assert weight[9, 0] == 1 and meta["image_id"] == 2


def test_training_sample_and_num_joints_check(mpii_root):
    ds = _dataset(mpii_root, is_train=True, opts=["DATASET.TRAIN_SET", "valid"])
    torch.manual_seed(0)
    image, target, weight, meta = ds[0]
    assert image.shape == (3, 128, 96) and target.shape == (16, 32, 24)
    with pytest.raises(ValueError, match="MODEL.NUM_JOINTS=17 but MPIIDataset has 16"):
        _dataset(mpii_root, opts=["MODEL.NUM_JOINTS", "17"])


def test_missing_files_name_the_path(tmp_path, mpii_root):
    with pytest.raises(FileNotFoundError, match=r"MPII root .*nowhere.*\n.*expected MPII layout"):
        _dataset(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"annot/train\.json does not exist"):
        _dataset(mpii_root, opts=["DATASET.TEST_SET", "train"])
    (mpii_root / "annot" / "bad.json").write_text('[{"image": "a.jpg", "center": [1, 2]}]')
    with pytest.raises(ValueError, match=r"bad\.json: entry 0 is not an HRNet MPII record"):
        _dataset(mpii_root, opts=["DATASET.TEST_SET", "bad"])


def test_pckh_perfect_and_controlled_errors():
    rng = np.random.default_rng(0)
    n = 4
    gt = rng.uniform(100, 400, size=(n, 16, 2))
    vis = np.ones((n, 16))
    boxes = np.zeros((n, 2, 2))
    boxes[:, 1] = [30.0, 40.0]  # diagonal 50 -> head size 0.6 * 50 = 30 px
    perfect = compute_pckh(gt, gt, vis, boxes)
    assert list(perfect) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean", "Mean@0.1"]
    assert all(v == pytest.approx(100.0) for v in perfect.values())

    preds = gt.copy()
    preds[0, 9, 0] += 16.0  # head of person 0: 16 px > 0.5 * 30 -> miss
    preds[:, 12, 1] += 10.0  # right shoulder of everyone: hit at 0.5 (15 px), miss at 0.1 (3 px)
    preds[:, 6] += 1000.0  # pelvis is excluded from the means
    vis[1, 0] = 0  # person 1 right ankle unannotated: its error is ignored
    preds[1, 0] += 1000.0
    result = compute_pckh(preds, gt, vis, boxes)
    assert result["Head"] == pytest.approx(75.0)
    assert result["Shoulder"] == pytest.approx(100.0)
    assert result["Ankle"] == pytest.approx(100.0)
    counts = np.array([3] + [4] * 15, dtype=float)
    counts[[6, 7]] = 0
    assert result["Mean"] == pytest.approx(100 * (counts.sum() - 1) / counts.sum())
    assert result["Mean@0.1"] == pytest.approx(100 * (counts.sum() - 1 - 4) / counts.sum())
    with pytest.raises(ValueError, match=r"expected preds \(N, 16, 2\)"):
        compute_pckh(preds[:, :15], gt, vis, boxes)


def test_evaluate_reads_gt_valid_mat(mpii_root, tmp_path):
    ds = _dataset(mpii_root)
    with pytest.raises(FileNotFoundError, match=r"annot/gt_valid\.mat"):
        ds.evaluate(np.zeros((5, 16, 2)))
    raw = json.loads((mpii_root / "annot" / "valid.json").read_text())
    boxes = _write_gt_mat(mpii_root / "annot" / "gt_valid.mat", raw)
    preds = np.stack([record["joints"] for record in ds.db])  # 0-based, as a model would predict
    name_value, mean = ds.evaluate(preds, str(tmp_path / "out"))
    assert mean == pytest.approx(100.0) and name_value["Mean@0.1"] == pytest.approx(100.0)
    saved = loadmat(tmp_path / "out" / "pred.mat")["preds"]
    np.testing.assert_allclose(saved, preds + 1)

    # Move every left wrist (15) by 0.3 head sizes: still a hit at 0.5, a miss at 0.1.
    head_size = 0.6 * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=-1)
    moved = preds.copy()
    moved[:, 15, 0] += 0.3 * head_size
    name_value, mean = ds.evaluate(moved)
    assert name_value["Wrist"] == pytest.approx(100.0) and mean == pytest.approx(100.0)
    assert name_value["Mean@0.1"] < 100.0
    with pytest.raises(ValueError, match="preds hold 4 people"):
        ds.evaluate(preds[:4])
