"""The person-box sources: the three json formats, errors naming the file and entry, exactly one source chosen, and
the optional torchvision detector that says what to do and never downloads."""
import json
import sys
import types

import numpy as np
import pytest
import torch

from lib.core.person_boxes import BoxSourceError, DetectorUnavailable, JsonBoxes, TorchvisionDetector, make_box_source
from tests.helpers import synthetic_val_images

def test_json_box_formats(tmp_path, tiny_synthetic):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"a.jpg": [[1, 2, 30, 40], [5, 6, 7, 8, 0.3]], "sub/b.png": []}))
    boxes = JsonBoxes(plain, min_score=0.5)
    np.testing.assert_allclose(boxes(None, "/x/a.jpg"), [[1, 2, 30, 40, 1.0]])
    assert boxes(None, "b.png").shape == (0, 5) and boxes(None, "c.jpg").shape == (0, 5)

    detections = tmp_path / "det.json"
    detections.write_text(json.dumps([
        {"image_id": 397133, "category_id": 1, "bbox": [1, 1, 10, 20], "score": 0.9},
        {"image_id": 397133, "category_id": 2, "bbox": [1, 1, 10, 20], "score": 0.9},
        {"image_id": 5, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.8, "file_name": "frame.png"},
    ]))
    boxes = JsonBoxes(detections)
    np.testing.assert_allclose(boxes(None, "000000397133.jpg"), [[1, 1, 10, 20, 0.9]])
    np.testing.assert_allclose(boxes(None, "frame.png"), [[0, 0, 4, 4, 0.8]])

    annotations = tiny_synthetic / "annotations" / "person_keypoints_val2017.json"
    coco = JsonBoxes(annotations)
    image = json.loads(annotations.read_text())["images"][0]
    name, (_, boxes) = image["file_name"], synthetic_val_images(tiny_synthetic)[image["file_name"]]
    np.testing.assert_allclose(coco(None, name), [[*box, 1.0] for box in boxes])
    assert coco.image_id_for(name) == image["id"]


@pytest.mark.parametrize("content,message", [
    ('{"a.jpg": [[1, 2, 3]]}', r"'a.jpg'\[0\]: a box must be"),
    ('[{"bbox": [1, 2, 3, 4]}]', "entry 0 needs 'bbox' and 'image_id'"),
    ('{"a.jpg": [[1, 2, 3, 4]', "not valid JSON"),
    ('"boxes"', "expected a COCO annotation object"),
], ids=["short-box", "no-image-id", "syntax", "wrong-type"])
def test_bad_boxes_json_names_file_and_entry(tmp_path, content, message):
    path = tmp_path / "boxes.json"
    path.write_text(content)
    with pytest.raises(BoxSourceError, match=message) as info:
        JsonBoxes(path)
    assert "boxes.json" in str(info.value)


def test_box_source_must_be_chosen_once():
    with pytest.raises(BoxSourceError, match="no person box source given") as info:
        make_box_source()
    assert all(argument in str(info.value) for argument in ("boxes_json", "detector='torchvision'", "whole_image"))
    with pytest.raises(BoxSourceError, match="boxes_json and whole_image"):
        make_box_source(boxes_json="x.json", whole_image=True)
    image = np.zeros((20, 10, 3), np.uint8)
    np.testing.assert_allclose(make_box_source(whole_image=True)(image), [[0, 0, 10, 20, 1]])


def test_detector_without_torchvision_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails even where torchvision is installed
    with pytest.raises(DetectorUnavailable, match="needs torchvision") as info:
        make_box_source(detector="torchvision")
    assert "a boxes json" in str(info.value) and "the whole image" in str(info.value)


def test_detector_without_cached_weights_downloads_nothing(monkeypatch, tmp_path):
    """A stand-in torchvision whose builder must never be called: the cache check comes first."""
    weights = types.SimpleNamespace(url="https://download.example/fasterrcnn_coco-123.pth",
                                    meta={"categories": ["__background__", "person"]})
    detection = types.ModuleType("torchvision.models.detection")
    detection.FasterRCNN_ResNet50_FPN_Weights = types.SimpleNamespace(DEFAULT=weights)
    detection.fasterrcnn_resnet50_fpn = lambda **kwargs: pytest.fail("the detector was built without weights")
    models = types.ModuleType("torchvision.models")
    models.detection = detection
    torchvision = types.ModuleType("torchvision")
    torchvision.models = models
    for name, module in (("torchvision", torchvision), ("torchvision.models", models),
                         ("torchvision.models.detection", detection)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(DetectorUnavailable) as info:
        TorchvisionDetector(torch.device("cpu"))
    message = str(info.value)
    assert str(tmp_path / "checkpoints" / "fasterrcnn_coco-123.pth") in message and "weights='DEFAULT'" in message
