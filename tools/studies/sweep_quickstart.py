r"""Fixed-wall-clock sweep of the CPU quickstart recipe: every variant gets the same minutes of training.

    python tools/studies/sweep_quickstart.py --minutes 3 --out OmniPose/sweep                 # every variant
    python tools/studies/sweep_quickstart.py --minutes 3 --variants base lr_2e-3 w12 --out OmniPose/sweep
    python tools/studies/sweep_quickstart.py --plot-only --out OmniPose/sweep --best 4        # table + plot of what ran

For each variant (a list of config overrides on --cfg, see VARIANTS) it first times --calib-iters real training
iterations (data loading included), then sets the iteration count that fills --minutes at that speed and trains
with a cosine schedule to the end, evaluating --evals times on the config's val split (the normal validate(): GT
boxes, flip test, COCO OKS AP). Evaluation time is not counted in the minutes. Writes OUT/<variant>/ (run folders),
OUT/sweep.json, OUT/sweep.md (a table) and OUT/sweep.png (AP against training minutes, the --best variants).
Variants run one after another: on a 2-core CPU two at once would only share the cores.
"""
import argparse
import json
import logging
import math
import os
import sys
import time

from lib.core.launch import train_in_subprocess
from lib.core.workdir import read_metrics

DEFAULT_CFG = "experiments/synthetic/omnipose_quickstart.yaml"
logger = logging.getLogger("sweep_quickstart")

# Narrower, wider, shallower and deeper OmniPose backbones (the same HRNet + Gaussian-deconvolution fuse + WASPv2 design).
_W12 = ["MODEL.EXTRA.STAGE2.NUM_CHANNELS", "[12, 24]", "MODEL.EXTRA.STAGE3.NUM_CHANNELS", "[12, 24, 48]",
        "MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[12, 24, 48, 96]"]
_W24 = ["MODEL.EXTRA.STAGE2.NUM_CHANNELS", "[24, 48]", "MODEL.EXTRA.STAGE3.NUM_CHANNELS", "[24, 48, 96]",
        "MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[24, 48, 96, 192]"]
_SHALLOW = ["MODEL.EXTRA.STAGE3.NUM_MODULES", "1", "MODEL.EXTRA.STAGE2.NUM_BLOCKS", "[1, 1]",
            "MODEL.EXTRA.STAGE3.NUM_BLOCKS", "[1, 1, 1]", "MODEL.EXTRA.STAGE4.NUM_BLOCKS", "[1, 1, 1, 1]"]
_DEEP = ["MODEL.EXTRA.STAGE3.NUM_MODULES", "2", "MODEL.EXTRA.STAGE2.NUM_BLOCKS", "[2, 2]",
         "MODEL.EXTRA.STAGE3.NUM_BLOCKS", "[2, 2, 2]", "MODEL.EXTRA.STAGE4.NUM_BLOCKS", "[2, 2, 2, 2]"]

# name -> overrides on top of --cfg. 'base' is the config as it is (with the sweep's cosine schedule).
VARIANTS = {
    "base": [],
    "init_hrnet": ["MODEL.INIT_SCHEME", "hrnet"],
    "init_kaiming": ["MODEL.INIT_SCHEME", "kaiming"],
    "lr_1e-3": ["TRAIN.LR", "0.001"],
    "lr_2e-3": ["TRAIN.LR", "0.002"],
    "lr_4e-3": ["TRAIN.LR", "0.004"],
    "lr_8e-3": ["TRAIN.LR", "0.008"],
    "adamw": ["TRAIN.OPTIMIZER", "adamw", "TRAIN.WD", "0.01"],
    "step": ["TRAIN.LR_SCHEDULE", "step"],
    "batch_16": ["TRAIN.BATCH_SIZE_PER_GPU", "16"],
    "batch_64": ["TRAIN.BATCH_SIZE_PER_GPU", "64"],
    "in_96x72": ["MODEL.IMAGE_SIZE", "[72, 96]", "MODEL.HEATMAP_SIZE", "[18, 24]", "TEST.BLUR_KERNEL", "7",
                 "MODEL.SIGMA", "1.5"],
    "in_64x48": ["MODEL.IMAGE_SIZE", "[48, 64]", "MODEL.HEATMAP_SIZE", "[12, 16]", "TEST.BLUR_KERNEL", "5",
                 "MODEL.SIGMA", "1.0"],
    "in_160x120": ["MODEL.IMAGE_SIZE", "[120, 160]", "MODEL.HEATMAP_SIZE", "[30, 40]"],
    "w12": _W12,
    "w24": _W24,
    "shallow": _SHALLOW,
    "deep": _DEEP,
    "mse": ["LOSS.TYPE", "mse"],
}


def _train(cfg, opts):
    return train_in_subprocess(cfg, opts)


def _common_opts(out_dir, name, extra):
    return ["OUTPUT_DIR", os.path.join(out_dir, name), "AUTO_RESUME", "False", "PRINT_FREQ", "100000"] + extra


def calibrate(cfg, name, overrides, out_dir, iters):
    """Training images per second of this variant: a real run of `iters` iterations (data loading included, the
    loader workers' start-up not: 'steady_images_per_s'; the trainer evaluates its last epoch, which is not timed)."""
    opts = _common_opts(os.path.join(out_dir, "_calibration"), name, overrides + [
        "TRAIN.END_EPOCH", "1", "TRAIN.MAX_ITERS_PER_EPOCH", str(iters)])
    run_dir = _train(cfg, opts)
    record = read_metrics(run_dir)[-1]
    return float(record["steady_images_per_s"])


def run_variant(cfg, name, overrides, out_dir, minutes, evals, calib_iters):
    """Calibrate, then train for `minutes` of (estimated) training time; returns the variant's summary."""
    img_s = calibrate(cfg, name, overrides, out_dir, calib_iters)
    from lib.config import load_cfg

    batch = load_cfg(cfg, overrides).TRAIN.BATCH_SIZE_PER_GPU
    total_iters = max(int(minutes * 60 * img_s / batch), evals)
    per_epoch = math.ceil(total_iters / evals)
    opts = _common_opts(out_dir, name, ["TRAIN.LR_SCHEDULE", "cosine", "TRAIN.LR_FACTOR", "0.01"] + overrides + [
        "TRAIN.END_EPOCH", str(evals), "TRAIN.MAX_ITERS_PER_EPOCH", str(per_epoch), "TRAIN.VAL_INTERVAL", "1"])
    start = time.time()
    run_dir = _train(cfg, opts)
    all_records = read_metrics(run_dir)
    records = [r for r in all_records if r.get("AP") is not None]
    minutes_done = 0.0
    curve = []
    for r in all_records:
        minutes_done += r["seconds"] / 60
        if r.get("AP") is not None:
            curve.append({"minutes": round(minutes_done, 3), "AP": r["AP"], "AP .5": r.get("AP .5"),
                          "acc v=2": r.get("acc v=2")})
    iterations = sum(r["iterations"] for r in all_records)
    if iterations < total_iters:
        logger.warning("%s: the training split has fewer than %d iterations per epoch; the variant trained less than "
                       "%.1f minutes", name, per_epoch, minutes)
    return {"variant": name, "overrides": overrides, "calibrated_img_s": round(img_s, 1), "batch": batch,
            "iterations": iterations, "train_minutes": round(minutes_done, 3),
            "wall_minutes": round((time.time() - start) / 60, 2), "final_AP": records[-1]["AP"] if records else None,
            "curve": curve, "run_dir": run_dir, "env": records[-1].get("env") if records else None}


def write_report(out_dir, results, best):
    with open(os.path.join(out_dir, "sweep.json"), "w") as f:
        json.dump(results, f, indent=1)
    ranked = sorted(results, key=lambda r: -(r["final_AP"] or 0))
    lines = ["| variant | overrides | img/s | iterations | training min | AP per evaluation | final AP | final acc v=2 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in ranked:
        curve = ", ".join(f"{p['AP']:.3f}" for p in r["curve"])
        lines.append(f"| {r['variant']} | `{' '.join(r['overrides']) or '-'}` | {r['calibrated_img_s']} | "
                     f"{r['iterations']} | {r['train_minutes']} | {curve} | {r['final_AP']:.4f} | "
                     f"{r['curve'][-1]['acc v=2']:.3f} |")
    env = next((r["env"] for r in results if r.get("env")), None) or {}
    lines.append("")
    lines.append(f"Machine: {env.get('cpu', '?')}, {env.get('torch_threads', '?')} threads, torch "
                 f"{env.get('torch', '?')}, commit {str(env.get('git_commit', '?'))[:10]}.")
    with open(os.path.join(out_dir, "sweep.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in ranked[:best]:
        ax.plot([0] + [p["minutes"] for p in r["curve"]], [0] + [p["AP"] for p in r["curve"]], marker="o",
                label=f"{r['variant']} ({r['final_AP']:.3f})")
    ax.set_xlabel("training minutes (evaluation not counted)")
    ax.set_ylabel("AP (val, GT boxes, flip)")
    ax.set_title("Quickstart sweep: AP against training time, best variants")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "sweep.png"), dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default=DEFAULT_CFG, help=f"base config (default: {DEFAULT_CFG})")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="NAME",
                        help=f"which variants (default: all): {', '.join(VARIANTS)}")
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes per variant (default: 3)")
    parser.add_argument("--evals", type=int, default=2, help="evaluations per variant, evenly spaced (default: 2)")
    parser.add_argument("--calib-iters", type=int, default=25, help="iterations timed per variant (default: 25)")
    parser.add_argument("--best", type=int, default=4, help="variants drawn in the plot (default: 4)")
    parser.add_argument("--out", default="OmniPose/sweep", help="output folder (default: %(default)s)")
    parser.add_argument("--plot-only", action="store_true", help="only rewrite the table and plot from sweep.json")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "sweep.json")
    results = []
    if os.path.isfile(path):
        with open(path) as f:
            results = json.load(f)
    if not args.plot_only:
        for name in args.variants:
            results = [r for r in results if r["variant"] != name]
            results.append(run_variant(args.cfg, name, VARIANTS[name], args.out, args.minutes, args.evals,
                                       args.calib_iters))
            write_report(args.out, results, args.best)  # after every variant: a stopped sweep keeps what ran
    if not results:
        sys.exit(f"{path}: nothing has run yet")
    write_report(args.out, results, args.best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
