"""The run folder: where a run writes (OUTPUT_DIR/<dataset>/<model>/<config name>/, or --work-dir), its config.yaml,
environment.json and metrics.jsonl (one json line per epoch), and how a run may start in it (plan_start).

A run never overwrites or silently continues another: a new run refuses a folder that holds a run's files; it
continues one only when asked (--resume [PATH], --auto-resume or AUTO_RESUME True), and replaces one only with
--overwrite, which moves the old folder aside (<run dir>.replaced-<time>) instead of deleting anything.
"""
import contextlib
import dataclasses
import json
import math
import os
import time

from lib.config import config_name, resolve_path
from lib.utils.errors import UserError

# Where runs land without OUTPUT_DIR or --work-dir: pure, adversarial from scratch, adversarial from given weights.
PURE_OUTPUT, ADVERSARIAL_OUTPUT, FINETUNE_OUTPUT = "OmniPose/trained", "OmniPose/trained_GAN", "OmniPose/trained_GAN_2"

# The files of a run folder.
CONFIG_FILE = "config.yaml"
ENVIRONMENT_FILE = "environment.json"
CHECKPOINT_FILE = "checkpoint.pth"
BEST_FILE = "model_best.pth"
FINAL_FILE = "final_state.pth"
METRICS_FILE = "metrics.jsonl"
# What a run leaves once it has trained: a folder holding any of these holds a run. (config.yaml, the log and tb/
# alone are a run that stopped before its first epoch ended, e.g. on a wrong data path: it may start again.)
RESULT_FILES = (CHECKPOINT_FILE, BEST_FILE, FINAL_FILE, METRICS_FILE)
# --resume without a path: the run folder's own checkpoint.pth.
RESUME_OWN = "own"


def run_dir_for(cfg, cfg_path, default_output=PURE_OUTPUT, work_dir=""):
    """`work_dir` when given; else OUTPUT_DIR/<dataset>/<model>/<config name>/ (OUTPUT_DIR falls back to
    `default_output`, resolved by the same path rule as every path key)."""
    if work_dir:
        return os.path.abspath(os.path.expanduser(work_dir))
    base = cfg.OUTPUT_DIR or resolve_path(cfg, default_output)
    return os.path.join(base, cfg.DATASET.DATASET, cfg.MODEL.NAME, config_name(cfg_path))


@dataclasses.dataclass
class StartPlan:
    """How a run starts in its folder: from scratch, or resuming `resume_from`; with `move_aside` set, the folder's
    old contents go there first (--overwrite)."""

    run_dir: str
    resume_from: str = ""
    move_aside: str = ""


def _present(run_dir, names):
    return [n for n in names if os.path.isfile(os.path.join(run_dir, n))]


def _aside_path(run_dir):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = f"{run_dir}.replaced-{stamp}", 1
    while os.path.exists(path):
        path, n = f"{run_dir}.replaced-{stamp}-{n}", n + 1
    return path


def plan_start(run_dir, resume="", auto_resume=False, overwrite=False):
    """Decides, from what `run_dir` holds and the flags, how a run starts there; changes nothing on disk.

    Args:
        resume: '' (not asked), RESUME_OWN (--resume without a path: <run dir>/checkpoint.pth) or a checkpoint path.
        auto_resume: --auto-resume or AUTO_RESUME: continue <run dir>/checkpoint.pth when there is one, else start.
        overwrite: --overwrite: move whatever the folder holds aside and start from scratch.
    Raises:
        UserError naming the folder, what it holds and the flags that would proceed.
    """
    held = _present(run_dir, RESULT_FILES)
    own_checkpoint = os.path.join(run_dir, CHECKPOINT_FILE)
    if overwrite:
        if resume:
            raise UserError("--overwrite and --resume contradict each other: one starts a new run, the other "
                            "continues an old one", hint="give one of them")
        has_anything = os.path.isdir(run_dir) and bool(os.listdir(run_dir))
        return StartPlan(run_dir, move_aside=_aside_path(run_dir) if has_anything else "")
    if resume == RESUME_OWN:
        if not os.path.isfile(own_checkpoint):
            raise UserError(f"{run_dir}: no {CHECKPOINT_FILE} to resume (--resume without a path continues the run "
                            "folder's own checkpoint)", hint="give the checkpoint: --resume PATH/checkpoint.pth")
        return StartPlan(run_dir, resume_from=own_checkpoint)
    if resume:
        elsewhere = os.path.realpath(os.path.dirname(os.path.abspath(resume))) != os.path.realpath(run_dir)
        if elsewhere and held:
            raise UserError(f"{run_dir} already holds another run ({', '.join(held)}); resuming {resume} into it "
                            "would mix two runs", hint="choose an empty folder with --work-dir DIR")
        return StartPlan(run_dir, resume_from=resume)
    if auto_resume and os.path.isfile(own_checkpoint):
        return StartPlan(run_dir, resume_from=own_checkpoint)
    if held:
        finished = "a finished run" if FINAL_FILE in held else "a run"
        if CHECKPOINT_FILE not in held:
            how = f"it has no {CHECKPOINT_FILE} to continue"
        elif FINAL_FILE in held:
            how = "--resume with a higher TRAIN.END_EPOCH trains it longer"
        else:
            how = "--resume continues it"
        raise UserError(f"{run_dir} already holds {finished} ({', '.join(held)}); a new run would overwrite it",
                        hint=f"{how}; --work-dir DIR starts the new run elsewhere; --overwrite moves the old folder "
                             f"aside to {run_dir}.replaced-<time> and starts over")
    return StartPlan(run_dir)


def carry_out(plan):
    """Moves the old folder aside when the plan says so (rank 0 only) and creates the run folder."""
    if plan.move_aside:
        os.replace(plan.run_dir, plan.move_aside)
    os.makedirs(plan.run_dir, exist_ok=True)


@contextlib.contextmanager
def writing(path):
    """Around an (atomic) write of a run file: a full disk or a folder that became read-only is reported as the
    user's to fix, naming the file; the atomic write has kept the previous version."""
    try:
        yield
    except OSError as e:
        raise UserError(f"{path}: cannot write it ({e.strerror or e}); the previous version, if any, is intact",
                        hint="free space or fix the folder's permissions, then continue with --resume") from e


def save_environment(environment, run_dir):
    """<run dir>/environment.json, next to config.yaml (atomic); append_metrics copies it into every record."""
    path = os.path.join(run_dir, ENVIRONMENT_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(environment, f, indent=1)
    os.replace(tmp, path)


def save_config(cfg, run_dir):
    path = os.path.join(run_dir, CONFIG_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(cfg.dump())
    os.replace(tmp, path)


def append_metrics(run_dir, record):
    """One json line per epoch in <run dir>/metrics.jsonl (plots and comparisons read it). When the run folder has an
    environment.json (setup_run writes one at every start), the line carries it as 'env', so each epoch says where
    and in what precision it ran, resumed runs included."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    env_path = os.path.join(run_dir, ENVIRONMENT_FILE)
    if "env" not in clean and os.path.isfile(env_path):
        with open(env_path) as f:
            clean["env"] = json.load(f)
    path = os.path.join(run_dir, METRICS_FILE)
    previous = open(path).read() if os.path.isfile(path) else ""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:  # the whole file again, then a rename: a full disk never leaves half a line
        f.write(previous + json.dumps(clean) + "\n")
    os.replace(tmp, path)


def read_metrics(run_dir):
    path = os.path.join(run_dir, METRICS_FILE)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def truncate_metrics(run_dir, upto_epoch):
    """On resume, drop lines of epochs >= upto_epoch (written after the checkpoint the run resumes from)."""
    records = [r for r in read_metrics(run_dir) if r.get("epoch", -1) < upto_epoch]
    path = os.path.join(run_dir, METRICS_FILE)
    if os.path.isfile(path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, path)

