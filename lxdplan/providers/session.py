"""The connections one apply uses: a client per declared member and a client to the cluster.

``Session`` builds each member's ``Client`` on first use (endpoint, pin = declared fingerprint,
pin file = the desired-state file) and closes them all at the end (use it as a context manager).
``cluster()`` answers a client to some reachable clustered member, preferring members the
observation saw ``Online``, and remembers which one it picked.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from lxdplan.desired import Desired
from lxdplan.errors import ApiError, ConnectError, LxdplanError
from lxdplan.providers import pins
from lxdplan.providers.backend import Backend
from lxdplan.providers.client import Client
from lxdplan.providers.remotes import member_client
from lxdplan.state.observed import ONLINE, Observed


class Session:
    """Clients for one apply. ``observed`` is the state the plan was made from (for preferences
    only: every action re-reads what it changes)."""

    def __init__(self, desired: Desired, observed: Observed, *,
                 clients: dict[str, Client] | None = None):
        self.desired = desired
        self.observed = observed
        self._clients: dict[str, Client] = dict(clients or {})
        self._own: set[str] | None = set() if clients else None  # clients passed in are closed by their owner
        self._cluster: str | None = None
        self._server: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()  # defines run on several threads at once
        self.note: Callable[[str], None] = lambda text: None  # a progress line (waits)

    # -- clients ----------------------------------------------------------------------------------

    def client(self, member: str) -> Client:
        """The client of a declared member's own endpoint."""
        with self._lock:
            if member not in self._clients:
                declared = self.desired.member(member)
                if declared is None:
                    raise LxdplanError(f"member {member} is not declared in {self.desired.path}")
                self._clients[member] = member_client(self.desired, declared)
                if self._own is not None:
                    self._own.add(member)
            return self._clients[member]

    def reconnect(self, member: str) -> None:
        """Drop a member's connection (its certificate changed at bootstrap or join, or it left
        the cluster); the next request reconnects and checks the pins again."""
        client = self._clients.get(member)
        if client is not None:
            client.close()
        self._server.pop(member, None)
        if self._cluster == member:
            self._cluster = None

    def server(self, member: str, *, fresh: bool = False) -> dict[str, Any]:
        """``GET /1.0`` metadata of a member's own endpoint (cached unless ``fresh``)."""
        if fresh or member not in self._server:
            self._server[member] = self.client(member).get("/1.0").metadata or {}
        return self._server[member]

    def backend(self, member: str) -> Backend:
        return Backend.from_server(self.server(member))

    def use_cluster(self, member: str) -> None:
        """Route cluster-wide requests through ``member`` from now on (after bootstrap)."""
        self._cluster = member

    def cluster(self, *, avoid: str | None = None) -> Client:
        """A client to a reachable clustered member; ``avoid`` names one not to use (a member
        about to be removed)."""
        if self._cluster and self._cluster != avoid:
            return self.client(self._cluster)
        errors: list[str] = []
        for name in self._candidates():
            if name == avoid:
                continue
            try:
                env = self.server(name, fresh=True).get("environment") or {}
            except (ApiError, ConnectError) as exc:
                errors.append(str(exc))
                continue
            if env.get("server_clustered"):
                if avoid is None:
                    self._cluster = name
                return self.client(name)
        detail = f" ({errors[0]})" if errors else ""
        raise ConnectError(f"no declared member that belongs to the cluster can be reached{detail}")

    def _candidates(self) -> list[str]:
        declared = [m.name for m in self.desired.members]
        seen = self.observed.members
        silent = self.observed.not_serving()  # tried last: each costs a read timeout
        online = [n for n in declared if n in seen and self.observed.member_status(n) == ONLINE]
        rest = [n for n in declared if n not in online and n in seen and n not in silent]
        return (online + rest + [n for n in declared if n not in seen]
                + [n for n in declared if n in silent])

    def at(self, member: str | None) -> Client:
        """Where to send a request for ``?target=<member>``: the member's own endpoint when it is
        declared and clustered, else through the cluster client."""
        if member and self.desired.member(member) is not None:
            try:
                env = self.server(member).get("environment") or {}
                if env.get("server_clustered"):
                    return self.client(member)
            except (ApiError, ConnectError):
                pass
        return self.cluster()

    # -- pins -------------------------------------------------------------------------------------

    def pin_cluster_certificate(self, certificate: str) -> None:
        """Record the cluster certificate, read over a verified connection right after this
        apply's bootstrap or join, as this cluster's (replacing an earlier cluster's: a
        bootstrap makes a new one). The pins the user accepted for members not joined yet stay."""
        if certificate:
            pins.remember_cluster(pins.scope_of(self.desired), certificate)

    # -- lifetime ---------------------------------------------------------------------------------

    def close(self) -> None:
        for name, client in self._clients.items():
            if self._own is None or name in self._own:
                client.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
