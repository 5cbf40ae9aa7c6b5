"""PCK against hand-computed values: per joint, the torso normaliser and its fallback, groups, means, exclusions."""
import math

import numpy as np
import pytest

from lib.metrics.pck import box_sizes, evaluate_pck, normalised_errors, pck_per_joint, torso_sizes


def _three_persons():
    """Ground truth at the origin; normalisers 10, 20 and NaN (the third person is left out)."""
    gt = np.zeros((3, 2, 2))
    vis = np.array([[2, 1], [1, 0], [2, 2]])
    preds = np.zeros((3, 2, 3))
    preds[0, 0, :2] = [2.0, 0.0]  # 2 / 10 = 0.2: correct at 0.2 (the "<=")
    preds[0, 1, :2] = [3.0, 0.0]  # 3 / 10 = 0.3: wrong at 0.2, correct at 0.3
    preds[1, 0, :2] = [0.0, 4.0]  # 4 / 20 = 0.2: correct at 0.2
    preds[1, 1, :2] = [99.0, 99.0]  # unlabelled: not counted
    preds[2] = 1000.0  # no normaliser: not counted
    return preds, gt, vis, np.array([10.0, 20.0, np.nan])


def test_pck_per_joint_hand_computed():
    preds, gt, vis, norms = _three_persons()
    pck, counts = pck_per_joint(preds, gt, vis, norms, 0.2)
    np.testing.assert_array_equal(counts, [2, 1])
    np.testing.assert_allclose(pck, [100.0, 0.0])
    pck, _ = pck_per_joint(preds, gt, vis, norms, 0.3)
    np.testing.assert_allclose(pck, [100.0, 100.0])
    pck, _ = pck_per_joint(preds, gt, vis, norms, 0.1)
    np.testing.assert_allclose(pck, [0.0, 0.0])
    errors = normalised_errors(preds, gt, norms)
    assert errors[0, 0] == pytest.approx(0.2) and errors[1, 0] == pytest.approx(0.2) and np.isnan(errors[2]).all()


def test_a_non_finite_prediction_is_counted_and_wrong_and_a_joint_never_labelled_is_nan():
    preds, gt, vis, norms = _three_persons()
    preds[0, 0, 0] = np.nan
    vis[:, 1] = 0
    pck, counts = pck_per_joint(preds, gt, vis, norms, 0.2)
    np.testing.assert_array_equal(counts, [2, 0])
    assert pck[0] == pytest.approx(50.0) and math.isnan(pck[1])


def test_shape_errors_name_the_expected_shapes():
    preds, gt, vis, norms = _three_persons()
    with pytest.raises(ValueError, match=r"expected preds \(N, K, 2\+\)"):
        pck_per_joint(preds[:2], gt, vis, norms, 0.2)


def test_torso_uses_the_first_labelled_diagonal():
    joints = np.zeros((3, 4, 2))
    joints[:, 1] = [30.0, 40.0]  # first diagonal (0, 1): length 50
    joints[:, 3] = [6.0, 8.0]  # second diagonal (2, 3): length 10
    vis = np.array([[2, 2, 2, 2], [0, 2, 1, 1], [0, 2, 2, 0]])
    sizes = torso_sizes(joints, vis, ((0, 1), (2, 3)))
    assert sizes[0] == pytest.approx(50.0) and sizes[1] == pytest.approx(10.0) and np.isnan(sizes[2])


def test_box_sizes_are_the_longer_side():
    np.testing.assert_allclose(box_sizes([[5, 5, 30, 80], [0, 0, 50, 20]]), [80.0, 50.0])


def test_evaluate_pck_groups_means_exclusions_and_table():
    preds, gt, vis, norms = _three_persons()
    # Three joints: joint 2 (excluded from the means) is always wrong.
    preds = np.concatenate([preds, np.full((3, 1, 3), 50.0)], axis=1)
    gt = np.concatenate([gt, np.zeros((3, 1, 2))], axis=1)
    vis = np.concatenate([vis, np.ones((3, 1))], axis=1)
    name_values, table = evaluate_pck(preds, gt, vis, norms, ["a", "b", "c"],
                                      groups=[("AB", (0, 1)), ("C", (2,))], thresholds=(0.2, 0.3), excluded=(2,))
    assert list(name_values) == ["AB", "C", "Mean", "Mean@0.3", "PCK@0.2 a", "PCK@0.2 b", "PCK@0.2 c"]
    assert name_values["AB"] == pytest.approx(50.0)  # mean of joint a (100) and joint b (0)
    assert name_values["C"] == pytest.approx(0.0)
    assert name_values["Mean"] == pytest.approx(100.0 * 2 / 3)  # count-weighted: 2 hits of 3 labelled a, b joints
    assert name_values["Mean@0.3"] == pytest.approx(100.0)
    assert name_values["PCK@0.2 b"] == pytest.approx(0.0)
    assert "| a | 100.00 | 100.00 | 2 |" in table and "| c (not in the mean) | 0.00 | 0.00 | 2 |" in table
    assert "| **Mean** | 66.67 | 100.00 | 3 |" in table


def test_box_pck_normalises_by_the_longer_box_side():
    from lib.metrics.pck import box_pck

    records = [
        {"joints": np.zeros((2, 2)), "joints_vis": np.array([2, 1]), "box": [0, 0, 40, 100]},  # radius 0.1 x 100
        {"joints": np.zeros((2, 2)), "joints_vis": np.array([2, 0]), "box": [0, 0, 50, 20]},  # radius 0.1 x 50
    ]
    preds = np.array([[[10.0, 0.0, 1.0], [0.0, 10.5, 1.0]], [[0.0, 5.0, 1.0], [99.0, 99.0, 1.0]]])
    values, table = box_pck(preds, records, ["a", "b"])
    assert list(values) == ["box PCK@0.1", "box PCK@0.1 a", "box PCK@0.1 b"]
    assert values["box PCK@0.1"] == pytest.approx(100.0 * 2 / 3)  # a: 10 <= 10, 5 <= 5; b: 10.5 > 10
    assert values["box PCK@0.1 a"] == pytest.approx(100.0) and values["box PCK@0.1 b"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="1 predictions for 2 records"):
        box_pck(preds[:1], records, ["a", "b"])
