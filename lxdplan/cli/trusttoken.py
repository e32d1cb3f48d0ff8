"""`lxdplan trust-token NAME`: a trust token for a named client, written 0600."""

from __future__ import annotations

from typing import Optional

import typer

from lxdplan.cli.app import DEBUG_OPTION, FILE_OPTION, VERSION_OPTION, app
from lxdplan.cli.common import fail, load_or_exit
from lxdplan.cli.output import error, out
from lxdplan.errors import LxdplanError


@app.command("trust-token")
def trust_token(
    name: str = typer.Argument(..., help="The client's name (as `lxc config trust add --name`)."),
    file: str = FILE_OPTION,
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="Where to write it (default NAME.token); written 0600."
    ),
    _version: bool = VERSION_OPTION,
    _debug_log: bool = DEBUG_OPTION,
) -> None:
    """Mint a single-use trust token for client NAME and write it to a file (mode 0600)."""
    from lxdplan.files import write_private
    from lxdplan.membership import BOOTSTRAP
    from lxdplan.providers.session import Session
    from lxdplan.providers.trusttoken import mint_trust_token
    from lxdplan.workflow import make_plan

    desired = load_or_exit(file, quiet_warnings=True)
    path = output or f"{name}.token"
    try:
        result = make_plan(desired)
        if any(s.action == BOOTSTRAP for s in result.plan.steps):
            raise LxdplanError(f"the cluster is not formed yet: run `lxdplan apply -f {file}` to "
                               "bootstrap it, then mint the trust token")
        with Session(desired, result.observed) as session:
            token = mint_trust_token(session.cluster(), name)
        write_private(path, token + "\n", what="the trust token")
    except LxdplanError as exc:
        raise fail(exc)
    except OSError as exc:
        error(f"cannot write {path}: {exc.strerror or exc}")
        raise typer.Exit(1)
    out(f"Wrote {path} (mode 0600): the client redeems it once, before it expires, with `lxc "
        f"remote add NAME $(cat {path})` (Incus: `incus remote add`).")
