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


def test_every_path_key_follows_the_data_dir_rule(tmp_path):
    """One rule for every path key: relative -> DATA_DIR/<path> (absolute) when DATA_DIR is set, absolute kept,
    '' unset; the detection file included (it used to resolve against the working directory)."""
    from lib.config.defaults import PATH_KEYS

    list_keys = {"TRUSTED_PICKLE_FILES"}  # the rule applies to each entry
    opts = ["DATA_DIR", str(tmp_path / "base")]
    for key in PATH_KEYS:
        opts += [key, f"[rel/{key.lower()}, /abs/{key.lower()}]" if key in list_keys else f"rel/{key.lower()}"]
    cfg = load_cfg(None, opts + ["MODEL.PRETRAINED", "/abs/backbone.pth", "LOG_DIR", ""])
    for key in PATH_KEYS:
        section, _, leaf = key.rpartition(".")
        value = (cfg[section] if section else cfg)[leaf]
        if key in list_keys:
            assert value == [str(tmp_path / "base" / "rel" / key.lower()), f"/abs/{key.lower()}"], key
        elif key == "MODEL.PRETRAINED":
            assert value == "/abs/backbone.pth"
        elif key == "LOG_DIR":
            assert value == ""
        else:
            assert value == str(tmp_path / "base" / "rel" / key.lower()), key
    # a dumped config (config.yaml of a run) loads back to the same paths, not DATA_DIR joined twice
    dumped = tmp_path / "config.yaml"
    dumped.write_text(cfg.dump())
    assert load_cfg(str(dumped)).TEST.COCO_BBOX_FILE == cfg.TEST.COCO_BBOX_FILE


def test_without_data_dir_paths_stay_relative_to_the_working_directory():
    """The README's commands (run from the repository root, as the run scripts do) keep meaning what they did."""
    cfg = load_cfg(str(ROOT / "experiments/synthetic/omnipose_benchmark.yaml"))
    assert cfg.DATASET.ROOT == "data/synthetic"
    assert cfg.TEST.COCO_BBOX_FILE == "data/synthetic/person_detection_results/synthetic_val2017_detections.json"
    assert load_cfg(None, ["OUTPUT_DIR", "~/runs"]).OUTPUT_DIR == str(Path.home() / "runs")


def test_every_path_like_key_is_listed():
    """A new key named like a path must be in PATH_KEYS, or it would escape the rule."""
    from lib.config.defaults import PATH_KEYS, _C

    def leaves(node, prefix=""):
        for name, value in node.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", value

    path_like = {key for key, value in leaves(_C) if isinstance(value, (str, list)) and key != "DATA_DIR"
                 and key.rpartition(".")[2].split("_")[-1] in ("DIR", "FILE", "FILES", "ROOT", "PRETRAINED", "INIT")}
    assert path_like == set(PATH_KEYS)


def test_trusted_pickle_files_must_be_a_list_of_paths():
    assert load_cfg(None, ["TRUSTED_PICKLE_FILES", "['a.pth']"]).TRUSTED_PICKLE_FILES == ["a.pth"]
    with pytest.raises(ConfigError, match=r"TRUSTED_PICKLE_FILES=\['a.pth', 3\] must be a list of paths"):
        load_cfg(None, ["TRUSTED_PICKLE_FILES", "['a.pth', 3]"])
    with pytest.raises(ConfigError, match="TRUSTED_PICKLE_FILES='a.pth' has type str, expected list"):
        load_cfg(None, ["TRUSTED_PICKLE_FILES", "a.pth"])


def test_required_path_error_names_the_key_and_the_resolved_path(tmp_path):
    from lib.config import require_path

    cfg = load_cfg(None, ["DATA_DIR", str(tmp_path), "TEST.MODEL_FILE", "weights/missing.pth"])
    with pytest.raises(FileNotFoundError, match=r"TEST\.MODEL_FILE .*weights/missing\.pth.*DATA_DIR"):
        require_path(cfg, "TEST.MODEL_FILE")
    with pytest.raises(FileNotFoundError, match=r"MODEL\.PRETRAINED is not set"):
        require_path(cfg, "MODEL.PRETRAINED")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "missing.pth").write_bytes(b"")
    assert require_path(cfg, "TEST.MODEL_FILE") == str(tmp_path / "weights" / "missing.pth")
