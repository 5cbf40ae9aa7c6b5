"""MPII's share of the PCK work: per-joint PCKh entries and table from evaluate(), and the head-size normaliser its
records carry for the adversarial trainer's PCK-style labels."""
import json

import numpy as np
import pytest

from lib.config import load_cfg
from lib.dataset import build_dataset
from lib.dataset.mpii import HEAD_FALLBACK_FRACTION, MPIIDataset, compute_pckh, pckh_results
from tests.helpers import write_mpii_set

SMALL = ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]", "MODEL.SIGMA", "2.0",
         "MODEL.NUM_JOINTS", "16", "DATASET.DATASET", "mpii", "DATASET.TEST_SET", "valid"]


@pytest.fixture
def mpii_root(tmp_path):
    write_mpii_set(tmp_path)  # person 3 has no upper neck: the fallback normaliser
    return tmp_path


def test_records_carry_the_head_segment_as_pck_normaliser(mpii_root):
    ds = build_dataset(load_cfg(None, SMALL + ["DATASET.ROOT", str(mpii_root)]), False)
    raw = json.loads((mpii_root / "annot" / "valid.json").read_text())
    assert MPIIDataset.pck_label_threshold == 0.5
    for record, entry in zip(ds.db, raw):
        joints, vis = np.array(entry["joints"]), np.array(entry["joints_vis"])
        if vis[8] > 0 and vis[9] > 0:
            assert record["pck_norm"] == pytest.approx(np.linalg.norm(joints[9] - joints[8]))
        else:
            assert record["pck_norm"] == pytest.approx(HEAD_FALLBACK_FRACTION * 200 * entry["scale"])


def test_per_joint_pckh_entries_match_the_summary():
    rng = np.random.default_rng(1)
    gt = rng.uniform(100, 400, size=(3, 16, 2))
    vis = np.ones((3, 16))
    boxes = np.zeros((3, 2, 2))
    boxes[:, 1] = [30.0, 40.0]  # head size 30 px
    preds = gt.copy()
    preds[0, 15, 0] += 16.0  # left wrist of person 0: a miss at 0.5 (15 px)
    full, table = pckh_results(preds, gt, vis, boxes)
    summary = compute_pckh(preds, gt, vis, boxes)
    assert all(full[k] == summary[k] for k in summary)
    assert full["PCKh@0.5 l_wrist"] == pytest.approx(200.0 / 3) and full["PCKh@0.5 r_wrist"] == pytest.approx(100.0)
    assert summary["Wrist"] == pytest.approx((100.0 + 200.0 / 3) / 2)
    assert "| pelvis (not in the mean) |" in table and "| l_wrist | 66.67 |" in table
