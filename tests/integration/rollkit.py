"""The `--run` command of the roll tests: "upgrade" one lab member by restarting its daemon.

    python rollkit.py LAB_ROOT LAB_NAME MEMBER [--fail-on NAME] [--hang-on NAME]

stops the member's daemon by its recorded pid and starts it again on the same data directory
(``lxdplan.lab.restart_member``), without waiting for it to serve: a member restarted while the
cluster database records the others behind waits for them, as a member upgraded to a newer
version does (``upgradekit``). The new daemon runs under a keeper that starts it again if it
crashes, as systemd does for a packaged one (``lxdplan.lab.keeper``: Incus 6.0 sometimes panics
when told the others are upgraded). ``--fail-on NAME`` exits 3 without touching NAME (a failed
upgrade); ``--hang-on NAME`` stops NAME's daemon and does not start it (it never comes back).
"""

from __future__ import annotations

import sys
from pathlib import Path


def prefix(lab) -> str:
    """The command that restarts a member of ``lab``, to be followed by the member's name (the
    guide's ``$RESTART``)."""
    return prefix_of(str(Path(lab.dir).parent), lab.name)


def prefix_of(root: str, name: str) -> str:
    """``prefix`` for the lab ``name`` under ``root``, before the lab exists."""
    return " ".join([sys.executable, str(Path(__file__).resolve()), root, name])


def command(lab, *extra: str) -> str:
    """The ``--run`` value for ``lab`` (``{member}`` filled in by roll)."""
    return " ".join([prefix(lab), "{member}", *extra])


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from lxdplan import lab as labapi
    from lxdplan.lab import host

    root, name, member, *rest = argv
    if "--fail-on" in rest and rest[rest.index("--fail-on") + 1] == member:
        print(f"upgrade of {member} failed", flush=True)
        return 3
    found = labapi.find(name, root)
    if found is None:
        print(f"no lab {name} under {root}", flush=True)
        return 2
    print(f"restarting {member}", flush=True)
    if "--hang-on" in rest and rest[rest.index("--hang-on") + 1] == member:
        m = next(m for m in found.members if m.name == member)
        host.stop_pids([m.pid], grace=0)
        return 0
    labapi.restart_member(found, member, wait_ready=False, grace=0, kept=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
