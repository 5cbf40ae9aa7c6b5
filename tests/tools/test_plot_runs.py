"""tools/plot_runs.py on fake run folders (graph, table, errors), tools/reproduce_comparison.sh (syntax, dry run, and
its whole flow with the trainers replaced by a stub that writes metrics), and tools/draw_architecture.py."""
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lib.config import load_cfg
from lib.core.engine import append_metrics
from tools import draw_architecture, plot_runs

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "reproduce_comparison.sh"
QUICKSTART_CFG = load_cfg(str(REPO / "experiments" / "synthetic" / "omnipose_quickstart.yaml"))
QUICKSTART_EPOCHS = QUICKSTART_CFG.TRAIN.END_EPOCH
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


# ---------------------------------------------------------------- tools/reproduce_comparison.sh


def _env(**extra):
    env = dict(os.environ, PYTHON=sys.executable)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def test_comparison_script_syntax():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_comparison_dry_run_prints_four_commands(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT)], env=_env(COMPARISON_DRY_RUN=1, COMPARISON_OUT=tmp_path / "cmp"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if "tools/train" in line]
    assert len(commands) == 4, proc.stdout
    pure, scratch, finetune, control = commands
    assert "tools/train.py" in pure and "--init-from" not in pure and f"TRAIN.END_EPOCH {QUICKSTART_EPOCHS}" in pure
    assert "tools/train_AN.py" in scratch and "--init-from" not in scratch and f"TRAIN.END_EPOCH {QUICKSTART_EPOCHS}" in scratch
    for line in (finetune, control):
        assert "tools/train_AN.py" in line and "--init-from" in line and "model_best.pth" in line
        assert "TRAIN.END_EPOCH 2" in line and "GAN.WARMUP_EPOCHS 0" in line and f"TRAIN.LR {QUICKSTART_CFG.TRAIN.LR / 10:g}" in line  # a tenth of the config's
    assert "GAN.LAMBDA_P 0.0" in control and "GAN.LAMBDA_C 0.0" in control and "LAMBDA" not in finetune
    assert all("SEED 0" in line for line in commands)
    assert len({line.split("OUTPUT_DIR ")[1].split()[0] for line in commands}) == 4  # no two runs collide
    assert f"--offsets 0 0 {QUICKSTART_EPOCHS} {QUICKSTART_EPOCHS}" in proc.stdout
    assert not (tmp_path / "cmp").exists()


def test_comparison_dry_run_settings_and_errors(tmp_path):
    env = _env(COMPARISON_DRY_RUN=1, COMPARISON_EPOCHS=3, COMPARISON_FT_EPOCHS=4, COMPARISON_WARMUP=1,
               COMPARISON_SEED=7, COMPARISON_OPTS="WORKERS 0 TRAIN.LR 0.004", COMPARISON_FT_OPTS="GAN.TAU_P 0.5")
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if "tools/train" in line]
    assert all("WORKERS 0" in line and "SEED 7" in line for line in commands)
    assert "TRAIN.END_EPOCH 3" in commands[0] and "GAN.TAU_P" not in commands[1]
    assert all("TRAIN.END_EPOCH 4" in c and "TRAIN.LR 0.0004" in c and "GAN.WARMUP_EPOCHS 1" in c
               and "GAN.TAU_P 0.5" in c for c in commands[2:])
    assert "--offsets 0 0 3 3" in proc.stdout

    bad = subprocess.run(["bash", str(SCRIPT)], env=_env(COMPARISON_DRY_RUN=1, COMPARISON_WARMUP=2),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "W=2" in bad.stderr
    bad = subprocess.run(["bash", str(SCRIPT)], env=_env(COMPARISON_DRY_RUN=1, COMPARISON_OPTS="NO.SUCH_KEY 1"),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "NO.SUCH_KEY" in bad.stderr


STUB_TRAINER = r'''#!/usr/bin/env bash
# Stands in for the interpreter: tools/train*.py writes a fake run (metrics.jsonl, model_best.pth) instantly,
# anything else goes to the real python.
case "${1:-}" in
  tools/train.py|tools/train_AN.py) ;;
  *) exec "$REAL_PYTHON" "$@" ;;
esac
exec "$REAL_PYTHON" - "$@" <<'EOF'
import json, os, sys
from lib.config import config_name, load_cfg
args = sys.argv[1:]
trainer, cfg_path = args[0], args[args.index("--cfg") + 1]
init = args[args.index("--init-from") + 1] if "--init-from" in args else ""
if init and not os.path.isfile(init):
    sys.exit(f"stub: --init-from {init} does not exist yet")
opts = args[args.index("--cfg") + 2:]
if init:
    opts = opts[2:]
cfg = load_cfg(cfg_path, opts)
run_dir = os.path.join(cfg.OUTPUT_DIR, cfg.DATASET.DATASET, cfg.MODEL.NAME, config_name(cfg_path))
os.makedirs(run_dir)
gain = 0.01 if cfg.GAN.LAMBDA_P > 0 and "AN" in trainer else 0.0
with open(os.path.join(run_dir, "metrics.jsonl"), "w") as f:
    for epoch in range(cfg.TRAIN.END_EPOCH):
        record = {"epoch": epoch, "best_epoch": cfg.TRAIN.END_EPOCH - 1}
        if (epoch + 1) % cfg.TRAIN.VAL_INTERVAL == 0 or epoch + 1 == cfg.TRAIN.END_EPOCH:
            record.update({"AP": 0.1 * (epoch + 1) + gain, "AR": 0.5, "AP (v=1 only)": 0.2, "acc v=1": 0.3})
        f.write(json.dumps(record) + "\n")
open(os.path.join(run_dir, "model_best.pth"), "wb").close()
print("stub trained", trainer, run_dir)
EOF
'''


def test_comparison_flow_with_stub_trainers(tmp_path):
    """The non-dry path end to end (order, run folders, plot, comparison.md), trainers replaced by a stub."""
    stub = tmp_path / "stub_python"
    stub.write_text(STUB_TRAINER)
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    cfg = tmp_path / "tiny_cmp.yaml"  # a dataset root ensure_synthetic leaves alone
    cfg.write_text(f"_BASE_: {REPO / 'experiments/synthetic/omnipose_quickstart.yaml'}\n"
                   f"DATASET:\n  ROOT: {tmp_path / 'fake_data'}\n")
    out, docs = tmp_path / "cmp", tmp_path / "docs"
    env = _env(PYTHON=stub, REAL_PYTHON=sys.executable, COMPARISON_CFG=cfg, COMPARISON_OUT=out,
               COMPARISON_DOCS=docs, COMPARISON_EPOCHS=3, COMPARISON_SEED=5)
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (docs / "ap_per_epoch.png").read_bytes()[:8] == PNG_MAGIC
    md = (docs / "comparison.md").read_text()
    assert md.startswith("<!-- generated by tools/reproduce_comparison.sh")
    table_rows = [line for line in md.splitlines() if line.startswith("| OmniPose")]
    assert len(table_rows) == 8  # 4 in the results table, 4 in the settings/wall-time table
    assert "| OmniPoseAN2 (adversarial fine-tune) | 2 | 0.2100 |" in md
    assert "| OmniPoseAN2 control (fine-tune, lambda 0) | 2 | 0.2000 |" in md
    assert "SEED 5" in md and "cores (nproc)" in md and "torch " in md and "0h 00m" in md
    assert md.count("tools/train_AN.py --cfg") == 3 and "GAN.LAMBDA_P 0.0 GAN.LAMBDA_C 0.0" in md
    assert "model_best.pth` (epoch 3 of 3)" in md

    again = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "COMPARISON_OVERWRITE=1" in again.stderr
    env["COMPARISON_OVERWRITE"] = "1"
    again = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr


def test_comparison_fails_loudly(tmp_path):
    stub = tmp_path / "stub_python"
    stub.write_text('#!/usr/bin/env bash\ncase "$1" in tools/train*) echo boom >&2; exit 3;; esac\n'
                    'exec "$REAL_PYTHON" "$@"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    cfg = tmp_path / "tiny_cmp.yaml"
    cfg.write_text(f"_BASE_: {REPO / 'experiments/synthetic/omnipose_quickstart.yaml'}\n"
                   f"DATASET:\n  ROOT: {tmp_path / 'fake_data'}\n")
    env = _env(PYTHON=stub, REAL_PYTHON=sys.executable, COMPARISON_CFG=cfg, COMPARISON_OUT=tmp_path / "cmp",
               COMPARISON_DOCS=tmp_path / "docs")
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "run OmniPose failed" in proc.stderr and "boom" in proc.stderr
    assert not (tmp_path / "docs").exists()


# ---------------------------------------------------------------- tools/draw_architecture.py


def test_draw_architecture_writes_png(tmp_path):
    out = tmp_path / "figs" / "arch.png"
    assert draw_architecture.main(["--out", str(out)]) == str(out)
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and 20_000 < len(data) < 250_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # IHDR
    assert (width, height) == (1400, 740)
