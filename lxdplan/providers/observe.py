"""Read the live state of the declared members and their cluster into ``Observed``.

Order: probe every declared endpoint at once (``GET /1.0``); if a member is clustered, read the
cluster through one of them (the reader) and fan the member-specific reads out to each member's
own endpoint (``?target=<member>`` sent to that member, else forwarded through the reader), all in
flight together on a bounded thread pool. Which reads, is each kind's word (``KindSpec``,
"reading it live"): its listings go out at once; its early reads (the members' views, from a
cheap name list or the file) as soon as the members are known, not waiting for the costly
``recursion=1`` listings; the reads the listings decide when those arrive. Every answer is
recorded as plain data and assembled (``providers.assemble``, pure). An unreachable or offline
member is recorded, never fatal; a wrong certificate pin or a backend mismatch is.

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
from typing import Any, Hashable

from lxdplan.desired import Desired
from lxdplan.errors import ApiError, ConnectError, LxdplanError, TrustError
from lxdplan.kinds import DependentReads, EarlyReads
from lxdplan.livedata import Get, Reading, Recorded
from lxdplan.providers import joining, parse, pins
from lxdplan.providers.assemble import Answers, assemble
from lxdplan.providers.backend import Backend
from lxdplan.providers.certs import load_client_cert
from lxdplan.providers.client import Client, NoAnswer, Response, busy, path_of
from lxdplan.registry import registry
from lxdplan.state.observed import Observed, Standalone, not_serving

MISSING = (ApiError, ConnectError)
PER_MEMBER = 8  # reads in flight to one endpoint (see _Observer.fetch)
FULL, PLAN = "full", "plan"  # observe(detail=...)


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

    def fetch(self, client: Client, path: str, params: dict[str, Any] | None = None,
              not_ready_wait: float | None = None) -> Response:
        """``client.get`` within that endpoint's share of the concurrency."""
        with self.gates_lock:
            gate = self.gates.setdefault(id(client), threading.BoundedSemaphore(PER_MEMBER))
        with gate:
            return client.get(path, params, not_ready_wait=not_ready_wait)

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
            for name, refused in mistrusted.items():
                try:
                    found[name] = self._standalone(name, self.clients[name].get("/1.0"))
                except TrustError:
                    raise refused from None
                except MISSING as err:
                    found[name] = Standalone(name=name, reachable=False, error=str(err), trusted=False)
        return {m.name: found[m.name] for m in self.desired.members}

    def _standalone(self, name: str, response: Response) -> Standalone:
        self.probes[name] = response
        return parse.parse_server(name, response.metadata or {}, response.etag)

    def remember_cluster_certificate(
        self, found: dict[str, Standalone], members: list[dict[str, Any]] | None = None
    ) -> str:
        """Pin this cluster's certificate (``pins.scope_of``), read from a clustered member over
        a verified connection: the unix socket, or HTTPS presenting that very certificate
        (checked against the member's pins). Nothing the member list names is pinned. The store
        is written only when it does not hold that certificate already. (``members`` is unused.)
        """
        for name, st in found.items():
            env = (self.probes[name].metadata or {}).get("environment") or {}
            client = self.clients[name]
            if not (st.reachable and st.trusted and st.clustered and env.get("certificate")):
                continue
            fp = parse.fingerprint(env["certificate"])
            if client.scheme == "https" and client.server_fingerprint != fp:
                continue  # not the certificate this connection verified
            scope = pins.scope_of(self.desired)
            known = pins.scope(scope).cluster
            if known is None or known.fingerprint != fp:
                pins.remember_cluster(scope, env["certificate"])
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
                sections=[spec.section for spec in registry()],
            )
        cluster = Backend.from_server(self.probes[readers[0].name].metadata or {})
        return self.read_cluster(readers[0], self.token_fields(standalone, cluster))

    def client_fingerprints(self) -> tuple[str, ...]:
        """The client certificates lxdplan presents: its own and each connection's."""
        own = load_client_cert()
        certs = [getattr(c, "cert", None) for c in self.clients.values()]
        found = {cert.fingerprint for cert in certs if cert is not None}
        return tuple(sorted(found | ({own.fingerprint} if own else set())))

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
        """Read the cluster through ``reader_st``: the members (membership) and every kind's
        declared reads, in rounds (``KindSpec``, "reading it live"): the listings at once, the
        early reads once the members are known (before the listings return), then the reads the
        answers decide. Assembly (``providers.assemble``) is pure."""
        reader = self.clients[reader_st.name]
        backend = Backend.from_server(self.probes[reader_st.name].metadata)
        reads = _ClusterReads(self, reader)
        members_read = reads.send(Get.of("/1.0/cluster/members", {"recursion": 1}))
        ctx = Reading(desired=self.desired, backend=backend, lean=self.lean)
        reads.ask_listings(ctx)
        assert members_read is not None  # a cluster-wide read is always sent
        members_raw = members_read.result().metadata or []
        if any(c.scheme == "https" for c in self.clients.values()):
            self.remember_cluster_certificate({reader_st.name: reader_st}, members_raw)
        names = [m["server_name"] for m in members_raw]
        standalone = self.joining(standalone, names)
        probed = reads.meet_members(standalone, members_raw, backend)
        ctx = dataclasses.replace(ctx, members=tuple(names), offline=frozenset(reads.offline))
        # Incus refuses a read forwarded to a member it cannot reach "Server isn't ready yet",
        # which is also what a member restarted moments ago gets until the next heartbeat. Only
        # a declared member whose own endpoint did not refuse the connection is worth
        # NOT_READY_WAIT; the view of a member the file no longer declares (leaving) or whose
        # endpoint is down is asked once (a dead member stays listed Online until the offline
        # threshold, an evacuated one Evacuated for good, and each cost every plan that wait).
        down = {n for n, st in standalone.items() if not st.reachable and not st.no_answer}
        servers = {m: reads.send(Get.of("/1.0", member=m), not_ready_wait=(
                       None if self.desired.member(m) and m not in down else 0.0))
                   for m in names if m not in probed}
        reads.gates = servers  # a forwarded read waits for its member's own GET /1.0 first
        for spec in registry():
            if isinstance(spec, EarlyReads):
                reads.ask(spec.section, spec.early_reads(ctx, reads.recorded(spec.early_needs)))
        member_etags = {m.name: reads.send(Get.of(path_of("cluster", "members", m.name)))
                        for m in self.desired.members}
        for spec in registry():
            if isinstance(spec, DependentReads):
                reads.ask(spec.section, spec.reads(ctx, reads.recorded(spec.needs)))

        # Record every answer as plain data; deciding which ones count is assembly (pure).
        answered = {m: probed.get(m) or _server(servers.get(m)) for m in names}
        return assemble(Answers(
            backend=backend,
            server=(self.probes[reader_st.name].metadata, self.probes[reader_st.name].etag),
            reader=reader_st.server_name,
            standalone=standalone,
            members=members_raw,
            member_servers={m: (r.metadata, r.etag) for m, r in answered.items() if r is not None},
            member_etags={m: _etag(f) for m, f in member_etags.items()},
            objects=reads.record(),
            desired=self.desired,
            lean=self.lean,
            client_fingerprints=self.client_fingerprints(),
        ))


    def joining(self, standalone: dict[str, Standalone], names: list[str]) -> dict[str, Standalone]:
        """Mark the declared members the cluster does not list that run a join task (a join in
        flight, ``providers.joining``): their own operations, read at once."""
        asked = {n: self.pool.submit(joining.read_join_running, self.clients[n])
                 for n, st in standalone.items()
                 if n not in names and st.reachable and st.trusted and st.backend}
        return {n: dataclasses.replace(st, joining=True) if n in asked and asked[n].result() else st
                for n, st in standalone.items()}


class _ClusterReads:
    """The reads of one cluster observation in flight: each sent once (a ``Get`` asked again,
    by any kind, shares the first answer), member-specific ones to the member's own endpoint
    else forwarded by the reader, nothing to a member that is offline or does not serve."""

    def __init__(self, observer: _Observer, reader: Client):
        self.observer, self.reader = observer, reader
        self.direct: dict[str, Client] = {}  # member -> client of its own endpoint
        self.offline: set[str] = set()
        self.gates: dict[str, Future | None] = {}
        self.sent: dict[Get, Future | None] = {}
        self.asked: dict[str, dict[Hashable, tuple[Get, Future | None]]] = {}

    def meet_members(self, standalone: dict[str, Standalone], members: list[dict[str, Any]],
                     backend: Backend) -> dict[str, Response]:
        """Learn who answers for whom from the member list; return the members' own probes."""
        names = {m["server_name"] for m in members}
        probes = self.observer.probes
        self.direct = {st.server_name: self.observer.clients[st.name]
                       for st in standalone.values()
                       if st.reachable and st.trusted and st.clustered and st.server_name in names}
        # Nothing is asked of an Offline member nor of one that does not serve: a read forwarded
        # to a member that holds requests fails only after the server's own 10 s.
        self.offline = {m["server_name"] for m in members if m.get("status") == "Offline"}
        self.offline |= not_serving(
            backend.name, {m["server_name"]: m.get("status", "") for m in members},
            answered={st.name for st in standalone.values() if st.reachable},
            silent={st.name for st in standalone.values() if st.no_answer},
        )
        return {st.server_name: probes[st.name] for st in standalone.values()
                if st.server_name in self.direct}

    def send(self, get: Get, not_ready_wait: float | None = None) -> Future | None:
        """Send ``get`` unless it was sent already or its member is offline (None);
        ``not_ready_wait`` bounds how long a forwarded read refused as not ready is asked again
        (``Client.get``)."""
        if get.member in self.offline:
            return None
        if get in self.sent:
            return self.sent[get]
        params, fetch, submit = dict(get.params), self.observer.fetch, self.observer.pool.submit
        if get.member is None:
            fut = submit(fetch, self.reader, get.path, params or None)
        elif get.member in self.direct:
            fut = submit(fetch, self.direct[get.member], get.path, {**params, "target": get.member})
        else:
            gate = self.gates.get(get.member)

            def forwarded() -> Response:
                if gate is not None and gate.exception() is not None:
                    raise MemberDown(str(gate.exception()), member=get.member)
                return fetch(self.reader, get.path, {**params, "target": get.member},
                             not_ready_wait)

            fut = submit(forwarded)
        self.sent[get] = fut
        return fut

    def ask(self, section: str, reads: dict[Hashable, Get]) -> None:
        for key, get in reads.items():
            self.asked.setdefault(section, {})[key] = (get, self.send(get))

    def ask_listings(self, reading: Reading) -> None:
        """Every kind's listings, those some kind's early reads wait for first."""
        first = {need for spec in registry() if isinstance(spec, EarlyReads) for need in spec.early_needs}
        listings = [(spec.section, key, get) for spec in registry()
                    for key, get in spec.listings(reading).items()]
        for section, key, get in sorted(listings, key=lambda r: (r[0], r[1]) not in first):
            self.ask(section, {key: get})

    def recorded(self, needs=None) -> Recorded:
        """The answers to ``needs`` (``(section, key)`` pairs), waited for; all when None."""
        wanted = needs if needs is not None else [
            (section, key) for section, keyed in self.asked.items() for key in keyed]
        out = Recorded()
        for section, key in wanted:
            get, fut = self.asked[section][key]
            answer = _result(fut, required=get.required)
            if answer is not None:
                out.answers.setdefault(section, {})[key] = (answer.metadata, answer.etag)
        return out

    def record(self) -> Recorded:
        return self.recorded(None)


class MemberDown(ConnectError):
    """A forwarded read not sent: its member's own ``GET /1.0``, forwarded first, failed."""


def _result(fut: Future | None, *, required: bool = False) -> Response | None:
    """A read's answer; None when its member is down (it could not be connected to, or its
    forwarded ``GET /1.0`` failed) or the object is not there (404). Any other failure — a
    busy database, a member that took the request and answered nothing, a server error, a
    dropped connection — fails the observation, as does any failure of a ``required`` read:
    taken as "not there", it would plan a change the cluster does not need (seen at 500 objects
    on LXD 5.0.2 under load: a member's pool view read as missing planned its ``source``)."""
    if fut is None:
        return None
    exc = fut.exception()
    if exc is None:
        return fut.result()
    if not required and _absent(exc):
        return None
    raise exc


def _server(fut: Future | None) -> Response | None:
    """A member's own ``GET /1.0``, forwarded by the reader: None when it failed (the member is
    down: the reader could not reach it), but a busy database fails the observation."""
    if fut is None or fut.exception() is None:
        return _result(fut)
    exc = fut.exception()
    if isinstance(exc, MISSING) and not (isinstance(exc, ApiError) and busy(exc)):
        return None
    assert exc is not None
    raise exc


def _absent(exc: BaseException) -> bool:
    if isinstance(exc, ApiError):
        return exc.status == 404 and not busy(exc)
    return isinstance(exc, ConnectError) and not isinstance(exc, NoAnswer) and not exc.mid_request


def _etag(fut: Future | None) -> str | None:
    answer = _result(fut)
    return answer.etag if answer else None
