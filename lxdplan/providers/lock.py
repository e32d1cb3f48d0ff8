"""The apply lock kept in the cluster itself: the profile ``lxdplan-lock`` of the default project.

Why a profile: taking the lock must work while a member is Blocked by an upgrade or offline, so it
may not write cluster-wide server config (``PATCH /1.0`` notifies every member: LXD 5.0.2 hangs on
one that does not serve, Incus 6.0.4 fails and its revert wipes the writing member's addresses).
A profile create, ``PATCH`` and delete only write the cluster database through the member asked
(LXD 5.0.2 and Incus 6.0 ``profilesPost``/``profilePatch``/``profileDelete`` notify nobody; a
profile ``PUT`` does notify, so it is never used here), and ``PATCH`` honours ``If-Match``. A
cluster group would be lighter, but Incus 6.0.4 ignores ``If-Match`` on its ``PUT`` and ``DELETE``.

Holding the lock is having created the profile: ``POST /1.0/profiles`` is the one atomic step (the
database refuses a second profile of that name, 409 on LXD, 500 on Incus), so two live applies
never both win. (A ``PATCH`` with ``If-Match`` is not enough: LXD 5.0.2 checks the ETag outside the
write's transaction, and two takers of a free lock were both seen to win.) Releasing deletes it.
The description holds the holder as JSON: owner, a random id, when it was taken and expires, and
the host, pid and process start time, so a lock left by a killed apply on this host is known dead
at once (a zombie or a reused pid included). A dead, expired or broken lock is taken over under
a claim, the profile ``lxdplan-lock-<its id>`` (created atomically, deleted right after): the
lock is read again under the claim and deleted only if it is still the dead one, then created
anew. Any other lock is reported with its owner and age, expires after an hour, or is broken
with ``--break-lock``.

The planner, exporter and status never see the profile (``lxdplan.providers.observe`` drops it).
Earlier versions kept the lock in the server key ``user.lxdplan.lock``; it is ignored.
``lxdplan.state.hostlock`` covers the time before a cluster exists.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass

from lxdplan.errors import ApiError, LockError, PreconditionFailed
from lxdplan.keys import LOCK_PROFILE
from lxdplan.providers.client import Client, path_of
from lxdplan.state.hostlock import process_alive, process_start

LOCK_TTL = 3600.0  # seconds; an apply refreshes nothing, so this bounds the longest apply
PATH = path_of("profiles", LOCK_PROFILE)
PARAMS = {"project": "default"}
ATTEMPTS = 5


@dataclass(frozen=True)
class Holder:
    id: str
    owner: str
    since: float
    expires: float
    host: str = ""
    pid: int = 0
    start: int = 0  # the holder process's start time (/proc/PID/stat field 22); 0 = unknown

    @classmethod
    def parse(cls, text: str) -> "Holder | None":
        try:
            data = json.loads(text)
            return cls(str(data["id"]), str(data["owner"]), float(data["since"]),
                       float(data["expires"]), str(data.get("host", "")), int(data.get("pid", 0)),
                       int(data.get("start", 0)))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    @classmethod
    def mine(cls, ttl: float) -> "Holder":
        now = time.time()
        pid = os.getpid()
        return cls(uuid.uuid4().hex, owner_label(), now, now + ttl, socket.gethostname(), pid,
                   process_start(pid) or 0)

    def dump(self) -> str:
        return json.dumps(
            {"id": self.id, "owner": self.owner, "since": self.since, "expires": self.expires,
             "host": self.host, "pid": self.pid, "start": self.start},
            sort_keys=True,
        )

    def dead_here(self) -> bool:
        """The holder ran on this host and its process is gone: exited, a zombie not yet reaped,
        or its pid now belongs to another process (the start time differs)."""
        if not self.pid or self.host != socket.gethostname():
            return False
        if self.pid == os.getpid():
            return bool(self.start) and self.start != process_start(self.pid)
        return not process_alive(self.pid, self.start or None)

    def live(self, now: float) -> bool:
        return self.expires > now and not self.dead_here()


def owner_label() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


class ClusterLock:
    """Hold the cluster lock through one member's client (only that member needs to serve)."""

    def __init__(self, client: Client, *, break_lock: bool = False, ttl: float = LOCK_TTL):
        self.client = client
        self.break_lock = break_lock
        self.ttl = ttl
        self.holder: Holder | None = None

    def _read(self) -> tuple[Holder | None, str | None, bool]:
        """(current holder or None when free, ETag, whether the profile exists)."""
        try:
            answer = self.client.get(PATH, PARAMS)
        except ApiError as exc:
            if exc.status == 404 and not isinstance(exc, PreconditionFailed):
                return None, None, False
            raise
        description = (answer.metadata or {}).get("description") or ""
        return (Holder.parse(description) if description else None), answer.etag, True

    def acquire(self) -> None:
        for _attempt in range(ATTEMPTS):
            current, _etag, exists = self._read()
            now = time.time()
            if current is not None and current.live(now) and not self.break_lock:
                raise LockError(
                    f"the cluster is locked by another apply ({current.owner}, taken "
                    f"{_age(now - current.since)} ago); wait for it to finish, or if it died run "
                    "`lxdplan apply --break-lock`"
                )
            if exists and not self._clear(current):
                continue  # it changed since we read it: look again
            mine = Holder.mine(self.ttl)
            try:
                self.client.post("/1.0/profiles", {"name": LOCK_PROFILE, "description": mine.dump(),
                                                   "config": {}, "devices": {}}, params=PARAMS)
            except ApiError:
                if not self._read()[2]:
                    raise
                continue  # another taker created it first (409, or 500 on Incus): look again
            self.holder = mine
            return
        raise LockError("the cluster lock could not be taken: other applies kept changing it")

    def _clear(self, seen: Holder | None) -> bool:
        """Delete a stale (or broken, or an earlier version's free) lock if it is still the one
        seen; False when that cannot be done now (it changed, or another taker is at it).

        The take-over is claimed first by creating ``lxdplan-lock-<id>`` (atomic, like the lock
        itself), and the lock is read again under the claim: a taker that read the same dead
        lock but comes later finds the claim, or the new lock, and never deletes a live one."""
        claim = path_of("profiles", f"{LOCK_PROFILE}-{seen.id if seen else 'free'}"[:60])
        name = claim.rsplit("/", 1)[-1]
        try:
            self.client.post("/1.0/profiles", {"name": name, "description": "", "config": {},
                                               "devices": {}}, params=PARAMS)
        except ApiError:
            if self.break_lock:  # a claim left by a taker that died: --break-lock clears it
                self._delete(claim)
            return False
        try:
            current, _etag, exists = self._read()
            if not exists:
                return True
            if (current.id if current else None) != (seen.id if seen else None):
                return False
            self._delete(PATH)
            return True
        finally:
            self._delete(claim)

    def _delete(self, path: str) -> None:
        try:
            self.client.delete(path, params=PARAMS)
        except ApiError as exc:
            if exc.status != 404:
                raise

    def release(self) -> None:
        """Free the lock if this apply still holds it (a broken lock is left to its taker)."""
        if self.holder is None:
            return
        try:
            current, _etag, _exists = self._read()
            if current is not None and current.id == self.holder.id:
                self._delete(PATH)
        finally:
            self.holder = None

    def __enter__(self) -> "ClusterLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
