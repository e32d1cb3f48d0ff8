"""Faults injected from outside the product: run ``lxdplan`` (or a bare cluster-lock holder) in a
subprocess with a hook installed before lxdplan is imported. Production code carries no test hook.

    python tests/integration/hooked.py lxdplan apply -f FILE --auto-approve
    python tests/integration/hooked.py hold-lock ENDPOINT TTL    # prints "held", waits for stdin

Hooks, from the environment:
- ``LXDPLAN_HOOK_KILL_AFTER_STEPS=N``: SIGKILL the process right after the N-th step settled.
- ``LXDPLAN_HOOK_CLOCK_OFFSET=SECONDS``: this process's wall clock (``time.time``) is off by that much.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
KILL_AFTER = "LXDPLAN_HOOK_KILL_AFTER_STEPS"
CLOCK_OFFSET = "LXDPLAN_HOOK_CLOCK_OFFSET"


def argv(*args: str) -> list[str]:
    """The command line that runs ``args`` (``lxdplan …`` or ``hold-lock …``) under the hooks."""
    return [sys.executable, str(HERE), *args]


def install() -> None:
    offset = float(os.environ.get(CLOCK_OFFSET, "0") or 0)
    if offset:
        real = time.time
        time.time = lambda: real() + offset  # type: ignore[assignment]
    kill_after = int(os.environ.get(KILL_AFTER, "0") or 0)
    if kill_after:
        from lxdplan import executor

        collect = executor._Run.collect

        def collect_then_kill(self, future):
            collect(self, future)
            if len(self.results) >= kill_after:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)

        executor._Run.collect = collect_then_kill


def hold_lock(endpoint: str, ttl: str) -> None:
    """Take the cluster lock through ``endpoint`` and hold it (renewing its lease) until stdin
    closes or says anything; then release it."""
    from lxdplan.providers.client import Client
    from lxdplan.providers.lock import ClusterLock

    with Client(endpoint, member="holder") as client:
        lock = ClusterLock(client, ttl=float(ttl))
        lock.acquire()
        print("held", lock.holder.id, flush=True)
        sys.stdin.readline()
        lock.release()
        print("released", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[2]))  # the repository, when run from elsewhere
    install()
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "lxdplan":
        from lxdplan.cli import main

        sys.argv = ["lxdplan", *rest]
        main()
    elif mode == "hold-lock":
        hold_lock(*rest)
    else:
        raise SystemExit(f"unknown mode {mode}")
