"""`lxdplan validate`: load and check the desired-state file, with no network."""

from __future__ import annotations

from lxdplan.cli.app import FILE_OPTION, VERSION_OPTION, app
from lxdplan.cli.common import load_or_exit
from lxdplan.cli.output import out, plural
from lxdplan.desired import Desired


@app.command()
def validate(file: str = FILE_OPTION, _version: bool = VERSION_OPTION) -> None:
    """Load and check the desired-state file; no network. Exit 0 valid, 1 not."""
    desired = load_or_exit(file)
    out(f"{file}: valid ({counts(desired)}).")


def counts(desired: Desired) -> str:
    """``3 members, 1 storage pool, 2 instances``: the members, then every kind the file
    declares objects of, in the registry's order."""
    from lxdplan.registry import registry

    return ", ".join([plural(len(desired.members), "member")] + [
        plural(len(objects), spec.kind.noun) for spec in registry()
        if (objects := desired.section(spec.section))])
