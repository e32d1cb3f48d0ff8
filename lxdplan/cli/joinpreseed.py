"""`lxdplan join-preseed MEMBER`: the preseed a machine lxdplan cannot reach joins with."""

from __future__ import annotations

from typing import Optional

import typer

from lxdplan.cli.app import DEBUG_OPTION, FILE_OPTION, VERSION_OPTION, app, complete_members
from lxdplan.cli.common import fail, load_or_exit
from lxdplan.cli.output import error, out
from lxdplan.errors import LxdplanError


@app.command("join-preseed")
def join_preseed(
    member: str = typer.Argument(..., help="The declared member to join.", autocompletion=complete_members),
    file: str = FILE_OPTION,
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="Where to write it (default MEMBER-join.yaml); written 0600."
    ),
    _version: bool = VERSION_OPTION,
    _debug_log: bool = DEBUG_OPTION,
) -> None:
    """Mint a join token for MEMBER and write its `init --preseed` file (for cloud-init)."""
    import yaml

    from lxdplan.files import write_private
    from lxdplan.membership import BOOTSTRAP, JOIN
    from lxdplan.providers.joinpreseed import join_preseed as make
    from lxdplan.providers.session import Session
    from lxdplan.workflow import make_plan

    desired = load_or_exit(file, quiet_warnings=True)
    if desired.member(member) is None:
        error(f"member {member} is not declared in {file}")
        raise typer.Exit(1)
    path = output or f"{member}-join.yaml"
    try:
        result = make_plan(desired)
        if any(s.action == BOOTSTRAP for s in result.plan.steps):
            raise LxdplanError(f"the cluster is not formed yet: run `lxdplan apply -f {file}` to "
                               "bootstrap it, then make the join preseed")
        step = next((s for s in result.plan.steps if s.action == JOIN and s.name == member), None)
        if step is None:
            raise LxdplanError(f"member {member} already belongs to the cluster: it needs no join preseed")
        with Session(desired, result.observed) as session:
            preseed = make(session, step)
        text = yaml.safe_dump(preseed, sort_keys=False, default_flow_style=False)
        write_private(path, f"# Join preseed for {member}, written by lxdplan join-preseed; holds "
                            "a single-use join token: keep it secret.\n" + text,
                      what="the join preseed")
    except LxdplanError as exc:
        raise fail(exc)
    except OSError as exc:
        error(f"cannot write {path}: {exc.strerror or exc}")
        raise typer.Exit(1)
    field = "cluster_token" if "cluster_token" in preseed["cluster"] else "cluster_password"
    out(f"Wrote {path} (mode 0600): on {member}, run `lxd init --preseed < {path}` (Incus: "
        f"`incus admin init --preseed < {path}`). Its join token ({field}) is single-use and expires.")
