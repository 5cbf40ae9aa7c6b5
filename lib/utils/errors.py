"""Mistakes a user can fix, reported as one `error: ...` line and exit status 2 instead of a traceback.

    if __name__ == "__main__":
        run_main(main)

Raise UserError (or a subclass) with a message that names the file, key or value and what was expected. Any other
exception is a bug and keeps its traceback. OMNIPOSE_DEBUG=1 prints the traceback of a UserError too.
"""
import os
import sys
import traceback

DEBUG_VARIABLE = "OMNIPOSE_DEBUG"


class UserError(Exception):
    """A problem with the user's input (a file, key or value); the message says what and what was expected."""


def run_main(main):
    """Calls main() and returns its result; a UserError becomes `error: <message>` on stderr and exit status 2."""
    try:
        return main()
    except UserError as e:
        if os.environ.get(DEBUG_VARIABLE) == "1":
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
