"""COCODataset on the tiny synthetic set: records, layouts (folder, <set>/, zip), detection boxes, bad input."""
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lib.config import load_cfg
from lib.dataset import DATASETS, build_dataset
from lib.dataset.coco import COCODataset, clean_box
from lib.dataset.keypoint_info import COCO_KEYPOINTS

SMALL = ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]", "MODEL.SIGMA", "2.0"]


@pytest.fixture(autouse=True)
def _fast_torch():
    torch.set_num_threads(1)


@pytest.fixture
def source(tiny_synthetic):
    """The synthetic validation split the layouts below are made of."""
    return tiny_synthetic


def _raw(source):
    return json.loads((source / "annotations" / "person_keypoints_val2017.json").read_text())


def _labelled(annotation):
    """A person with at least one labelled joint (the others are left out of the records, as in COCO)."""
    return any(v > 0 for v in annotation["keypoints"][2::3])


def _annotations(root, source, name="person_keypoints_val.json"):
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / name).symlink_to(source / "annotations" / "person_keypoints_val2017.json")


def _images(source):
    return sorted((source / "images" / "val2017").glob("*.jpg"))


def _folder(folder, source):
    folder.mkdir(parents=True)
    for image in _images(source):
        (folder / image.name).symlink_to(image)


def _zip(path, source, prefix="val/"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for image in _images(source):
            archive.write(image, prefix + image.name)


@pytest.fixture
def coco_root(tmp_path, source):
    root = tmp_path / "coco"
    _annotations(root, source)
    _folder(root / "images" / "val", source)
    return root


def _cfg(root, opts=()):
    return load_cfg(None, SMALL + ["DATASET.ROOT", str(root), "DATASET.TEST_SET", "val", "DATASET.TRAIN_SET", "val"]
                    + list(opts))


def _dataset(root, is_train=False, opts=()):
    return COCODataset(_cfg(root, opts), str(root), "val", is_train)


def test_records_follow_the_annotations(coco_root, source):
    ds = _dataset(coco_root)
    raw = _raw(source)
    labelled = [ann for ann in raw["annotations"] if _labelled(ann)]
    assert ds.has_keypoints and ds.annotation_file == str(coco_root / "annotations" / "person_keypoints_val.json")
    assert len(ds) == len(labelled) < len(raw["annotations"])  # persons without a labelled joint are left out
    assert ds.image_ids == sorted(image["id"] for image in raw["images"])
    assert len(ds.coco.getAnnIds()) == len(raw["annotations"])
    names = {image["id"]: image["file_name"] for image in raw["images"]}
    for record, ann in zip(ds.db, sorted(labelled, key=lambda a: (a["image_id"], a["id"]))):
        assert record["image_id"] == ann["image_id"]
        assert record["image"] == str(coco_root / "images" / "val" / names[ann["image_id"]])
        keypoints = np.array(ann["keypoints"]).reshape(17, 3)
        np.testing.assert_allclose(record["joints"], keypoints[:, :2])
        np.testing.assert_array_equal(record["joints_vis"], keypoints[:, 2])
        assert record["area"] == ann["area"] and record["score"] == 1.0
        assert record["center"].shape == (2,) and record["scale"].shape == (2,)
        # Aspect-fixed to the 96x128 input and padded by 1.25.
        assert record["scale"][0] / record["scale"][1] == pytest.approx(0.75, rel=1e-5)
    assert ds.keypoint_info is COCO_KEYPOINTS and ds.metric == "coco_oks"
    assert ds.flip_pairs == COCO_KEYPOINTS.flip_pairs and len(ds.joint_names) == 17
    assert ds.joint_names[15] == "left_ankle"


def test_box_is_clipped_to_the_image():
    assert clean_box([-10, 5, 50, 20], 100, 100) == [0.0, 5.0, 40.0, 20.0]
    assert clean_box([90, 5, 50, 200], 100, 100) == [90.0, 5.0, 10.0, 95.0]
    assert clean_box([120, 5, 50, 20], 100, 100) is None


def test_training_filters_crowd_empty_and_unlabelled(tmp_path, source):
    raw = _raw(source)
    anns = sorted((ann for ann in raw["annotations"] if _labelled(ann)), key=lambda a: (a["image_id"], a["id"]))
    anns[0]["iscrowd"] = 1
    anns[1]["keypoints"] = [0] * 51
    anns[2]["area"] = 0
    root = tmp_path / "edited"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "person_keypoints_val.json").write_text(json.dumps(raw))
    _folder(root / "images" / "val", source)
    ds = _dataset(root, is_train=True)
    assert [r["area"] for r in ds.db] == [ann["area"] for ann in anns[3:]]


def test_set_folder_layout_and_builder(tmp_path, coco_root, source):
    root = tmp_path / "flat"
    _annotations(root, source)
    _folder(root / "val", source)  # ROOT/<set>/, the original's layout
    cfg = _cfg(root, ["DATASET.DATA_FORMAT", "jpg"])
    ds = build_dataset(cfg, is_train=False)
    assert isinstance(ds, COCODataset) and DATASETS["coco"] is COCODataset
    assert ds.db[0]["image"] == str(root / "val" / Path(_dataset(coco_root).db[0]["image"]).name)
    assert ds[0][0].shape == (3, 128, 96)


@pytest.mark.parametrize("prefix", ["val/", ""], ids=["set-folder-in-zip", "flat-zip"])
def test_zip_reading_equals_folder_reading(coco_root, tmp_path, source, prefix):
    root = tmp_path / "zipped"
    _annotations(root, source)
    _zip(root / "images" / "val.zip", source, prefix)
    zipped = _dataset(root)
    folder = _dataset(coco_root)
    assert zipped.db[0]["image"] == f"{root / 'images' / 'val.zip'}@{prefix}{Path(folder.db[0]['image']).name}"
    for i in (0, 4):
        a, b = zipped[i], folder[i]
        torch.testing.assert_close(a[0], b[0], atol=0, rtol=0)
        torch.testing.assert_close(a[1], b[1], atol=0, rtol=0)


def test_data_format_picks_the_source(coco_root, tmp_path, source):
    _zip(coco_root / "images" / "val.zip", source)
    assert ".zip@" in _dataset(coco_root, opts=["DATASET.DATA_FORMAT", "zip"]).db[0]["image"]
    assert ".zip@" not in _dataset(coco_root, opts=["DATASET.DATA_FORMAT", "auto"]).db[0]["image"]


def test_detection_boxes(coco_root, tmp_path, source):
    first, second, third = sorted(image["id"] for image in _raw(source)["images"])[:3]
    detections = [  # boxes inside every synthetic image (at least 340 px each way)
        {"image_id": first, "category_id": 1, "bbox": [50.0, 12.0, 175.0, 251.0], "score": 0.9},
        {"image_id": second, "category_id": 1, "bbox": [40.0, 70.0, 130.0, 200.0], "score": 0.6},
        {"image_id": second, "category_id": 1, "bbox": [10.0, 10.0, 30.0, 40.0], "score": 0.05},  # below IMAGE_THRE
        {"image_id": third, "category_id": 2, "bbox": [0.0, 0.0, 100.0, 100.0], "score": 0.99},  # not a person
    ]
    bbox_file = tmp_path / "dets.json"
    bbox_file.write_text(json.dumps(detections))
    ds = _dataset(coco_root, opts=["TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", str(bbox_file),
                                   "TEST.IMAGE_THRE", "0.1"])
    assert len(ds) == 2
    assert [r["score"] for r in ds.db] == [0.9, 0.6] and [r["image_id"] for r in ds.db] == [first, second]
    assert ds.db[1]["area"] == pytest.approx(130.0 * 200.0)
    assert not ds.db[0]["joints"].any() and not ds.db[0]["joints_vis"].any()
    image, target, weight, meta = ds[0]
    assert image.shape == (3, 128, 96) and not weight.any() and not target.any() and meta["score"] == pytest.approx(0.9)

    detections.append({"image_id": 99, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 1.0})
    bbox_file.write_text(json.dumps(detections))
    with pytest.raises(ValueError, match=r"dets\.json: entry 4 has image_id 99"):
        _dataset(coco_root, opts=["TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", str(bbox_file)])
    with pytest.raises(FileNotFoundError, match=r"TEST.COCO_BBOX_FILE .*missing\.json"):
        _dataset(coco_root, opts=["TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", str(tmp_path / "missing.json")])


def test_image_info_set_needs_detections(tmp_path, source):
    root = tmp_path / "test-dev"
    raw = _raw(source)
    info = {"images": raw["images"], "categories": raw["categories"]}
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "image_info_val.json").write_text(json.dumps(info))
    _folder(root / "images" / "val", source)
    with pytest.raises(ValueError, match="no keypoint annotations.*TEST.USE_GT_BBOX False"):
        _dataset(root)
    bbox_file = tmp_path / "dets.json"
    bbox_file.write_text(json.dumps([{"image_id": raw["images"][2]["id"], "category_id": 1, "bbox": [0, 40, 300, 300],
                                      "score": 0.8}]))
    ds = _dataset(root, opts=["TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", str(bbox_file)])
    assert not ds.has_keypoints and len(ds) == 1 and ds.annotation_file.endswith("image_info_val.json")


def test_missing_root_annotation_and_images(tmp_path, coco_root, source):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*DATASET.ROOT.*\n.*expected COCO layout"):
        _dataset(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"person_keypoints_val\.json.*\n.*expected COCO layout"):
        _dataset(empty)
    no_images = tmp_path / "no_images"
    _annotations(no_images, source)
    with pytest.raises(FileNotFoundError, match=r"images/val, .*/val, .*images/val\.zip exists\n.*expected COCO"):
        _dataset(no_images)
    with pytest.raises(FileNotFoundError, match=r"DATA_FORMAT=zip.*images/val\.zip exists"):
        _dataset(coco_root, opts=["DATASET.DATA_FORMAT", "zip"])


def test_bad_zip_and_missing_member(tmp_path, coco_root, source):
    first = Path(_dataset(coco_root).db[0]["image"]).name
    root = tmp_path / "badzip"
    _annotations(root, source)
    (root / "images").mkdir()
    (root / "images" / "val.zip").write_bytes(b"PK not really")
    with pytest.raises(ValueError, match=r"val\.zip: not a readable zip"):
        _dataset(root)
    with zipfile.ZipFile(root / "images" / "val.zip", "w") as archive:
        archive.writestr("val/other.jpg", b"")
    with pytest.raises(FileNotFoundError, match=rf"val\.zip: holds neither 'val/{first}' nor '{first}'"):
        _dataset(root)


def test_malformed_json_names_file_and_position(tmp_path):
    root = tmp_path / "broken"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "person_keypoints_val.json").write_text('{"images": [\n  {"id": 1,, }]}')
    (root / "images" / "val").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"person_keypoints_val\.json: annotation file is not valid JSON: .* line 2"):
        _dataset(root)
    (root / "annotations" / "person_keypoints_val.json").write_text('{"images": [{"id": 1}], "annotations": []}')
    with pytest.raises(ValueError, match=r"images\[0\] needs 'id' and 'file_name'"):
        _dataset(root)
    (root / "annotations" / "person_keypoints_val.json").write_text('[1, 2]')
    with pytest.raises(ValueError, match="expected a COCO json object"):
        _dataset(root)


def test_num_joints_must_match(coco_root):
    with pytest.raises(ValueError, match="MODEL.NUM_JOINTS=16 but COCODataset has 17"):
        _dataset(coco_root, opts=["MODEL.NUM_JOINTS", "16"])
