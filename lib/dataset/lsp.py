"""Leeds Sports Pose (LSP, 2,000 images) and its extension LSPET (10,000 images): 14 joints, one person per image,
read from the original `joints.mat` files with scipy.io; evaluation by PCK@0.2 normalised by the torso.

Layouts (one folder per release; ROOT is such a folder, or a folder holding several of them):
  lsp_dataset/joints.mat     'joints' 3 x 14 x 2000: rows x, y and a flag that is 1 where the joint is OCCLUDED
  lsp_dataset/images/im0001.jpg ... im2000.jpg
  lspet_dataset/joints.mat   'joints' 14 x 3 x 10000: columns x, y and a flag that is 1 where the joint is VISIBLE
  lspet_dataset/images/im00001.jpg ... im10000.jpg
The release is told apart by the array's layout (3 x 14 x N: LSP, 14 x 3 x N: LSPET), which fixes the meaning of the
flag and the digits of the image names. Coordinates are Matlab's 1-based pixels and become 0-based here (as MPII).

Splits (DATASET.TRAIN_SET / DATASET.TEST_SET): parts joined by '+', each `[folder/]selection`, where the selection is
  'train'  LSP: images 1-1000 (the first half); LSPET: all 10,000
  'test'   LSP: images 1001-2000 (the last half); LSPET has no test split
  'all'    every image of the file
  'a:b'    images a+1 .. b (a 0-based, end-exclusive slice, e.g. '0:16'); either end may be left out
so Adversarial PoseNet's protocol (train on LSPET + the LSP train half, test on the LSP test half) is
TRAIN_SET 'lspet_dataset/train+lsp_dataset/train', TEST_SET 'lsp_dataset/test' with ROOT holding both folders.

Records: joints_vis is 2 (visible), 1 (occluded: LSP annotates occluded joints at their estimated position, so they
are labelled and trained on, as in every LSP protocol) or 0 (missing: non-finite, or both coordinates <= 0, the
placeholder some tools write). Centre and scale come from the box around the labelled joints, fitted to the input
aspect and enlarged by LSP_BOX_PADDING (a person with fewer than 2 labelled joints gets the whole image). `area` is the
joint box's area. `pck_norm` is the torso length (lib.metrics.pck), which the adversarial trainer's Pose
Discriminator labels use (lib.core.function_AN); where neither torso diagonal is labelled it falls back to
TORSO_FALLBACK_FRACTION of the joint box's longer side, for those labels only: evaluation leaves such a person out.

Provenance: the format as described by the LSP/LSPET releases (Johnson and Everingham, BMVC 2010 and CVPR 2011) and
read by the Adversarial-Pose-Estimation projects; the loader itself is new.
"""
import json
import logging
import os
import re

import numpy as np

from lib.dataset.joints_dataset import JointsDataset
from lib.dataset.keypoint_info import LSP_KEYPOINTS
from lib.metrics.pck import evaluate_pck, torso_sizes
from lib.utils.transforms import box_to_center_scale

logger = logging.getLogger(__name__)

# Torso diagonals tried in order: right shoulder - left hip, then left shoulder - right hip.
LSP_TORSO_DIAGONALS = ((8, 3), (9, 2))
# The groups of the LSP tables in the Adversarial PoseNet paper (Table 1); Head is neck and head top.
LSP_PCK_GROUPS = [
    ("Head", (12, 13)), ("Shoulder", (8, 9)), ("Elbow", (7, 10)), ("Wrist", (6, 11)), ("Hip", (2, 3)),
    ("Knee", (1, 4)), ("Ankle", (0, 5)),
]
PCK_THRESHOLDS = (0.2, 0.1)  # PCK@0.2 is the LSP benchmark's and the best-model indicator; @0.1 a stricter view
LSP_BOX_PADDING = 1.25  # as COCO boxes; the joint box is tight around joint centres (feet, hands, head reach past)
TORSO_FALLBACK_FRACTION = 1.0 / 3.0  # a torso diagonal is about a third of a standing person's joint-box height
SPLIT_SIZES = {"lsp": 2000}  # 'train' / 'test' halves are defined on the full release only

LSP_LAYOUT = """expected LSP layout (ROOT is one release folder, or holds several, named in the split):
  <folder>/joints.mat   'joints': 3 x 14 x N (LSP, flag 1 = occluded) or 14 x 3 x N (LSPET, flag 1 = visible)
  <folder>/images/im0001.jpg ... (LSP, 4 digits) or im00001.jpg ... (LSPET, 5 digits)
splits: '[folder/]train|test|all|a:b', several joined by '+' (DATASET.TRAIN_SET / DATASET.TEST_SET)"""


def read_lsp_joints(path):
    """Reads an LSP or LSPET joints.mat.

    Returns:
        (release, joints (N, 14, 2) 0-based px, joints_vis (N, 14) of 2 visible / 1 occluded / 0 missing), release
        'lsp' (3 x 14 x N, flag = occluded) or 'lspet' (14 x 3 x N, flag = visible).
    Raises:
        FileNotFoundError / ValueError naming the file, the key and the shape found.
    """
    from scipy.io import loadmat

    if not os.path.isfile(path):
        raise FileNotFoundError(f"LSP joints file {path} does not exist\n{LSP_LAYOUT}")
    try:
        data = loadmat(path)
    except (ValueError, OSError, TypeError) as e:
        raise ValueError(f"{path}: not a readable .mat file ({e})") from None
    if "joints" not in data:
        keys = sorted(k for k in data if not k.startswith("__"))
        raise ValueError(f"{path}: no 'joints' array (found {keys}); expected 3 x 14 x N (LSP) or 14 x 3 x N (LSPET)")
    joints = np.asarray(data["joints"], dtype=np.float64)
    if joints.ndim == 2:  # Matlab drops a trailing singleton: one image
        joints = joints[..., None]
    if joints.ndim == 3 and joints.shape[:2] == (3, 14):
        release, per_image = "lsp", np.transpose(joints, (2, 1, 0))  # (N, 14, 3)
        visible = per_image[..., 2] == 0  # LSP's flag marks occlusion
    elif joints.ndim == 3 and joints.shape[:2] == (14, 3):
        release, per_image = "lspet", np.transpose(joints, (2, 0, 1))
        visible = per_image[..., 2] == 1
    else:
        raise ValueError(
            f"{path}: 'joints' has shape {joints.shape}; expected 3 x 14 x N (LSP: x, y, occluded) or 14 x 3 x N "
            "(LSPET: x, y, visible)"
        )
    xy = per_image[..., :2]
    missing = ~np.isfinite(xy).all(axis=-1) | ((xy[..., 0] <= 0) & (xy[..., 1] <= 0))
    joints_vis = np.where(missing, 0, np.where(visible, 2, 1)).astype(np.float64)
    xy = np.where(missing[..., None], 0.0, xy - 1.0)  # Matlab 1-based -> 0-based
    return release, xy, joints_vis


def image_name(release, index):
    """The file name of image `index` (0-based) of a release: im0001.jpg (LSP) or im00001.jpg (LSPET)."""
    return f"im{index + 1:0{4 if release == 'lsp' else 5}d}.jpg"


def parse_split(image_set):
    """'lspet_dataset/train+lsp_dataset/0:16' -> [('lspet_dataset', 'train'), ('lsp_dataset', '0:16')]."""
    parts = []
    for part in str(image_set).split("+"):
        part = part.strip()
        folder, _, selection = part.rpartition("/")
        if not selection:
            raise ValueError(f"split {image_set!r}: empty part {part!r}\n{LSP_LAYOUT}")
        parts.append((folder, selection))
    return parts


def select_indices(selection, release, count, where):
    """The 0-based image indices of a selection ('train', 'test', 'all' or 'a:b') in a file of `count` images."""
    if selection == "all":
        return np.arange(count)
    match = re.fullmatch(r"(-?\d*):(-?\d*)", selection)
    if match:
        start = int(match.group(1)) if match.group(1) else None
        stop = int(match.group(2)) if match.group(2) else None
        indices = np.arange(count)[slice(start, stop)]
        if len(indices) == 0:
            raise ValueError(f"{where}: selection {selection!r} holds no image of the {count} in the file")
        return indices
    if selection not in ("train", "test"):
        raise ValueError(f"{where}: selection {selection!r} is not 'train', 'test', 'all' or 'a:b'\n{LSP_LAYOUT}")
    if release == "lspet":
        if selection == "test":
            raise ValueError(f"{where}: LSPET has no test split (its 10,000 images are training data); test on "
                             "'lsp_dataset/test' or give a range 'a:b'")
        return np.arange(count)
    expected = SPLIT_SIZES[release]
    if count != expected:
        raise ValueError(
            f"{where}: the LSP '{selection}' split is one half of the {expected}-image release, but the file has "
            f"{count} images; give a range 'a:b' instead"
        )
    half = expected // 2
    return np.arange(half) if selection == "train" else np.arange(half, expected)


def center_scale_from_joints(joints, joints_vis, image_size_wh, aspect_ratio, padding=LSP_BOX_PADDING):
    """(centre, scale, joint box [x, y, w, h]) from the labelled joints; the whole image below 2 labelled joints."""
    labelled = joints_vis > 0
    if labelled.sum() >= 2:
        lo, hi = joints[labelled].min(axis=0), joints[labelled].max(axis=0)
        box = [lo[0], lo[1], max(hi[0] - lo[0], 1.0) + 1.0, max(hi[1] - lo[1], 1.0) + 1.0]
    else:
        width, height = image_size_wh
        box, padding = [0.0, 0.0, float(width), float(height)], 1.0
    center, scale = box_to_center_scale(box, aspect_ratio, padding)
    return center, scale, box


class LSPDataset(JointsDataset):
    """LSP / LSPET (14 joints); layouts and splits in the module docstring.

    Args:
        cfg: config (MODEL.NUM_JOINTS must be 14).
        root: DATASET.ROOT, a release folder or a folder of release folders.
        image_set: the split, e.g. 'train', 'lsp_dataset/test', 'lspet_dataset/train+lsp_dataset/train', '0:16'.
        is_train: training augmentation.
    """

    keypoint_info = LSP_KEYPOINTS
    num_joints, joint_names, flip_pairs = keypoint_info.num_joints, keypoint_info.joint_names, keypoint_info.flip_pairs
    upper_body_ids, lower_body_ids = keypoint_info.upper_body_ids, keypoint_info.lower_body_ids
    metric = "pck"  # scored by evaluate() below
    pck_label_threshold = PCK_THRESHOLDS[0]  # the adversarial Pose Discriminator's correctness radius (x pck_norm)

    def __init__(self, cfg, root, image_set, is_train):
        super().__init__(cfg, root, image_set, is_train)
        self._check_num_joints(cfg)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"LSP root {self.root} (DATASET.ROOT) is not a folder\n{LSP_LAYOUT}")
        self.db = []
        for folder, selection in parse_split(image_set):
            self.db.extend(self._load_part(folder, selection, start_id=len(self.db)))
        logger.info("LSP %s: %d samples", image_set, len(self.db))

    def _load_part(self, folder, selection, start_id):
        base = os.path.join(self.root, folder) if folder else self.root
        mat_path = os.path.join(base, "joints.mat")
        image_folder = os.path.join(base, "images")
        release, joints, joints_vis = read_lsp_joints(mat_path)
        if not os.path.isdir(image_folder):
            raise FileNotFoundError(f"LSP image folder {image_folder} does not exist\n{LSP_LAYOUT}")
        indices = select_indices(selection, release, len(joints), f"{mat_path} (split {self.image_set!r})")
        torso = torso_sizes(joints, joints_vis, LSP_TORSO_DIAGONALS)
        records = []
        for i in indices:
            path = os.path.join(image_folder, image_name(release, int(i)))
            image_wh = self._image_size(path) if (joints_vis[i] > 0).sum() < 2 else None
            center, scale, box = center_scale_from_joints(joints[i], joints_vis[i], image_wh, self.aspect_ratio)
            norm = torso[i] if np.isfinite(torso[i]) and torso[i] > 0 else TORSO_FALLBACK_FRACTION * max(box[2:])
            records.append({
                "image": path,
                "image_id": start_id + len(records),
                "center": center,
                "scale": scale,
                "joints": joints[i].copy(),
                "joints_vis": joints_vis[i].copy(),
                "score": 1.0,
                "area": float(box[2] * box[3]),
                "pck_norm": float(norm),
            })
        logger.info("%s: %s release, selection %r: %d of %d images", mat_path, release.upper(), selection,
                    len(records), len(joints))
        return records

    def _image_size(self, path):
        """(w, h) of an image, read only for the rare person without 2 labelled joints."""
        image = self.read_image(path)
        return image.shape[1], image.shape[0]

    def evaluate(self, preds, output_dir=None):
        """PCK of predictions against the split's ground truth, normalised by the torso (LSP_TORSO_DIAGONALS).

        Args:
            preds: (N, 14, 2+) predicted joints in 0-based image px, in db order.
            output_dir: when given, results/lsp_<split>_predictions.json (image, joints x y score) is written.
        Returns:
            (OrderedDict name -> percent: the groups and 'Mean' at PCK@0.2, 'Mean@0.1', 'Mean (visible)' and
            'Mean (occluded)' at PCK@0.2, then 'PCK@0.2 <joint>' per joint; the 'Mean' value: the best-model
            indicator). The per-joint table is logged.
        """
        preds = np.asarray(preds, dtype=np.float64)
        if preds.ndim != 3 or preds.shape[:2] != (len(self.db), self.num_joints) or preds.shape[2] < 2:
            raise ValueError(f"LSP evaluate: preds of shape {preds.shape}, expected ({len(self.db)}, 14, 2+)")
        gt_joints = np.stack([r["joints"] for r in self.db])
        gt_vis = np.stack([r["joints_vis"] for r in self.db])
        torso = torso_sizes(gt_joints, gt_vis, LSP_TORSO_DIAGONALS)
        name_values, table = evaluate_pck(preds, gt_joints, gt_vis, torso, self.joint_names, LSP_PCK_GROUPS,
                                          PCK_THRESHOLDS)
        by_visibility = {}
        for label, flag in (("visible", 2), ("occluded", 1)):
            only = np.where(gt_vis == flag, gt_vis, 0)
            by_visibility[f"Mean ({label})"] = evaluate_pck(preds, gt_joints, only, torso, self.joint_names,
                                                            thresholds=PCK_THRESHOLDS[:1])[0]["Mean"]
        # Insert the visibility means after the overall means, before the per-joint entries.
        ordered = list(name_values.items())
        cut = next(i for i, (k, _) in enumerate(ordered) if k.startswith("PCK@"))
        name_values = type(name_values)(ordered[:cut] + list(by_visibility.items()) + ordered[cut:])
        excluded = int(np.sum(~(np.isfinite(torso) & (torso > 0))))
        logger.info("LSP %s: PCK normalised by the torso (%d of %d persons left out: no torso diagonal labelled)\n%s",
                    self.image_set, excluded, len(self.db), table)
        if output_dir:
            self._write_predictions(preds, output_dir)
        return name_values, name_values["Mean"]

    def _write_predictions(self, preds, output_dir):
        folder = os.path.join(output_dir, "results")
        os.makedirs(folder, exist_ok=True)
        split = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.image_set)
        path = os.path.join(folder, f"lsp_{split}_predictions.json")
        entries = [{"image": r["image"], "image_id": r["image_id"], "joints": np.round(p, 3).tolist()}
                   for r, p in zip(self.db, preds)]
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(entries, f)
        os.replace(tmp, path)
