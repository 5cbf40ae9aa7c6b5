"""tools/analysis/dataset_stats.py: segment areas are decoded, visibility shares and sizes counted (on the real
OCHuman and MPII fixtures, whose numbers are known); the command line on the tiny synthetic set."""
import json

import pytest

from tools.analysis import dataset_stats


def test_ochuman_statistics(real_data):
    ochuman = real_data / "ochuman" / "test_ochuman.json"
    stats = dataset_stats.compute_stats(dataset_stats.load(str(ochuman)))
    data = json.load(open(ochuman))
    vis = [v for a in data["annotations"] for v in a["keypoints"][2::3]]
    assert stats["images"] == 3 and stats["persons"] == 5
    assert stats["v1_share"] == pytest.approx(vis.count(1) / (len(vis) - vis.count(0)))
    # OCHuman stores the box area in "area"; the tool decodes the segmentation instead.
    assert stats["area_box_ratio"]["median"] == pytest.approx(1.0)
    assert 0.1 < stats["mask_box_ratio"]["median"] < 0.9
    assert stats["size_large"] == 1.0


def test_mpii_sizes_come_from_the_images(real_data):
    stats = dataset_stats.compute_stats(dataset_stats.load(str(real_data / "mpii" / "test_mpii.json")))
    assert stats["images"] == 5 and stats["persons"] == 5
    assert stats["v1_share"] is None and stats["mask_box_ratio"] is None  # the format has neither
    assert 0.3 < stats["box_h_over_image_h"]["median"] < 1.0


def test_cli_prints_a_table_and_rejects_bad_input(tiny_synthetic, tmp_path, capsys):
    annotations = tiny_synthetic / "annotations" / "person_keypoints_val2017.json"
    persons = sum(a["num_keypoints"] > 0 for a in json.loads(annotations.read_text())["annotations"])
    out = tmp_path / "stats.json"
    assert dataset_stats.main([str(annotations), "--names", "synthetic", "--json", str(out)]) == 0
    assert "| mask / box area" in capsys.readouterr().out
    assert json.load(open(out))["synthetic"]["persons"] == persons
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": 3}')
    assert dataset_stats.main([str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
