"""Pure trainer smoke tests on a tiny synthetic set: outputs, exact resume after SIGKILL, refused resumes."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import QUICKSTART, tiny_opts

from lib.codec import TARGET_CONVENTION
from lib.config import load_cfg
from lib.models import build_generator
from lib.utils import amp as precision
from lib.utils.checkpoint import CheckpointError, WeightFileError, load_weights, read_weight_file, weights_record
from tools import train

ROOT = Path(__file__).resolve().parents[2]


def run_dir(out):
    return Path(out) / "coco" / "omnipose" / "omnipose_quickstart"


def test_two_epoch_run_writes_every_output(tiny_synthetic, tmp_path):
    out = Path(train.main(["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path, epochs=2)))
    assert out == run_dir(tmp_path)
    for name in ("checkpoint.pth", "model_best.pth", "final_state.pth", "config.yaml", "metrics.jsonl",
                 "results/keypoints_val2017_results.json"):
        assert (out / name).is_file(), name
    assert list(out.glob("train_*.log")) and list((out / "tb").iterdir())
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1]
    assert "AP" in records[-1] and "AP (v=1 only)" in records[-1] and records[-1]["loss"] > 0
    # the bare weight files load strictly into a fresh generator
    state = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert state["epoch"] == 2 and state["trainer"] == "pure" and "config" in state and "rng" in state
    final = read_weight_file(out / "final_state.pth")
    assert all(torch.equal(final[k], v) for k, v in state["state_dict"].items())
    # every weight file records the codec's target convention (so evaluation never shifts the flip test)
    for name in ("checkpoint.pth", "model_best.pth", "final_state.pth"):
        assert weights_record(read_weight_file(out / name)) == {"target_convention": TARGET_CONVENTION}, name


def _train_in_subprocess(argv, kill_at_epoch=None):
    """Runs tools/train.py in a fresh process; optionally SIGKILLs itself when epoch `kill_at_epoch` starts."""
    code = textwrap.dedent(f"""
        import os, signal, sys, torch
        torch.set_num_threads(1)
        from lib.core import trainer
        from tools import train
        original = trainer.train_one_epoch
        def patched(cfg, loader, step, scheduler, epoch, device, num_iters, writer=None, ema=None):
            if {kill_at_epoch!r} is not None and epoch == {kill_at_epoch!r}:
                # run two iterations, then die in the middle of the epoch
                original(cfg, loader, step, scheduler, epoch, device, 2, writer, ema)
                os.kill(os.getpid(), signal.SIGKILL)
            return original(cfg, loader, step, scheduler, epoch, device, num_iters, writer, ema)
        trainer.train_one_epoch = patched
        train.main(sys.argv[1:])
    """)
    return subprocess.run([sys.executable, "-c", code] + argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("ema", ["0.0", "0.9"])
def test_resume_after_sigkill_is_exact(tiny_synthetic, tmp_path, ema):
    """Also with the weights' EMA (TRAIN.EMA_DECAY): its average and update count resume exactly too."""
    # On the CPU: bit-for-bit equality is a property of its deterministic kernels; CUDA's (cudnn autotuning, atomics
    # in backward) differ in the last bits between two runs, resumed or not (docs/training.md).
    opts = ["TRAIN.VAL_INTERVAL", "10", "SEED", "5", "TRAIN.EMA_DECAY", ema, "TRAIN.EMA_VALIDATE_RAW", "True",
            "DEVICE", "cpu"]
    full = _train_in_subprocess(["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path / "a", epochs=3) + opts)
    assert full.returncode == 0, full.stderr[-3000:]

    args = ["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path / "b", epochs=3) + opts
    killed = _train_in_subprocess(args, kill_at_epoch=1)
    assert killed.returncode == -signal.SIGKILL
    ckpt_b = run_dir(tmp_path / "b") / "checkpoint.pth"
    assert torch.load(ckpt_b, map_location="cpu", weights_only=True)["epoch"] == 1  # epoch 0 done, 1 interrupted
    assert not list(run_dir(tmp_path / "b").glob("*.tmp*")), "a kill must not leave temporary files behind"

    resumed = _train_in_subprocess(args + ["AUTO_RESUME", "True"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout + resumed.stderr
    a = read_weight_file(run_dir(tmp_path / "a") / "final_state.pth")
    b = read_weight_file(run_dir(tmp_path / "b") / "final_state.pth")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run diverged from the uninterrupted one"
    records = [json.loads(l) for l in (run_dir(tmp_path / "b") / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2]
    # With EMA the released weights are the average, the raw ones are validated beside them; without, raw only.
    assert ("raw AP" in records[-1]) == (ema != "0.0") and 0.0 <= records[-1]["AP"] <= 1.0
    if ema != "0.0":
        state = torch.load(ckpt_b, map_location="cpu", weights_only=True)
        assert int(state["ema"]["updates"]) == 3 * records[-1]["iterations"]
        averaged = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
        assert all(torch.equal(averaged[k], b[k]) for k in b), "final_state.pth must hold the EMA weights"


def test_resume_refuses_other_model_config(tiny_synthetic, tmp_path):
    train.main(["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path, epochs=1))
    ckpt = str(run_dir(tmp_path) / "checkpoint.pth")
    with pytest.raises(CheckpointError, match=r"another model config[\s\S]*STAGE4"):
        train.main(["--cfg", QUICKSTART, "--resume", ckpt] + tiny_opts(tiny_synthetic, tmp_path / "x", epochs=2)
                   + ["MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[8,16,32,48]"])


def test_resume_refuses_corrupt_checkpoint(tiny_synthetic, tmp_path):
    bad = tmp_path / "checkpoint.pth"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(WeightFileError, match=str(bad)):
        train.main(["--cfg", QUICKSTART, "--resume", str(bad)] + tiny_opts(tiny_synthetic, tmp_path, epochs=1))


def test_resume_refuses_bare_weights(tiny_synthetic, tmp_path):
    out = Path(train.main(["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path, epochs=1)))
    with pytest.raises(CheckpointError, match="--init-from"):
        train.main(["--cfg", QUICKSTART, "--resume", str(out / "final_state.pth")]
                   + tiny_opts(tiny_synthetic, tmp_path / "y", epochs=1))


def test_init_from_loads_strictly(tiny_synthetic, tmp_path):
    out = Path(train.main(["--cfg", QUICKSTART] + tiny_opts(tiny_synthetic, tmp_path / "p", epochs=1)))
    out2 = Path(train.main(["--cfg", QUICKSTART, "--init-from", str(out / "final_state.pth")]
                              + tiny_opts(tiny_synthetic, tmp_path / "q", epochs=1)))
    assert (out2 / "final_state.pth").is_file()
    with pytest.raises(RuntimeError, match="NUM_JOINTS|joints"):
        train.main(["--cfg", QUICKSTART, "--init-from", str(out / "final_state.pth")]
                   + tiny_opts(tiny_synthetic, tmp_path / "r", epochs=1) + ["MODEL.NUM_JOINTS", "16"])


@pytest.mark.parametrize("amp,channels_last", [("False", "False"), ("True", "True")])
def test_precision_and_memory_format_variants_train_and_load(tiny_synthetic, tmp_path, amp, channels_last):
    """fp32 and AMP (bf16 autocast on a CPU that has it, else fp32 with a warning) with channels_last both train,
    evaluate, and write weights that load strictly into a fresh, contiguous generator."""
    opts = tiny_opts(tiny_synthetic, tmp_path, epochs=1) + ["AMP", amp, "CHANNELS_LAST", channels_last]
    out = Path(train.main(["--cfg", QUICKSTART] + opts))
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["loss"] > 0 and 0.0 <= record["AP"] <= 1.0
    fresh = build_generator(load_cfg(QUICKSTART, opts))
    load_weights(fresh, out / "final_state.pth")
    assert all(p.is_contiguous() for p in fresh.parameters())


def test_training_amp_follows_the_device(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    on, off = load_cfg(None, ["AMP", "True"]), load_cfg(None, ["AMP", "False"])
    assert precision.training_amp_enabled(on, cuda) and not precision.training_amp_enabled(off, cuda)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.training_amp_enabled(on, cpu) and not precision.training_amp_enabled(off, cpu)
    with precision.training_autocast(on, cpu):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)  # emulated bf16 would be slower: fp32
    assert not precision.training_amp_enabled(on, cpu)
