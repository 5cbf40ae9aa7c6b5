"""The heatmap-loss A/B: tools/analysis/plot_ab.py's seed aggregation against hand-computed values, and
tools/studies/ab_heatmap_loss.sh end to end on the tiny synthetic set (two arms, one seed, tiny hourglass)."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.analysis import plot_ab

ROOT = Path(__file__).resolve().parents[2]


def _fake_run(folder, values):
    folder.mkdir(parents=True)
    with open(folder / "metrics.jsonl", "w") as f:
        for epoch, (ap, pck) in enumerate(values):
            f.write(json.dumps({"epoch": epoch, "AP": ap, "box PCK@0.1": pck}) + "\n")
        f.write(json.dumps({"epoch": len(values), "loss": 1.0}) + "\n")  # not evaluated: ignored
    return str(folder)


def test_plot_ab_aggregates_seeds(tmp_path):
    a = [_fake_run(tmp_path / "a0", [(0.1, 10.0), (0.2, 20.0)]), _fake_run(tmp_path / "a1", [(0.3, 30.0), (0.4, 40.0)])]
    b = [_fake_run(tmp_path / "b0", [(0.0, 5.0), (0.1, 6.0)])]
    text = plot_ab.main(["--arm", "A", *a, "--arm", "B", *b, "--metrics", "AP", "box PCK@0.1", "--out",
                         str(tmp_path / "ab.png")])
    assert (tmp_path / "ab.png").stat().st_size > 0
    std = math.sqrt(((0.2 - 0.3) ** 2 + (0.4 - 0.3) ** 2) / 1)  # final AP of A: 0.2 and 0.4, sample std
    assert f"| A | 2 | 0.3000 +- {std:.4f} | 30.0000 +- {math.sqrt(200):.4f} | 0.2000, 0.4000 | 20.0000, 40.0000 |" in text
    assert "| B | 1 | 0.1000 +- nan | 6.0000 +- nan | 0.1000 | 6.0000 |" in text
    with pytest.raises(SystemExit, match="no metrics.jsonl"):
        plot_ab.main(["--arm", "C", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")])


def test_ab_script_runs_both_arms_and_writes_the_report(tiny_synthetic, repo_view, tmp_path):
    """Started from a stand-in repository folder without AB_DOCS: the page and graphs land in its
    OmniPose/reports/ab_heatmap_loss/ with image links relative to the page, and no docs/ folder appears."""
    cfg = tmp_path / "configs" / "hourglass_quickstart.yaml"  # the real config on the tiny set: nothing to generate
    cfg.parent.mkdir()
    cfg.write_text(f"_BASE_: {ROOT / 'experiments/synthetic/hourglass_quickstart.yaml'}\n"
                   f"DATASET:\n  ROOT: {tiny_synthetic}\n")
    opts = ("WORKERS 0 MODEL.IMAGE_SIZE [48,64] MODEL.HEATMAP_SIZE [12,16] "
            "MODEL.SIGMA 1.0 MODEL.EXTRA.NUM_STACKS 2 MODEL.EXTRA.NUM_FEATURES 8 MODEL.EXTRA.HOURGLASS_DEPTH 2 "
            "TRAIN.BATCH_SIZE_PER_GPU 4 TRAIN.MAX_ITERS_PER_EPOCH 2 TEST.BATCH_SIZE_PER_GPU 8 TEST.BLUR_KERNEL 3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AB_")}
    env.update(PYTHON=sys.executable, OMP_NUM_THREADS="1", AB_CONFIGS=str(cfg), AB_LOSSES="mse bce_balanced",
               AB_SEEDS="0", AB_EPOCHS="1", AB_OPTS=opts, AB_OUT=str(tmp_path / "out"))
    script = ["bash", str(repo_view / "tools" / "studies" / "ab_heatmap_loss.sh")]

    def run(*args, timeout=120, **extra):
        return subprocess.run(script + list(args), env=dict(env, **extra), capture_output=True, text=True,
                              timeout=timeout)

    dry = run(AB_DRY_RUN="1")
    assert dry.returncode == 0, dry.stderr
    assert "LOSS.TYPE bce LOSS.BCE_WEIGHTING balanced" in dry.stdout and "nothing was run" in dry.stdout
    assert "OmniPose/reports/ab_heatmap_loss/ab_heatmap_loss.md" in dry.stdout
    assert "docs/results/ab_heatmap_loss/ab_heatmap_loss.md" in run("--docs", AB_DRY_RUN="1").stdout
    both = run("--docs", AB_DRY_RUN="1", AB_DOCS=str(tmp_path / "elsewhere"))
    assert both.returncode != 0 and "give one of the two" in both.stderr
    assert not (tmp_path / "out").exists()

    done = run(timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report_dir = repo_view / "OmniPose" / "reports" / "ab_heatmap_loss"
    report = (report_dir / "ab_heatmap_loss.md").read_text()
    assert "| MSE | 1 |" in report and "| balanced BCE | 1 |" in report
    # the graph's link resolves from the page's own folder (where viewers resolve it)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert links == ["ab_heatmap_loss_hourglass_quickstart.png"] and (report_dir / links[0]).is_file()
    assert not (repo_view / "docs").exists()
    again = run()
    assert again.returncode != 0 and "AB_OVERWRITE=1" in again.stderr
