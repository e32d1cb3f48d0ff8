"""`lxdplan plan`: read the live cluster and print the ordered steps that make it match the file."""

from __future__ import annotations

import dataclasses
import enum
import sys
from typing import List, Optional

import typer

from lxdplan.cli.app import (
    DEBUG_OPTION,
    FILE_OPTION,
    FORCE_REMOVE_OPTION,
    RESTORE_OPTION,
    ROTATE_OPTION,
    VERSION_OPTION,
    app,
)
from lxdplan.cli.common import (
    fail,
    load_with_warnings,
    restoring,
    rotating,
    unreachable,
    warn_unreachable,
)
from lxdplan.cli.output import out, use_colour, warn
from lxdplan.errors import LxdplanError


class Format(str, enum.Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def render(plan, fmt: Format) -> str:
    from lxdplan.render.json import render_json
    from lxdplan.render.markdown import render_markdown
    from lxdplan.render.text import render_text

    if fmt == Format.json:
        return render_json(plan)
    if fmt == Format.markdown:
        return render_markdown(plan)
    return render_text(plan, colour=use_colour(sys.stdout))


@app.command()
def plan(
    file: str = FILE_OPTION,
    out_path: Optional[str] = typer.Option(None, "--out", "-o", help="Save the plan to this file for `apply PLAN`."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, json or markdown."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 for no changes, 2 for changes, 1 for an error."
    ),
    force_remove: List[str] = FORCE_REMOVE_OPTION,
    rotate: List[str] = ROTATE_OPTION,
    restore: List[str] = RESTORE_OPTION,
    _version: bool = VERSION_OPTION,
    _debug_log: bool = DEBUG_OPTION,
) -> None:
    """Read the live cluster and print the ordered steps that make it match the file."""
    from lxdplan.workflow import make_plan

    desired, warnings = load_with_warnings(file)
    desired = restoring(rotating(desired, rotate, file), restore)
    if fmt == Format.text:
        for sentence in warnings:
            warn(sentence)
    try:
        result = make_plan(desired, force_remove=force_remove)
        if out_path:
            from lxdplan.state.saved import save_plan

            save_plan(result.plan, result.observed, file, out_path, rotate=rotate)
    except LxdplanError as exc:
        raise fail(exc)
    plan_ = result.plan
    locked = (result.lock_note,) if result.lock_note else ()
    if fmt == Format.text:
        warn_unreachable(result.observed)
        for sentence in locked:
            warn(sentence)
    else:  # JSON and markdown carry the warnings in the document itself
        extra = tuple(warnings) + tuple(unreachable(result.observed)) + locked
        plan_ = dataclasses.replace(plan_, diagnostics=plan_.diagnostics + extra)
    out(render(plan_, fmt))
    if out_path and fmt == Format.text:
        out(f"Saved the plan to {out_path}: apply it with `lxdplan apply {out_path}`.")
    if detailed_exitcode and result.plan.changes:
        raise typer.Exit(2)
