"""Shared fixtures for the tool smoke tests: a tiny OmniPose config (the tiny synthetic set is in tests/conftest.py)."""
import pytest
import torch

from tests.helpers import narrow_model_opts

QUICKSTART = "experiments/synthetic/omnipose_quickstart.yaml"


@pytest.fixture(scope="module")
def opts(tmp_path_factory):
    """tiny_opts for tests that build models but never read the dataset or write a run folder."""
    return tiny_opts(tmp_path_factory.mktemp("unused_root"), tmp_path_factory.mktemp("unused_out"))


def tiny_opts(root, output_dir, epochs=2):
    """A W8 OmniPose at 64x48 on the tiny set: seconds per epoch on one CPU core."""
    torch.set_flush_denormal(True)
    return [
        "DATASET.ROOT", str(root), "OUTPUT_DIR", str(output_dir), "WORKERS", "0", "PRINT_FREQ", "1",
        "MODEL.IMAGE_SIZE", "[48,64]", "MODEL.HEATMAP_SIZE", "[12,16]", "MODEL.SIGMA", "1.0",
    ] + narrow_model_opts() + [
        "TRAIN.END_EPOCH", str(epochs), "TRAIN.BATCH_SIZE_PER_GPU", "4", "TRAIN.LR_STEP", "[1]",
        "TRAIN.WARMUP_ITERS", "2", "TEST.BATCH_SIZE_PER_GPU", "8", "TEST.BLUR_KERNEL", "3",
        "GAN.POSE_WIDTHS", "[8,16,16,16,16]", "GAN.POSE_DEC_WIDTHS", "[16,16,8]",
        "GAN.CONF_WIDTHS", "[8,8,8,8,8]", "GAN.CONF_DEC_WIDTHS", "[8,8,8]",
    ]


@pytest.fixture
def repo_view(tmp_path, request):
    """A folder whose tools/, experiments/ and lib/ link to the repository's: a study script started from it takes
    it for the repository root, so the outputs it writes there by default (OmniPose/reports/, or docs/ with --docs)
    land in tmp_path and the real docs/ stays untouched."""
    view = tmp_path / "repo"
    view.mkdir()
    for name in ("tools", "experiments", "lib"):
        (view / name).symlink_to(request.config.rootpath / name, target_is_directory=True)
    return view
