"""`lxdplan lab up|down|status`: a throwaway real cluster on this host."""

from __future__ import annotations

import enum
import time

import typer

from lxdplan.cli.app import VERSION_OPTION, app
from lxdplan.cli.output import error, out, style
from lxdplan.errors import LxdplanError

lab_app = typer.Typer(
    name="lab",
    help="A throwaway real LXD or Incus cluster on this host (root): one daemon per network namespace.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(lab_app, name="lab")


class BackendChoice(str, enum.Enum):
    lxd = "lxd"
    incus = "incus"


NAME_OPTION = typer.Option("lab", "--name", "-n", help="The lab's name; several labs can run side by side.")


@lab_app.command("up")
def lab_up(
    backend: BackendChoice = typer.Option(BackendChoice.lxd, "--backend", "-b", help="Server to run."),
    members: int = typer.Option(
        None, "--members", "-m", min=1, max=7,
        help="Number of daemons (1-7); default 3, or as many as --from declares.",
    ),
    name: str = NAME_OPTION,
    out_file: str = typer.Option(
        None, "--out", "-o", help="Write the lab's desired-state file here instead of <lab dir>/lxdplan.yaml."
    ),
    from_file: str = typer.Option(
        None, "--from", help="Fit this desired-state file (e.g. examples/seed-walkthrough.yaml) to the lab "
        "instead of the default one: its members get the lab's addresses, its dir pool sources and "
        "external interfaces are made on the lab's members.",
    ),
    image_server: bool = typer.Option(
        False, "--image-server", help="Also start a standalone image server on the lab bridge serving "
        "the lab's busybox image publicly (alias busybox), to pull images from a remote server.",
    ),
    _version: bool = VERSION_OPTION,
) -> None:
    """Start unclustered daemons and write a ready lxdplan.yaml for them.

    If a lab of this name already runs with the same backend and size, it is reused.
    """
    from lxdplan import lab

    started = time.monotonic()
    template = None
    if from_file is not None:
        from lxdplan.cli.common import load_or_exit
        import yaml

        load_or_exit(from_file, quiet_warnings=True)  # a broken template is reported as such
        with open(from_file, encoding="utf-8") as fh:
            template = yaml.safe_load(fh)
        members = members or len(template["cluster"]["members"])
    try:
        existing = lab.find(name)
        result = lab.up(name=name, backend=backend.value, members=members or 3, out=out_file,
                        template=template, image_server=image_server)
    except LxdplanError as exc:
        error(str(exc))
        raise typer.Exit(1)
    verb = "is already up" if existing else f"is up in {time.monotonic() - started:.1f} s"
    out(f"Lab {result.name} ({result.backend}, {len(result.members)} members) {verb}.")
    for m in result.members:
        out(f"  {m.name}  {m.address:<20} pid {m.pid}  {m.socket}")
    out(f"Image: {result.image} (fingerprint {result.image_fingerprint[:12]})")
    if result.image_server:
        out(f"Image server: {result.image_server_url} (alias busybox, certificate "
            f"{result.image_server_certificate})")
    out(f"Desired-state file: {result.file}")
    out(f"Next: lxdplan plan -f {result.file}")
    out(f"Tear down: lxdplan lab down --name {result.name}")


@lab_app.command("down")
def lab_down(name: str = NAME_OPTION, _version: bool = VERSION_OPTION) -> None:
    """Stop the lab's daemons and remove its namespaces, bridge, mounts and directory."""
    from lxdplan import lab

    try:
        lab.down(name=name)
    except LxdplanError as exc:
        error(str(exc))
        raise typer.Exit(1)
    out(f"Lab {name} is down.")


@lab_app.command("status")
def lab_status(name: str = NAME_OPTION, _version: bool = VERSION_OPTION) -> None:
    """Show each daemon of the lab: pid, alive or dead, address, namespace. Exit 1 if there is no such lab."""
    from lxdplan import lab

    try:
        found = lab.find(name)
    except LxdplanError as exc:
        error(str(exc))
        raise typer.Exit(1)
    if found is None:
        error(f"there is no lab named {name} (under {lab.lab_root()})")
        raise typer.Exit(1)
    out(f"Lab {found.name}: {found.backend}, bridge {found.bridge} {found.subnet}, file {found.file or '(none yet)'}")
    out(f"{'MEMBER':<8} {'PID':>7}  {'STATE':<5}  {'ADDRESS':<20} NAMESPACE")
    for m in found.daemons():
        alive = m.alive()
        state = style("alive", "green") if alive else style("dead ", "red")
        out(f"{m.name:<8} {m.pid or '-':>7}  {state}  {m.address:<20} {m.namespace}")
