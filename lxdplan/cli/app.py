"""The typer application object, shared by the command modules of this package."""

from __future__ import annotations

import typer

from lxdplan import __version__

app = typer.Typer(
    name="lxdplan",
    help="Plan and apply LXD and Incus clusters from one declarative YAML file.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lxdplan {__version__}")
        raise typer.Exit(0)


def _debug(value: bool) -> None:
    """``--debug``: every HTTP request lxdplan makes, one line each on stderr."""
    if value:
        from lxdplan.cli.output import enable_debug

        enable_debug()


DEBUG_HELP = ("Log every HTTP request (member, method, path, status, time) to stderr; secrets "
              "are never shown.")


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    _debug_log: bool = typer.Option(False, "--debug", callback=_debug, help=DEBUG_HELP),
) -> None:
    """Plan and apply LXD and Incus clusters from one declarative YAML file."""


# `--version` on every command as well as on `lxdplan` itself (not passed to the function).
VERSION_OPTION = typer.Option(
    False, "--version", callback=_version, is_eager=True, expose_value=False,
    help="Print the version and exit.",
)

# `--debug` on the commands that talk to the servers as well as on `lxdplan` itself.
DEBUG_OPTION = typer.Option(False, "--debug", callback=_debug, expose_value=False, help=DEBUG_HELP)

# Shared option for every command that reads the desired-state file.
FILE_OPTION = typer.Option(
    "lxdplan.yaml",
    "--file",
    "-f",
    envvar="LXDPLAN_FILE",
    help="The desired-state file (default lxdplan.yaml, or $LXDPLAN_FILE).",
)


def complete_members(ctx, incomplete: str) -> list[str]:
    """Shell completion of member names from the file the command line names (no validation,
    no network: a file that cannot be read completes nothing)."""
    import os

    import yaml

    path = ctx.params.get("file") or os.environ.get("LXDPLAN_FILE") or "lxdplan.yaml"
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        names = [str(m["name"]) for m in doc["cluster"]["members"]] + list(doc["cluster"].get("force_remove") or [])
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []
    return [n for n in dict.fromkeys(names) if n.startswith(incomplete)]


# `--rotate KEY` (plan and apply): a set key matches a secret reference, whose value is only
# read at apply; rotating writes it again (README "Secrets").
ROTATE_OPTION = typer.Option(
    [], "--rotate", metavar="KEY",
    help="Write the secret ({env:}/{file:}) of config key KEY again though the key is set, e.g. "
         "after changing its value (a shell pattern: environment.*; repeatable).",
)

# `--restore TARGET` (plan and apply): a one-off restore after the plan's own steps (README
# "Snapshots"); a saved plan carries it.
RESTORE_OPTION = typer.Option(
    [], "--restore", metavar="TARGET",
    help="Also restore INSTANCE/SNAPSHOT (or POOL/VOLUME/SNAPSHOT; PROJECT/ first when the name "
         "is in several projects) after the plan's other steps (repeatable).",
)

# `--force-remove NAME` (plan and apply), completing member names from the file.
FORCE_REMOVE_OPTION = typer.Option(
    [], "--force-remove", help="Allow force-removing this offline member (repeatable).",
    autocompletion=complete_members,
)
