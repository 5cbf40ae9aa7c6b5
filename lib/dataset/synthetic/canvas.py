"""Drawing primitives (all take float pixel coordinates) and the canvas: anti-aliased OpenCV polygons at
fixed-point subpixel precision, drawn into the image and, when given a label, into its label map."""
from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np

# Half-circle used for capsule end caps: angles from +90 to -90 degrees about the limb axis.
_CAP_T = np.linspace(math.pi / 2, -math.pi / 2, 7)
_CAP_COS1, _CAP_SIN1 = np.cos(_CAP_T), np.sin(_CAP_T)
_ELLIPSE_T = np.linspace(0, 2 * math.pi, 24, endpoint=False)

_SHIFT = 4  # fixed-point bits for OpenCV's subpixel drawing
_SCALE = float(1 << _SHIFT)


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
