"""The guard against a bf16 + channels_last combination that crashes.

    choice = guard_training_precision(cfg, device)   # once at start-up (lib.core.runtime.configure_torch)

Why a guard: on some CPUs, torch's bf16 kernels for channels_last tensors kill the process (SIGSEGV inside the
autograd engine) for some layer shapes. Found on a 2-core AMD EPYC with AVX512-BF16 (no AMX), torch 2.13.0+cpu: the
weight gradient of a depthwise 3x3 conv with dilation >= 17 on a 64x48 map (WASPv2's aspp3/aspp4 in a 256x192
OmniPose) crashes on the first or second backward; bf16 with contiguous tensors and fp32 with channels_last run. A
crash cannot be caught in-process, so where one is possible (CPU, bf16 autocast in effect, channels_last) one short
training run of the configured generator is probed in a child process first; if the child dies, the run falls back to
the next combination that survives (bf16 contiguous, then fp32 channels_last, then fp32 contiguous) and says so in
one log line. The result is cached per CPU, torch version, thread count and model config, so the probe (a few
seconds) is paid once. tools/dev/probe_precision.py finds the layer that crashes.

Environment:
    OMNIPOSE_PRECISION_PROBE  auto (default: probe where a crash is possible), force (probe on any CPU whenever AMP
                              and CHANNELS_LAST are on; for testing), off (never probe: the configured combination).
    OMNIPOSE_CACHE_DIR        where precision_probe.json lives (default $XDG_CACHE_HOME/omnipose or ~/.cache/omnipose).
"""
import argparse
import dataclasses
import faulthandler
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

import torch

from lib.core.loss import build_loss
from lib.core.optim import build_optimizer
from lib.models import build_generator
from lib.utils import dist
from lib.utils.amp import amp_mode, training_amp_enabled, training_autocast
from lib.utils.environment import REPO_ROOT, cpu_info, cpu_summary

logger = logging.getLogger(__name__)

PROBE_ENV = "OMNIPOSE_PRECISION_PROBE"
PROBE_MODES = ("auto", "force", "off")
CACHE_ENV = "OMNIPOSE_CACHE_DIR"
CACHE_FILE = "precision_probe.json"
# Probe size: one-thread runs of the failing layer survived the first backward and died on the second, and a batch of
# 2 of the W48 model survived five steps where 4 died on the second: three steps at batch 4 (or the configured
# batch if smaller) catch both.
PROBE_STEPS = 3
PROBE_MAX_BATCH = 4
PROBE_TIMEOUT_S = 600
# Bumped when the probe itself changes, so older cached verdicts are not trusted.
PROBE_VERSION = 1


def describe(amp, channels_last):
    """'bf16 autocast + channels_last', 'fp32, contiguous', ... for CPU training (amp: AMP on a bf16 CPU)."""
    return ("bf16 autocast" if amp else "fp32") + (" + channels_last" if channels_last else ", contiguous")


# ----------------------------------------------------------------------------------------------------------------
# The probe: a few training steps of the configured generator in a child process
# ----------------------------------------------------------------------------------------------------------------
def exit_description(returncode):
    """How a child ended: 'exit 0', 'SIGSEGV' (killed by a signal), 'exit 1', 'timed out' (None)."""
    if returncode is None:
        return "timed out"
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit {returncode}"


@dataclasses.dataclass
class ProbeOutcome:
    """How one probe child ended. returncode < 0: killed by that signal; None: timed out."""

    amp: bool
    channels_last: bool
    returncode: Optional[int]
    seconds: float
    detail: str = ""  # the child's last stderr lines (faulthandler's traceback on a crash)

    @property
    def ok(self):
        return self.returncode == 0

    @property
    def timed_out(self):
        return self.returncode is None

    @property
    def how(self):
        return exit_description(self.returncode)

    def as_dict(self):
        return {"precision": describe(self.amp, self.channels_last), "amp": self.amp,
                "channels_last": self.channels_last, "result": self.how, "seconds": round(self.seconds, 1),
                "detail": self.detail}


def probe_batch(cfg):
    """The probe's batch: the configured one up to PROBE_MAX_BATCH, at least 2 (WASP's pooled BatchNorm)."""
    return max(2, min(int(cfg.TRAIN.BATCH_SIZE_PER_GPU), PROBE_MAX_BATCH))


def probe_command(cfg_file, amp, channels_last, batch, threads, steps):
    """The child's command line (a module attribute, so tests can swap in a child that crashes)."""
    return [sys.executable, "-X", "faulthandler", "-m", "lib.core.precision_guard", "probe", "--config", cfg_file,
            "--amp", str(int(amp)), "--channels-last", str(int(channels_last)), "--batch", str(batch),
            "--threads", str(threads), "--steps", str(steps)]


def run_probe(cfg, amp, channels_last, batch=None, threads=None, steps=PROBE_STEPS, timeout=PROBE_TIMEOUT_S):
    """Runs `steps` training steps of cfg's generator under (amp, channels_last) in a child process.

    Returns:
        ProbeOutcome. Never raises for what happens in the child (a crash, an exception, a hang).
    """
    batch = probe_batch(cfg) if batch is None else batch
    threads = torch.get_num_threads() if threads is None else threads
    with tempfile.TemporaryDirectory(prefix="omnipose_probe_") as tmp:
        cfg_file = os.path.join(tmp, "config.yaml")
        with open(cfg_file, "w") as f:
            f.write(cfg.dump())
        env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                   PYTHONPATH=os.pathsep.join(p for p in (REPO_ROOT, os.environ.get("PYTHONPATH")) if p))
        start = time.monotonic()
        try:
            done = subprocess.run(probe_command(cfg_file, amp, channels_last, batch, threads, steps),
                                  capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return ProbeOutcome(amp, channels_last, None, time.monotonic() - start, f"no answer after {timeout} s")
    tail = "" if done.returncode == 0 else "\n".join((done.stderr or "").strip().splitlines()[-12:])
    return ProbeOutcome(amp, channels_last, done.returncode, time.monotonic() - start, tail)


def probe_training_steps(cfg, batch, steps, seed=0):
    """What the probe child runs, and what tests run: `steps` training steps of cfg's generator on random images and
    targets, as the training step does them (autocast per training_autocast, memory format per CHANNELS_LAST, the
    configured loss and optimizer). CPU only. Returns the last loss."""
    device = torch.device("cpu")
    torch.manual_seed(seed)
    model = build_generator(cfg).to(device)
    if cfg.CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    criterion = build_loss(cfg)
    optimizer = build_optimizer(cfg, model.parameters())
    width, height = cfg.MODEL.IMAGE_SIZE
    hm_width, hm_height = cfg.MODEL.HEATMAP_SIZE
    joints = cfg.MODEL.NUM_JOINTS
    images = torch.randn(batch, 3, height, width)
    target = torch.rand(batch, joints, hm_height, hm_width)
    weight = torch.ones(batch, joints, 1)
    loss = None
    for _ in range(steps):
        with training_autocast(cfg, device):
            output = model(images)
            loss = criterion(output, target, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def _probe_child(args):
    from yacs.config import CfgNode

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    with open(args.config) as f:
        cfg = CfgNode.load_cfg(f)
    cfg.defrost()
    cfg.AMP, cfg.CHANNELS_LAST = bool(args.amp), bool(args.channels_last)
    cfg.MODEL.PRETRAINED = ""  # layer shapes are what matter, not the weights
    cfg.freeze()
    loss = probe_training_steps(cfg, args.batch, args.steps)
    print(f"probe: {args.steps} steps of {describe(cfg.AMP, cfg.CHANNELS_LAST)} at batch {args.batch}: "
          f"loss {loss:.6g}")


# ----------------------------------------------------------------------------------------------------------------
# The guard
# ----------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class PrecisionChoice:
    """The training precision a run uses, what was asked for, and what the guard did.

    guard: 'not needed' (no crash possible here, or not CPU training), 'off' (OMNIPOSE_PRECISION_PROBE=off),
    'probe passed', 'fell back' (the requested combination crashed a probe), 'inconclusive' (a probe timed out;
    the requested combination is kept).
    """

    amp: str
    channels_last: bool
    requested_amp: bool
    requested_channels_last: bool
    guard: str = "not needed"
    reason: str = ""
    cached: bool = False
    probes: List[dict] = dataclasses.field(default_factory=list)

    @property
    def changed(self):
        return self.guard == "fell back"

    def as_dict(self):
        return {"amp": self.amp, "channels_last": self.channels_last, "requested_amp": self.requested_amp,
                "requested_channels_last": self.requested_channels_last, "guard": self.guard,
                "changed_by_guard": self.changed, "reason": self.reason, "cached": self.cached}


def probe_mode():
    mode = os.environ.get(PROBE_ENV, "auto").strip().lower() or "auto"
    if mode not in PROBE_MODES:
        raise ValueError(f"environment variable {PROBE_ENV}={os.environ[PROBE_ENV]!r} is not one of {PROBE_MODES}")
    return mode


def crash_possible(cfg, device):
    """Where the guard probes (OMNIPOSE_PRECISION_PROBE=auto): CPU training with bf16 autocast in effect (AMP on a
    CPU with AVX512-BF16 or AMX) and channels_last. That is where the crash was seen; fp32 and contiguous bf16
    ran the same layers."""
    return device.type == "cpu" and bool(cfg.CHANNELS_LAST) and training_amp_enabled(cfg, device)


def cache_path():
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "omnipose")
    return os.path.join(base, CACHE_FILE)


def probe_cache_key(cfg, batch, threads):
    """Everything a verdict depends on: the CPU (model and whole flag list), torch, threads, and the model's shapes
    (MODEL.NAME, NUM_JOINTS, IMAGE_SIZE, EXTRA), the loss, the probe batch and the probe's version."""
    info = cpu_info()
    key = {"cpu": info["model"], "flags": info["flags_sha1"], "torch": torch.__version__, "threads": threads,
           "model": [cfg.MODEL.NAME, cfg.MODEL.NUM_JOINTS, list(cfg.MODEL.IMAGE_SIZE), cfg.MODEL.EXTRA.dump()],
           "loss": cfg.LOSS.TYPE, "optimizer": cfg.TRAIN.OPTIMIZER, "batch": batch, "probe": PROBE_VERSION}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def _read_cache(path):
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # absent or unreadable: probe again (and rewrite it)


def _write_cache(path, key, entry):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = _read_cache(path)
        data[key] = entry
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError as e:
        logger.warning("precision guard: could not write the probe cache %s (%s); the probe runs again next time",
                       path, e)


def _fallbacks(amp, channels_last):
    """The requested combination, then bf16 contiguous (keeps most of the speed), then fp32 channels_last."""
    order = [(amp, channels_last), (amp, False), (False, channels_last)]
    return [c for i, c in enumerate(order) if c not in order[:i] and c != (False, False)]


def _decide(cfg, requested, run):
    """Probes (or reads the cache) on this process; returns a PrecisionChoice for CPU training."""
    batch, threads = probe_batch(cfg), torch.get_num_threads()
    path, key = cache_path(), probe_cache_key(cfg, batch, threads)
    entry = _read_cache(path).get(key)
    wanted = describe(*requested)
    if isinstance(entry, dict) and {"amp", "channels_last", "probes"} <= entry.keys():
        chosen, probes, cached = (bool(entry["amp"]), bool(entry["channels_last"])), entry["probes"], True
    else:
        outcomes = []
        chosen = (False, False)  # the reference path, never probed: if it fails, the run's own error says why
        for candidate in _fallbacks(*requested):
            outcome = run(cfg, *candidate, batch=batch, threads=threads)
            outcomes.append(outcome)
            if outcome.timed_out:
                reason = (f"a probe of {describe(*candidate)} gave no answer within {PROBE_TIMEOUT_S} s; keeping "
                          f"{wanted} unchecked")
                return PrecisionChoice("bf16 autocast" if requested[0] else "fp32", requested[1], *requested,
                                       guard="inconclusive", reason=reason,
                                       probes=[o.as_dict() for o in outcomes])
            if outcome.ok:
                chosen = candidate
                break
        probes, cached = [o.as_dict() for o in outcomes], False
        _write_cache(path, key, {"amp": chosen[0], "channels_last": chosen[1], "probes": probes,
                                 "cpu": cpu_info()["model"], "torch": torch.__version__, "threads": threads,
                                 "batch": batch, "written": time.strftime("%Y-%m-%d %H:%M:%S")})
    if chosen == requested:
        reason = f"{PROBE_STEPS} probe training steps at batch {batch} passed"
        guard = "probe passed"
    else:
        failed = "; ".join(f"{p['precision']}: {p['result']}" for p in probes if p["result"] != "exit 0")
        reason = f"probe training steps at batch {batch} died ({failed})"
        guard = "fell back"
    return PrecisionChoice("bf16 autocast" if chosen[0] else "fp32", chosen[1], *requested, guard=guard,
                           reason=reason + (f" (cached in {path})" if cached else f" (now cached in {path})"),
                           cached=cached, probes=probes)


def guard_training_precision(cfg, device, run=run_probe):
    """Resolves the training precision once, at start-up, and applies a fallback to `cfg` (AMP, CHANNELS_LAST).

    Where a crash is possible (crash_possible, or any CPU with OMNIPOSE_PRECISION_PROBE=force, AMP and CHANNELS_LAST
    both on), `run` probes the requested combination in a child process, unless the cache already knows; if the
    child dies, the next combination of _fallbacks that survives is written into cfg (so place_model and
    training_autocast follow it) and one warning says what was chosen and why. Under DDP rank 0 decides for all.

    Returns:
        PrecisionChoice.
    """
    requested = (bool(cfg.AMP), bool(cfg.CHANNELS_LAST))
    mode = probe_mode()
    wants_probe = device.type == "cpu" and (
        (mode == "auto" and crash_possible(cfg, device)) or (mode == "force" and all(requested)))
    if wants_probe:
        choice = _decide(cfg, requested, run) if dist.is_main_process() else None
        choice = dist.broadcast_object(choice)
        if (cfg.AMP, cfg.CHANNELS_LAST) != (choice.amp != "fp32", choice.channels_last):
            frozen = cfg.is_frozen()
            cfg.defrost()
            cfg.AMP, cfg.CHANNELS_LAST = choice.amp != "fp32", choice.channels_last
            if frozen:
                cfg.freeze()
        # The probe ran with AMP as asked; on a CPU without native bf16 (a forced probe) training still runs fp32.
        choice.amp = amp_mode(cfg, device)
    else:
        choice = current_choice(cfg, device)
        if mode == "off" and crash_possible(cfg, device):
            choice.guard, choice.reason = "off", f"not checked ({PROBE_ENV}=off)"
        else:
            choice.reason = "no probe needed" if device.type != "cpu" else "no probe needed (not bf16 + channels_last)"
    where = cpu_summary() if device.type == "cpu" else str(device)
    layout = " + channels_last" if choice.channels_last else ", contiguous"
    evaluation = "fp16 autocast" if device.type == "cuda" and cfg.AMP else "fp32"
    line = (f"precision: training in {choice.amp}{layout} on {where}, torch {torch.__version__}, "
            f"evaluation {evaluation}; ")
    if choice.changed:
        logger.warning("%sthe requested %s was refused: %s. %s=off skips this check", line, describe(*requested),
                       choice.reason, PROBE_ENV)
    elif choice.guard == "inconclusive":
        logger.warning("%s%s", line, choice.reason)
    else:
        logger.info("%s%s", line, choice.reason)
    return choice


def current_choice(cfg, device):
    """The PrecisionChoice cfg gives without any probe (evaluation tools, or where no crash is possible)."""
    return PrecisionChoice(amp_mode(cfg, device), bool(cfg.CHANNELS_LAST), bool(cfg.AMP), bool(cfg.CHANNELS_LAST))


def main(argv=None):
    parser = argparse.ArgumentParser(description="the precision guard's probe child (run by run_probe)")
    sub = parser.add_subparsers(dest="command", required=True)
    probe = sub.add_parser("probe", help="a few training steps of a dumped config's generator")
    probe.add_argument("--config", required=True, help="a dumped (complete) config yaml")
    probe.add_argument("--amp", type=int, choices=(0, 1), required=True)
    probe.add_argument("--channels-last", type=int, choices=(0, 1), required=True)
    probe.add_argument("--batch", type=int, required=True)
    probe.add_argument("--threads", type=int, required=True)
    probe.add_argument("--steps", type=int, default=PROBE_STEPS)
    args = parser.parse_args(argv)
    if not faulthandler.is_enabled():
        faulthandler.enable()  # a crash prints the Python stack before the signal ends the child
    _probe_child(args)


if __name__ == "__main__":
    main()
