"""A lock on this host around every apply; before a cluster exists, the only lock there is.

``flock`` on a file under ``$LXDPLAN_LOCK_DIR`` (default ``/run/lxdplan``, else the temp dir),
named after the desired-state file's first member address, so two applies forming the same
cluster from this host never interleave. The kernel drops the lock when the process dies, so it
can never go stale. Also the facts about processes on this host that the cluster lock
(``lxdplan.providers.lock``) needs to tell a dead holder: a zombie or a reused pid is not alive.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from lxdplan.errors import LockError


def lock_dir() -> Path:
    configured = os.environ.get("LXDPLAN_LOCK_DIR")
    if configured:
        return Path(configured)
    run = Path("/run/lxdplan")
    try:
        run.mkdir(mode=0o700, exist_ok=True)
        return run
    except OSError:
        return Path(tempfile.gettempdir())


class HostLock:
    def __init__(self, key: str):
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.path = lock_dir() / f"lxdplan-{digest}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LockError(
                f"another lxdplan apply on this host is working on this cluster ({holder}); wait "
                "for it to finish (this host lock ends with that process, so `--break-lock`, "
                "which breaks the cluster lock of a dead apply, is not needed for it)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> "HostLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# -- processes on this host: is the holder of a lock still the process that took it? -----------

def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` split into fields (field 1 is the pid); None when there is no such
    process. The command name (field 2) may hold spaces and parentheses, so fields after it are
    counted from its last ``)``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    head, _, tail = text.rpartition(")")
    if not head:
        return None
    pid_part, _, comm = head.partition(" (")
    return [pid_part, comm, *tail.split()]


def process_start(pid: int) -> int | None:
    """The process's start time (``/proc/PID/stat`` field 22, clock ticks since boot), or None."""
    fields = _stat_fields(pid)
    try:
        return int(fields[21]) if fields else None
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, start: int | None = None) -> bool:
    """Whether ``pid`` is a living process and, when ``start`` is given, the same one that had
    that start time. A zombie (state ``Z``: dead, not yet reaped by its parent) or a dying one
    (``X``) is dead; a pid reused by another process is not the holder. Without ``/proc`` the
    answer falls back to ``kill(pid, 0)``."""
    if pid <= 0:
        return False
    fields = _stat_fields(pid)
    if fields is None:
        if Path("/proc/self/stat").exists():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if len(fields) < 22 or fields[2] in ("Z", "X", "x"):
        return False
    return not start or fields[21] == str(start)
