"""Are the whole model's bf16 weight gradients on this CPU as good as bf16 can be?

One training batch (real crops of the configured dataset), the configured generator as the trainers build it, its
loss: every parameter's gradient under CPU bf16 autocast (oneDNN, channels_last and contiguous) is compared with
fp32's, next to the same bf16 autocast with oneDNN switched off (torch's own kernels) as the baseline of plain bf16
rounding. A kernel that computes wrong gradients (as tools/dev/probe_precision.py finds layer by layer) shows as a
parameter whose oneDNN error is far above the baseline's; equal columns mean bf16 rounding, not a broken kernel.

    python tools/dev/bf16_gradient_check.py --cfg experiments/synthetic/omnipose_quickstart.yaml [--batches 2] \
        [KEY VALUE ...]

Prints the parameters with the largest oneDNN/baseline ratio and the medians; exits 1 on a non-finite gradient.
"""
import argparse
import statistics
import sys

import torch
from torch.utils.data import default_collate

from lib.config import load_cfg
from lib.core.function import build_train_generator
from lib.core.loss import build_loss
from lib.dataset import build_dataset
from lib.dataset.loader import seed_everything

VARIANTS = (("oneDNN bf16 channels_last", True, True), ("oneDNN bf16 contiguous", False, True),
            ("bf16 without oneDNN (baseline)", False, False))


def gradients(model, criterion, batch, amp, channels_last, onednn):
    """{parameter name: gradient} of one forward + backward from the model's current weights (restored after)."""
    images, target, weight = batch
    state = {k: v.clone() for k, v in model.state_dict().items()}  # BatchNorm statistics move in train mode
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt).train()
    model.zero_grad(set_to_none=True)
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = onednn
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            output = model(images.contiguous(memory_format=fmt))
        criterion(output.float(), target, weight).backward()
    finally:
        torch.backends.mkldnn.enabled = previous
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.load_state_dict(state)
    return grads


def compare(cfg, batches):
    """{parameter: [(relative error vs fp32, finite) per variant, worst over batches]}."""
    torch.set_flush_denormal(True)
    seed_everything(cfg.SEED)
    model, criterion = build_train_generator(cfg), build_loss(cfg)
    dataset = build_dataset(cfg, is_train=True)
    size = cfg.TRAIN.BATCH_SIZE_PER_GPU
    if len(dataset) < size * batches:
        raise ValueError(f"{cfg.DATASET.ROOT}: {len(dataset)} training samples, need {size * batches} "
                         f"(--batches {batches} of TRAIN.BATCH_SIZE_PER_GPU {size})")
    worst = {}
    for b in range(batches):
        # (input, target, target_weight) of each sample, batched as the trainers' DataLoader batches them
        batch = default_collate([dataset[i][:3] for i in range(b * size, (b + 1) * size)])
        reference = gradients(model, criterion, batch, False, False, True)
        runs = [gradients(model, criterion, batch, True, cl, onednn) for _, cl, onednn in VARIANTS]
        for name, ref in reference.items():
            scale = ref.norm().item() + 1e-12
            row = [((g[name] - ref).norm().item() / scale, bool(torch.isfinite(g[name]).all())) for g in runs]
            old = worst.get(name)
            worst[name] = row if old is None else [(max(a[0], c[0]), a[1] and c[1]) for a, c in zip(old, row)]
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--top", type=int, default=10, help="parameters listed (largest oneDNN/baseline ratio)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    args = parser.parse_args(argv)
    worst = compare(load_cfg(args.cfg, args.opts), args.batches)
    ratio = lambda row: max(row[0][0], row[1][0]) / max(row[2][0], 1e-6)  # noqa: E731
    print("| parameter | " + " | ".join(v[0] for v in VARIANTS) + " |\n|---|---|---|---|")
    for name, row in sorted(worst.items(), key=lambda kv: -ratio(kv[1]))[:args.top]:
        print(f"| {name} | " + " | ".join(f"{err:.3g}" + ("" if ok else " NON-FINITE") for err, ok in row) + " |")
    medians = [statistics.median(row[i][0] for row in worst.values()) for i in range(len(VARIANTS))]
    print(f"median relative error vs fp32 over {len(worst)} parameters: "
          + ", ".join(f"{v[0]} {m:.3g}" for v, m in zip(VARIANTS, medians)))
    finite = all(ok for row in worst.values() for _, ok in row)
    if not finite:
        print("non-finite gradients under bf16: see NON-FINITE above")
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
