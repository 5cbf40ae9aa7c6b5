"""PosePredictor with a tiny random OmniPose: one person per box on the real OCHuman photos (real_data fixture),
keypoints inside the crop, crops and keypoints identical to the evaluation path, video frames and the errors that
name bad inputs (on the tiny synthetic set and files made here)."""
import json

import cv2
import numpy as np
import pytest
import torch

from lib.config import load_cfg
from lib.codec import HeatmapCodec
from lib.core.inference import predict_heatmaps
from lib.core.predictor import PosePredictor
from lib.dataset.coco import COCODataset
from lib.dataset.keypoint_info import COCO_KEYPOINTS
from lib.dataset.joints_dataset import ImageReadError
from lib.models import build_generator
from lib.utils.checkpoint import WeightLoadError
from lib.utils.transforms import PIXEL_STD, box_to_center_scale
from tests.helpers import narrow_model_opts, synthetic_val_images, write_video

torch.set_flush_denormal(True)
torch.set_num_threads(1)

# A W8 OmniPose at 48x64 (w x h): a fraction of a second per image on one core.
TINY = narrow_model_opts() + [
    "MODEL.IMAGE_SIZE", "[48,64]", "MODEL.HEATMAP_SIZE", "[12,16]", "MODEL.SIGMA", "1.0", "TEST.BLUR_KERNEL", "3",
]

@pytest.fixture(scope="module")
def cfg():
    # PyTorch's default init: the model's own init (std 0.001) gives spatially flat heatmaps.
    return load_cfg(None, TINY + ["MODEL.INIT_WEIGHTS", "False"])


@pytest.fixture(scope="module")
def weights(cfg, tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pth"
    torch.save(build_generator(cfg).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def predictor(cfg, weights):
    return PosePredictor.from_config(cfg, weights, "cpu")


@pytest.fixture(scope="module")
def argmax_predictor(weights):
    """Argmax decoding keeps every joint on the heatmap grid, so 'inside the crop' is exact. (DARK's Taylor step is
    unbounded on a random model's noisy maps; DARK is covered by the evaluation-parity test.)"""
    return PosePredictor.from_config(load_cfg(None, TINY + ["TEST.POST_PROCESS", "False"]), weights, "cpu")


def ochuman_boxes(ochuman):
    data = json.loads((ochuman / "test_ochuman.json").read_text())
    names = {image["id"]: image["file_name"] for image in data["images"]}
    boxes = {}
    for ann in data["annotations"]:
        boxes.setdefault(names[ann["image_id"]], []).append(ann["bbox"])
    return boxes


def assert_inside_crops(persons, boxes, image_shape, aspect_ratio, heatmap_width):
    """Finite keypoints inside each box's 1.25-padded, aspect-fixed crop region (plus one heatmap cell)."""
    height, width = image_shape[:2]
    for person, box in zip(persons, boxes):
        x, y, w, h = box
        clipped = [max(0, x), max(0, y), min(width, x + w) - max(0, x), min(height, y + h) - max(0, y)]
        np.testing.assert_allclose(person.box, clipped)
        center, scale = box_to_center_scale(clipped, aspect_ratio)
        half = scale * PIXEL_STD / 2
        cell = scale[0] * PIXEL_STD / heatmap_width
        joints = person.keypoints
        assert joints.shape == (17, 3) and np.isfinite(joints).all()
        assert (np.abs(joints[:, :2] - center) <= half + cell).all(), (joints[:, :2], center, half)


def test_ochuman_one_person_per_gt_box_inside_its_crop(argmax_predictor, predictor, cfg, real_data):
    ochuman = real_data / "ochuman"
    boxes = ochuman_boxes(ochuman)
    assert sum(len(b) for b in boxes.values()) == 5
    for name, image_boxes in boxes.items():
        image = cv2.imread(str(ochuman / name))
        persons = argmax_predictor.predict(str(ochuman / name), image_boxes)
        assert len(persons) == len(image_boxes), name
        assert_inside_crops(persons, image_boxes, image.shape, 48 / 64, cfg.MODEL.HEATMAP_SIZE[0])
        assert all(p.box_score == 1.0 and np.isfinite(p.score) for p in persons)
        dark = predictor.predict(image, image_boxes)
        assert len(dark) == len(image_boxes) and all(np.isfinite(p.keypoints).all() for p in dark)


def test_crops_and_keypoints_equal_the_evaluation_path(predictor, cfg, tiny_synthetic):
    """A COCO json read by COCODataset (evaluation samples, GT boxes) gives the same crops, and validate()'s
    flip test + decode on them gives the same keypoints as the predictor."""
    dataset = COCODataset(cfg, tiny_synthetic, "val2017", is_train=False)
    assert len(dataset) == sum(len(boxes) for _, boxes in synthetic_val_images(tiny_synthetic).values()) > 0
    codec = HeatmapCodec.from_cfg(cfg)
    for index in range(len(dataset)):
        crop, _, _, meta = dataset[index]
        image = cv2.imread(meta["image"])
        box = [a["bbox"] for a in dataset.coco.loadAnns(dataset.coco.getAnnIds(imgIds=meta["image_id"]))]
        order = [i for i, b in enumerate(box)
                 if np.allclose(box_to_center_scale(b, 48 / 64)[0], meta["center"], atol=1e-3)]
        assert len(order) == 1
        inputs, centers, scales, _ = predictor.crops(image, [box[order[0]]])
        torch.testing.assert_close(inputs[0], crop, rtol=0, atol=0)
        np.testing.assert_allclose(centers[0], meta["center"], rtol=0, atol=1e-4)
        np.testing.assert_allclose(scales[0], meta["scale"], rtol=0, atol=1e-6)
        heatmaps = predict_heatmaps(predictor.model, crop[None], dataset.flip_pairs, False, "mse")
        expected, maxvals = codec.decode_to_image(heatmaps.numpy(), meta["center"][None], meta["scale"][None])
        person = predictor.predict(image, [box[order[0]]])[0]
        np.testing.assert_allclose(person.keypoints[:, :2], expected[0], atol=1e-6)
        np.testing.assert_allclose(person.keypoints[:, 2], maxvals[0], atol=1e-6)


def test_video_frames_whole_image_mode(argmax_predictor, cfg, tiny_synthetic, tmp_path):
    image = cv2.imread(str(next(iter(synthetic_val_images(tiny_synthetic).values()))[0]))
    clip = write_video(tmp_path / "clip.mp4", [image, np.ascontiguousarray(image[:, ::-1])])
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < 2:
        ok, frame = capture.read()
        assert ok, f"{clip}: could not read frame {len(frames)}"
        frames.append(frame)
    capture.release()
    for frame in frames:
        persons = argmax_predictor.predict(frame)  # boxes=None: the whole frame
        height, width = frame.shape[:2]
        assert len(persons) == 1
        np.testing.assert_allclose(persons[0].box, [0, 0, width, height])
        assert_inside_crops(persons, [[0, 0, width, height]], frame.shape, 48 / 64, cfg.MODEL.HEATMAP_SIZE[0])


def test_rgb_array_batches_and_flip(cfg, weights, tiny_synthetic):
    path, boxes = max(synthetic_val_images(tiny_synthetic).values(), key=lambda image: len(image[1]))
    path = str(path)
    one = PosePredictor.from_config(cfg, weights, torch.device("cpu"), batch_size=1)
    many = PosePredictor.from_config(cfg, weights, "cpu", batch_size=8)
    no_flip = PosePredictor.from_config(cfg, weights, "cpu", flip_test=False)
    from_path = one.predict(path, boxes)
    rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    for a, b in zip(from_path, many.predict(rgb, boxes, color="rgb")):
        # float32 convolutions sum in a batch-size dependent order, and DARK amplifies it on a random model's flat maps
        np.testing.assert_allclose(a.keypoints[:, :2], b.keypoints[:, :2], atol=0.1)  # image px
        np.testing.assert_allclose(a.keypoints[:, 2], b.keypoints[:, 2], atol=1e-5)
    plain = no_flip.predict(path, boxes)
    assert not np.allclose(plain[0].keypoints[:, 2], from_path[0].keypoints[:, 2])


def test_bad_images_and_boxes_are_named(predictor, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        predictor.predict(str(broken))
    with pytest.raises(ImageReadError, match="missing.jpg"):
        predictor.predict(str(tmp_path / "missing.jpg"))
    image = np.zeros((40, 30, 3), np.uint8)
    with pytest.raises(ValueError, match=r"boxes\[1\]: expected a box"):
        predictor.predict(image, [[1, 2, 3, 4], [1, 2, 3]])
    with pytest.raises(ValueError, match="finite"):
        predictor.predict(image, [[1, 2, float("nan"), 4]])
    with pytest.raises(ValueError, match="float32"):
        predictor.predict(image.astype(np.float32))
    # a box entirely outside the image is skipped; the other one still gives a person
    persons = predictor.predict(image, [[100, 100, 10, 10], [2, 2, 20, 30, 0.7]])
    assert len(persons) == 1 and persons[0].box_score == 0.7


@pytest.mark.parametrize("change,message", [
    (["MODEL.EXTRA.HEAD", "waspv1"], "HEAD waspv2"),
    (["MODEL.NUM_JOINTS", "16"], "the file has 17 joints"),
], ids=["other-head", "other-joint-count"])
def test_weights_for_another_model_get_the_loader_error(weights, change, message):
    with pytest.raises(WeightLoadError, match=message):
        PosePredictor.from_config(load_cfg(None, TINY + change), weights, "cpu")


def test_from_config_accepts_a_yaml_path(cfg, weights, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(cfg.dump())
    predictor = PosePredictor.from_config(str(path), weights)  # device from the config's DEVICE (auto)
    assert predictor.cfg.MODEL.IMAGE_SIZE == [48, 64] and predictor.device.type in ("cpu", "cuda")
    assert predictor.keypoint_info is COCO_KEYPOINTS and predictor.flip_pairs == list(COCO_KEYPOINTS.flip_pairs)


def test_predictor_never_shifts_weights_trained_here(cfg, weights, tmp_path):
    """The demo's flip test follows the same rule as validate(): TEST.SHIFT_HEATMAP applies only to files without
    this project's record."""
    from lib.codec import TARGET_CONVENTION
    from lib.utils.checkpoint import load_weights, record_weights, save_generator_weights

    shifted_cfg = load_cfg(None, TINY + ["MODEL.INIT_WEIGHTS", "False", "TEST.SHIFT_HEATMAP", "True"])
    assert PosePredictor.from_config(shifted_cfg, weights, "cpu").shift_heatmap  # a plain file: as configured
    model = build_generator(cfg)
    load_weights(model, weights)
    record_weights(model, target_convention=TARGET_CONVENTION)
    save_generator_weights(model, tmp_path / "recorded.pth")
    assert not PosePredictor.from_config(shifted_cfg, tmp_path / "recorded.pth", "cpu").shift_heatmap
