"""tools/analysis/dataset_stats.py on the real fixtures: segment areas are decoded, visibility shares and sizes
counted."""
import json
from pathlib import Path

import pytest

from tools.analysis import dataset_stats

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
OCHUMAN = FIXTURES / "ochuman" / "test_ochuman.json"
MPII = FIXTURES / "mpii" / "test_mpii.json"


def test_ochuman_statistics():
    stats = dataset_stats.compute_stats(dataset_stats.load(str(OCHUMAN)))
    data = json.load(open(OCHUMAN))
    vis = [v for a in data["annotations"] for v in a["keypoints"][2::3]]
    assert stats["images"] == 3 and stats["persons"] == 5
    assert stats["v1_share"] == pytest.approx(vis.count(1) / (len(vis) - vis.count(0)))
    # OCHuman stores the box area in "area"; the tool decodes the segmentation instead.
    assert stats["area_box_ratio"]["median"] == pytest.approx(1.0)
    assert 0.1 < stats["mask_box_ratio"]["median"] < 0.9
    assert stats["size_large"] == 1.0


def test_mpii_sizes_come_from_the_images():
    stats = dataset_stats.compute_stats(dataset_stats.load(str(MPII)))
    assert stats["images"] == 5 and stats["persons"] == 5
    assert stats["v1_share"] is None and stats["mask_box_ratio"] is None  # the format has neither
    assert 0.3 < stats["box_h_over_image_h"]["median"] < 1.0


def test_cli_prints_a_table_and_rejects_bad_input(tmp_path, capsys):
    out = tmp_path / "stats.json"
    assert dataset_stats.main([str(OCHUMAN), "--names", "ochuman", "--json", str(out)]) == 0
    assert "| mask / box area" in capsys.readouterr().out
    assert json.load(open(out))["ochuman"]["persons"] == 5
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": 3}')
    assert dataset_stats.main([str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
