"""tools/demo.py in-process with a tiny random OmniPose: the files it writes for an image folder with its annotation
file (the real OCHuman photos, real_data fixture), a video, the side-by-side figure, a COCO split, bad inputs with a
summary, and the errors that stop a run (on synthetic images and clips made here); run_demo.sh's argument
handling."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import QUICKSTART
from pycocotools.coco import COCO

from lib.config import load_cfg
from lib.models import build_generator
from lib.utils.checkpoint import WeightLoadError
from lib.utils.errors import UserError
from tests.helpers import synthetic_val_images, write_video
from tools import demo

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photo(tiny_synthetic):
    """One synthetic validation image with persons in it."""
    return max(synthetic_val_images(tiny_synthetic).values(), key=lambda image: len(image[1]))[0]


@pytest.fixture(scope="module")
def weights(opts, tmp_path_factory):
    """A pure-style bare state_dict and an adversarial-style checkpoint dict of two random tiny generators."""
    folder = tmp_path_factory.mktemp("weights")
    cfg = load_cfg(QUICKSTART, opts)
    torch.manual_seed(1)
    torch.save(build_generator(cfg).state_dict(), folder / "pure.pth")
    torch.manual_seed(2)
    torch.save({"generator": build_generator(cfg).state_dict(), "epoch": 1}, folder / "adv.pth")
    return folder / "pure.pth", folder / "adv.pth"


def run(opts, tmp_path, *args):
    """demo.main into tmp_path/run, drawing every image unless args say otherwise; overrides go last."""
    every = [] if "--every" in args else ["--every", "1"]
    return demo.main(["--cfg", QUICKSTART, "--out-dir", str(tmp_path), "--name", "run", *map(str, args), *every,
                      *opts])


def test_image_folder_with_gt_boxes(opts, weights, tmp_path, capsys, real_data):
    ochuman = real_data / "ochuman"
    summary = run(opts, tmp_path, "--weights", weights[0], "--input", ochuman, "--boxes-json",
                  ochuman / "test_ochuman.json",
                  "--every", "2")
    out = tmp_path / "run"
    assert summary.out_dir == str(out) and not summary.failed and len(summary.succeeded) == 3
    # every 2nd image of the sorted folder: the 1st and the 3rd
    assert sorted(Path(p).name for p in summary.images_written) == ["000817.jpg", "003896.jpg"]
    for path in summary.images_written:
        assert cv2.imread(path).shape == cv2.imread(str(ochuman / Path(path).name)).shape
    results = json.loads((out / "keypoints_results.json").read_text())
    images = json.loads((out / "images.json").read_text())
    # the ids are the annotation file's, so the results can be scored against it
    assert sorted((i["file_name"], i["id"]) for i in images) == [("000817.jpg", 2), ("003799.jpg", 1),
                                                                  ("003896.jpg", 3)]
    assert sorted(r["image_id"] for r in results) == [1, 2, 2, 3, 3]
    assert all(len(r["keypoints"]) == 51 and r["category_id"] == 1 for r in results)
    assert "3 input(s) processed, 0 failed" in capsys.readouterr().out
    assert list(out.glob("demo_*.log"))


def test_video_in_gives_annotated_video_out(opts, weights, tmp_path, photo):
    image = cv2.imread(str(photo))
    clip = write_video(tmp_path / "clip.mp4", [np.roll(image, 4 * i, axis=1) for i in range(7)])
    summary = run(opts, tmp_path, "--weights", weights[1], "--input", clip, "--whole-image", "--max-frames", 5)
    assert not summary.failed and summary.succeeded == [str(clip)]
    (video,) = summary.videos_written
    assert video.endswith("clip_pose.mp4") and demo.count_video_frames(video) == 5
    capture = cv2.VideoCapture(video)
    source = cv2.VideoCapture(str(clip))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (
        source.get(cv2.CAP_PROP_FRAME_WIDTH), source.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    source.release()
    results = json.loads((tmp_path / "run" / "keypoints_results.json").read_text())
    images = json.loads((tmp_path / "run" / "images.json").read_text())
    assert len(results) == 5 and [i["frame"] for i in images] == [0, 1, 2, 3, 4]


def test_side_by_side_one_panel_per_weight_file(opts, weights, tmp_path, photo):
    pure, adv = weights
    # Photo-sized (about 900 px), so the drawn skeletons cover as little of a panel as on a real photo.
    large = tmp_path / "large.jpg"
    cv2.imwrite(str(large), cv2.resize(cv2.imread(str(photo)), None, fx=2, fy=2))
    summary = run(opts, tmp_path, "--weights", pure, adv, pure, "--labels", "pure", "adv", "adv2",
                  "--input", large, "--whole-image", "--kpt-thre", "-1")
    (figure,) = summary.images_written
    height, width = cv2.imread(str(large)).shape[:2]
    panels = cv2.imread(figure)
    assert summary.panels == 3 and panels.shape[:2] == (height, 3 * width)
    # The 1st and 3rd panels come from the same weights, the 2nd from others (all joints drawn; JPEG blurs a little).
    first, second, third = (panels[height // 5:, i * width:(i + 1) * width].astype(float) for i in range(3))
    same, other = abs(first - third).mean(), abs(first - second).mean()
    assert same < 1.0 and other > 2 * same, (same, other)
    out = tmp_path / "run"
    assert {p.name for p in out.glob("keypoints_results_*.json")} == {
        "keypoints_results_pure.json", "keypoints_results_adv.json", "keypoints_results_adv2.json"}


def test_coco_split_keeps_ids_and_detection_boxes(opts, weights, tiny_synthetic, tmp_path):
    images = tiny_synthetic / "images" / "val2017"
    annotations = tiny_synthetic / "annotations" / "person_keypoints_val2017.json"
    detections = tiny_synthetic / "person_detection_results" / "synthetic_val2017_detections.json"
    gt = COCO(str(annotations))
    summary = run(opts, tmp_path / "gt", "--weights", weights[0], "--input", images, "--boxes-json", annotations)
    assert len(summary.succeeded) == len(gt.getImgIds()) and not summary.failed
    results = json.loads((tmp_path / "gt" / "run" / "keypoints_results.json").read_text())
    labelled = [a for a in gt.loadAnns(gt.getAnnIds(iscrowd=False)) if a["num_keypoints"] > 0]
    assert len(results) == len(labelled)
    gt.loadRes(results)  # ids and layout fit the annotation file
    # COCO detection results (keyed by image id = the 12-digit file names) with a score threshold
    summary = run(opts, tmp_path / "det", "--weights", weights[0], "--input", images, "--boxes-json", detections,
                  "--box-thre", "0.5")
    results = json.loads((tmp_path / "det" / "run" / "keypoints_results.json").read_text())
    kept = [d for d in json.loads(detections.read_text()) if d["score"] >= 0.5 and d.get("category_id", 1) == 1]
    assert not summary.failed and len(results) == len(kept)
    assert sorted(r["image_id"] for r in results) == sorted(d["image_id"] for d in kept)
    images_table = json.loads((tmp_path / "det" / "run" / "images.json").read_text())
    assert sorted(i["id"] for i in images_table) == sorted(gt.getImgIds())


def test_bad_inputs_are_named_and_counted(opts, weights, tmp_path, capsys, photo):
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    os.symlink(photo, folder / "good.jpg")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    broken_video = tmp_path / "broken.mp4"
    broken_video.write_bytes(b"\x00" * 100)
    missing = tmp_path / "missing.png"
    summary = run(opts, tmp_path, "--weights", weights[0], "--input", folder, empty, broken_video, missing,
                  "--whole-image")
    assert summary.succeeded == [str(folder / "good.jpg")]
    reasons = dict(summary.failed)
    assert set(reasons) == {str(folder / "corrupt.jpg"), str(empty), str(broken_video), str(missing)}
    assert "not a decodable image" in reasons[str(folder / "corrupt.jpg")]
    assert "no images" in reasons[str(empty)] and "video" in reasons[str(broken_video)]
    out = capsys.readouterr().out
    assert "1 input(s) processed, 4 failed" in out and f"FAILED {empty}" in out


@pytest.mark.parametrize("args,message", [
    ([], "no person box source given"),
    (["--whole-image", "--boxes-json", "b.json"], "choose one person box source"),
    (["--boxes-json", "missing_boxes.json"], "missing_boxes.json"),
], ids=["no-source", "two-sources", "missing-json"])
def test_box_source_errors_stop_before_any_work(opts, weights, tmp_path, photo, args, message):
    with pytest.raises(UserError, match=message) as info:
        run(opts, tmp_path, "--weights", weights[0], "--input", photo.parent, *args)
    if not args:
        assert "--detector torchvision" in str(info.value) and "--whole-image" in str(info.value)
    assert not (tmp_path / "run").exists()


def test_detector_without_torchvision(opts, weights, tmp_path, monkeypatch, photo):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if not installed, wherever the test runs
    with pytest.raises(UserError, match="needs torchvision"):
        run(opts, tmp_path, "--weights", weights[0], "--input", photo.parent, "--detector", "torchvision")


def test_weights_of_another_head_get_the_loader_error(opts, weights, tmp_path, photo):
    with pytest.raises(WeightLoadError, match="MODEL.EXTRA.HEAD waspv2"):
        run(opts + ["MODEL.EXTRA.HEAD", "waspv1"], tmp_path, "--weights", weights[0], "--input", photo.parent,
            "--whole-image")


def test_overrides_after_a_list_option(weights, capsys):
    """A known config key ends --input's list (lib/cli.py); a misspelt one would be swallowed, so it is an error."""
    args = demo.parse_args(["--cfg", QUICKSTART, "--weights", str(weights[0]), "--input", "x.jpg",
                            "TEST.FLIP_TEST", "False", "--whole-image"])
    assert args.input == ["x.jpg"] and args.opts == ["TEST.FLIP_TEST", "False"] and args.whole_image
    with pytest.raises(SystemExit):
        demo.parse_args(["--cfg", QUICKSTART, "--weights", str(weights[0]), "--input", "x.jpg",
                         "TEST.FLIPTEST", "False"])
    assert "looks like a config override" in capsys.readouterr().err
    args = demo.parse_args(["--cfg", QUICKSTART, "--weights", str(weights[0]), "--input", "x.jpg", "--whole-image",
                            "--", "TEST.FLIP_TEST", "False"])
    assert args.opts == ["TEST.FLIP_TEST", "False"]


def test_run_demo_sh_without_weights_says_how_to_get_them(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(["bash", str(REPO / "run_demo.sh"), "experiments/coco/hrnet_w32_256x192.yaml",
                           "OUTPUT_DIR", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert f"no weights at {tmp_path}/coco/pose_hrnet/hrnet_w32_256x192/model_best.pth" in done.stderr
    assert "bash run_train.sh experiments/coco/hrnet_w32_256x192.yaml" in done.stderr


def test_run_demo_sh_on_a_dataset_without_coco_layout_says_what_to_pass(tmp_path):
    """LSP has no images/<set> + annotations/ layout: the default input cannot exist, so the script says how to pass
    one (it used to fail inside tools/demo.py on a made-up annotations path)."""
    env = dict(os.environ, PYTHON=sys.executable)
    cfg = "experiments/lsp/hourglass_4stack_256x256.yaml"
    done = subprocess.run(["bash", str(REPO / "run_demo.sh"), cfg, "OUTPUT_DIR", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "DATASET.DATASET 'lsp'" in done.stderr and "--whole-image" in done.stderr
    assert f"--weights {tmp_path}/lsp/hourglass/hourglass_4stack_256x256/model_best.pth" in done.stderr
