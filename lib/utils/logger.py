"""Logging set-up for tools: console on rank 0, a plain-text log file in the run folder."""
import logging
import os
import sys
import time


def setup_logger(run_dir, rank=0, name="train"):
    """Configures the root logger once per tool run. Returns the log file path (None on ranks > 0)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    if rank != 0:
        root.setLevel(logging.WARNING)
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(fmt)
        root.addHandler(console)
        return None
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(fmt)
    root.addHandler(console)
    os.makedirs(run_dir, exist_ok=True)
    log_path = os.path.join(run_dir, f"{name}_{time.strftime('%Y-%m-%d-%H-%M-%S')}.log")
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(fmt)
    root.addHandler(file_handler)
    return log_path
