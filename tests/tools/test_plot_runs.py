"""tools/analysis/plot_runs.py on fake run folders (graph, table, errors) and tools/analysis/draw_architecture.py
(tools/studies/reproduce_comparison.sh: test_reproduce_comparison.py)."""
import os

import pytest

from lib.core.workdir import append_metrics
from tools.analysis import draw_architecture, plot_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _record(epoch, ap, evaluated=True):
    record = {"epoch": epoch, "trainer": "pure", "loss": 0.001, "lr": 1e-3}
    if evaluated:
        record.update({"AP": ap, "AP .5": ap + 0.2, "AP .75": ap - 0.05, "AR": ap + 0.05, "AP (v=1 only)": ap - 0.1,
                       "acc v=1": 0.4, "acc v=2": 0.6})
    return record


@pytest.fixture
def two_runs(tmp_path):
    """run_a: AP 0.30, 0.50, 0.45 at epochs 3, 6, 9 (best 0.50 at 6, an unevaluated epoch between);
    run_b: AP 0.20, 0.60 at epochs 1, 2."""
    run_a, run_b = tmp_path / "run_a", tmp_path / "run_b"
    run_a.mkdir()
    run_b.mkdir()
    for epoch in range(9):
        evaluated = (epoch + 1) % 3 == 0
        append_metrics(str(run_a), _record(epoch, {2: 0.30, 5: 0.50, 8: 0.45}.get(epoch), evaluated))
    append_metrics(str(run_b), _record(0, 0.20))
    append_metrics(str(run_b), _record(1, 0.60))
    return run_a, run_b


def test_graph_and_table(two_runs, tmp_path, capsys):
    out = tmp_path / "graphs" / "ap.png"
    text = plot_runs.main([str(two_runs[0]), str(two_runs[1]), "--labels", "pure", "adversarial",
                           "--offsets", "0", "9", "--out", str(out)])
    assert out.stat().st_size > 1000 and out.read_bytes()[:8] == PNG_MAGIC
    assert capsys.readouterr().out.strip() == text
    lines = text.splitlines()
    assert lines[0].startswith("| run | epochs | final AP |") and "best AP (epoch)" in lines[0]
    rows = lines[2:]
    assert len(rows) == 2
    cells_a = [c.strip() for c in rows[0].strip("|").split("|")]
    cells_b = [c.strip() for c in rows[1].strip("|").split("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert len(cells_a) == len(cells_b) == len(header)
    a, b = dict(zip(header, cells_a)), dict(zip(header, cells_b))
    assert (a["run"], a["epochs"], a["final AP"], a["best AP (epoch)"]) == ("pure", "9", "0.4500", "0.5000 (6)")
    assert (a["final AP (v=1 only)"], a["final acc v=1"]) == ("0.3500", "0.4000")
    assert (b["run"], b["epochs"], b["final AP"], b["best AP (epoch)"]) == ("adversarial", "2", "0.6000", "0.6000 (2)")


def test_default_labels_are_folder_names(two_runs, tmp_path):
    text = plot_runs.main([str(two_runs[0]), str(two_runs[1]) + os.sep, "--out", str(tmp_path / "ap.png")])
    assert [row.split("|")[1].strip() for row in text.splitlines()[2:]] == ["run_a", "run_b"]


def test_missing_stat_is_a_dash(tmp_path):
    run = tmp_path / "old_run"
    run.mkdir()
    append_metrics(str(run), {"epoch": 0, "AP": 0.1, "AR": float("nan")})  # NaN is stored as null
    text = plot_runs.main([str(run), "--out", str(tmp_path / "ap.png")])
    assert "| old_run | 1 | 0.1000 | - |" in text


def test_folder_without_metrics_is_named(two_runs, tmp_path):
    empty = tmp_path / "never_evaluated"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="never_evaluated.*metrics.jsonl"):
        plot_runs.main([str(two_runs[0]), str(empty), "--out", str(tmp_path / "ap.png")])
    only_train = tmp_path / "train_only"
    only_train.mkdir()
    append_metrics(str(only_train), _record(0, None, evaluated=False))
    with pytest.raises(FileNotFoundError, match="train_only"):
        plot_runs.main([str(only_train), "--out", str(tmp_path / "ap.png")])
    assert not (tmp_path / "ap.png").exists()


@pytest.mark.parametrize("flag", ["--labels", "--offsets"])
def test_one_value_per_run(two_runs, tmp_path, capsys, flag):
    with pytest.raises(SystemExit) as err:
        plot_runs.main([str(two_runs[0]), str(two_runs[1]), flag, "1", "--out", str(tmp_path / "ap.png")])
    assert err.value.code == 2
    assert f"{flag} needs one value per run (2), got 1" in capsys.readouterr().err


def test_graph_goes_under_omnipose_reports_unless_docs(two_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default paths are relative to the caller's folder, as from the repository root
    plot_runs.main([str(two_runs[0])])
    assert (tmp_path / "OmniPose/reports/plot_runs/ap_per_epoch.png").read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / "docs").exists()
    plot_runs.main([str(two_runs[0]), "--docs"])
    assert (tmp_path / "docs/results/plot_runs/ap_per_epoch.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(SystemExit) as refused:
        plot_runs.main([str(two_runs[0]), "--docs", "--out", str(tmp_path / "ap.png")])
    assert refused.value.code == 2 and not (tmp_path / "ap.png").exists()

# ---------------------------------------------------------------- tools/analysis/draw_architecture.py


def test_draw_architecture_writes_png(tmp_path):
    out = tmp_path / "figs" / "arch.png"
    assert draw_architecture.main(["--out", str(out)]) == str(out)
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and 20_000 < len(data) < 250_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # IHDR
    assert (width, height) == (1400, 740)


def test_draw_architecture_goes_under_omnipose_reports_unless_docs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert draw_architecture.main([]) == "OmniPose/reports/architecture/adversarial_architecture.png"
    assert (tmp_path / "OmniPose/reports/architecture/adversarial_architecture.png").read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / "docs").exists()
    assert draw_architecture.main(["--docs"]) == "docs/adversarial_architecture.png"
    assert (tmp_path / "docs/adversarial_architecture.png").read_bytes()[:8] == PNG_MAGIC
