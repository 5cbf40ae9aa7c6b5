r"""Seed-aggregated curves of an A/B: a metric per epoch (mean over seeds, min-max band) for each arm, one panel per
metric, and a markdown table of each arm's final value (mean +- std over seeds, and the seeds' values).

    python tools/analysis/plot_ab.py --arm "hourglass, MSE" OUT/hourglass/mse/seed0 OUT/hourglass/mse/seed1 \
        --arm "hourglass, balanced BCE" OUT/hourglass/bce_balanced/seed0 OUT/hourglass/bce_balanced/seed1 \
        --metrics AP "box PCK@0.1" --out docs/ab_heatmap_loss.png

Each run folder is a training run folder holding metrics.jsonl (the one metrics writer, lib.core.workdir); its
evaluated epochs are read. Written by tools/studies/ab_heatmap_loss.sh; usable for any seeds x arms comparison.
"""
import argparse
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lib.core.workdir import read_metrics  # noqa: E402


def load_arm(run_dirs, metrics):
    """{metric: (epochs (E,), values (seeds, E))} over the epochs every seed evaluated; errors name the folder."""
    per_seed = []
    for run_dir in run_dirs:
        records = [r for r in read_metrics(run_dir) if all(r.get(m) is not None for m in metrics)]
        if not records:
            raise FileNotFoundError(f"{run_dir}: no metrics.jsonl with evaluated epochs holding {metrics} (written by "
                                    "tools/train*.py)")
        per_seed.append({r["epoch"]: r for r in records})
    epochs = sorted(set.intersection(*(set(s) for s in per_seed)))
    if not epochs:
        raise ValueError(f"the runs {list(run_dirs)} share no evaluated epoch")
    return {m: (np.array(epochs) + 1, np.array([[s[e][m] for e in epochs] for s in per_seed], dtype=float))
            for m in metrics}


def plot(arms, metrics, out_path):
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), dpi=120, squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, data in arms:
            epochs, values = data[metric]
            line, = ax.plot(epochs, values.mean(axis=0), marker="o", label=f"{label} ({len(values)} seeds)")
            ax.fill_between(epochs, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{metric} (val)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)


def table(arms, metrics):
    head = "| arm | seeds | " + " | ".join(f"final {m} (mean +- std)" for m in metrics) + " | " + \
        " | ".join(f"final {m} per seed" for m in metrics) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(metrics))]
    for label, data in arms:
        finals = [data[m][1][:, -1] for m in metrics]
        stds = [f.std(ddof=1) if len(f) > 1 else math.nan for f in finals]
        summary = " | ".join(f"{f.mean():.4f} +- {s:.4f}" for f, s in zip(finals, stds))
        seeds = " | ".join(", ".join(f"{v:.4f}" for v in f) for f in finals)
        lines.append(f"| {label} | {len(finals[0])} | {summary} | {seeds} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arm", nargs="+", action="append", required=True, metavar=("LABEL", "RUN_DIR"),
                        help="an arm's label, then its run folders (one per seed); repeat for every arm")
    parser.add_argument("--metrics", nargs="+", default=["AP"], help="metrics.jsonl keys, one panel each")
    parser.add_argument("--out", required=True, help="output image")
    args = parser.parse_args(argv)
    for arm in args.arm:
        if len(arm) < 2:
            parser.error(f"--arm {arm}: give a label and at least one run folder")
    try:
        arms = [(arm[0], load_arm(arm[1:], args.metrics)) for arm in args.arm]
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"plot_ab.py: {e}")
    plot(arms, args.metrics, args.out)
    text = table(arms, args.metrics)
    print(text)
    return text


if __name__ == "__main__":
    main()
