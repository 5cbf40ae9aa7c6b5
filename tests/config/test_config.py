"""Config loading: every shipped yaml builds, overrides merge, bad keys/types name the key and the file."""
from pathlib import Path

import pytest

from lib.config import ConfigError, load_cfg, update_config

ROOT = Path(__file__).resolve().parents[2]
YAMLS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "experiments").rglob("*.yaml"))


@pytest.mark.parametrize("path", YAMLS, ids=YAMLS)
def test_every_shipped_yaml_loads(path):
    cfg = load_cfg(str(ROOT / path))
    assert cfg.is_frozen()
    w, h = cfg.MODEL.IMAGE_SIZE
    assert list(cfg.MODEL.HEATMAP_SIZE) == [w // 4, h // 4]


def test_base_inheritance_and_overrides():
    cfg = load_cfg(str(ROOT / "experiments/coco/omnipose_w48_384x288_train.yaml"), ["TRAIN.LR", "2e-4", "TEST.FLIP_TEST", "false"])
    assert cfg.TRAIN.END_EPOCH == 18            # from the child
    assert cfg.TRAIN.LR_STEP == [140, 180]      # from the base
    assert cfg.TRAIN.LR == pytest.approx(2e-4)  # from the command line (the original ignored these)
    assert cfg.TEST.FLIP_TEST is False


def test_empty_override_clears_a_path():
    cfg = load_cfg(str(ROOT / "experiments/synthetic/omnipose_quickstart.yaml"), ["TEST.COCO_BBOX_FILE", ""])
    assert cfg.TEST.COCO_BBOX_FILE == ""


def test_int_accepted_for_float_key():
    assert load_cfg(None, ["TRAIN.LR", "1"]).TRAIN.LR == 1.0


def test_unknown_key_in_yaml_names_key_and_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("TRAIN:\n  LRR: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*TRAIN\.LRR"):
        load_cfg(str(bad))


def test_wrong_type_in_yaml_names_key_and_file(tmp_path):
    bad = tmp_path / "bad_type.yaml"
    bad.write_text("TRAIN:\n  END_EPOCH: ten\n")
    with pytest.raises(ConfigError, match=r"bad_type\.yaml.*TRAIN\.END_EPOCH"):
        load_cfg(str(bad))


def test_unknown_override_names_key():
    with pytest.raises(ConfigError, match="command line.*MODEL.EXTRA.HEADS"):
        load_cfg(None, ["MODEL.EXTRA.HEADS", "waspv1"])


def test_odd_override_count():
    with pytest.raises(ConfigError, match="KEY VALUE pairs"):
        load_cfg(None, ["TRAIN.LR"])


def test_cross_checks(tmp_path):
    with pytest.raises(ConfigError, match="HEATMAP_SIZE"):
        load_cfg(None, ["MODEL.HEATMAP_SIZE", "[10, 10]"])
    with pytest.raises(ConfigError, match="MODEL.EXTRA.HEAD"):
        load_cfg(None, ["MODEL.EXTRA.HEAD", "waspv3"])


def test_missing_file_and_base_loop(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_cfg(str(tmp_path / "nope.yaml"))
    loop = tmp_path / "loop.yaml"
    loop.write_text("_BASE_: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops"):
        load_cfg(str(loop))


def test_update_config_hrnet_style():
    from lib.config import get_cfg

    class Args:
        cfg = str(ROOT / "experiments/coco/hrnet_w32_256x192.yaml")
        opts = ["SEED", "3"]

    cfg = get_cfg()
    update_config(cfg, Args)
    assert cfg.MODEL.NAME == "pose_hrnet" and cfg.SEED == 3 and cfg.MODEL.EXTRA.STAGE2.NUM_CHANNELS == [32, 64]


def test_yaml_exponent_float(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text("TRAIN:\n  LR: 1e-4\n")
    assert load_cfg(str(f)).TRAIN.LR == pytest.approx(1e-4)
