"""Speed and memory measurements (never timed tests): training step throughput of the generator alone and with the
discriminators, inference throughput with and without the flip test, data loading throughput, peak memory.

    python tools/analysis/benchmark.py --cfg experiments/synthetic/omnipose_quickstart.yaml
    python tools/analysis/benchmark.py --cfg experiments/coco/omnipose_w48_384x288.yaml --batch 16 --amp   # on a GPU
Prints a markdown table; --json writes the numbers too. Medians over --iters timed iterations after --warmup.
"""
import json
import resource
import statistics
import time

import torch

from lib import cli
from lib.config import load_cfg
from lib.core.runtime import configure_torch, place_model
from lib.core.function_AN import AdversarialStep
from lib.core.inference import predict_heatmaps
from lib.core.loss import build_loss
from lib.models import build_generator
from lib.models.discriminator import build_discriminators
from lib.utils.dist import init_distributed
from lib.utils.amp import autocast_for, training_amp_enabled, training_autocast
from lib.utils.environment import cpu_info
from lib.utils.errors import as_user_errors, run_main


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(fn, device, warmup, iters):
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synthetic_batch(cfg, batch, device):
    w, h = cfg.MODEL.IMAGE_SIZE
    hw, hh = cfg.MODEL.HEATMAP_SIZE
    joints = cfg.MODEL.NUM_JOINTS
    images = torch.randn(batch, 3, h, w, device=device)
    target = torch.rand(batch, joints, hh, hw, device=device)
    weight = torch.ones(batch, joints, 1, device=device)
    joints_hm = torch.rand(batch, joints, 2, device=device) * torch.tensor([hw, hh], device=device)
    area_hm = torch.full((batch,), float(hw * hh) / 2, device=device)
    return images, target, weight, joints_hm, area_hm


def main(argv=None):
    parser = cli.ArgumentParser(__doc__)
    cli.add_device(parser)
    parser.add_argument("--batch", type=int, default=0, help="batch size (default TRAIN.BATCH_SIZE_PER_GPU)")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--amp", action="store_true", help="set AMP True (fp16 on CUDA, bf16 on a CPU that has it)")
    parser.add_argument("--data", action="store_true", help="also time the training data loader (needs the dataset)")
    parser.add_argument("--json", default="", help="also write the results here")
    args = cli.parse(parser, argv)
    cfg = load_cfg(args.cfg, args.opts + (["AMP", "True"] if args.amp else []) + cli.device_override(args))
    if args.batch < 0 or args.iters < 1 or args.warmup < 0:
        parser.error(f"--batch {args.batch}, --iters {args.iters}, --warmup {args.warmup}: expected --batch >= 0 "
                     "(0: TRAIN.BATCH_SIZE_PER_GPU), --iters >= 1, --warmup >= 0")
    with cli.device_errors():
        device = init_distributed(cfg.DEVICE)
    choice = configure_torch(cfg, device, training=True)  # the training precision guard, as in tools/train*.py
    batch = args.batch or cfg.TRAIN.BATCH_SIZE_PER_GPU
    amp = training_amp_enabled(cfg, device)
    results = {"device": str(device), "cpu": cpu_info()["model"], "torch": torch.__version__,
               "threads": torch.get_num_threads(), "batch": batch, "input": list(cfg.MODEL.IMAGE_SIZE),
               "amp": choice.amp, "channels_last": cfg.CHANNELS_LAST, "precision_guard": choice.guard}

    generator = place_model(build_generator(cfg), cfg, device)
    criterion = build_loss(cfg)
    optimizer = torch.optim.Adam([p for p in generator.parameters() if p.requires_grad], lr=1e-4)
    images, target, weight, joints_hm, area_hm = synthetic_batch(cfg, batch, device)

    def pure_step():
        with training_autocast(cfg, device):
            loss = criterion(generator(images), target, weight)  # fp32 inside; a stacked model's list: all stacks
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    generator.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t = _median_seconds(pure_step, device, args.warmup, args.iters)
    results["train_pure_img_s"] = batch / t
    if device.type == "cuda":
        results["train_pure_peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30

    pose_disc, conf_disc = build_discriminators(cfg)
    pose_disc, conf_disc = (place_model(d, cfg, device) if d is not None else None for d in (pose_disc, conf_disc))
    d_params = [p for d in (pose_disc, conf_disc) if d is not None for p in d.parameters()]
    if d_params:
        d_optimizer = torch.optim.Adam(d_params, lr=1e-4, betas=(0.5, 0.999))
        step = AdversarialStep(generator, pose_disc, conf_disc, optimizer, d_optimizer, criterion, cfg.GAN,
                               loss_type=cfg.LOSS.TYPE, device_type=device.type, amp=amp)
        batch_tuple = (images, target, weight, joints_hm, area_hm)
        t = _median_seconds(lambda: step(batch_tuple, 1.0), device, args.warmup, args.iters)
        results["train_adversarial_img_s"] = batch / t
        results["adversarial_overhead"] = results["train_pure_img_s"] / results["train_adversarial_img_s"] - 1

    generator.eval()
    for flip in (False, True):
        pairs = [(1, 2), (3, 4)] if flip else None
        with autocast_for(device, amp):  # as evaluation: fp32 on CPU
            t = _median_seconds(lambda: predict_heatmaps(generator, images, pairs), device, args.warmup, args.iters)
        results[f"infer_{'flip' if flip else 'plain'}_img_s"] = batch / t

    if args.data:
        from lib.dataset.loader import build_loader
        from lib.dataset import build_dataset

        with as_user_errors(ValueError):  # the dataset's malformed-file errors name the file
            loader = build_loader(build_dataset(cfg, is_train=True), cfg, True, device)
        iterator = iter(loader)
        next(iterator)
        start = time.perf_counter()
        count = 0
        for _ in range(args.iters):
            count += next(iterator)[0].shape[0]
        results["data_img_s"] = count / (time.perf_counter() - start)
    results["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20

    print("| measure | value |\n|---|---|")
    for key, value in results.items():
        print(f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    run_main(main)
