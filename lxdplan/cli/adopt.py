"""`lxdplan import`: adopt live objects the file declares, so dropping them later deletes them."""

from __future__ import annotations

import typer

from lxdplan.cli.app import DEBUG_OPTION, FILE_OPTION, VERSION_OPTION, app
from lxdplan.cli.common import fail, load_or_exit
from lxdplan.cli.output import error, out
from lxdplan.errors import LxdplanError


@app.command("import")
def import_(file: str = FILE_OPTION, _version: bool = VERSION_OPTION,
            _debug_log: bool = DEBUG_OPTION) -> None:
    """Adopt live objects that the file declares, so later deletions of them are planned."""
    from lxdplan.providers.adopt import adopt
    from lxdplan.providers.observe import make_clients, observe
    from lxdplan.workflow import require_known

    desired = load_or_exit(file, quiet_warnings=True)
    clients = make_clients(desired)
    try:
        observed = observe(desired, clients=clients)
        require_known(desired, observed)  # never "no cluster" when none could be read
        reader = next((n for n, a in observed.standalone.items() if a.reachable and a.clustered), None)
        if not observed.clustered or reader is None:
            error("there is no cluster to import from yet: run apply to form it")
            raise typer.Exit(1)
        adopted = adopt(clients[reader], desired, observed)
    except LxdplanError as exc:
        raise fail(exc)
    finally:
        for client in clients.values():
            client.close()
    if adopted:
        out("Adopted: " + ", ".join(adopted) + ".")
    else:
        out("Nothing to adopt: every declared object that exists is already managed by lxdplan.")
