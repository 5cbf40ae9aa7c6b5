r"""AP per epoch of several runs from their metrics.jsonl files (the pure-versus-adversarial graph), and a markdown
table of each run's final and best stats.

    python tools/analysis/plot_runs.py OmniPose/trained/coco/omnipose/omnipose_quickstart \
        OmniPose/trained_GAN/coco/omnipose/omnipose_quickstart --labels OmniPose OmniPoseAN --out /tmp/ap.png
"""
import argparse
import sys

from lib.reports import load_runs, new_ap_axes, plot_ap_line, save_figure

TABLE_STATS = ["AP", "AP .5", "AP .75", "AR", "AP (v=1 only)", "acc v=1", "acc v=2"]
# Where the graph goes without --out: under OmniPose/ unless a person means to write it into docs/ (--docs).
REPORT_OUT = "OmniPose/reports/plot_runs/ap_per_epoch.png"
DOCS_OUT = "docs/results/plot_runs/ap_per_epoch.png"


def plot(runs, out_path, epoch_offsets=None):
    fig, ax = new_ap_axes()
    for i, (label, records) in enumerate(runs):
        plot_ap_line(ax, records, epoch_offsets[i] if epoch_offsets else 0, marker="o", label=label)
    save_figure(fig, out_path)


def table(runs):
    """Markdown: per run, the final epoch's stats and the best AP with its epoch."""
    head = "| run | epochs | " + " | ".join(f"final {s}" for s in TABLE_STATS) + " | best AP (epoch) |"
    lines = [head, "|" + "---|" * (len(TABLE_STATS) + 3)]
    for label, records in runs:
        final = records[-1]
        best = max(records, key=lambda r: r["AP"])
        values = [final.get(s) for s in TABLE_STATS]
        cells = [f"{v:.4f}" if isinstance(v, (int, float)) else "-" for v in values]
        lines.append(f"| {label} | {final['epoch'] + 1} | " + " | ".join(cells) +
                     f" | {best['AP']:.4f} ({best['epoch'] + 1}) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders holding metrics.jsonl")
    parser.add_argument("--labels", nargs="+", help="legend labels, one per run")
    parser.add_argument("--offsets", nargs="+", type=int, help="epochs to add per run (a fine-tune after E epochs)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", help=f"PNG to write [{REPORT_OUT}]")
    where.add_argument("--docs", action="store_true", help=f"write the graph to {DOCS_OUT} instead")
    args = parser.parse_args(argv)
    for name, values in (("--labels", args.labels), ("--offsets", args.offsets)):
        if values and len(values) != len(args.runs):
            parser.error(f"{name} needs one value per run ({len(args.runs)}), got {len(values)}")
    runs = load_runs(args.runs, args.labels)
    out = args.out or (DOCS_OUT if args.docs else REPORT_OUT)
    plot(runs, out, args.offsets)
    text = table(runs)
    print(text)
    print(f"graph written to {out}", file=sys.stderr)
    return text


if __name__ == "__main__":
    main()
