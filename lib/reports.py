"""Graphs of training runs from their metrics.jsonl files, shared by the analysis and study scripts."""
import os

import matplotlib

matplotlib.use("Agg")  # files only: no display on training machines
import matplotlib.pyplot as plt  # noqa: E402

from lib.core.workdir import read_metrics  # noqa: E402


def load_runs(run_dirs, labels=None):
    """[(label, [records with an 'AP']), ...]; a folder without metrics.jsonl is an error naming it."""
    runs = []
    for i, run_dir in enumerate(run_dirs):
        records = [r for r in read_metrics(run_dir) if r.get("AP") is not None]
        if not records:
            raise FileNotFoundError(f"{run_dir}: no metrics.jsonl with evaluated epochs (expected "
                                    f"{os.path.join(run_dir, 'metrics.jsonl')} written by tools/train*.py)")
        runs.append((labels[i] if labels else os.path.basename(os.path.normpath(run_dir)), records))
    return runs


def new_ap_axes():
    """A figure with the AP-per-epoch axes every run graph shares (size, labels, grid)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    ax.set_xlabel("epoch")
    ax.set_ylabel("COCO OKS AP (val)")
    ax.grid(alpha=0.3)
    return fig, ax


def plot_ap_line(ax, records, epoch_offset=0, **style):
    """One run's AP against its 1-based epoch; `epoch_offset` shifts a fine-tune after the run it started from."""
    ax.plot([r["epoch"] + 1 + epoch_offset for r in records], [r["AP"] for r in records], **style)


def save_figure(fig, out_path, **legend_args):
    """Legend, tight layout, PNG at `out_path` (folders created); closes the figure."""
    fig.axes[0].legend(**legend_args)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path)
    plt.close(fig)
