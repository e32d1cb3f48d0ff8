"""The HTTP side of `lxdplan roll`: read members and instances, evacuate, restore, probe a member,
and keep the roll's record in the cluster.

The record is the profile ``lxdplan-lock-roll`` of the default project, its description JSON
(``rolling.Record``). A profile, for the lock's reason (``providers.lock``): its create, PATCH and
delete write the cluster database through the member asked and notify nobody, so they work while
upgraded members wait for the others. Its name starts with the lock's, so the planner, exporter
and status never see it.

How a member is (``health``): its own ``GET /1.0`` answered → serving (at the version it says);
the connection taken and nothing answered, or the answer not finished in time → waiting (an
upgraded member waiting for the others holds every request: LXD-FACTS "Upgrades"; a member busy
starting answers late), unless the cluster lists it Offline; refused or unreachable → down.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from lxdplan.desired import Desired
from lxdplan.errors import AnswerError, ApiError, ConnectError, LxdplanError
from lxdplan.keys import LOCK_PROFILE
from lxdplan.providers.client import Client, NoAnswer, path_of
from lxdplan.providers.session import Session
from lxdplan.rolling import DOWN, SERVING, WAITING, Record, RollInstance, RollMember, RollState, fixed_by
from lxdplan.state.observed import Observed

RECORD_PROFILE = f"{LOCK_PROFILE}-roll"
RECORD_PATH = path_of("profiles", RECORD_PROFILE)
PARAMS = {"project": "default"}


def _address(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


class RollCluster:
    """One roll's view of the cluster through the declared members' endpoints."""

    def __init__(self, desired: Desired, session: Session | None = None, *,
                 operation_timeout: float | None = None):
        self.desired = desired
        self.session = session or Session(desired, Observed())
        self.backend = desired.backend or ""
        self._via: str | None = None
        # An evacuation or restore is awaited no longer than the roll waits for anything else.
        self.operation_timeout = operation_timeout

    def close(self) -> None:
        self.session.close()

    # -- which member to ask ----------------------------------------------------------------------

    def client(self, member: str) -> Client:
        client = self.session.client(member)
        if self.operation_timeout is not None:
            client.operation_timeout = min(client.operation_timeout, self.operation_timeout)
        return client

    def via(self, *, avoid: str | None = None) -> Client:
        """A client to a member that serves (not ``avoid``): the one that served last if it
        still does."""
        names = [m.name for m in self.desired.members]
        if self._via in names:
            names.remove(self._via)
            names.insert(0, self._via)
        errors: list[str] = []
        for name in names:
            if name == avoid:
                continue
            try:
                server = self.client(name).get("/1.0").metadata or {}
            except (ApiError, ConnectError, AnswerError) as exc:  # a member busy restarting
                errors.append(str(exc))                            # may answer too late
                continue
            if (server.get("environment") or {}).get("server_clustered"):
                self._via = name
                self.backend = self.backend or ("incus" if "incus" in str(
                    (server.get("environment") or {}).get("server", "")) else "lxd")
                return self.client(name)
        detail = f" ({errors[0]})" if errors else ""
        raise ConnectError(f"no declared member of the cluster serves its API{detail}")

    # -- reading ----------------------------------------------------------------------------------

    def statuses(self) -> dict[str, dict[str, Any]]:
        """The cluster's member list, by name (as some serving member sees it)."""
        listing = self.via().get("/1.0/cluster/members", {"recursion": 1}).metadata or []
        return {m["server_name"]: m for m in listing}

    def probe(self, member: str, listed: dict[str, Any] | None = None) -> tuple[str, str]:
        """(health, version) of one member, from its own endpoint (a member the file does not
        declare: from the cluster's word)."""
        if self.desired.member(member) is None:
            status = (listed or {}).get("status")
            return (DOWN if status in ("Offline", None) else SERVING), ""
        try:
            server = self.client(member).get("/1.0").metadata or {}
        except (NoAnswer, AnswerError):  # held, or answered too late: busy starting or waiting
            if listed is not None and listed.get("status") == "Offline":
                return DOWN, ""
            return WAITING, ""
        except (ApiError, ConnectError):
            self.session.reconnect(member)
            return DOWN, ""
        return SERVING, str((server.get("environment") or {}).get("server_version", ""))

    def read(self) -> RollState:
        listing = self.statuses()
        members = []
        for name, m in listing.items():
            health, version = self.probe(name, m)
            members.append(RollMember(
                name=name, address=_address(str(m.get("url", ""))),
                roles=tuple(m.get("roles") or ()), status=str(m.get("status", "")),
                version=version, failure_domain=str(m.get("failure_domain") or "default"),
                health=health))
        return RollState(self.backend or "lxd", tuple(members), self.instances(),
                         self.read_record(), self._declared_in_domain(listing))

    def instances(self) -> tuple[RollInstance, ...]:
        client = self.via()
        pools = {p["name"]: str(p.get("driver", "")) for p in
                 client.get("/1.0/storage-pools", {"recursion": 1}).metadata or []}
        managed = {str(n.get("name")) for n in
                   client.get("/1.0/networks", {"recursion": 1}).metadata or [] if n.get("managed")}
        found = []
        for inst in client.get("/1.0/instances", {"recursion": 1, "all-projects": "true"}).metadata or []:
            devices = inst.get("expanded_devices") or {}
            pool = next((str(d.get("pool", "")) for d in devices.values()
                         if d.get("type") == "disk" and d.get("path") == "/"), "")
            found.append(RollInstance(
                name=inst["name"], project=str(inst.get("project") or "default"),
                location=str(inst.get("location", "")), status=str(inst.get("status", "")),
                evacuate=str((inst.get("expanded_config") or {}).get("cluster.evacuate") or "auto"),
                pool=pool, pool_driver=pools.get(pool, ""),
                fixed_by=fixed_by(devices, self.backend or "lxd", pools, managed)))
        return tuple(found)

    def _declared_in_domain(self, listing: dict[str, dict[str, Any]]) -> dict[str, tuple[str, ...]]:
        domains: dict[str, list[str]] = {}
        for inst in self.desired.objects.get("instances", ()):
            member = getattr(inst, "member", None)
            if member in listing:
                domain = str(listing[member].get("failure_domain") or "default")
                domains.setdefault(domain, []).append(inst.name)
        return {d: tuple(n) for d, n in domains.items()}

    # -- changing ---------------------------------------------------------------------------------

    def set_state(self, member: str, action: str) -> None:
        """Evacuate or restore ``member`` (an operation awaited to its end)."""
        path = f"{path_of('cluster', 'members', member)}/state"
        try:
            self.client(member).post(path, {"action": action})
        except NoAnswer:
            raise
        except ConnectError:
            self.via(avoid=member).post(path, {"action": action})

    def start_instance(self, project: str, name: str) -> None:
        """Start an instance (an operation awaited to its end)."""
        self.via().put(f"{path_of('instances', name)}/state", {"action": "start", "timeout": -1},
                       params={"project": project})

    def member_operations(self, member: str) -> list[str]:
        """Evacuations and restores still running on ``member`` (a killed roll's request goes
        on inside the daemon: Incus lists the member Evacuated while it still stops or moves
        its instances)."""
        try:
            ops = self.client(member).get("/1.0/operations", {"recursion": 1}).metadata or {}
        except (ApiError, ConnectError, AnswerError):
            return []
        return [str(op.get("id", "")) for op in (ops.get("running") or [])
                if "cluster member" in str(op.get("description", "")).lower()]

    # -- the record -------------------------------------------------------------------------------

    def read_record(self) -> Record | None:
        try:
            answer = self.via().get(RECORD_PATH, PARAMS)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        try:
            return Record.from_dict(json.loads((answer.metadata or {}).get("description") or "{}"))
        except (ValueError, TypeError, AttributeError):
            return Record()

    def save_record(self, record: Record) -> None:
        body = {"description": json.dumps(record.to_dict(), sort_keys=True)}
        client = self.via()
        try:
            client.patch(RECORD_PATH, body, params=PARAMS)
        except ApiError as exc:
            if exc.status != 404:
                raise
            try:
                client.post("/1.0/profiles", {"name": RECORD_PROFILE, **body, "config": {},
                                              "devices": {}}, params=PARAMS)
            except ApiError as again:
                raise LxdplanError(f"the roll's record cannot be written: {again}") from again

    def delete_record(self) -> None:
        try:
            self.via().delete(RECORD_PATH, params=PARAMS)
        except ApiError as exc:
            if exc.status != 404:
                raise


class ServingClient:
    """What ``ClusterLock`` needs of a client (``get``, ``post``, ``patch``, ``delete``), sent
    each time to a member that serves: the roll takes members out one by one, and its lock must
    stay reachable (and renewable) through all of them. Each request re-picks a serving member
    only when the one used last stops answering."""

    def __init__(self, cluster: RollCluster):
        self.cluster = cluster

    @property
    def member(self) -> str | None:
        return self.cluster._via

    def _send(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.cluster.via(), method)(*args, **kwargs)
        except ConnectError:
            self.cluster._via = None
            return getattr(self.cluster.via(), method)(*args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._send("get", *args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        return self._send("post", *args, **kwargs)

    def patch(self, *args: Any, **kwargs: Any) -> Any:
        return self._send("patch", *args, **kwargs)

    def put(self, *args: Any, **kwargs: Any) -> Any:
        return self._send("put", *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self._send("delete", *args, **kwargs)
