"""One command-line grammar for every tool: flags and `KEY VALUE` config overrides in any order, the same flag for
the same thing everywhere (--cfg, --weights, --work-dir, --device, --debug), older spellings kept as aliases.

    parser = cli.ArgumentParser(description=__doc__)            # --cfg and --debug
    cli.add_weights(parser, "weights to evaluate", aliases=("--init-from",))
    cli.add_work_dir(parser, "where results land", aliases=("--output-dir",))
    cli.add_device(parser)
    args = cli.parse(parser, argv)                               # args.opts: the KEY VALUE overrides, in order

A token that is not a flag nor a flag's value starts a `KEY VALUE` pair (the value may look like a flag's, e.g. -1);
after `--` everything is overrides. A flag taking several values stops at the next flag or known config key.
"""
import argparse
import sys

from lib.config import get_cfg
from lib.utils.errors import as_user_errors, enable_debug


def _config_keys(node, prefix=""):
    keys = set()
    for name, value in node.items():
        keys.add(prefix + name)
        if isinstance(value, dict):
            keys |= _config_keys(value, f"{prefix}{name}.")
    return keys


CONFIG_KEYS = frozenset(_config_keys(get_cfg()))


class ArgumentParser(argparse.ArgumentParser):
    """argparse with --cfg and --debug, no abbreviated flags, and usage errors as `error: ...` + a hint (status 2)."""

    def __init__(self, description, cfg_help="experiment yaml", **kwargs):
        super().__init__(description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                         allow_abbrev=False, **kwargs)
        self.add_argument("--cfg", required=True, help=cfg_help)
        self.add_argument("--debug", action="store_true",
                          help="show the traceback of every error (same as OMNIPOSE_DEBUG=1)")
        self.epilog = "KEY VALUE pairs override the config (any key of lib/config/defaults.py), before or after flags."

    def error(self, message):
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        print(f"hint: {self.prog} --help lists every option", file=sys.stderr)
        sys.exit(2)


def add_weights(parser, help, aliases=(), **kwargs):
    parser.add_argument("--weights", *aliases, dest="weights", help=help, **kwargs)


def add_work_dir(parser, help, aliases=(), **kwargs):
    parser.add_argument("--work-dir", *aliases, dest="work_dir", help=help, **kwargs)


def add_device(parser, help="'cpu', 'cuda' or 'auto' (default: the config's DEVICE)"):
    parser.add_argument("--device", default=None, help=help)


def device_override(args):
    """--device as the DEVICE override (after the others, so the flag wins), for tools that read cfg.DEVICE."""
    return ["DEVICE", args.device] if getattr(args, "device", None) else []


def _is_number(token):
    try:
        float(token)
        return True
    except ValueError:
        return False


def _is_flag(token):
    return token.startswith("-") and token != "-" and not _is_number(token)


def split_argv(parser, argv):
    """(flag tokens for argparse, KEY VALUE override tokens), walking argv once in order."""
    flags, overrides, i = [], [], 0
    actions = parser._option_string_actions  # noqa: SLF001 - the only way to know how many values a flag takes
    while i < len(argv):
        token = argv[i]
        if token == "--":
            overrides += argv[i + 1:]
            break
        if not _is_flag(token):
            overrides += argv[i:i + 2]  # KEY and its value, whatever it looks like
            i += 2
            continue
        flags.append(token)
        i += 1
        action = actions.get(token)
        if action is None or action.nargs == 0:  # an unknown flag is argparse's to report; a switch has no value
            continue
        if action.nargs is None or isinstance(action.nargs, int):
            count = 1 if action.nargs is None else action.nargs
            flags += argv[i:i + count]
            i += count
            continue
        while i < len(argv) and not (_is_flag(argv[i]) or argv[i] == "--" or argv[i] in CONFIG_KEYS):
            flags.append(argv[i])
            i += 1
            if action.nargs == "?":
                break
    return flags, overrides


def parse(parser, argv=None):
    """Parses `argv` (default sys.argv[1:]); returns the argparse namespace with `.opts`, the KEY VALUE overrides."""
    argv = list(sys.argv[1:] if argv is None else argv)
    flags, overrides = split_argv(parser, argv)
    args = parser.parse_args(flags)
    args.opts = overrides
    if args.debug:
        enable_debug()
    return args


def device_errors():
    """Around a tool's device set-up: an unavailable or unknown device (torch's RuntimeError) is the user's to fix."""
    return as_user_errors(RuntimeError, hint="choose another device: --device cpu (or DEVICE cpu), or run where a "
                                             "GPU is visible")
