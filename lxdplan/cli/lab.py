"""`lxdplan lab up|down|status`: a throwaway real cluster on this host."""

from __future__ import annotations

import enum
import time
from pathlib import Path

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


NAME_OPTION = typer.Option("lab", "--name", "-n", envvar="LXDPLAN_LAB",
                           help="The lab's name; several labs can run side by side.")


@lab_app.command("up")
def lab_up(
    backend: BackendChoice = typer.Option(BackendChoice.lxd, "--backend", "-b", help="Server to run."),
    members: int = typer.Option(
        None, "--members", "-m", min=1, max=7,
        help="Number of daemons (1-7); default 3, or as many as --from declares. On a running lab, "
        "a larger number starts the missing daemons (the lab grows; it never shrinks).",
    ),
    name: str = NAME_OPTION,
    out_file: str = typer.Option(
        "lxdplan.yaml", "--out", "-o", help="Write the lab's desired-state file here (default: "
        "lxdplan.yaml in the current directory, the file the other commands read). A file that has "
        "edits of yours is never overwritten.",
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
    ovn: bool = typer.Option(
        False, "--ovn", help="Also run OVN: ovn-central in a namespace of its own, Open vSwitch "
        "(userspace datapath) and ovn-controller per member; the file declares an UPLINK bridge "
        "for OVN networks and the OVN connections. Needs openvswitch-switch, ovn-central and "
        "ovn-host.",
    ),
    _version: bool = VERSION_OPTION,
) -> None:
    """Start unclustered daemons and write a ready lxdplan.yaml for them.

    If a lab of this name already runs with the same backend, it is reused (and grows to
    --members, or gains --image-server).
    """
    from lxdplan import lab
    from lxdplan.lab.labfile import member_entry

    started = time.monotonic()
    template = None
    if from_file is not None:
        import yaml

        from lxdplan.cli.common import load_or_exit

        load_or_exit(from_file, quiet_warnings=True)  # a broken template is reported as such
        with open(from_file, encoding="utf-8") as fh:
            template = yaml.safe_load(fh)
        members = members or len(template["cluster"]["members"])
    try:
        existing = lab.find(name)
        result = lab.up(name=name, backend=backend.value, members=members, out=out_file,
                        template=template, image_server=image_server or None, ovn=ovn or None)
    except LxdplanError as exc:
        error(str(exc))
        raise typer.Exit(1)
    news = result.news
    took = f"{time.monotonic() - started:.1f} s"
    size = f"{result.backend}, {len(result.members)} members"
    if not existing:
        out(f"Lab {result.name} ({size}) is up in {took}.")
    elif news.added:
        started_names = ["the image server" if n == "images" else n for n in news.added]
        out(f"Lab {result.name} ({size}) is up: {', '.join(started_names)} started in {took}.")
    else:
        out(f"Lab {result.name} ({size}) is already up.")
    for m in result.members:
        running = f"pid {m.pid}" if m.name not in news.dead else "not running"
        out(f"  {m.name}  {m.address:<20} {running:<11} {m.socket}")
    out(f"Image: {result.image} (fingerprint {result.image_fingerprint[:12]})")
    if result.image_server:
        out(f"Image server: {result.image_server_url} (alias busybox, certificate "
            f"{result.image_server_certificate})")
    if result.ovn:
        from lxdplan.lab import ovn as lab_ovn

        out(f"OVN: northbound {lab_ovn.northbound(result)}, uplink network {lab_ovn.UPLINK} "
            f"(create OVN networks with config network: {lab_ovn.UPLINK})")
    own = str(Path(result.dir) / "lxdplan.yaml")
    shown = _shown_path(result.file)
    if result.file in news.kept:
        out(f"Desired-state file: {shown} has edits of yours and is kept as it is; "
            f"the lab's own file is {own}.")
        new = [m for m in result.members if m.name in news.added]
        if new:
            out(f"Add to the members in {shown}:")
            for m in new:
                entry = member_entry(m)
                out(f"    - {{name: {entry['name']}, address: {entry['address']}, "
                    f"endpoint: {entry['endpoint']}}}")
    else:
        out(f"Desired-state file: {shown}")
    b = lab.BACKENDS[result.backend]
    out(f"Point {b.client} at node1: export {b.dir_env}={result.members[0].daemon_dir}   "
        f"(or: eval \"$(lxdplan lab env --name {result.name})\")")
    out(f"Next: lxdplan plan{'' if shown == 'lxdplan.yaml' else ' -f ' + shown}")
    out(f"Tear down: lxdplan lab down --name {result.name}")


def _shown_path(path: str) -> str:
    """``path`` relative to the current directory when it lies inside it, else absolute."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


@lab_app.command("env")
def lab_env(
    name: str = NAME_OPTION,
    member: str = typer.Option("node1", "--member", "-m", help="The member lxc (or incus) should talk to."),
    _version: bool = VERSION_OPTION,
) -> None:
    """Print the export line that points lxc (or incus) at a lab member: eval "$(lxdplan lab env)"."""
    import shlex

    from lxdplan import lab

    found = _existing(name, hint=True)
    chosen = next((m for m in found.members if m.name == member), None)
    if chosen is None:
        error(f"the lab {name} has no member {member} (it has {', '.join(m.name for m in found.members)})")
        raise typer.Exit(1)
    out(f"export {lab.BACKENDS[found.backend].dir_env}={shlex.quote(chosen.daemon_dir)}")


def _existing(name: str, *, hint: bool = False):
    """The lab ``name``, or exit 1 with one sentence (``hint``: how to start it)."""
    from lxdplan import lab

    try:
        found = lab.find(name)
    except LxdplanError as exc:
        error(str(exc))
        raise typer.Exit(1)
    if found is None:
        how = f": run lxdplan lab up --name {name}" if hint else ""
        error(f"there is no lab named {name} (under {lab.lab_root()}){how}")
        raise typer.Exit(1)
    return found


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
    found = _existing(name)
    out(f"Lab {found.name}: {found.backend}, bridge {found.bridge} {found.subnet}, file {found.file or '(none yet)'}")
    out(f"{'MEMBER':<8} {'PID':>7}  {'STATE':<5}  {'ADDRESS':<20} NAMESPACE")
    for m in found.daemons():
        alive = m.alive()
        state = style("alive", "green") if alive else style("dead ", "red")
        out(f"{m.name:<8} {m.pid or '-':>7}  {state}  {m.address:<20} {m.namespace}")
