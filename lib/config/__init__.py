"""Config loading: defaults (lib/config/defaults.py) <- yaml (with `_BASE_` inheritance) <- `KEY VALUE` overrides.

    cfg = load_cfg("experiments/coco/omnipose_w48_384x288.yaml", ["TRAIN.LR", "1e-4"])

Every error names the key and the file (or "command line") it came from.
"""
import ast
import difflib
import os

import yaml
from yacs.config import CfgNode

from lib.config.defaults import PATH_KEYS, _C
from lib.utils.errors import UserError

BASE_KEY = "_BASE_"


class ConfigError(UserError, ValueError):
    """A config file or override that does not fit the defaults."""


def _unknown_key(source, key, node):
    """The error for a key the defaults do not have, with the closest known spellings as the hint."""
    prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(node.keys()), n=3)
    hint = ("did you mean " + " or ".join(prefix + c for c in close) + "?") if close else \
        "every key, with its meaning, is in lib/config/defaults.py"
    return ConfigError(f"{source}: unknown config key {key}", hint=hint)


def get_cfg():
    """A fresh, mutable copy of the defaults (never the module global)."""
    return _C.clone()


def _read_yaml(path, _seen=()):
    """Reads a yaml into a dict, resolving `_BASE_` (relative to the file) recursively."""
    path = os.path.abspath(path)
    if path in _seen:
        chain = " -> ".join(_seen + (path,))
        raise ConfigError(f"{path}: _BASE_ inheritance loops back to this file ({chain})",
                          hint="a _BASE_ chain must end in a file without _BASE_")
    if not os.path.isfile(path):
        if _seen:
            raise ConfigError(f"{_seen[-1]}: its _BASE_ file {path} does not exist",
                              hint="_BASE_ is resolved relative to the file that names it")
        raise ConfigError(f"config file not found: {path}", hint="--cfg takes an experiment yaml, e.g. "
                          "experiments/synthetic/omnipose_quickstart.yaml")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid yaml: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level, got {type(data).__name__}")
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    base_data = _read_yaml(os.path.join(os.path.dirname(path), base), _seen + (path,))
    return _deep_update(base_data, data)


def _deep_update(base, update):
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def _coerce(value, default, full_key, source):
    """Lets an int stand for a float and a list for a tuple; anything else must match the default's type."""
    if isinstance(default, CfgNode):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {full_key} is a section; expected a mapping, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, float) and isinstance(value, str):
        try:  # PyYAML (yaml 1.1) reads 1e-4 as a string
            return float(value)
        except ValueError:
            pass
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    if type(value) is not type(default):
        raise ConfigError(
            f"{source}: {full_key}={value!r} has type {type(value).__name__}, "
            f"expected {type(default).__name__} like the default {default!r}"
        )
    return value


def _merge_dict(cfg, data, source, prefix=""):
    for key, value in data.items():
        full_key = prefix + key
        if key not in cfg:
            raise _unknown_key(source, full_key, cfg)
        value = _coerce(value, cfg[key], full_key, source)
        if isinstance(cfg[key], CfgNode):
            _merge_dict(cfg[key], value, source, full_key + ".")
        else:
            cfg[key] = value


def _parse_override(text):
    """Python literals first (so 2e-4 is a float, which yaml 1.1 reads as a string), then yaml (true/false, null),
    else the plain string. An empty value is the empty string (clears a path such as MODEL.PRETRAINED)."""
    if not text.strip():
        return ""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def merge_opts(cfg, opts, source="command line"):
    """Merges `KEY VALUE KEY VALUE ...` (values parsed as yaml scalars/lists)."""
    if len(opts) % 2:
        raise ConfigError(f"{source}: overrides must be KEY VALUE pairs, got an odd count: {opts}",
                          hint=f"{opts[-1]!r} has no value" if opts else "")
    for key, text in zip(opts[0::2], opts[1::2]):
        node, parts = cfg, key.split(".")
        for part in parts[:-1]:
            if part not in node or not isinstance(node[part], CfgNode):
                raise _unknown_key(source, key, node)
            node = node[part]
        if parts[-1] not in node:
            raise _unknown_key(source, key, node)
        node[parts[-1]] = _coerce(_parse_override(text), node[parts[-1]], key, source)


def check_cfg(cfg, source):
    """Cross-key checks done once at start-up."""
    img_w, img_h = cfg.MODEL.IMAGE_SIZE
    hm_w, hm_h = cfg.MODEL.HEATMAP_SIZE
    if (img_w // 4, img_h // 4) != (hm_w, hm_h) or img_w % 4 or img_h % 4:
        raise ConfigError(
            f"{source}: MODEL.HEATMAP_SIZE={list(cfg.MODEL.HEATMAP_SIZE)} must be MODEL.IMAGE_SIZE/4="
            f"[{img_w / 4:g}, {img_h / 4:g}] as [w, h]; the generators have stride 4"
        )
    choices = {
        "MODEL.NAME": (cfg.MODEL.NAME, ("omnipose", "pose_hrnet", "hourglass")),
        "MODEL.EXTRA.HEAD": (cfg.MODEL.EXTRA.HEAD, ("waspv2", "waspv1")),
        "LOSS.TYPE": (cfg.LOSS.TYPE, ("mse", "bce")),
        "LOSS.BCE_WEIGHTING": (cfg.LOSS.BCE_WEIGHTING, ("fixed", "balanced")),
        "TRAIN.OPTIMIZER": (cfg.TRAIN.OPTIMIZER, ("adam", "adamw", "sgd")),
        "DATASET.DATASET": (cfg.DATASET.DATASET, ("coco", "mpii", "lsp")),
        "DATASET.DATA_FORMAT": (cfg.DATASET.DATA_FORMAT, ("auto", "jpg", "zip")),
        "DEVICE": (cfg.DEVICE, ("auto", "cpu", "cuda")),
        "MODEL.TARGET_TYPE": (cfg.MODEL.TARGET_TYPE, ("gaussian",)),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{source}: {key}={value!r} is not one of {allowed}")
    if cfg.TEST.BLUR_KERNEL % 2 != 1:
        raise ConfigError(f"{source}: TEST.BLUR_KERNEL={cfg.TEST.BLUR_KERNEL} must be odd")
    if cfg.TRAIN.EMA_DECAY != 0 and not 0 < cfg.TRAIN.EMA_DECAY < 1:
        raise ConfigError(f"{source}: TRAIN.EMA_DECAY={cfg.TRAIN.EMA_DECAY} must be 0 (off) or in (0, 1), e.g. 0.999")
    for key in ("TRAIN.BATCH_SIZE_PER_GPU", "TEST.BATCH_SIZE_PER_GPU", "TRAIN.END_EPOCH", "PRINT_FREQ"):
        node, leaf = _node_and_leaf(cfg, key)
        if node[leaf] < 1:
            raise ConfigError(f"{source}: {key}={node[leaf]} must be >= 1")
    if cfg.WORKERS < 0:
        raise ConfigError(f"{source}: WORKERS={cfg.WORKERS} must be >= 0 (0 loads in the main process)")
    if cfg.TRAIN.VAL_INTERVAL < 1:
        raise ConfigError(f"{source}: TRAIN.VAL_INTERVAL={cfg.TRAIN.VAL_INTERVAL} must be >= 1")


def resolve_path(cfg, path):
    """The one path rule (lib/config/defaults.py, module docstring): '' stays unset, '~' is expanded, absolute paths
    are kept, relative ones are joined to DATA_DIR (made absolute) when it is set, else left relative to the working
    directory."""
    if not path:
        return path
    path = os.path.expanduser(path)
    if os.path.isabs(path) or not cfg.DATA_DIR:
        return path
    return os.path.abspath(os.path.join(os.path.expanduser(cfg.DATA_DIR), path))


class MissingPathError(UserError, FileNotFoundError):
    """A path key whose file or folder does not exist."""


def _node_and_leaf(cfg, key):
    node, parts = cfg, key.split(".")
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def _resolve_paths(cfg, source):
    for key in PATH_KEYS:
        node, leaf = _node_and_leaf(cfg, key)
        value = node[leaf]
        if isinstance(value, list):
            if not all(isinstance(entry, str) and entry for entry in value):
                raise ConfigError(f"{source}: {key}={value!r} must be a list of paths (non-empty strings)")
            node[leaf] = [resolve_path(cfg, entry) for entry in value]
        else:
            node[leaf] = resolve_path(cfg, value)


def require_path(cfg, key, kind="file"):
    """The value of the path key `key` (already resolved), checked to exist as a `kind` ('file' or 'folder').

    Raises:
        MissingPathError (a FileNotFoundError) naming the key, the value, the absolute path it resolved to and
        the rule.
    """
    node, leaf = _node_and_leaf(cfg, key)
    path = node[leaf]
    base = f"DATA_DIR {cfg.DATA_DIR!r}" if cfg.DATA_DIR else f"the working directory {os.getcwd()}"
    if not path:
        raise MissingPathError(f"{key} is not set; it must name a {kind}")
    exists = os.path.isdir(path) if kind == "folder" else os.path.isfile(path)
    if not exists:
        raise MissingPathError(f"{key} {path!r} (resolved: {os.path.abspath(path)}) is not an existing {kind}; "
                                f"relative paths are resolved against {base}")
    return path


def load_cfg(path=None, opts=(), freeze=True):
    """Defaults, then the yaml at `path` (if any), then `opts`; checked and (by default) frozen."""
    cfg = get_cfg()
    if path:
        _merge_dict(cfg, _read_yaml(path), source=path)
    merge_opts(cfg, list(opts))
    _resolve_paths(cfg, source=path or "defaults")
    check_cfg(cfg, source=path or "defaults")
    if freeze:
        cfg.freeze()
    return cfg


def update_config(cfg, args):
    """HRNet-style entry point: merges `args.cfg` and `args.opts` into `cfg` in place."""
    loaded = load_cfg(getattr(args, "cfg", None), getattr(args, "opts", None) or (), freeze=False)
    cfg.defrost()
    cfg.merge_from_other_cfg(loaded)
    cfg.freeze()
    return cfg


def config_name(path):
    """The run folder's last component: the yaml's file name without extension."""
    return os.path.splitext(os.path.basename(path))[0] if path else "defaults"
