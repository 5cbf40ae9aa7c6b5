"""Mistakes a user can fix, reported as one `error: ...` line and exit status 2 instead of a traceback.

    if __name__ == "__main__":
        run_main(main)

Raise UserError (or a subclass) with a message that names the file, key or value and what was expected, and
optionally a `hint` (printed as a second line, `hint: ...`). Any other exception is a bug and keeps its traceback,
except the few library and OS errors listed in is_user_error (a full disk, a folder that cannot be written, ...) and
the exception types an entry point passes as `user_errors` (its libraries' own "bad input" errors).
OMNIPOSE_DEBUG=1 (or --debug on any tool, which sets it) prints the traceback of a user error too.
"""
import contextlib
import errno
import os
import sys
import traceback

DEBUG_VARIABLE = "OMNIPOSE_DEBUG"

# OS errors whose cause is the user's machine or paths, not the program: reported without a traceback.
USER_ERRNOS = {errno.ENOENT: "no such file or folder", errno.EACCES: "permission denied",
               errno.EPERM: "operation not permitted", errno.EROFS: "read-only file system",
               errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
               errno.ENOTDIR: "a path component is not a folder", errno.EISDIR: "is a folder, expected a file"}


class UserError(Exception):
    """A problem with the user's input (a file, key or value); the message says what and what was expected."""

    def __init__(self, message, hint=""):
        super().__init__(message)
        self.hint = hint


def enable_debug():
    """Tracebacks for user errors too, here and in every process this one starts (torchrun workers, scripts)."""
    os.environ[DEBUG_VARIABLE] = "1"


def debug_enabled():
    return os.environ.get(DEBUG_VARIABLE) == "1"


def is_user_error(exc, user_errors=()):
    """Whether `exc` is the user's to fix: a UserError, a missing file (every path comes from the user's config or
    command line), one of `user_errors`, or an OSError of USER_ERRNOS."""
    if isinstance(exc, (UserError, FileNotFoundError) + tuple(user_errors)):
        return True
    return isinstance(exc, OSError) and exc.errno in USER_ERRNOS


def describe(exc):
    """The `error: ...` text for a user error: its message, and for a bare OSError the path and the reason."""
    if isinstance(exc, OSError) and not isinstance(exc, UserError) and exc.errno in USER_ERRNOS:
        path = exc.filename if exc.filename is not None else ""
        reason = exc.strerror or USER_ERRNOS[exc.errno]
        return f"{path}: {reason}" if path else f"{reason}: {exc}"
    return str(exc)


def _close_progress_bars():
    """Ends any tqdm bar an exception interrupted, so the error starts a line of its own."""
    tqdm_module = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm_module, "tqdm", None), "_instances", None) or []):
        bar.close()


def report(exc):
    """Prints `error: <message>` (continuation lines indented) and `hint: ...` when the error carries one."""
    lines = describe(exc).strip().splitlines() or [type(exc).__name__]
    _close_progress_bars()
    print(f"error: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"  {line.strip()}", file=sys.stderr)
    hint = getattr(exc, "hint", "")
    if hint:
        print(f"hint: {hint}", file=sys.stderr)


def run_main(main, user_errors=()):
    """Calls main() and returns its result; a user error (is_user_error) becomes `error: <message>` on stderr and
    exit status 2. Anything else propagates with its traceback."""
    try:
        return main()
    except Exception as e:  # noqa: BLE001 - sorted into user errors and bugs just below
        if not is_user_error(e, user_errors):
            raise
        if debug_enabled():
            traceback.print_exc()
        report(e)
        sys.exit(2)


@contextlib.contextmanager
def as_user_errors(*types, hint=""):
    """Inside the block, exceptions of `types` come from the user's input (a library's "bad data file" errors,
    which name the file): they are re-raised as UserError with the same message, chained for --debug."""
    try:
        yield
    except types as e:
        if isinstance(e, UserError):
            raise
        raise UserError(str(e), hint=hint) from e
