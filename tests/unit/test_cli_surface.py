"""Every command answers --help and --version, and the registered commands are SPEC §3's."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from lxdplan import __version__, registry
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
        "apply", "auth init", "auth trust", "convert-preseed", "export", "import", "join-preseed", "lab down", "lab env",
        "lab status", "lab up", "plan", "roll", "schema", "status", "trust-token", "validate",
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


    from lxdplan.loader import schema
    from lxdplan.render.planschema import plan_schema

    runner = CliRunner()
    shown = runner.invoke(app, ["schema"])
    assert shown.exit_code == 0 and json.loads(shown.output) == schema()  # what the loader uses
    assert set(registry.sections()) <= set(schema()["properties"])
    # the plan's: the base in lxdplan/schema/ filled from the kinds' declarations
    shown = runner.invoke(app, ["schema", "--plan"])
    assert shown.exit_code == 0 and json.loads(shown.output) == plan_schema()


def _undescribed(node, defs, path="$"):
    """Paths of properties that have no description (directly or through their $ref)."""
    found = []
    if isinstance(node, dict):
        for key, prop in node.get("properties", {}).items():
            target = defs.get(prop.get("$ref", "").rsplit("/", 1)[-1], {})
            if "description" not in prop and "description" not in target:
                found.append(f"{path}.{key}")
        for key, value in node.items():
            if key != "if":  # a condition names properties, it does not declare them
                found += _undescribed(value, defs, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _undescribed(value, defs, f"{path}[{i}]")
    return found


def test_every_schema_property_is_described_and_the_schemas_have_ids():
    import json
    from pathlib import Path

    import lxdplan

    from lxdplan.loader import schema as file_schema
    from lxdplan.render.planschema import plan_schema

    plan = json.loads((Path(lxdplan.__file__).parent / "schema" / "plan.schema.json").read_text())
    for name, schema in (("cluster.schema.json", file_schema()), ("plan.schema.json", plan)):
        assert schema["$id"].endswith(f"/schema/{name}")
        assert _undescribed(schema, schema.get("$defs", {})) == [], name
    generated = plan_schema()
    assert _undescribed(generated, generated["$defs"]) == []


def test_examples_name_the_schema_for_editors_and_an_editor_accepts_them():
    """The examples name the file `lxdplan schema > lxdplan.schema.json` writes beside them (no
    generated file in git); what it prints is self-contained: plain jsonschema, no lxdplan code,
    resolves every $ref and accepts the examples."""
    import json
    from pathlib import Path

    import jsonschema
    import yaml

    shown = CliRunner().invoke(app, ["schema"])
    editor = jsonschema.Draft202012Validator(json.loads(shown.output))
    root = Path(__file__).parents[2]
    examples = sorted((root / "examples").glob("*.yaml"))
    assert examples
    for example in examples:
        first = example.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=lxdplan.schema.json", example
        assert [e.message for e in editor.iter_errors(yaml.safe_load(example.read_text()))] == [], example


def test_force_remove_completes_member_names_from_the_file(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "c.yaml"
    path.write_text("version: 1\ncluster:\n  members:\n  - {name: node1, address: 10.0.0.1:8443}\n"
                    "  - {name: node2, address: 10.0.0.2:8443}\n  - {name: spare, address: 10.0.0.3:8443}\n")
    for command in ("plan", "apply"):
        env = {**os.environ, "_LXDPLAN_COMPLETE": "complete_bash",
               "COMP_WORDS": f"lxdplan {command} -f {path} --force-remove no", "COMP_CWORD": "5"}
        script = Path(sys.executable).parent / "lxdplan"  # the installed command, as a shell runs it
        done = subprocess.run([str(script)], env=env, capture_output=True, text=True)
        assert done.stdout.split() == ["node1", "node2"], done.stderr
