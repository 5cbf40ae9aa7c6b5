"""The COCO person skeleton and its poses: pose classes drawn from joint-angle ranges (sample_pose) and the posed 3-D
skeleton (skeleton_3d) in the joint order of lib.dataset.keypoint_info.COCO_KEYPOINTS, with the small vector helpers
they use."""
from __future__ import annotations

import math
from typing import Dict, Tuple

import numpy as np

from lib.dataset.keypoint_info import COCO_KEYPOINTS

NUM_KEYPOINTS = COCO_KEYPOINTS.num_joints


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
