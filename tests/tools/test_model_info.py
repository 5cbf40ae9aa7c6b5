"""tools/analysis/model_info.py: the printed report, and FlopCounterMode's counts checked against an independent
count."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from lib.config import load_cfg
from lib.models import build_generator
from tools.analysis.model_info import main
from tests.helpers import narrow_model_opts

torch.set_flush_denormal(True)
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
TRAIN_YAML = str(REPO / "experiments" / "coco" / "omnipose_w48_384x288_train.yaml")

NARROW = narrow_model_opts() + [
    "MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]",
]


def conv_macs_by_hooks(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of every conv, counted from the layer shapes: a conv does (C_in/groups * k*k) per output
    element; a transposed conv does (C_out/groups * k*k) per input element."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):
            total += inputs[0].numel() * module.out_channels // module.groups * k
        else:
            total += output.numel() * module.in_channels // module.groups * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("head", ["waspv2", "waspv1"])
def test_narrow_report(capsys, head):
    opts = NARROW + ["MODEL.EXTRA.HEAD", head]
    result = main(["--cfg", TRAIN_YAML, "--device", "cpu", "--runs", "2", "--warmup", "1"] + opts)
    out = capsys.readouterr().out

    model = build_generator(load_cfg(TRAIN_YAML, opts)).eval()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert (result["params"], result["trainable"]) == (total, trainable)
    assert f"parameters:  {total:,}" in out and f"trainable {trainable:,}" in out
    assert result["output_shape"] == (1, 17, 16, 16) and "output:      1x17x16x16" in out
    # FlopCounterMode (transposed convs included) agrees with a count from the layer shapes; the narrow net
    # has no matmuls.
    assert result["macs"] == conv_macs_by_hooks(model, torch.randn(1, 3, 64, 64))
    assert result["flops"] == 2 * result["macs"]
    assert "FLOPs = 2 x multiply-adds" in out and "GMACs" in out
    assert len(result["times_s"]) == 2 and "forward:     median" in out


def test_w48_train_yaml_prints_68_14m(capsys):
    result = main(["--cfg", TRAIN_YAML, "--no-time"])
    out = capsys.readouterr().out
    assert result["params"] == 68_141_357
    assert "(68.14M)" in out
    assert result["output_shape"] == (1, 17, 96, 72)
    # Reference: 37.52 GMACs for the original, whose last stage-4 module also computes its unused fuse branches
    # 1-3 (~0.56 GMACs); this implementation skips them. Stages 2 and 3 (deconvs included) match it exactly.
    assert result["macs"] / 1e9 == pytest.approx(37.52 - 0.56, abs=0.01)
    assert result["per_module"]["stage2"] / 1e9 == pytest.approx(2.412, abs=0.001)
    assert result["per_module"]["stage3"] / 1e9 == pytest.approx(15.195, abs=0.001)
    assert result["times_s"] == []
