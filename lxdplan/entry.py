"""The ``lxdplan`` command's entry point: ``lxdplan --version`` answers before the command layer
(typer, ~30 ms of imports) is loaded; a plain `plan` starts loading its file and reading the
cluster first (``workflow.read_early``), so the command layer's imports overlap the servers'
answers; everything else goes straight to ``lxdplan.cli.main``."""

from __future__ import annotations

import os
import sys

# `plan`'s options that take a value, and those that take none, read early; any other word on
# the line (help, --debug, --rotate, a typo) leaves the whole command to the CLI as it is.
_VALUED = ("-f", "--file", "-o", "--out", "--format", "--force-remove")
_FLAGS = ("--detailed-exitcode",)
_FORMATS = ("text", "json", "markdown")


def plan_file(args: list[str]) -> str | None:
    """The file a `plan` command line ``args`` reads, when the line is one ``read_early`` may
    start (only the options above, each well-formed); else None."""
    if not args or args[0] != "plan":
        return None
    file = os.environ.get("LXDPLAN_FILE") or "lxdplan.yaml"
    words = iter(args[1:])
    for word in words:
        if word in _FLAGS:
            continue
        if word not in _VALUED:
            return None
        value = next(words, None)
        if value is None or value.startswith("-") or (word == "--format" and value not in _FORMATS):
            return None
        if word in ("-f", "--file"):
            file = value
    return file


def load_and_read(file: str) -> None:
    """Load ``file`` and start reading its cluster (``workflow.read_early``); a file that does
    not load starts nothing: the command loads it again and reports it as usual."""
    from lxdplan.loader import load
    from lxdplan.workflow import read_early

    try:
        desired, warnings = load(file)
    except Exception:
        return
    read_early(file, desired, warnings)


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from lxdplan import __version__

        sys.stdout.write(f"lxdplan {__version__}\n")
        return
    file = plan_file(sys.argv[1:])
    if file is not None:
        try:
            load_and_read(file)
        except KeyboardInterrupt:
            from lxdplan.cli.output import error

            error("interrupted")
            sys.exit(130)
    from lxdplan.cli import main as cli_main

    cli_main()
