"""The training-precision guard (lib/core/precision_guard.py): a bf16 + channels_last combination whose probe child dies
is refused with a fallback written into the config, the verdict is cached, and a real training step of the
smallest crashing shape runs to completion behind the guard."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.helpers import narrow_model_opts
from lib.config import load_cfg
from lib.core import precision_guard as precision
from lib.utils.environment import BF16_FLAGS, cpu_info

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = "experiments/synthetic/omnipose_quickstart.yaml"
CPU = torch.device("cpu")


def _fake_probe_command(crashing):
    """A probe_command whose child kills itself with SIGSEGV for the (amp, channels_last) pairs in `crashing`, and
    exits 0 otherwise; every call is recorded."""
    calls = []

    def command(cfg_file, amp, channels_last, batch, threads, steps):
        calls.append((amp, channels_last))
        code = ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)" if (amp, channels_last) in crashing
                else "pass")
        return [sys.executable, "-c", code]

    return command, calls


@pytest.fixture
def forced_probe(monkeypatch, tmp_path):
    """Probe on any CPU (so the test means the same on CPUs without bf16) with a cache of the test's own."""
    monkeypatch.setenv(precision.PROBE_ENV, "force")
    monkeypatch.setenv(precision.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / precision.CACHE_FILE


def _cfg(*opts):
    cfg = load_cfg(os.path.join(REPO_ROOT, QUICKSTART), narrow_model_opts() + ["AMP", "True", "CHANNELS_LAST", "True"]
                   + list(opts))
    return cfg


def test_a_crashing_probe_makes_the_guard_fall_back_and_the_verdict_is_cached(monkeypatch, forced_probe, caplog):
    command, calls = _fake_probe_command(crashing={(True, True)})
    monkeypatch.setattr(precision, "probe_command", command)
    cfg = _cfg()
    with caplog.at_level("WARNING"):
        choice = precision.guard_training_precision(cfg, CPU)
    # The crash is seen, the next combination (bf16 contiguous) survives and is written into the config.
    assert calls == [(True, True), (True, False)]
    assert choice.guard == "fell back" and choice.changed
    assert cfg.AMP and not cfg.CHANNELS_LAST and cfg.is_frozen()
    assert not choice.channels_last and choice.requested_channels_last
    assert "SIGSEGV" in choice.reason and "refused" in caplog.text and precision.PROBE_ENV in caplog.text
    entry = next(iter(json.loads(forced_probe.read_text()).values()))
    assert (entry["amp"], entry["channels_last"]) == (True, False)
    assert [p["result"] for p in entry["probes"]] == ["SIGSEGV", "exit 0"]

    # Second start: the cache answers, no child runs.
    calls.clear()
    again = _cfg()
    choice = precision.guard_training_precision(again, CPU)
    assert calls == [] and choice.cached and choice.guard == "fell back"
    assert again.AMP and not again.CHANNELS_LAST


def test_a_passing_probe_keeps_the_requested_precision(monkeypatch, forced_probe):
    command, calls = _fake_probe_command(crashing=set())
    monkeypatch.setattr(precision, "probe_command", command)
    cfg = _cfg()
    choice = precision.guard_training_precision(cfg, CPU)
    assert calls == [(True, True)] and choice.guard == "probe passed" and not choice.changed
    assert cfg.AMP and cfg.CHANNELS_LAST


def test_every_combination_crashing_falls_back_to_fp32_contiguous(monkeypatch, forced_probe):
    command, calls = _fake_probe_command(crashing={(True, True), (True, False), (False, True)})
    monkeypatch.setattr(precision, "probe_command", command)
    cfg = _cfg()
    choice = precision.guard_training_precision(cfg, CPU)
    assert calls == [(True, True), (True, False), (False, True)]
    assert (cfg.AMP, cfg.CHANNELS_LAST) == (False, False) and choice.amp == "fp32"


def test_no_probe_where_no_crash_is_possible(monkeypatch, tmp_path):
    monkeypatch.setenv(precision.PROBE_ENV, "auto")
    monkeypatch.setenv(precision.CACHE_ENV, str(tmp_path))
    command, calls = _fake_probe_command(crashing={(True, True)})
    monkeypatch.setattr(precision, "probe_command", command)
    cfg = _cfg("CHANNELS_LAST", "False")  # bf16 contiguous: never seen to crash
    choice = precision.guard_training_precision(cfg, CPU)
    assert calls == [] and choice.guard == "not needed" and cfg.AMP
    monkeypatch.setenv(precision.PROBE_ENV, "off")
    cfg = _cfg()
    choice = precision.guard_training_precision(cfg, CPU)
    assert calls == [] and cfg.CHANNELS_LAST and cfg.AMP


def test_a_bad_probe_mode_names_the_variable(monkeypatch):
    monkeypatch.setenv(precision.PROBE_ENV, "sometimes")
    with pytest.raises(ValueError, match=precision.PROBE_ENV):
        precision.guard_training_precision(_cfg(), CPU)


def test_cpu_info_names_the_bf16_flags():
    info = cpu_info()
    assert info["model"] and set(BF16_FLAGS) <= info.keys()


# The smallest generator shape that crashed bf16 + channels_last training on our AMD EPYC (AVX512-BF16, torch
# 2.13.0+cpu): WASPv2's atrous convolutions on a 64x48 map (256x192 input). A narrow backbone keeps it quick.
CRASH_SHAPE_OPTS = ["MODEL.IMAGE_SIZE", "[192, 256]", "MODEL.HEATMAP_SIZE", "[48, 64]"]

TRAINING_STEP = textwrap.dedent("""
    import sys, torch
    from lib.config import load_cfg
    from lib.core.runtime import configure_torch
    from lib.core import precision_guard as precision
    from tests.helpers import narrow_model_opts
    torch.set_num_threads(2)
    cfg = load_cfg(sys.argv[1], narrow_model_opts() + sys.argv[2:] + ["AMP", "True", "CHANNELS_LAST", "True"])
    choice = configure_torch(cfg, torch.device("cpu"), training=True)
    print("guard:", choice.guard, "|", choice.amp, "| channels_last", choice.channels_last, "|", choice.reason)
    loss = precision.probe_training_steps(cfg, batch=4, steps=3)
    print("loss", loss)
""")


@pytest.mark.parametrize("probe_mode", ["off", "auto"])
def test_amp_channels_last_training_step_of_the_crashing_shape_exits_cleanly(tmp_path, probe_mode):
    """The training step with AMP True CHANNELS_LAST True, in a subprocess (a crash cannot be
    caught in-process), must exit 0: with the probe off the op-level fix alone (lib/models/wasp.py) must hold; with
    it on, the guard probes first (and would fall back where a crash remains)."""
    env = dict(os.environ, **{precision.CACHE_ENV: str(tmp_path), precision.PROBE_ENV: probe_mode, "OMP_NUM_THREADS": "2"})
    done = subprocess.run([sys.executable, "-X", "faulthandler", "-c", TRAINING_STEP, QUICKSTART] + CRASH_SHAPE_OPTS,
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{precision.exit_description(done.returncode)}\n{done.stdout}\n{done.stderr[-3000:]}"
    assert "guard:" in done.stdout and "loss" in done.stdout
