"""End to end on an LSP-format fixture written here (both releases), and on the tiny synthetic COCO-format set: both
trainers with the LSP configs and a stacked hourglass, PCK in the metrics file, the demo drawing with a hourglass
checkpoint, and ONNX export of the hourglass (one (B, K, h, w) output)."""
import json
from pathlib import Path

import cv2
import pytest
import torch

from tools import demo, train, train_AN
from tools.data.make_lsp_fixture import write_lsp_fixture

torch.set_num_threads(1)
torch.set_flush_denormal(True)

LSP_OMNIPOSE = "experiments/lsp/omnipose_w48_256x256.yaml"
LSP_HOURGLASS = "experiments/lsp/hourglass_4stack_256x256.yaml"
SYNTHETIC_HOURGLASS = "experiments/synthetic/hourglass_quickstart.yaml"
TINY_HOURGLASS = ["MODEL.EXTRA.NUM_STACKS", "2", "MODEL.EXTRA.NUM_FEATURES", "8", "MODEL.EXTRA.HOURGLASS_DEPTH", "2"]
TINY_RUN = ["WORKERS", "0", "PRINT_FREQ", "1", "AUTO_RESUME", "False", "MODEL.IMAGE_SIZE", "[48,64]",
            "MODEL.HEATMAP_SIZE", "[12,16]", "MODEL.SIGMA", "1.0", "TRAIN.END_EPOCH", "1", "TRAIN.BATCH_SIZE_PER_GPU",
            "4", "TRAIN.MAX_ITERS_PER_EPOCH", "2", "TEST.BATCH_SIZE_PER_GPU", "8", "TEST.BLUR_KERNEL", "3",
            "GAN.POSE_WIDTHS", "[8,8,8,8,8]", "GAN.POSE_DEC_WIDTHS", "[8,8,8]", "GAN.CONF_WIDTHS", "[8,8,8,8,8]",
            "GAN.CONF_DEC_WIDTHS", "[8,8,8]"]


@pytest.fixture(scope="module")
def lsp_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lsp")
    write_lsp_fixture(root / "lsp_dataset", num_images=10, release="lsp", seed=0)
    write_lsp_fixture(root / "lspet_dataset", num_images=8, release="lspet", seed=1)
    return root


def lsp_opts(root, out):
    return ["DATASET.ROOT", str(root), "OUTPUT_DIR", str(out), "DATASET.TRAIN_SET",
            "lspet_dataset/train+lsp_dataset/0:6", "DATASET.TEST_SET", "lsp_dataset/6:10"] + TINY_RUN


def _records(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def hourglass_run(lsp_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return Path(train.main(["--cfg", LSP_HOURGLASS] + lsp_opts(lsp_root, out) + TINY_HOURGLASS))


def test_pure_trainer_with_the_lsp_hourglass_config(hourglass_run):
    assert hourglass_run.parts[-3:] == ("lsp", "hourglass", "hourglass_4stack_256x256")
    (record,) = _records(hourglass_run)
    assert record["trainer"] == "pure" and record["loss"] > 0
    # PCK@0.2 is the indicator; the per-joint values and the visibility split are in the metrics file
    assert record["best_perf"] == record["Mean"] and 0.0 <= record["Mean"] <= 100.0
    assert "PCK@0.2 head_top" in record and "Mean@0.1" in record and "Mean (occluded)" in record
    assert (hourglass_run / "results" / "lsp_lsp_dataset_6_10_predictions.json").is_file()
    log = next(hourglass_run.glob("train_*.log")).read_text()
    assert "| head_top |" in log  # the per-joint table


def test_adversarial_trainer_with_the_lsp_omnipose_config_and_pck_labels(lsp_root, tmp_path):
    from tests.helpers import narrow_model_opts

    out = Path(train_AN.main(["--cfg", LSP_OMNIPOSE] + lsp_opts(lsp_root, tmp_path) + narrow_model_opts()))
    (record,) = _records(out)
    assert record["trainer"] == "adversarial" and "Mean" in record and "fake_pos_rate_pose" in record
    assert "labels PCK-style, correct within 0.2" in next(out.glob("train_AN_*.log")).read_text()


def test_adversarial_trainer_with_a_hourglass(lsp_root, tmp_path):
    out = Path(train_AN.main(["--cfg", LSP_HOURGLASS] + lsp_opts(lsp_root, tmp_path) + TINY_HOURGLASS))
    (record,) = _records(out)
    assert record["trainer"] == "adversarial" and record["loss_mse"] > 0 and "PCK@0.2 r_ankle" in record
    assert (out / "model_best.pth").is_file()


def test_hourglass_on_coco_format_data_reports_box_pck(tiny_synthetic, tmp_path):
    opts = ["DATASET.ROOT", str(tiny_synthetic), "OUTPUT_DIR", str(tmp_path)] + TINY_RUN + TINY_HOURGLASS
    out = Path(train.main(["--cfg", SYNTHETIC_HOURGLASS] + opts))
    (record,) = _records(out)
    assert "AP" in record and "box PCK@0.1" in record and "box PCK@0.1 nose" in record


def test_demo_draws_with_a_hourglass_checkpoint(hourglass_run, lsp_root, tmp_path):
    summary = demo.main(["--cfg", LSP_HOURGLASS, "--weights", str(hourglass_run / "model_best.pth"), "--input",
                         str(lsp_root / "lsp_dataset" / "images" / "im0007.jpg"), "--whole-image", "--every", "1",
                         "--kpt-thre", "0", "--out-dir", str(tmp_path), "--name", "hg", "--device", "cpu",
                         *TINY_HOURGLASS, *TINY_RUN[6:12]])
    assert not summary.failed and len(summary.images_written) == 1
    drawn = cv2.imread(summary.images_written[0])
    original = cv2.imread(str(lsp_root / "lsp_dataset" / "images" / "im0007.jpg"))
    assert drawn.shape == original.shape and (drawn != original).any()
    results = json.loads((tmp_path / "hg" / "keypoints_results.json").read_text())
    assert len(results) == 1 and len(results[0]["keypoints"]) == 14 * 3


def test_onnx_export_of_a_hourglass(hourglass_run, tmp_path):
    pytest.importorskip("onnx", reason="onnx is a test extra (requirements-test.txt)")
    pytest.importorskip("onnxruntime", reason="onnxruntime is a test extra (requirements-test.txt)")
    from tools import export_onnx

    result = export_onnx.main(["--cfg", LSP_HOURGLASS, "--weights", str(hourglass_run / "model_best.pth"), "--out",
                               str(tmp_path / "hg.onnx"), *TINY_HOURGLASS, *TINY_RUN[6:12]])
    assert result["max_abs_diff"] < 1e-4 and tuple(result["shape"][1:]) == (14, 16, 12)
