"""`lxdplan convert-preseed` and `lxdplan schema`: meet operators' existing files and editors."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from lxdplan.cli.app import VERSION_OPTION, app
from lxdplan.cli.output import error, out, plural, warn
from lxdplan.errors import LxdplanError, ValidationError

HEADER = (
    "# Converted by lxdplan convert-preseed from {sources}.\n"
    "# Secrets are references: set {env} in the environment before `lxdplan apply`.\n"
)


@app.command("convert-preseed")
def convert_preseed(
    bootstrap: str = typer.Argument(..., help="The bootstrap preseed (or `lxd init --dump` output)."),
    joins: Optional[List[str]] = typer.Argument(None, help="Join preseeds, one per joining member."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    backend: Optional[str] = typer.Option(None, "--backend", help="lxd or incus (default: detected at plan)."),
    name: Optional[str] = typer.Option(None, "--name", help="The bootstrap member's name, when its preseed has none."),
    _version: bool = VERSION_OPTION,
) -> None:
    """Turn `lxd init` / `incus admin init` preseeds into one desired-state file."""
    import yaml

    from lxdplan.loader import read
    from lxdplan.preseed import TRUST_ENV, convert
    from lxdplan.yamlsource import parse

    if backend not in (None, "lxd", "incus"):
        error(f"--backend {backend} is not lxd or incus")
        raise typer.Exit(1)
    sources, problems = [], []
    for path in [bootstrap, *(joins or [])]:
        try:
            text = read(path)  # bounded, UTF-8 checked: one sentence naming the file
        except LxdplanError as exc:
            problems.append(str(exc))
            continue
        src, diags = parse(text, path)
        problems += [str(d) for d in diags]
        if src is not None:
            sources.append(src)
    if problems or not sources:
        for problem in problems:
            error(problem)
        raise typer.Exit(1)
    try:
        converted = convert(sources, backend=backend, name=name)
    except ValidationError as exc:
        for diag in exc.diagnostics:
            error(str(diag))
        raise typer.Exit(1)
    for note in converted.notes:
        warn(note)
    header = HEADER.format(sources=", ".join(Path(s.path).name for s in sources), env=TRUST_ENV)
    text = header + yaml.safe_dump(converted.document, sort_keys=False, default_flow_style=False)
    if output:
        from lxdplan.files import write_private

        try:
            write_private(output, text, what="the converted file")
        except LxdplanError as exc:
            error(str(exc))
            raise typer.Exit(1)
        members = plural(len(converted.document["cluster"]["members"]), "member")
        out(f"Wrote {output} ({members}); check it with `lxdplan validate -f {output}`.")
    else:
        out(text.rstrip("\n"))


@app.command("schema")
def schema(
    plan: bool = typer.Option(False, "--plan", help="The schema of `plan --format json` instead."),
    _version: bool = VERSION_OPTION,
) -> None:
    """Print the JSON Schema of the desired-state file (or of the JSON plan)."""
    import json

    if plan:  # the base filled with the kinds' actions (``render.planschema``)
        from lxdplan.render.planschema import render_plan_schema

        out(render_plan_schema())
        return
    from lxdplan.loader import schema as file_schema  # the base and every kind's fragment

    out(json.dumps(file_schema(), indent=2, ensure_ascii=False))
