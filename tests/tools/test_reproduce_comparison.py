"""tools/studies/reproduce_comparison.sh: syntax, dry runs (one and several seeds, settings, errors, the resume plan),
and its whole flow with the trainers replaced by a stub that writes metrics instantly (docs, re-runs, resume,
overwrite)."""
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lib.config import load_cfg

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "studies" / "reproduce_comparison.sh"
BENCHMARK = "experiments/synthetic/omnipose_benchmark.yaml"  # the script's default config
BENCHMARK_CFG = load_cfg(str(REPO / BENCHMARK))
BENCHMARK_EPOCHS = BENCHMARK_CFG.TRAIN.END_EPOCH
BENCHMARK_SUBDIR = Path("coco") / "omnipose" / "omnipose_benchmark"
RUNS = ["OmniPose", "OmniPoseAN", "OmniPoseAN2", "OmniPoseAN2_control"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPARISON_")}
    env["PYTHON"] = sys.executable
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _script(*args, timeout=120, **env):
    return subprocess.run(["bash", str(SCRIPT), *args], env=_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def _commands(stdout):
    return [line for line in stdout.splitlines() if "tools/train" in line]


def _output_dir(command):
    return command.split("OUTPUT_DIR ")[1].split()[0]


def test_syntax_help_and_unknown_argument():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    help_text = _script("--help").stdout
    assert help_text.startswith("Pure versus adversarial OmniPose") and "COMPARISON_RESUME=1" in help_text
    bad = _script("--seed", "1")
    assert bad.returncode != 0 and "unknown argument '--seed'" in bad.stderr
    bad = _script("--seeds")
    assert bad.returncode != 0 and "--seeds needs at least one seed" in bad.stderr


def test_dry_run_default_is_one_seed(tmp_path):
    out = tmp_path / "cmp"
    proc = _script(COMPARISON_DRY_RUN=1, COMPARISON_OUT=out)
    assert proc.returncode == 0, proc.stderr
    commands = _commands(proc.stdout)
    assert len(commands) == 4, proc.stdout
    pure, scratch, finetune, control = commands
    assert "tools/train.py" in pure and "--init-from" not in pure and f"TRAIN.END_EPOCH {BENCHMARK_EPOCHS}" in pure
    assert "tools/train_AN.py" in scratch and "--init-from" not in scratch
    assert f"TRAIN.END_EPOCH {BENCHMARK_EPOCHS}" in scratch
    for line in (finetune, control):
        assert f"--init-from {out}/seed0/OmniPose/{BENCHMARK_SUBDIR}/model_best.pth" in line
        assert "TRAIN.END_EPOCH 2" in line and "GAN.WARMUP_EPOCHS 0" in line
        assert f"TRAIN.LR {BENCHMARK_CFG.TRAIN.LR / 10:g}" in line  # a tenth of the config's
    assert "GAN.LAMBDA_P 0.0" in control and "GAN.LAMBDA_C 0.0" in control and "LAMBDA" not in finetune
    assert all("SEED 0 " in line for line in commands)
    assert [_output_dir(c) for c in commands] == [f"{out}/seed0/{run}" for run in RUNS]
    assert f"tools/studies/compare_seeds.py --root {out} --seeds 0 --run-subdir {BENCHMARK_SUBDIR}" in proc.stdout
    # the page and graph go under OmniPose/ by default; docs/ only on request
    assert "report: OmniPose/reports/comparison/comparison.md and OmniPose/reports/comparison/ap_per_epoch.png" \
        in proc.stdout and "--out OmniPose/reports/comparison/ap_per_epoch.png" in proc.stdout
    assert not out.exists()
    to_docs = _script("--docs", COMPARISON_DRY_RUN=1, COMPARISON_OUT=out)
    assert to_docs.returncode == 0 and "--out docs/results/comparison/ap_per_epoch.png" in to_docs.stdout
    to_folder = _script(COMPARISON_DRY_RUN=1, COMPARISON_OUT=out, COMPARISON_DOCS=tmp_path / "pages")
    assert f"report: {tmp_path / 'pages'}/comparison.md" in to_folder.stdout
    both = _script("--docs", COMPARISON_DRY_RUN=1, COMPARISON_DOCS=tmp_path / "pages")
    assert both.returncode != 0 and "give one of the two" in both.stderr


def test_dry_run_several_seeds(tmp_path):
    out = tmp_path / "cmp"
    proc = _script("--seeds", "0", "1", "2", COMPARISON_DRY_RUN=1, COMPARISON_OUT=out,
                   COMPARISON_SEEDS="8 9")  # --seeds wins
    assert proc.returncode == 0, proc.stderr
    commands = _commands(proc.stdout)
    assert len(commands) == 12, proc.stdout
    for k, seed in enumerate([0, 1, 2]):
        seed_commands = commands[4 * k:4 * k + 4]
        assert all(line.startswith(f"[comparison] seed {seed}: run ") for line in seed_commands)
        assert all(f"SEED {seed} " in line for line in seed_commands)
        assert [_output_dir(c) for c in seed_commands] == [f"{out}/seed{seed}/{run}" for run in RUNS]
        init = f"--init-from {out}/seed{seed}/OmniPose/{BENCHMARK_SUBDIR}/model_best.pth"
        assert [init in c for c in seed_commands] == [False, False, True, True]
    assert "--seeds 0 1 2 --run-subdir" in proc.stdout

    from_env = _script(COMPARISON_DRY_RUN=1, COMPARISON_OUT=out, COMPARISON_SEEDS="3 4", COMPARISON_SEED=7)
    assert from_env.returncode == 0, from_env.stderr
    assert [_output_dir(c) for c in _commands(from_env.stdout)][::4] == [f"{out}/seed3/OmniPose",
                                                                         f"{out}/seed4/OmniPose"]


def test_dry_run_settings_and_errors(tmp_path):
    proc = _script(COMPARISON_DRY_RUN=1, COMPARISON_EPOCHS=3, COMPARISON_FT_EPOCHS=4, COMPARISON_WARMUP=1,
                   COMPARISON_SEED=7, COMPARISON_OPTS="WORKERS 0 TRAIN.LR 0.004", COMPARISON_FT_OPTS="GAN.TAU_P 0.5")
    assert proc.returncode == 0, proc.stderr
    commands = _commands(proc.stdout)
    assert len(commands) == 4
    assert all("WORKERS 0" in line and "SEED 7 " in line and "/seed7/" in line for line in commands)
    assert "TRAIN.END_EPOCH 3" in commands[0] and "GAN.TAU_P" not in commands[1]
    assert all("TRAIN.END_EPOCH 4" in c and "TRAIN.LR 0.0004" in c and "GAN.WARMUP_EPOCHS 1" in c
               and "GAN.TAU_P 0.5" in c for c in commands[2:])

    errors = [({"COMPARISON_WARMUP": 2}, "W=2"), ({"COMPARISON_OPTS": "NO.SUCH_KEY 1"}, "NO.SUCH_KEY"),
              ({"COMPARISON_SEEDS": "0 1 0"}, "name a seed twice"), ({"COMPARISON_SEEDS": "0 x"}, "seed 'x'"),
              ({"COMPARISON_RESUME": 1, "COMPARISON_OVERWRITE": 1}, "set one of the two")]
    for env, message in errors:
        bad = _script(COMPARISON_DRY_RUN=1, **env)
        assert bad.returncode != 0 and message in bad.stderr, (env, bad.stderr)


def test_dry_run_finetune_only(tmp_path):
    out = tmp_path / "cmp"
    start = tmp_path / "pretrained.pth"
    start.write_bytes(b"")
    proc = _script("--seeds", "0", "1", COMPARISON_DRY_RUN=1, COMPARISON_OUT=out, COMPARISON_RUNS="finetune",
                   COMPARISON_INIT_FROM=start)
    assert proc.returncode == 0, proc.stderr
    commands = _commands(proc.stdout)
    assert len(commands) == 4, proc.stdout  # two seeds x (fine-tune, control), no pure or from-scratch run
    assert [_output_dir(c) for c in commands] == [f"{out}/seed{s}/{run}" for s in (0, 1) for run in RUNS[2:]]
    assert all(f"--init-from {start} " in c and "tools/train_AN.py" in c for c in commands)
    assert ["GAN.LAMBDA_P 0.0" in c for c in commands] == [False, True, False, True]
    assert "--kinds OmniPoseAN2 OmniPoseAN2_control" in proc.stdout

    errors = [({"COMPARISON_RUNS": "finetune"}, "needs COMPARISON_INIT_FROM"),
              ({"COMPARISON_RUNS": "finetune", "COMPARISON_INIT_FROM": tmp_path / "missing.pth"}, "no such file"),
              ({"COMPARISON_INIT_FROM": start}, "is for COMPARISON_RUNS=finetune"),
              ({"COMPARISON_RUNS": "scratch", "COMPARISON_INIT_FROM": start}, "scratch trains from random init"),
              ({"COMPARISON_RUNS": "pure"}, "expected all, scratch or finetune")]
    for env, message in errors:
        bad = _script(COMPARISON_DRY_RUN=1, **env)
        assert bad.returncode != 0 and message in bad.stderr, (env, bad.stderr)


def test_dry_run_scratch_only(tmp_path):
    out = tmp_path / "cmp"
    proc = _script("--seeds", "0", "1", COMPARISON_DRY_RUN=1, COMPARISON_OUT=out, COMPARISON_RUNS="scratch")
    assert proc.returncode == 0, proc.stderr
    commands = _commands(proc.stdout)
    assert len(commands) == 4, proc.stdout  # two seeds x (pure, adversarial from scratch), no fine-tune
    assert [_output_dir(c) for c in commands] == [f"{out}/seed{s}/{run}" for s in (0, 1) for run in RUNS[:2]]
    assert ["tools/train.py" in c for c in commands] == [True, False, True, False]
    assert not any("--init-from" in c or "LAMBDA" in c for c in commands)
    assert "--kinds OmniPose OmniPoseAN " in proc.stdout + " "


def _fake_run(run_dir, epochs, best=True, checkpoint=True):
    """A run folder as a trainer leaves it after `epochs` epochs (0: crashed in its first epoch)."""
    run_dir.mkdir(parents=True)
    with open(run_dir / "metrics.jsonl", "w") as f:
        for epoch in range(epochs):
            f.write(json.dumps({"epoch": epoch, "AP": 0.1, "best_epoch": epoch}) + "\n")
    for name, present in (("model_best.pth", best), ("checkpoint.pth", checkpoint)):
        if present:
            (run_dir / name).write_bytes(b"")


def test_dry_run_resume_plan(tmp_path):
    out = tmp_path / "cmp"
    run = lambda seed, name: out / f"seed{seed}" / name / BENCHMARK_SUBDIR  # noqa: E731
    for name, epochs in zip(RUNS, [3, 3, 2, 2]):
        _fake_run(run(0, name), epochs)  # seed 0: all finished
    _fake_run(run(1, "OmniPose"), 1)  # interrupted after epoch 1: resume
    _fake_run(run(1, "OmniPoseAN2"), 2)  # finished, but from a pure model that is trained further: again
    _fake_run(run(2, "OmniPose"), 3)
    _fake_run(run(2, "OmniPoseAN"), 0, best=False, checkpoint=False)  # crashed before a checkpoint: restart
    _fake_run(run(2, "OmniPoseAN2"), 2)
    _fake_run(run(2, "OmniPoseAN2_control"), 2, best=False, checkpoint=False)
    proc = _script("--seeds", "0", "1", "2", COMPARISON_DRY_RUN=1, COMPARISON_RESUME=1, COMPARISON_OUT=out,
                   COMPARISON_EPOCHS=3)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout
    for name in RUNS:
        assert f"seed 0: {name} finished, skipped (COMPARISON_RESUME=1)" in lines
    assert "seed 1: OmniPose stopped after epoch 1 of 3: resuming from its checkpoint.pth" in lines
    resume = [line for line in lines.splitlines() if line.startswith("[comparison] seed 1: resume OmniPose:")]
    assert len(resume) == 1 and resume[0].rstrip().endswith("AUTO_RESUME True")
    assert "seed 1: OmniPoseAN2 is trained again: its pure run is not finished" in lines
    assert all(f"seed 1: run {name}:" in lines for name in RUNS[1:])
    assert "seed 2: OmniPose finished, skipped" in lines and "seed 2: OmniPoseAN2 finished, skipped" in lines
    assert "seed 2: OmniPoseAN is unfinished and has no checkpoint.pth: starting it again" in lines
    assert "seed 2: OmniPoseAN2_control is unfinished and has no checkpoint.pth" in lines
    assert "seed 2: run OmniPoseAN:" in lines and "seed 2: run OmniPoseAN2_control:" in lines
    assert len(_commands(lines)) == 12 - 6  # 6 skipped (their lines name no trainer); the resume line counts

    _fake_run(out / "seed5" / "OmniPose" / BENCHMARK_SUBDIR, 5)
    proc = _script("--seeds", "5", COMPARISON_DRY_RUN=1, COMPARISON_RESUME=1, COMPARISON_OUT=out, COMPARISON_EPOCHS=3)
    assert proc.returncode != 0 and "has 5 epochs, this comparison expects 3" in proc.stderr


STUB_TRAINER = r'''#!/usr/bin/env bash
# Stands in for the interpreter: tools/train*.py writes a fake run (metrics.jsonl, model_best.pth, checkpoint.pth)
# instantly and logs its arguments to $STUB_LOG; anything else goes to the real python.
case "${1:-}" in
  tools/train.py|tools/train_AN.py) echo "$*" >> "$STUB_LOG" ;;
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
if os.path.isdir(run_dir) and not cfg.AUTO_RESUME:
    sys.exit(f"stub: {run_dir} exists and AUTO_RESUME is off")
os.makedirs(run_dir, exist_ok=True)
# the adversarial runs gain 0.01 + 0.005 x seed AP over their pure counterparts
gain = 0.01 + 0.005 * cfg.SEED if cfg.GAN.LAMBDA_P > 0 and "AN" in trainer else 0.0
with open(os.path.join(run_dir, "metrics.jsonl"), "w") as f:
    for epoch in range(cfg.TRAIN.END_EPOCH):
        record = {"epoch": epoch, "best_epoch": cfg.TRAIN.END_EPOCH - 1}
        if (epoch + 1) % cfg.TRAIN.VAL_INTERVAL == 0 or epoch + 1 == cfg.TRAIN.END_EPOCH:
            record.update({"AP": 0.1 * (epoch + 1) + gain + 0.001 * cfg.SEED, "AP (v=1 only)": 0.2, "acc v=1": 0.3})
        f.write(json.dumps(record) + "\n")
for name in ("model_best.pth", "checkpoint.pth"):
    open(os.path.join(run_dir, name), "wb").close()
print("stub trained", trainer, run_dir)
EOF
'''


@pytest.fixture
def stub_env(tmp_path):
    """Environment for a real (non-dry) call with the stub trainers on a config whose dataset root is left alone."""
    stub = tmp_path / "stub_python"
    stub.write_text(STUB_TRAINER)
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    cfg = tmp_path / "tiny_cmp.yaml"  # a dataset root ensure_synthetic leaves alone
    cfg.write_text(f"_BASE_: {REPO / BENCHMARK}\nDATASET:\n  ROOT: {tmp_path / 'fake_data'}\n")
    return dict(PYTHON=stub, REAL_PYTHON=sys.executable, STUB_LOG=tmp_path / "stub.log", COMPARISON_CFG=cfg,
                COMPARISON_OUT=tmp_path / "cmp", COMPARISON_DOCS=tmp_path / "docs", COMPARISON_EPOCHS=3)


def _stub_calls(env):
    log = Path(env["STUB_LOG"])
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def _wall_rows(md):
    return [line for line in md.splitlines() if line.startswith("| OmniPose") and "`tools/train" in line]


def test_flow_with_stub_trainers(stub_env, tmp_path):
    """Two seeds end to end (order, folders, compare_seeds, comparison.md), then a plain re-run (refused), a resume
    that skips everything, and an overwrite that trains everything again."""
    run = ["bash", str(SCRIPT), "--seeds", "0", "1"]
    proc = subprocess.run(run, env=_env(**stub_env), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = _stub_calls(stub_env)
    assert [c.split()[0] for c in calls] == ["tools/train.py"] + ["tools/train_AN.py"] * 3 + \
        ["tools/train.py"] + ["tools/train_AN.py"] * 3
    docs = stub_env["COMPARISON_DOCS"]
    assert (docs / "ap_per_epoch.png").read_bytes()[:8] == PNG_MAGIC
    md = (docs / "comparison.md").read_text()
    assert md.startswith("<!-- generated by tools/studies/reproduce_comparison.sh")
    assert "seeds 0 1)" in md.splitlines()[1]
    # the graph's link resolves from the markdown file's own folder (where viewers resolve it)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all(not os.path.isabs(link) and (docs / link).is_file() for link in links), links
    # final APs: pure 0.3 + 0.001 seed; fine-tunes 0.2 + 0.001 seed (+ 0.01 + 0.005 seed when adversarial)
    assert "| OmniPose (pure) | 2 | 0.3005 ± 0.0007 |" in md
    assert "| OmniPoseAN2 (adversarial fine-tune) | 2 | 0.2130 ± 0.0042 |" in md
    assert "| OmniPoseAN2 control (fine-tune, lambda 0) | 2 | 0.2005 ± 0.0007 |" in md
    assert ("| fine-tune: OmniPoseAN2 - control (lambda 0) | AP | 2 | 0: +0.0100, 1: +0.0150 | +0.0125 | 0.0035 | "
            "[-0.0193, +0.0443] | interval includes 0: no difference detectable with 2 seeds |") in md
    assert "| wall time, seed 0 | wall time, seed 1 |" in md
    assert len(_wall_rows(md)) == 4 and all(line.count("0h 00m") == 2 for line in _wall_rows(md))
    assert "best epoch of 3, per seed: seed 0: 3, seed 1: 3" in md
    assert md.count("tools/train_AN.py --cfg") == 6  # 3 commands per seed
    assert md.count("GAN.LAMBDA_P 0.0 GAN.LAMBDA_C 0.0") == 1 + 2  # the settings row, each seed's control
    assert "cores (nproc)" in md and "torch " in md and "skipped" not in md

    again = subprocess.run(run, env=_env(**stub_env), capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "COMPARISON_RESUME=1" in again.stderr and "COMPARISON_OVERWRITE=1" in again.stderr
    assert _stub_calls(stub_env) == []

    resumed = subprocess.run(run, env=_env(**stub_env, COMPARISON_RESUME=1), capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert _stub_calls(stub_env) == [] and "8 finished runs of an earlier call skipped" in \
        (docs / "comparison.md").read_text()
    kept = _wall_rows((docs / "comparison.md").read_text())  # the wall times of the earlier call
    assert len(kept) == 4 and all(line.count("0h 00m") == 2 for line in kept)

    overwritten = subprocess.run(run, env=_env(**stub_env, COMPARISON_OVERWRITE=1), capture_output=True, text=True,
                                 timeout=180)
    assert overwritten.returncode == 0, overwritten.stderr
    assert len(_stub_calls(stub_env)) == 8


def test_flow_scratch_only_with_stub_trainers(stub_env):
    """COMPARISON_RUNS=scratch: per seed the pure run and the adversarial run from random init, their table and
    paired difference, and no fine-tune settings in comparison.md."""
    proc = subprocess.run(["bash", str(SCRIPT), "--seeds", "0", "1"], env=_env(**stub_env, COMPARISON_RUNS="scratch"),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c.split()[0] for c in _stub_calls(stub_env)] == ["tools/train.py", "tools/train_AN.py"] * 2
    md = (Path(stub_env["COMPARISON_DOCS"]) / "comparison.md").read_text()
    assert "| OmniPose (pure) | 2 | 0.3005 ± 0.0007 |" in md
    assert "| OmniPoseAN (adversarial from scratch) | 2 |" in md and "OmniPoseAN2" not in md
    assert "| from scratch: OmniPoseAN - OmniPose | AP | 2 | 0: +0.0100, 1: +0.0150 |" in md
    assert "fine-tune" not in md and "TRAIN.WARMUP_ITERS 0" not in md
    assert len(_wall_rows(md)) == 2 and md.count("tools/train_AN.py --cfg") == 2


def test_report_goes_under_omnipose_reports_unless_docs(stub_env, repo_view):
    """Started from a stand-in repository folder without COMPARISON_DOCS: the page and graph land in its
    OmniPose/reports/comparison/ and no docs/ folder appears; with --docs they go to docs/results/comparison/ and the
    page's reproduce command carries --docs."""
    env = {k: v for k, v in stub_env.items() if k != "COMPARISON_DOCS"}
    run = ["bash", str(repo_view / "tools" / "studies" / "reproduce_comparison.sh"), "--seeds", "0"]
    proc = subprocess.run(run, env=_env(**env, COMPARISON_RUNS="scratch"), capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = repo_view / "OmniPose" / "reports" / "comparison"
    assert (report / "ap_per_epoch.png").read_bytes()[:8] == PNG_MAGIC
    assert "| OmniPose (pure) | 1 |" in (report / "comparison.md").read_text()
    assert not (repo_view / "docs").exists()

    proc = subprocess.run(run + ["--docs"], env=_env(**env, COMPARISON_RUNS="scratch", COMPARISON_OVERWRITE=1),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = repo_view / "docs" / "results" / "comparison"
    assert (page / "ap_per_epoch.png").read_bytes()[:8] == PNG_MAGIC
    assert "reproduce_comparison.sh --seeds 0 --docs`" in (page / "comparison.md").read_text()

def test_resume_after_an_interruption(stub_env):
    """Seed 0 finished; seed 1 stopped in OmniPoseAN (checkpoint after epoch 1) before its control ran; seed 2 new."""
    first = subprocess.run(["bash", str(SCRIPT), "--seeds", "0", "1"], env=_env(**stub_env), capture_output=True,
                           text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    _stub_calls(stub_env)
    seed1 = Path(stub_env["COMPARISON_OUT"]) / "seed1"
    metrics = seed1 / "OmniPoseAN" / BENCHMARK_SUBDIR.parent / "tiny_cmp" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().splitlines()[0] + "\n")
    for leftover in (seed1 / "OmniPoseAN2_control", seed1 / "OmniPoseAN.wall_s", seed1 / "OmniPoseAN2_control.wall_s"):
        subprocess.run(["rm", "-r", str(leftover)], check=True)
    proc = subprocess.run(["bash", str(SCRIPT), "--seeds", "0", "1", "2"], env=_env(**stub_env, COMPARISON_RESUME=1),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = _stub_calls(stub_env)
    assert [(_output_dir(c).split("/")[-2:], c.endswith("AUTO_RESUME True")) for c in calls] == \
        [(["seed1", "OmniPoseAN"], True), (["seed1", "OmniPoseAN2_control"], False)] + \
        [(["seed2", name], False) for name in RUNS]
    md = (Path(stub_env["COMPARISON_DOCS"]) / "comparison.md").read_text()
    assert "6 finished runs of an earlier call skipped" in md and "(resumed: the last part only)" in md
    assert "| OmniPose (pure) | 3 |" in md


def test_fails_loudly(tmp_path):
    stub = tmp_path / "stub_python"
    stub.write_text('#!/usr/bin/env bash\ncase "$1" in tools/train*) echo boom >&2; exit 3;; esac\n'
                    'exec "$REAL_PYTHON" "$@"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    cfg = tmp_path / "tiny_cmp.yaml"
    cfg.write_text(f"_BASE_: {REPO / BENCHMARK}\nDATASET:\n  ROOT: {tmp_path / 'fake_data'}\n")
    proc = _script(PYTHON=stub, REAL_PYTHON=sys.executable, COMPARISON_CFG=cfg, COMPARISON_OUT=tmp_path / "cmp",
                   COMPARISON_DOCS=tmp_path / "docs", timeout=60)
    assert proc.returncode != 0
    assert "seed 0: run OmniPose failed" in proc.stderr and "boom" in proc.stderr
    assert not (tmp_path / "docs").exists()
