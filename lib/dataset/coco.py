"""COCO person keypoints (17 joints): annotation loading, GT or detection boxes, folder or zip images.

Provenance: HRNet/OmniPose `dataset/coco.py` (`_load_coco_keypoint_annotation_kernal`,
`_load_coco_person_detection_results`), rewritten: image ids and file names come from the json (never parsed from
file names), images may be read in place from a zip, the bbox clip keeps the box's continuous extent, and bad input
fails with the path and the expected layout.
Evaluation (OKS AP, NMS) lives in lib/core/evaluate.py, not here.
"""
import contextlib
import io
import json
import logging
import os
import zipfile

import numpy as np
from pycocotools.coco import COCO

from lib.dataset.joints_dataset import JointsDataset, zip_image_ref
from lib.dataset.keypoint_info import COCO_KEYPOINTS
from lib.utils.transforms import box_to_center_scale

logger = logging.getLogger(__name__)

PERSON_CATEGORY_ID = 1

COCO_LAYOUT = """expected COCO layout:
  ROOT/annotations/person_keypoints_<set>.json   (test sets without keypoints: image_info_<set>.json)
  ROOT/images/<set>/<file_name>                 (or ROOT/<set>/<file_name>, DATASET.DATA_FORMAT jpg)
  ROOT/images/<set>.zip                         (read in place, DATASET.DATA_FORMAT zip)"""


def load_json(path, what="annotation file"):
    """json.load with errors that name the file (and the position of a syntax error)."""
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: {what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except OSError as e:
        raise FileNotFoundError(f"{path}: cannot read the {what} ({e.strerror})") from None


def clean_box(bbox, width, height):
    """COCO [x, y, w, h] clipped to the image [0, W] x [0, H]; None when nothing is left. Shared with the predictor."""
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(float(width), x + max(0.0, w)), min(float(height), y + max(0.0, h))
    if x2 <= x1 or y2 <= y1:
        return None
    return [x1, y1, x2 - x1, y2 - y1]


class COCODataset(JointsDataset):
    """COCO-format keypoint dataset (also the synthetic set and OCHuman-style files).

    Args:
        cfg: config; also reads TEST.{USE_GT_BBOX, COCO_BBOX_FILE, IMAGE_THRE} and DATASET.DATA_FORMAT.
        root: dataset root (layout in COCO_LAYOUT).
        image_set: split name, e.g. "train2017", "val2017", "test-dev2017".
        is_train: training samples (GT boxes, augmentation) or evaluation samples.

    Attributes:
        coco: the pycocotools COCO object of the annotation file; annotation_file: its path;
        has_keypoints: False for image_info_* files (detection boxes only); image_ids: sorted image ids.
    """

    keypoint_info = COCO_KEYPOINTS
    num_joints, joint_names, flip_pairs = keypoint_info.num_joints, keypoint_info.joint_names, keypoint_info.flip_pairs
    upper_body_ids, lower_body_ids = keypoint_info.upper_body_ids, keypoint_info.lower_body_ids
    metric = "coco_oks"  # scored by lib.core.evaluate (OKS-NMS, COCOeval)

    def __init__(self, cfg, root, image_set, is_train):
        super().__init__(cfg, root, image_set, is_train)
        self._check_num_joints(cfg)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"COCO root {self.root} (DATASET.ROOT) is not a folder\n{COCO_LAYOUT}")
        self.annotation_file, self.has_keypoints = self._find_annotation_file()
        self.coco = self._load_coco(self.annotation_file)
        self.image_ids = sorted(self.coco.getImgIds())
        self._image_path = self._image_locator(cfg.DATASET.DATA_FORMAT)

        use_gt = is_train or cfg.TEST.USE_GT_BBOX
        if use_gt:
            if not self.has_keypoints:
                raise ValueError(
                    f"{self.annotation_file} has no keypoint annotations: evaluate with detection boxes "
                    f"(TEST.USE_GT_BBOX False, TEST.COCO_BBOX_FILE <results json>)"
                    + ("; it cannot be used for training" if is_train else "")
                )
            self.db = self._gt_db()
        else:
            self.db = self._detection_db(cfg.TEST.COCO_BBOX_FILE, cfg.TEST.IMAGE_THRE)
        logger.info(
            "COCO %s: %d samples from %d images (%s boxes, %s)", image_set, len(self.db), len(self.image_ids),
            "GT" if use_gt else "detection", self.annotation_file,
        )

    # ------------------------------------------------------------------------------------------------------------
    # Files
    # ------------------------------------------------------------------------------------------------------------
    def _find_annotation_file(self):
        folder = os.path.join(self.root, "annotations")
        keypoints = os.path.join(folder, f"person_keypoints_{self.image_set}.json")
        image_info = os.path.join(folder, f"image_info_{self.image_set}.json")
        if os.path.isfile(keypoints):
            return keypoints, True
        if os.path.isfile(image_info):
            return image_info, False
        raise FileNotFoundError(
            f"no annotation file for set {self.image_set!r}: neither {keypoints} nor {image_info} exists\n{COCO_LAYOUT}"
        )

    def _load_coco(self, path):
        data = load_json(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a COCO json object with 'images', got {type(data).__name__}")
        required = ("images", "annotations") if self.has_keypoints else ("images",)
        for key in required:
            if not isinstance(data.get(key), list):
                raise ValueError(f"{path}: missing or non-list '{key}' (expected COCO format)")
        for i, image in enumerate(data["images"]):
            if not isinstance(image, dict) or not {"id", "file_name"} <= set(image):
                raise ValueError(f"{path}: images[{i}] needs 'id' and 'file_name', got {image!r:.200}")
        coco = COCO()
        coco.dataset = data
        # pycocotools prints progress to stdout; keep our logs clean.
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        return coco

    def _image_locator(self, data_format):
        """A function image_id -> `image` string for the db, after checking the image source exists."""
        folders = [os.path.join(self.root, "images", self.image_set), os.path.join(self.root, self.image_set)]
        zip_path = os.path.join(self.root, "images", f"{self.image_set}.zip")
        folder = next((f for f in folders if os.path.isdir(f)), None)
        if data_format in ("auto", "jpg") and folder is not None:
            return lambda image_id: os.path.join(folder, self.coco.imgs[image_id]["file_name"])
        if data_format in ("auto", "zip") and os.path.isfile(zip_path):
            return self._zip_locator(zip_path)
        looked = {"auto": folders + [zip_path], "jpg": folders, "zip": [zip_path]}.get(data_format)
        if looked is None:
            raise ValueError(f"DATASET.DATA_FORMAT={data_format!r} must be one of auto, jpg, zip")
        raise FileNotFoundError(
            f"no images for set {self.image_set!r} (DATASET.DATA_FORMAT={data_format}): none of "
            f"{', '.join(looked)} exists\n{COCO_LAYOUT}"
        )

    def _zip_locator(self, zip_path):
        try:
            with zipfile.ZipFile(zip_path) as archive:
                members = set(archive.namelist())
        except (OSError, zipfile.BadZipFile) as e:
            raise ValueError(f"{zip_path}: not a readable zip archive ({e})") from None
        # Official COCO zips hold "<set>/<file_name>"; a flat zip holds "<file_name>".
        prefix = f"{self.image_set}/"
        if self.image_ids:
            first = self.coco.imgs[self.image_ids[0]]["file_name"]
            if prefix + first in members:
                pass
            elif first in members:
                prefix = ""
            else:
                raise FileNotFoundError(
                    f"{zip_path}: holds neither {prefix + first!r} nor {first!r} (file_name of image "
                    f"{self.image_ids[0]} in {self.annotation_file})"
                )
        return lambda image_id: zip_image_ref(zip_path, prefix + self.coco.imgs[image_id]["file_name"])

    # ------------------------------------------------------------------------------------------------------------
    # Records
    # ------------------------------------------------------------------------------------------------------------
    def _gt_db(self):
        """One record per non-crowd person with area > 0, a non-empty clipped box and >= 1 labelled joint."""
        records = []
        for image_id in self.image_ids:
            info = self.coco.imgs[image_id]
            for ann in self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id, iscrowd=False)):
                if ann.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID or ann.get("iscrowd", 0):
                    continue
                if ann.get("area", 0) <= 0 or "keypoints" not in ann or "bbox" not in ann:
                    continue
                box = clean_box(ann["bbox"], info.get("width", np.inf), info.get("height", np.inf))
                if box is None:
                    continue
                keypoints = np.asarray(ann["keypoints"], dtype=np.float64)
                if keypoints.size != 3 * self.num_joints:
                    raise ValueError(
                        f"{self.annotation_file}: annotation {ann.get('id')} has {keypoints.size} keypoint values, "
                        f"expected {3 * self.num_joints} (x, y, v for {self.num_joints} joints)"
                    )
                keypoints = keypoints.reshape(self.num_joints, 3)
                if not (keypoints[:, 2] > 0).any():
                    continue
                records.append(self._record(image_id, box, keypoints[:, :2].copy(), keypoints[:, 2].copy(), 1.0,
                                            float(ann["area"])))
        return records

    def _record(self, image_id, box, joints, joints_vis, score, area):
        """One db entry (the JointsDataset record format) for a person box [x, y, w, h] in image px (kept as 'box':
        the box PCK diagnostic normalises by it)."""
        center, scale = box_to_center_scale(box, self.aspect_ratio)
        return {"image": self._image_path(image_id), "image_id": int(image_id), "center": center, "scale": scale,
                "joints": joints, "joints_vis": joints_vis, "score": score, "area": area, "box": list(box)}

    def _detection_db(self, bbox_file, score_threshold):
        """One record per category-1 detection with score >= TEST.IMAGE_THRE; joints and visibility are zeros."""
        if not bbox_file:
            raise ValueError(
                "TEST.USE_GT_BBOX is False but TEST.COCO_BBOX_FILE is empty; give a detection results json"
            )
        if not os.path.isfile(bbox_file):
            raise FileNotFoundError(f"TEST.COCO_BBOX_FILE {bbox_file} does not exist (COCO results format json)")
        detections = load_json(bbox_file, what="detection file (TEST.COCO_BBOX_FILE)")
        if not isinstance(detections, list):
            raise ValueError(
                f"{bbox_file}: expected a list of {{image_id, category_id, bbox, score}} (COCO results format), "
                f"got {type(detections).__name__}"
            )
        records = []
        for i, det in enumerate(detections):
            if not isinstance(det, dict) or not {"image_id", "bbox", "score"} <= set(det):
                raise ValueError(f"{bbox_file}: entry {i} needs image_id, bbox and score, got {det!r:.200}")
            if det.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID or det["score"] < score_threshold:
                continue
            image_id = det["image_id"]
            if image_id not in self.coco.imgs:
                raise ValueError(
                    f"{bbox_file}: entry {i} has image_id {image_id}, which is not in {self.annotation_file}"
                )
            info = self.coco.imgs[image_id]
            box = clean_box(det["bbox"], info.get("width", np.inf), info.get("height", np.inf))
            if box is None:
                continue
            records.append(self._record(image_id, box, np.zeros((self.num_joints, 2)), np.zeros(self.num_joints),
                                        float(det["score"]), float(box[2] * box[3])))
        logger.info("%s: %d of %d detections kept (person, score >= %g)", bbox_file, len(records), len(detections),
                    score_threshold)
        return records
