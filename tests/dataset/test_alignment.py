"""Alignment check on rendered data: the target heatmap's peak sits where the image content of the joint went.

The existing pipeline tests compare targets with `meta["joints_hm"]`, which comes from the same affine code as the
targets. This test is independent of that code path: for every labelled joint of rendered synthetic persons it
replaces the image by a blank one with a single Gaussian dot at the joint's exact pixel, runs the training pipeline
(crop, rotation, scale, flip, half-body, all drawn at random), finds where OpenCV's warp put the dot in the input crop
(intensity centroid), and requires the peak of the joint's target channel (the flip partner's channel when the sample
was mirrored) to lie within 0.5 heatmap px of it. A wrong half-pixel convention, a flip that forgets to swap the
pairs, a rotation sign or a scale about the wrong centre each move the peak by more than that.
"""
import numpy as np
import pytest
import torch

from lib.config import load_cfg
from lib.dataset import synthetic
from lib.dataset.coco import COCODataset
from lib.dataset.joints_dataset import IMAGENET_MEAN, IMAGENET_STD
from lib.utils.transforms import PIXEL_STD, flip_permutation

SMALL = ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]", "MODEL.SIGMA", "2.0"]
NO_AUG = ["DATASET.SCALE_FACTOR", "0.0", "DATASET.ROT_PROB", "0.0", "DATASET.PROB_HALF_BODY", "0.0",
          "DATASET.FLIP", "False"]
AUGMENTATIONS = {
    "none": [],
    "rotation": ["DATASET.ROT_PROB", "1.0", "DATASET.ROT_FACTOR", "45.0"],
    "scale": ["DATASET.SCALE_FACTOR", "0.35"],
    "flip": ["DATASET.FLIP", "True"],
    "half_body": ["DATASET.PROB_HALF_BODY", "1.0", "DATASET.NUM_JOINTS_HALF_BODY", "3"],
    "all": ["DATASET.ROT_PROB", "1.0", "DATASET.ROT_FACTOR", "45.0", "DATASET.SCALE_FACTOR", "0.35",
            "DATASET.FLIP", "True", "DATASET.PROB_HALF_BODY", "0.5", "DATASET.NUM_JOINTS_HALF_BODY", "3"],
}
TOLERANCE_HM_PX = 0.5


@pytest.fixture(autouse=True)
def _fast_torch():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def rendered_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("alignment")
    synthetic.generate(str(root), 4, 1, seed=11)
    return root


def _dot_image(shape, point, sigma):
    """A black BGR image with one white Gaussian dot (std `sigma` px) centred on the sub-pixel `point` (x, y)."""
    h, w = shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    dot = np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * sigma**2))
    return np.repeat((dot * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def _intensity(input_tensor):
    """Undo the ImageNet normalisation of the (3, H, W) crop: grey level in [0, 1] of the first channel."""
    return input_tensor[0].numpy() * IMAGENET_STD[0] + IMAGENET_MEAN[0]


def _peak_subpixel(channel):
    """Sub-pixel peak of a Gaussian target map by a parabola through the log values (exact for a Gaussian);
    None when the peak is on the border."""
    h, w = channel.shape
    row, col = np.unravel_index(int(channel.argmax()), channel.shape)
    if not (0 < row < h - 1 and 0 < col < w - 1):
        return None
    log = np.log(np.clip(channel, 1e-30, None))

    def vertex(left, mid, right):
        return 0.5 * (left - right) / (left - 2 * mid + right)

    return np.array([col + vertex(log[row, col - 1], log[row, col], log[row, col + 1]),
                     row + vertex(log[row - 1, col], log[row, col], log[row + 1, col])])


@pytest.mark.parametrize("augmentation", sorted(AUGMENTATIONS))
def test_target_peak_follows_the_warped_joint_pixel(rendered_root, augmentation):
    cfg = load_cfg(None, SMALL + NO_AUG + AUGMENTATIONS[augmentation] + ["DATASET.ROOT", str(rendered_root)])
    ds = COCODataset(cfg, str(rendered_root), "train2017", is_train=True)
    codec = ds.codec
    in_w, in_h = codec.input_size
    perm = flip_permutation(ds.num_joints, ds.flip_pairs)  # flipped target k holds original joint perm[k]
    partner = np.argsort(perm)  # original joint j lands in target channel partner[j]
    torch.manual_seed(0)
    errors, flipped_seen, rotated_seen = [], 0, 0
    for record in ds.db[:5]:
        image_shape = ds.read_image(record["image"]).shape
        # Dot width ~1.5 input px whatever the person's size, so the unfiltered bilinear warp keeps its centroid.
        sigma = 1.5 * record["scale"][0] * PIXEL_STD / in_w
        for j in np.flatnonzero(np.asarray(record["joints_vis"]) > 0):
            # One sample: its input crop is the warped dot, its targets come from the warped annotation.
            crop, target, weight, meta = ds._make_sample(record, _dot_image(image_shape, record["joints"][j], sigma))
            channel = partner[j] if meta["flipped"] else j
            intensity = _intensity(crop)
            ys, xs = np.mgrid[0:in_h, 0:in_w]
            mass = intensity.sum()
            if weight[channel, 0] == 0 or mass < 1e-3:
                continue
            dot_input = np.array([(intensity * xs).sum() / mass, (intensity * ys).sum() / mass])
            if not (4 <= dot_input[0] <= in_w - 5 and 4 <= dot_input[1] <= in_h - 5):
                continue  # a dot cut by the crop border has a biased centroid
            peak = _peak_subpixel(target[channel].numpy().astype(np.float64))
            if peak is None:
                continue
            errors.append(np.abs(peak - codec.input_to_heatmap(dot_input)).max())
            flipped_seen += meta["flipped"]
            rotated_seen += meta["rotation"] != 0
    errors = np.array(errors)
    assert len(errors) >= 30, f"only {len(errors)} joints checked"
    if augmentation in ("flip", "all"):
        assert flipped_seen > 0
    if augmentation in ("rotation", "all"):
        assert rotated_seen > 0
    assert errors.max() <= TOLERANCE_HM_PX, f"worst misalignment {errors.max():.3f} heatmap px ({augmentation})"
    # The pipeline is sub-pixel exact; the median error is the dot-centroid measurement noise.
    assert np.median(errors) < 0.1, f"median misalignment {np.median(errors):.3f} heatmap px ({augmentation})"
