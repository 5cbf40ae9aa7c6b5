"""Affine helpers: the original's 3-point construction, inverses, box to centre/scale, joint flips."""
import cv2
import numpy as np
import pytest

from lib.utils.transforms import (
    affine_points,
    box_to_center_scale,
    compose_affine,
    flip_permutation,
    fliplr_joints,
    get_affine_transform,
    hflip_affine,
    invert_affine,
)


def _three_point_reference(center, scale, rot_deg, output_size):
    """The original's construction (centre, a rotated up-vector and its perpendicular), solved by OpenCV."""
    src_w = scale[0] * 200.0
    out_w, out_h = output_size
    rad = np.deg2rad(rot_deg)
    up = np.array([0.0, (src_w - 1) * -0.5])
    src_dir = np.array([up[0] * np.cos(rad) - up[1] * np.sin(rad), up[0] * np.sin(rad) + up[1] * np.cos(rad)])
    dst_dir = np.array([0.0, (out_w - 1) * -0.5])
    src = np.array([center, center + src_dir, center + src_dir + [src_dir[1], -src_dir[0]]], np.float32)
    dst_c = np.array([(out_w - 1) * 0.5, (out_h - 1) * 0.5])
    dst = np.array([dst_c, dst_c + dst_dir, dst_c + dst_dir + [dst_dir[1], -dst_dir[0]]], np.float32)
    return cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("rot", [0.0, 30.0, -75.0], ids=["r0", "r30", "r-75"])
def test_affine_matches_three_point_construction(rot):
    center, scale = np.array([120.5, 88.0]), np.array([1.3, 1.7])
    ours = get_affine_transform(center, scale, rot, (96, 128))
    np.testing.assert_allclose(ours, _three_point_reference(center, scale, rot, (96, 128)), atol=1e-3)


def test_affine_maps_centre_and_width():
    center, scale = np.array([300.0, 200.0]), np.array([1.0, 4 / 3])
    matrix = get_affine_transform(center, scale, 0, (96, 128))
    np.testing.assert_allclose(affine_points(center[None], matrix), [[47.5, 63.5]])
    # The box's first and last pixel centres (width scale*200 px) land on the first and last output columns.
    ends = np.array([[center[0] - 99.5, center[1]], [center[0] + 99.5, center[1]]])
    np.testing.assert_allclose(affine_points(ends, matrix)[:, 0], [0.0, 95.0], atol=1e-9)


def test_inverse_round_trip():
    rng = np.random.default_rng(0)
    center, scale = np.array([210.0, 330.0]), np.array([2.2, 2.9])
    fwd = get_affine_transform(center, scale, 41.0, (96, 128))
    inv = get_affine_transform(center, scale, 41.0, (96, 128), inv=True)
    pts = rng.uniform(0, 500, size=(20, 2))
    np.testing.assert_allclose(affine_points(affine_points(pts, fwd), inv), pts, atol=1e-6)
    np.testing.assert_allclose(invert_affine(fwd), inv, atol=1e-12)
    np.testing.assert_allclose(compose_affine(inv, fwd), [[1, 0, 0], [0, 1, 0]], atol=1e-12)


def test_box_to_center_scale_fixes_aspect_and_pads():
    center, scale = box_to_center_scale([10, 20, 101, 51], aspect_ratio=0.75)
    np.testing.assert_allclose(center, [60.0, 45.0])
    np.testing.assert_allclose(scale, [101 / 200 * 1.25, 101 / 0.75 / 200 * 1.25], rtol=1e-6)
    center, scale = box_to_center_scale([0, 0, 30, 200], aspect_ratio=0.75, padding=1.0)
    np.testing.assert_allclose(scale, [0.75, 1.0], rtol=1e-6)
    assert center.dtype == np.float32 and scale.dtype == np.float32


def test_fliplr_joints_mirrors_and_swaps():
    joints = np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0]])
    vis = np.array([2, 1, 0])
    flipped, fvis = fliplr_joints(joints, vis, image_width=10, flip_pairs=[(1, 2)])
    np.testing.assert_array_equal(flipped, [[8.0, 5.0], [6.0, 7.0], [7.0, 6.0]])
    np.testing.assert_array_equal(fvis, [2, 0, 1])
    np.testing.assert_array_equal(joints[1], [2.0, 6.0])  # input untouched
    np.testing.assert_array_equal(flip_permutation(3, [(1, 2)]), [0, 2, 1])


def test_hflip_affine_is_the_pixel_mirror():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    mirrored = cv2.warpAffine(image, hflip_affine(4), (4, 3), flags=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(mirrored, image[:, ::-1])


def test_zero_width_box_is_rejected():
    with pytest.raises(ValueError, match="scale"):
        get_affine_transform([0, 0], [0.0, 0.0], 0, (96, 128))
