"""Image -> persons -> poses for the demo and for Python users: person boxes from an explicit source, crops made and
decoded exactly as evaluation makes and decodes them.

    from lib.core.predictor import PosePredictor
    predictor = PosePredictor.from_config("experiments/synthetic/omnipose_quickstart.yaml", "model_best.pth", "cpu")
    persons = predictor.predict("photo.jpg", boxes=[[x, y, w, h]])   # or an OpenCV BGR array; boxes=None: whole image

Evaluation parity: boxes are clipped to the image and turned into (centre, scale) by the dataset's own functions
(`lib.dataset.coco.clean_box`, `box_to_center_scale`), cropped with the same affine and `cv2.warpAffine`, normalised by
`lib.dataset.joints_dataset.normalize_crop` (DATASET.COLOR_RGB), run through `predict_heatmaps` (the one flip test) and decoded by
`HeatmapCodec.decode_to_image`; the person score is evaluation's rescoring (`make_person_records`). No OKS-NMS: one
person comes back per usable box.

Box sources (the demo picks exactly one, never silently another): `JsonBoxes` (a COCO annotation file, COCO
detection results, or a plain {"image.jpg": [[x, y, w, h, score], ...]} file), `TorchvisionDetector` (optional
extra, imported lazily, weights only from torchvision's cache) and `WholeImageBoxes`.
"""
import importlib
import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Union
from urllib.parse import urlparse

import cv2
import numpy as np
import torch

from lib.config import load_cfg
from lib.codec import HeatmapCodec
from lib.core.evaluate import make_person_records
from lib.utils.precision import autocast_for
from lib.core.inference import flip_shift, predict_heatmaps
from lib.dataset import DATASETS
from lib.dataset.coco import PERSON_CATEGORY_ID, clean_box, load_json
from lib.dataset.joints_dataset import normalize_crop, read_image_file
from lib.models import build_generator
from lib.utils.checkpoint import load_weights
from lib.utils.transforms import box_to_center_scale, get_affine_transform

logger = logging.getLogger(__name__)

BOX_SOURCE_OPTIONS = (
    "--boxes-json FILE (a COCO annotation file, COCO detection results, or {\"image.jpg\": [[x, y, w, h, score], "
    "...]})",
    "--detector torchvision (needs torchvision and its cached detector weights)",
    "--whole-image (the whole image is one person)",
)


class BoxSourceError(ValueError):
    """No box source, more than one, or a boxes file that cannot be used."""


class DetectorUnavailable(RuntimeError):
    """The optional torchvision detector cannot run here (not installed, or no cached weights)."""


@dataclass
class Person:
    """One predicted person.

    Attributes:
        keypoints: (K, 3) float64: x, y in image px (pixel centres at integers) and the joint score (heatmap
            maximum, about 0..1).
        score: evaluation's person score: box_score x mean joint score over joints above TEST.IN_VIS_THRE.
        box: (4,) x, y, w, h in image px: the box actually cropped (the given box clipped to the image).
        box_score: the box's own score (1.0 for ground-truth, user and whole-image boxes without one).
    """

    keypoints: np.ndarray
    score: float
    box: np.ndarray
    box_score: float


def read_image(path: Union[str, os.PathLike]) -> np.ndarray:
    """Reads an image as the dataset does (pixels as stored, no EXIF rotation): BGR uint8 (H, W, 3).

    Raises:
        lib.dataset.joints_dataset.ImageReadError naming the file when it is missing or not decodable.
    """
    return read_image_file(os.fspath(path))


def resolve_device(device: Union[None, str, torch.device] = None, preference: str = "auto") -> torch.device:
    """A torch.device from an explicit device/name, else from cfg.DEVICE-style `preference` ('auto', 'cpu', 'cuda')."""
    if isinstance(device, torch.device):
        return device
    name = device or preference
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but torch.cuda.is_available() is False")
    return torch.device(name)


def load_generator(cfg, weights: Union[str, os.PathLike]) -> torch.nn.Module:
    """The MODEL.NAME generator on the CPU, eval mode, with `weights` loaded strictly (the one loader).

    MODEL.PRETRAINED is ignored: the strict load replaces every tensor, so the ImageNet file need not exist.
    Pure and adversarially trained weights give the same module (the discriminators are never part of it).

    Raises:
        FileNotFoundError / WeightLoadError with the loader's message (wrong head, joint count or width named).
        UntrustedPickleError: a file that needs the full unpickler and is not in TRUSTED_PICKLE_FILES.
    """
    if cfg.MODEL.PRETRAINED:
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.PRETRAINED = ""
        cfg.freeze()
    model = build_generator(cfg)
    load_weights(model, weights, trusted_files=cfg.TRUSTED_PICKLE_FILES)
    return model.eval()


def as_boxes_array(boxes, what="boxes") -> np.ndarray:
    """Boxes x, y, w, h[, score] (image px; rows of 4 or 5 numbers, or one flat box) -> (N, 5) float64, with score
    1.0 where a row has none.

    Raises:
        ValueError naming `what` for a wrong shape or non-finite values.
    """
    if isinstance(boxes, np.ndarray) and boxes.ndim == 2:
        rows = list(boxes)
    else:
        rows = list(boxes)
        if rows and np.ndim(rows[0]) == 0:  # a single box given flat
            rows = [rows]
    out = np.ones((len(rows), 5))
    for i, row in enumerate(rows):
        try:
            row = np.asarray(row, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{what}[{i}]: expected numbers [x, y, w, h(, score)], got {row!r:.80}") from None
        if row.shape not in ((4,), (5,)):
            raise ValueError(f"{what}[{i}]: expected a box [x, y, w, h] or [x, y, w, h, score], got {row.tolist()}")
        if not np.isfinite(row).all():
            raise ValueError(f"{what}[{i}]: boxes must be finite numbers, got {row.tolist()}")
        out[i, :len(row)] = row
    return out


class PosePredictor:
    """Top-down pose prediction for one image at a time, person crops batched.

    Args:
        model: a generator with its weights loaded (put in eval mode and moved to `device` here).
        cfg: the config the model was built from: MODEL.{IMAGE_SIZE, HEATMAP_SIZE, SIGMA, NUM_JOINTS},
            DATASET.{DATASET, COLOR_RGB}, TEST.{FLIP_TEST, SHIFT_HEATMAP (see lib.core.inference.flip_shift),
            POST_PROCESS, BLUR_KERNEL, IN_VIS_THRE, BATCH_SIZE_PER_GPU}, LOSS.TYPE, AMP.
        device: torch.device the model runs on.
        flip_test: override TEST.FLIP_TEST (None keeps it).
        batch_size: person crops per forward pass (None: TEST.BATCH_SIZE_PER_GPU).
    """

    def __init__(self, model: torch.nn.Module, cfg, device: torch.device, flip_test: Optional[bool] = None,
                 batch_size: Optional[int] = None):
        if cfg.DATASET.DATASET not in DATASETS:
            raise ValueError(f"DATASET.DATASET={cfg.DATASET.DATASET!r} is not one of {sorted(DATASETS)}")
        dataset_cls = DATASETS[cfg.DATASET.DATASET]
        if cfg.MODEL.NUM_JOINTS != dataset_cls.num_joints:
            raise ValueError(f"MODEL.NUM_JOINTS={cfg.MODEL.NUM_JOINTS} but DATASET.DATASET={cfg.DATASET.DATASET} "
                             f"has {dataset_cls.num_joints} joints")
        self.cfg = cfg
        self.device = device
        self.model = model.to(device).eval()
        self.codec = HeatmapCodec.from_cfg(cfg)
        self.image_size = tuple(int(v) for v in cfg.MODEL.IMAGE_SIZE)  # (w, h)
        self.aspect_ratio = self.image_size[0] / self.image_size[1]
        self.flip_test = cfg.TEST.FLIP_TEST if flip_test is None else bool(flip_test)
        self.shift_heatmap, shift_reason = flip_shift(cfg, model)  # never for weights trained here
        if self.flip_test:
            logger.info("%s", shift_reason)
        self.flip_pairs = list(dataset_cls.flip_pairs)
        self.joint_names = list(dataset_cls.joint_names)
        self.batch_size = int(batch_size or cfg.TEST.BATCH_SIZE_PER_GPU)
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be >= 1")
        self.color_rgb = cfg.DATASET.COLOR_RGB

    @classmethod
    def from_config(cls, cfg, weights: Union[str, os.PathLike], device: Union[None, str, torch.device] = None,
                    **kwargs) -> "PosePredictor":
        """Builds the MODEL.NAME generator and loads `weights` strictly (lib.utils.checkpoint.load_weights).

        Args:
            cfg: a loaded config (lib.config.load_cfg) or the path of an experiment yaml; MODEL.PRETRAINED is
                ignored (the weights replace it).
            weights: model_best.pth, final_state.pth, a training checkpoint (pure or adversarial) or an original
                release file.
            device: torch.device, 'cpu', 'cuda', 'cuda:1' or None (cfg.DEVICE).
            **kwargs: flip_test, batch_size (see the class).
        Raises:
            FileNotFoundError / WeightLoadError: the loader's message (wrong head, joint count or width named).
        """
        if isinstance(cfg, (str, os.PathLike)):
            cfg = load_cfg(os.fspath(cfg))
        return cls(load_generator(cfg, weights), cfg, resolve_device(device, cfg.DEVICE), **kwargs)

    # ------------------------------------------------------------------------------------------------------------
    def crops(self, image_bgr: np.ndarray, boxes):
        """Evaluation crops of the given boxes.

        Args:
            image_bgr: (H, W, 3) uint8 BGR image.
            boxes: (N, 4|5) x, y, w, h[, score] in image px.
        Returns:
            inputs: (M, 3, h_in, w_in) float32 normalised crops (M <= N: boxes empty after clipping are dropped).
            centers, scales: (M, 2) crop centre (image px) and scale (box size / 200, padded 1.25).
            boxes_used: (M, 5) clipped boxes with their scores.
        """
        boxes = as_boxes_array(boxes)
        height, width = image_bgr.shape[:2]
        inputs, centers, scales, used = [], [], [], []
        for box in boxes:
            clipped = clean_box(box[:4], width, height)
            if clipped is None:
                logger.warning("box %s lies outside the %dx%d image; skipped", np.round(box[:4], 1).tolist(),
                               width, height)
                continue
            center, scale = box_to_center_scale(clipped, self.aspect_ratio)
            crop = get_affine_transform(center, scale, 0.0, self.image_size)
            patch = cv2.warpAffine(image_bgr, crop, self.image_size, flags=cv2.INTER_LINEAR)
            inputs.append(normalize_crop(patch, self.color_rgb))
            centers.append(center)
            scales.append(scale)
            used.append(list(clipped) + [box[4]])
        if not inputs:
            empty = np.zeros((0, 2))
            return torch.zeros((0, 3, self.image_size[1], self.image_size[0])), empty, empty, np.zeros((0, 5))
        return torch.stack(inputs), np.stack(centers), np.stack(scales), np.asarray(used, dtype=np.float64)

    def _image(self, image, color: str) -> np.ndarray:
        if isinstance(image, (str, os.PathLike)):
            return read_image(image)
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image: expected a path or an (H, W, 3) array, got "
                             f"{getattr(image, 'shape', type(image).__name__)}")
        if image.dtype != np.uint8:
            raise ValueError(f"image: expected uint8 pixels 0..255, got dtype {image.dtype}")
        if color == "bgr":
            return image
        if color == "rgb":
            return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        raise ValueError(f"color={color!r} must be 'bgr' or 'rgb'")

    @torch.no_grad()
    def predict(self, image, boxes=None, color: str = "bgr") -> List[Person]:
        """Poses of the persons in `boxes`.

        Args:
            image: a file path (read as stored, like the dataset), or an (H, W, 3) uint8 array in BGR order
                (OpenCV's cv2.imread / VideoCapture) or RGB order with color='rgb'.
            boxes: (N, 4|5) x, y, w, h[, score] person boxes in image px (COCO convention, top-left corner);
                None means the whole image is one person.
            color: channel order of an array image: 'bgr' (default) or 'rgb'.
        Returns:
            One Person per box, in the boxes' order (a box lying outside the image is skipped with a warning).
        """
        image_bgr = self._image(image, color)
        if boxes is None:
            height, width = image_bgr.shape[:2]
            boxes = [[0.0, 0.0, float(width), float(height), 1.0]]
        inputs, centers, scales, used = self.crops(image_bgr, boxes)
        if len(inputs) == 0:
            return []
        flip_pairs = self.flip_pairs if self.flip_test else None
        heatmaps = []
        for start in range(0, len(inputs), self.batch_size):
            batch = inputs[start:start + self.batch_size].to(self.device)
            with autocast_for(self.device, self.cfg.AMP):
                heatmaps.append(predict_heatmaps(self.model, batch, flip_pairs, self.shift_heatmap,
                                                 self.cfg.LOSS.TYPE).float().cpu())
        coords, maxvals = self.codec.decode_to_image(torch.cat(heatmaps).numpy(), centers, scales)
        preds = np.concatenate([coords, maxvals[..., None].astype(np.float64)], axis=2)  # (M, K, 3)
        # Evaluation's rescoring, with its box layout: centre x, y, scale w, h, area, box score.
        area = np.prod(scales * 200.0, axis=1)
        boxes6 = np.concatenate([centers, scales, area[:, None], used[:, 4:5]], axis=1)
        records = make_person_records(preds, boxes6, np.zeros(len(preds), dtype=np.int64),
                                      self.cfg.TEST.IN_VIS_THRE)
        return [Person(keypoints=record["keypoints"], score=record["score"], box=box[:4].copy(),
                       box_score=float(box[4]))
                for record, box in zip(records, used)]


# ----------------------------------------------------------------------------------------------------------------
# Box sources: callables (image_bgr, file_name, image_id) -> (N, 5) boxes x, y, w, h, score in image px.
# ----------------------------------------------------------------------------------------------------------------
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
                f"--detector torchvision needs torchvision, which cannot be imported here ({e}). Install the "
                "torchvision build that matches your torch (an optional extra, not in requirements.txt), or choose "
                "another box source: " + "; ".join(BOX_SOURCE_OPTIONS[:1] + BOX_SOURCE_OPTIONS[2:])
            ) from None
        weights = getattr(detection, self.WEIGHTS_ENUM).DEFAULT
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(weights.url).path))
        if not os.path.isfile(cached):
            raise DetectorUnavailable(
                f"--detector torchvision: the detector weights are not in torchvision's cache ({cached}); nothing is "
                "downloaded by the demo. Fetch them once on a machine with network access: python -c \"import "
                f"torchvision; torchvision.models.detection.{self.BUILDER}(weights='DEFAULT')\" (and copy the file "
                "there), or use --boxes-json / --whole-image"
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
    """Exactly one box source, as chosen; no source or several is an error listing the options.

    Args:
        boxes_json: path of a boxes json (JsonBoxes formats).
        detector: 'torchvision' for TorchvisionDetector.
        whole_image: the whole image is one person.
        device: the detector's device (default CPU).
        min_score: box score threshold (default 0.0 for json boxes, 0.5 for the detector).
    Raises:
        BoxSourceError (choice or file), DetectorUnavailable (detector).
    """
    chosen = [name for name, on in (("--boxes-json", bool(boxes_json)), ("--detector", bool(detector)),
                                    ("--whole-image", whole_image)) if on]
    if not chosen:
        raise BoxSourceError("no person box source given; choose one of:\n  " + "\n  ".join(BOX_SOURCE_OPTIONS))
    if len(chosen) > 1:
        raise BoxSourceError(f"choose one person box source, got {' and '.join(chosen)}")
    if boxes_json:
        return JsonBoxes(boxes_json, 0.0 if min_score is None else min_score)
    if detector:
        if detector != "torchvision":
            raise BoxSourceError(f"--detector {detector!r}: the only detector is 'torchvision'")
        return TorchvisionDetector(device or torch.device("cpu"), 0.5 if min_score is None else min_score)
    return WholeImageBoxes()


__all__ = [
    "BOX_SOURCE_OPTIONS", "BoxSourceError", "DetectorUnavailable", "JsonBoxes", "Person", "PosePredictor",
    "TorchvisionDetector", "WholeImageBoxes", "as_boxes_array", "load_generator", "make_box_source", "read_image",
    "resolve_device",
]
