"""The ``lxdplan`` command's entry point: ``lxdplan --version`` answers before the command layer
(typer, ~30 ms of imports) is loaded; everything else goes to ``lxdplan.cli.main``."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from lxdplan import __version__

        sys.stdout.write(f"lxdplan {__version__}\n")
        return
    from lxdplan.cli import main as cli_main

    cli_main()
