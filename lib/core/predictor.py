"""Image -> persons -> poses for the demo and for Python users: person boxes from an explicit source, crops made and
decoded exactly as evaluation makes and decodes them.

    from lib.core.predictor import PosePredictor
    predictor = PosePredictor.from_config("experiments/synthetic/omnipose_quickstart.yaml", "model_best.pth", "cpu")
    persons = predictor.predict("photo.jpg", boxes=[[x, y, w, h]])   # or an OpenCV BGR array; boxes=None: whole image

Evaluation parity: boxes are clipped to the image and turned into (centre, scale) by the dataset's own functions
(`lib.dataset.coco.clean_box`, `box_to_center_scale`), cropped with the same affine and `cv2.warpAffine`, normalised
by `lib.dataset.joints_dataset.normalize_crop` (DATASET.COLOR_RGB), run through `predict_heatmaps` (the one flip test)
and decoded by `HeatmapCodec.decode_to_image`; the person score is evaluation's rescoring (`make_person_records`). No
OKS-NMS: one person comes back per usable box.

Person boxes come from the caller, or from a box source in lib.core.person_boxes.
"""
import logging
import os
from dataclasses import dataclass
from typing import List, Optional, Union

import cv2
import numpy as np
import torch

from lib.config import load_cfg
from lib.codec import HeatmapCodec
from lib.core.evaluate import make_person_records
from lib.utils.amp import autocast_for
from lib.core.inference import flip_shift, predict_heatmaps
from lib.dataset import DATASETS
from lib.dataset.coco import clean_box
from lib.dataset.joints_dataset import normalize_crop, read_image_file
from lib.models import build_generator
from lib.utils.checkpoint import load_weights
from lib.utils.transforms import box_to_center_scale, get_affine_transform

logger = logging.getLogger(__name__)


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
        keypoint_info = DATASETS[cfg.DATASET.DATASET].keypoint_info
        if cfg.MODEL.NUM_JOINTS != keypoint_info.num_joints:
            raise ValueError(f"MODEL.NUM_JOINTS={cfg.MODEL.NUM_JOINTS} but DATASET.DATASET={cfg.DATASET.DATASET} "
                             f"has {keypoint_info.num_joints} joints")
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
        self.keypoint_info = keypoint_info  # the dataset's joints: flip pairs for the flip test, skeleton for drawing
        self.flip_pairs = list(keypoint_info.flip_pairs)
        self.joint_names = list(keypoint_info.joint_names)
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

__all__ = ["Person", "PosePredictor", "as_boxes_array", "load_generator", "read_image",
           "resolve_device"]
