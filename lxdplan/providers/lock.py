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
The description holds the holder as JSON: owner, a random id, when it was taken and when its
lease expires, and the host, pid and process start time, so a lock left by a killed apply on this
host is known dead at once (a zombie or a reused pid included). "This host" is not a hostname
(cloned VMs and CI containers share those) but ``host_identity()``: the machine id, the kernel's
boot id and this process's pid namespace, the things that decide whether a pid seen in the lock
is a pid this process can look up. A dead, expired or broken lock is taken over under a claim,
the profile ``lxdplan-lock-<its id>`` (created atomically, deleted right after): the lock is
read again under the claim and deleted only if it is still the dead one, then created anew. Any
other lock is reported with its owner and age, and is broken with ``--break-lock``.

Times in the lock are the SERVER's: the holder writes ``since``/``expires`` on the clock of the
``Date`` header of the member's answers, and every taker judges them on that clock too, so a
holder or taker whose own clock is hours off judges nothing wrong. The lease is ``LOCK_TTL``
and is renewed (a ``PATCH`` with ``If-Match``) every ``ttl / RENEWALS`` by a thread while the
lock is held, so an apply longer than the lease keeps it and a holder that died elsewhere
without releasing frees it within one lease.

The planner, exporter and status never see the profile (``lxdplan.providers.observe`` drops it).
Earlier versions kept the lock in the server key ``user.lxdplan.lock``; it is ignored.
``lxdplan.state.hostlock`` covers the time before a cluster exists.
"""

from __future__ import annotations

import email.utils
import getpass
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from lxdplan.errors import ApiError, LockError, LxdplanError, PreconditionFailed
from lxdplan.keys import LOCK_PROFILE
from lxdplan.providers.client import Client, Response, path_of
from lxdplan.state.hostlock import process_alive, process_start

LOCK_TTL = 600.0  # seconds of lease; renewed every LOCK_TTL / RENEWALS while held
RENEWALS = 6
PATH = path_of("profiles", LOCK_PROFILE)
PARAMS = {"project": "default"}
ATTEMPTS = 5
BREAK = "`lxdplan apply --break-lock`"


def host_identity() -> str:
    """Which pids this process can look up: the machine id (``/etc/machine-id``), the kernel's
    boot id and the inode of this process's pid namespace. Two clones of one VM differ in boot
    id; two containers of one kernel differ in pid namespace (or share it, and then their pids
    too). Empty parts when a file is missing: the rest still tells hosts apart."""
    parts = []
    for name in ("/etc/machine-id", "/var/lib/dbus/machine-id", "/proc/sys/kernel/random/boot_id"):
        try:
            parts.append(Path(name).read_text().strip())
        except OSError:
            parts.append("")
    if not parts[0]:
        parts[0] = parts[1]
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    return f"{parts[0]}/{parts[2]}/{namespace}"


@dataclass(frozen=True)
class Holder:
    """Who holds the lock. ``since`` and ``expires`` are on the server's clock."""

    id: str
    owner: str
    since: float
    expires: float
    host: str = ""  # the hostname, shown to people
    pid: int = 0
    start: int = 0  # the holder process's start time (/proc/PID/stat field 22); 0 = unknown
    host_id: str = ""  # host_identity() of the holder; "" (an older version): never judged here

    @classmethod
    def parse(cls, text: str) -> "Holder | None":
        try:
            data = json.loads(text)
            return cls(str(data["id"]), str(data["owner"]), float(data["since"]),
                       float(data["expires"]), str(data.get("host", "")), int(data.get("pid", 0)),
                       int(data.get("start", 0)), str(data.get("host_id", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    @classmethod
    def mine(cls, ttl: float, now: float) -> "Holder":
        """This process's record, taken at ``now`` on the server's clock."""
        pid = os.getpid()
        return cls(uuid.uuid4().hex, owner_label(), now, now + ttl, socket.gethostname(), pid,
                   process_start(pid) or 0, host_identity())

    def dump(self) -> str:
        return json.dumps(
            {"id": self.id, "owner": self.owner, "since": self.since, "expires": self.expires,
             "host": self.host, "pid": self.pid, "start": self.start, "host_id": self.host_id},
            sort_keys=True,
        )

    def dead_here(self) -> bool:
        """The holder ran where this process can see its pid (same ``host_identity()``) and its
        process is gone: exited, a zombie not yet reaped, or its pid now belongs to another
        process (the start time differs)."""
        if not self.pid or not self.host_id or self.host_id != host_identity():
            return False
        if self.pid == os.getpid():
            return bool(self.start) and self.start != process_start(self.pid)
        return not process_alive(self.pid, self.start or None)

    def live(self, now: float) -> bool:
        """Held, judged at ``now`` on the server's clock."""
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


def server_time(response: Response | None) -> float | None:
    """The server's clock from an answer's ``Date`` header (whole seconds), or None."""
    if response is None:
        return None
    value = next((v for k, v in response.headers.items() if k.lower() == "date"), None)
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class ServerClock:
    """The server's clock, read from answers and carried forward on this host's monotonic clock
    (never on its wall clock, which may be hours off)."""

    def __init__(self) -> None:
        self._at: tuple[float, float] | None = None  # (server time, monotonic then)

    def sync(self, response: Response | None) -> None:
        seen = server_time(response)
        if seen is not None:
            self._at = (seen, time.monotonic())

    @property
    def synced(self) -> bool:
        return self._at is not None

    def now(self) -> float:
        if self._at is None:  # a server that sends no Date: this host's clock is all there is
            return time.time()
        seen, then = self._at
        return seen + (time.monotonic() - then)


def held_by_another(client: Client) -> str | None:
    """For ``plan`` (which never takes the lock): one sentence when an apply holds the cluster
    lock right now, naming it and since when (both on the server's clock), else None. A lock
    whose holder is known dead or whose lease ran out is not reported: the next apply takes it
    over. Reading it is one GET; any failure to read it says nothing (the plan goes on)."""
    try:
        answer = client.get(PATH, PARAMS)
    except LxdplanError:
        return None
    description = (answer.metadata or {}).get("description") or ""
    holder = Holder.parse(description) if description else None
    now = server_time(answer) or time.time()
    if holder is None or not holder.live(now):
        return None
    taken = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.since))
    return (f"another apply holds the cluster lock ({holder.owner}, since {taken}, "
            f"{_age(now - holder.since)} ago): this plan may be out of date once it finishes; "
            "run plan again then")


class ClusterLock:
    """Hold the cluster lock through one member's client (only that member needs to serve)."""

    def __init__(self, client: Client, *, break_lock: bool = False, ttl: float = LOCK_TTL,
                 on_lost: Callable[[], None] = lambda: None):
        self.client = client
        self.break_lock = break_lock
        self.ttl = ttl
        self.on_lost = on_lost  # called (from the renewing thread) when the lock is lost
        self.holder: Holder | None = None
        self.clock = ServerClock()
        self.lost: str | None = None  # set when another apply took the lock over meanwhile
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _read(self) -> tuple[Holder | None, str | None, bool]:
        """(current holder or None when free, ETag, whether the profile exists); syncs the
        server clock."""
        try:
            answer = self.client.get(PATH, PARAMS)
        except ApiError as exc:
            if exc.status == 404 and not isinstance(exc, PreconditionFailed):
                if not self.clock.synced:
                    self.clock.sync(self.client.get("/1.0"))
                return None, None, False
            raise
        self.clock.sync(answer)
        description = (answer.metadata or {}).get("description") or ""
        return (Holder.parse(description) if description else None), answer.etag, True

    def acquire(self) -> None:
        for _attempt in range(ATTEMPTS):
            current, _etag, exists = self._read()
            now = self.clock.now()
            if current is not None and current.live(now) and not self.break_lock:
                raise LockError(
                    f"the cluster is locked by another apply ({current.owner}, taken "
                    f"{_age(now - current.since)} ago; its lease ends in "
                    f"{_age(current.expires - now)} unless it renews it); wait for it to finish, "
                    f"or if it died run {BREAK}"
                )
            if exists and not self._clear(current):
                continue  # it changed since we read it: look again
            mine = Holder.mine(self.ttl, self.clock.now())
            try:
                self.client.post("/1.0/profiles", {"name": LOCK_PROFILE, "description": mine.dump(),
                                                   "config": {}, "devices": {}}, params=PARAMS)
            except ApiError:
                if not self._read()[2]:
                    raise
                continue  # another taker created it first (409, or 500 on Incus): look again
            self.holder = mine
            self._start_renewing()
            return
        raise LockError("the cluster lock could not be taken: other applies kept changing it; "
                        f"run apply again, or {BREAK} if a dead apply left it")

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

    # -- the lease --------------------------------------------------------------------------------

    def renew(self) -> bool:
        """Extend the lease by ``ttl`` from now (server clock) if this apply still holds the
        lock; False (and ``lost`` set) when another apply took it over or broke it."""
        if self.holder is None:
            return False
        current, etag, _exists = self._read()
        if current is None or current.id != self.holder.id:
            self.lost = (f"the cluster lock was taken over by another apply "
                         f"({current.owner if current else 'none now'}) while this one ran")
            self.on_lost()
            return False
        renewed = replace(self.holder, expires=self.clock.now() + self.ttl)
        try:
            self.client.patch(PATH, {"description": renewed.dump()}, params=PARAMS, etag=etag)
        except PreconditionFailed:
            return True  # it changed between the read and the write: the next round looks again
        self.holder = renewed
        return True

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="lxdplan-lock-lease",
                                         daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / RENEWALS):
            try:
                if not self.renew():
                    return
            except LxdplanError:
                continue  # the member did not answer this time: the lease has rounds to spare

    def _stop_renewing(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        self._renewer = None

    def release(self) -> None:
        """Free the lock if this apply still holds it (a broken lock is left to its taker)."""
        self._stop_renewing()
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
