"""Printing for the CLI layer: the only place lxdplan writes to the terminal."""

from __future__ import annotations

import logging
import os
import sys

import typer

from lxdplan.desired import scrub


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def style(text: str, colour: str, *, bold: bool = False, stream=None) -> str:
    if not use_colour(stream):
        return text
    return typer.style(text, fg=colour, bold=bold)


def out(text: str = "") -> None:
    typer.echo(scrub(text))


def warn(text: str) -> None:
    typer.echo(style("warning: ", "yellow", stream=sys.stderr) + scrub(text), err=True)


def error(text: str) -> None:
    typer.echo(style("error: ", "red", bold=True, stream=sys.stderr) + scrub(text), err=True)


def note(text: str) -> None:
    """A plain line on stderr, after an error it explains (no prefix)."""
    typer.echo(scrub(text), err=True)


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 member``, ``3 members``."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"


class _Scrubbed(logging.Formatter):
    """Debug lines with every resolved secret value ``(sensitive)``."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def enable_debug() -> None:
    """Send the HTTP log (``lxdplan.http``, one line per request, no bodies) to stderr."""
    logger = logging.getLogger("lxdplan")
    if not any(getattr(h, "lxdplan_debug", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Scrubbed("debug: %(message)s"))
        handler.lxdplan_debug = True  # type: ignore[attr-defined]  # our mark on the handler
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
