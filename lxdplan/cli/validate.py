"""`lxdplan validate`: load and check the desired-state file, with no network."""

from __future__ import annotations

from lxdplan.cli.app import FILE_OPTION, VERSION_OPTION, app
from lxdplan.cli.common import load_or_exit
from lxdplan.cli.output import out, plural


@app.command()
def validate(file: str = FILE_OPTION, _version: bool = VERSION_OPTION) -> None:
    """Load and check the desired-state file; no network. Exit 0 valid, 1 not."""
    desired = load_or_exit(file)
    counts = ", ".join([
        plural(len(desired.members), "member"),
        plural(len(desired.section("storage_pools")), "storage pool"),
        plural(len(desired.section("networks")), "network"),
        plural(len(desired.section("profiles")), "profile"),
    ])
    out(f"{file}: valid ({counts}).")
