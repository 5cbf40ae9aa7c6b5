"""OKS-NMS and soft-OKS-NMS on cases computed by hand."""
import math

import numpy as np
import pytest

from lib.core.nms import oks_iou, oks_nms, soft_oks_nms
from lib.dataset.keypoint_info import COCO_KEYPOINTS

SIGMA = np.array([0.1])  # one joint: variance (2 * 0.1)^2 = 0.04


def person(x, y, score=1.0):
    return np.array([[x, y, score]], dtype=float)


def test_oks_by_hand():
    # d = 2 px, areas 100 and 100: e = 4 / (0.04 * 100 * 2) = 0.5 -> exp(-0.5)
    oks = oks_iou(person(0, 0)[0:1].reshape(1, 3), 100.0, person(2, 0)[None].reshape(1, 1, 3), np.array([100.0]), SIGMA)
    assert oks[0] == pytest.approx(math.exp(-0.5))


def test_oks_nms_threshold_decides():
    joints = np.stack([person(0, 0), person(2, 0), person(50, 50)])
    scores = np.array([0.9, 0.8, 0.7])
    areas = np.full(3, 100.0)
    assert oks_nms(joints, scores, areas, 0.5, SIGMA) == [0, 2]        # OKS 0.61 > 0.5: suppressed
    assert oks_nms(joints, scores, areas, 0.7, SIGMA) == [0, 1, 2]     # 0.61 <= 0.7: kept
    # the higher score wins, whatever the input order
    assert oks_nms(joints[[1, 0, 2]], scores[[1, 0, 2]] * [1.0, 1.2, 1.0], areas, 0.5, SIGMA)[0] == 1


def test_soft_oks_nms_linear_decay():
    joints = np.stack([person(0, 0), person(2, 0), person(50, 50)])
    scores = np.array([0.9, 0.8, 0.7])
    keep, new_scores = soft_oks_nms(joints, scores, np.full(3, 100.0), 0.5, SIGMA)
    expected = 0.8 * (1 - math.exp(-0.5))
    assert new_scores[1] == pytest.approx(expected)
    assert new_scores[0] == pytest.approx(0.9) and new_scores[2] == pytest.approx(0.7)
    assert keep == [0, 2, 1]  # the decayed person drops below the far one


def test_identical_persons_coco_sigmas():
    rng = np.random.default_rng(0)
    base = np.concatenate([rng.uniform(0, 100, (17, 2)), np.ones((17, 1))], axis=1)
    joints = np.stack([base, base + [0.5, 0.5, 0], base + [300, 0, 0]])
    keep = oks_nms(joints, np.array([0.5, 0.9, 0.4]), np.full(3, 5000.0), 0.9, COCO_KEYPOINTS.sigmas)
    assert keep == [1, 2]
