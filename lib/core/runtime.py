"""Device set-up shared by every tool that runs a model: CPU and cudnn switches, determinism, the training
precision (lib.core.precision_guard), model placement, and the environment record a run keeps."""
import logging
import os

import torch

from lib.core import precision_guard
from lib.utils.amp import cpu_has_native_bf16
from lib.utils.environment import describe_environment

logger = logging.getLogger(__name__)


def configure_torch(cfg, device, training=False):
    """Denormal flushing on CPU (random-init HRNets are 10-25x slower without it), cudnn, determinism; with
    `training`, the training precision (precision_guard.guard_training_precision: where bf16 + channels_last can
    crash this CPU, a cached one-time probe decides, and a fallback is written into cfg.AMP / cfg.CHANNELS_LAST).

    Returns:
        precision_guard.PrecisionChoice (what the run computes in, what was asked for, what the guard did).
    """
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    else:
        torch.backends.cudnn.benchmark = cfg.CUDNN.BENCHMARK and not cfg.DETERMINISTIC
        torch.backends.cudnn.deterministic = cfg.CUDNN.DETERMINISTIC or cfg.DETERMINISTIC
        torch.backends.cudnn.enabled = cfg.CUDNN.ENABLED
    if cfg.DETERMINISTIC:
        if device.type == "cuda":
            # cuBLAS is deterministic only with a fixed workspace; read when its handle is made (first matmul).
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    if training:
        if cfg.AMP and device.type == "cpu" and not cpu_has_native_bf16():
            logger.warning("AMP is on but this CPU has no native bf16 (AVX512-BF16 or AMX): training in fp32")
        return precision_guard.guard_training_precision(cfg, device)
    return precision_guard.current_choice(cfg, device)


def run_environment(device, precision_choice):
    """describe_environment with the precision this process runs in."""
    return describe_environment(device, precision_choice.as_dict())


def place_model(model, cfg, device):
    """Moves a model to `device`, in channels_last memory format when CHANNELS_LAST (values unchanged)."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if cfg.CHANNELS_LAST else model
