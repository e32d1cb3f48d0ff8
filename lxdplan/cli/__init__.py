"""The command-line interface: the only layer that prints and chooses exit codes.

Each command lives in its own module and registers itself on ``app`` when imported; the list
below is the set of commands that work.
"""

from __future__ import annotations

import sys

from lxdplan.cli.app import app
from lxdplan.cli.output import error
from lxdplan.errors import LxdplanError

from lxdplan.cli import validate  # noqa: E402,F401  (registers `validate`)


def main() -> None:
    try:
        app()
    except LxdplanError as exc:  # a command that did not handle its own error
        error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        error("interrupted")
        sys.exit(130)
