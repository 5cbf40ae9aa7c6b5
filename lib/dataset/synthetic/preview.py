"""The labelled sample grid (tools/data/make_synthetic_coco.py --preview, docs/synthetic_samples.png) and the skeleton
drawing it uses."""
from __future__ import annotations

import os
from typing import Dict, Sequence

import cv2
import numpy as np

from lib.dataset.keypoint_info import COCO_KEYPOINTS
from lib.dataset.synthetic.canvas import _SCALE, _SHIFT, _fixed
from lib.dataset.synthetic.config import SynthConfig
from lib.dataset.synthetic.scene import render_sample

_SIDE_COLORS = {"l": (0, 140, 255), "r": (255, 120, 0), "c": (0, 200, 0)}  # BGR: orange, blue, green


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
        for a, b, side in COCO_KEYPOINTS.skeleton:
            if kps[a, 2] > 0 and kps[b, 2] > 0:
                cv2.line(out, tuple(_fixed(pts[a])), tuple(_fixed(pts[b])), _SIDE_COLORS[side], 1, cv2.LINE_AA, _SHIFT)
        for j, side in enumerate(COCO_KEYPOINTS.joint_sides):
            if kps[j, 2] == 0:
                continue
            c = tuple(_fixed(pts[j]))
            if kps[j, 2] == 2:
                cv2.circle(out, c, r, _SIDE_COLORS[side], -1, cv2.LINE_AA, _SHIFT)
            else:
                cv2.circle(out, c, r, (0, 0, 0), 1, cv2.LINE_AA, _SHIFT)
    return out


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
