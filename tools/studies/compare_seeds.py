r"""Pure versus adversarial OmniPose over several seeds: mean and spread per run kind, the paired adversarial gain
with its 95 % interval, and the AP-per-epoch graph with one line per seed.

    python tools/studies/compare_seeds.py --root OmniPose/comparison --seeds 0 1 2
    python tools/studies/compare_seeds.py --root OmniPose/comparison --docs     # update the committed graph

Reads <root>/seed<k>/<run>/<run subdir>/metrics.jsonl for the four runs of tools/studies/reproduce_comparison.sh
(RUN_KINDS; --kinds OmniPoseAN2 OmniPoseAN2_control for a fine-tune-only comparison)
and prints markdown:
  * one row per run kind: final AP, best AP, final AP (v=1 only), final acc v=1 as mean ± sample standard deviation
    over the seeds;
  * paired differences, seed by seed (PAIRS: the fine-tune minus its lambda = 0 control, adversarial from scratch
    minus pure), on final AP and final AP (v=1 only): mean, sample standard deviation and the 95 % interval of the
    mean from Student's t with n-1 degrees of freedom, and whether that interval excludes 0.
Pairing removes what the two runs of one seed share (initialisation, data order), so the interval measures the
gain against the seed-to-seed noise of the gain itself.
"""
import argparse
import math
import os
import re
import statistics
import sys
from collections import namedtuple

from matplotlib.lines import Line2D
from scipy.stats import t as student_t

from lib.reports import load_runs, new_ap_axes, plot_ap_line, save_figure

RunKind = namedtuple("RunKind", "name label fine_tune")
# The order tools/studies/reproduce_comparison.sh trains them in (it reads names and labels from here).
RUN_KINDS = (
    RunKind("OmniPose", "OmniPose (pure)", False),
    RunKind("OmniPoseAN", "OmniPoseAN (adversarial from scratch)", False),
    RunKind("OmniPoseAN2", "OmniPoseAN2 (adversarial fine-tune)", True),
    RunKind("OmniPoseAN2_control", "OmniPoseAN2 control (fine-tune, lambda 0)", True),
)
PURE_RUN = "OmniPose"  # the fine-tunes start from it and are plotted after its epochs
# (adversarial run, the run it is compared with, row label)
PAIRS = (
    ("OmniPoseAN2", "OmniPoseAN2_control", "fine-tune: OmniPoseAN2 - control (lambda 0)"),
    ("OmniPoseAN", "OmniPose", "from scratch: OmniPoseAN - OmniPose"),
)
PAIRED_STATS = ("AP", "AP (v=1 only)")
# (column, metrics key, which epoch: the final one or the one with the best AP)
SUMMARY_COLUMNS = (
    ("final AP", "AP", "final"),
    ("best AP", "AP", "best"),
    ("final AP (v=1 only)", "AP (v=1 only)", "final"),
    ("final acc v=1", "acc v=1", "final"),
)
CONFIDENCE = 0.95
SEED_LINE_STYLES = ("-", "--", ":", "-.")
# Where the graph goes: under OmniPose/ unless a person means to update the committed one (--docs).
REPORT_OUT = "OmniPose/reports/comparison/ap_per_epoch.png"
DOCS_OUT = "docs/results/comparison/ap_per_epoch.png"


def discover_seeds(root):
    """The k of every <root>/seed<k> folder, ascending; an error naming `root` when there is none."""
    seeds = sorted(int(m.group(1)) for m in (re.fullmatch(r"seed(\d+)", n) for n in os.listdir(root)) if m) \
        if os.path.isdir(root) else []
    if not seeds:
        raise FileNotFoundError(f"{root}: no seed<k> folders (expected the layout of "
                                f"tools/studies/reproduce_comparison.sh: {root}/seed0/OmniPose/...)")
    return seeds


def seed_run_dir(root, seed, run_name, run_subdir=None):
    """<root>/seed<seed>/<run_name>/<run_subdir>; without `run_subdir`, the one folder below holding metrics.jsonl."""
    base = os.path.join(root, f"seed{seed}", run_name)
    if run_subdir:
        return os.path.join(base, run_subdir)
    found = sorted(d for d, _, files in os.walk(base) if "metrics.jsonl" in files)
    if len(found) != 1:
        what = "none" if not found else ", ".join(found)
        raise FileNotFoundError(f"{base}: expected exactly one run folder with a metrics.jsonl below it, found {what}"
                                " (pass --run-subdir DATASET/MODEL/CONFIG)")
    return found[0]


def select_kinds(names=None):
    """The RUN_KINDS named in `names` (all when None), in RUN_KINDS order; an unknown name is an error."""
    if names is None:
        return RUN_KINDS
    known = {kind.name for kind in RUN_KINDS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown run kind(s) {', '.join(unknown)}: expected some of {', '.join(sorted(known))}")
    return tuple(kind for kind in RUN_KINDS if kind.name in names)


def load_seed_runs(root, seeds, run_subdir=None, kinds=RUN_KINDS):
    """{seed: {run name: [evaluated epoch records]}} for every seed and run kind of `kinds` (a missing run is an
    error)."""
    runs = {}
    for seed in seeds:
        dirs = [seed_run_dir(root, seed, kind.name, run_subdir) for kind in kinds]
        loaded = load_runs(dirs, [kind.name for kind in kinds])
        runs[seed] = dict(loaded)
    return runs


def kinds_of(runs_by_seed):
    """The RUN_KINDS present in a load_seed_runs result (every seed holds the same ones)."""
    present = next(iter(runs_by_seed.values()))
    return tuple(kind for kind in RUN_KINDS if kind.name in present)


def stat_of(records, key, which="final"):
    """`key` at the final evaluated epoch, or at the epoch with the best AP; None when that record lacks it."""
    record = records[-1] if which == "final" else max(records, key=lambda r: r["AP"])
    value = record.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def mean_and_sd(values):
    """(mean, sample standard deviation); the deviation is None for a single value."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def t_interval(values, confidence=CONFIDENCE):
    """(low, high) of the mean's two-sided interval from Student's t with n-1 degrees of freedom; None for n < 2."""
    n = len(values)
    if n < 2:
        return None
    mean, sd = mean_and_sd(values)
    half = student_t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def verdict(interval, n):
    """Plain words on an interval of the difference adversarial minus control."""
    if interval is None:
        return "one seed: no interval (it needs 2 or more seeds)"
    low, high = interval
    if low > 0:
        return "interval excludes 0: gain larger than seed noise"
    if high < 0:
        return "interval excludes 0: adversarial worse, by more than seed noise"
    return f"interval includes 0: no difference detectable with {n} seeds"


def _mean_sd_cell(values, n_seeds):
    if not values:
        return "-"
    mean, sd = mean_and_sd(values)
    cell = f"{mean:.4f}" if sd is None else f"{mean:.4f} ± {sd:.4f}"
    return cell if len(values) == n_seeds else f"{cell} (n={len(values)})"


def summary_table(runs_by_seed):
    """Markdown, one row per run kind: each SUMMARY_COLUMNS stat as mean ± sample sd over the seeds."""
    seeds = list(runs_by_seed)
    lines = ["| run | n seeds | " + " | ".join(c[0] for c in SUMMARY_COLUMNS) + " |",
             "|" + "---|" * (len(SUMMARY_COLUMNS) + 2)]
    for kind in kinds_of(runs_by_seed):
        cells = []
        for _, key, which in SUMMARY_COLUMNS:
            values = [stat_of(runs_by_seed[s][kind.name], key, which) for s in seeds]
            cells.append(_mean_sd_cell([v for v in values if v is not None], len(seeds)))
        lines.append(f"| {kind.label} | {len(seeds)} | " + " | ".join(cells) + " |")
    if len(seeds) == 1:
        lines.append("\nOne seed: no standard deviation; the values are that seed's.")
    return "\n".join(lines)


def paired_differences(runs_by_seed, run, control, key):
    """{seed: run's final `key` minus control's} over the seeds where both have it."""
    diffs = {}
    for seed, runs in runs_by_seed.items():
        a, b = stat_of(runs[run], key), stat_of(runs[control], key)
        if a is not None and b is not None:
            diffs[seed] = a - b
    return diffs


def paired_table(runs_by_seed):
    """Markdown, one row per (PAIRS, PAIRED_STATS): per-seed differences, mean, sd, 95 % interval, verdict."""
    lines = ["| difference | final stat | n | per seed | mean | sd | 95 % interval | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    present = {kind.name for kind in kinds_of(runs_by_seed)}
    for run, control, label in PAIRS:
        if run not in present or control not in present:
            continue  # e.g. a fine-tune-only comparison has no from-scratch pair
        for key in PAIRED_STATS:
            diffs = paired_differences(runs_by_seed, run, control, key)
            values = list(diffs.values())
            if not values:
                lines.append(f"| {label} | {key} | 0 | - | - | - | - | no seed has {key!r} in both runs |")
                continue
            mean, sd = mean_and_sd(values)
            interval = t_interval(values)
            per_seed = ", ".join(f"{seed}: {d:+.4f}" for seed, d in diffs.items())
            sd_cell = "n/a (one seed)" if sd is None else f"{sd:.4f}"
            interval_cell = "undefined with one seed" if interval is None else \
                f"[{interval[0]:+.4f}, {interval[1]:+.4f}]"
            lines.append(f"| {label} | {key} | {len(values)} | {per_seed} | {mean:+.4f} | {sd_cell} | "
                         f"{interval_cell} | {verdict(interval, len(values))} |")
    return "\n".join(lines)


def plot_seeds(runs_by_seed, out_path):
    """AP per epoch: one colour per run kind, one line style per seed; fine-tunes after their seed's pure epochs."""
    fig, ax = new_ap_axes()
    colours = {kind.name: f"C{i}" for i, kind in enumerate(RUN_KINDS)}
    kinds = kinds_of(runs_by_seed)
    seeds = list(runs_by_seed)
    for i, seed in enumerate(seeds):
        runs = runs_by_seed[seed]
        # Without the pure run (a fine-tune of an outside model) the fine-tunes start at epoch 1.
        pure_epochs = runs[PURE_RUN][-1]["epoch"] + 1 if PURE_RUN in runs else 0
        for kind in kinds:
            plot_ap_line(ax, runs[kind.name], pure_epochs if kind.fine_tune else 0, color=colours[kind.name],
                         linestyle=SEED_LINE_STYLES[i % len(SEED_LINE_STYLES)], marker="o", markersize=3, alpha=0.8)
    handles = [Line2D([], [], color=colours[kind.name], label=kind.label) for kind in kinds]
    handles += [Line2D([], [], color="grey", linestyle=SEED_LINE_STYLES[i % len(SEED_LINE_STYLES)],
                       label=f"seed {seed}") for i, seed in enumerate(seeds)]
    ax.set_title(f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}", fontsize="medium")
    save_figure(fig, out_path, handles=handles, fontsize="x-small")


def report(runs_by_seed):
    """The markdown both tables make, with a sentence on how to read them."""
    seeds = ", ".join(str(s) for s in runs_by_seed)
    intro = f"Seed {seeds} only:" if len(runs_by_seed) == 1 else \
        f"Mean ± sample standard deviation over seeds {seeds}:"
    return "\n".join([
        intro, "", summary_table(runs_by_seed), "",
        "Paired differences (the two runs of the same seed); the interval is the mean's 95 % interval from "
        "Student's t with n-1 degrees of freedom:", "", paired_table(runs_by_seed)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="the comparison's output root (holds seed<k>/)")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds to read [every seed<k> folder under --root]")
    parser.add_argument("--run-subdir", help="DATASET/MODEL/CONFIG below each run folder [found from metrics.jsonl]")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", help=f"graph PNG to write [{REPORT_OUT}]")
    where.add_argument("--docs", action="store_true", help=f"write the graph to {DOCS_OUT} instead")
    parser.add_argument("--md", help="also write the markdown to this file")
    parser.add_argument("--kinds", nargs="+", metavar="RUN",
                        help="run kinds to read, e.g. OmniPoseAN2 OmniPoseAN2_control for a fine-tune-only "
                             "comparison [all four]")
    args = parser.parse_args(argv)
    seeds = args.seeds or discover_seeds(args.root)
    if len(set(seeds)) != len(seeds):
        parser.error(f"--seeds {' '.join(map(str, seeds))} names a seed twice")
    try:
        kinds = select_kinds(args.kinds)
    except ValueError as error:
        parser.error(f"--kinds: {error}")
    runs_by_seed = load_seed_runs(args.root, seeds, args.run_subdir, kinds)
    out = args.out or (DOCS_OUT if args.docs else REPORT_OUT)
    plot_seeds(runs_by_seed, out)
    text = report(runs_by_seed)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text + "\n")
    print(text)
    print(f"graph written to {out}", file=sys.stderr)
    return text


if __name__ == "__main__":
    main()
