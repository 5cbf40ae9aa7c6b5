"""Where the persons are: the person-box sources of the demo and of Python users, each a callable
(image_bgr, file_name, image_id) -> (N, 5) boxes x, y, w, h, score in image px, with `description` (for the log) and
`image_id_for(file_name)` (a COCO image id the source knows, or None).

    from lib.core.person_boxes import make_box_source
    boxes = make_box_source(boxes_json="person_keypoints_val2017.json")(image_bgr, "000000397133.jpg")

`JsonBoxes` (a COCO annotation file, COCO detection results, or a plain {"image.jpg": [[x, y, w, h, score], ...]}
file), `TorchvisionDetector` (optional extra, imported lazily, weights only from torchvision's cache) and
`WholeImageBoxes`. A caller picks exactly one; none is ever chosen silently in place of another.
"""
import importlib
import logging
import os
from typing import Dict, Optional, Union
from urllib.parse import urlparse

import cv2
import numpy as np
import torch

from lib.dataset.coco import PERSON_CATEGORY_ID, load_json

logger = logging.getLogger(__name__)

# What the detector's errors suggest instead.
OTHER_SOURCES = "another box source (a boxes json, or the whole image as one person)"


class BoxSourceError(ValueError):
    """No box source, more than one, or a boxes file that cannot be used."""


class DetectorUnavailable(RuntimeError):
    """The optional torchvision detector cannot run here (not installed, or no cached weights)."""


class WholeImageBoxes:
    """The whole image is one person (the original demo's only mode)."""

    description = "whole image"

    def __call__(self, image_bgr, file_name=None, image_id=None) -> np.ndarray:
        height, width = image_bgr.shape[:2]
        return np.array([[0.0, 0.0, float(width), float(height), 1.0]])

    def image_id_for(self, file_name):
        return None


class JsonBoxes:
    """Person boxes read from a json file, looked up per image by file name (base name) or COCO image id.

    Formats (detected from the content):
      * COCO annotation file ({"images": [...], "annotations": [...]}): the non-crowd person boxes (category 1,
        w, h > 0, at least one labelled joint when the annotation has keypoints) with score 1.0; images are matched
        by their `file_name` and take the file's image ids.
      * COCO detection results ([{"image_id", "bbox", "score", "category_id"?, "file_name"?}, ...]): category-1
        boxes with score >= `min_score`, matched by `file_name` when an entry has one, else by image id (for an
        image file named with digits only, like COCO's 000000397133.jpg, that number).
      * Plain boxes: {"image.jpg": [[x, y, w, h], [x, y, w, h, score], ...], ...}, keyed by file base name.

    Args:
        path: the json file.
        min_score: boxes scoring below this are dropped (detections; a box without a score has 1.0).
    Raises:
        BoxSourceError naming the file and the entry for anything malformed.
    """

    def __init__(self, path: Union[str, os.PathLike], min_score: float = 0.0):
        self.path = os.fspath(path)
        self.min_score = float(min_score)
        self.by_name: Dict[str, list] = {}
        self.by_id: Dict[int, list] = {}
        self.ids_by_name: Dict[str, int] = {}
        try:
            data = load_json(self.path, what="boxes json")
        except (ValueError, FileNotFoundError) as e:
            raise BoxSourceError(str(e)) from None
        if isinstance(data, dict) and "annotations" in data and "images" in data:
            self.kind = "COCO annotation file"
            self._read_coco_annotations(data)
        elif isinstance(data, list):
            self.kind = "COCO detection results"
            self._read_detections(data)
        elif isinstance(data, dict):
            self.kind = "plain boxes"
            self._read_plain(data)
        else:
            raise BoxSourceError(f"{self.path}: expected a COCO annotation object, a list of detections or "
                                 f"{{\"image.jpg\": [[x, y, w, h, score], ...]}}, got {type(data).__name__}")
        self.description = f"{self.kind} {self.path}"
        logger.info("%s: %s, boxes for %d images", self.path, self.kind, len(self.by_name) + len(self.by_id))

    def _box(self, values, where):
        if not isinstance(values, (list, tuple)) or len(values) not in (4, 5) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise BoxSourceError(f"{self.path}: {where}: a box must be [x, y, w, h] or [x, y, w, h, score] "
                                 f"numbers, got {values!r:.120}")
        box = [float(v) for v in values] + ([1.0] if len(values) == 4 else [])
        if not np.isfinite(box).all():
            raise BoxSourceError(f"{self.path}: {where}: non-finite box {values!r}")
        return box

    def _keep(self, box):
        return box[2] > 0 and box[3] > 0 and box[4] >= self.min_score

    def _read_coco_annotations(self, data):
        names = {}
        for i, image in enumerate(data["images"]):
            if not isinstance(image, dict) or not {"id", "file_name"} <= set(image):
                raise BoxSourceError(f"{self.path}: images[{i}] needs 'id' and 'file_name', got {image!r:.120}")
            names[image["id"]] = os.path.basename(image["file_name"])
            self.ids_by_name[names[image["id"]]] = int(image["id"])
            self.by_name.setdefault(names[image["id"]], [])
        for i, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict) or "image_id" not in ann or "bbox" not in ann:
                raise BoxSourceError(f"{self.path}: annotations[{i}] needs 'image_id' and 'bbox', got {ann!r:.120}")
            if ann.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID or ann.get("iscrowd", 0):
                continue
            # As evaluation: a person annotated with keypoints but none labelled (COCO's tiny persons) is skipped.
            if "keypoints" in ann and not any(v > 0 for v in ann["keypoints"][2::3]):
                continue
            if ann["image_id"] not in names:
                raise BoxSourceError(f"{self.path}: annotations[{i}] has image_id {ann['image_id']}, which is not "
                                     "in its 'images'")
            box = self._box(list(ann["bbox"]) + [1.0], f"annotations[{i}].bbox")
            if self._keep(box):
                self.by_name[names[ann["image_id"]]].append(box)

    def _read_detections(self, data):
        for i, det in enumerate(data):
            if not isinstance(det, dict) or "bbox" not in det or not ({"image_id", "file_name"} & set(det)):
                raise BoxSourceError(f"{self.path}: entry {i} needs 'bbox' and 'image_id' (or 'file_name'), "
                                     f"got {det!r:.120}")
            if det.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
                continue
            box = self._box(list(det["bbox"]) + [det.get("score", 1.0)], f"entry {i}")
            if not self._keep(box):
                continue
            if "file_name" in det:
                self.by_name.setdefault(os.path.basename(det["file_name"]), []).append(box)
            else:
                self.by_id.setdefault(int(det["image_id"]), []).append(box)

    def _read_plain(self, data):
        for name, boxes in data.items():
            if not isinstance(boxes, list):
                raise BoxSourceError(f"{self.path}: {name!r}: expected a list of [x, y, w, h(, score)] boxes, got "
                                     f"{boxes!r:.120}")
            kept = [box for box in (self._box(b, f"{name!r}[{j}]") for j, b in enumerate(boxes)) if self._keep(box)]
            self.by_name[os.path.basename(name)] = kept

    def image_id_for(self, file_name) -> Optional[int]:
        """The COCO image id of the file: from an annotation file's images, or, for detection results (keyed by
        id), the number a digits-only file name stands for (COCO's 000000397133.jpg); None otherwise."""
        if not file_name:
            return None
        name = os.path.basename(file_name)
        if name in self.ids_by_name:
            return self.ids_by_name[name]
        stem = os.path.splitext(name)[0]
        return int(stem) if self.kind == "COCO detection results" and stem.isdigit() else None

    def has_image(self, file_name, image_id=None) -> bool:
        return self._lookup(file_name, image_id) is not None

    def _lookup(self, file_name, image_id):
        if file_name and os.path.basename(file_name) in self.by_name:
            return self.by_name[os.path.basename(file_name)]
        if image_id is None:
            image_id = self.image_id_for(file_name)
        return self.by_id.get(image_id) if image_id is not None else None

    def __call__(self, image_bgr, file_name=None, image_id=None) -> np.ndarray:
        """Boxes (N, 5) of the image `file_name` (matched by base name), or of the COCO `image_id` when given."""
        boxes = self._lookup(file_name, image_id)
        if boxes is None:
            logger.warning("%s has no entry for %s; no persons predicted there", self.path, file_name or image_id)
            return np.zeros((0, 5))
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 5)


class TorchvisionDetector:
    """Person boxes from torchvision's Faster R-CNN (ResNet-50 FPN, COCO), an optional extra.

    torchvision is imported here, not at module level, and the weights are taken only from torchvision's own cache
    (torch.hub.get_dir()/checkpoints/); nothing is downloaded.

    Args:
        device: torch.device to run on.
        min_score: person detections scoring below this are dropped.
    Raises:
        DetectorUnavailable with what to do, when torchvision is missing or its weights are not cached.
    """

    WEIGHTS_ENUM = "FasterRCNN_ResNet50_FPN_Weights"
    BUILDER = "fasterrcnn_resnet50_fpn"

    def __init__(self, device: torch.device, min_score: float = 0.5):
        try:
            detection = importlib.import_module("torchvision.models.detection")
        except ImportError as e:
            raise DetectorUnavailable(
                f"the torchvision person detector needs torchvision, which cannot be imported here ({e}). Install the "
                "torchvision build that matches your torch (an optional extra, not in requirements.txt), or choose "
                f"{OTHER_SOURCES}"
            ) from None
        weights = getattr(detection, self.WEIGHTS_ENUM).DEFAULT
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(weights.url).path))
        if not os.path.isfile(cached):
            raise DetectorUnavailable(
                f"the torchvision person detector: its weights are not in torchvision's cache ({cached}); nothing is "
                "downloaded here. Fetch them once on a machine with network access: python -c \"import "
                f"torchvision; torchvision.models.detection.{self.BUILDER}(weights='DEFAULT')\" (and copy the file "
                f"there), or choose {OTHER_SOURCES}"
            )
        self.device = device
        self.min_score = float(min_score)
        self.person_label = list(weights.meta["categories"]).index("person")
        self.model = getattr(detection, self.BUILDER)(weights=weights, progress=False).to(device).eval()
        self.description = f"torchvision {self.BUILDER} (person score >= {self.min_score:g})"

    @torch.no_grad()
    def __call__(self, image_bgr, file_name=None, image_id=None) -> np.ndarray:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        tensor = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255.0).to(self.device)  # (3, H, W) in [0, 1]
        out = self.model([tensor])[0]
        keep = (out["labels"] == self.person_label) & (out["scores"] >= self.min_score)
        xyxy = out["boxes"][keep].cpu().numpy().astype(np.float64)
        scores = out["scores"][keep].cpu().numpy().astype(np.float64)
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        return np.concatenate([xywh, scores[:, None]], axis=1).reshape(-1, 5)

    def image_id_for(self, file_name):
        return None


def make_box_source(boxes_json: Optional[str] = None, detector: Optional[str] = None, whole_image: bool = False,
                    device: Optional[torch.device] = None, min_score: Optional[float] = None):
    """Exactly one box source, as chosen; no source or several is an error naming the arguments.

    Args:
        boxes_json: path of a boxes json (JsonBoxes formats).
        detector: 'torchvision' for TorchvisionDetector.
        whole_image: the whole image is one person.
        device: the detector's device (default CPU).
        min_score: box score threshold (default 0.0 for json boxes, 0.5 for the detector).
    Raises:
        BoxSourceError (choice or file), DetectorUnavailable (detector).
    """
    chosen = [name for name, on in (("boxes_json", bool(boxes_json)), ("detector", bool(detector)),
                                    ("whole_image", whole_image)) if on]
    if not chosen:
        raise BoxSourceError("no person box source given: pass boxes_json, detector='torchvision' or whole_image=True")
    if len(chosen) > 1:
        raise BoxSourceError(f"choose one person box source, got {' and '.join(chosen)}")
    if boxes_json:
        return JsonBoxes(boxes_json, 0.0 if min_score is None else min_score)
    if detector:
        if detector != "torchvision":
            raise BoxSourceError(f"detector={detector!r}: the only detector is 'torchvision'")
        return TorchvisionDetector(device or torch.device("cpu"), 0.5 if min_score is None else min_score)
    return WholeImageBoxes()


__all__ = [
    "BoxSourceError", "DetectorUnavailable", "JsonBoxes", "TorchvisionDetector", "WholeImageBoxes", "make_box_source",
]
