"""MPII Human Pose (16 joints) in HRNet's json format, and PCKh evaluation against annot/gt_valid.mat.

Provenance: HRNet/OmniPose `dataset/mpii.py` (`_get_db`, `evaluate`): the same centre/scale adjustment and the same
PCKh (SC_BIAS 0.6, pelvis and thorax left out of the means), with the metric as a pure function `compute_pckh`.
"""
import logging
import os
from collections import OrderedDict

import numpy as np

from lib.dataset.coco import load_json
from lib.dataset.joints_dataset import JointsDataset
from lib.dataset.keypoint_info import MPII_KEYPOINTS
from lib.metrics.pck import evaluate_pck

logger = logging.getLogger(__name__)

# The names gt_valid.mat's `dataset_joints` uses, in the order of MPII_KEYPOINTS.joint_names.
MPII_MAT_JOINT_NAMES = [
    "rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor", "neck", "head", "rwri", "relb", "rsho", "lsho",
    "lelb", "lwri",
]
SC_BIAS = 0.6  # head box diagonal * 0.6 = head segment length, the PCKh normaliser
# PCKh groups: (name, joint ids) averaged per group; pelvis (6) and thorax (7) are left out, as the benchmark.
PCKH_GROUPS = [
    ("Head", (9,)), ("Shoulder", (12, 13)), ("Elbow", (11, 14)), ("Wrist", (10, 15)), ("Hip", (2, 3)),
    ("Knee", (1, 4)), ("Ankle", (0, 5)),
]
PCKH_EXCLUDED = (6, 7)
# HRNet's adjustment of the MPII person box: the centre moves down by 15 * scale px and the box grows by 1.25,
# so the crop covers the legs; 1-based (Matlab) coordinates become 0-based.
CENTER_Y_SHIFT = 15.0
BOX_PADDING = 1.25
# The adversarial trainer's Pose Discriminator labels are PCKh-style (MPII has no OKS constants): the training json
# has no head boxes, so the head size there is the head-top to upper-neck segment, which 0.6 x the head box diagonal
# approximates (that is what SC_BIAS stands for); without both joints, a person-height fraction.
HEAD_TOP, UPPER_NECK = 9, 8
HEAD_FALLBACK_FRACTION = 1.0 / 8.0  # of the person height 200 * scale (before padding)

MPII_LAYOUT = """expected MPII layout:
  ROOT/annot/{train,valid}.json   (HRNet format: list of {image, center, scale, joints, joints_vis})
  ROOT/annot/gt_valid.mat         (for evaluate())
  ROOT/images/<image>"""


def pckh_results(preds, gt_joints, gt_vis, head_boxes, thresholds=(0.5, 0.1)):
    """PCKh as lib.metrics.pck.evaluate_pck with the head size 0.6 x head box diagonal as the normaliser (a person
    whose head box has no size is left out): (name_values with the per-joint 'PCKh@<t> <joint>' entries, table).
    Arguments as compute_pckh."""
    preds = np.asarray(preds, dtype=np.float64)[..., :2]
    gt_joints = np.asarray(gt_joints, dtype=np.float64)
    gt_vis = np.asarray(gt_vis) > 0
    head_boxes = np.asarray(head_boxes, dtype=np.float64)
    n = len(gt_joints)
    if preds.shape != (n, 16, 2) or gt_joints.shape != (n, 16, 2) or gt_vis.shape != (n, 16) \
            or head_boxes.shape != (n, 2, 2):
        raise ValueError(
            f"compute_pckh: expected preds (N, 16, 2), gt_joints (N, 16, 2), gt_vis (N, 16), head_boxes (N, 2, 2); "
            f"got {preds.shape}, {gt_joints.shape}, {gt_vis.shape}, {head_boxes.shape}"
        )
    head_size = np.linalg.norm(head_boxes[:, 1] - head_boxes[:, 0], axis=-1) * SC_BIAS  # (N,)
    return evaluate_pck(preds, gt_joints, gt_vis, head_size, MPII_KEYPOINTS.joint_names, PCKH_GROUPS, thresholds,
                        PCKH_EXCLUDED, label="PCKh")


def compute_pckh(preds, gt_joints, gt_vis, head_boxes, thresholds=(0.5, 0.1)):
    """PCKh of predictions against ground truth (pure function, any consistent pixel convention).

    Args:
        preds: (N, 16, 2+) predicted (x, y) in image px.
        gt_joints: (N, 16, 2) ground-truth (x, y) in the same px convention as preds.
        gt_vis: (N, 16) > 0 where the joint is annotated (1 - jnt_missing).
        head_boxes: (N, 2, 2) head box corners [[x1, y1], [x2, y2]] in px.
        thresholds: PCKh thresholds; the first gives the per-group values and 'Mean', the others 'Mean@<t>'.

    Returns:
        OrderedDict: Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle (percent at thresholds[0], NaN for a group with
        no annotated joint), Mean (joint-count-weighted over all joints but pelvis and thorax), then Mean@<t>.
    """
    name_values, _ = pckh_results(preds, gt_joints, gt_vis, head_boxes, thresholds)
    return OrderedDict((name, value) for name, value in name_values.items() if not name.startswith("PCKh@"))


class MPIIDataset(JointsDataset):
    """MPII in HRNet's json format (16 joints).

    Args:
        cfg: config (MODEL.NUM_JOINTS must be 16).
        root: dataset root (layout in MPII_LAYOUT).
        image_set: "train", "valid" (or "test": no joints, all visibility 0).
        is_train: training augmentation.

    Records: joints and centre are converted from 1-based to 0-based px; the centre moves down by 15 * scale px and
    the scale (a square box, person height / 200) grows by 1.25, as HRNet. image_id is the index in the json list
    (MPII has no image ids). area is the square box area (scale * 200)^2 before the 1.25 padding. pck_norm is the
    head size for the adversarial labels (HEAD_TOP - UPPER_NECK segment, see HEAD_FALLBACK_FRACTION).
    """

    keypoint_info = MPII_KEYPOINTS
    num_joints, joint_names, flip_pairs = keypoint_info.num_joints, keypoint_info.joint_names, keypoint_info.flip_pairs
    upper_body_ids, lower_body_ids = keypoint_info.upper_body_ids, keypoint_info.lower_body_ids
    metric = "pckh"  # scored by evaluate() below
    pck_label_threshold = 0.5  # PCKh@0.5: the adversarial Pose Discriminator's correctness radius (x pck_norm)

    def __init__(self, cfg, root, image_set, is_train):
        super().__init__(cfg, root, image_set, is_train)
        self._check_num_joints(cfg)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"MPII root {self.root} (DATASET.ROOT) is not a folder\n{MPII_LAYOUT}")
        self.annotation_file = os.path.join(self.root, "annot", f"{image_set}.json")
        if not os.path.isfile(self.annotation_file):
            raise FileNotFoundError(f"MPII annotation file {self.annotation_file} does not exist\n{MPII_LAYOUT}")
        self.image_folder = os.path.join(self.root, "images")
        if not os.path.isdir(self.image_folder):
            raise FileNotFoundError(f"MPII image folder {self.image_folder} does not exist\n{MPII_LAYOUT}")
        self.db = self._load_db(load_json(self.annotation_file))
        logger.info("MPII %s: %d samples (%s)", image_set, len(self.db), self.annotation_file)

    def _load_db(self, annotations):
        if not isinstance(annotations, list):
            raise ValueError(
                f"{self.annotation_file}: expected a list of person entries, got {type(annotations).__name__}"
            )
        records = []
        for i, entry in enumerate(annotations):
            try:
                center = np.array(entry["center"], dtype=np.float64).reshape(2)
                scale = float(entry["scale"])
                image = entry["image"]
                if "joints" in entry:
                    joints = np.array(entry["joints"], dtype=np.float64).reshape(self.num_joints, 2)
                    joints_vis = np.array(entry["joints_vis"], dtype=np.float64).reshape(self.num_joints)
                else:  # the test split has no joints
                    joints = np.zeros((self.num_joints, 2))
                    joints_vis = np.zeros(self.num_joints)
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(
                    f"{self.annotation_file}: entry {i} is not an HRNet MPII record "
                    f"{{image, center (2,), scale, joints (16, 2), joints_vis (16,)}}: {type(e).__name__}: {e}"
                ) from None
            area = (scale * 200.0) ** 2
            head_labelled = joints_vis[HEAD_TOP] > 0 and joints_vis[UPPER_NECK] > 0
            head = np.linalg.norm(joints[HEAD_TOP] - joints[UPPER_NECK]) if head_labelled else 0.0
            pck_norm = head if head > 0 else HEAD_FALLBACK_FRACTION * scale * 200.0
            if center[0] != -1:  # -1 marks a missing box in the original files
                center[1] += CENTER_Y_SHIFT * scale
                scale *= BOX_PADDING
            records.append({
                "image": os.path.join(self.image_folder, image),
                "image_id": i,
                "center": (center - 1).astype(np.float32),
                "scale": np.array([scale, scale], dtype=np.float32),
                "joints": joints - 1,
                "joints_vis": joints_vis,
                "score": 1.0,
                "area": area,
                "pck_norm": float(pck_norm),
            })
        return records

    def evaluate(self, preds, output_dir=None):
        """PCKh of predictions on the validation set against ROOT/annot/gt_valid.mat.

        Args:
            preds: (N, 16, 2+) predicted joints in 0-based image px, in the order of valid.json (N = 2958 for the
                full set; must equal the number of people in the .mat).
            output_dir: when given, pred.mat with the 1-based predictions is written there (as the original).

        Returns:
            (OrderedDict name -> PCKh percent (see compute_pckh) followed by 'PCKh@0.5 <joint>' per joint, the 'Mean'
            value: the perf indicator). The per-joint table is logged.
        """
        from scipy.io import loadmat, savemat

        gt_file = os.path.join(self.root, "annot", "gt_valid.mat")
        if not os.path.isfile(gt_file):
            raise FileNotFoundError(
                f"MPII evaluation needs {gt_file} (from HRNet's MPII annotations: dataset_joints, jnt_missing, "
                f"pos_gt_src, headboxes_src)"
            )
        gt = loadmat(gt_file)
        missing = [key for key in ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src") if key not in gt]
        if missing:
            raise ValueError(f"{gt_file}: missing fields {missing}")
        names = [str(np.asarray(x).ravel()[0]) for x in np.asarray(gt["dataset_joints"], dtype=object).ravel()]
        if names != MPII_MAT_JOINT_NAMES:
            raise ValueError(f"{gt_file}: dataset_joints {names} differ from the expected order {MPII_MAT_JOINT_NAMES}")
        preds = np.asarray(preds, dtype=np.float64)[..., :2] + 1.0  # the .mat is 1-based (Matlab)
        gt_joints = np.transpose(gt["pos_gt_src"], (2, 0, 1))  # (16, 2, N) -> (N, 16, 2)
        gt_vis = 1 - np.transpose(gt["jnt_missing"], (1, 0))  # (16, N) -> (N, 16)
        head_boxes = np.transpose(gt["headboxes_src"], (2, 0, 1))  # (2, 2, N) -> (N, corner, xy)
        if len(preds) != len(gt_joints):
            raise ValueError(f"preds hold {len(preds)} people but {gt_file} has {len(gt_joints)}")
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
            savemat(os.path.join(output_dir, "pred.mat"), mdict={"preds": preds})
        name_value, table = pckh_results(preds, gt_joints, gt_vis, head_boxes)
        logger.info("MPII %s: PCKh (head size 0.6 x head box diagonal)\n%s", self.image_set, table)
        return name_value, name_value["Mean"]
