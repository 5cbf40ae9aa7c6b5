"""HeatmapCodec: encode/decode round trips, target geometry, weights, torch/numpy agreement, batch encoding."""
import numpy as np
import pytest
import torch

from lib.config import load_cfg
from lib.codec import HeatmapCodec, argmax_decode
from lib.utils.transforms import affine_points, get_affine_transform

INPUT_SIZE = (96, 128)
HEATMAP_SIZE = (24, 32)


def _codec(use_dark):
    return HeatmapCodec(INPUT_SIZE, HEATMAP_SIZE, sigma=2.0, use_dark=use_dark, blur_kernel=11)


def _subpixel_joints(rng, count, margin_hm=4.0):
    """Random joints in input px whose heatmap position keeps `margin_hm` cells from the border."""
    codec = _codec(False)
    hm = rng.uniform([margin_hm, margin_hm], [HEATMAP_SIZE[0] - 1 - margin_hm, HEATMAP_SIZE[1] - 1 - margin_hm],
                     size=(count, 2))
    return codec.heatmap_to_input(hm)


def test_coordinate_maps_are_inverse_and_align_centres():
    codec = _codec(True)
    pts = np.array([[0.0, 0.0], [95.0, 127.0], [47.5, 63.5], [12.3, 99.9]])
    back = codec.heatmap_to_input(codec.input_to_heatmap(pts))
    np.testing.assert_allclose(back, pts, atol=1e-9)
    # Crop centre -> heatmap centre, and the input width spans the heatmap width ((size-1) alignment).
    np.testing.assert_allclose(codec.input_to_heatmap(pts[2]), [11.5, 15.5])
    np.testing.assert_allclose(codec.input_to_heatmap(pts[:2])[:, 0], [0.0, 23.0])
    torch_pts = torch.tensor(pts, dtype=torch.float64)
    np.testing.assert_allclose(codec.input_to_heatmap(torch_pts).numpy(), codec.input_to_heatmap(pts))


def test_codec_matches_the_originals_direct_heatmap_affine():
    """image -> input (affine) -> heatmap (codec) equals the original's affine built for the heatmap size."""
    codec = _codec(True)
    center, scale = np.array([321.7, 210.2]), np.array([1.9, 2.4])
    pts_img = np.array([[300.0, 150.0], [350.5, 260.25]])
    via_codec = codec.input_to_heatmap(affine_points(pts_img, get_affine_transform(center, scale, 0, INPUT_SIZE)))
    direct = affine_points(pts_img, get_affine_transform(center, scale, 0, HEATMAP_SIZE))
    np.testing.assert_allclose(via_codec, direct, atol=1e-9)


def test_target_peak_sits_at_the_subpixel_joint():
    codec = _codec(True)
    joints = np.array([[30.3, 40.7], [50.1, 60.9], [10.0, 100.0]])
    target, weight = codec.encode(joints, np.ones(3))
    assert target.shape == (3, 32, 24) and target.dtype == np.float32
    assert weight.shape == (3,) and weight.dtype == np.float32
    joints_hm = codec.input_to_heatmap(joints)
    for k in range(3):
        y, x = np.unravel_index(np.argmax(target[k]), target[k].shape)
        assert (x, y) == tuple(np.round(joints_hm[k]).astype(int))
        dist2 = (np.arange(24)[None] - joints_hm[k, 0]) ** 2 + (np.arange(32)[:, None] - joints_hm[k, 1]) ** 2
        expected = np.exp(-dist2 / (2 * 2.0**2))
        np.testing.assert_allclose(target[k], expected, rtol=1e-5, atol=1e-7)
    # Exactly on a cell: the peak value is 1.
    on_cell = codec.heatmap_to_input(np.array([[5.0, 7.0]]))
    t, _ = codec.encode(on_cell, np.ones(1))
    assert t[0, 7, 5] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("use_dark,tolerance", [(False, 0.3), (True, 0.1)], ids=["argmax", "dark"])
def test_round_trip_subpixel(use_dark, tolerance):
    codec = _codec(use_dark)
    rng = np.random.default_rng(0)
    joints = _subpixel_joints(rng, 12).reshape(2, 6, 2)
    target, weight = codec.encode(joints, np.ones((2, 6)))
    assert weight.min() == 1
    coords, maxvals = codec.decode(target)
    assert coords.shape == (2, 6, 2) and maxvals.shape == (2, 6)
    error = np.abs(coords - codec.input_to_heatmap(joints))
    assert error.max() < tolerance, error.max()
    np.testing.assert_allclose(maxvals, target.reshape(2, 6, -1).max(-1))


def test_dark_beats_argmax():
    rng = np.random.default_rng(1)
    joints = _subpixel_joints(rng, 20)[None]
    target, _ = _codec(True).encode(joints, np.ones((1, 20)))
    truth = _codec(True).input_to_heatmap(joints)
    err_dark = np.linalg.norm(_codec(True).decode(target)[0] - truth, axis=-1).mean()
    err_argmax = np.linalg.norm(_codec(False).decode(target)[0] - truth, axis=-1).mean()
    assert err_dark < 0.5 * err_argmax


def test_weight_zero_outside_and_unlabelled():
    codec = _codec(True)
    hm_points = np.array([
        [11.0, 15.0],    # inside
        [-7.0, 15.0],    # 3-sigma box (6 cells) still reaches x = -1 ... -0.5: overlaps? -7 + 6 = -1 < -0.5 -> out
        [-6.4, 15.0],    # reaches -0.4: overlaps the first column's extent
        [30.0, 15.0],    # right of the map by more than 3 sigma
        [11.0, 45.0],    # below
        [11.0, 15.0],    # inside but unlabelled
    ])
    visible = np.array([1, 1, 1, 1, 1, 0])
    target, weight = codec.encode(codec.heatmap_to_input(hm_points), visible)
    np.testing.assert_array_equal(weight, [1, 0, 1, 0, 0, 0])
    assert not target[weight == 0].any()
    assert target[2].max() > 0
    # Non-finite joints get weight 0 instead of NaN maps.
    t, w = codec.encode(np.array([[np.nan, 3.0]]), np.ones(1))
    assert w[0] == 0 and np.isfinite(t).all() and not t.any()


def test_batch_encode_equals_per_sample_encode():
    codec = _codec(True)
    rng = np.random.default_rng(2)
    joints = rng.uniform(-30, 130, size=(3, 5, 2))
    visible = rng.integers(0, 3, size=(3, 5))
    target, weight = codec.encode(joints, visible)
    assert target.shape == (3, 5, 32, 24) and weight.shape == (3, 5)
    for b in range(3):
        t, w = codec.encode(joints[b], visible[b])
        np.testing.assert_array_equal(t, target[b])
        np.testing.assert_array_equal(w, weight[b])


def test_argmax_decode_torch_and_numpy_agree():
    rng = np.random.default_rng(3)
    heatmaps = rng.normal(size=(2, 4, 32, 24)).astype(np.float32)
    heatmaps[0, 1] = -1.0  # max <= 0 -> (0, 0)
    heatmaps[1, 2, 0, 5] = 100.0  # argmax on the top border: no y offset there
    coords_np, max_np = argmax_decode(heatmaps)
    coords_t, max_t = argmax_decode(torch.from_numpy(heatmaps))
    assert isinstance(coords_t, torch.Tensor) and coords_t.dtype == torch.float32
    np.testing.assert_allclose(coords_t.numpy(), coords_np)
    np.testing.assert_allclose(max_t.numpy(), max_np)
    np.testing.assert_array_equal(coords_np[0, 1], [0.0, 0.0])
    assert coords_np[1, 2, 1] == 0.0 and abs(coords_np[1, 2, 0] - 5.0) == 0.25
    # Quarter offset toward the higher neighbour, per axis.
    hm = np.zeros((1, 1, 32, 24), np.float32)
    hm[0, 0, 10, 7] = 1.0
    hm[0, 0, 10, 8] = 0.5
    hm[0, 0, 9, 7] = 0.3
    np.testing.assert_allclose(argmax_decode(hm)[0][0, 0], [7.25, 9.75])
    codec_np = _codec(True).decode(heatmaps)
    codec_t = _codec(True).decode(torch.from_numpy(heatmaps))
    np.testing.assert_allclose(codec_np[0], codec_t[0])


def test_argmax_decode_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\(B, K, H, W\)"):
        argmax_decode(np.zeros((32, 24)))
    with pytest.raises(ValueError, match="heatmap_size"):
        _codec(True).decode(np.zeros((1, 1, 24, 32)))


def test_decode_to_image_inverts_the_crop():
    codec = _codec(True)
    rng = np.random.default_rng(4)
    centers = np.array([[200.0, 300.0], [50.0, 80.0]])
    scales = np.array([[1.5, 2.0], [0.6, 0.8]])
    joints_img = np.empty((2, 5, 2))
    target = []
    for i in range(2):
        joints_input = _subpixel_joints(rng, 5)
        inverse = get_affine_transform(centers[i], scales[i], 0, INPUT_SIZE, inv=True)
        joints_img[i] = affine_points(joints_input, inverse)
        target.append(codec.encode(joints_input, np.ones(5))[0])
    coords_img, maxvals = codec.decode_to_image(np.stack(target), centers, scales)
    # 0.1 heatmap px of DARK error times the image px per heatmap px of each crop.
    px_per_cell = (scales[:, 0] * 200 - 1) / (HEATMAP_SIZE[0] - 1)
    err = np.linalg.norm(coords_img - joints_img, axis=-1).max(axis=1)
    assert (err < 0.1 * px_per_cell).all(), (err, px_per_cell)
    assert maxvals.shape == (2, 5)


def test_from_cfg_reads_the_config():
    cfg = load_cfg(None, ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]", "MODEL.SIGMA", "2.0",
                          "TEST.POST_PROCESS", "False", "TEST.BLUR_KERNEL", "7"])
    codec = HeatmapCodec.from_cfg(cfg)
    assert codec.input_size == (96, 128) and codec.heatmap_size == (24, 32)
    assert codec.sigma == 2.0 and codec.use_dark is False and codec.blur_kernel == 7


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="sigma"):
        HeatmapCodec(INPUT_SIZE, HEATMAP_SIZE, sigma=0)
    with pytest.raises(ValueError, match="blur_kernel"):
        HeatmapCodec(INPUT_SIZE, HEATMAP_SIZE, sigma=2, blur_kernel=4)
    with pytest.raises(ValueError, match="visible"):
        _codec(True).encode(np.zeros((3, 2)), np.ones(4))


def test_dark_blur_matches_opencv_on_a_zero_padded_map():
    """The original blurs a zero-bordered copy with cv2.GaussianBlur((k, k), sigma=0), then restores the max."""
    import cv2

    from lib.codec import dark_blur

    rng = np.random.default_rng(5)
    heatmap = rng.random((32, 24))
    padded = np.zeros((32 + 10, 24 + 10))
    padded[5:-5, 5:-5] = heatmap
    expected = cv2.GaussianBlur(padded, (11, 11), 0)[5:-5, 5:-5]
    expected *= heatmap.max() / expected.max()
    ours = dark_blur(torch.from_numpy(heatmap)[None, None], 11)[0, 0].numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-9)
