"""Parameters, compute and forward time of the generator a config builds.

    python tools/analysis/model_info.py --cfg experiments/coco/omnipose_w48_384x288_train.yaml
    python tools/analysis/model_info.py --cfg experiments/coco/omnipose_w48_384x288.yaml MODEL.EXTRA.HEAD waspv1
    python tools/analysis/model_info.py --cfg experiments/coco/hrnet_w32_256x192.yaml --no-time  # counts only, no weights

FLOPs come from torch.utils.flop_counter.FlopCounterMode, which counts convolutions (transposed included, over the
input area, which is exact) and matrix products only, with FLOPs = 2 x multiply-adds; BatchNorm, ReLU, additions and
pooling are not counted. OmniPose's last stage-4 module does not compute its unused fuse branches (0.56 GMACs at
384x288), so the total is that much below the reference figure for the original code (37.52 GMACs).
"""
import logging
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from lib import cli
from lib.config import load_cfg
from lib.core.predictor import resolve_device
from lib.models import build_generator
from lib.models.hrnet_common import count_parameters
from lib.utils.errors import run_main


def parse_args(argv=None):
    parser = cli.ArgumentParser(__doc__)
    cli.add_device(parser)
    parser.add_argument("--runs", type=int, default=9, help="timed forward passes (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forward passes first")
    parser.add_argument(
        "--no-time", action="store_true", help="skip timing; count on the meta device (no weights are allocated)"
    )
    return cli.parse(parser, argv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> dict:
    """Prints the report; returns its numbers (params, trainable, flops, macs, output_shape, times_s, per_module)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = load_cfg(args.cfg, args.opts)
    with cli.device_errors():
        device = torch.device("meta") if args.no_time else resolve_device(args.device, cfg.DEVICE)
    if device.type == "cpu":
        # Random-init weights decay into denormal floats, which makes CPU kernels 10-25x slower.
        torch.set_flush_denormal(True)
    with torch.device(device):
        model = build_generator(cfg)
    model.eval()
    width, height = cfg.MODEL.IMAGE_SIZE
    x = torch.randn(1, 3, height, width, device=device)

    total, trainable = count_parameters(model)
    frozen_names = set(model.frozen_parameter_names())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(x)
    flops = counter.get_total_flops()
    root = type(model).__name__
    per_module = {
        name[len(root) + 1:]: sum(ops.values()) / 2
        for name, ops in counter.get_flop_counts().items()
        if name.startswith(root + ".") and name.count(".") == 1
    }

    times = []
    if not args.no_time:
        with torch.no_grad():
            for _ in range(args.warmup):
                model(x)
            for _ in range(max(args.runs, 1)):
                _sync(device)
                start = time.perf_counter()
                model(x)
                _sync(device)
                times.append(time.perf_counter() - start)

    print(f"config:      {args.cfg} {' '.join(args.opts)}".rstrip())
    print(f"model:       {cfg.MODEL.NAME}" + (f" ({cfg.MODEL.EXTRA.HEAD})" if cfg.MODEL.NAME == "omnipose" else ""))
    frozen = (f"; frozen by design {total - trainable:,} in {len(frozen_names)} tensors (Gaussian filters, unused "
              "last-module fuse layers)") if frozen_names else ""
    print(f"parameters:  {total:,} ({total / 1e6:.2f}M); trainable {trainable:,} ({trainable / 1e6:.2f}M){frozen}")
    print(f"input:       1x3x{height}x{width}")
    print(f"output:      {'x'.join(map(str, out.shape))}")
    print(f"compute:     {flops / 1e9:.2f} GFLOPs = {flops / 2e9:.2f} GMACs "
          "(FLOPs = 2 x multiply-adds; convs and matmuls only, counted by torch FlopCounterMode)")
    for name, macs in per_module.items():
        print(f"  {name:<12} {macs / 1e9:8.3f} GMACs")
    # Transitions are ModuleLists (never called themselves), so their convs only show up in the total.
    print(f"  {'transitions':<12} {(flops / 2 - sum(per_module.values())) / 1e9:8.3f} GMACs (remainder)")
    if times:
        threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
        print(f"forward:     median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}) "
              f"over {len(times)} runs after {args.warmup} warm-up; batch 1, eval, no_grad, {device}{threads}")
    return {
        "params": total,
        "trainable": trainable,
        "flops": flops,
        "macs": flops / 2,
        "output_shape": tuple(out.shape),
        "times_s": times,
        "per_module": per_module,
    }


if __name__ == "__main__":
    run_main(main)
