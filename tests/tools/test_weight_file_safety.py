"""Weight files cannot run code: every file the trainers write loads with torch.load(weights_only=True), and a crafted
pickle given to any tool through any of its loading paths is refused (exit 2, one `error:` line naming the file) with
its payload never run, unless the user names the file in TRUSTED_PICKLE_FILES."""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import QUICKSTART, tiny_opts

from lib.config import load_cfg
from lib.models import build_generator
from tests.helpers import write_crafted_pickle
from tools import train, train_AN

ROOT = Path(__file__).resolve().parents[2]
SHORT = ["TRAIN.MAX_ITERS_PER_EPOCH", "2"]


@pytest.mark.parametrize("trainer", [train, train_AN], ids=["pure", "adversarial"])
def test_every_file_a_run_writes_loads_with_weights_only(tiny_synthetic, tmp_path, trainer):
    """checkpoint.pth (with the EMA state and, adversarial, both discriminators), model_best.pth, final_state.pth."""
    opts = tiny_opts(tiny_synthetic, tmp_path, epochs=1) + SHORT + ["TRAIN.EMA_DECAY", "0.9"]
    run = Path(trainer.main(["--cfg", QUICKSTART] + opts))
    written = sorted(p.name for p in run.rglob("*.pth"))
    assert written == ["checkpoint.pth", "final_state.pth", "model_best.pth"]
    for name in written:
        torch.load(run / name, map_location="cpu", weights_only=True)  # raises on anything but plain data
    state = torch.load(run / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert state["ema"] and any(torch.is_tensor(v) for v in state["ema"].values())
    if trainer is train_AN:
        assert state["pose_disc"] and state["conf_disc"] and state["d_optimizer"]


def _tool(args):
    """Runs a tool (args[0], relative to the repository root) as a user would, in its own process."""
    return subprocess.run([sys.executable] + [str(a) for a in args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))


def _assert_refused(done, hostile, marker):
    assert not marker.exists(), "the crafted pickle's payload ran"
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [done.stderr.strip().splitlines()[-1]], done.stderr  # one error line, the last one
    assert errors[0].startswith(f"error: {hostile}: refused") and "TRUSTED_PICKLE_FILES" in errors[0]


@pytest.fixture
def hostile(tmp_path):
    """(path of a crafted pickle holding real tiny-generator weights, the marker its payload would create)."""
    marker = tmp_path / "payload_ran"
    cfg = load_cfg(QUICKSTART, tiny_opts(tmp_path, tmp_path))
    path = tmp_path / "hostile.pth"
    write_crafted_pickle(path, marker, build_generator(cfg).state_dict())
    return path, marker


def _loading_paths(data, out, hostile, image_folder):
    """{name: command line} of every way a tool reads a weight file, each given `hostile`."""
    tiny = tiny_opts(data, out, epochs=1) + SHORT
    cfg = ["--cfg", QUICKSTART]
    run_dir = out / "coco" / "omnipose" / "omnipose_quickstart"
    return {
        "test.py TEST.MODEL_FILE": ["tools/test.py", *cfg, *tiny, "TEST.MODEL_FILE", hostile],
        "demo.py --weights": ["tools/demo.py", *cfg, "--weights", hostile, "--input", image_folder, "--whole-image",
                              "--out-dir", out, *tiny],
        "export_onnx.py --weights": ["tools/export_onnx.py", *cfg, "--weights", hostile, "--out", out / "m.onnx"],
        "train.py --init-from": ["tools/train.py", *cfg, "--init-from", hostile, *tiny],
        "train.py --resume": ["tools/train.py", *cfg, "--resume", hostile, *tiny],
        "train.py AUTO_RESUME": ("copy to", run_dir / "checkpoint.pth",
                                 ["tools/train.py", *cfg, *tiny, "AUTO_RESUME", "True"]),
        "train.py MODEL.PRETRAINED": ["tools/train.py", *cfg, *tiny, "MODEL.PRETRAINED", hostile],
        "train_AN.py --init-from": ["tools/train_AN.py", *cfg, "--init-from", hostile, *tiny],
        "train_AN.py GAN.GENERATOR_INIT": ["tools/train_AN.py", *cfg, *tiny, "GAN.GENERATOR_INIT", hostile],
        "train_AN.py --resume": ["tools/train_AN.py", *cfg, "--resume", hostile, *tiny],
    }


LOADING_PATHS = list(_loading_paths(*[Path("unused")] * 4))  # the names, for the test ids


@pytest.mark.parametrize("path_name", LOADING_PATHS)
def test_crafted_pickle_never_runs_through_any_loading_path(tiny_synthetic, tmp_path, hostile, path_name):
    path, marker = hostile
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "one.jpg"), np.full((64, 48, 3), 127, np.uint8))
    command = _loading_paths(tiny_synthetic, tmp_path / "out", path, images)[path_name]
    if command[0] == "copy to":  # the file sits where AUTO_RESUME looks for a checkpoint
        _, target, command = command
        target.parent.mkdir(parents=True)
        target.write_bytes(path.read_bytes())
        path = target
    _assert_refused(_tool(command), path, marker)


def test_a_pickled_file_loads_only_when_named_trusted(tiny_synthetic, tmp_path):
    """A legitimate old-style file (an argparse.Namespace and a numpy scalar beside the weights): refused by default,
    loaded with a warning once TRUSTED_PICKLE_FILES names it (here spelt another way: paths compare resolved)."""
    cfg = load_cfg(QUICKSTART, tiny_opts(tiny_synthetic, tmp_path))
    legacy = tmp_path / "legacy.pth"
    torch.save({"state_dict": build_generator(cfg).state_dict(), "args": argparse.Namespace(lr=1e-3),
                "perf": np.float64(0.5)}, legacy)
    command = ["tools/train.py", "--cfg", QUICKSTART, "--init-from", legacy,
               *tiny_opts(tiny_synthetic, tmp_path / "out", epochs=1), *SHORT]
    refused = _tool(command)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1].startswith(f"error: {legacy}: refused")

    (tmp_path / "sub").mkdir()
    trusted = _tool(command + ["TRUSTED_PICKLE_FILES", f"['{tmp_path / 'sub' / '..' / 'legacy.pth'}']"])
    assert trusted.returncode == 0, trusted.stderr[-3000:]
    log = trusted.stdout + trusted.stderr
    assert "reading it with Python's full unpickler" in log and f"initialised the generator from {legacy}" in log
