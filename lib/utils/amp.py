"""Mixed precision for training and evaluation forwards: which autocast runs where, and a convolution that stays
correct under CPU bf16 autocast.

    with training_autocast(cfg, device):   # every training forward
        ...
    with autocast_for(device, cfg.AMP):     # evaluation forwards

Whether a requested bf16 + channels_last combination is safe to train on this CPU is decided once per run by
lib.core.precision_guard.
"""
import functools
from contextlib import nullcontext

import torch


def autocast_for(device, enabled):
    """Evaluation autocast: fp16 on CUDA when AMP is on; fp32 on CPU, where bf16's 8-bit mantissa would quantise
    the heatmaps that the sub-pixel decoding reads (and evaluation is a small part of a run)."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return nullcontext()


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16():
    """AVX512-BF16 or AMX: CPUs where oneDNN runs bf16 convolutions natively (elsewhere bf16 is emulated, slower).
    Cached: training asks every iteration."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def training_amp_enabled(cfg, device):
    """Whether training forwards run under autocast: AMP on CUDA (fp16 + GradScaler), or AMP on a CPU with native
    bf16 (bf16 needs no scaler; about 1.5x faster training of the quickstart model on our 2-core CPU)."""
    return bool(cfg.AMP) and (device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()))


def training_autocast(cfg, device):
    """Autocast for training forwards: fp16 on CUDA, bf16 on CPU (torch.autocast's defaults), or a no-op."""
    return torch.autocast(device_type=device.type) if training_amp_enabled(cfg, device) else nullcontext()


def bf16_safe_conv(conv, x):
    """`conv(x)`, except that a strided conv on a CPU input of width 1 runs in fp32 while bf16 autocast is on.

    Why: torch 2.13.0+cpu's oneDNN bf16 weight gradient of a 3x3 conv with stride 2 is garbage (values up to 1e37,
    sometimes inf/NaN, different on every run: it reads memory it never wrote) when the input is one column wide;
    the forward and fp32 are right. Measured on a 2-core Intel Xeon with AMX and seen in CI on another CPU.
    Discriminators meet such inputs on heatmaps 8 or fewer columns wide (E4 of 32x24 inputs); at real sizes
    (heatmaps >= 12 wide) this is plain `conv(x)`. tests/utils/test_amp.py checks the gradient.
    """
    if (x.device.type == "cpu" and x.shape[-1] == 1 and max(conv.stride) > 1
            and torch.is_autocast_enabled("cpu")):
        with torch.autocast("cpu", enabled=False):
            return conv(x.float())
    return conv(x)


def amp_mode(cfg, device):
    """The training precision actually used: 'fp16 autocast + GradScaler', 'bf16 autocast' or 'fp32'."""
    if not training_amp_enabled(cfg, device):
        return "fp32"
    return "fp16 autocast + GradScaler" if device.type == "cuda" else "bf16 autocast"
