"""The one place weights are read and written: atomic saves, reading weight files of every supported layout, strict
loading with errors that say what to change, and non-strict loading of ImageNet backbones.

Reading never runs code stored in a file: every .pth goes through load_file (torch.load with weights_only=True); a
file that needs Python's full unpickler is refused unless the user names it in TRUSTED_PICKLE_FILES.

Supported files: bare state_dicts (model_best.pth, final_state.pth, the released OmniPose/HRNet files) and checkpoint
dicts holding the weights under `state_dict`, `best_state_dict`, `model` or `generator`; `module.` (DataParallel/DDP)
and `_orig_mod.` (torch.compile) prefixes are stripped. Strict by default: a silently half-loaded model is how the
original OmniPose scored AP 0.0 with its own released weights (docs/changes_from_original.md).

Weight files written here (model_best.pth, final_state.pth, the generator in checkpoint.pth) carry a small record of
how they were trained (the heatmap target convention), so evaluation can pick the flip test's alignment; see
WEIGHTS_RECORD_KEY below for where it lives and why there.
"""
import logging
import os
import pickle
import random
import re
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import yaml

from lib.utils.errors import UserError

logger = logging.getLogger(__name__)

# Where checkpoint dicts keep the model weights, in the order they are looked for.
STATE_DICT_KEYS = ("state_dict", "best_state_dict", "model", "generator")
# Prefixes wrappers add to parameter names: DataParallel/DDP and torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
MAX_LISTED = 5  # names listed per category in messages

# The record lives in the metadata PyTorch already pickles with every state_dict (its `_metadata` attribute, entry
# "" = the root module, next to {"version": 1}), not under a key of its own: the files stay bare state_dicts, so a
# strict `model.load_state_dict(torch.load(f))` anywhere (the original HRNet/OmniPose code included) and this module's
# strict loader see exactly the model's tensors, and torch.load(weights_only=True) keeps it. A sidecar file would be
# lost when the .pth alone is copied, and evaluation would silently fall back to the configured flip alignment.
# Files without it (the released weights, other projects) read as an empty record.
WEIGHTS_RECORD_KEY = "adversarial_omnipose"


class WeightLoadError(RuntimeError):
    """Weights that do not fit the model (missing, unexpected or shape-mismatched tensors)."""


class WeightFileError(WeightLoadError):
    """A weight file that cannot be read: truncated, corrupt, or holding no tensors."""


class UntrustedPickleError(UserError):
    """A file that only Python's full unpickler can read, which the user has not named in TRUSTED_PICKLE_FILES.
    Deliberately not a WeightFileError: tools that turn unreadable weights into a message of their own must not
    swallow this refusal, which has its one message and exit status (lib.utils.errors.run_main)."""


def atomic_save(obj, path: Union[str, os.PathLike]) -> None:
    """torch.save that never leaves a truncated file: writes a temporary file in the same folder, flushes and fsyncs
    it, then renames it over `path`. If anything fails, `path` keeps its old content and the temporary is removed.

    Args:
        obj: anything torch.save accepts.
        path: destination; its folder is created if needed.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.remove(tmp_path)
        except OSError:
            pass
        raise
    # Make the rename itself durable; not every platform lets a folder be opened, so this is best effort.
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(torch.is_tensor(v) for v in obj.values())


def _strip_name(key: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                stripped = True
    return key


def strip_wrapper_prefixes(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Removes leading `module.` / `_orig_mod.` (in any combination) from every key; the state_dict's `_metadata`
    (module versions and this project's weights record) comes along under the stripped module names."""
    out = OrderedDict((_strip_name(key), value) for key, value in state_dict.items())
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        # "module" (a wrapper's inner model) strips to "" and, coming after the wrapper's own "", wins.
        out._metadata = OrderedDict((_strip_name(name + ".")[:-1] if name else name, dict(meta))
                                    for name, meta in metadata.items())
    return out


def weights_record(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, str]:
    """The record this project writes into its weight files (a copy), or {} for a file without one."""
    root = (getattr(state_dict, "_metadata", None) or {}).get("", {})
    record = root.get(WEIGHTS_RECORD_KEY, {})
    return dict(record) if isinstance(record, Mapping) else {}


def record_weights(model: nn.Module, **record: str) -> None:
    """Notes facts about how `model` is trained (e.g. target_convention=...); generator_state_dict writes them into
    every weight file of it. Adds to what the model already carries (a loaded file's record included)."""
    model.weights_record = dict(getattr(model, "weights_record", {}), **record)


def generator_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    """model.state_dict() with the model's weights record in its metadata (see WEIGHTS_RECORD_KEY)."""
    state_dict = model.state_dict()
    record = getattr(model, "weights_record", {})
    if record:
        state_dict._metadata[""] = dict(state_dict._metadata.get("", {}), **{WEIGHTS_RECORD_KEY: dict(record)})
    return state_dict


def save_generator_weights(model: nn.Module, path: Union[str, os.PathLike]) -> None:
    """A bare, recorded generator state_dict (model_best.pth, final_state.pth), written atomically."""
    atomic_save(generator_state_dict(model), path)


def _unsafe_load_needed(error: Exception) -> bool:
    # torch's weights_only unpickler starts every refusal of a global or opcode with this; a truncated or corrupt
    # file fails with other exceptions.
    return isinstance(error, pickle.UnpicklingError) and str(error).startswith("Weights only load failed")


def _refused_object(error: Exception) -> str:
    """The class or function a file asked the weights_only unpickler for, as torch names it ('' if it names none)."""
    match = re.search(r"GLOBAL (\S+)", str(error))
    return match.group(1) if match else ""


def is_trusted(path: Union[str, os.PathLike], trusted_files: Sequence[Union[str, os.PathLike]]) -> bool:
    """Whether `path` is one of `trusted_files`, compared as resolved absolute paths (links followed)."""
    resolved = os.path.realpath(path)
    return any(os.path.realpath(trusted) == resolved for trusted in trusted_files)


def load_file(path: Union[str, os.PathLike], trusted_files: Sequence[Union[str, os.PathLike]] = ()):
    """torch.load on the CPU with weights_only=True: tensors, containers and plain Python values only, so reading a
    file never runs code stored in it. The one place this project reads a .pth.

    Args:
        path: the file.
        trusted_files: files the user has explicitly trusted (TRUSTED_PICKLE_FILES); only these, when
            weights_only=True refuses them, are read again with Python's full unpickler, with a warning.
    Raises:
        UntrustedPickleError: the file needs the full unpickler and is not in `trusted_files`; nothing of it ran.
        WeightFileError: the file cannot be read (truncated or corrupt).
    """
    path = os.fspath(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as safe_error:
        if not _unsafe_load_needed(safe_error):
            raise WeightFileError(f"{path}: cannot read the weight file (truncated or corrupt?): {safe_error}") \
                from safe_error
        asked = _refused_object(safe_error)
        detail = f"it asks for {asked}" if asked else "it holds objects other than tensors and plain values"
        if not is_trusted(path, trusted_files):
            raise UntrustedPickleError(
                f"{path}: refused: reading it needs Python's full unpickler ({detail}), which can run any code stored "
                f"in the file; if you trust this file, name it in the config key TRUSTED_PICKLE_FILES, e.g. "
                f"TRUSTED_PICKLE_FILES \"['{os.path.abspath(path)}']\"") from None
    logger.warning("%s: reading it with Python's full unpickler (%s) as it is listed as trusted: this runs any code "
                   "stored in the file", path, detail)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise WeightFileError(f"{path}: cannot read the weight file (truncated or corrupt?): {e}") from e


def read_weight_file(path: Union[str, os.PathLike], key: Optional[str] = None,
                     trusted_files: Sequence[Union[str, os.PathLike]] = ()) -> Dict[str, torch.Tensor]:
    """Reads model weights from a bare state_dict or a checkpoint dict, on the CPU.

    Args:
        path: a .pth file.
        key: take the weights from this entry of a checkpoint dict; None tries STATE_DICT_KEYS in order.
        trusted_files: TRUSTED_PICKLE_FILES (see load_file).
    Returns:
        A state_dict {name: tensor} with wrapper prefixes stripped.
    Raises:
        FileNotFoundError: no such file.
        WeightFileError: unreadable file, or no dict of tensors in it (the message names the path and what it found).
        UntrustedPickleError: see load_file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weight file not found: {path}")
    obj = load_file(path, trusted_files)
    if not isinstance(obj, Mapping):
        raise WeightFileError(f"{path}: expected a state_dict or a checkpoint dict, got a {type(obj).__name__}")
    if key is not None:
        if not _is_state_dict(obj.get(key)):
            raise WeightFileError(f"{path}: has no dict of tensors under {key!r}; top-level keys: {sorted(obj)[:20]}")
        state_dict = obj[key]
    elif _is_state_dict(obj):
        state_dict = obj
    else:
        found = [k for k in STATE_DICT_KEYS if _is_state_dict(obj.get(k))]
        if not found:
            raise WeightFileError(
                f"{path}: holds no tensors: neither a state_dict nor a checkpoint with one of {list(STATE_DICT_KEYS)} "
                f"(top-level keys: {sorted(map(str, obj))[:20]})"
            )
        logger.info("%s: using the weights under %r", path, found[0])
        state_dict = obj[found[0]]
    return strip_wrapper_prefixes(state_dict)


@dataclass
class LoadReport:
    """What a load did: names loaded, missing from the file, unexpected in it, and shape-mismatched."""

    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)  # name, file, model
    record: Dict[str, str] = field(default_factory=dict)  # the file's weights record ({} for released files)


def _few(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f", ... ({len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else "")


def _compare(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> LoadReport:
    own = model.state_dict()
    report = LoadReport()
    for name, value in state_dict.items():
        if name not in own:
            report.unexpected.append(name)
        elif tuple(value.shape) != tuple(own[name].shape):
            report.mismatched.append((name, tuple(value.shape), tuple(own[name].shape)))
        else:
            report.loaded.append(name)
    report.missing = [n for n in own if n not in state_dict and not _benign_missing(n, state_dict)]
    return report


def _benign_missing(name: str, state_dict: Mapping[str, torch.Tensor]) -> bool:
    # Files older than PyTorch 0.4.1 have BatchNorm statistics without num_batches_tracked; BatchNorm fills it in.
    suffix = "num_batches_tracked"
    return name.endswith(suffix) and name[: -len(suffix)] + "running_mean" in state_dict


# File prefixes that identify a layout, and the setting that builds a model with that layout.
_LAYOUTS = (
    ("waspv2.", "the WASPv2 layout: set MODEL.NAME omnipose and MODEL.EXTRA.HEAD waspv2"),
    ("wasp.", "the WASPv1 layout: set MODEL.NAME omnipose and MODEL.EXTRA.HEAD waspv1"),
    ("decoder.", "the WASPv1 layout: set MODEL.NAME omnipose and MODEL.EXTRA.HEAD waspv1"),
    ("final_layer.", "the pose_hrnet layout: set MODEL.NAME pose_hrnet"),
)


def _hints(model: nn.Module, report: LoadReport) -> List[str]:
    hints = []
    own = model.state_dict()
    for prefix, advice in _LAYOUTS:
        if any(n.startswith(prefix) for n in report.unexpected) and not any(n.startswith(prefix) for n in own):
            hint = f"this looks like {advice}"
            if hint not in hints:
                hints.append(hint)
    output_weight = f"{getattr(model, 'output_layer', None)}.weight"
    width_key = "transition1.0.0.weight"
    for name, file_shape, model_shape in report.mismatched:
        if name == output_weight and file_shape[1:] == model_shape[1:]:
            hints.append(
                f"the file has {file_shape[0]} joints, the model MODEL.NUM_JOINTS={model_shape[0]} "
                f"(17 for COCO, 16 for MPII)"
            )
        elif name == width_key:
            hints.append(
                f"the file's HRNet width is W{file_shape[0]}, the model's W{model_shape[0]} "
                "(MODEL.EXTRA.STAGE2..4.NUM_CHANNELS)"
            )
    return hints


def _describe(report: LoadReport) -> str:
    lines = []
    if report.missing:
        lines.append(f"missing from the file ({len(report.missing)}): {_few(report.missing)}")
    if report.unexpected:
        lines.append(f"unexpected in the file ({len(report.unexpected)}): {_few(report.unexpected)}")
    if report.mismatched:
        shown = [f"{n} file {list(f)} vs model {list(m)}" for n, f, m in report.mismatched]
        lines.append(f"shape mismatches ({len(shown)}): {_few(shown)}")
    return "; ".join(lines)


def load_weights(model: nn.Module, path_or_state_dict, strict: bool = True,
                 trusted_files: Sequence[Union[str, os.PathLike]] = ()) -> LoadReport:
    """Loads weights into `model` by name (frozen Gaussian filters included).

    Args:
        model: the generator (any nn.Module).
        path_or_state_dict: a weight file (see read_weight_file) or a state_dict.
        strict: raise on any missing, unexpected or shape-mismatched tensor (default). With False, loads the
            tensors whose name and shape match and logs the rest.
        trusted_files: TRUSTED_PICKLE_FILES (see load_file).
    Returns:
        A LoadReport; its `record` (the file's weights record, {} for released files) is also added to the model's
        (record_weights), so evaluation knows how the loaded weights were trained.
    Raises:
        WeightLoadError (strict): lists the first few names of each kind with counts, plus what to change when the
        cause is recognisable (head layout, model name, joint count, width).
    """
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        source = os.fspath(path_or_state_dict)
        state_dict = read_weight_file(source, trusted_files=trusted_files)
    else:
        source = "the given state_dict"
        state_dict = strip_wrapper_prefixes(path_or_state_dict)
    report = _compare(model, state_dict)
    problems = report.missing or report.unexpected or report.mismatched
    if problems and strict:
        message = f"{source}: weights do not fit {type(model).__name__}: {_describe(report)}"
        hints = _hints(model, report)
        if hints:
            message += ". " + "; ".join(hints)
        raise WeightLoadError(message)
    model.load_state_dict({n: state_dict[n] for n in report.loaded}, strict=False)
    report.record = weights_record(state_dict)
    if report.record:
        record_weights(model, **report.record)
    if problems:
        logger.warning("%s: loaded %d tensors non-strictly; %s", source, len(report.loaded), _describe(report))
    else:
        logger.info("%s: loaded all %d tensors%s", source, len(report.loaded),
                    f" (weights record {report.record})" if report.record else " (no weights record)")
    return report


def _selected(name: str, prefixes: Sequence[str]) -> bool:
    return "*" in prefixes or any(name == p or name.startswith(p + ".") for p in prefixes)


def load_pretrained_backbone(model: nn.Module, path: Union[str, os.PathLike], prefixes: Sequence[str],
                             trusted_files: Sequence[Union[str, os.PathLike]] = ()) -> LoadReport:
    """Non-strict load of an (ImageNet) HRNet backbone: only names under `prefixes` whose shapes match.

    Args:
        model: the generator.
        path: the weight file (MODEL.PRETRAINED).
        prefixes: MODEL.EXTRA.PRETRAINED_LAYERS: top-level names ('conv1', 'stage4', ...) or dotted prefixes;
            '*' selects everything.
        trusted_files: TRUSTED_PICKLE_FILES (see load_file).
    Returns:
        A LoadReport (`missing` = the model tensors that keep their initialisation).
    Logs exactly how many tensors were loaded and which stayed at initialisation (first few names and counts).
    """
    path = os.fspath(path)
    state_dict = read_weight_file(path, trusted_files=trusted_files)
    selected = {n: t for n, t in state_dict.items() if _selected(n, prefixes)}
    report = _compare(model, selected)
    model.load_state_dict({n: selected[n] for n in report.loaded}, strict=False)
    frozen = set(model.frozen_parameter_names()) if hasattr(model, "frozen_parameter_names") else set()
    kept = report.missing
    kept_frozen = [n for n in kept if n in frozen]
    logger.info(
        "%s: loaded %d of %d model tensors (prefixes %s); %d file tensors outside the prefixes ignored",
        path, len(report.loaded), len(model.state_dict()), list(prefixes), len(state_dict) - len(selected),
    )
    if kept:
        logger.info(
            "%s: %d model tensors stay at initialisation (%d of them fixed by design: Gaussian filters / unused "
            "fuse layers): %s", path, len(kept), len(kept_frozen), _few([n for n in kept if n not in frozen] or kept),
        )
    if report.unexpected or report.mismatched:
        logger.info("%s: skipped: %s", path, _describe(LoadReport(unexpected=report.unexpected,
                                                                      mismatched=report.mismatched)))
    return report


# ------------------------------------------------------------------------------------------------------------------
# Training state: checkpoint.pth (resume everything) as opposed to the weight files above (init from weights).
# ------------------------------------------------------------------------------------------------------------------
CHECKPOINT_FORMAT = "adversarial-omnipose-checkpoint-v1"


def _rng_state():
    """RNG states as tensors and plain lists, so the checkpoint still loads with weights_only=True."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state):
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_checkpoint(path, cfg, trainer, epoch, model, optimizer, scheduler, best_perf, best_epoch,
                             scaler=None, extra_modules=None, extra_optimizers=None):
    """Writes checkpoint.pth atomically.

    Args:
        trainer: 'pure' or 'adversarial' (a resume with the other trainer is refused).
        epoch: the next epoch to run.
        model: the unwrapped generator; extra_modules / extra_optimizers: {name: module/optimizer or None}
            (the adversarial trainer's discriminators and their optimizer).
    """
    state = {
        "format": CHECKPOINT_FORMAT,
        "trainer": trainer,
        "epoch": int(epoch),
        "model": cfg.MODEL.NAME,
        "state_dict": generator_state_dict(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "best_perf": float(best_perf),
        "best_epoch": int(best_epoch),
        "config": cfg.dump(),
        "rng": _rng_state(),
    }
    for name, module in (extra_modules or {}).items():
        state[name] = module.state_dict() if module is not None else None
    for name, opt in (extra_optimizers or {}).items():
        state[name] = opt.state_dict() if opt is not None else None
    atomic_save(state, path)


def _flatten(tree, prefix=""):
    flat = {}
    for key, value in (tree or {}).items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def config_differences(saved_text, cfg, may_change=(), defaults=None):
    """Every key whose value differs between a saved config (yaml text) and `cfg`, outside `may_change`, as
    'KEY: checkpoint X, asked Y' lines. A key the saved config lacks (added to the project after the checkpoint was
    written) counts as its value in `defaults` (a config holding the defaults), the behaviour the older code had."""
    saved, asked = _flatten(yaml.safe_load(saved_text)), _flatten(yaml.safe_load(cfg.dump()))
    if defaults is not None:
        saved = dict(_flatten(yaml.safe_load(defaults.dump())), **saved)
    return [f"{key}: checkpoint {saved.get(key)!r}, asked {asked.get(key)!r}"
            for key in sorted(set(saved) | set(asked))
            if key not in may_change and saved.get(key) != asked.get(key)]


class CheckpointError(WeightFileError):
    """A training checkpoint that cannot be resumed (wrong trainer, other model config, not a checkpoint)."""


def load_training_checkpoint(path, cfg, trainer, may_change=(), defaults=None):
    """Reads checkpoint.pth for an exact resume and checks that it belongs to this config and trainer.

    Args:
        may_change: keys that may differ from the saved config (lib.config.defaults.RESUME_MAY_CHANGE).
        defaults: the default config, standing in for keys the saved config lacks (config_differences).
    Raises:
        CheckpointError naming the file when it is missing, truncated or corrupt, is a bare weight file, was written
        by the other trainer, or was trained with a config that differs in any other key (listing every one).
        UntrustedPickleError: see load_file (cfg.TRUSTED_PICKLE_FILES is the trusted list).
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint to resume from")
    state = load_file(path, cfg.TRUSTED_PICKLE_FILES)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a training checkpoint of this project (expected a dict with format={CHECKPOINT_FORMAT!r}); "
            f"to start a new run from these weights use --init-from {path}")
    if state["trainer"] != trainer:
        raise CheckpointError(f"{path}: written by the {state['trainer']} trainer, cannot resume it with the "
                              f"{trainer} trainer; use --init-from for its generator weights")
    diffs = config_differences(state["config"], cfg, may_change, defaults)
    if diffs:
        what = "another model config" if any(d.startswith("MODEL.") for d in diffs) else "other settings"
        error = CheckpointError(f"{path}: cannot resume: the checkpoint was trained with {what}; {len(diffs)} "
                                "key(s) differ:\n" + "\n".join(diffs))
        error.hint = ("give the checkpoint's values (its config.yaml), or start a new run with --work-dir DIR "
                      "(--weights to start from its weights); only these may change on a resume: " +
                      ", ".join(may_change))
        raise error
    return state


def restore_training_state(state, model, optimizer, scheduler, scaler=None, extra_modules=None,
                           extra_optimizers=None):
    """Loads everything saved by save_training_checkpoint (strictly) and restores the RNG states."""
    load_weights(model, state["state_dict"], strict=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    for name, module in (extra_modules or {}).items():
        if module is not None:
            if state.get(name) is None:
                raise CheckpointError(f"the checkpoint has no '{name}' state to resume")
            module.load_state_dict(state[name], strict=True)
    for name, opt in (extra_optimizers or {}).items():
        if opt is not None and state.get(name) is not None:
            opt.load_state_dict(state[name])
    _set_rng_state(state["rng"])
