"""Adversarial trainer smoke tests: from scratch, from a pure checkpoint (with D warm-up), exact resume after a
kill, and the generator-only weight files it writes."""
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import QUICKSTART, tiny_opts

from lib.config import load_cfg
from lib.models import build_generator
from lib.utils.checkpoint import CheckpointError, load_weights, read_weight_file
from tools import train, train_AN

ROOT = Path(__file__).resolve().parents[2]


def test_one_epoch_from_scratch(tiny_synthetic, tmp_path):
    out = Path(train_AN.main(["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path, epochs=1)))
    state = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert state["trainer"] == "adversarial" and state["pose_disc"] and state["conf_disc"] and state["d_optimizer"]
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("loss_mse", "loss_adv_pose", "loss_adv_conf", "loss_d_pose", "loss_d_conf", "d_acc_real",
                "d_acc_fake", "fake_pos_rate_pose", "grad_ratio", "AP", "AP (v=1 only)", "acc v=1"):
        assert key in record, key
    # model_best / final_state hold the generator alone: same keys as a pure generator, loadable strictly
    cfg = load_cfg(QUICKSTART, tiny_opts(tiny_synthetic, tmp_path))
    generator = build_generator(cfg)
    load_weights(generator, str(out / "final_state.pth"))
    assert read_weight_file(out / "model_best.pth").keys() == generator.state_dict().keys()


def test_from_pure_checkpoint_with_warmup(tiny_synthetic, tmp_path):
    pure = Path(train.main(["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path / "pure", epochs=1)))
    before = read_weight_file(pure / "model_best.pth")
    out = Path(train_AN.main(["--cfg", QUICKSTART, "--init-from", str(pure / "model_best.pth")]
                             + tiny_opts(tiny_synthetic, tmp_path / "adv", epochs=2) + ["GAN.WARMUP_EPOCHS", "1"]))
    records = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["d_warmup", "adversarial"]
    after = read_weight_file(out / "final_state.pth")
    assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())


def test_default_output_folders(tiny_synthetic, tmp_path, monkeypatch):
    """No OUTPUT_DIR: from scratch lands in OmniPose/trained_GAN, from a generator in OmniPose/trained_GAN_2."""
    monkeypatch.chdir(tmp_path)
    opts = tiny_opts(tiny_synthetic, tmp_path)
    i = opts.index("OUTPUT_DIR")
    del opts[i:i + 2]
    scratch = train_AN.main(["--cfg", str(ROOT / QUICKSTART)] + opts)
    assert Path(scratch).parts[:2] == ("OmniPose", "trained_GAN")
    init = train_AN.main(["--cfg", str(ROOT / QUICKSTART), "--init-from", str(Path(scratch) / "final_state.pth")] + opts)
    assert Path(init).parts[:2] == ("OmniPose", "trained_GAN_2")


def _run(argv, kill_at_epoch=None):
    code = textwrap.dedent(f"""
        import os, signal, sys, torch
        torch.set_num_threads(1)
        from lib.core import trainer
        from tools import train_AN
        original = trainer.train_one_epoch
        def patched(cfg, loader, step, scheduler, epoch, device, num_iters, writer=None, ema=None):
            if {kill_at_epoch!r} is not None and epoch == {kill_at_epoch!r}:
                original(cfg, loader, step, scheduler, epoch, device, 2, writer, ema)
                os.kill(os.getpid(), signal.SIGKILL)
            return original(cfg, loader, step, scheduler, epoch, device, num_iters, writer, ema)
        trainer.train_one_epoch = patched
        train_AN.main(sys.argv[1:])
    """)
    return subprocess.run([sys.executable, "-c", code] + argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("ema", [False, True])
def test_exact_resume_after_kill(tiny_synthetic, tmp_path, ema):
    """Also with the generator's EMA after a discriminator-only warm-up epoch (no generator step, no EMA update)."""
    extra = ["TRAIN.VAL_INTERVAL", "10", "SEED", "7", "DEVICE", "cpu"]  # bit-for-bit: the CPU's kernels (test_train.py)
    if ema:
        extra += ["TRAIN.EMA_DECAY", "0.9", "GAN.WARMUP_EPOCHS", "1"]
    a = _run(["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path / "a", epochs=2) + extra)
    assert a.returncode == 0, a.stderr[-3000:]
    args = ["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path / "b", epochs=2) + extra
    killed = _run(args, kill_at_epoch=1)
    assert killed.returncode == -signal.SIGKILL
    resumed = _run(args + ["AUTO_RESUME", "True"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run = Path("coco") / "omnipose" / "omnipose_quickstart"
    sa = torch.load(tmp_path / "a" / run / "checkpoint.pth", map_location="cpu", weights_only=True)
    sb = torch.load(tmp_path / "b" / run / "checkpoint.pth", map_location="cpu", weights_only=True)
    for part in ("state_dict", "pose_disc", "conf_disc") + (("ema",) if ema else ()):
        assert all(torch.equal(sa[part][k], sb[part][k]) for k in sa[part]), part
    if ema:
        records = [json.loads(line) for line in (tmp_path / "b" / run / "metrics.jsonl").read_text().splitlines()]
        assert int(sb["ema"]["updates"]) == records[1]["iterations"]  # epoch 0 trained the discriminators only
        final = read_weight_file(tmp_path / "b" / run / "final_state.pth")
        assert all(torch.equal(sb["ema"]["module." + k], v) for k, v in final.items())


def test_pure_checkpoint_cannot_resume_adversarial(tiny_synthetic, tmp_path):
    pure = Path(train.main(["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path / "p", epochs=1)))
    with pytest.raises(CheckpointError, match="pure trainer"):
        train_AN.main(["--cfg", QUICKSTART, "--resume", str(pure / "checkpoint.pth")]
                      + tiny_opts(tiny_synthetic, tmp_path / "q", epochs=1))
