"""One synthetic person: look, clothes and build, posed, projected and drawn back to front into a canvas.

How a figure is made: a 3-D skeleton (17 COCO joints, human proportions) is posed from joint-angle ranges (standing,
walking, running, arms raised, crouching, kneeling, sitting, lying), turned about its vertical axis to any facing
direction (front, profile, back), projected orthographically, rotated in the image plane and drawn back to front
(painter's algorithm) as tapered, shaded limbs with skin tones, clothes that stand off the body (sleeves, trousers,
shirts with their own looseness; jackets, coats, skirts and dresses that bridge the legs), textures, hair with volume,
a face on the front of the head and hair at the back.
Every pixel a figure draws is labelled with its body part (label base + part id), from which scene.py reads the COCO
visibilities.
Facing: 55% towards the camera (yaw ~ N(0, 35 deg)), 25% profile, 20% back view; the head turns up to 60 deg more.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from lib.dataset.synthetic.canvas import _SHIFT, _Canvas, _capsule, _ellipse, _fixed
from lib.dataset.synthetic.config import SynthConfig
from lib.dataset.synthetic.skeleton import NUM_KEYPOINTS, _u, _unit, sample_pose, skeleton_3d

# Body parts (label-map ids within a person). SKIRT is the loose garment below the waist: skirt, dress, jacket or
# coat tails.
(TORSO, NECK, HEAD, L_UPPER_ARM, R_UPPER_ARM, L_FOREARM, R_FOREARM, L_HAND, R_HAND,
 L_THIGH, R_THIGH, L_SHIN, R_SHIN, L_FOOT, R_FOOT, SKIRT) = range(16)
NUM_PARTS = 16

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
# Unit circle (16 points) around each centre whose convex hull is the garment below the waist (_draw_hem).
_HULL_CIRCLE = np.stack([np.cos(np.arange(16) * math.pi / 8), np.sin(np.arange(16) * math.pi / 8)], axis=1)


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
