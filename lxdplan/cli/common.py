"""Helpers shared by the CLI commands that read the file and talk to the cluster."""

from __future__ import annotations

import dataclasses

import typer

from lxdplan.cli.output import error, warn
from lxdplan.desired import Desired
from lxdplan.errors import LxdplanError, ValidationError


def load_with_warnings(file: str) -> tuple[Desired, list[str]]:
    """Load the desired-state file and return its warnings as sentences; print every problem
    and exit 1 when it is invalid."""
    from lxdplan.loader import load
    from lxdplan.workflow import early_load

    try:
        desired, warnings = early_load(file) or load(file)
    except ValidationError as exc:
        for diag in exc.diagnostics:
            (error if diag.severity == "error" else warn)(str(diag))
        raise typer.Exit(1)
    except LxdplanError as exc:
        error(str(exc))
        raise typer.Exit(1)
    return desired, [str(diag) for diag in warnings]


def load_or_exit(file: str, *, quiet_warnings: bool = False) -> Desired:
    """Load the desired-state file, printing its warnings unless ``quiet_warnings``."""
    desired, warnings = load_with_warnings(file)
    if not quiet_warnings:
        for sentence in warnings:
            warn(sentence)
    return desired


def rotating(desired: Desired, rotate: list[str], file: str) -> Desired:
    """``desired`` with the secrets of the ``--rotate`` keys marked to be written again; exit 1
    when a pattern names no secret of the file."""
    from lxdplan.desired import with_rotation

    desired, unmatched = with_rotation(desired, list(rotate))
    if unmatched:
        for pattern in unmatched:
            error(f"--rotate {pattern}: no config key of {file} matching it holds a secret "
                  "({env: NAME} or {file: PATH}); only secrets are rotated")
        raise typer.Exit(1)
    return desired


def restoring(desired: Desired, restore: list[str]) -> Desired:
    """``desired`` with the ``--restore`` targets, the very same model when there are none (a
    plain `plan` plans on the model ``entry`` loaded and began reading: ``workflow.make_plan``)."""
    return dataclasses.replace(desired, restore=tuple(restore)) if restore else desired


def fail(exc: LxdplanError) -> typer.Exit:
    """Print one error (several lines for a multi-error), then the warnings noted on it (e.g. a
    lock that could not be released: after the error, never instead of it), and give the exit
    to raise."""
    error(str(exc))
    for note in getattr(exc, "__notes__", ()):
        warn(note)
    return typer.Exit(1)


def unreachable(observed) -> list[str]:
    """One sentence per declared member lxdplan could not reach, with the reason."""
    return [alone.error or f"member {alone.name} cannot be reached"
            for alone in observed.standalone.values() if not alone.reachable]


def warn_unreachable(observed) -> None:
    for sentence in unreachable(observed):
        warn(sentence)
