"""Weight files: atomic saves, strict round trips, readable errors for the usual mistakes, backbone pre-loading."""
import argparse
import logging
import os

import numpy as np
import pytest
import torch
import yaml

from lib.config import load_cfg
from lib.models import build_generator
from lib.utils import checkpoint
from lib.utils.checkpoint import (
    UntrustedPickleError,
    WeightFileError,
    WeightLoadError,
    atomic_save,
    load_pretrained_backbone,
    load_weights,
    read_weight_file,
)
from tests.helpers import narrow_model_opts, write_crafted_pickle

torch.set_flush_denormal(True)
torch.set_num_threads(1)

NARROW = narrow_model_opts() + [
    "MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]",
]


def narrow(*opts, seed=0):
    torch.manual_seed(seed)
    return build_generator(load_cfg(None, NARROW + list(opts)))


def randomize(model, seed):
    """Every float tensor of the state_dict (BN statistics and Gaussians included) set to random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.1)
    return model


def test_strict_round_trip_gives_identical_outputs(tmp_path):
    source = randomize(narrow(seed=1), seed=1).eval()
    path = tmp_path / "model_best.pth"
    atomic_save(source.state_dict(), path)
    target = narrow(seed=2).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert not torch.equal(source(x), target(x))
        report = load_weights(target, path)
        assert torch.equal(source(x), target(x))
    assert len(report.loaded) == len(source.state_dict())
    for name, t in source.state_dict().items():
        assert torch.equal(t, target.state_dict()[name]), name  # Gaussian filters are loaded too


@pytest.mark.parametrize("container", ["state_dict", "best_state_dict", "model", "generator"])
def test_wrapped_checkpoint_dict_loads(tmp_path, container):
    source = randomize(narrow(), seed=3)
    # DataParallel/DDP and torch.compile prefixes, inside a checkpoint dict with other entries.
    wrapped = {f"module._orig_mod.{k}": v for k, v in source.state_dict().items()}
    path = tmp_path / "checkpoint.pth"
    atomic_save({"epoch": 7, "model": "omnipose", "perf": 0.5, container: wrapped}, path)
    target = narrow()
    load_weights(target, path)
    assert torch.equal(target.conv1.weight, source.conv1.weight)


def test_crafted_pickle_is_refused_without_running_its_payload(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "hostile.pth"
    write_crafted_pickle(path, marker, narrow().state_dict())
    other = tmp_path / "other.pth"  # trusting another file does not trust this one
    with pytest.raises(UntrustedPickleError) as err:
        load_weights(narrow(), path, trusted_files=[other])
    assert not marker.exists()
    message = str(err.value)
    assert message.startswith(f"{path}: refused") and "TRUSTED_PICKLE_FILES" in message and "\n" not in message
    assert not isinstance(err.value, WeightLoadError)  # tools that catch load errors must not swallow the refusal
    # The control: the payload is live, so its absence above is the loader's doing.
    checkpoint.load_file(path, trusted_files=[path])
    assert marker.exists()


@pytest.mark.parametrize("extra, named", [(argparse.Namespace(lr=0.1), "argparse.Namespace"),
                                           (np.float64(0.5), "numpy")], ids=["namespace", "numpy_scalar"])
def test_pickled_objects_load_only_when_the_file_is_named_trusted(tmp_path, caplog, extra, named):
    source = narrow()
    path = tmp_path / "old.pth"
    torch.save({"state_dict": source.state_dict(), "args": extra}, path)
    refusal = f"{path}: refused: reading it needs Python's full unpickler \\(it asks for {named}"
    with pytest.raises(UntrustedPickleError, match=refusal):
        read_weight_file(path)
    # Named by another spelling of the same file: paths compare resolved.
    os.symlink(path, tmp_path / "link.pth")
    with caplog.at_level(logging.WARNING, logger=checkpoint.__name__):
        state_dict = read_weight_file(path, trusted_files=[tmp_path / "link.pth"])
    assert "full unpickler" in caplog.text
    assert set(state_dict) == set(source.state_dict())


def test_safe_files_never_touch_the_full_unpickler(tmp_path, caplog, monkeypatch):
    path = tmp_path / "model_best.pth"
    atomic_save(narrow().state_dict(), path)
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: real_load(*a, **k) if k.get("weights_only") else 1 / 0)
    with caplog.at_level(logging.WARNING, logger=checkpoint.__name__):
        load_weights(narrow(), path, trusted_files=[path])
    assert "full unpickler" not in caplog.text


def test_corrupt_files_are_not_mistaken_for_pickles_to_trust(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not a weight file\n")
    with pytest.raises(WeightFileError, match=f"{text}: cannot read the weight file"):
        read_weight_file(text, trusted_files=[text])


def test_waspv1_file_into_waspv2_model_says_which_head(tmp_path):
    path = tmp_path / "released.pth"
    atomic_save(narrow("MODEL.EXTRA.HEAD", "waspv1").state_dict(), path)
    with pytest.raises(WeightLoadError) as err:
        load_weights(narrow("MODEL.EXTRA.HEAD", "waspv2"), path)
    message = str(err.value)
    assert str(path) in message
    assert "this looks like the WASPv1 layout" in message and "MODEL.EXTRA.HEAD waspv1" in message
    assert "missing from the file" in message and "unexpected in the file" in message


def test_waspv2_file_into_waspv1_model_says_which_head():
    with pytest.raises(WeightLoadError, match="MODEL.EXTRA.HEAD waspv2"):
        load_weights(narrow("MODEL.EXTRA.HEAD", "waspv1"), narrow().state_dict())


def test_pose_hrnet_file_into_omnipose_says_which_model():
    with pytest.raises(WeightLoadError, match="MODEL.NAME pose_hrnet"):
        load_weights(narrow(), narrow("MODEL.NAME", "pose_hrnet").state_dict())


@pytest.mark.parametrize("head", ["waspv2", "waspv1"])
def test_joint_count_mismatch_names_both_counts(tmp_path, head):
    path = tmp_path / "mpii.pth"
    atomic_save(narrow("MODEL.EXTRA.HEAD", head, "MODEL.NUM_JOINTS", "16").state_dict(), path)
    with pytest.raises(WeightLoadError) as err:
        load_weights(narrow("MODEL.EXTRA.HEAD", head), path)
    assert "the file has 16 joints, the model MODEL.NUM_JOINTS=17" in str(err.value)
    assert "shape mismatches (2)" in str(err.value)  # the final conv's weight and bias


def test_truncated_file_names_the_path(tmp_path):
    path = tmp_path / "truncated.pth"
    atomic_save(narrow().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightFileError, match=str(path)):
        load_weights(narrow(), path)


def test_missing_file_and_tensorless_dict(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        read_weight_file(tmp_path / "nope.pth")
    path = tmp_path / "meta_only.pth"
    atomic_save({"epoch": 3, "perf": 0.7}, path)
    with pytest.raises(WeightFileError, match=f"{path}: holds no tensors"):
        read_weight_file(path)


def test_non_strict_load_reports_and_loads_the_rest():
    source = randomize(narrow("MODEL.NUM_JOINTS", "16"), seed=4)
    target = narrow()
    report = load_weights(target, source.state_dict(), strict=False)
    assert [n for n, _, _ in report.mismatched] == ["waspv2.last_conv.6.weight", "waspv2.last_conv.6.bias"]
    assert torch.equal(target.conv1.weight, source.conv1.weight)
    assert not torch.equal(target.waspv2.last_conv[6].bias[:16], source.waspv2.last_conv[6].bias)


def test_atomic_save_failure_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pth"
    atomic_save({"w": torch.ones(3)}, path)
    real_save = torch.save

    def save_half_then_fail(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial checkpoint bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"w": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert os.listdir(tmp_path) == ["checkpoint.pth"]
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))


def test_atomic_save_replaces_and_creates_folders(tmp_path):
    path = tmp_path / "run" / "sub" / "final_state.pth"
    atomic_save({"w": torch.ones(2)}, path)
    atomic_save({"w": torch.full((2,), 2.0)}, path)
    assert os.listdir(path.parent) == ["final_state.pth"]
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.full((2,), 2.0))


def _imagenet_like_file(tmp_path):
    """An HRNet-layout backbone file (nearest-upsampling fuse paths) plus ImageNet-only and mismatched tensors."""
    hrnet = randomize(narrow("MODEL.NAME", "pose_hrnet"), seed=5)
    state_dict = dict(hrnet.state_dict())
    state_dict["incre_modules.0.0.conv1.weight"] = torch.zeros(4, 8, 1, 1)  # classification-only module
    state_dict["final_layer.weight"] = torch.zeros(1000, 8, 1, 1)  # ImageNet classifier width
    path = tmp_path / "hrnet_imagenet.pth"
    atomic_save({"state_dict": state_dict}, path)
    return path, state_dict


def test_load_pretrained_backbone_selected_prefixes(tmp_path, caplog):
    path, source = _imagenet_like_file(tmp_path)
    model = narrow()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prefixes = ["conv1", "bn1", "stage2"]
    with caplog.at_level(logging.INFO, logger=checkpoint.__name__):
        report = load_pretrained_backbone(model, path, prefixes)
    expected = {
        n for n, t in source.items()
        if n.split(".")[0] in prefixes and n in before and before[n].shape == t.shape
    }
    assert set(report.loaded) == expected and len(expected) > 10
    for name, t in model.state_dict().items():
        if name in expected:
            assert torch.equal(t, source[name]), name
        else:
            assert torch.equal(t, before[name]), name  # e.g. ConvTranspose, Gaussians, stage3, the head
    assert f"loaded {len(expected)} of {len(before)} model tensors" in caplog.text
    assert "stay at initialisation" in caplog.text


def test_load_pretrained_backbone_star_skips_mismatches(tmp_path):
    path, source = _imagenet_like_file(tmp_path)
    model = narrow("MODEL.NAME", "pose_hrnet")
    report = load_pretrained_backbone(model, path, ["*"])
    assert "incre_modules.0.0.conv1.weight" in report.unexpected
    assert [n for n, _, _ in report.mismatched] == ["final_layer.weight"]
    assert report.missing == []  # final_layer.weight is counted as mismatched, not missing
    assert torch.equal(model.stage4[0].branches[3][0].conv2.weight, source["stage4.0.branches.3.0.conv2.weight"])


def test_build_generator_loads_model_pretrained(tmp_path):
    path, source = _imagenet_like_file(tmp_path)
    opts = ["MODEL.PRETRAINED", str(path), "MODEL.EXTRA.PRETRAINED_LAYERS", "['conv1', 'layer1']"]
    cfg = load_cfg(None, NARROW + opts)
    model = build_generator(cfg)
    assert torch.equal(model.conv1.weight, source["conv1.weight"])
    assert torch.equal(model.layer1[0].conv3.weight, source["layer1.0.conv3.weight"])
    assert not torch.equal(model.conv2.weight, source["conv2.weight"])


def test_old_file_without_num_batches_tracked_loads_strictly():
    source = randomize(narrow(), seed=6)
    old_format = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    target = narrow()
    load_weights(target, old_format)
    assert torch.equal(target.bn1.running_var, source.bn1.running_var)


def test_weights_record_travels_in_the_file_and_keeps_it_a_bare_state_dict(tmp_path):
    """save_generator_weights writes the model's record into the state_dict's metadata: the file's keys are exactly
    the model's tensors (strict load_state_dict by plain PyTorch works), and the loader gives the record back, also
    through DDP / torch.compile prefixes and inside a training checkpoint."""
    source = narrow()
    checkpoint.record_weights(source, target_convention="centred-v1")
    path = tmp_path / "model_best.pth"
    checkpoint.save_generator_weights(source, path)
    plain = torch.load(path, weights_only=True)
    assert set(plain) == set(source.state_dict())
    narrow().load_state_dict(plain, strict=True)
    assert checkpoint.weights_record(read_weight_file(path)) == {"target_convention": "centred-v1"}

    target = narrow()
    report = load_weights(target, path)
    assert report.record == {"target_convention": "centred-v1"} == target.weights_record

    wrapped = torch.nn.DataParallel(source).state_dict()  # module.* names, the record under "module"
    wrapped._metadata["module"] = checkpoint.generator_state_dict(source)._metadata[""]
    atomic_save({"epoch": 3, "state_dict": wrapped}, tmp_path / "checkpoint.pth")
    assert load_weights(narrow(), tmp_path / "checkpoint.pth").record == {"target_convention": "centred-v1"}


def test_file_without_a_record_reads_as_an_empty_record(tmp_path):
    """Released files (and any plain torch.save of a state_dict) have no record; loading one leaves the model's own."""
    path = tmp_path / "released.pth"
    torch.save(narrow().state_dict(), path)
    assert checkpoint.weights_record(read_weight_file(path)) == {}
    fresh = narrow()
    assert load_weights(fresh, path).record == {} and getattr(fresh, "weights_record", {}) == {}
    trained_here = narrow()
    checkpoint.record_weights(trained_here, target_convention="centred-v1")
    load_weights(trained_here, path)  # e.g. --init-from a released file: the run still trains on this codec
    assert trained_here.weights_record == {"target_convention": "centred-v1"}


def test_a_key_added_after_the_checkpoint_counts_as_its_default():
    """A checkpoint written before a key existed resumes when the key is asked at its default, not otherwise."""
    from lib.config import get_cfg
    from lib.utils.checkpoint import config_differences

    asked = get_cfg()
    saved = yaml.safe_load(asked.dump())
    del saved["MODEL"]["SYNC_BN"]
    older = yaml.safe_dump(saved)
    assert config_differences(older, asked, defaults=get_cfg()) == []
    assert config_differences(older, asked) == ["MODEL.SYNC_BN: checkpoint None, asked False"]
    asked.defrost()
    asked.MODEL.SYNC_BN = True
    assert config_differences(older, asked, defaults=get_cfg()) == ["MODEL.SYNC_BN: checkpoint False, asked True"]
