"""Keep one lab member's daemon running as systemd keeps a packaged one (``Restart=on-failure``).

    python -m lxdplan.lab.keeper STATE MEMBER LOG -- DAEMON ARGS…

runs inside the member's namespace, starts the daemon as its child, prints the daemon's pid on
one line (the lab records it) and waits. A daemon that crashes (a Go panic: exit status 2) is
started again, its new pid saved in the lab state ``STATE``, at most ``MAX_RESTARTS`` times. A
daemon that exits on its own otherwise or is killed by a signal (the lab stopping it, a test
taking the member down) is not: the keeper ends with it.

Why: Incus 6.0 sometimes panics in a member that waited for the others to be upgraded, at the
moment the last one tells it to go on (a heartbeat reads the cluster database it has just
closed); the packaged daemon is back a few seconds later. A lab member restarted by an upgrade
runs under a keeper so the lab behaves as the machines operators run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

PANIC = 2  # the exit status of a Go program that panicked
MAX_RESTARTS = 3


def main(argv: list[str]) -> int:
    state, member, log, sep, *daemon = argv
    if sep != "--" or not daemon:
        print("usage: python -m lxdplan.lab.keeper STATE MEMBER LOG -- DAEMON ARGS…",
              file=sys.stderr)
        return 64
    restarts = 0
    while True:
        with open(log, "ab") as out:
            proc = subprocess.Popen(daemon, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        if restarts == 0:
            print(proc.pid, flush=True)
            sys.stdout.close()  # the lab reads one line; nothing else goes there
        else:
            _record(Path(state), member, proc.pid)
        code = proc.wait()
        if code != PANIC or restarts >= MAX_RESTARTS:
            return 0
        restarts += 1
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"lxdplan lab keeper {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}: "
                      f"the daemon crashed (exit status {code}); starting it again, as "
                      "systemd's Restart=on-failure does\n")


def _record(state: Path, member: str, pid: int) -> None:
    """Save ``member``'s new daemon pid in the lab state (if the lab still exists)."""
    from lxdplan.errors import LabError
    from lxdplan.lab.model import Lab

    try:
        lab = Lab.load(state)
    except LabError:
        return  # being torn down
    for m in lab.members:
        if m.name == member:
            m.pid = pid
    lab.save()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
