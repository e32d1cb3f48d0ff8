"""`lxdplan roll`: rolling maintenance (an upgrade), one member at a time.

Reads the cluster, shows the order and why (``rolling``), asks, then under the cluster lock
evacuates, runs the command, waits and restores each member (``rollout``). ``--plan`` only shows.
"""

from __future__ import annotations

import enum
import json
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional

import typer

from lxdplan.cli.app import DEBUG_OPTION, FILE_OPTION, VERSION_OPTION, app
from lxdplan.cli.common import fail, load_or_exit
from lxdplan.cli.output import error, out, warn
from lxdplan.errors import LxdplanError

if TYPE_CHECKING:
    from lxdplan.providers.lock import ClusterLock

PROMPT = "Do you want to roll these members? Only 'yes' will be accepted: "


class RollFormat(str, enum.Enum):
    text = "text"
    json = "json"


@contextmanager
def released(lock: "ClusterLock") -> Iterator[None]:
    """Hold ``lock`` for the block. A failure to release it never replaces the roll's own
    outcome: the roll may stop while no member serves (the member in hand restarting, the others
    waiting for it), when the release cannot reach the cluster either. It becomes a warning,
    after the roll's error (a note on it) or after its summary."""
    lock.acquire()
    try:
        yield
    except BaseException as exc:
        note = _release(lock)
        if note and isinstance(exc, LxdplanError):
            exc.add_note(note)
        elif note:
            warn(note)
        raise
    note = _release(lock)
    if note:
        warn(note)


def _release(lock: "ClusterLock") -> str | None:
    try:
        lock.release()
    except Exception as failure:  # noqa: BLE001 - reported as a warning by the caller
        return (f"the cluster lock could not be released ({failure}); the next roll or apply "
                "from this host takes it over, one from elsewhere needs `--break-lock`")
    return None


@app.command()
def roll(
    file: str = FILE_OPTION,
    run: Optional[str] = typer.Option(
        None, "--run", help="The command to run for each member, through a shell, with {member}, "
        "{address} and {version} filled in (e.g. an upgrade of its packages and a restart)."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    no_evacuate: bool = typer.Option(
        False, "--no-evacuate", help="Do not evacuate members (their instances stay and run)."),
    members: Optional[str] = typer.Option(
        None, "--members", help="Roll only these members (comma-separated names)."),
    expect_version: str = typer.Option(
        "", "--expect-version", help="The server version each member must serve after the "
        "command; members already at it are skipped."),
    plan_only: bool = typer.Option(False, "--plan", help="Only show the order and why."),
    fmt: RollFormat = typer.Option(RollFormat.text, "--format", help="text or json (with --plan)."),
    timeout: float = typer.Option(
        600.0, "--timeout", min=1, help="Seconds the command may run, and a member may take to "
        "come back, before the roll stops."),
    break_lock: bool = typer.Option(
        False, "--break-lock", help="Take the cluster lock even if another run holds it (a dead one)."),
    _version: bool = VERSION_OPTION,
    _debug_log: bool = DEBUG_OPTION,
) -> None:
    """Roll the cluster one member at a time: evacuate, run COMMAND, wait until it is back, restore."""
    from lxdplan.providers.lock import ClusterLock
    from lxdplan.providers.roll import RollCluster, ServingClient
    from lxdplan.rolling import RollPlan, plan_roll, render_text
    from lxdplan.rollout import Roller

    if not plan_only and not run:
        error("roll needs the command to run on each member: --run 'COMMAND' (or --plan to "
              "only show the order)")
        raise typer.Exit(2)
    desired = load_or_exit(file, quiet_warnings=fmt == RollFormat.json)
    only = [n.strip() for n in members.split(",") if n.strip()] if members else None
    cluster = RollCluster(desired, operation_timeout=timeout)
    try:
        def make_plan() -> RollPlan:
            return plan_roll(cluster.read(), only=only, expect_version=expect_version,
                             evacuate=not no_evacuate)

        if plan_only:
            plan = make_plan()
            out(json.dumps(plan.to_dict(), indent=2) if fmt == RollFormat.json else render_text(plan))
            if plan.refusals:
                raise typer.Exit(1)
            return
        lock = ClusterLock(ServingClient(cluster),  # type: ignore[arg-type]  # has what the lock uses
                           break_lock=break_lock)
        with released(lock):
            plan = make_plan()  # again under the lock: another run may have moved it on
            out(render_text(plan))
            if plan.refusals:
                for why in plan.refusals:
                    error(f"roll refused: {why}")
                raise typer.Exit(1)
            if not auto_approve:
                if not sys.stdin.isatty():
                    raise LxdplanError("roll asks for confirmation and there is no terminal to "
                                       "ask on: review the order and run `lxdplan roll "
                                       "--auto-approve`")
                if input(PROMPT).strip() != "yes":
                    out("Roll cancelled.")
                    raise typer.Exit(1)
            roller = Roller(cluster, plan, command=run or "", timeout=timeout, say=out,
                            record=cluster.read_record())
            for line in roller.run():
                out(line)
    except LxdplanError as exc:  # RollFailed included
        raise fail(exc)
    finally:
        cluster.close()
