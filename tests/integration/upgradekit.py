"""A member Blocked by an upgrade, for real, with the one server version this host has.

``blocked_member(lab, "node2")`` works on a formed cluster of a lab: it lowers every *other*
member's ``schema`` in the cluster database (``lxd sql global`` / ``incus admin sql global``,
run against a serving member's socket), restarts ``node2``'s daemon through the lab's own
lifecycle code and returns once ``node2``'s log says it waits for the others to upgrade. From
then on ``node2`` accepts connections and answers no public request, as a member restarted on a
newer version does (LXD-FACTS "Upgrades"). On exit, also when the body fails, the column is
restored, ``node2`` restarted again and awaited until it serves.
"""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from applykit import client_cmd, member_status, wait_for
from lxdplan.lab import restart_member
from lxdplan.lab.model import backend as lab_backend

# What the waiting member logs, in lxd-5.0.2 lxd/daemon.go and incus-6.0 internal/server/...:
# "Wait for other cluster nodes to upgrade their versions, cluster not started yet".
WAIT_LINE = "Wait for other cluster nodes to upgrade their versions"


def sql_global(lab, member_index: int, statement: str) -> str:
    """Run ``statement`` on the cluster database through a member's unix socket. A database
    busy with another transaction (a cluster just formed writes for a while) answers "database
    is locked": the statement is run again until it is not, for up to 30 s."""
    b = lab_backend(lab.backend)
    argv = ["lxd", "sql", "global", statement] if lab.backend == "lxd" else \
        ["incus", "admin", "sql", "global", statement]
    deadline = time.monotonic() + 30
    while True:
        done = subprocess.run(argv, env=b.env(lab.members[member_index].daemon_dir),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode == 0:
            return done.stdout
        if "database is locked" not in done.stderr or time.monotonic() > deadline:
            raise AssertionError(f"{' '.join(argv[:3])} failed: {done.stderr.strip()}")
        time.sleep(0.2)  # until the other transaction ends


def _log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _wait_for_log(member, line: str, start: int) -> None:
    """Return once ``line`` appears in ``member``'s log after byte ``start``; fail if the
    daemon exits first."""
    from lxdplan.lab import host

    while True:
        text = Path(member.log).read_bytes()[start:].decode(errors="replace")
        if line in text:
            return
        if not host.pid_alive(member.pid):
            raise AssertionError(f"{member.name}'s daemon exited instead of waiting: {text[-500:]}")
        time.sleep(0.1)


@contextmanager
def blocked_member(lab, name: str = "node2"):
    """``name`` waits for the other members to upgrade for the duration of the block."""
    index = next(i for i, m in enumerate(lab.members) if m.name == name)
    via = next(i for i, m in enumerate(lab.members) if m.name != name)  # a member that serves
    member = lab.members[index]
    sql_global(lab, via, f"UPDATE nodes SET schema=schema-1 WHERE name != '{name}'")
    try:
        start = _log_size(member.log)
        restart_member(lab, name, wait_ready=False)
        _wait_for_log(member, WAIT_LINE, start)
        yield member
    finally:
        sql_global(lab, via, f"UPDATE nodes SET schema=schema+1 WHERE name != '{name}'")
        # A waiting daemon ignores SIGTERM until its wait ends: it is killed at once.
        restart_member(lab, name, wait_ready=True, grace=0)
        # It serves before the cluster's next heartbeat reaches it: until then the others list it
        # Offline (and an apply would treat it so). The block ends once they list it Online.
        wait_for(lambda: member_status(lab, name, via=via) == "Online",
                 f"{name} to be listed Online again", timeout=120)
        # ... and before the others' links to it are back, a request they forward to it is
        # refused "Server isn't ready yet" (Incus 6.0.4): the block ends once one goes through.
        wait_for(lambda: client_cmd(lab, "query", f"/1.0/resources?target={name}", member=via,
                                    check=False).returncode == 0,
                 f"a request forwarded to {name} to go through", timeout=120)
