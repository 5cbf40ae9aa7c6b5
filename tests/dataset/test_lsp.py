"""LSPDataset on LSP-format fixtures the tests write themselves (joints.mat through scipy.io, a few generated images):
both releases' layouts and flags, splits, flip pairs, centre and scale, the pipeline, and PCK@0.2 evaluate()
against hand-computed values."""
import json

import numpy as np
import pytest
import torch
from scipy.io import savemat

from lib.config import load_cfg
from lib.dataset import build_dataset
from lib.dataset.keypoint_info import LSP_KEYPOINTS
from lib.dataset.lsp import LSPDataset, read_lsp_joints
from tools.data.make_lsp_fixture import write_lsp_fixture

SMALL = ["DATASET.DATASET", "lsp", "MODEL.NUM_JOINTS", "14", "MODEL.IMAGE_SIZE", "[48, 64]",
         "MODEL.HEATMAP_SIZE", "[12, 16]", "MODEL.SIGMA", "1.0"]


@pytest.fixture(autouse=True)
def _fast_torch():
    torch.set_num_threads(1)


def _dataset(root, image_set, is_train=False, opts=()):
    cfg = load_cfg(None, SMALL + ["DATASET.ROOT", str(root), "DATASET.TEST_SET", image_set,
                                  "DATASET.TRAIN_SET", image_set] + list(opts))
    return build_dataset(cfg, is_train)


def _write_mat(folder, per_image, release):
    """per_image: (N, 14, 3) of 1-based x, y and the release's own flag -> folder/joints.mat, folder/images/."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    array = np.transpose(per_image, (2, 1, 0)) if release == "lsp" else np.transpose(per_image, (1, 2, 0))
    savemat(folder / "joints.mat", {"joints": array})


def test_original_lsp_layout_3x14xN_with_the_occlusion_flag(tmp_path):
    per_image = np.zeros((2, 14, 3))
    per_image[..., 0] = np.arange(14) * 10 + 11  # 1-based x
    per_image[..., 1] = 101
    per_image[0, 4, 2] = 1  # LSP: 1 = occluded
    per_image[1, 7, :2] = 0  # a (0, 0) placeholder: missing
    _write_mat(tmp_path, per_image, "lsp")
    release, joints, vis = read_lsp_joints(tmp_path / "joints.mat")
    assert release == "lsp" and joints.shape == (2, 14, 2)
    np.testing.assert_allclose(joints[0, :, 0], np.arange(14) * 10 + 10)  # 0-based
    assert vis[0, 4] == 1 and vis[0, 3] == 2 and vis[1, 7] == 0 and (vis[1, np.arange(14) != 7] == 2).all()
    ds = _dataset(tmp_path, "all")
    assert [r["image"].rsplit("/", 1)[1] for r in ds.db] == ["im0001.jpg", "im0002.jpg"]


def test_extended_lspet_layout_14x3xN_with_the_visibility_flag(tmp_path):
    per_image = np.zeros((3, 14, 3))
    per_image[..., :2] = 50.0
    per_image[..., 2] = 1  # LSPET: 1 = visible
    per_image[2, 0, 2] = 0  # occluded
    _write_mat(tmp_path, per_image, "lspet")
    release, joints, vis = read_lsp_joints(tmp_path / "joints.mat")
    assert release == "lspet" and joints.shape == (3, 14, 2)
    assert vis[2, 0] == 1 and (vis[:2] == 2).all() and (joints == 49.0).all()
    ds = _dataset(tmp_path, "train")  # LSPET's train split: every image
    assert len(ds) == 3 and ds.db[2]["image"].endswith("images/im00003.jpg")


def test_written_fixture_round_trips_in_both_layouts(tmp_path):
    for release in ("lsp", "lspet"):
        joints, visible = write_lsp_fixture(tmp_path / release, num_images=3, release=release, seed=4)
        read_release, read_joints, vis = read_lsp_joints(tmp_path / release / "joints.mat")
        assert read_release == release
        np.testing.assert_allclose(read_joints, joints, atol=1e-9)
        np.testing.assert_array_equal(vis, np.where(visible, 2, 1))


def test_bad_files_name_the_file_and_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"joints\.mat does not exist"):
        _dataset(tmp_path, "all")
    (tmp_path / "images").mkdir()
    savemat(tmp_path / "joints.mat", {"joints": np.zeros((14, 2, 5))})
    with pytest.raises(ValueError, match=r"joints\.mat: 'joints' has shape \(14, 2, 5\); expected 3 x 14 x N"):
        _dataset(tmp_path, "all")
    savemat(tmp_path / "joints.mat", {"points": np.zeros((14, 3, 5))})
    with pytest.raises(ValueError, match=r"no 'joints' array \(found \['points'\]\)"):
        _dataset(tmp_path, "all")


def test_splits_halves_ranges_and_combined_releases(tmp_path):
    # A 2000-image LSP file (no images needed: they are read lazily) and a 4-image LSPET file.
    per_image = np.full((2000, 14, 3), 20.0)
    per_image[..., 2] = 0
    _write_mat(tmp_path / "lsp_dataset", per_image, "lsp")
    lspet = np.full((4, 14, 3), 20.0)
    lspet[..., 2] = 1
    _write_mat(tmp_path / "lspet_dataset", lspet, "lspet")
    train = _dataset(tmp_path, "lsp_dataset/train")
    test = _dataset(tmp_path, "lsp_dataset/test")
    assert len(train) == len(test) == 1000
    assert train.db[0]["image"].endswith("im0001.jpg") and train.db[-1]["image"].endswith("im1000.jpg")
    assert test.db[0]["image"].endswith("im1001.jpg") and test.db[-1]["image"].endswith("im2000.jpg")
    both = _dataset(tmp_path, "lspet_dataset/train+lsp_dataset/10:12")
    assert [r["image"].rsplit("/", 1)[1] for r in both.db] == ["im00001.jpg", "im00002.jpg", "im00003.jpg",
                                                               "im00004.jpg", "im0011.jpg", "im0012.jpg"]
    assert [r["image_id"] for r in both.db] == list(range(6))
    with pytest.raises(ValueError, match="LSPET has no test split"):
        _dataset(tmp_path, "lspet_dataset/test")
    with pytest.raises(ValueError, match="holds no image of the 4"):
        _dataset(tmp_path, "lspet_dataset/7:9")
    with pytest.raises(ValueError, match="selection 'val' is not 'train', 'test', 'all' or 'a:b'"):
        _dataset(tmp_path, "lsp_dataset/val")
    _write_mat(tmp_path / "small", per_image[:20], "lsp")
    with pytest.raises(ValueError, match=r"one half of the 2000-image release, but the file has 20 images"):
        _dataset(tmp_path, "small/train")


def test_flip_pairs_swap_left_and_right():
    assert LSPDataset.keypoint_info is LSP_KEYPOINTS and LSPDataset.flip_pairs == LSP_KEYPOINTS.flip_pairs
    names = LSP_KEYPOINTS.joint_names
    for right, left in LSP_KEYPOINTS.flip_pairs:
        assert names[right].startswith("r_") and names[left] == "l_" + names[right][2:]
    paired = {k for pair in LSP_KEYPOINTS.flip_pairs for k in pair}
    assert sorted(set(range(14)) - paired) == [12, 13]  # neck and head top are central


def test_centre_and_scale_from_the_labelled_joints(tmp_path):
    per_image = np.zeros((1, 14, 3))
    per_image[0, :, 0] = np.linspace(21, 61, 14)  # x 20..60 0-based
    per_image[0, :, 1] = np.linspace(11, 131, 14)  # y 10..130
    per_image[0, 0, :2] = 0  # missing: left out of the box
    _write_mat(tmp_path, per_image, "lsp")
    record = _dataset(tmp_path, "all").db[0]
    lo = [per_image[0, 1, 0] - 1, per_image[0, 1, 1] - 1]
    hi = [60.0, 130.0]
    np.testing.assert_allclose(record["center"], [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2], rtol=1e-6)
    height = hi[1] - lo[1] + 1  # the box is taller than the 48:64 aspect: its width grows to match
    np.testing.assert_allclose(record["scale"], [height * 0.75 / 200 * 1.25, height / 200 * 1.25], rtol=1e-5)
    assert record["area"] == pytest.approx((hi[0] - lo[0] + 1) * height)


def test_pipeline_targets_flip_and_pck_normaliser(tmp_path):
    joints, _ = write_lsp_fixture(tmp_path, num_images=4, release="lspet", seed=2)
    ds = _dataset(tmp_path, "all", is_train=True,
                  opts=["DATASET.SCALE_FACTOR", "0.0", "DATASET.ROT_FACTOR", "0.0", "DATASET.PROB_HALF_BODY", "0.0"])
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        image, target, weight, meta = ds[1]
        assert image.shape == (3, 64, 48) and target.shape == (14, 16, 12) and weight.shape == (14, 1)
        seen.add(meta["flipped"])
        # The person's right wrist is on the image's left; a flip mirrors the crop and swaps the channels, so the
        # right wrist channel stays on the crop's left half.
        assert meta["joints_hm"][6, 0] < meta["joints_hm"][11, 0]
        # The PCK normaliser follows the crop's zoom into heatmap px.
        torso = np.linalg.norm(joints[1, 8] - joints[1, 3])
        zoom = ds.codec.image_to_heatmap_factor(meta["scale"])
        assert meta["pck_norm_hm"] == pytest.approx(torso * zoom, rel=1e-4)
    assert seen == {True, False}


def test_evaluate_pck_at_0_2_of_the_torso_hand_computed(tmp_path):
    per_image = np.zeros((2, 14, 3))
    per_image[:, :, 0] = 100.0 + np.arange(14)
    per_image[:, :, 1] = 100.0
    per_image[:, 8, :2] = [101.0, 101.0]  # right shoulder (0-based 100, 100)
    per_image[:, 3, :2] = [101.0, 201.0]  # left hip (0-based 100, 200): torso 100 px
    per_image[1, 3, :2] = [101.0, 151.0]  # person 1: torso 50 px
    per_image[1, 5, 2] = 1  # person 1's left ankle is occluded (still labelled)
    _write_mat(tmp_path, per_image, "lsp")
    ds = _dataset(tmp_path, "all")
    gt = np.stack([r["joints"] for r in ds.db])
    preds = gt.copy()
    preds[0, 6, 0] += 20.0  # right wrist: 20 px = 0.2 x 100: correct
    preds[0, 11, 0] += 20.5  # left wrist: wrong
    preds[1, 6, 1] += 10.0  # right wrist of person 1: 10 = 0.2 x 50: correct
    preds[1, 0, 1] += 11.0  # right ankle of person 1: wrong
    preds[1, 5, 0] += 6.0  # left ankle (occluded): correct at 0.2, wrong at 0.1 (5 px)
    name_values, mean = ds.evaluate(np.concatenate([preds, np.ones((2, 14, 1))], axis=2), str(tmp_path / "out"))
    assert ds.metric == "pck"  # validate() hands the predictions to this evaluate()
    assert mean == pytest.approx(100.0 * 26 / 28) and name_values["Mean"] == mean
    assert name_values["Wrist"] == pytest.approx((100.0 + 50.0) / 2)  # r_wrist 2/2, l_wrist 1/2
    assert name_values["Ankle"] == pytest.approx((50.0 + 100.0) / 2)
    assert name_values["Head"] == pytest.approx(100.0)
    # At 0.1: r_wrist of both (10 > 10 px? person 0: 20 > 10; person 1: 10 > 5) and the ankles move out as well.
    assert name_values["Mean@0.1"] == pytest.approx(100.0 * 23 / 28)
    assert name_values["Mean (occluded)"] == pytest.approx(100.0) and name_values["Mean (visible)"] == pytest.approx(
        100.0 * 25 / 27)
    assert name_values["PCK@0.2 l_wrist"] == pytest.approx(50.0)
    saved = json.loads((tmp_path / "out" / "results" / "lsp_all_predictions.json").read_text())
    assert len(saved) == 2 and np.allclose(np.array(saved[1]["joints"])[:, :2], preds[1], atol=1e-3)
    with pytest.raises(ValueError, match=r"preds of shape \(1, 14, 3\), expected \(2, 14, 2\+\)"):
        ds.evaluate(np.zeros((1, 14, 3)))
