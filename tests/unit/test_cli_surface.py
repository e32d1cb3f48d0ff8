"""Every command answers --help and --version, and the registered commands are SPEC §3's."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from lxdplan import __version__
from lxdplan.cli import app


def leaf_commands(command, path=()):
    if hasattr(command, "commands"):  # a group
        for name, sub in command.commands.items():
            yield from leaf_commands(sub, path + (name,))
    else:
        yield path


COMMANDS = sorted(leaf_commands(typer.main.get_command(app)))


def test_the_commands_are_those_of_the_spec():
    assert [" ".join(c) for c in COMMANDS] == [
        "apply", "auth init", "auth trust", "convert-preseed", "export", "import", "lab down",
        "lab status", "lab up", "plan", "schema", "status", "validate",
    ]


def test_every_command_has_help_and_version():
    runner = CliRunner()
    for command in COMMANDS:
        helped = runner.invoke(app, [*command, "--help"])
        assert helped.exit_code == 0 and "--version" in helped.output, command
        versioned = runner.invoke(app, [*command, "--version"])
        assert versioned.exit_code == 0 and versioned.output.strip() == f"lxdplan {__version__}", command


def test_schema_prints_the_published_schemas():
    import json
    from pathlib import Path

    import lxdplan

    runner = CliRunner()
    for args, name in (([], "cluster.schema.json"), (["--plan"], "plan.schema.json")):
        shown = runner.invoke(app, ["schema", *args])
        assert shown.exit_code == 0
        published = (Path(lxdplan.__file__).parent / "schema" / name).read_text()
        assert json.loads(shown.output) == json.loads(published)
