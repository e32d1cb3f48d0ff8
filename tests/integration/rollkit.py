"""The `--run` command of the roll tests: "upgrade" one lab member by restarting its daemon.

    python rollkit.py LAB_ROOT LAB_NAME MEMBER [--fail-on NAME] [--hang-on NAME]
                      [--slow-start-on NAME SECONDS]

stops the member's daemon by its recorded pid and starts it again on the same data directory
(``lxdplan.lab.restart_member``), without waiting for it to serve: a member restarted while the
cluster database records the others behind waits for them, as a member upgraded to a newer
version does (``upgradekit``). ``--fail-on NAME`` exits 3 without touching NAME (a failed
upgrade); ``--hang-on NAME`` stops NAME's daemon and does not start it (it never comes back);
``--slow-start-on NAME SECONDS`` holds NAME's new daemon stopped for SECONDS after the command
ended (a member that takes long to come back, the roll waiting on it meanwhile).
"""

from __future__ import annotations

import os
import signal
import subprocess
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
    restarted = labapi.restart_member(found, member, wait_ready=False, grace=0)
    if "--slow-start-on" in rest and rest[rest.index("--slow-start-on") + 1] == member:
        _continue_later(restarted.pid, float(rest[rest.index("--slow-start-on") + 2]))
    return 0


def _continue_later(pid: int, delay: float) -> None:
    """Hold the new daemon stopped (SIGSTOP) for ``delay`` seconds after this command ends: a
    member that takes long to come back, for the roll to wait on. A process of its own session
    continues it; the lab's teardown kills a stopped daemon as any other."""
    os.kill(pid, signal.SIGSTOP)
    subprocess.Popen([sys.executable, "-c", "import os, signal, sys, time; time.sleep(float("
                      "sys.argv[1])); os.kill(int(sys.argv[2]), signal.SIGCONT)", str(delay),
                      str(pid)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
