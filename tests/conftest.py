"""Test-wide fixtures: the real-photo fixture folder, the released-weights layout listings, a tiny synthetic set.

A few tests check behaviour on real photos (OCHuman and MPII images with their annotations, a short video) or
against listings of the released weight files; neither is part of the repository. tests/helpers.py says where they
are looked for (an environment variable each, with a default beside the repository). Where a folder is absent, the
tests that need it skip with a reason naming the folder and the variable; under CI=true they fail instead, so CI
runs everything. Every other test makes the data it needs.
"""
import os

import pytest

from lib.dataset.synthetic import generate
from tests.helpers import FIXTURES_VARIABLE, REFERENCE_VARIABLE, fixtures_folder, reference_folder


def _require(folder, variable, what, needed):
    missing = [name for name in needed if not (folder / name).exists()]
    if missing:
        reason = (f"{what} not found in {folder} (missing {', '.join(missing)}); set {variable} to the folder that "
                  "holds them")
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session")
def real_data():
    """The real-photo fixture folder (ochuman/, mpii/, video/), or a named skip."""
    return _require(fixtures_folder(), FIXTURES_VARIABLE, "real-photo fixtures",
                    ("ochuman/test_ochuman.json", "mpii/test_mpii.json", "video/demo.mp4"))


@pytest.fixture(scope="session")
def reference_listings():
    """The folder with the released weight files' state_dict listings, or a named skip."""
    return _require(reference_folder(), REFERENCE_VARIABLE, "state_dict listings of the released weights",
                    ("omnipose_w48_waspv2_state_dict.txt", "omnipose_w48_waspv1_state_dict.txt",
                     "pose_hrnet_w32_state_dict.txt", "pose_hrnet_w48_state_dict.txt"))


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory):
    """A tiny synthetic COCO-format set (20 train, 6 val images), made once per session."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(str(root), n_train=20, n_val=6, seed=3)
    return root
