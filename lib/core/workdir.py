"""The run folder: where a run writes (OUTPUT_DIR/<dataset>/<model>/<config name>/), its config.yaml,
environment.json and metrics.jsonl (one json line per epoch), and which checkpoint a run resumes from."""
import json
import math
import os

from lib.config import config_name, resolve_path

ENVIRONMENT_FILE = "environment.json"


def run_dir_for(cfg, cfg_path, default_output="OmniPose/trained"):
    """OUTPUT_DIR/<dataset>/<model>/<config name>/ (OUTPUT_DIR falls back to `default_output`, resolved by the same
    path rule as every path key)."""
    base = cfg.OUTPUT_DIR or resolve_path(cfg, default_output)
    return os.path.join(base, cfg.DATASET.DATASET, cfg.MODEL.NAME, config_name(cfg_path))


def save_environment(environment, run_dir):
    """<run dir>/environment.json, next to config.yaml (atomic); append_metrics copies it into every record."""
    path = os.path.join(run_dir, ENVIRONMENT_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(environment, f, indent=1)
    os.replace(tmp, path)


def save_config(cfg, run_dir):
    path = os.path.join(run_dir, "config.yaml")
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
    with open(os.path.join(run_dir, "metrics.jsonl"), "a") as f:
        f.write(json.dumps(clean) + "\n")


def read_metrics(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def truncate_metrics(run_dir, upto_epoch):
    """On resume, drop lines of epochs >= upto_epoch (written after the checkpoint the run resumes from)."""
    records = [r for r in read_metrics(run_dir) if r.get("epoch", -1) < upto_epoch]
    path = os.path.join(run_dir, "metrics.jsonl")
    if os.path.isfile(path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, path)


def resume_path(resume_arg, cfg, run_dir):
    """--resume wins; else <run dir>/checkpoint.pth when AUTO_RESUME and it exists; else ''."""
    if resume_arg:
        return resume_arg
    auto = os.path.join(run_dir, "checkpoint.pth")
    return auto if cfg.AUTO_RESUME and os.path.isfile(auto) else ""
