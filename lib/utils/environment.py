"""What a reader needs to compare two runs: the CPU (model and bf16 flags), package versions, threads, device,
git commit and dirty flag. Written into every run folder (environment.json) and every metrics record."""
import functools
import hashlib
import importlib
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys

import numpy as np
import torch

from lib.utils import dist

logger = logging.getLogger(__name__)

BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@functools.lru_cache(maxsize=None)
def cpu_info():
    """{'model': name, 'avx512_bf16', 'amx_bf16', 'amx_tile': bool or None (unknown), 'flags_sha1': digest of the
    whole flag list}. Read from /proc/cpuinfo; elsewhere from torch's own checks (amx_bf16 then unknown)."""
    model, flags = None, None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and flags is None:
                    flags = value.split()
                if model is not None and flags is not None:
                    break
    except OSError:
        pass
    info = {"model": model or platform.processor() or platform.machine() or "unknown"}
    if flags is not None:
        info.update({name: name in flags for name in BF16_FLAGS})
        info["flags_sha1"] = hashlib.sha1(" ".join(sorted(flags)).encode()).hexdigest()[:12]
    else:
        info.update(avx512_bf16=bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()),
                    amx_bf16=None,
                    amx_tile=bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
                    flags_sha1="unknown")
    return info


def cpu_summary():
    info = cpu_info()
    have = [name for name in BF16_FLAGS if info.get(name)]
    return f"{info['model']} ({', '.join(have) if have else 'no native bf16'})"


def git_state():
    """(commit, dirty) of the checkout this code runs from; ('unknown', None) outside git. Dirty: tracked files
    differ from the commit (untracked files are ignored, like `git describe --dirty`)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=REPO_ROOT).stdout.strip()
        if not commit:
            return "unknown", None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                text=True, timeout=10, cwd=REPO_ROOT)
        return commit, (bool(status.stdout.strip()) if status.returncode == 0 else None)
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def package_version(module_name, dist_name=None):
    """A package's version, or None when it is not installed."""
    try:
        return importlib.metadata.version(dist_name or module_name)
    except importlib.metadata.PackageNotFoundError:
        try:
            return getattr(importlib.import_module(module_name), "__version__", None)
        except ImportError:
            return None


def describe_environment(device, precision):
    """A json-ready dict: CPU model and its bf16/AMX flags, threads, versions, device, world size, git commit and
    dirty flag, and `precision` (a dict: the precision actually used and whether the guard changed it)."""
    commit, dirty = git_state()
    cpu = cpu_info()
    env = {
        "cpu": cpu["model"], "avx512_bf16": cpu["avx512_bf16"], "amx_bf16": cpu["amx_bf16"],
        "amx_tile": cpu["amx_tile"], "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "torch": torch.__version__, "numpy": np.__version__,
        "opencv": package_version("cv2", "opencv-python-headless"), "pycocotools": package_version("pycocotools"),
        "device": str(device), "world_size": dist.get_world_size(), "git_commit": commit, "git_dirty": dirty,
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    env["precision"] = precision
    return env


def log_environment(cfg, args, environment):
    """Command line, the environment (describe_environment), args (a dict) and the merged config, at start-up."""
    logger.info("command: %s", " ".join(sys.argv))
    logger.info("environment: %s", json.dumps(environment))
    logger.info("args: %s", args)
    logger.info("config:\n%s", cfg.dump())
