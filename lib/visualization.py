"""Predicted poses drawn on images: each person's box, limbs and joints coloured by side (the skeleton and sides of
lib.dataset.keypoint_info), and several drawings side by side with labels (the demo's figure).

    from lib.visualization import draw_persons, compose_panels
    drawn = draw_persons(image_bgr, predictor.predict(image_bgr, boxes), predictor.keypoint_info)

A top layer: the data pipeline, codec, models and utils never import it.
"""
import cv2
import numpy as np

# BGR colours by side, the usual COCO-demo scheme: left limbs orange, right limbs blue, centre (face, torso) green.
SIDE_COLORS = {"l": (0, 140, 255), "r": (255, 140, 30), "c": (60, 220, 60)}
BOX_COLOR = (200, 200, 200)


def draw_persons(image_bgr, persons, keypoint_info, kpt_thre=0.3):
    """A copy of `image_bgr` with each person's box, visible limbs and joints drawn.

    Args:
        image_bgr: (H, W, 3) uint8.
        persons: objects with `box` (x, y, w, h) and `keypoints` (K, 3) x, y, score in image px
            (lib.core.predictor.Person).
        keypoint_info: the dataset's KeypointInfo (skeleton and joint sides).
        kpt_thre: joints scoring below this are hidden, and so are their limbs.
    Returns:
        (H, W, 3) uint8 BGR.
    """
    sides = keypoint_info.joint_sides
    canvas = image_bgr.copy()
    thickness = max(1, int(round(min(canvas.shape[:2]) / 250)))
    for person in persons:
        x, y, w, h = person.box
        cv2.rectangle(canvas, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), BOX_COLOR, 1,
                      cv2.LINE_AA)
        joints = person.keypoints
        visible = (joints[:, 2] >= kpt_thre) & np.isfinite(joints[:, :2]).all(axis=1)
        for a, b, side in keypoint_info.skeleton:
            if visible[a] and visible[b]:
                cv2.line(canvas, _point(joints[a]), _point(joints[b]), SIDE_COLORS[side], thickness + 1, cv2.LINE_AA)
        for k in np.flatnonzero(visible):
            cv2.circle(canvas, _point(joints[k]), thickness + 2, SIDE_COLORS[sides[k]], -1, cv2.LINE_AA)
    return canvas


def _point(joint):
    return int(round(float(joint[0]))), int(round(float(joint[1])))


def compose_panels(panels, labels=None):
    """Panels of equal size side by side, each with its label on a dark band at the top-left.

    Args:
        panels: list of (H, W, 3) uint8 images.
        labels: one string per panel, or None for no labels.
    Returns:
        (H, W * len(panels), 3) uint8.
    """
    out = []
    for i, panel in enumerate(panels):
        panel = panel.copy()
        if labels is not None:
            scale = max(0.4, min(panel.shape[:2]) / 500)
            thick = max(1, int(round(scale * 1.5)))
            (tw, th), base = cv2.getTextSize(labels[i], cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            cv2.rectangle(panel, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
            cv2.putText(panel, labels[i], (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                        cv2.LINE_AA)
        out.append(panel)
    return np.concatenate(out, axis=1)
