r"""Calibrates the adversarial weights GAN.LAMBDA_P / GAN.LAMBDA_C by the gradient ratio:
rho = ||d(lambda * L_adv)/d output|| / ||d L_mse/d output|| should sit in 0.05-0.2.

    python tools/studies/calibrate_lambda.py --cfg experiments/synthetic/omnipose_benchmark.yaml --d-warmup-iters 50 \
        --iters 60
    python tools/studies/calibrate_lambda.py --cfg X --init-from OmniPose/comparison/seed0/OmniPose/.../model_best.pth \
        --scales 0.3 1 3 --d-warmup-iters 50 --iters 60 --json OmniPose/calibration.json TRAIN.LR 0.0004

For each multiplier m of --scales it trains, in this process, --d-warmup-iters discriminator-only iterations (the
generator frozen, as in GAN.WARMUP_EPOCHS) and then --iters adversarial iterations with LAMBDA_P and LAMBDA_C both
multiplied by m: the trainer's own models, optimizers, data loader, epoch loop and AdversarialStep
(lib/core/trainer.py, lib/core/function_AN.py), ramp 1 (GAN.RAMP_EPOCHS 0), measuring rho every --every adversarial iterations. Every
multiplier starts from the same seed (same initial weights, same batches, and the warm-up does not depend on lambda),
so the multipliers are compared pair-wise: their first measurements differ by the factor m (exactly, up to the
rounding of bf16 autocast where the config trains in it).
rho depends strongly on how much the discriminators have learned (an untrained D gives the generator almost no
gradient), so warm D up, or calibrate from the generator a run starts from (--init-from), and read the last-quarter
mean next to the median and mean: it shows the drift. The multiplier whose --by statistic lies in the band (nearest
its geometric centre) is named; when none does, the tool says which way to go and estimates a multiplier from the
measured ones (rho grows about linearly with lambda).
Trailing KEY VALUE pairs override the config, as for the trainers (e.g. a fine-tune's TRAIN.LR); they go after the
flags (a --scales list would take them for multipliers).
"""
import argparse
import json
import logging
import math
import statistics
import sys
import time

from lib.config import load_cfg
from lib.core.function_AN import build_adversarial_models, build_adversarial_step
from lib.core.runtime import configure_torch
from lib.core.trainer import train_one_epoch
from lib.dataset.loader import build_data, seed_everything, start_epoch
from lib.models import check_train_batch_size
from lib.utils import dist

BAND = (0.05, 0.2)
BAND_CENTRE = math.sqrt(BAND[0] * BAND[1])  # geometric: the band spans a factor 4
STATISTICS = ("median", "mean", "last_quarter_mean")
# What calibration needs whatever the config says: full adversarial weight from the first iteration.
FORCED_OPTS = ["GAN.RAMP_EPOCHS", "0", "GAN.WARMUP_EPOCHS", "0"]


class GradRatioRecorder:
    """Stands in for an AdversarialStep in the trainer's epoch loop and keeps every measured grad_ratio (the epoch
    loop keeps only their mean)."""

    def __init__(self, step):
        self.step = step
        self.ratios = []

    def train_batch(self, *args):
        stats = self.step.train_batch(*args)
        if self.step.generator_stepped and self.step.ramp != 1.0:
            raise RuntimeError(f"calibration step ran with ramp {self.step.ramp}, expected 1 (GAN.RAMP_EPOCHS 0)")
        if math.isfinite(stats.get("grad_ratio", math.nan)):
            self.ratios.append(stats["grad_ratio"])
        return stats

    def __getattr__(self, name):  # generator, discriminators(), g_optimizer, ... of the wrapped step
        return getattr(self.step, name)


def summarize(ratios):
    """median, mean and the mean of the last quarter (at least one value) of a measured ratio series."""
    if not ratios:
        raise ValueError("no grad_ratio was measured (is --every larger than --iters?)")
    last_quarter = ratios[-max(1, len(ratios) // 4):]
    return {"median": statistics.median(ratios), "mean": statistics.fmean(ratios),
            "last_quarter_mean": statistics.fmean(last_quarter)}


def train_iterations(cfg, loader, step, scheduler, device, num_iters, iters, first_epoch):
    """`iters` iterations of the trainer's epoch loop from `first_epoch` on; more than an epoch holds run on in
    further epochs, reseeded as the trainer does. Returns the next epoch."""
    epoch, done = first_epoch, 0
    while done < iters:
        start_epoch(loader, cfg, epoch)
        count = min(iters - done, num_iters)
        train_one_epoch(cfg, loader, step, scheduler, epoch, device, count)
        done, epoch = done + count, epoch + 1
    return epoch


def measure(cfg, device, loaders, init_from, iters, d_warmup_iters=0):
    """From cfg.SEED: `d_warmup_iters` discriminator-only iterations (the generator frozen, as in GAN.WARMUP_EPOCHS),
    then `iters` adversarial iterations. Returns (ratios measured in the latter, seconds of both)."""
    train_loader, num_iters = loaders
    seed_everything(cfg.SEED)
    models = build_adversarial_models(cfg, device, init_from)
    step, scheduler = build_adversarial_step(cfg, device, models, num_iters)
    recorder = GradRatioRecorder(step)
    start, epoch = time.time(), 0
    if d_warmup_iters:
        step.warmup_epochs = math.ceil(d_warmup_iters / num_iters)  # these epochs train the discriminators only
        epoch = train_iterations(cfg, train_loader, recorder, scheduler, device, num_iters, d_warmup_iters, 0)
        step.warmup_epochs = 0  # FORCED_OPTS: the adversarial iterations start at full weight
    train_iterations(cfg, train_loader, recorder, scheduler, device, num_iters, iters, epoch)
    return recorder.ratios, time.time() - start


def _log_interpolate(x1, y1, x2, y2, y):
    """x where the line through (log x1, log y1), (log x2, log y2) reaches log y."""
    slope = (math.log(x2) - math.log(x1)) / (math.log(y2) - math.log(y1))
    return math.exp(math.log(x1) + (math.log(y) - math.log(y1)) * slope)


def recommend(results, by="median"):
    """(chosen result or None, sentence). In band: the one nearest BAND_CENTRE on a log scale; else the direction
    and an estimated multiplier (interpolated between the two that bracket the band, else scaled linearly from the
    nearest one)."""
    low, high = BAND
    usable = sorted((r for r in results if r[by] > 0), key=lambda r: r["scale"])
    in_band = [r for r in usable if low <= r[by] <= high]
    if in_band:
        best = min(in_band, key=lambda r: abs(math.log(r[by] / BAND_CENTRE)))
        return best, (f"multiplier {best['scale']:g} (GAN.LAMBDA_P {best['lambda_p']:.4g}, GAN.LAMBDA_C "
                      f"{best['lambda_c']:.4g}): grad_ratio {by} {best[by]:.3g} lies in {low:g}-{high:g}, nearest "
                      f"its centre {BAND_CENTRE:.2g} of the multipliers in the band")
    if not usable:
        return None, "no multiplier gave a positive grad_ratio: the adversarial terms have no gradient here"
    below = [r for r in usable if r[by] < low]
    above = [r for r in usable if r[by] > high]
    if below and above:
        a, b = below[-1], above[0]
        if a["scale"] < b["scale"]:
            guess = _log_interpolate(a["scale"], a[by], b["scale"], b[by], BAND_CENTRE)
            return None, (f"none in {low:g}-{high:g}: the band lies between multipliers {a['scale']:g} "
                          f"({by} {a[by]:.3g}) and {b['scale']:g} ({b[by]:.3g}); try about {guess:.3g}")
    nearest = min(usable, key=lambda r: abs(math.log(r[by] / BAND_CENTRE)))
    guess = nearest["scale"] * BAND_CENTRE / nearest[by]
    direction = "lower" if nearest[by] > high else "higher"
    return None, (f"none in {low:g}-{high:g}: every {by} grad_ratio is {'above' if direction == 'lower' else 'below'}"
                  f" the band; go {direction}: about multiplier {guess:.3g} (from {nearest['scale']:g}, "
                  f"{by} {nearest[by]:.3g}, assuming rho grows linearly with lambda)")


def table(results, by="median"):
    head = ("| multiplier | GAN.LAMBDA_P | GAN.LAMBDA_C | measured | grad_ratio median | mean | last-quarter mean | "
            "seconds | in band |")  # in band: by the chosen statistic
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        band = "yes" if BAND[0] <= r[by] <= BAND[1] else "no"
        lines.append(f"| {r['scale']:g} | {r['lambda_p']:.4g} | {r['lambda_c']:.4g} | {len(r['ratios'])} | "
                     f"{r['median']:.3g} | {r['mean']:.3g} | {r['last_quarter_mean']:.3g} | {r['seconds']:.1f} | "
                     f"{band} |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", required=True, help="experiment yaml")
    parser.add_argument("--init-from", default="", help="generator weights to start from (a fine-tune's calibration)")
    parser.add_argument("--scales", nargs="+", type=float, default=[0.3, 1.0, 3.0],
                        help="multipliers of the config's LAMBDA_P and LAMBDA_C [0.3 1 3: 0.003-0.03 from the defaults]")
    parser.add_argument("--iters", type=int, default=60, help="adversarial iterations per multiplier [60]")
    parser.add_argument("--d-warmup-iters", type=int, default=0,
                        help="discriminator-only iterations before the measured ones, so D has learned something [0]")
    parser.add_argument("--every", type=int, default=1, help="measure grad_ratio every this many iterations [1]")
    parser.add_argument("--by", choices=STATISTICS, default="median", help="statistic the choice uses [median]")
    parser.add_argument("--json", help="also write the measurements and the choice to this file")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    args = parser.parse_args(argv)
    if args.iters < 1 or args.every < 1 or args.d_warmup_iters < 0:
        parser.error(f"--iters {args.iters} and --every {args.every} must be >= 1, --d-warmup-iters "
                     f"{args.d_warmup_iters} >= 0")
    if any(s <= 0 for s in args.scales):
        parser.error(f"--scales {' '.join(f'{s:g}' for s in args.scales)}: every multiplier must be > 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    base = load_cfg(args.cfg, args.opts + FORCED_OPTS + ["PRINT_FREQ", str(args.every)])
    lambda_p, lambda_c = float(base.GAN.LAMBDA_P), float(base.GAN.LAMBDA_C)
    if lambda_p <= 0 and lambda_c <= 0:
        raise ValueError(f"{args.cfg}: GAN.LAMBDA_P={lambda_p} and GAN.LAMBDA_C={lambda_c}; calibration multiplies "
                         "them, so at least one must be > 0")
    if not (base.GAN.POSE_DISC or base.GAN.CONF_DISC):
        raise ValueError(f"{args.cfg}: GAN.POSE_DISC and GAN.CONF_DISC are both False: nothing to calibrate")
    device = dist.init_distributed(base.DEVICE)
    check_train_batch_size(base, base.TRAIN.BATCH_SIZE_PER_GPU)
    _, _, train_loader, _, num_iters = build_data(base, device)  # one loader, reseeded per multiplier

    results = []
    for scale in args.scales:
        cfg = load_cfg(args.cfg, args.opts + FORCED_OPTS + [
            "PRINT_FREQ", str(args.every), "GAN.LAMBDA_P", repr(scale * lambda_p), "GAN.LAMBDA_C",
            repr(scale * lambda_c)])
        configure_torch(cfg, device, training=True)  # the trainer's precision (its probe is cached)
        ratios, seconds = measure(cfg, device, (train_loader, num_iters), args.init_from, args.iters,
                                  args.d_warmup_iters)
        result = {"scale": scale, "lambda_p": float(cfg.GAN.LAMBDA_P), "lambda_c": float(cfg.GAN.LAMBDA_C),
                  "seconds": seconds, "ratios": ratios, **summarize(ratios)}
        results.append(result)
        print(f"[calibrate_lambda] multiplier {scale:g}: grad_ratio median {result['median']:.3g} over "
              f"{len(ratios)} measurements, {seconds:.1f} s", file=sys.stderr)

    choice, advice = recommend(results, args.by)
    setting = f"{args.iters} adversarial iterations after {args.d_warmup_iters} discriminator-only ones"
    print(f"{table(results, args.by)}\n\n{setting}; band {BAND[0]:g}-{BAND[1]:g}, chosen by the {args.by}: {advice}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": args.cfg, "opts": args.opts, "init_from": args.init_from, "iters": args.iters,
                       "d_warmup_iters": args.d_warmup_iters, "every": args.every, "band": list(BAND),
                       "by": args.by, "results": results, "choice": None if choice is None else choice["scale"],
                       "advice": advice}, f, indent=1)
    return results, choice, advice


if __name__ == "__main__":
    main()
