"""The command-line interface: the only layer that prints and chooses exit codes.

Each command lives in its own module and registers itself on ``app`` when imported; the list
below is the set of commands that work.
"""

from __future__ import annotations

import os
import sys

from lxdplan.cli import (
    adopt,  # noqa: E402,F401  (registers `import`)
    apply,  # noqa: E402,F401  (registers `apply`)
    auth,  # noqa: E402,F401  (registers `auth init|trust`)
    convert,  # noqa: E402,F401  (registers `convert-preseed`, `schema`)
    export,  # noqa: E402,F401  (registers `export`)
    joinpreseed,  # noqa: E402,F401  (registers `join-preseed`)
    lab,  # noqa: E402,F401  (registers `lab up|down|status`)
    plan,  # noqa: E402,F401  (registers `plan`)
    roll,  # noqa: E402,F401  (registers `roll`)
    status,  # noqa: E402,F401  (registers `status`)
    trusttoken,  # noqa: E402,F401  (registers `trust-token`)
    validate,  # noqa: E402,F401  (registers `validate`)
)
from lxdplan.cli.app import app
from lxdplan.cli.output import error
from lxdplan.errors import LxdplanError


def main() -> None:
    try:
        app()
    except LxdplanError as exc:  # a command that did not handle its own error
        error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        error("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line; the traceback only on request
        if os.environ.get("LXDPLAN_DEBUG"):
            raise
        error(f"internal error ({type(exc).__name__}: {exc}); rerun with LXDPLAN_DEBUG=1 "
              "for the traceback and report it")
        sys.exit(1)
