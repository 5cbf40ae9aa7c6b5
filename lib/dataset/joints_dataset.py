"""The shared top-down sample pipeline: read, augment, one affine warp, normalise, encode targets.

Provenance: HRNet/OmniPose `dataset/JointsDataset.py` (`__getitem__`, `half_body_transform`), reorganised: the image
is checked before any colour conversion, the half-body choice is a fair coin, the flip is folded into the single
affine warp, the targets come from `lib.codec.HeatmapCodec`, and the random draws use a per-sample generator
seeded from torch's RNG (which the DataLoader seeds per worker), so workers never repeat each other's augmentations.

Subclasses fill `self.db` with dicts:
    image (str: a file path, or "<archive>.zip@<member>" for an image read in place from a zip), image_id (int),
    center (2,) and scale (2,) of the person box (lib.utils.transforms conventions), joints (K, 2) image px,
    joints_vis (K,) original visibility flags (COCO 0/1/2, MPII 0/1; > 0 = labelled), score (float),
    area (float, image px^2); optionally pck_norm (float, image px: the PCK normaliser of datasets without OKS
    constants, e.g. LSP's torso; meta["pck_norm_hm"] carries it in heatmap px).

Skipping corrupt images (DATASET.SKIP_CORRUPT): an unreadable image is logged and replaced by the next readable
record; `meta["skipped"]` of the returned sample says how many images were skipped to produce it. That count travels
with the batch, so the trainer gets exact per-epoch totals across DataLoader worker processes by summing it.
`self.num_skipped` is the same count for samples loaded in this process (only complete with WORKERS=0);
`reset_skipped()` returns and zeroes it.
"""
import logging
import os
import zipfile

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from lib.codec import HeatmapCodec
from lib.utils.transforms import (
    PIXEL_STD,
    affine_points,
    compose_affine,
    fliplr_joints,
    get_affine_transform,
    hflip_affine,
)

logger = logging.getLogger(__name__)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # RGB order
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
ZIP_SEPARATOR = ".zip@"  # "<archive>.zip@<member>", HRNet's zipreader convention
HALF_BODY_PADDING = 1.5  # the half-body box is enlarged by this factor, as the original
# cv2.IMREAD_IGNORE_ORIENTATION: pixels as stored, like the original (COCO keypoints refer to the stored pixels).
IMREAD_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


class ImageReadError(OSError):
    """An image that is missing or cannot be decoded."""


def zip_image_ref(zip_path, member):
    """The `image` string of a db record for `member` inside the archive `zip_path` (must end in .zip)."""
    zip_path = str(zip_path)
    if not zip_path.endswith(".zip"):
        raise ValueError(f"{zip_path}: a zip image archive must end in .zip")
    return f"{zip_path}@{member}"


def split_image_ref(ref):
    """(zip_path, member) for a zip reference, (None, path) for a plain file."""
    if ZIP_SEPARATOR in ref:
        archive, member = ref.split(ZIP_SEPARATOR, 1)
        return archive + ".zip", member
    return None, ref


def read_image_file(path):
    """Reads an image file as stored (BGR uint8 (H, W, 3), no EXIF rotation); ImageReadError names the file."""
    if not os.path.isfile(path):
        raise ImageReadError(f"{path}: image file not found")
    image = cv2.imread(path, IMREAD_FLAGS)
    if image is None:
        raise ImageReadError(f"{path}: not a decodable image (corrupt or unsupported format)")
    return image


def normalize_crop(crop_bgr, color_rgb):
    """(H, W, 3) uint8 BGR crop -> (3, H, W) float32 normalised with the ImageNet statistics (RGB order when
    `color_rgb`, DATASET.COLOR_RGB). The one normalisation, shared by the datasets and the predictor."""
    if color_rgb:
        crop = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB)
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        # The statistics follow the channels, so BGR input sees the same per-colour normalisation.
        crop, mean, std = crop_bgr, IMAGENET_MEAN[::-1], IMAGENET_STD[::-1]
    array = (crop.astype(np.float32) / 255.0 - mean) / std
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class JointsDataset(Dataset):
    """Base class of the keypoint datasets; `__getitem__` returns (input, target, target_weight, meta).

    Args:
        cfg: the config (DATASET.*, MODEL.{IMAGE_SIZE, HEATMAP_SIZE, SIGMA}, TEST.{POST_PROCESS, BLUR_KERNEL}).
        root: dataset root folder.
        image_set: split name (e.g. "val2017", "valid").
        is_train: apply the training augmentation.

    Subclasses set keypoint_info (lib.dataset.keypoint_info), read its num_joints, joint_names, flip_pairs,
    upper_body_ids and lower_body_ids into the same-named class attributes, set metric, then fill self.db.
    """

    keypoint_info = None
    num_joints = 0
    joint_names = ()
    flip_pairs = ()
    upper_body_ids = ()
    lower_body_ids = ()
    # How validate() scores the dataset: 'coco_oks' (lib.core.evaluate: OKS-NMS, COCOeval), or 'pckh' / 'pck' (the
    # dataset's own evaluate(preds, output_dir): datasets without OKS constants).
    metric = None

    def __init__(self, cfg, root, image_set, is_train):
        self.root = str(root)
        self.image_set = image_set
        self.is_train = bool(is_train)
        self.image_size = tuple(int(v) for v in cfg.MODEL.IMAGE_SIZE)  # (w, h)
        self.aspect_ratio = self.image_size[0] / self.image_size[1]
        self.codec = HeatmapCodec.from_cfg(cfg)

        self.flip = cfg.DATASET.FLIP
        self.scale_factor = cfg.DATASET.SCALE_FACTOR
        self.rotation_factor = cfg.DATASET.ROT_FACTOR
        self.rotation_prob = cfg.DATASET.ROT_PROB
        self.prob_half_body = cfg.DATASET.PROB_HALF_BODY
        self.num_joints_half_body = cfg.DATASET.NUM_JOINTS_HALF_BODY
        self.color_rgb = cfg.DATASET.COLOR_RGB
        self.skip_corrupt = cfg.DATASET.SKIP_CORRUPT

        self.db = []
        self.num_skipped = 0
        self._zip_handles = {}
        self._zip_pid = None

    def _check_num_joints(self, cfg):
        if cfg.MODEL.NUM_JOINTS != self.num_joints:
            raise ValueError(
                f"MODEL.NUM_JOINTS={cfg.MODEL.NUM_JOINTS} but {type(self).__name__} has {self.num_joints} joints; "
                f"set MODEL.NUM_JOINTS {self.num_joints}"
            )

    def __len__(self):
        return len(self.db)

    def reset_skipped(self):
        """Returns the number of images this process skipped since the last call, and zeroes it."""
        count, self.num_skipped = self.num_skipped, 0
        return count

    # ------------------------------------------------------------------------------------------------------------
    # Image reading
    # ------------------------------------------------------------------------------------------------------------
    def __getstate__(self):
        # Open zip handles are per process; workers reopen lazily.
        state = self.__dict__.copy()
        state["_zip_handles"] = {}
        state["_zip_pid"] = None
        return state

    def _zip_file(self, path):
        if self._zip_pid != os.getpid():
            # A forked worker must not share the parent's file offset: open its own handles.
            self._zip_handles = {}
            self._zip_pid = os.getpid()
        handle = self._zip_handles.get(path)
        if handle is None:
            try:
                handle = zipfile.ZipFile(path)
            except (OSError, zipfile.BadZipFile) as e:
                raise ImageReadError(f"{path}: cannot open the image zip ({e})") from None
            self._zip_handles[path] = handle
        return handle

    def read_image(self, ref):
        """Reads an image as stored (BGR uint8 (H, W, 3)); raises ImageReadError naming the file on failure."""
        zip_path, member = split_image_ref(ref)
        if zip_path is None:
            return read_image_file(member)
        else:
            try:
                data = self._zip_file(zip_path).read(member)
            except KeyError:
                raise ImageReadError(f"{zip_path}: no member {member!r} in the image zip") from None
            except (OSError, zipfile.BadZipFile, EOFError) as e:
                raise ImageReadError(f"{zip_path}: cannot read member {member!r} ({e})") from None
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), IMREAD_FLAGS)
        if image is None:
            raise ImageReadError(f"{ref}: not a decodable image (corrupt or unsupported format)")
        return image

    # ------------------------------------------------------------------------------------------------------------
    # Sample
    # ------------------------------------------------------------------------------------------------------------
    def __getitem__(self, idx):
        if not 0 <= idx < len(self.db):
            raise IndexError(f"index {idx} out of range for {len(self.db)} samples")
        skipped = 0
        index = idx
        while True:
            record = self.db[index]
            try:
                image = self.read_image(record["image"])
                break
            except ImageReadError as e:
                if not self.skip_corrupt:
                    raise ImageReadError(f"{e} (set DATASET.SKIP_CORRUPT True to skip such images)") from None
                skipped += 1
                self.num_skipped += 1
                logger.warning("skipping unreadable image: %s", e)
                if skipped >= len(self.db):
                    raise ImageReadError(f"no readable image among the {len(self.db)} samples of {self.root}") from None
                index = (index + 1) % len(self.db)
        sample = self._make_sample(record, image)
        sample[3]["skipped"] = skipped
        sample[3]["index"] = idx  # lets DDP validation drop the DistributedSampler's padded repeats
        return sample

    def _rng(self):
        # Seeded from torch's global RNG: reproducible under torch.manual_seed and distinct per DataLoader worker.
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))

    def half_body_center_scale(self, joints, labelled, rng):
        """Centre and scale of a box around the labelled upper- or lower-body joints, or (None, None).

        A fair coin picks between the halves that have more than 2 labelled joints (the original used a normal draw
        < 0.5, favouring the upper body 69 % of the time); with neither, the upper body is tried, and fewer than 2
        joints give (None, None).
        """
        upper = [k for k in self.upper_body_ids if labelled[k]]
        lower = [k for k in self.lower_body_ids if labelled[k]]
        candidates = [group for group in (upper, lower) if len(group) > 2]
        chosen = candidates[rng.integers(len(candidates))] if candidates else upper
        if len(chosen) < 2:
            return None, None
        points = joints[chosen]
        center = points.mean(axis=0)
        w, h = points.max(axis=0) - points.min(axis=0) + 1
        if w > self.aspect_ratio * h:
            h = w / self.aspect_ratio
        else:
            w = h * self.aspect_ratio
        scale = np.array([w, h]) / PIXEL_STD * HALF_BODY_PADDING
        return center, scale

    def _make_sample(self, record, image):
        joints = np.asarray(record["joints"], dtype=np.float64)  # (K, 2) image px
        joints_vis = np.asarray(record["joints_vis"], dtype=np.float64)  # (K,) original flags
        center = np.array(record["center"], dtype=np.float64)
        scale = np.array(record["scale"], dtype=np.float64)
        rotation = 0.0
        flipped = False
        if self.is_train:
            rng = self._rng()
            labelled = joints_vis > 0
            if labelled.sum() > self.num_joints_half_body and rng.random() < self.prob_half_body:
                half_center, half_scale = self.half_body_center_scale(joints, labelled, rng)
                if half_center is not None:
                    center, scale = half_center, half_scale
            sf, rf = self.scale_factor, self.rotation_factor
            scale = scale * np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf)
            if rng.random() < self.rotation_prob:
                rotation = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf))
            flipped = bool(self.flip and rng.random() < 0.5)

        image_width = image.shape[1]
        joints_aug, vis_aug = joints, joints_vis
        if flipped:
            # Mirror the annotation and the box; the image itself is mirrored inside the single warp below.
            joints_aug, vis_aug = fliplr_joints(joints, joints_vis, image_width, self.flip_pairs)
            center = np.array([image_width - 1 - center[0], center[1]])
        crop = get_affine_transform(center, scale, rotation, self.image_size)  # (mirrored) image px -> input px
        warp = compose_affine(crop, hflip_affine(image_width)) if flipped else crop
        crop_image = cv2.warpAffine(image, warp, self.image_size, flags=cv2.INTER_LINEAR)
        input_tensor = self._to_tensor(crop_image)

        joints_input = affine_points(joints_aug, crop)
        target, target_weight = self.codec.encode(joints_input, vis_aug)
        joints_hm = self.codec.input_to_heatmap(joints_input)
        joints_hm[vis_aug <= 0] = 0.0  # unlabelled joints have no position
        image_to_heatmap = float(self.codec.image_to_heatmap_factor(scale))

        meta = {
            "image": record["image"],
            "image_id": int(record["image_id"]),
            "center": center.astype(np.float32),
            "scale": scale.astype(np.float32),
            "rotation": float(rotation),
            "score": float(record.get("score", 1.0)),
            "area": float(record.get("area", 0.0)),
            "joints": np.concatenate([joints, joints_vis[:, None]], axis=1).astype(np.float32),
            "joints_vis": joints_vis.astype(np.float32),
            "joints_hm": joints_hm.astype(np.float32),
            "area_hm": float(record.get("area", 0.0)) * image_to_heatmap**2,
            "flipped": flipped,
        }
        if "pck_norm" in record:  # datasets without OKS constants: the PCK normaliser, for the adversarial labels
            meta["pck_norm_hm"] = float(record["pck_norm"]) * image_to_heatmap
        return (
            input_tensor,
            torch.from_numpy(target),
            torch.from_numpy(target_weight[:, None]),
            meta,
        )

    def _to_tensor(self, crop_bgr):
        return normalize_crop(crop_bgr, self.color_rgb)
