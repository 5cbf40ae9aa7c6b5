"""tools/_run_common.sh, sourced by every run script: ensure_synthetic generates a missing synthetic root from the
config's preset and image counts, and warns (without deleting anything) when an existing one is not this version's."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _ensure_synthetic(cfg_path):
    script = 'source tools/_run_common.sh && ensure_synthetic "$1"'
    return subprocess.run(["bash", "-c", script, "ensure_synthetic", str(cfg_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHON=sys.executable))


def test_ensure_synthetic_generates_a_root_whose_path_has_spaces(tmp_path):
    root = tmp_path / "my data" / "synthetic tiny"
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"_BASE_: {REPO / 'experiments/synthetic/omnipose_quickstart.yaml'}\n"
                   f"DATASET:\n  ROOT: '{root}'\n  SYNTHETIC_IMAGES: [3, 2]\n")
    done = _ensure_synthetic(cfg)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "generating it" in done.stdout and "--preset quickstart, 3 train / 2 val images" in done.stdout
    val = json.loads((root / "annotations" / "person_keypoints_val2017.json").read_text())
    assert len(val["images"]) == 2

    # Present and current: silent. A different image count than the config asks for: a warning, nothing deleted.
    again = _ensure_synthetic(cfg)
    assert again.returncode == 0 and "WARNING" not in again.stdout, again.stdout + again.stderr
    cfg.write_text(cfg.read_text().replace("[3, 2]", "[5, 2]"))
    stale = _ensure_synthetic(cfg)
    assert stale.returncode == 0, stale.stdout + stale.stderr
    assert f"WARNING: {root} is not what this version generates" in stale.stdout
    assert len(json.loads((root / "annotations" / "person_keypoints_train2017.json").read_text())["images"]) == 3
