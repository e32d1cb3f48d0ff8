"""The apply lock kept in the cluster itself: server config key ``user.lxdplan.lock``.

Taken with a compare-and-swap: read ``GET /1.0`` and its ETag, then ``PATCH /1.0`` with
``If-Match``; a concurrent taker makes one of the two PATCHes answer 412. The value is JSON with
the owner, a random id, when it was taken and when it expires, so a lock left by a killed apply is
reported with its owner and age and can be broken (``lxdplan apply --break-lock``) or simply
expires. A lock whose holder ran on this host and is no longer alive is stale and taken over at
once, so an apply killed on this host never blocks the next one here. ``lxdplan.state.hostlock`` covers the time before a cluster exists.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass

from lxdplan.errors import LockError, PreconditionFailed
from lxdplan.keys import LOCK_KEY
from lxdplan.providers.client import Client

LOCK_TTL = 3600.0  # seconds; an apply refreshes nothing, so this bounds the longest apply


@dataclass(frozen=True)
class Holder:
    id: str
    owner: str
    since: float
    expires: float
    host: str = ""
    pid: int = 0

    @classmethod
    def parse(cls, text: str) -> "Holder | None":
        try:
            data = json.loads(text)
            return cls(str(data["id"]), str(data["owner"]), float(data["since"]),
                       float(data["expires"]), str(data.get("host", "")), int(data.get("pid", 0)))
        except (ValueError, KeyError, TypeError):
            return None

    @classmethod
    def mine(cls, ttl: float) -> "Holder":
        now = time.time()
        return cls(uuid.uuid4().hex, owner_label(), now, now + ttl, socket.gethostname(), os.getpid())

    def dump(self) -> str:
        return json.dumps(
            {"id": self.id, "owner": self.owner, "since": self.since, "expires": self.expires,
             "host": self.host, "pid": self.pid},
            sort_keys=True,
        )

    def dead_here(self) -> bool:
        """The holder ran on this host and its process is gone."""
        if not self.pid or self.host != socket.gethostname() or self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


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
    """Hold the cluster lock through one member's client; a context manager."""

    def __init__(self, client: Client, *, break_lock: bool = False, ttl: float = LOCK_TTL):
        self.client = client
        self.break_lock = break_lock
        self.ttl = ttl
        self.holder: Holder | None = None

    def acquire(self) -> None:
        for _attempt in range(3):
            answer = self.client.get("/1.0")
            config = (answer.metadata or {}).get("config") or {}
            now = time.time()
            current = Holder.parse(config.get(LOCK_KEY, "")) if config.get(LOCK_KEY) else None
            live = current is not None and current.expires > now and not current.dead_here()
            if live and not self.break_lock:
                raise LockError(
                    f"the cluster is locked by another apply ({current.owner}, taken "
                    f"{_age(now - current.since)} ago); wait for it to finish, or if it died run "
                    "`lxdplan apply --break-lock`"
                )
            mine = Holder.mine(self.ttl)
            try:
                self.client.patch("/1.0", {"config": {LOCK_KEY: mine.dump()}}, etag=answer.etag)
            except PreconditionFailed:
                continue  # someone changed the server config meanwhile: look again
            self.holder = mine
            return
        raise LockError("the cluster lock could not be taken: the server config kept changing")

    def release(self) -> None:
        if self.holder is None:
            return
        try:
            answer = self.client.get("/1.0")
            config = (answer.metadata or {}).get("config") or {}
            current = Holder.parse(config.get(LOCK_KEY, "")) if config.get(LOCK_KEY) else None
            if current is not None and current.id == self.holder.id:
                self.client.patch("/1.0", {"config": {LOCK_KEY: ""}}, etag=answer.etag)
        finally:
            self.holder = None

    def __enter__(self) -> "ClusterLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
