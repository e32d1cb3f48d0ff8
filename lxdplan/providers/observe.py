"""Read the live state of the declared members and their cluster into ``Observed``.

Order: probe every declared endpoint at once (``GET /1.0``); if a member is clustered, read the
cluster through one of them (the reader) and fan the member-specific reads out to each member's
own endpoint (``?target=<member>`` sent to that member, else forwarded through the reader), all in
flight together on a bounded thread pool. The per-member reads do not wait for the costly
``recursion=1`` listings: they start from the cheap pool name list and the file's networks, and
the listings, arriving meanwhile, decide which answers count. An unreachable or offline member is
recorded, never fatal; a wrong certificate pin or a backend mismatch is.

Two levels of detail. ``FULL`` reads every member's view of every pool and network (``status``,
``export`` and ``import`` show or copy them). ``PLAN`` reads only what the planner compares: a
member's view of a pool or network when the file declares member-specific keys for that member,
or when the object's cluster-wide status is not ``Created`` (a Pending object resumes from the
members that lack a definition, an Errored one names the members that failed). A declared
network read no member's view of gets its ETag from one untargeted GET. Two observations are
comparable (``Observed.digest``) only at the same detail.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urlsplit

from lxdplan import keys
from lxdplan.desired import Desired
from lxdplan.errors import ApiError, ConnectError, LxdplanError, TrustError
from lxdplan.providers import parse, pins
from lxdplan.providers.assemble import Answers, assemble
from lxdplan.providers.backend import Backend
from lxdplan.providers.client import Client, NoAnswer, Response, busy, path_of
from lxdplan.state.observed import Observed, Standalone, not_serving

MISSING = (ApiError, ConnectError)
PER_MEMBER = 8  # reads in flight to one endpoint (see _Observer.fetch)
FULL, PLAN = "full", "plan"  # observe(detail=...)
CREATED = "Created"
VOLUMES = {"recursion": 1, "all-projects": "true"}


def make_clients(desired: Desired) -> dict[str, Client]:
    """One client per declared member, pinned by its declared fingerprint and the pin store
    (a ``remote:NAME`` endpoint adds that remote's pinned certificate)."""
    from lxdplan.providers.remotes import member_client

    return {m.name: member_client(desired, m) for m in desired.members}


def observe(
    desired: Desired, *, concurrency: int = 64, clients: dict[str, Client] | None = None,
    detail: str = FULL,
) -> Observed:
    """The live state for ``desired``'s members. ``clients`` may be passed in to reuse them.

    ``detail`` is ``FULL`` (every member's view of every pool and network) or ``PLAN`` (only the
    member views the planner compares; see the module docstring).
    """
    if detail not in (FULL, PLAN):
        raise ValueError(f"observe detail must be {FULL!r} or {PLAN!r}, not {detail!r}")
    own = clients is None
    clients = clients if clients is not None else make_clients(desired)
    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return _Observer(desired, clients, pool, detail).run()
    finally:
        if own:
            for client in clients.values():
                client.close()


def probe(desired: Desired, *, clients: dict[str, Client]) -> dict[str, Standalone]:
    """Only each declared member's own ``GET /1.0``: who is reachable, trusted, clustered."""
    with ThreadPoolExecutor(max_workers=max(1, len(clients))) as pool:
        return _Observer(desired, clients, pool).probe_all()


class _Observer:
    def __init__(self, desired: Desired, clients: dict[str, Client], pool: ThreadPoolExecutor,
                 detail: str = FULL):
        self.desired, self.clients, self.pool = desired, clients, pool
        # At most PER_MEMBER reads in flight to one endpoint: the server, not the client, is the
        # cost, and a member flooded with reads answers its own listings late (at 500 objects,
        # 64 reads through one LXD 5.0.2 member held GET /1.0/networks past the read bound).
        self.gates: dict[int, threading.BoundedSemaphore] = {}
        self.gates_lock = threading.Lock()
        self.lean = detail == PLAN
        self.probes: dict[str, Response] = {}
        # Members whose view of a pool / network the file's member-specific keys need.
        self.keyed_pools = {p.name: {m for m, c in p.members.items() if c}
                            for p in desired.storage_pools}
        self.keyed_nets = {n.name: {m for m, c in n.members.items() if c}
                           for n in desired.networks}

    def fetch(self, client: Client, path: str, params: dict[str, Any] | None = None) -> Response:
        """``client.get`` within that endpoint's share of the concurrency."""
        with self.gates_lock:
            gate = self.gates.setdefault(id(client), threading.BoundedSemaphore(PER_MEMBER))
        with gate:
            return client.get(path, params)

    def wanted(self, keyed: dict[str, set[str]], name: str, member: str,
               status: str | None = None) -> bool:
        """Whether to read ``member``'s view of pool/network ``name`` (``status`` from the
        listing; ``None`` before the listing arrives, when only declared keys justify a read)."""
        if not self.lean or (status is not None and status != CREATED):
            return True
        return member in keyed.get(name, ())

    # -- probing ----------------------------------------------------------------------------------

    def probe_all(self) -> dict[str, Standalone]:
        futures = {name: self.pool.submit(c.get, "/1.0") for name, c in self.clients.items()}
        found: dict[str, Standalone] = {}
        mistrusted: dict[str, TrustError] = {}
        for name, fut in futures.items():
            try:
                found[name] = self._standalone(name, fut.result())
            except TrustError as exc:
                mistrusted[name] = exc
            except NoAnswer as exc:
                found[name] = Standalone(name=name, reachable=False, error=str(exc),
                                         trusted=False, no_answer=True)
            except MISSING as exc:
                found[name] = Standalone(name=name, reachable=False, error=str(exc), trusted=False)
        if mistrusted:
            # A member that joined since its fingerprint was declared serves the cluster
            # certificate: learn it from a verified clustered member, then try once more.
            self.remember_cluster_certificate(found)
            for name, exc in mistrusted.items():
                try:
                    found[name] = self._standalone(name, self.clients[name].get("/1.0"))
                except TrustError:
                    raise exc from None
                except MISSING as err:
                    found[name] = Standalone(name=name, reachable=False, error=str(err), trusted=False)
        return {m.name: found[m.name] for m in self.desired.members}

    def _standalone(self, name: str, response: Response) -> Standalone:
        self.probes[name] = response
        return parse.parse_server(name, response.metadata or {}, response.etag)

    def remember_cluster_certificate(
        self, found: dict[str, Standalone], members: list[dict[str, Any]] | None = None
    ) -> str:
        """Pin the cluster certificate, read over a verified connection, for every member address.

        The store is written only when it does not hold that certificate for them already.
        """
        for name, st in found.items():
            env = (self.probes[name].metadata or {}).get("environment") or {}
            if not (st.reachable and st.trusted and st.clustered and env.get("certificate")):
                continue
            if members is None:
                try:
                    members = self.clients[name].get(
                        "/1.0/cluster/members", params={"recursion": 1}).metadata or []
                except MISSING:
                    members = []
            urls = [m["url"] for m in members if m.get("url")]
            hosts = {pins.host_key(u) for u in urls}
            addresses = urls + [c.endpoint for c in self.clients.values()
                                if c.scheme == "https" and pins.host_key(c.endpoint) in hosts]
            fp = parse.fingerprint(env["certificate"])
            known = pins.load()
            if any(known.get(pins.host_key(a), {}).get("fingerprint") != fp for a in addresses):
                pins.remember(addresses, certificate=env["certificate"], source=pins.CLUSTER)
            return env["certificate"]
        return ""

    # -- the whole read ---------------------------------------------------------------------------

    def run(self) -> Observed:
        standalone = self.probe_all()
        live = [s for s in standalone.values() if s.reachable and s.trusted and s.backend]
        for st in live:
            if self.desired.backend and st.backend != self.desired.backend:
                raise LxdplanError(
                    f"{self.desired.path} declares backend {self.desired.backend}, but member "
                    f"{st.name} ({self.clients[st.name].endpoint}) runs {st.backend}"
                )
        readers = [s for s in live if s.clustered]
        if not readers:
            first = live[0] if live else None
            backend = Backend(first.backend if first else (self.desired.backend or "lxd"),
                              first.version if first else "",
                              frozenset(first.api_extensions if first else ()))
            return Observed(
                backend=backend.name,
                server_version=backend.version,
                api_extensions=first.api_extensions if first else (),
                clustered=False,
                standalone=self.token_fields(standalone, backend),
                builtin_descriptions=Backend(self.desired.backend or backend.name, "",
                                             frozenset()).builtin_descriptions,
            )
        cluster = Backend.from_server(self.probes[readers[0].name].metadata or {})
        return self.read_cluster(readers[0], self.token_fields(standalone, cluster))

    def token_fields(self, standalone: dict[str, Standalone], cluster: Backend) -> dict[str, Standalone]:
        """Each member's join token field, from its own answer; a member that did not say what
        it runs (an untrusted client is not told) is taken to run the declared backend, else the
        cluster's, with its own extensions, else the cluster's."""
        out = {}
        for name, st in standalone.items():
            kind = st.backend or self.desired.backend or cluster.name
            extensions = frozenset(st.api_extensions) or cluster.api_extensions
            out[name] = dataclasses.replace(
                st, join_token_field=Backend(kind, st.version, extensions).join_token_field)
        return out

    def read_cluster(self, reader_st: Standalone, standalone: dict[str, Standalone]) -> Observed:
        reader = self.clients[reader_st.name]
        meta = self.probes[reader_st.name].metadata
        backend = Backend.from_server(meta)
        submit = self.pool.submit

        def get(path: str, params: dict[str, Any] | None = None) -> Response:
            return self.fetch(reader, path, params)

        # Phase A, all in flight together: the members (cheap; they unlock the per-member reads),
        # the pool names (cheap, no recursion) and the full listings (the costly ones on LXD).
        a_members = submit(get, "/1.0/cluster/members", {"recursion": 1})
        a_pool_names = submit(get, "/1.0/storage-pools")
        a_nets = submit(get, "/1.0/networks", {"recursion": 1})
        a_pools = submit(get, "/1.0/storage-pools", {"recursion": 1})
        a_groups = submit(get, "/1.0/cluster/groups", {"recursion": 1})
        a_projects = submit(get, "/1.0/projects", {"recursion": 1})
        profiles_params = {"recursion": 1, "all-projects": "true"} if backend.all_projects_profiles \
            else {"recursion": 1}
        a_profiles = submit(get, "/1.0/profiles", profiles_params)
        a_instances = submit(get, "/1.0/instances", {"recursion": 1, "all-projects": "true"})
        a_images = submit(get, "/1.0/images", {"recursion": 1})

        members_raw = a_members.result().metadata or []
        if any(c.scheme == "https" for c in self.clients.values()):
            self.remember_cluster_certificate({reader_st.name: reader_st}, members_raw)
        names = [m["server_name"] for m in members_raw]
        # Member name -> client of its own endpoint, when declared, reachable and trusted.
        direct = {
            st.server_name: self.clients[st.name]
            for st in standalone.values()
            if st.reachable and st.trusted and st.clustered and st.server_name in names
        }
        probe_by_member = {st.server_name: self.probes[st.name] for st in standalone.values()
                           if st.server_name in direct}

        # Nothing is asked of an Offline member nor of one that does not serve: a read forwarded
        # to a member that holds requests fails only after the server's own 10 s.
        offline = {m["server_name"] for m in members_raw if m.get("status") == "Offline"}
        offline |= not_serving(
            backend.name, {m["server_name"]: m.get("status", "") for m in members_raw},
            answered={st.name for st in standalone.values() if st.reachable},
            silent={st.name for st in standalone.values() if st.no_answer},
        )
        local: dict[str, Future] = {}
        sent: dict[tuple[str, str, str], Future | None] = {}

        def at(member: str, path: str, params: dict[str, Any] | None = None) -> Future | None:
            """A member-specific GET: to the member's own endpoint, else forwarded by the reader.

            Nothing is asked of an Offline member; a forwarded read waits for the member's
            forwarded ``GET /1.0`` first, so a dead member costs one server timeout, not one each.
            A read already sent (ahead of the listings) is not sent again.
            """
            if member in offline:
                return None
            key = (member, path, repr(sorted((params or {}).items())))
            if key in sent:
                return sent[key]
            params = {**(params or {}), "target": member}
            if member in direct:
                fut = submit(self.fetch, direct[member], path, params)
            else:
                gate = local.get(member)

                def forwarded() -> Response:
                    if gate is not None and gate.exception() is not None:
                        raise gate.exception()
                    return get(path, params)

                fut = submit(forwarded)
            sent[key] = fut
            return fut

        for m in names:
            if m not in probe_by_member:
                local[m] = at(m, "/1.0")
        # Phase B starts before the listings arrive: each member's reads of the declared networks
        # and of every pool named by the cheap list (at PLAN detail, only the reads the file's
        # member-specific keys need, and the untargeted ETag read of a declared network that has
        # none). The listings then decide which answers count (a read of an object the member
        # does not hold is simply not used) and add any missing.
        untargeted: dict[str, Future] = {}
        for n in self.desired.networks:
            if n.type != "ovn":
                for m in names:
                    if self.wanted(self.keyed_nets, n.name, m):
                        at(m, path_of("networks", n.name))
                if self.lean and not self.keyed_nets.get(n.name):
                    untargeted[n.name] = submit(get, path_of("networks", n.name))
        pool_names = _names(a_pool_names)
        for p in pool_names:
            for m in names:
                if self.wanted(self.keyed_pools, p, m):
                    at(m, path_of("storage-pools", p))
        volumes_sent = {
            p: submit(get, path_of("storage-pools", p, "volumes"), VOLUMES) for p in pool_names
        }
        etags = self._etag_reads(direct, reader, skip=offline)

        nets_raw = parse.managed_networks(a_nets.result().metadata or [])
        net_reads = {}
        declared_nets = {n.name for n in self.desired.networks}
        for n in nets_raw:
            name, status = n["name"], n.get("status", "")
            if n.get("type") == "ovn":
                net_reads[(name, "")] = submit(get, path_of("networks", name))
                continue
            for m in n.get("locations") or ():
                if self.wanted(self.keyed_nets, name, m, status):
                    fut = at(m, path_of("networks", name))
                    if fut is not None:
                        net_reads[(name, m)] = fut
            if (self.lean and name in declared_nets and name not in untargeted
                    and not any(nn == name for nn, _ in net_reads)):
                untargeted[name] = submit(get, path_of("networks", name))
        pools_raw = a_pools.result().metadata or []
        pool_reads = {(p["name"], m): at(m, path_of("storage-pools", p["name"]))
                      for p in pools_raw for m in (p.get("locations") or ())
                      if self.wanted(self.keyed_pools, p["name"], m, p.get("status", ""))}
        pool_reads = {k: f for k, f in pool_reads.items() if f is not None}
        volume_reads = {
            p["name"]: volumes_sent.get(p["name"])
            or submit(get, path_of("storage-pools", p["name"], "volumes"), VOLUMES)
            for p in pools_raw
        }
        projects_raw = a_projects.result().metadata or []
        extra_profiles: list[tuple[str, Future]] = []
        if not backend.all_projects_profiles:
            extra_profiles = [
                (p["name"], submit(get, "/1.0/profiles", {"recursion": 1, "project": p["name"]}))
                for p in projects_raw
                if p["name"] != "default" and (p.get("config") or {}).get("features.profiles") == "true"
            ]

        # Images are per project only where the project has its own (features.images).
        image_reads = [("default", a_images)] + [
            (p["name"], submit(get, "/1.0/images", {"recursion": 1, "project": p["name"]}))
            for p in projects_raw
            if p["name"] != "default" and (p.get("config") or {}).get("features.images") == "true"
        ]

        # Record every answer as plain data; deciding which ones count is assembly (pure).
        servers = {name: probe_by_member.get(name) or _result(local.get(name)) for name in names}
        return assemble(Answers(
            backend=backend,
            server=(meta, self.probes[reader_st.name].etag),
            reader=reader_st.server_name,
            standalone=standalone,
            members=members_raw,
            member_servers={n: (r.metadata, r.etag) for n, r in servers.items() if r is not None},
            groups=a_groups.result().metadata or [],
            pools=pools_raw,
            networks=nets_raw,
            pool_views=_recorded(pool_reads),
            network_views=_recorded(net_reads),
            network_etags={n: _etag(f) for n, f in untargeted.items()},
            profiles=[(project, fut.result().metadata or [])
                      for project, fut in [("default", a_profiles)] + extra_profiles],
            projects=projects_raw,
            volumes={p: (_result(f).metadata or []) if _ok(f) else []
                     for p, f in volume_reads.items()},
            etags={key: _etag(f) for key, f in etags.items()},
            images=[(project, fut.result().metadata or []) for project, fut in image_reads],
            instances=a_instances.result().metadata or [],
        ))

    def _etag_reads(self, direct: dict[str, Client], reader: Client,
                    skip: set[str] = frozenset()) -> dict[tuple, Future]:
        """ETags come only from single-object GETs: read them for the objects the file declares
        (a volume on a member in ``skip``, which cannot answer, goes without). At ``PLAN``
        detail only the members': the other objects' ETags are read after planning, for the
        objects a step updates only (``read_etags``), so a plan that changes nothing reads none."""
        d, out = self.desired, {}

        def get(path: str, params: dict[str, Any] | None = None) -> Response:
            return self.fetch(reader, path, params)

        for m in d.members:
            out[("member", m.name)] = self.pool.submit(get, path_of("cluster", "members", m.name))
        if self.lean:
            return out
        for g in d.cluster_groups:
            out[("group", g.name)] = self.pool.submit(get, path_of("cluster", "groups", g.name))
        for p in d.profiles:
            out[("profile", p.project, p.name)] = self.pool.submit(
                get, path_of("profiles", p.name), {"project": p.project})
        for p in d.projects:
            out[("project", p.name)] = self.pool.submit(get, path_of("projects", p.name))
        for i in d.instances:
            out[("instance", i.project, i.name)] = self.pool.submit(
                get, path_of("instances", i.name), {"project": i.project})
        for v in d.storage_volumes:
            if v.member in skip:
                continue
            params = {"project": v.project, "target": v.member}
            client = direct.get(v.member or "", reader)
            out[("volume", v.project, v.pool, v.member or "", v.name)] = self.pool.submit(
                self.fetch, client, path_of("storage-pools", v.pool, "volumes", v.type, v.name), params)
        return out


def _names(fut: Future) -> list[str]:
    """Object names from a collection GET without recursion (a list of URLs); none on failure."""
    answer = _result(fut)
    urls = (answer.metadata if answer else None) or []
    return [unquote(urlsplit(u).path.rsplit("/", 1)[-1]) for u in urls if isinstance(u, str)]


def _ok(fut: Future | None) -> bool:
    return fut is not None and fut.exception() is None


def _result(fut: Future | None) -> Response | None:
    if fut is None:
        return None
    exc = fut.exception()
    if exc is None:
        return fut.result()
    if isinstance(exc, MISSING) and not (isinstance(exc, ApiError) and busy(exc)):
        return None  # the member is down or the object gone; a busy server is no answer at all
    raise exc


def _etag(fut: Future | None) -> str | None:
    answer = _result(fut)
    return answer.etag if answer else None


def _recorded(reads: dict[tuple[str, str], Future]) -> dict[tuple[str, str], tuple[Any, str | None]]:
    """Each read's answer as (metadata, ETag), in read order; reads of a member that is down
    (or of an object it does not hold) are left out."""
    out = {}
    for key, fut in reads.items():
        answer = _result(fut)
        if answer is not None:
            out[key] = (answer.metadata, answer.etag)
    return out
