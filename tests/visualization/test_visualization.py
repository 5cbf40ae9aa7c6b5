"""Pose drawing: limbs and joints take their side's colour from the keypoint record, hidden joints and their limbs
are not drawn, the input stays untouched; panels sit side by side."""
from types import SimpleNamespace

import numpy as np

from lib.dataset.keypoint_info import COCO_KEYPOINTS, MPII_KEYPOINTS
from lib.visualization import BOX_COLOR, SIDE_COLORS, compose_panels, draw_persons


def person(num_joints, placed, box=(10.0, 10.0, 180.0, 180.0)):
    """Joints at the given {index: (x, y)} with score 1, every other joint scored 0 (hidden)."""
    keypoints = np.zeros((num_joints, 3))
    for k, (x, y) in placed.items():
        keypoints[k] = (x, y, 1.0)
    return SimpleNamespace(box=np.asarray(box), keypoints=keypoints)


def test_limbs_and_joints_take_their_sides_colour():
    image = np.zeros((200, 200, 3), np.uint8)
    # COCO: left shoulder (5) - left elbow (7) is a left limb; left (5) - right shoulder (6) a centre limb.
    drawn = draw_persons(image, [person(17, {5: (40, 40), 7: (40, 160), 6: (160, 40)})], COCO_KEYPOINTS)
    assert not image.any()  # drawn on a copy
    assert tuple(drawn[100, 40]) == SIDE_COLORS["l"]  # middle of the left upper arm
    assert tuple(drawn[40, 100]) == SIDE_COLORS["c"]  # middle of the shoulder line
    assert tuple(drawn[160, 40]) == SIDE_COLORS["l"] and tuple(drawn[40, 160]) == SIDE_COLORS["r"]  # joints
    edge = drawn[190, 100]  # the box's bottom edge, antialiased: a fainter BOX_COLOR grey
    assert len(set(edge)) == 1 and BOX_COLOR[0] * 0.8 < edge[0] <= BOX_COLOR[0]
    # The right elbow (8) is hidden: no right upper arm below the right shoulder.
    assert tuple(drawn[100, 160]) == (0, 0, 0)


def test_hidden_joints_and_another_skeleton():
    image = np.zeros((200, 200, 3), np.uint8)
    # MPII: r_ankle (0) - r_knee (1) is a right limb; pelvis (6) - thorax (7) a centre one; thorax scored below 0.3.
    target = person(16, {0: (30, 180), 1: (30, 100), 6: (120, 100), 7: (120, 20)})
    target.keypoints[7, 2] = 0.2
    drawn = draw_persons(image, [target], MPII_KEYPOINTS, kpt_thre=0.3)
    assert tuple(drawn[140, 30]) == SIDE_COLORS["r"] and tuple(drawn[100, 120]) == SIDE_COLORS["c"]
    assert tuple(drawn[60, 120]) == (0, 0, 0) and tuple(drawn[20, 120]) == (0, 0, 0)


def test_panels_side_by_side_with_labels():
    a, b = np.full((60, 80, 3), 255, np.uint8), np.full((60, 80, 3), 128, np.uint8)
    plain = compose_panels([a, b])
    assert plain.shape == (60, 160, 3) and (plain[:, :80] == 255).all() and (plain[:, 80:] == 128).all()
    labelled = compose_panels([a, b], ["pure", "adv"])
    assert tuple(labelled[1, 1]) == (0, 0, 0) and tuple(labelled[1, 81]) == (0, 0, 0)  # the dark label bands
    assert (labelled[50:, :] == plain[50:, :]).all()
