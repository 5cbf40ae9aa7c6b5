"""Synthetic COCO-format person-keypoint data: a renderer of shaded 2.5-D human figures and the generator that writes
them in the exact COCO layout (images, ``person_keypoints_<split>2017.json`` and person-detection results).

It is the embedded default dataset (nothing can be downloaded): every command can run end to end on it, and it is the
benchmark for pure vs adversarial training. Its difficulty is meant to be honest, like a real pose problem.

How a figure is made: a 3-D skeleton (17 COCO joints, human proportions) is posed from joint-angle ranges (standing,
walking, running, arms raised, crouching, kneeling, sitting, lying), turned about its vertical axis to any facing
direction (front, profile, back), projected orthographically, rotated in the image plane and drawn back to front
(painter's algorithm) as tapered, shaded limbs with skin tones, clothes that stand off the body (sleeves, trousers,
shirts with their own looseness; jackets, coats, skirts and dresses that bridge the legs), textures, hair with volume,
a face on the front of the head and hair at the back. A label map records which person part (or occluding object)
owns every pixel, so the COCO visibility comes from what was actually rendered, by COCO's rule "a keypoint is
considered visible if it falls inside the object segment" (cocodataset.org/#format-data):
    v=2  the joint's pixel belongs to the person (any of its parts);
    v=1  inside the image but covered by an object or another person;
    v=0  outside the image, or a face point on the side of the head turned away from the camera; x = y = 0.
``segmentation`` is the visible mask as compressed RLE (as in OCHuman's COCO files), ``area`` its pixel count (COCO's
area is the segmentation area, which OKS uses) and ``bbox`` its extent grown to contain every labelled joint, clipped
to the image. Persons whose visible area is below 32^2 px, and figures shorter than 32 px, are annotated without
joints (num_keypoints 0), as COCO's small persons ("small objects do not contain keypoint annotations").
Calibrated on real persons with tools/dataset_stats.py (README, "The synthetic dataset"): mask / box area, share of
occluded joints, labelled joints and persons per image.
Facing: 55% towards the camera (yaw ~ N(0, 35 deg)), 25% profile, 20% back view; the head turns up to 60 deg more.
Val person detections: GT boxes jittered (~6% position, ~10% size), scored higher for larger, less occluded persons,
with misses (more for small or occluded ones), some duplicates and false positives.

Coordinates: pixel centres at integers, i.e. pixel (col, row) is centred on (x, y) = (col, row); joints are (x, y).
Image sizes: width and height drawn independently and uniformly in [min_size, max_size] = [320, 480] px by default.

Difficulty knobs (``SynthConfig`` fields; ``tools/make_synthetic_coco.py`` flags; defaults = the honest difficulty):

    ================  ==================  ==========================================================================
    field             flag                meaning (default)
    ================  ==================  ==========================================================================
    min_size          --min-size          smallest image side, px (320)
    max_size          --max-size          largest image side, px (480)
    min_persons       --min-persons       fewest persons drawn per image (1)
    max_persons       --max-persons       most persons drawn per image, fewer more likely (8)
    min_height        --min-height        smallest standing height of a drawn person, px (56)
    max_height        --max-height        largest standing height, as a fraction of the image height (0.9)
    rotation          --rotation          std of the in-plane rotation of upright persons, degrees (20)
    overlap_prob      --overlap-prob      probability that a person is placed overlapping an earlier one (0.4)
    truncation_prob   --truncation-prob   probability that a person is pushed across the image border, mostly the
                                          bottom one (0.5)
    occluder_prob     --occluder-prob     probability that an object is placed in front of a person (0.3)
    clutter           --clutter           scale of background clutter: shapes, textures, limb-like distractors (1.0)
    poses             --poses             pose classes drawn: all (standing, walking, running, arms up, crouching,
                                          kneeling, sitting, lying, random) or upright (the first four) (all)
    tiny_prob         --tiny-prob         probability of extra tiny (12-32 px) persons without joints (0.2)
    blur_prob         --blur-prob         probability of Gaussian or motion blur (0.3)
    noise             --noise             largest std of additive Gaussian pixel noise, grey levels (8.0)
    jpeg_min/max      --jpeg-quality      JPEG quality range, drawn uniformly per image (40 95)
    ================  ==================  ==========================================================================

Determinism: each image is rendered from its own generator seeded by (seed, split, index), so the same arguments give
the same bytes whatever the number of worker processes.
"""
from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass, fields
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------------------------
# COCO constants
# ----------------------------------------------------------------------------------------------------------------
KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
# COCO's skeleton, 1-based joint indices, in COCO's order.
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9], [8, 10],
            [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
CATEGORY = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(KEYPOINT_NAMES),
            "skeleton": SKELETON}

# split name -> (COCO set name, image-id offset). Offsets keep image ids unique across the two splits.
SPLITS = {"train": ("train2017", 0), "val": ("val2017", 10_000_000)}
MAX_IMAGES_PER_SPLIT = 9_999_999
DETECTIONS_FILE = "synthetic_val2017_detections.json"
# Annotation id = image id * ANN_ID_STRIDE + person index: unique and independent of the worker that made it.
ANN_ID_STRIDE = 100

# Figures shorter than this (standing height, px) are annotated without joints, as COCO leaves small persons unlabelled.
TINY_HEIGHT = 32.0
# P(n persons) ~ decay ** (n - min_persons): fewer persons are more likely.
_PERSON_COUNT_DECAY = 0.8
# Which image border a truncated person crosses: bottom, left, right, top.
_TRUNCATION_SIDES = (0.5, 0.2, 0.2, 0.1)

# COCO labels no joints on persons whose segment area is below 32^2 px ("small objects do not contain keypoint
# annotations", cocodataset.org/#keypoints-eval): such persons are annotated with num_keypoints 0.
SMALL_AREA = 32.0 ** 2

# Body parts (label-map ids within a person). SKIRT is the loose garment below the waist: skirt, dress, jacket or
# coat tails.
(TORSO, NECK, HEAD, L_UPPER_ARM, R_UPPER_ARM, L_FOREARM, R_FOREARM, L_HAND, R_HAND,
 L_THIGH, R_THIGH, L_SHIN, R_SHIN, L_FOOT, R_FOOT, SKIRT) = range(16)
NUM_PARTS = 16
# Label map values: 0 background, 1 occluding object, then LABEL_PERSON0 + person * NUM_PARTS + part.
LABEL_OCCLUDER = 1
LABEL_PERSON0 = 2

# Body proportions, in units of the standing height (a ~7.5-head figure). Joint heights above the floor: ankle
# 0.04, knee 0.285, hip 0.53, shoulder 0.795, head centre 0.935, top of head 1.0.
_BODY = {
    "spine": 0.29, "neck": 0.05, "head_rh": 0.065, "head_rw": 0.052, "shoulder_half": 0.115, "shoulder_drop": 0.025,
    "hip_half": 0.085, "upper_arm": 0.175, "forearm": 0.15, "hand": 0.065, "thigh": 0.245, "shin": 0.245,
    "foot": 0.13,
}
# Limb radii (start, end), fraction of the standing height, of bare limbs before the per-person build factor
# (anthropometric girths: upper arm ~0.17, thigh ~0.31, calf ~0.21 of the height around). Clothes add their
# looseness on top (_Person.draw).
_RADII = {
    "upper_arm": (0.033, 0.026), "forearm": (0.026, 0.019), "hand": (0.023, 0.018), "thigh": (0.055, 0.037),
    "shin": (0.036, 0.024), "foot": (0.026, 0.021), "neck": (0.033, 0.031),
}

# Skin tones (RGB, light to dark; stored BGR below) and hair colours.
_SKIN_RGB = [(255, 224, 196), (241, 194, 150), (224, 172, 125), (198, 134, 90), (161, 102, 60), (120, 75, 45),
             (85, 55, 35)]
_HAIR_RGB = [(20, 15, 10), (60, 40, 25), (110, 75, 40), (200, 160, 90), (150, 60, 30), (170, 170, 170),
             (235, 225, 200)]
_SKIN_BGR = np.array([c[::-1] for c in _SKIN_RGB], np.float32)
_HAIR_BGR = np.array([c[::-1] for c in _HAIR_RGB], np.float32)

# Half-circle used for capsule end caps: angles from +90 to -90 degrees about the limb axis.
_CAP_T = np.linspace(math.pi / 2, -math.pi / 2, 7)
_CAP_COS1, _CAP_SIN1 = np.cos(_CAP_T), np.sin(_CAP_T)
_ELLIPSE_T = np.linspace(0, 2 * math.pi, 24, endpoint=False)
_HULL_CIRCLE = np.stack([np.cos(np.arange(16) * math.pi / 8), np.sin(np.arange(16) * math.pi / 8)], axis=1)

_SHIFT = 4  # fixed-point bits for OpenCV's subpixel drawing
_SCALE = float(1 << _SHIFT)


# ----------------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SynthConfig:
    """Difficulty knobs; see the module docstring's table. The defaults are the honest difficulty."""

    min_size: int = 320
    max_size: int = 480
    min_persons: int = 1
    max_persons: int = 8
    min_height: float = 56.0
    max_height: float = 0.9
    rotation: float = 20.0
    overlap_prob: float = 0.4
    truncation_prob: float = 0.5
    occluder_prob: float = 0.3
    clutter: float = 1.0
    tiny_prob: float = 0.2
    blur_prob: float = 0.3
    noise: float = 8.0
    jpeg_min: int = 40
    jpeg_max: int = 95
    poses: str = "all"

    def validate(self) -> "SynthConfig":
        """Raise ValueError naming the first bad knob; return self."""
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(msg)

        need(64 <= self.min_size <= self.max_size <= 4096,
             f"image sizes need 64 <= min_size <= max_size <= 4096, got {self.min_size}, {self.max_size}")
        need(1 <= self.min_persons <= self.max_persons <= 20,
             f"persons need 1 <= min_persons <= max_persons <= 20, got {self.min_persons}, {self.max_persons}")
        need(TINY_HEIGHT <= self.min_height,
             f"min_height={self.min_height} px must be >= {TINY_HEIGHT} (smaller figures carry no joints)")
        need(0.0 < self.max_height <= 2.0,
             f"max_height={self.max_height} is a fraction of the image height, expected in (0, 2]")
        need(self.min_height <= self.max_height * self.min_size,
             f"min_height={self.min_height} px exceeds max_height * min_size = {self.max_height * self.min_size} px")
        need(0.0 <= self.rotation <= 180.0, f"rotation={self.rotation} must be a std in degrees in [0, 180]")
        for name in ("overlap_prob", "truncation_prob", "occluder_prob", "tiny_prob", "blur_prob"):
            value = getattr(self, name)
            need(0.0 <= value <= 1.0, f"{name}={value} must be a probability in [0, 1]")
        need(0.0 <= self.clutter <= 10.0, f"clutter={self.clutter} must be in [0, 10] (1 = default amount)")
        need(0.0 <= self.noise <= 100.0, f"noise={self.noise} must be a std in grey levels in [0, 100]")
        need(self.poses in POSE_SETS, f"poses={self.poses!r} must be one of {sorted(POSE_SETS)}")
        need(1 <= self.jpeg_min <= self.jpeg_max <= 100,
             f"JPEG quality needs 1 <= min <= max <= 100, got {self.jpeg_min}, {self.jpeg_max}")
        return self


# Named difficulty presets (tools/make_synthetic_coco.py --preset, DATASET.SYNTHETIC_PRESET). 'default' is the
# benchmark every comparison uses. 'quickstart' is the much easier set the CPU quickstart trains on: at most two
# persons per image, larger (>= 140 px), upright poses only (standing, walking, running, arms up), less rotation,
# overlap, truncation, occlusion and clutter; so that 15 CPU minutes give a model that finds poses. Its AP is not
# comparable with the default set's.
PRESETS = {
    "default": SynthConfig(),
    "quickstart": SynthConfig(max_persons=2, min_height=140.0, rotation=10.0, overlap_prob=0.1, truncation_prob=0.1,
                              occluder_prob=0.1, clutter=0.3, tiny_prob=0.0, blur_prob=0.1, noise=3.0,
                              poses="upright"),
}


def preset_config(name: str) -> SynthConfig:
    """The SynthConfig of a named preset; ValueError naming the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown synthetic preset {name!r}; valid: {sorted(PRESETS)}")
    return PRESETS[name]


# ----------------------------------------------------------------------------------------------------------------
# 3-D skeleton
# ----------------------------------------------------------------------------------------------------------------
def _rotate(v: np.ndarray, axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rodrigues rotation of 3-vector v about the unit 3-vector axis (right-handed)."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return v * c + _cross(axis, v) * s + axis * float(axis @ v) * (1.0 - c)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3-vector cross product (np.cross is slow for single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else v


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


# Arm presets: (flexion forward, abduction sideways, elbow bend, forearm rotation inward), degree ranges.
_ARM_PRESETS = {
    "down": ((-15, 20), (4, 20), (0, 30), (0, 40)),
    "raised": ((140, 180), (0, 30), (0, 40), (-20, 20)),
    "raised_side": ((-10, 30), (100, 170), (0, 50), (-30, 20)),
    "forward": ((50, 110), (-10, 30), (0, 70), (-20, 50)),
    "hips": ((-20, 10), (30, 50), (90, 130), (60, 100)),
    "face": ((20, 50), (10, 30), (120, 150), (20, 60)),
    "crossed": ((20, 50), (0, 15), (90, 120), (70, 100)),
    "wave": ((-10, 30), (60, 100), (60, 110), (-100, -60)),
    "random": ((-40, 180), (0, 120), (0, 150), (-90, 100)),
}
# Pose classes and their probabilities.
_POSE_CLASSES = ("stand", "walk", "run", "arms_up", "crouch", "kneel", "sit", "lie", "random")
_POSE_PROBS = np.array([0.18, 0.17, 0.11, 0.1, 0.09, 0.06, 0.1, 0.09, 0.1])
# SynthConfig.poses: which classes are drawn. 'upright' keeps the standing ones (the quickstart preset's).
POSE_SETS = {"all": _POSE_CLASSES, "upright": ("stand", "walk", "run", "arms_up")}


def _arm(rng: np.random.Generator, preset: str) -> Tuple[float, float, float, float]:
    return tuple(_u(rng, *r) for r in _ARM_PRESETS[preset])  # type: ignore[return-value]


def sample_pose(rng: np.random.Generator, poses: str = "all") -> Dict:
    """Draw a pose of the set `poses` (POSE_SETS): a class name and joint angles in degrees.

    Returns:
        dict with "name", "lean" (torso pitch forward), "bend" (sideways), "twist" (shoulders vs hips, about the
        vertical), "head_yaw", "head_pitch", "arms" and "legs" (per side, index 0 = left, 1 = right: arms are
        (flexion, abduction, elbow, forearm rotation), legs (flexion, abduction, knee, ankle)) and "lying" (bool).
    """
    probs = np.array([p if c in POSE_SETS[poses] else 0.0 for c, p in zip(_POSE_CLASSES, _POSE_PROBS)])
    name = str(rng.choice(_POSE_CLASSES, p=probs / probs.sum()))
    lean, bend, twist = _u(rng, -5, 10), _u(rng, -6, 6), _u(rng, -15, 15)
    presets = ("down", "down", "forward", "hips", "face", "crossed", "wave", "raised", "raised_side", "random")
    arms = [_arm(rng, str(rng.choice(presets))) for _ in range(2)]
    legs = [(_u(rng, -5, 10), _u(rng, 0, 12), _u(rng, 0, 10), _u(rng, -10, 10)) for _ in range(2)]
    lead = int(rng.integers(2))  # the leg that steps forward
    if name == "walk":
        legs[lead] = (_u(rng, 15, 35), _u(rng, 0, 8), _u(rng, 0, 20), _u(rng, -10, 15))
        legs[1 - lead] = (_u(rng, -25, -10), _u(rng, 0, 8), _u(rng, 10, 45), _u(rng, 0, 30))
        swing = _u(rng, 10, 35)  # arms swing against the legs
        arms[lead] = (-swing, _u(rng, 4, 15), _u(rng, 10, 40), _u(rng, 0, 30))
        arms[1 - lead] = (swing, _u(rng, 4, 15), _u(rng, 10, 40), _u(rng, 0, 30))
        if rng.random() < 0.3:
            arms[int(rng.integers(2))] = _arm(rng, str(rng.choice(("face", "forward", "wave"))))
    elif name == "run":
        lean = _u(rng, 8, 25)
        legs[lead] = (_u(rng, 40, 85), _u(rng, 0, 10), _u(rng, 40, 100), _u(rng, -10, 20))
        legs[1 - lead] = (_u(rng, -35, -10), _u(rng, 0, 10), _u(rng, 50, 130), _u(rng, 10, 40))
        swing = _u(rng, 20, 60)
        arms[lead] = (-swing, _u(rng, 5, 20), _u(rng, 70, 110), _u(rng, 0, 30))
        arms[1 - lead] = (swing, _u(rng, 5, 20), _u(rng, 70, 110), _u(rng, 0, 30))
    elif name == "arms_up":
        for side in range(2):
            arms[side] = _arm(rng, "raised" if rng.random() < 0.6 else "raised_side")
        if rng.random() < 0.3:
            arms[int(rng.integers(2))] = _arm(rng, "down")
    elif name == "crouch":
        lean = _u(rng, 20, 55)
        for side in range(2):
            legs[side] = (_u(rng, 75, 125), _u(rng, 8, 35), _u(rng, 95, 150), _u(rng, -20, 20))
        arms = [_arm(rng, str(rng.choice(("forward", "down", "random", "crossed")))) for _ in range(2)]
    elif name == "kneel":
        legs[lead] = (_u(rng, 70, 100), _u(rng, 0, 20), _u(rng, 70, 100), _u(rng, -10, 10))
        legs[1 - lead] = (_u(rng, -15, 15), _u(rng, 0, 15), _u(rng, 80, 110), _u(rng, 30, 60))
    elif name == "sit":
        lean = _u(rng, -10, 20)
        for side in range(2):
            legs[side] = (_u(rng, 70, 100), _u(rng, 3, 25), _u(rng, 60, 110), _u(rng, -15, 15))
        if rng.random() < 0.3:  # legs crossed / one stretched out
            legs[lead] = (_u(rng, 60, 90), _u(rng, -5, 5), _u(rng, 0, 40), _u(rng, -10, 10))
    elif name == "lie":
        for side in range(2):
            legs[side] = (_u(rng, -10, 20), _u(rng, 0, 20), _u(rng, 0, 30), _u(rng, -20, 20))
        if rng.random() < 0.4:
            legs[lead] = (_u(rng, 30, 70), _u(rng, 0, 20), _u(rng, 50, 110), _u(rng, -10, 10))
        arms = [_arm(rng, str(rng.choice(("down", "raised", "raised_side", "random")))) for _ in range(2)]
    elif name == "random":
        lean, bend, twist = _u(rng, -20, 45), _u(rng, -25, 25), _u(rng, -35, 35)
        arms = [_arm(rng, "random") for _ in range(2)]
        legs = [(_u(rng, -30, 110), _u(rng, 0, 45), _u(rng, 0, 140), _u(rng, -20, 30)) for _ in range(2)]
    return {
        "name": name, "lean": lean, "bend": bend, "twist": twist,
        "head_yaw": float(np.clip(rng.normal(0, 25), -60, 60)), "head_pitch": _u(rng, -20, 30),
        "arms": arms, "legs": legs, "lying": name == "lie",
    }


def skeleton_3d(pose: Dict, body: Dict[str, float]) -> Dict[str, np.ndarray]:
    """Pose the skeleton in the body frame (x = the person's left, y = up, z = the way they face; origin at the
    pelvis centre; unit = standing height).

    Returns:
        dict with "joints" (17, 3) in COCO order (face points on the head surface), "head" (3,), head frame
        "head_left"/"head_up"/"head_fwd" (3,), "neck_base", "pelvis", "hands" (2, 3) and "toes" (2, 3) end points,
        and the chest frame "chest_left"/"chest_fwd".
    """
    x_axis, y_axis, z_axis = np.eye(3)
    pelvis = np.zeros(3)
    lean, bend = math.radians(pose["lean"]), math.radians(pose["bend"])
    spine_dir = _unit(np.array([math.sin(bend), math.cos(lean) * math.cos(bend), math.sin(lean)]))
    neck_base = pelvis + body["spine"] * spine_dir
    # Chest frame: the twist turns the shoulders about the spine.
    chest_left = _unit(_rotate(x_axis, y_axis, pose["twist"]))
    chest_left = _unit(chest_left - spine_dir * float(chest_left @ spine_dir))
    chest_fwd = _cross(chest_left, spine_dir)
    # Head frame: yaw about the spine, then pitch (positive looks down) about the head's left axis.
    head_fwd = _rotate(chest_fwd, spine_dir, pose["head_yaw"])
    head_left = _rotate(chest_left, spine_dir, pose["head_yaw"])
    head_fwd = _rotate(head_fwd, head_left, pose["head_pitch"])
    head_up = _cross(head_fwd, head_left)
    neck_dir = _unit(spine_dir + 0.4 * head_up)
    head = neck_base + neck_dir * (body["neck"] + 0.6 * body["head_rh"]) + head_up * 0.4 * body["head_rh"]

    joints = np.zeros((NUM_KEYPOINTS, 3))
    rw, rh = body["head_rw"], body["head_rh"]
    joints[0] = head + head_fwd * rw * 0.97 - head_up * rh * 0.3
    for side, sign in ((0, 1.0), (1, -1.0)):
        joints[1 + side] = head + head_fwd * rw * 0.78 + sign * head_left * rw * 0.42 + head_up * rh * 0.08
        joints[3 + side] = head + sign * head_left * rw * 0.9 - head_fwd * rw * 0.12
    hands, toes = np.zeros((2, 3)), np.zeros((2, 3))
    down = -spine_dir
    for side, sign in ((0, 1.0), (1, -1.0)):
        flex, abd, elbow, rot = pose["arms"][side]
        shoulder = neck_base - spine_dir * body["shoulder_drop"] + sign * chest_left * body["shoulder_half"]
        upper = _rotate(_rotate(down, chest_left, -flex), chest_fwd, sign * abd)
        fore = _rotate(_rotate(down, chest_left, -(flex + elbow)), chest_fwd, sign * abd)
        fore = _rotate(fore, _unit(upper), sign * rot)
        elbow_p = shoulder + upper * body["upper_arm"]
        wrist = elbow_p + fore * body["forearm"]
        joints[5 + side], joints[7 + side], joints[9 + side] = shoulder, elbow_p, wrist
        hands[side] = wrist + fore * body["hand"]
        lflex, labd, knee, ankle = pose["legs"][side]
        hip = pelvis + sign * x_axis * body["hip_half"]
        thigh = _rotate(_rotate(-y_axis, x_axis, -lflex), z_axis, sign * labd)
        shin = _rotate(_rotate(-y_axis, x_axis, -(lflex - knee)), z_axis, sign * labd)
        foot = _rotate(_rotate(-y_axis, x_axis, -(lflex - knee + 90 + ankle)), z_axis, sign * labd * 0.5)
        knee_p = hip + thigh * body["thigh"]
        ankle_p = knee_p + shin * body["shin"]
        joints[11 + side], joints[13 + side], joints[15 + side] = hip, knee_p, ankle_p
        toes[side] = ankle_p + foot * body["foot"] - shin * 0.03
    return {"joints": joints, "head": head, "head_left": head_left, "head_up": head_up, "head_fwd": head_fwd,
            "neck_base": neck_base, "pelvis": pelvis, "hands": hands, "toes": toes, "chest_left": chest_left,
            "chest_fwd": chest_fwd, "spine_dir": spine_dir}


# ----------------------------------------------------------------------------------------------------------------
# Drawing primitives (all take float pixel coordinates)
# ----------------------------------------------------------------------------------------------------------------
def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _SCALE).astype(np.int32)


def _capsule(p1: np.ndarray, p2: np.ndarray, r1: float, r2: float) -> np.ndarray:
    """Convex outline (14, 2) of a tapered capsule from p1 (radius r1) to p2 (radius r2)."""
    # Scalar maths on purpose: this runs ~50 times per person and numpy's per-call overhead dominated it.
    dx, dy = float(p2[0] - p1[0]), float(p2[1] - p1[1])
    length = math.hypot(dx, dy)
    ux, uy = (dx / length, dy / length) if length > 1e-6 else (1.0, 0.0)
    cap_x = _CAP_COS1 * ux - _CAP_SIN1 * uy  # the cap's directions from +n through +d to -n
    cap_y = _CAP_COS1 * uy + _CAP_SIN1 * ux
    out = np.empty((2 * len(_CAP_COS1), 2))
    k = len(_CAP_COS1)
    out[:k, 0] = p2[0] + r2 * cap_x
    out[:k, 1] = p2[1] + r2 * cap_y
    out[k:, 0] = p1[0] - r1 * cap_x
    out[k:, 1] = p1[1] - r1 * cap_y
    return out


def _ellipse(center: np.ndarray, axis_u: np.ndarray, ru: float, rv: float) -> np.ndarray:
    """Outline (24, 2) of an ellipse with semi-axis ru along unit 2-vector axis_u and rv across it."""
    axis_v = np.array([-axis_u[1], axis_u[0]])
    return center + np.cos(_ELLIPSE_T)[:, None] * ru * axis_u + np.sin(_ELLIPSE_T)[:, None] * rv * axis_v


class _Canvas:
    """The image being drawn (H, W, 3) uint8 BGR and its label map (H, W) int32, with the scene's light direction."""

    def __init__(self, image: np.ndarray, light: np.ndarray):
        self.image = image
        self.label = np.zeros(image.shape[:2], np.int32)
        self.light = light  # unit 2-vector pointing towards the light, image coordinates

    def fill(self, outline: np.ndarray, color, label: Optional[int] = None, convex: bool = True) -> None:
        pts = _fixed(outline)
        col = tuple(min(max(float(c), 0.0), 255.0) for c in color)
        if convex:
            cv2.fillConvexPoly(self.image, pts, col, lineType=cv2.LINE_AA, shift=_SHIFT)
            if label is not None:
                cv2.fillConvexPoly(self.label, pts, int(label), lineType=cv2.LINE_8, shift=_SHIFT)
        else:
            cv2.fillPoly(self.image, [pts], col, lineType=cv2.LINE_AA, shift=_SHIFT)
            if label is not None:
                cv2.fillPoly(self.label, [pts], int(label), lineType=cv2.LINE_8, shift=_SHIFT)

    def shaded_capsule(self, p1, p2, r1, r2, color, label: Optional[int] = None) -> None:
        """A cylinder-like limb: dark outline body, base colour shifted to the lit side, then a highlight."""
        color = np.asarray(color, np.float32)
        r1, r2 = max(r1, 0.8), max(r2, 0.8)
        self.fill(_capsule(p1, p2, r1, r2), color * 0.6, label)
        rm = 0.5 * (r1 + r2)
        if rm > 1.5:  # shading layers only where they can be seen
            dx, dy = float(p2[0] - p1[0]), float(p2[1] - p1[1])
            length = math.hypot(dx, dy)
            nx, ny = (-dy / length, dx / length) if length > 1e-6 else (0.0, 0.0)
            sign = 1.0 if nx * self.light[0] + ny * self.light[1] >= 0 else -1.0
            side = np.array([nx * sign, ny * sign])
            self.fill(_capsule(p1 + side * 0.2 * rm, p2 + side * 0.2 * rm, r1 * 0.75, r2 * 0.75), color)
            self.fill(_capsule(p1 + side * 0.42 * rm, p2 + side * 0.42 * rm, r1 * 0.3, r2 * 0.3),
                      color * 1.15 + 22)


# ----------------------------------------------------------------------------------------------------------------
# Persons
# ----------------------------------------------------------------------------------------------------------------
def _random_cloth(rng: np.random.Generator) -> np.ndarray:
    """A clothing colour (3,) BGR float: saturated, muted, dark or light, as real clothes."""
    kind = rng.random()
    if kind < 0.25:
        grey = _u(rng, 15, 235)
        return np.array([grey, grey, grey], np.float32) + rng.uniform(-8, 8, 3).astype(np.float32)
    hsv = np.array([[[rng.integers(0, 180), rng.integers(60, 256) if kind < 0.7 else rng.integers(20, 90),
                      rng.integers(50, 240)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


# Garments below the waist: (kind, probability, length range along the leg: 1 = the knee, 2 = the ankle).
_HEMS = (("none", 0.43, (0.0, 0.0)), ("jacket", 0.22, (0.2, 0.45)), ("coat", 0.1, (0.8, 1.5)),
         ("skirt", 0.14, (0.45, 1.6)), ("dress", 0.11, (0.5, 1.6)))
_HEM_PROBS = np.array([h[1] for h in _HEMS])


def _sample_look(rng: np.random.Generator) -> Dict:
    """Per-person appearance: skin, hair, clothes (with their looseness and the garment below the waist),
    textures and build."""
    skin_idx = rng.uniform(0, len(_SKIN_BGR) - 1)
    lo = int(skin_idx)
    skin = _SKIN_BGR[lo] * (1 - (skin_idx - lo)) + _SKIN_BGR[min(lo + 1, len(_SKIN_BGR) - 1)] * (skin_idx - lo)
    shirt, pants = _random_cloth(rng), _random_cloth(rng)
    hem_kind, _, hem_range = _HEMS[int(rng.choice(len(_HEMS), p=_HEM_PROBS / _HEM_PROBS.sum()))]
    hair_style = str(rng.choice(("short", "long", "curly", "bald"), p=(0.55, 0.3, 0.1, 0.05)))
    hair_volume = {"short": (1.0, 1.2), "long": (1.05, 1.3), "curly": (1.25, 1.45), "bald": (1.0, 1.0)}[hair_style]
    sleeves = str(rng.choice(("long", "short", "none"), p=(0.45, 0.4, 0.15)))
    legwear = str(rng.choice(("long", "shorts"), p=(0.75, 0.25)))
    if hem_kind in ("jacket", "coat"):
        sleeves = "long"
    elif hem_kind in ("skirt", "dress"):
        legwear = str(rng.choice(("bare", "tights"), p=(0.6, 0.4)))
    look = {
        "skin": skin + rng.uniform(-8, 8, 3).astype(np.float32),
        "hair": _HAIR_BGR[rng.integers(len(_HAIR_BGR))] * _u(rng, 0.8, 1.15),
        "hair_style": hair_style, "hair_volume": _u(rng, *hair_volume),
        "shirt": shirt, "pants": shirt if hem_kind == "dress" else pants,
        "shoes": _random_cloth(rng) * _u(rng, 0.3, 1.0),
        "tights": _random_cloth(rng) * _u(rng, 0.25, 0.6),
        "sleeves": sleeves, "legwear": legwear,
        "hem": hem_kind, "hem_length": _u(rng, *hem_range) if hem_kind != "none" else 0.0,
        "hem_flare": _u(rng, 1.1, 1.6),
        # Clothes stand off the body: radius factors of the upper garment and of the trousers.
        "top_loose": _u(rng, 1.15, 1.45) if hem_kind == "coat" else _u(rng, 1.0, 1.3),
        "pants_loose": _u(rng, 1.0, 1.35),
        "shirt_pattern": _sample_pattern(rng), "pants_pattern": _sample_pattern(rng) if rng.random() < 0.4 else None,
        "build": _u(rng, 0.85, 1.3), "shoulders": _u(rng, 0.9, 1.15), "hips": _u(rng, 0.9, 1.25),
    }
    return look


def _sample_pattern(rng: np.random.Generator) -> Optional[Dict]:
    kind = str(rng.choice(("plain", "stripes", "checks", "speckle"), p=(0.45, 0.3, 0.12, 0.13)))
    if kind == "plain":
        return None
    return {"kind": kind, "period": _u(rng, 0.018, 0.05), "angle": _u(rng, 0, 180),
            "factor": rng.uniform(0.45, 1.5, 3).astype(np.float32)}


def _sample_body(rng: np.random.Generator, look: Dict) -> Dict[str, float]:
    body = {k: v * float(rng.normal(1.0, 0.04)) for k, v in _BODY.items()}
    body["shoulder_half"] *= look["shoulders"]
    body["hip_half"] *= look["hips"]
    return body


def _project(points: np.ndarray, yaw: float, angle: float, scale: float, offset: np.ndarray) -> Tuple[np.ndarray,
                                                                                                      np.ndarray]:
    """Body frame (N, 3) -> image (N, 2) px and depth (N,) (larger = farther), orthographic.

    The yaw turns the body about its vertical axis (0 = facing the camera, 90 = facing image right); the camera frame
    is x right, y down, z away from the camera; the in-plane angle rotates the image about the pelvis."""
    a = math.radians(yaw)
    c, s = math.cos(a), math.sin(a)
    x = points[..., 0] * c + points[..., 2] * s
    z_body = -points[..., 0] * s + points[..., 2] * c
    world = np.stack([x, -points[..., 1], -z_body], axis=-1)
    b = math.radians(angle)
    cb, sb = math.cos(b), math.sin(b)
    px = (world[..., 0] * cb - world[..., 1] * sb) * scale + offset[0]
    py = (world[..., 0] * sb + world[..., 1] * cb) * scale + offset[1]
    return np.stack([px, py], axis=-1), world[..., 2] * scale


def _to_camera_dir(v: np.ndarray, yaw: float) -> np.ndarray:
    """A body-frame direction (3,) in the camera frame (x right, y down, z away)."""
    a = math.radians(yaw)
    c, s = math.cos(a), math.sin(a)
    return np.array([v[0] * c + v[2] * s, -v[1], v[0] * s - v[2] * c])


class _Person:
    """One figure: pose, look and placement; knows how to draw itself into a canvas."""

    def __init__(self, rng: np.random.Generator, height_px: float, cfg: SynthConfig):
        self.pose = sample_pose(rng, cfg.poses)
        self.look = _sample_look(rng)
        self.body = _sample_body(rng, self.look)
        self.height = height_px
        # Facing: mostly towards the camera, as in photos, but profiles and back views are common too.
        view = rng.random()
        if view < 0.55:
            self.yaw = float(rng.normal(0, 35))
        elif view < 0.8:
            self.yaw = float(rng.choice((-90.0, 90.0)) + rng.normal(0, 25))
        else:
            self.yaw = float(180 + rng.normal(0, 35))
        self.angle = float(np.clip(rng.normal(0, cfg.rotation), -2.5 * cfg.rotation, 2.5 * cfg.rotation))
        if self.pose["lying"]:
            self.angle = float(rng.choice((-90.0, 90.0))) + float(rng.normal(0, 12))
        self.skel = skeleton_3d(self.pose, self.body)
        self.offset = np.zeros(2)
        self.depth = 0.0
        self._layout()

    def _layout(self) -> None:
        """2-D positions of the joints and the extra drawing points for the current offset."""
        sk = self.skel
        pts = np.concatenate([sk["joints"], sk["hands"], sk["toes"], sk["head"][None], sk["neck_base"][None],
                              sk["pelvis"][None]])
        self.p2d, self.z = _project(pts, self.yaw, self.angle, self.height, self.offset)

    def extent(self) -> Tuple[np.ndarray, np.ndarray]:
        """(min xy, max xy) of the figure in px, padded by the limb radius."""
        pad = 0.07 * self.height
        return self.p2d.min(0) - pad, self.p2d.max(0) + pad

    def place(self, center: np.ndarray) -> None:
        lo, hi = self.extent()
        self.offset = self.offset + center - 0.5 * (lo + hi)
        self._layout()

    def camera_dir(self, v: np.ndarray) -> np.ndarray:
        return _to_camera_dir(v, self.yaw)

    def image_dir(self, v: np.ndarray) -> np.ndarray:
        """A body-frame direction (3,) as an (unnormalised) image-plane 2-vector, in px per height unit."""
        cam = self.camera_dir(v)
        b = math.radians(self.angle)
        return np.array([cam[0] * math.cos(b) - cam[1] * math.sin(b), cam[0] * math.sin(b) + cam[1] * math.cos(b)])

    # -- drawing ---------------------------------------------------------------------------------------------------
    def draw(self, canvas: _Canvas, label_base: int, rng: np.random.Generator) -> None:
        """Draw back to front; parts get label label_base + part id."""
        look, s = self.look, self.height
        build = look["build"]
        p, z = self.p2d, self.z
        J = p[:NUM_KEYPOINTS]
        hands, toes = p[17:19], p[19:21]
        head, neck_base, pelvis = p[21], p[22], p[23]
        jz, hz, tz = z[:NUM_KEYPOINTS], z[17:19], z[19:21]
        items = []  # (depth, order, callable)

        def limb(part, a, b, za, zb, radii, color, bias=0.0, loose=(1.0, 1.0)):
            r1, r2 = radii[0] * s * build * loose[0], radii[1] * s * build * loose[1]
            items.append((0.5 * (za + zb) + bias * s, len(items),
                          lambda: canvas.shaded_capsule(a, b, r1, r2, color, label_base + part)))

        skin, shirt, pants = look["skin"], look["shirt"], look["pants"]
        top, low = look["top_loose"], look["pants_loose"]
        sleeve_upper = (top, top) if look["sleeves"] != "none" else (1.0, 1.0)
        sleeve_lower = (top, top * 1.1) if look["sleeves"] == "long" else (1.0, 1.0)
        arm_upper = skin if look["sleeves"] == "none" else shirt
        arm_lower = shirt if look["sleeves"] == "long" else skin
        legwear = look["legwear"]
        thigh_col = {"bare": skin, "tights": look["tights"]}.get(legwear, pants)
        shin_col = {"long": pants, "tights": look["tights"]}.get(legwear, skin)
        thigh_loose = (low, low) if legwear in ("long", "shorts") else (1.0, 1.0)
        # Trousers hang straight from the knee, so the hem is nearly as wide as the knee.
        shin_loose = (low, low * 1.25) if legwear == "long" else (1.0, 1.0)
        for side in range(2):
            sh, el, wr, hp, kn, an = (5 + side, 7 + side, 9 + side, 11 + side, 13 + side, 15 + side)
            # Limbs a little in front of the torso at equal depth, so arms at the sides are drawn over it.
            limb(L_UPPER_ARM + side, J[sh], J[el], jz[sh], jz[el], _RADII["upper_arm"], arm_upper, -0.02,
                 sleeve_upper)
            limb(L_FOREARM + side, J[el], J[wr], jz[el], jz[wr], _RADII["forearm"], arm_lower, -0.02, sleeve_lower)
            limb(L_HAND + side, J[wr], hands[side], jz[wr], hz[side], _RADII["hand"], skin, -0.021)
            limb(L_THIGH + side, J[hp], J[kn], jz[hp], jz[kn], _RADII["thigh"], thigh_col, 0.005, thigh_loose)
            limb(L_SHIN + side, J[kn], J[an], jz[kn], jz[an], _RADII["shin"], shin_col, 0.0, shin_loose)
            limb(L_FOOT + side, J[an], toes[side], jz[an], tz[side], _RADII["foot"], look["shoes"], -0.001)
        limb(NECK, neck_base, head, z[22], z[21], _RADII["neck"], skin, 0.04)
        torso_z = 0.5 * (z[22] + z[23])
        items.append((torso_z, len(items), lambda: self._draw_torso(canvas, label_base + TORSO)))
        if look["hem"] != "none":
            # Over both thighs (whatever their depth) and under the arms.
            hem_z = min(0.5 * (jz[11] + jz[13]), 0.5 * (jz[12] + jz[14]), z[23]) - 0.004 * s
            items.append((hem_z, len(items), lambda: self._draw_hem(canvas, label_base + SKIRT)))
        items.append((z[21] - 0.01 * s, len(items), lambda: self._draw_head(canvas, label_base + HEAD)))
        if look["hair_style"] in ("long", "curly"):
            sk = self.skel
            top = sk["head"] - sk["head_fwd"] * self.body["head_rw"] * 0.5
            drop = 0.05 if look["hair_style"] == "long" else -0.02
            bottom = sk["neck_base"] - sk["chest_fwd"] * 0.045 - sk["spine_dir"] * drop
            (a, b), (za, zb) = _project(np.stack([top, bottom]), self.yaw, self.angle, s, self.offset)
            rr = self.body["head_rw"] * 0.95 * s * look["hair_volume"]
            items.append((0.5 * (za + zb), len(items),
                          lambda: canvas.shaded_capsule(a, b, rr, rr * 0.8, look["hair"], label_base + HEAD)))
        for _, _, draw in sorted(items, key=lambda t: (-t[0], t[1])):
            draw()
        self._apply_textures(canvas, label_base, rng)

    def _draw_torso(self, canvas: _Canvas, label: int) -> None:
        """Torso as a ribbon of elliptic cross-sections (its silhouette width depends on the facing), shirt above
        the waist and trousers below, with a neckline and button line on the front only (a facing cue)."""
        sk, look, body, s = self.skel, self.look, self.body, self.height
        b = look["build"]
        pelvis2, neck2 = self.p2d[23], self.p2d[22]
        axis = neck2 - pelvis2
        length = float(np.hypot(*axis))
        axis_u = axis / length if length > 1e-6 else np.array([0.0, -1.0])
        normal = np.array([-axis_u[1], axis_u[0]])
        # How much of the chest's width vs its depth we see: |cos| and |sin| of the yaw seen by the camera.
        chest_left_cam = self.camera_dir(sk["chest_left"])
        cos_y = math.hypot(chest_left_cam[0], chest_left_cam[1])
        sin_y = abs(chest_left_cam[2])
        # Levels along the spine (0 = hip joints, 1 = neck base) with half-width and half-depth.
        levels = np.array([-0.12, 0.0, 0.4, 0.75, 0.93, 1.04])
        # Clothes add their looseness to the body's width: the shirt above the waist, trousers below.
        top, low = look["top_loose"] ** 0.6, look["pants_loose"] ** 0.5
        half_w = np.array([body["hip_half"] * 1.08 * low, body["hip_half"] * 1.28 * low, 0.09 * b * top,
                           0.105 * b * look["shoulders"] * top, body["shoulder_half"] * 1.14 * top, 0.055])
        half_d = np.array([0.065, 0.075, 0.07, 0.08, 0.065, 0.038]) * b
        width = np.sqrt((half_w * cos_y) ** 2 + (half_d * sin_y) ** 2) * s
        width = np.maximum(width, 1.0)
        centers = pelvis2[None] + levels[:, None] * axis[None]
        # Shift the torso outline toward the front surface a little in profile (the chest sticks out).
        fwd2 = self.image_dir(sk["chest_fwd"])
        centers = centers + fwd2[None] * 0.01 * s

        def ribbon(idx, wscale, shift):
            c, w = centers[idx] + shift, width[idx] * wscale
            return np.concatenate([c + normal * w[:, None], (c - normal * w[:, None])[::-1]])

        lit = normal * (1.0 if float(normal @ canvas.light) >= 0 else -1.0)
        upper, lower = np.arange(1, 6), np.arange(0, 3)
        wmean = float(width.mean())
        for idx, color in ((upper, look["shirt"]), (lower, look["pants"])):
            canvas.fill(ribbon(idx, 1.0, 0.0), color * 0.6, label, convex=False)
            canvas.fill(ribbon(idx, 0.78, lit * 0.2 * wmean), color, None, convex=False)
            canvas.fill(ribbon(idx, 0.32, lit * 0.45 * wmean), color * 1.12 + 18, None, convex=False)
        # Front-only details: a neckline in skin colour and a button/zip line.
        facing = -self.camera_dir(sk["chest_fwd"])[2]
        if facing > 0.15 and s > 60:
            front = fwd2 * 0.06 * b * s  # towards the front surface
            top = centers[5] - axis * 0.06 + front * 0.5
            neck_w = 0.045 * b * s * max(cos_y, 0.4)
            v = np.stack([top + normal * neck_w, top - normal * neck_w, top - axis * 0.16 + front * 0.3])
            canvas.fill(v, self.look["skin"] * 0.95)
            line_a, line_b = top - axis * 0.16 + front * 0.3, centers[1] + axis * 0.1 + front * 0.6
            cv2.line(canvas.image, tuple(_fixed(line_a)), tuple(_fixed(line_b)),
                     tuple(float(c) for c in look["shirt"] * 0.55), max(1, int(0.006 * s)), cv2.LINE_AA, _SHIFT)

    def _draw_hem(self, canvas: _Canvas, label: int) -> None:
        """The loose garment below the waist (skirt, dress, jacket or coat tails): the convex hull of the hips and
        of each leg down to the hem, flaring out towards the hem, so it bridges the gap between the legs."""
        look, s, p = self.look, self.height, self.p2d
        b = look["build"]
        length = look["hem_length"]  # along the leg: 1 = the knee, 2 = the ankle
        waist = p[23] + (p[22] - p[23]) * 0.12
        circles = [(waist, self.body["hip_half"] * 1.15 * b * s)]
        for side in range(2):
            hip, knee, ankle = p[11 + side], p[13 + side], p[15 + side]
            hem = hip + (knee - hip) * min(length, 1.0)
            if length > 1.0:
                circles.append((knee, _RADII["thigh"][1] * b * s * look["hem_flare"] ** 0.5))
                hem = knee + (ankle - knee) * (length - 1.0)
            circles.append((hip, _RADII["thigh"][0] * b * s * 1.1))
            circles.append((hem, _RADII["thigh"][0] * b * s * look["hem_flare"] * (1.0 + 0.25 * length)))
        pts = np.concatenate([c + r * _HULL_CIRCLE for c, r in circles]).astype(np.float32)
        hull = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64)
        color = look["shirt"] if look["hem"] in ("jacket", "coat", "dress") else look["pants"]
        canvas.fill(hull, color * 0.62, label)
        # Shading: a lit inner panel, shifted towards the light.
        center = hull.mean(0)
        shift = canvas.light * 0.08 * float(np.ptp(hull[:, 0]) + np.ptp(hull[:, 1])) * 0.5
        canvas.fill(center + (hull - center) * 0.8 + shift, color)

    def _draw_head(self, canvas: _Canvas, label: int) -> None:
        """Head ellipse with hair at the back and, on the side facing the camera, eyes, nose, mouth and ears."""
        sk, look, s = self.skel, self.look, self.height
        rw, rh = self.body["head_rw"] * s, self.body["head_rh"] * s
        center = self.p2d[21]
        # Unit image vector towards the top of the head.
        up2 = self.image_dir(sk["head_up"])
        n = float(np.hypot(*up2))
        if n <= 0.3:  # head axis nearly along the line of sight: use the neck direction instead
            up2 = self.p2d[21] - self.p2d[22]
            n = max(float(np.hypot(*up2)), 1e-6)
        up_img = up2 / n
        fwd2 = self.image_dir(sk["head_fwd"])
        facing = -self.camera_dir(sk["head_fwd"])[2]  # > 0: the face is turned towards the camera
        skin, hair = look["skin"], look["hair"]
        axis_across = np.array([up_img[1], -up_img[0]])
        face = _ellipse(center, up_img, rh, rw)
        vol = look["hair_volume"]  # hair stands off the skull: more volume, a bigger and higher outline
        hair_center = center - fwd2 * 0.42 * rw + up_img * (0.16 + 0.3 * (vol - 1.0)) * rh
        hair_outline = _ellipse(hair_center, up_img, rh * 0.94 * vol, rw * 1.04 * vol)
        has_hair = look["hair_style"] != "bald"
        if facing >= 0:
            if has_hair:
                canvas.fill(hair_outline, hair * 0.8, label)
            canvas.fill(face, skin * 0.75, label)
            canvas.fill(_ellipse(center + _lit(canvas, axis_across) * 0.12 * rw, up_img, rh * 0.85, rw * 0.8), skin)
            if has_hair and facing > 0.2:  # fringe over the forehead
                fringe_c = center + up_img * 0.64 * rh + fwd2 * 0.12 * rw
                canvas.fill(_ellipse(fringe_c, up_img, rh * 0.36, rw * 0.98), hair)
        else:
            canvas.fill(face, skin * 0.75, label)
            canvas.fill(_ellipse(center + _lit(canvas, axis_across) * 0.12 * rw, up_img, rh * 0.85, rw * 0.8), skin)
            if has_hair:
                canvas.fill(hair_outline, hair * 0.8, label)
                canvas.fill(_ellipse(hair_center + _lit(canvas, axis_across) * 0.15 * rw, up_img, rh * 0.75,
                                     rw * 0.8), hair)
        vis = self.face_visibility()
        kp = self.p2d
        for side in range(2):  # ears
            if vis[3 + side]:
                canvas.fill(_ellipse(kp[3 + side], up_img, rh * 0.3, rw * 0.2), skin * 0.8)
        if vis[0]:  # the nose ridge; it sticks out of the head outline in profile, so it is labelled too
            eye_mid = 0.5 * (kp[1] + kp[2])
            canvas.fill(_capsule(eye_mid - up_img * 0.1 * rh, kp[0], 0.05 * rw, max(0.12 * rw, 0.8)),
                        skin * 0.72, label)
        dot_r = max(0.7, 0.11 * rw)
        for side in range(2):
            if vis[1 + side]:
                canvas.fill(_ellipse(kp[1 + side], up_img, dot_r * 1.1, dot_r), (25, 25, 30))
        if facing > 0.05 and rw > 2.5:
            mouth = center + fwd2 * 0.85 * rw - up_img * 0.55 * rh
            half = axis_across * 0.28 * rw * max(facing, 0.3)
            canvas.fill(_capsule(mouth - half, mouth + half, 0.06 * rw, 0.06 * rw), (60, 60, 150))

    def face_visibility(self) -> np.ndarray:
        """(5,) bool: nose, eyes, ears whose surface faces the camera (before any occlusion by other things)."""
        sk = self.skel
        toward = lambda v: -self.camera_dir(_unit(v))[2]  # noqa: E731  cosine with the direction to the camera
        vis = np.zeros(5, bool)
        vis[0] = toward(sk["head_fwd"]) > -0.2
        for side, sign in ((0, 1.0), (1, -1.0)):
            vis[1 + side] = toward(sk["head_fwd"] + 0.45 * sign * sk["head_left"]) > 0.05
            vis[3 + side] = toward(sign * sk["head_left"] - 0.1 * sk["head_fwd"]) > -0.3
        return vis

    def _apply_textures(self, canvas: _Canvas, label_base: int, rng: np.random.Generator) -> None:
        """Clothing patterns (stripes, checks, speckle) on the pixels this person's clothes still own."""
        lo, hi = self.extent()
        h, w = canvas.label.shape
        x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        x1, y1 = min(int(hi[0]) + 2, w), min(int(hi[1]) + 2, h)
        if x1 <= x0 or y1 <= y0:
            return
        lab = canvas.label[y0:y1, x0:x1] - label_base
        img = canvas.image[y0:y1, x0:x1]
        look = self.look
        shirt_parts = [TORSO] + ([L_UPPER_ARM, R_UPPER_ARM] if look["sleeves"] != "none" else []) + (
            [L_FOREARM, R_FOREARM] if look["sleeves"] == "long" else []) + (
            [SKIRT] if look["hem"] in ("jacket", "coat", "dress") else [])
        pants_parts = ([L_THIGH, R_THIGH] if look["legwear"] in ("long", "shorts") else []) + (
            [L_SHIN, R_SHIN] if look["legwear"] == "long" else []) + ([SKIRT] if look["hem"] == "skirt" else [])
        own = (lab >= 0) & (lab < NUM_PARTS)
        part = np.where(own, lab, 0)
        for parts, pattern in ((shirt_parts, look["shirt_pattern"]), (pants_parts, look["pants_pattern"])):
            if pattern is None or not parts:
                continue
            is_part = np.zeros(NUM_PARTS, bool)
            is_part[parts] = True
            mask = own & is_part[part]
            if not mask.any():
                continue
            period = max(pattern["period"] * self.height, 2.5)
            a = math.radians(pattern["angle"] + self.angle)
            xs = np.arange(x0, x1, dtype=np.float32)[None, :]
            ys = np.arange(y0, y1, dtype=np.float32)[:, None]
            u = np.floor((xs * math.cos(a) + ys * math.sin(a)) / period)
            if pattern["kind"] == "stripes":
                on = mask & (u % 2 == 1)
            elif pattern["kind"] == "checks":
                v = np.floor((-xs * math.sin(a) + ys * math.cos(a)) / period)
                on = mask & ((u + v) % 2 == 1)
            else:
                on = mask & (rng.random(mask.shape, dtype=np.float32) < 0.3)
            # Scale the colour of the pattern's pixels (a diagonal colour transform, saturating at 255).
            np.copyto(img, cv2.transform(img, np.diag(pattern["factor"]).astype(np.float32)), where=on[..., None])


def _lit(canvas: _Canvas, v: np.ndarray) -> np.ndarray:
    """v or -v, whichever points towards the light."""
    return v if float(v @ canvas.light) >= 0 else -v


# ----------------------------------------------------------------------------------------------------------------
# Background, occluders and image degradation
# ----------------------------------------------------------------------------------------------------------------
def _scene_color(rng: np.random.Generator) -> np.ndarray:
    """A muted scene colour (3,) BGR float (walls, floors, furniture are rarely saturated)."""
    hsv = np.array([[[rng.integers(0, 180), rng.integers(0, 150), rng.integers(35, 235)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _render_background(rng: np.random.Generator, h: int, w: int, clutter: float) -> np.ndarray:
    """A cluttered scene (H, W, 3) uint8: wall/floor or sky/ground gradients, low-frequency colour noise, textured
    regions (bricks, tiles, planks), furniture-like shapes, cables and limb-like distractors."""
    top, bottom = _scene_color(rng), _scene_color(rng)
    horizon = _u(rng, 0.2, 0.85) * h
    rows = np.arange(h, dtype=np.float32)[:, None]
    t_up = np.clip(rows / max(horizon, 1), 0, 1)
    t_dn = np.clip((rows - horizon) / max(h - horizon, 1), 0, 1)
    column = np.where(rows < horizon, top[None] * (1.15 - 0.3 * t_up), bottom[None] * (0.8 + 0.35 * t_dn))
    # Low-frequency shading: mostly brightness, a little colour. (OpenCV ops throughout: numpy broadcasting over a
    # last axis of 3 channels is several times slower, and generation time is part of the quickstart.)
    grid = (int(rng.integers(3, 9)), int(rng.integers(3, 9)))
    small = (rng.normal(0, 18, grid + (1,)) + rng.normal(0, 6, grid + (3,))).astype(np.float32)
    # Cubic to a quarter of the size, then linear: the same smooth shading at a tenth of the cost.
    img = cv2.resize(cv2.resize(small, (max(w // 4, 2), max(h // 4, 2)), interpolation=cv2.INTER_CUBIC), (w, h),
                     interpolation=cv2.INTER_LINEAR)
    img = cv2.add(img, cv2.resize(column[:, None, :].astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST))
    img = np.clip(img, 0, 255).astype(np.uint8)
    canvas = _Canvas(img, np.array([0.0, -1.0]))
    # Textured regions: bricks, tiles or planks on walls and floors.
    for _ in range(int(rng.poisson(1.2 * clutter))):
        x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        region = img[max(y0, 0):max(min(y0 + int(rng.integers(w // 6, w)), h), 0),
                     max(x0, 0):max(min(x0 + int(rng.integers(h // 6, h)), w), 0)]
        if region.size == 0:
            continue
        color = _scene_color(rng)
        region[:] = cv2.transform(region, np.hstack([np.eye(3, dtype=np.float32) * 0.35, color[:, None] * 0.65]))
        step = int(rng.integers(6, 30))
        line_col = tuple(float(c) for c in color * _u(rng, 0.45, 0.8))
        kind = rng.integers(3)
        rh2, rw2 = region.shape[:2]
        for k, y in enumerate(range(0, rh2, step)):
            cv2.line(region, (0, y), (rw2, y), line_col, 1)
            if kind == 0:  # bricks: staggered verticals
                for x in range((k % 2) * step, rw2, 2 * step):
                    cv2.line(region, (x, y), (x, y + step), line_col, 1)
        if kind == 1:  # tiles
            for x in range(0, rw2, step):
                cv2.line(region, (x, 0), (x, rh2), line_col, 1)
    # Furniture-like shapes: framed rectangles (windows, doors, pictures), round things, quadrilaterals.
    for _ in range(int(rng.poisson(5 * clutter))):
        color = _scene_color(rng) if rng.random() < 0.8 else _random_cloth(rng)
        c = rng.uniform([0, 0], [w, h])
        size = float(math.exp(_u(rng, math.log(0.03), math.log(0.3)))) * min(h, w)
        kind = rng.integers(4)
        if kind <= 1:
            ang = float(rng.normal(0, 0.08))
            d = np.array([math.cos(ang), math.sin(ang)])
            n = np.array([-d[1], d[0]])
            a_, b_ = size, size * _u(rng, 0.4, 2.0)
            quad = lambda k: np.stack([c + d * a_ * k + n * b_ * k, c + d * a_ * k - n * b_ * k,  # noqa: E731
                                       c - d * a_ * k - n * b_ * k, c - d * a_ * k + n * b_ * k])
            canvas.fill(quad(1.0), color * 0.7)
            canvas.fill(quad(_u(rng, 0.75, 0.95)), color)
        elif kind == 2:
            canvas.fill(_ellipse(c, np.array([1.0, 0.0]), size, size * _u(rng, 0.5, 1.0)), color)
        else:
            pts = c + rng.uniform(-size, size, (4, 2))
            canvas.fill(cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64), color)
    for _ in range(int(rng.poisson(2 * clutter))):  # cables, edges, shelves
        p, q = rng.uniform([0, 0], [w, h]), rng.uniform([0, 0], [w, h])
        cv2.line(img, tuple(_fixed(p)), tuple(_fixed(q)), tuple(float(v) for v in _scene_color(rng)),
                 int(rng.integers(1, 4)), cv2.LINE_AA, _SHIFT)
    # Limb-like distractors: shaded tapered capsules of limb size, some jointed, often skin or clothing coloured.
    for _ in range(int(rng.poisson(3 * clutter))):
        color = _SKIN_BGR[rng.integers(len(_SKIN_BGR))] if rng.random() < 0.4 else _random_cloth(rng)
        p = rng.uniform([0, 0], [w, h])
        r = _u(rng, 1.5, max(2.0, 0.025 * min(h, w)))
        ang = _u(rng, 0, 2 * math.pi)
        for _seg in range(int(rng.integers(1, 4))):
            q = p + r * _u(rng, 3, 7) * np.array([math.cos(ang), math.sin(ang)])
            canvas.shaded_capsule(p, q, r, r * _u(rng, 0.6, 1.0), color)
            p, r, ang = q, r * 0.85, ang + _u(rng, -1.8, 1.8)
        if rng.random() < 0.25:  # a head-like blob at the end
            canvas.fill(_ellipse(p, np.array([0.0, 1.0]), r * 2.4, r * 2.0), color)
    return canvas.image


def _draw_occluder(canvas: _Canvas, rng: np.random.Generator, center: np.ndarray, size: float) -> None:
    """An object (box, post, bush, table, sign) centred near `center`, about `size` px big, labelled as occluder."""
    color = _random_cloth(rng)
    kind = rng.integers(5)
    d = np.array([1.0, 0.0])
    n = np.array([0.0, 1.0])
    if kind == 0:  # box with a lit top face
        a, b = size * _u(rng, 0.25, 0.6), size * _u(rng, 0.2, 0.5)
        quad = np.stack([center - d * a - n * b, center + d * a - n * b, center + d * a + n * b, center - d * a + n * b])
        canvas.fill(quad, color, LABEL_OCCLUDER)
        top = np.stack([quad[0], quad[1], quad[1] + np.array([0.3 * a, -0.3 * b]), quad[0] + np.array([0.3 * a,
                                                                                                    -0.3 * b])])
        canvas.fill(top, color * 1.2 + 15, LABEL_OCCLUDER)
    elif kind == 1:  # post / pole: limb-like on purpose
        r = size * _u(rng, 0.04, 0.12)
        length = size * _u(rng, 0.8, 2.0)
        ang = math.radians(90 + rng.normal(0, 12))
        v = np.array([math.cos(ang), math.sin(ang)]) * length / 2
        canvas.shaded_capsule(center - v, center + v, r, r, color, LABEL_OCCLUDER)
    elif kind == 2:  # bush: cluster of shaded blobs
        green = np.array([_u(rng, 20, 80), _u(rng, 80, 170), _u(rng, 20, 90)], np.float32)
        for _ in range(int(rng.integers(5, 12))):
            c = center + rng.normal(0, size * 0.18, 2)
            r = size * _u(rng, 0.1, 0.25)
            canvas.fill(_ellipse(c, d, r, r * _u(rng, 0.7, 1.0)), green * _u(rng, 0.6, 1.2), LABEL_OCCLUDER)
    elif kind == 3:  # table / bench: top and two legs
        a, t = size * _u(rng, 0.35, 0.7), size * _u(rng, 0.04, 0.08)
        leg_h = size * _u(rng, 0.3, 0.6)
        canvas.fill(np.stack([center - d * a - n * t, center + d * a - n * t, center + d * a + n * t,
                              center - d * a + n * t]), color, LABEL_OCCLUDER)
        for sgn in (-0.85, 0.85):
            base = center + d * a * sgn
            canvas.shaded_capsule(base, base + n * leg_h, t * 0.6, t * 0.6, color * 0.8, LABEL_OCCLUDER)
    else:  # sign board on a pole
        a, b = size * _u(rng, 0.2, 0.45), size * _u(rng, 0.15, 0.3)
        canvas.shaded_capsule(center, center + n * size * 0.8, size * 0.03, size * 0.03, (90, 90, 90),
                              LABEL_OCCLUDER)
        canvas.fill(np.stack([center - d * a - n * b, center + d * a - n * b, center + d * a + n * b,
                              center - d * a + n * b]), color, LABEL_OCCLUDER)
        canvas.fill(np.stack([center - d * a * 0.8 - n * b * 0.2, center + d * a * 0.8 - n * b * 0.2,
                              center + d * a * 0.8 + n * b * 0.2, center - d * a * 0.8 + n * b * 0.2]),
                    255 - color, LABEL_OCCLUDER)


def _degrade(rng: np.random.Generator, image: np.ndarray, cfg: SynthConfig) -> np.ndarray:
    """Lighting change, blur and sensor noise (JPEG artefacts come from the encoding itself)."""
    gain = rng.uniform(0.85, 1.15, 3).astype(np.float32) * _u(rng, 0.7, 1.2)
    # Per-channel gain and an offset in one OpenCV pass (a 3x4 affine colour transform).
    img = cv2.transform(image.astype(np.float32), np.hstack([np.diag(gain), np.full((3, 1), _u(rng, -20, 20),
                                                                                    np.float32)]))
    if rng.random() < cfg.blur_prob:
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), _u(rng, 0.6, 2.0))
        else:  # motion blur along a random direction
            k = int(rng.integers(3, 10))
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), _u(rng, 0, 180), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (k, k))
            img = cv2.filter2D(img, -1, kernel / max(float(kernel.sum()), 1e-6))
    if cfg.noise > 0:
        # OpenCV's normal generator, seeded from this image's rng (so the bytes stay reproducible), is about 3x
        # faster than numpy's for a whole image.
        sigma = _u(rng, 0, cfg.noise)
        cv2.setRNGSeed(int(rng.integers(2 ** 31)))
        noise = np.empty_like(img)
        cv2.randn(noise, (0.0, 0.0, 0.0), (sigma, sigma, sigma))
        img += noise
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------------------------
def _label_keypoints(person: _Person, label: np.ndarray, label_base: int) -> np.ndarray:
    """(17, 3) COCO keypoints [x, y, v] of a rendered person, by COCO's rule "a keypoint is considered visible if it
    falls inside the object segment" (cocodataset.org/#format-data):
        v=2  the joint's pixel belongs to this person (any part: a hip behind the person's own arm is visible);
        v=1  inside the image but covered by an object or another person;
        v=0  outside the image (x = y = 0), and face points on the side of the head turned away from the camera
             (annotators cannot see them and leave them unlabelled, as in the OCHuman and COCO files)."""
    h, w = label.shape
    xy = np.round(person.p2d[:NUM_KEYPOINTS], 2)
    out = np.zeros((NUM_KEYPOINTS, 3))
    face_vis = person.face_visibility()
    for j in range(NUM_KEYPOINTS):
        x, y = float(xy[j, 0]), float(xy[j, 1])
        if not (0.0 <= x <= w - 1 and 0.0 <= y <= h - 1):
            continue  # v = 0, x = y = 0
        if j < 5 and not face_vis[j]:
            continue  # turned away: not labelled
        owner = int(label[int(round(y)), int(round(x))]) - label_base
        out[j] = (x, y, 2 if 0 <= owner < NUM_PARTS else 1)
    return out


def _mask_box(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.nonzero(rows)[0][[0, -1]]
    x0, x1 = np.nonzero(cols)[0][[0, -1]]
    return int(x0), int(y0), int(x1) + 1, int(y1) + 1


# ----------------------------------------------------------------------------------------------------------------
# One image
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One rendered image and its labels.

    image: (H, W, 3) uint8 BGR before JPEG encoding. annotations: COCO annotation dicts without "id"/"image_id"
    (keypoints as a flat [x, y, v] * 17 list in image px; keys starting with "_" are internal and not written:
    "_label_base" is the person's first label value in label_map). detections: [{"bbox", "score"}] person
    detections. jpeg_quality: the quality to encode with. label_map: (H, W) int32 owner of every pixel (0 background,
    1 object, LABEL_PERSON0 + person * NUM_PARTS + part)."""

    image: np.ndarray
    annotations: List[Dict]
    detections: List[Dict]
    jpeg_quality: int
    label_map: np.ndarray


def image_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The per-image seed: the same (seed, split, index) always renders the same image."""
    return np.random.SeedSequence([int(seed), list(SPLITS).index(split), int(index)])


def render_sample(seed: int, split: str, index: int, cfg: SynthConfig = SynthConfig()) -> Sample:
    """Render image `index` of `split` ("train" or "val") for `seed` with the difficulty `cfg`."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r}, expected one of {sorted(SPLITS)}")
    cfg.validate()
    rng = np.random.default_rng(image_seed(seed, split, index))
    w, h = (int(rng.integers(cfg.min_size, cfg.max_size + 1)) for _ in range(2))
    image = _render_background(rng, h, w, cfg.clutter)
    ang = _u(rng, 0, 2 * math.pi)
    canvas = _Canvas(image, np.array([math.cos(ang), math.sin(ang)]))

    # Persons: fewer persons are more likely; heights log-uniform from min_height to max_height * H.
    counts = np.arange(cfg.min_persons, cfg.max_persons + 1)
    probs = _PERSON_COUNT_DECAY ** (counts - cfg.min_persons)
    n_persons = int(rng.choice(counts, p=probs / probs.sum()))
    persons: List[_Person] = []
    for k in range(n_persons):
        hi = max(cfg.max_height * h, cfg.min_height)
        # The first person is often a main subject (as in photos); the rest spread over the whole range.
        lo = max(cfg.min_height, 0.3 * hi) if k == 0 and rng.random() < 0.5 else cfg.min_height
        height = float(math.exp(_u(rng, math.log(lo), math.log(hi))))
        person = _Person(rng, height, cfg)
        if person.pose["lying"]:  # a lying person's length runs along the image width
            person.height = min(person.height, cfg.max_height * w)
            person._layout()
        lo, hi_ = person.extent()
        size = hi_ - lo
        if persons and rng.random() < cfg.overlap_prob:
            ref = persons[int(rng.integers(len(persons)))]
            rlo, rhi = ref.extent()
            center = 0.5 * (rlo + rhi) + rng.uniform(-0.6, 0.6, 2) * (rhi - rlo) * np.array([1.0, 0.4])
        elif rng.random() < cfg.truncation_prob:
            center = rng.uniform([0, 0], [w, h])
            # Photos cut people mostly at the bottom (upper-body and seated shots), less at the sides and top.
            side = int(rng.choice(4, p=_TRUNCATION_SIDES))  # bottom, left, right, top
            axis = 1 if side in (0, 3) else 0
            edge = float((h, 0, w, 0)[side])
            out = _u(rng, 0.15, 0.65) * size[axis]  # how far the box sticks out
            center[axis] = edge + (out - 0.5 * size[axis]) * (1 if edge > 0 else -1)
        else:  # inside the image where it fits (border truncation is the knob's job)
            half = np.minimum(0.5 * size, 0.5 * np.array([w, h]))
            center = rng.uniform(half, np.array([w, h]) - half)
        person.place(center)
        person.depth = 1000.0 / person.height * _u(rng, 0.8, 1.25)  # bigger figures are nearer, mostly
        persons.append(person)
    if rng.random() < cfg.tiny_prob:
        for _ in range(int(rng.integers(1, 3))):
            person = _Person(rng, _u(rng, 12, TINY_HEIGHT - 0.5), cfg)
            person.place(rng.uniform([0, 0], [w, h]))
            person.depth = 1000.0 / person.height
            persons.append(person)

    # Draw list: persons and occluders, back to front.
    draws = [(p.depth, 0, i) for i, p in enumerate(persons)]
    occluders = []
    for p in persons:
        if p.height >= TINY_HEIGHT and rng.random() < cfg.occluder_prob:
            lo, hi_ = p.extent()
            c = lo + (hi_ - lo) * rng.uniform([0.1, 0.35], [0.9, 1.0])
            occluders.append((c, p.height * _u(rng, 0.25, 0.6), int(rng.integers(2 ** 31))))
            draws.append((p.depth * 0.97, 1, len(occluders) - 1))
    for _ in range(int(rng.poisson(0.5 * cfg.clutter))):  # free-standing objects at random depths
        occluders.append((rng.uniform([0, 0], [w, h]), _u(rng, 0.1, 0.5) * h, int(rng.integers(2 ** 31))))
        draws.append((_u(rng, 1.0, 30.0), 1, len(occluders) - 1))
    seat_rng = int(rng.integers(2 ** 31))
    full_area = np.zeros(len(persons))
    for _, kind, i in sorted(draws, key=lambda t: (-t[0], t[1], t[2])):
        if kind == 0:
            p = persons[i]
            if p.pose["name"] == "sit":
                _draw_seat(canvas, p, np.random.default_rng([seat_rng, i]))
            base = LABEL_PERSON0 + i * NUM_PARTS
            p.draw(canvas, base, rng)
            full_area[i] = _person_pixels(canvas.label, p, base).sum()
        else:
            c, size, sub_seed = occluders[i]
            _draw_occluder(canvas, np.random.default_rng(sub_seed), c, size)

    annotations = []
    for i, p in enumerate(persons):
        base = LABEL_PERSON0 + i * NUM_PARTS
        ann = _annotate(p, canvas.label, base, full_area[i])
        if ann is not None:
            annotations.append(ann)
    detections = _detections(rng, annotations, w, h)
    final = _degrade(rng, canvas.image, cfg)
    quality = int(rng.integers(cfg.jpeg_min, cfg.jpeg_max + 1))
    return Sample(final, annotations, detections, quality, canvas.label)


def render_figure(seed: int, yaw: float, height: float = 200.0, size: Tuple[int, int] = (240, 320),
                  pose: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """One upright figure, head and shoulders facing where the hips do, centred on a plain grey image: for checks of
    the anatomy and of the facing convention.

    Args:
        seed: seeds the look and the joint angles.
        yaw: facing in degrees (0 = facing the camera, so the person's left is on the image's right; 180 = back view;
            90 = facing image right).
        height: standing height, px. size: image (w, h), px. pose: a pose class (e.g. "stand"); None = random.

    Returns:
        image (h, w, 3) uint8 BGR and keypoints (17, 3) [x, y, v] in image px.
    """
    if pose is not None and pose not in _POSE_CLASSES:
        raise ValueError(f"pose={pose!r}, expected one of {_POSE_CLASSES}")
    rng = np.random.default_rng(seed)
    w, h = size
    person = _Person(rng, height, SynthConfig(rotation=0.0))
    while pose is not None and person.pose["name"] != pose:
        person.pose = sample_pose(rng)
    person.pose.update(head_yaw=0.0, head_pitch=0.0, twist=0.0)  # the head faces where the body does
    person.skel = skeleton_3d(person.pose, person.body)
    person.yaw, person.angle = float(yaw), 0.0
    person._layout()
    person.place(np.array([w / 2.0, h / 2.0]))
    canvas = _Canvas(np.full((h, w, 3), 170, np.uint8), np.array([0.6, -0.8]))
    person.draw(canvas, LABEL_PERSON0, rng)
    return canvas.image, _label_keypoints(person, canvas.label, LABEL_PERSON0)


def _draw_seat(canvas: _Canvas, person: _Person, rng: np.random.Generator) -> None:
    """A chair/stool block under a sitting person's hips, drawn behind them."""
    hips = 0.5 * (person.p2d[11] + person.p2d[12])
    knees = 0.5 * (person.p2d[13] + person.p2d[14])
    down = person.image_dir(np.array([0.0, -1.0, 0.0]))
    down = down / max(float(np.hypot(*down)), 1e-6)
    across = np.array([-down[1], down[0]])
    reach = max(float(np.hypot(*(knees - hips))), 0.1 * person.height)
    seat_h = 0.25 * person.height
    top = hips + down * 0.04 * person.height
    quad = np.stack([top - across * reach, top + across * reach, top + across * reach + down * seat_h,
                     top - across * reach + down * seat_h])
    color = _random_cloth(rng)
    canvas.fill(quad, color, LABEL_OCCLUDER)


def _person_pixels(label: np.ndarray, person: _Person, base: int) -> np.ndarray:
    """Bool mask (H, W) of the pixels the person owns now."""
    return (label >= base) & (label < base + NUM_PARTS)


def _annotate(person: _Person, label: np.ndarray, base: int, full_area: float) -> Optional[Dict]:
    """COCO fields for one rendered person; None when nothing of it is visible."""
    h, w = label.shape
    lo, hi = person.extent()
    x0, y0 = max(int(math.floor(lo[0])) - 2, 0), max(int(math.floor(lo[1])) - 2, 0)
    x1, y1 = min(int(math.ceil(hi[0])) + 3, w), min(int(math.ceil(hi[1])) + 3, h)
    if x1 <= x0 or y1 <= y0:
        return None
    mask = (label[y0:y1, x0:x1] >= base) & (label[y0:y1, x0:x1] < base + NUM_PARTS)
    area = int(mask.sum())
    if area < 8:  # hidden or cut away: COCO annotates only persons one can see
        return None
    if person.height >= TINY_HEIGHT and area >= SMALL_AREA:
        kps = _label_keypoints(person, label, base)
    else:
        kps = np.zeros((NUM_KEYPOINTS, 3))
    mx0, my0, mx1, my1 = _mask_box(mask)
    bx0, by0, bx1, by1 = mx0 + x0, my0 + y0, mx1 + x0, my1 + y0
    labelled = kps[:, 2] > 0
    if labelled.any():  # grow the box to hold every labelled joint (occluded joints can lie outside the mask)
        bx0 = min(bx0, float(np.floor(kps[labelled, 0].min())))
        by0 = min(by0, float(np.floor(kps[labelled, 1].min())))
        bx1 = max(bx1, float(np.ceil(kps[labelled, 0].max())))
        by1 = max(by1, float(np.ceil(kps[labelled, 1].max())))
    bx0, by0, bx1, by1 = max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h)
    full = np.zeros((h, w), np.uint8, order="F")
    full[y0:y1, x0:x1] = mask
    rle = mask_utils.encode(full)
    return {
        "category_id": 1, "iscrowd": 0,
        "bbox": [float(bx0), float(by0), float(bx1 - bx0), float(by1 - by0)],
        "area": float(area),
        "segmentation": {"size": [h, w], "counts": rle["counts"].decode("ascii")},
        "keypoints": [float(v) if i % 3 != 2 else int(v) for i, v in enumerate(kps.reshape(-1))],
        "num_keypoints": int(labelled.sum()),
        # Not COCO fields; used for the detection scores and dropped before writing.
        "_visible_fraction": area / max(full_area, 1.0), "_label_base": base,
    }


def _detections(rng: np.random.Generator, annotations: List[Dict], w: int, h: int) -> List[Dict]:
    """Simulated person detector: GT boxes jittered in position and size, scored higher for bigger and less occluded
    persons, with misses, duplicates and false positives, as a real detector's results file."""
    dets = []
    for ann in annotations:
        x, y, bw, bh = ann["bbox"]
        vis = float(np.clip(ann["_visible_fraction"], 0, 1))
        size = min(1.0, math.sqrt(ann["area"]) / 96.0)
        if rng.random() < 0.03 + 0.25 * (1 - vis) + (0.3 if ann["area"] < 32 * 32 else 0.0):
            continue  # missed
        score = float(np.clip(0.25 + 0.7 * math.sqrt(size) * (0.4 + 0.6 * vis) + rng.normal(0, 0.07), 0.02, 0.999))
        for dup in range(2 if rng.random() < 0.08 else 1):
            cx = x + bw / 2 + rng.normal(0, 0.06) * bw
            cy = y + bh / 2 + rng.normal(0, 0.06) * bh
            nw, nh = bw * math.exp(rng.normal(0, 0.1)), bh * math.exp(rng.normal(0, 0.1))
            dets.append(_det_box(cx, cy, nw, nh, w, h, score * (0.5 if dup else 1.0)))
    for _ in range(int(rng.poisson(0.6))):  # false positives: person-shaped boxes on clutter
        bh = _u(rng, 0.1, 0.6) * h
        bw = bh * _u(rng, 0.3, 0.8)
        dets.append(_det_box(_u(rng, 0, w), _u(rng, 0, h), bw, bh, w, h, _u(rng, 0.02, 0.5)))
    return [d for d in dets if d["bbox"][2] >= 1 and d["bbox"][3] >= 1]


def _det_box(cx: float, cy: float, bw: float, bh: float, w: int, h: int, score: float) -> Dict:
    x0, y0 = max(cx - bw / 2, 0.0), max(cy - bh / 2, 0.0)
    x1, y1 = min(cx + bw / 2, float(w)), min(cy + bh / 2, float(h))
    return {"bbox": [round(x0, 2), round(y0, 2), round(max(x1 - x0, 0.0), 2), round(max(y1 - y0, 0.0), 2)],
            "score": round(float(score), 4)}


# ----------------------------------------------------------------------------------------------------------------
# Writing the dataset
# ----------------------------------------------------------------------------------------------------------------
def image_id(split: str, index: int) -> int:
    """COCO image id of image `index` of `split` (unique across both splits)."""
    return SPLITS[split][1] + index + 1


def _write_one(job: Tuple[str, int, int, str, Dict]) -> Tuple[Dict, List[Dict], List[Dict]]:
    """Render and write one JPEG; return its COCO image entry, annotations and detections."""
    split, index, seed, image_dir, cfg_dict = job
    sample = render_sample(seed, split, index, SynthConfig(**cfg_dict))
    img_id = image_id(split, index)
    file_name = f"{img_id:012d}.jpg"
    ok, buf = cv2.imencode(".jpg", sample.image, [cv2.IMWRITE_JPEG_QUALITY, sample.jpeg_quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {file_name}")
    with open(os.path.join(image_dir, file_name), "wb") as f:
        f.write(buf.tobytes())
    h, w = sample.image.shape[:2]
    anns = []
    for k, ann in enumerate(sample.annotations):
        ann = {key: v for key, v in ann.items() if not key.startswith("_")}
        ann.update(id=img_id * ANN_ID_STRIDE + k, image_id=img_id)
        anns.append(ann)
    dets = [{"image_id": img_id, "category_id": 1, **d} for d in sample.detections]
    return {"id": img_id, "file_name": file_name, "width": w, "height": h}, anns, dets


def _write_json(path: str, obj) -> None:
    """Write atomically: a temporary file next to it, then os.replace."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would only contend


def generate(out_dir: str, n_train: int, n_val: int, seed: int = 0, workers: int = 1,
             config: Optional[SynthConfig] = None, **knobs) -> Dict:
    """Write a synthetic COCO person-keypoint dataset.

    Layout (exactly COCO's, so a COCO loader reads it unchanged):
        out_dir/images/train2017/<12-digit image id>.jpg, out_dir/images/val2017/...,
        out_dir/person_detection_results/synthetic_val2017_detections.json,
        out_dir/annotations/person_keypoints_train2017.json, .../person_keypoints_val2017.json.
    The annotation jsons are written last (atomically), so a run that was interrupted has no annotation json.

    Args:
        out_dir: output root (created if needed).
        n_train, n_val: images per split (0 allowed), at most 9,999,999 each.
        seed: non-negative integer; the same seed and knobs give the same bytes with any number of workers.
        workers: processes used to render (1 = in this process).
        config: a SynthConfig; or pass its fields as keyword knobs (not both).

    Returns:
        summary dict: per split the number of images, annotations and labelled keypoints, the detection count, and
        the seconds taken.
    """
    if config is not None and knobs:
        raise ValueError("pass either config or keyword knobs, not both")
    if config is None:
        valid = {f.name for f in fields(SynthConfig)}
        unknown = sorted(set(knobs) - valid)
        if unknown:
            raise ValueError(f"unknown difficulty knob(s) {unknown}; valid: {sorted(valid)}")
        config = SynthConfig(**knobs)
    config.validate()
    for name, n in (("n_train", n_train), ("n_val", n_val)):
        if not isinstance(n, (int, np.integer)) or not 0 <= n <= MAX_IMAGES_PER_SPLIT:
            raise ValueError(f"{name}={n!r} must be an integer in [0, {MAX_IMAGES_PER_SPLIT}]")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers={workers!r} must be a positive integer")

    start = time.time()
    ann_dir = os.path.join(out_dir, "annotations")
    det_dir = os.path.join(out_dir, "person_detection_results")
    for d in (ann_dir, det_dir):
        os.makedirs(d, exist_ok=True)
    # Remove an earlier run's annotation files first: an interrupted run must never leave an old json beside new images.
    for set_name, _ in SPLITS.values():
        stale = os.path.join(ann_dir, f"person_keypoints_{set_name}.json")
        if os.path.exists(stale):
            os.remove(stale)
    cfg_dict = asdict(config)
    summary: Dict = {"seed": int(seed), "config": cfg_dict}
    results = {}
    # "spawn", not fork: forking a process whose OpenCV/BLAS threads hold locks can deadlock the children.
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init) if workers > 1 else None
    try:
        for split, n in (("train", n_train), ("val", n_val)):
            set_name = SPLITS[split][0]
            image_dir = os.path.join(out_dir, "images", set_name)
            os.makedirs(image_dir, exist_ok=True)
            jobs = [(split, i, int(seed), image_dir, cfg_dict) for i in range(n)]
            t0 = time.time()
            rows = pool.imap(_write_one, jobs, chunksize=8) if pool else map(_write_one, jobs)
            images, anns, dets = [], [], []
            for k, (img, a, d) in enumerate(rows):  # imap keeps the order, so the json is worker-independent
                images.append(img)
                anns.extend(a)
                dets.extend(d)
                if (k + 1) % 500 == 0:
                    logger.info("%s: %d/%d images (%.1f img/s)", split, k + 1, n, (k + 1) / (time.time() - t0))
            results[split] = (images, anns, dets)
            extra = len(os.listdir(image_dir)) - len(images)
            if extra > 0:
                logger.warning("%s holds %d files from an earlier run that %s does not list", image_dir, extra,
                               f"person_keypoints_{set_name}.json")
            summary[split] = {"images": len(images), "annotations": len(anns),
                              "keypoints": int(sum(a["num_keypoints"] for a in anns)),
                              "seconds": round(time.time() - t0, 2)}
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    det_path = os.path.join(det_dir, DETECTIONS_FILE)
    _write_json(det_path, results["val"][2])
    summary["val"]["detections"] = len(results["val"][2])
    for split in ("train", "val"):
        images, anns, _ = results[split]
        set_name = SPLITS[split][0]
        coco = {
            "info": {"description": "AdversarialOmniPose synthetic person keypoints (lib/dataset/synthetic.py)",
                     "version": "1.0", "year": 2024, "contributor": "synthetic", "seed": int(seed),
                     "config": cfg_dict},
            "licenses": [],
            "images": images,
            "annotations": anns,
            "categories": [CATEGORY],
        }
        _write_json(os.path.join(ann_dir, f"person_keypoints_{set_name}.json"), coco)
    summary["seconds"] = round(time.time() - start, 2)
    logger.info("wrote %s in %.1f s", out_dir, summary["seconds"])
    return summary


# ----------------------------------------------------------------------------------------------------------------
# Preview
# ----------------------------------------------------------------------------------------------------------------
_LEFT_COLOR, _RIGHT_COLOR, _MID_COLOR = (0, 140, 255), (255, 120, 0), (0, 200, 0)  # BGR: orange, blue, green


def draw_annotations(image: np.ndarray, annotations: Sequence[Dict], scale: float = 1.0,
                     radius: float = 2.5) -> np.ndarray:
    """Draw COCO skeletons on a copy of `image` (H, W, 3) BGR: left side orange, right side blue, the rest green;
    visible joints (v=2) filled dots, occluded joints (v=1) black rings. `scale` multiplies the coordinates (for a
    resized image); `radius` is the joint dot radius in px."""
    out = image.copy()
    r = int(round(radius * _SCALE))
    for ann in annotations:
        kps = np.asarray(ann["keypoints"], float).reshape(-1, 3)
        pts = kps[:, :2] * scale
        for a, b in SKELETON:
            a, b = a - 1, b - 1
            if kps[a, 2] > 0 and kps[b, 2] > 0:
                color = _side_color(a) if _side_color(a) == _side_color(b) else _MID_COLOR
                cv2.line(out, tuple(_fixed(pts[a])), tuple(_fixed(pts[b])), color, 1, cv2.LINE_AA, _SHIFT)
        for j in range(NUM_KEYPOINTS):
            if kps[j, 2] == 0:
                continue
            c = tuple(_fixed(pts[j]))
            if kps[j, 2] == 2:
                cv2.circle(out, c, r, _side_color(j), -1, cv2.LINE_AA, _SHIFT)
            else:
                cv2.circle(out, c, r, (0, 0, 0), 1, cv2.LINE_AA, _SHIFT)
    return out


def _side_color(j: int):
    if j == 0:
        return _MID_COLOR
    return _LEFT_COLOR if j % 2 == 1 else _RIGHT_COLOR


def make_preview(path: str, seed: int = 0, config: SynthConfig = SynthConfig(), rows: int = 3, pairs: int = 2,
                 tile: int = 320, split: str = "train") -> np.ndarray:
    """Write a PNG grid of images 0..rows*pairs-1 of `split` for `seed`: each as it is stored (JPEG round trip)
    next to the same image with its labels drawn (see draw_annotations). The grid is (rows*tile, 2*pairs*tile).

    Returns the grid (BGR uint8); the PNG is palette-quantised to stay small."""
    config.validate()
    grid = np.full((rows * tile, 2 * pairs * tile, 3), 255, np.uint8)
    for k in range(rows * pairs):
        sample = render_sample(seed, split, k, config)
        _, buf = cv2.imencode(".jpg", sample.image, [cv2.IMWRITE_JPEG_QUALITY, sample.jpeg_quality])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        scale = (tile - 4) / max(h, w)
        small = cv2.resize(img, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
        r, c = divmod(k, pairs)
        for j, view in enumerate((small, draw_annotations(small, sample.annotations, scale))):
            oy = r * tile + (tile - view.shape[0]) // 2
            ox = (2 * c + j) * tile + (tile - view.shape[1]) // 2
            grid[oy:oy + view.shape[0], ox:ox + view.shape[1]] = view
    from PIL import Image  # pillow comes with matplotlib; only the preview needs it

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # A 256-colour palette keeps the committed PNG small (noisy photos compress badly as true colour).
    rgb = Image.fromarray(np.ascontiguousarray(grid[:, :, ::-1]))
    tmp = f"{path}.tmp{os.getpid()}"
    rgb.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(tmp, format="PNG",
                                                                                     optimize=True)
    os.replace(tmp, path)
    return grid
