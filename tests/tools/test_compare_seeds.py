"""tools/studies/compare_seeds.py on fake per-seed run folders: mean ± sample sd per run, paired differences with their
t intervals checked against values worked out by hand, the verdict wording, one seed, the graph, and errors."""
import math

import pytest

from lib.core.workdir import append_metrics
from tools.studies import compare_seeds

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUBDIR = "coco/omnipose/omnipose_benchmark"
T_975_2DF = 4.302652729911275  # Student's t, 97.5 % quantile, 2 degrees of freedom (printed tables: 4.303)

# seed -> run -> (AP per epoch, final AP (v=1 only), final acc v=1). Pure and scratch: 3 epochs; fine-tunes: 2.
FAKE = {
    0: {"OmniPose": ([0.30, 0.45, 0.40], 0.25, 0.50), "OmniPoseAN": ([0.20, 0.30, 0.38], 0.20, 0.52),
        "OmniPoseAN2": ([0.48, 0.50], 0.30, 0.60), "OmniPoseAN2_control": ([0.47, 0.48], 0.26, 0.58)},
    1: {"OmniPose": ([0.31, 0.40, 0.42], 0.26, 0.51), "OmniPoseAN": ([0.21, 0.33, 0.41], 0.20, 0.53),
        "OmniPoseAN2": ([0.49, 0.52], 0.31, 0.61), "OmniPoseAN2_control": ([0.47, 0.49], 0.26, 0.59)},
    2: {"OmniPose": ([0.33, 0.44, 0.47], 0.27, 0.55), "OmniPoseAN": ([0.22, 0.35, 0.44], 0.20, 0.54),
        "OmniPoseAN2": ([0.51, 0.55], 0.32, 0.62), "OmniPoseAN2_control": ([0.49, 0.50], 0.26, 0.60)},
}


def write_fake_runs(root, seeds=(0, 1, 2)):
    for seed in seeds:
        for run, (aps, ap_v1, acc_v1) in FAKE[seed].items():
            run_dir = root / f"seed{seed}" / run / SUBDIR
            run_dir.mkdir(parents=True)
            for epoch, ap in enumerate(aps):
                append_metrics(str(run_dir), {"epoch": epoch, "AP": ap, "AP (v=1 only)": ap_v1, "acc v=1": acc_v1})
    return root


def hand_mean_sd(values):
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def cells(markdown, first_cell, second_cell=None):
    """The cells of the table row starting with these cells."""
    for line in markdown.splitlines():
        row = [c.strip() for c in line.strip().strip("|").split("|")]
        if row[0] == first_cell and (second_cell is None or row[1] == second_cell):
            return row
    raise AssertionError(f"no row {first_cell!r} {second_cell!r} in:\n{markdown}")


def test_statistics_against_hand_values():
    diffs = [0.02, 0.03, 0.05]
    mean, sd = hand_mean_sd(diffs)
    assert (mean, sd) == pytest.approx((0.0333333, 0.0152753), abs=1e-6)
    assert compare_seeds.mean_and_sd(diffs) == pytest.approx((mean, sd))
    half = T_975_2DF * sd / math.sqrt(3)
    assert compare_seeds.t_interval(diffs) == pytest.approx((mean - half, mean + half))
    assert compare_seeds.t_interval(diffs) == pytest.approx((-0.004612, 0.071279), abs=1e-6)
    assert compare_seeds.t_interval([0.04, 0.05, 0.06]) == pytest.approx((0.025159, 0.074841), abs=1e-6)
    # two seeds: t(0.975, 1) = 12.706
    assert compare_seeds.t_interval([0.01, 0.02]) == pytest.approx((0.015 - 12.7062 * 0.005, 0.015 + 12.7062 * 0.005),
                                                                   abs=1e-4)
    assert compare_seeds.t_interval([0.03]) is None and compare_seeds.mean_and_sd([0.03]) == (0.03, None)


def test_verdict_wording():
    assert compare_seeds.verdict((0.001, 0.05), 3) == "interval excludes 0: gain larger than seed noise"
    assert compare_seeds.verdict((-0.001, 0.05), 3) == "interval includes 0: no difference detectable with 3 seeds"
    assert compare_seeds.verdict((-0.05, -0.01), 5) == "interval excludes 0: adversarial worse, by more than seed noise"
    assert compare_seeds.verdict((0.0, 0.0), 4) == "interval includes 0: no difference detectable with 4 seeds"
    assert compare_seeds.verdict(None, 1) == "one seed: no interval (it needs 2 or more seeds)"


def test_three_seed_tables(tmp_path, capsys):
    root = write_fake_runs(tmp_path / "cmp")
    text = compare_seeds.main(["--root", str(root), "--run-subdir", SUBDIR, "--out", str(tmp_path / "ap.png"),
                               "--md", str(tmp_path / "table.md")])
    assert capsys.readouterr().out.strip() == text.strip()
    assert (tmp_path / "table.md").read_text().strip() == text.strip()

    pure = cells(text, "OmniPose (pure)")
    final_mean, final_sd = hand_mean_sd([0.40, 0.42, 0.47])
    best_mean, best_sd = hand_mean_sd([0.45, 0.42, 0.47])  # seed 0's best AP is its epoch 2, not the final one
    assert pure[1] == "3"
    assert pure[2] == f"{final_mean:.4f} ± {final_sd:.4f}" == "0.4300 ± 0.0361"
    assert pure[3] == f"{best_mean:.4f} ± {best_sd:.4f}" == "0.4467 ± 0.0252"
    assert pure[4] == "0.2600 ± 0.0100" and pure[5] == "0.5200 ± 0.0265"
    assert cells(text, "OmniPoseAN2 control (fine-tune, lambda 0)")[2] == "0.4900 ± 0.0100"

    # fine-tune minus control: AP 0.02, 0.03, 0.05 (interval includes 0); AP (v=1 only) 0.04, 0.05, 0.06 (excludes)
    ft_label = "fine-tune: OmniPoseAN2 - control (lambda 0)"
    row = cells(text, ft_label, "AP")
    mean, sd = hand_mean_sd([0.02, 0.03, 0.05])
    half = T_975_2DF * sd / math.sqrt(3)
    assert row[2:] == ["3", "0: +0.0200, 1: +0.0300, 2: +0.0500", f"{mean:+.4f}", f"{sd:.4f}",
                       f"[{mean - half:+.4f}, {mean + half:+.4f}]",
                       "interval includes 0: no difference detectable with 3 seeds"]
    assert row[6] == "[-0.0046, +0.0713]"
    row = cells(text, ft_label, "AP (v=1 only)")
    assert row[4:] == ["+0.0500", "0.0100", "[+0.0252, +0.0748]", "interval excludes 0: gain larger than seed noise"]

    # from scratch minus pure: AP -0.02, -0.01, -0.03 (includes 0); AP (v=1 only) -0.05, -0.06, -0.07 (worse)
    scratch_label = "from scratch: OmniPoseAN - OmniPose"
    row = cells(text, scratch_label, "AP")
    assert row[3:7] == ["0: -0.0200, 1: -0.0100, 2: -0.0300", "-0.0200", "0.0100", "[-0.0448, +0.0048]"]
    row = cells(text, scratch_label, "AP (v=1 only)")
    assert row[6:] == ["[-0.0848, -0.0352]", "interval excludes 0: adversarial worse, by more than seed noise"]
    assert "nan" not in text.lower()


def test_one_seed_says_so_instead_of_nan(tmp_path):
    root = write_fake_runs(tmp_path / "cmp", seeds=(1,))
    text = compare_seeds.main(["--root", str(root), "--out", str(tmp_path / "ap.png")])  # seeds and subdir found
    assert cells(text, "OmniPose (pure)")[1:4] == ["1", "0.4200", "0.4200"]
    assert "One seed: no standard deviation" in text
    row = cells(text, "fine-tune: OmniPoseAN2 - control (lambda 0)", "AP")
    assert row[2:] == ["1", "1: +0.0300", "+0.0300", "n/a (one seed)", "undefined with one seed",
                       "one seed: no interval (it needs 2 or more seeds)"]
    assert "nan" not in text.lower() and "±" not in text


def test_graph_lines_per_seed_and_offsets(tmp_path, monkeypatch):
    drawn = []
    real_plot_ap_line = compare_seeds.plot_ap_line

    def spy(ax, records, epoch_offset=0, **style):
        drawn.append((len(records), epoch_offset, style["color"], style["linestyle"]))
        real_plot_ap_line(ax, records, epoch_offset, **style)

    monkeypatch.setattr(compare_seeds, "plot_ap_line", spy)
    root = write_fake_runs(tmp_path / "cmp", seeds=(0, 2))
    out = tmp_path / "graphs" / "ap.png"
    compare_seeds.main(["--root", str(root), "--seeds", "0", "2", "--out", str(out)])
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 10_000
    assert len(drawn) == 8  # 4 run kinds x 2 seeds
    # per seed: pure and scratch at offset 0 (3 epochs), the fine-tunes after the pure run's 3 epochs
    assert [(n, offset) for n, offset, _, _ in drawn[:4]] == [(3, 0), (3, 0), (2, 3), (2, 3)]
    assert [c for _, _, c, _ in drawn[:4]] == [c for _, _, c, _ in drawn[4:]] and len({c for _, _, c, _ in drawn}) == 4
    assert {s for _, _, _, s in drawn[:4]} == {"-"} and {s for _, _, _, s in drawn[4:]} == {"--"}


def test_graph_goes_under_omnipose_reports_unless_docs(tmp_path, monkeypatch):
    """Without --out the graph lands in OmniPose/reports/ (nothing under docs/); --docs writes the committed graph's
    place; --out and --docs together are refused."""
    root = write_fake_runs(tmp_path / "cmp", seeds=(0,))
    monkeypatch.chdir(tmp_path)  # the default paths are relative to the caller's folder, as from the repository root
    compare_seeds.main(["--root", str(root)])
    assert (tmp_path / "OmniPose/reports/comparison/ap_per_epoch.png").read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / "docs").exists()
    compare_seeds.main(["--root", str(root), "--docs"])
    assert (tmp_path / "docs/results/comparison/ap_per_epoch.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(SystemExit) as refused:
        compare_seeds.main(["--root", str(root), "--docs", "--out", str(tmp_path / "ap.png")])
    assert refused.value.code == 2 and not (tmp_path / "ap.png").exists()

def test_errors_name_what_is_missing(tmp_path):
    root = write_fake_runs(tmp_path / "cmp", seeds=(0,))
    with pytest.raises(FileNotFoundError, match=r"seed5.*OmniPose"):
        compare_seeds.main(["--root", str(root), "--seeds", "0", "5", "--run-subdir", SUBDIR,
                            "--out", str(tmp_path / "ap.png")])
    with pytest.raises(FileNotFoundError, match="no seed<k> folders"):
        compare_seeds.main(["--root", str(tmp_path / "empty"), "--out", str(tmp_path / "ap.png")])
    (root / "seed0" / "OmniPoseAN" / "coco" / "other_model").mkdir(parents=True)
    append_metrics(str(root / "seed0" / "OmniPoseAN" / "coco" / "other_model"), {"epoch": 0, "AP": 0.1})
    with pytest.raises(FileNotFoundError, match="exactly one run folder"):
        compare_seeds.main(["--root", str(root), "--out", str(tmp_path / "ap.png")])
    with pytest.raises(SystemExit):
        compare_seeds.main(["--root", str(root), "--seeds", "0", "0", "--out", str(tmp_path / "ap.png")])
    assert not (tmp_path / "ap.png").exists()


def test_fine_tune_only(tmp_path):
    """--kinds with the fine-tune pair alone: its rows and pair, no pure or from-scratch row, fine-tunes from epoch 1."""
    root = write_fake_runs(tmp_path / "cmp")
    text = compare_seeds.main(["--root", str(root), "--run-subdir", SUBDIR, "--out", str(tmp_path / "ap.png"),
                               "--kinds", "OmniPoseAN2_control", "OmniPoseAN2"])
    assert "OmniPose (pure)" not in text and "from scratch" not in text
    diffs = [0.50 - 0.48, 0.52 - 0.49, 0.55 - 0.50]
    mean, _ = hand_mean_sd(diffs)
    row = cells(text, "fine-tune: OmniPoseAN2 - control (lambda 0)", "AP")
    assert row[4] == f"{mean:+.4f}"
    assert (tmp_path / "ap.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(SystemExit):
        compare_seeds.main(["--root", str(root), "--kinds", "OmniPoseXX"])
