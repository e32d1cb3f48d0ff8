"""`lxdplan validate`: load and check the desired-state file, with no network."""

from __future__ import annotations

import typer

from lxdplan.cli.app import FILE_OPTION, app
from lxdplan.cli.output import error, out, plural, warn
from lxdplan.errors import ValidationError, LxdplanError


@app.command()
def validate(file: str = FILE_OPTION) -> None:
    """Load and check the desired-state file; no network. Exit 0 valid, 1 not."""
    from lxdplan.loader import load

    try:
        desired, warnings = load(file)
    except ValidationError as exc:
        for diag in exc.diagnostics:
            (error if diag.severity == "error" else warn)(str(diag))
        raise typer.Exit(1)
    except LxdplanError as exc:
        error(str(exc))
        raise typer.Exit(1)
    for diag in warnings:
        warn(str(diag))
    counts = ", ".join([
        plural(len(desired.members), "member"),
        plural(len(desired.storage_pools), "storage pool"),
        plural(len(desired.networks), "network"),
        plural(len(desired.profiles), "profile"),
    ])
    out(f"{file}: valid ({counts}).")
