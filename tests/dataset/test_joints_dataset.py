"""The shared sample pipeline on the tiny synthetic COCO set: shapes, geometry, flips, targets, skipping."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lib.config import load_cfg
from lib.dataset.coco import COCODataset
from lib.dataset.joints_dataset import ImageReadError
from lib.utils.transforms import affine_points, flip_permutation, get_affine_transform

SMALL = ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]", "MODEL.SIGMA", "2.0"]


@pytest.fixture(autouse=True)
def _fast_torch():
    torch.set_num_threads(1)


@pytest.fixture
def coco_root(tmp_path, tiny_synthetic):
    """A COCO-layout root over the synthetic validation split: annotations/person_keypoints_val.json + images/val/."""
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "person_keypoints_val.json").symlink_to(
        tiny_synthetic / "annotations" / "person_keypoints_val2017.json")
    (tmp_path / "images" / "val").mkdir(parents=True)
    for image in sorted((tiny_synthetic / "images" / "val2017").glob("*.jpg")):
        (tmp_path / "images" / "val" / image.name).symlink_to(image)
    return tmp_path


def _dataset(root, is_train=False, opts=()):
    cfg = load_cfg(None, SMALL + ["DATASET.ROOT", str(root)] + list(opts))
    return COCODataset(cfg, str(root), "val", is_train)


def _unlabelled(ds):
    """Persons annotated without a single labelled joint (evaluation and training leave them out)."""
    return sum(not any(v > 0 for v in a["keypoints"][2::3]) for a in ds.coco.loadAnns(ds.coco.getAnnIds()))


def _to_image(points_hm, meta, codec, image_width):
    """Heatmap px -> image px for one sample, undoing rotation and flip (test-side inverse of the pipeline)."""
    inverse = get_affine_transform(meta["center"], meta["scale"], meta["rotation"], codec.input_size, inv=True)
    points = affine_points(codec.heatmap_to_input(points_hm), inverse)
    if meta["flipped"]:
        points[:, 0] = image_width - 1 - points[:, 0]
    return points


def test_sample_shapes_dtypes_and_collate(coco_root):
    ds = _dataset(coco_root)
    assert len(ds) == len(ds.coco.getAnnIds(iscrowd=False)) - _unlabelled(ds) > 3
    image, target, weight, meta = ds[0]
    assert image.shape == (3, 128, 96) and image.dtype == torch.float32
    assert target.shape == (17, 32, 24) and target.dtype == torch.float32
    assert weight.shape == (17, 1) and weight.dtype == torch.float32
    assert meta["joints"].shape == (17, 3) and meta["joints_hm"].shape == (17, 2)
    assert meta["joints_hm"].dtype == np.float32 and meta["center"].dtype == np.float32
    assert meta["joints_vis"].shape == (17,) and meta["flipped"] is False and meta["skipped"] == 0
    assert isinstance(meta["image_id"], int) and isinstance(meta["area_hm"], float)
    # ImageNet normalisation: roughly zero-centred values in a few std.
    assert -2.2 < image.min() and image.max() < 2.7
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch[0].shape == (3, 3, 128, 96) and batch[3]["joints_hm"].shape == (3, 17, 2)
    assert ds.num_joints == 17 and ds.codec.heatmap_size == (24, 32)


def test_color_order_and_normalisation(coco_root):
    rgb = _dataset(coco_root)[0][0]
    bgr = _dataset(coco_root, opts=["DATASET.COLOR_RGB", "False"])[0][0]
    # Same pixels, channels reversed, each normalised with its own colour's statistics.
    torch.testing.assert_close(bgr, rgb.flip(0))


@pytest.mark.parametrize("is_train", [False, True], ids=["eval", "train"])
def test_joints_round_trip_through_the_crop(coco_root, is_train):
    opts = ["DATASET.ROT_PROB", "1.0", "DATASET.PROB_HALF_BODY", "0.5"] if is_train else []
    ds = _dataset(coco_root, is_train, opts)
    flips = set()
    for seed in range(6):
        torch.manual_seed(seed)
        for i in range(len(ds)):
            _, _, weight, meta = ds[i]
            record = ds.db[i]
            width = ds.read_image(record["image"]).shape[1]
            labelled = record["joints_vis"] > 0
            perm = flip_permutation(17, ds.flip_pairs) if meta["flipped"] else np.arange(17)
            back = _to_image(meta["joints_hm"].astype(np.float64), meta, ds.codec, width)[perm]
            # joints_hm is float32 in meta; even so it maps back to the annotation within 1e-3 image px.
            np.testing.assert_allclose(back[labelled], record["joints"][labelled], atol=1e-3)
            flips.add(meta["flipped"])
        if not is_train:
            break
    assert flips == ({False, True} if is_train else {False})


def test_joints_round_trip_float64_within_1e3(coco_root):
    """The exact maps (before the float32 meta cast) round-trip to 1e-3 px."""
    ds = _dataset(coco_root, True, ["DATASET.ROT_PROB", "1.0"])
    codec = ds.codec
    record = ds.db[1]
    center, scale = record["center"].astype(np.float64), record["scale"] * 1.1
    for rotation in (0.0, 33.0):
        crop = get_affine_transform(center, scale, rotation, codec.input_size)
        joints_hm = codec.input_to_heatmap(affine_points(record["joints"], crop))
        inverse = get_affine_transform(center, scale, rotation, codec.input_size, inv=True)
        back = affine_points(codec.heatmap_to_input(joints_hm), inverse)
        np.testing.assert_allclose(back, record["joints"], atol=1e-3)


def test_target_peaks_sit_at_the_transformed_joints(coco_root):
    ds = _dataset(coco_root, True)
    torch.manual_seed(0)
    checked = 0
    for i in range(len(ds)):
        _, target, weight, meta = ds[i]
        for k in np.flatnonzero(weight[:, 0].numpy() > 0):
            x, y = meta["joints_hm"][k]
            if 0 <= x <= 23 and 0 <= y <= 31:
                row, col = np.unravel_index(int(target[k].argmax()), (32, 24))
                assert abs(col - x) <= 0.5 + 1e-6 and abs(row - y) <= 0.5 + 1e-6
                checked += 1
    assert checked > 40


def test_weight_zero_for_joints_outside_the_crop(coco_root):
    ds = _dataset(coco_root)
    # Shrink the first person's box to a quarter: the limbs leave the crop.
    ds.db[0] = dict(ds.db[0], scale=ds.db[0]["scale"] / 4)
    _, target, weight, meta = ds[0]
    joints_hm = meta["joints_hm"]
    sigma3 = 3 * ds.codec.sigma
    far = (joints_hm[:, 0] < -0.5 - sigma3) | (joints_hm[:, 0] > 23.5 + sigma3) \
        | (joints_hm[:, 1] < -0.5 - sigma3) | (joints_hm[:, 1] > 31.5 + sigma3)
    assert far.sum() >= 2
    assert (weight[far, 0] == 0).all()
    assert not target[torch.from_numpy(far)].any()
    assert (weight[~far, 0] == torch.from_numpy((ds.db[0]["joints_vis"][~far] > 0).astype(np.float32))).all()


def test_flip_mirrors_the_image_and_swaps_the_pairs(coco_root):
    fixed = ["DATASET.SCALE_FACTOR", "0.0", "DATASET.ROT_PROB", "0.0", "DATASET.PROB_HALF_BODY", "0.0"]
    plain = _dataset(coco_root, False)[2]
    train = _dataset(coco_root, True, fixed)
    for seed in range(20):
        torch.manual_seed(seed)
        flipped = train[2]
        if flipped[3]["flipped"]:
            break
    else:
        pytest.fail("no flipped sample in 20 seeds")
    perm = flip_permutation(17, train.flip_pairs)
    # The crop is the mirror of the unflipped crop (up to OpenCV's fixed-point interpolation).
    diff = (flipped[0] - plain[0].flip(-1)).abs()
    assert diff.mean() < 0.01 and diff.max() < 0.1
    torch.testing.assert_close(flipped[1], plain[1][perm].flip(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(flipped[2], plain[2][perm])
    mirrored_hm = plain[3]["joints_hm"][perm].copy()
    labelled = plain[3]["joints_vis"][perm] > 0
    mirrored_hm[labelled, 0] = 23 - mirrored_hm[labelled, 0]
    np.testing.assert_allclose(flipped[3]["joints_hm"], mirrored_hm, atol=1e-4)
    # Left and right are different joints in this person, so the swap is visible.
    assert not np.allclose(flipped[3]["joints_hm"], plain[3]["joints_hm"])


def test_training_is_reproducible_under_torch_seed(coco_root):
    ds = _dataset(coco_root, True)
    torch.manual_seed(7)
    first = ds[3]
    torch.manual_seed(7)
    second = ds[3]
    torch.testing.assert_close(first[0], second[0])
    assert first[3]["rotation"] == second[3]["rotation"]


def test_half_body_choice_is_fair(coco_root):
    ds = _dataset(coco_root, True)
    record = max(ds.db, key=lambda r: int((r["joints_vis"] > 0).sum()))  # a person with both halves labelled
    labelled = record["joints_vis"] > 0
    assert labelled[list(ds.upper_body_ids)].sum() > 2 and labelled[list(ds.lower_body_ids)].sum() > 2
    rng = np.random.default_rng(0)
    upper_center = record["joints"][[k for k in ds.upper_body_ids if labelled[k]]].mean(axis=0)
    picks = [np.allclose(ds.half_body_center_scale(record["joints"], labelled, rng)[0], upper_center)
             for _ in range(2000)]
    assert 0.46 < np.mean(picks) < 0.54


def test_corrupt_image_raises_naming_the_file(coco_root):
    name = os.path.basename(_dataset(coco_root).db[0]["image"])
    victim = coco_root / "images" / "val" / name  # the first record's image
    victim.unlink()
    victim.write_bytes(b"not a jpeg at all")
    ds = _dataset(coco_root)
    with pytest.raises(ImageReadError, match=rf"{name}.*not a decodable image"):
        ds[0]
    victim.unlink()
    with pytest.raises(ImageReadError, match=rf"{name}: image file not found"):
        ds[0]


def test_skip_corrupt_returns_another_sample_and_counts(coco_root):
    db = _dataset(coco_root).db
    # The image of the first person that shares it with the next one: two bad records in a row, after a good one.
    first = next(i for i in range(1, len(db) - 2) if db[i]["image"] == db[i + 1]["image"] != db[i + 2]["image"]
                 and db[i - 1]["image"] != db[i]["image"])
    victim = Path(db[first]["image"])
    victim.unlink()
    victim.write_bytes(b"\xff\xd8 truncated")
    ds = _dataset(coco_root, opts=["DATASET.SKIP_CORRUPT", "True"])
    bad = [i for i, r in enumerate(ds.db) if r["image"] == str(victim)]
    assert bad == [first, first + 1]
    sample = ds[first]  # the next readable sample instead, two tries later
    assert sample[3]["skipped"] == 2 and sample[3]["image"] == ds.db[first + 2]["image"]
    assert ds[first - 1][3]["skipped"] == 0
    batch = next(iter(DataLoader(torch.utils.data.Subset(ds, range(first - 1, first + 4)), batch_size=5)))
    assert batch[3]["skipped"].tolist() == [0, 2, 1, 0, 0]
    assert ds.reset_skipped() == 2 + 3 and ds.num_skipped == 0


def test_zip_images_work_in_worker_processes(coco_root, tmp_path_factory):
    import zipfile

    root = tmp_path_factory.mktemp("zipped")
    (root / "annotations").mkdir()
    shutil.copy(coco_root / "annotations" / "person_keypoints_val.json", root / "annotations")
    (root / "images").mkdir()
    with zipfile.ZipFile(root / "images" / "val.zip", "w") as archive:
        for photo in sorted((coco_root / "images" / "val").glob("*.jpg")):
            archive.write(photo, f"val/{photo.name}")
    ds = _dataset(root)
    loader = DataLoader(ds, batch_size=5, num_workers=2)
    zipped = next(iter(loader))
    folder = next(iter(DataLoader(_dataset(coco_root), batch_size=5)))
    torch.testing.assert_close(zipped[0], folder[0], atol=0, rtol=0)
    assert all(".zip@val/" in name for name in zipped[3]["image"])
    assert not os.path.exists(root / "images" / "val")
