"""Runs a trainer as its own process, for the study and check scripts (nothing imports the command-line tools)."""
import os
import subprocess
import sys

from lib.config import load_cfg
from lib.core.workdir import ADVERSARIAL_OUTPUT, PURE_OUTPUT, run_dir_for
from lib.utils.environment import REPO_ROOT

DEFAULT_OUTPUT = {"train": PURE_OUTPUT, "train_AN": ADVERSARIAL_OUTPUT}


def train_in_subprocess(cfg_path, opts, trainer="train"):
    """Runs `python tools/<trainer>.py --cfg cfg_path OPTS` and returns its run folder.

    Raises:
        subprocess.CalledProcessError when the trainer fails (its output has already been shown).
    """
    script = os.path.join(REPO_ROOT, "tools", f"{trainer}.py")
    subprocess.run([sys.executable, script, "--cfg", cfg_path] + list(opts), check=True)
    return run_dir_for(load_cfg(cfg_path, opts), cfg_path, DEFAULT_OUTPUT[trainer])
