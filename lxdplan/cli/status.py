"""`lxdplan status`: members and per-member pool/network state, problems flagged."""

from __future__ import annotations

from lxdplan.cli.app import DEBUG_OPTION, FILE_OPTION, VERSION_OPTION, app
from lxdplan.cli.common import fail, load_or_exit, warn_unreachable
from lxdplan.cli.output import out
from lxdplan.errors import LxdplanError


@app.command()
def status(file: str = FILE_OPTION, _version: bool = VERSION_OPTION,
           _debug_log: bool = DEBUG_OPTION) -> None:
    """Show members (status, roles, version, message) and pools/networks per member."""
    from lxdplan.providers.observe import observe
    from lxdplan.render.status import render_status
    from lxdplan.workflow import require_known

    desired = load_or_exit(file, quiet_warnings=True)
    try:
        observed = observe(desired)
        require_known(desired, observed)
    except LxdplanError as exc:
        raise fail(exc)
    warn_unreachable(observed)
    out(render_status(desired, observed))
