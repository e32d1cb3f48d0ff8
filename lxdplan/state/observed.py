"""What lxdplan saw on the live cluster: plain frozen data, produced by ``lxdplan.providers``.

The planner reads only these types, so it can be tested on recorded state without a server.
All config maps exclude ``volatile.*`` keys. ``to_dict``/``from_dict`` give the JSON form used by
golden tests (``tests/cases/*/observed.json``) and by saved plans.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from lxdplan.keys import LEGACY_LOCK_KEY
from lxdplan.sections import same_sections

# The ``PUT /1.0/cluster`` field of a join token on LXD 5.0 (``lxdplan.providers.backend``).
JOIN_TOKEN_FIELD_DEFAULT = "cluster_password"

# Member status strings as LXD reports them, plus two of lxdplan's own.
ONLINE = "Online"
OFFLINE = "Offline"
EVACUATED = "Evacuated"
BLOCKED = "Blocked"
UNREACHABLE = "Unreachable"  # lxdplan could not connect to the member's endpoint
NOT_SERVING = "Not serving"  # it holds every request without an answer (waits for an upgrade)

# Statuses ``lxdplan status`` marks with " !" (members and objects alike).
FLAGGED = frozenset({OFFLINE, BLOCKED, UNREACHABLE, NOT_SERVING, "Errored", "Pending"})


def flag(text: str) -> str:
    """``text`` as a status table shows it: marked " !" when it needs attention."""
    return f"{text} !" if text in FLAGGED else text


# The seed's advice ("Upgrading nodes"): a member restarted on a newer version serves no API
# until every member runs that version.
UPGRADE_ADVICE = ("upgrade the remaining members to the same version; the members that wait "
                  "serve again once the last one is upgraded")


def not_serving(backend: str, statuses: dict[str, str], answered: set[str],
                silent: set[str]) -> set[str]:
    """Members that hold every API request without an answer: the one rule for it.

    ``statuses`` is the cluster's word per member, ``answered`` the members whose own endpoint
    answered ``GET /1.0``, ``silent`` those whose own endpoint took the request and said nothing.
    A silent member does not serve whatever the cluster says (LXD 5.0.2 lists a member that waits
    for an upgrade ``Online``). Otherwise the cluster's ``Blocked`` means opposite members:
    LXD (6.4 and newer) marks the upgraded member, which waits and serves nothing; Incus 6.0
    marks the older members, which serve, and then every member it lists ``Online`` is an
    upgraded one that waits.
    """
    out = {n for n in statuses if n in silent}
    if backend == "incus":
        if BLOCKED in statuses.values():
            out |= {n for n, s in statuses.items() if s == ONLINE and n not in answered}
    else:
        out |= {n for n, s in statuses.items() if s == BLOCKED and n not in answered}
    return out


@dataclass(frozen=True)
class Standalone:
    """A declared member's daemon seen through its own endpoint (before or outside a cluster)."""

    name: str  # the declared member name
    reachable: bool
    error: str = ""  # why not reachable, one sentence
    clustered: bool = False
    server_name: str = ""  # its cluster member name when clustered
    trusted: bool = True
    backend: str = ""  # "lxd" | "incus"
    version: str = ""
    api_extensions: tuple[str, ...] = ()
    certificate_fingerprint: str = ""  # sha256 hex of the certificate it serves
    config: dict[str, str] = field(default_factory=dict)  # its whole server config
    etag: str | None = None
    no_answer: bool = False  # it took GET /1.0 and answered nothing in time (does not serve)
    # The ``PUT /1.0/cluster`` field its join takes the token in (decided by the provider from
    # its extensions and kind: ``Backend.join_token_field``).
    join_token_field: str = JOIN_TOKEN_FIELD_DEFAULT
    # It runs a join task of its own (a ``PUT /1.0/cluster`` still in flight, e.g. asked by an
    # apply that was killed): a join in progress, not a member to join again.
    joining: bool = False


@dataclass(frozen=True)
class ObservedMember:
    name: str
    url: str = ""  # https://<cluster address>
    status: str = ONLINE
    message: str = ""
    roles: tuple[str, ...] = ()
    failure_domain: str = "default"
    description: str = ""
    groups: tuple[str, ...] = ("default",)
    database: bool = False
    version: str = ""  # server version read from the member itself, "" when not read
    api_level: int = 0  # how many API extensions the member itself reports, 0 when not read
    local_config: dict[str, str] = field(default_factory=dict)  # member-local server keys
    config: dict[str, str] = field(default_factory=dict)  # member's own `config` map (user.*)
    etag: str | None = None
    local_etag: str | None = None  # ETag of GET /1.0?target=<member>
    # The cluster-wide server keys as this member itself shows them (its own ``GET /1.0``), None
    # when not read. LXD 5.0.2 keeps them in each member's memory, and a member that joined
    # after they were written does not show them (LXD-FACTS "Cluster-wide config and members
    # that join later"); ``Observed.config`` is the reader's view.
    view: dict[str, str] | None = None


@dataclass(frozen=True, init=False)
class Observed:
    """The live state. ``clustered`` False means no cluster exists yet (only ``standalone``).

    The objects of every kind are in ``objects``: section -> {key: observed object}, read as
    attributes (``observed.networks``) and given as keywords (``Observed(networks={...})``); the
    JSON form has them at top level. This module knows no kind: the caller says which sections
    exist (``sections``: ``lxdplan.registry.observed``), those not given are empty and others
    are refused; without ``sections`` it holds the sections given (``section()`` reads any).
    """

    backend: str = "lxd"  # "lxd" | "incus"
    server_version: str = ""
    api_extensions: tuple[str, ...] = ()
    clustered: bool = False
    cluster_fingerprint: str = ""  # sha256 hex of the cluster certificate
    config: dict[str, str] = field(default_factory=dict)  # cluster-wide server config
    config_etag: str | None = None
    config_member: str = ""  # the member whose GET /1.0 gave config_etag (send If-Match there)
    members: dict[str, ObservedMember] = field(default_factory=dict)
    standalone: dict[str, Standalone] = field(default_factory=dict)  # by declared member name
    # Before a cluster exists: the description the server gives its built-in objects (kind ->
    # text, e.g. "profile": "Default LXD profile"), which are not read then.
    builtin_descriptions: dict[str, str] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # section -> key -> object
    # The client certificates lxdplan presents (its own and each connection's, sha256 hex):
    # never deleted (``kinds.certificate``). Not the cluster's state: left out of the digest.
    client_fingerprints: tuple[str, ...] = ()

    def __init__(self, *, objects: dict[str, dict[str, Any]] | None = None,
                 sections: Iterable[str] | None = None, **given: Any):
        for f in dataclasses.fields(self):
            if f.name != "objects":
                value = given.pop(f.name) if f.name in given else (
                    f.default_factory() if f.default_factory is not dataclasses.MISSING
                    else f.default)
                object.__setattr__(self, f.name, value)
        given = {**(objects or {}), **given}
        known = list(given) if sections is None else list(sections)
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise TypeError(f"Observed has no field or kind section {', '.join(unknown)}")
        object.__setattr__(self, "objects", {s: dict(given.get(s) or {}) for s in known})

    def __getattr__(self, name: str) -> Any:
        # Only reached when ``name`` is no field: a kind's section.
        if name.startswith("__") or name == "objects":
            raise AttributeError(name)
        try:
            return self.objects[name]
        except KeyError:
            raise AttributeError(f"Observed has no field or kind section {name!r}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Observed):
            return NotImplemented
        return same_sections(self, other)

    __hash__ = None  # type: ignore[assignment]  # it holds dicts

    def section(self, name: str) -> dict[str, Any]:
        """The observed objects of a section by key, ``{}`` when it holds none."""
        return self.objects.get(name) or {}

    def member_status(self, name: str) -> str:
        """A declared member's status as lxdplan acts on it: the cluster's word, except that a
        member that does not serve (``not_serving``) and is not called Blocked is ``Not
        serving``, and a member the cluster still calls Online but lxdplan could not reach itself
        (its daemon just died: LXD notices only after ``cluster.offline_threshold``) is
        ``Unreachable``; a member outside the cluster is ``Unreachable`` or ``Online`` by whether
        it answered."""
        live = self.members.get(name)
        alone = self.standalone.get(name)
        unreachable = alone is not None and not alone.reachable
        if live is not None:
            if live.status != BLOCKED and name in self.not_serving():
                return NOT_SERVING
            return UNREACHABLE if live.status == ONLINE and not live.version and unreachable else live.status
        return UNREACHABLE if unreachable else ONLINE

    def join_in_progress(self, name: str) -> bool:
        """A declared member the cluster does not list that is joining it now: it runs a join
        task, or its own view says it is clustered, under its own name, with this cluster's
        certificate (a join started by an apply that was killed goes on in its daemon)."""
        alone = self.standalone.get(name)
        if name in self.members or alone is None or not alone.reachable:
            return False
        if alone.joining:
            return True
        return (alone.clustered and alone.server_name == name and bool(self.cluster_fingerprint)
                and alone.certificate_fingerprint == self.cluster_fingerprint)

    def joins_in_progress(self) -> list[str]:
        """The declared members that are joining the cluster now (``join_in_progress``)."""
        return [n for n in self.standalone if self.join_in_progress(n)]

    def offline_but_answering(self) -> list[str]:
        """Members the cluster lists Offline whose own endpoint answered as a cluster member: a
        heartbeat the cluster has not seen yet (right after its leader restarted, every member is
        listed Offline for a while), not a member that is down."""
        return sorted(n for n, m in self.members.items()
                      if m.status == OFFLINE and (alone := self.standalone.get(n)) is not None
                      and alone.reachable and alone.clustered)

    def not_serving(self) -> set[str]:
        """Cluster members that hold every API request without an answer (see ``not_serving``)."""
        return not_serving(
            self.backend, {n: m.status for n, m in self.members.items()},
            answered={n for n, s in self.standalone.items() if s.reachable},
            silent={n for n, s in self.standalone.items() if s.no_answer},
        )

    def not_serving_reason(self, name: str) -> str:
        """Why a member in ``not_serving()`` serves nothing, in the words its server means: LXD's
        Blocked member was upgraded and waits for the others; Incus 6.0 lists the older members
        Blocked and the waiting, upgraded one Online; LXD 5.0.2 lists the waiting one Online."""
        live = self.members.get(name)
        older = sorted(n for n, m in self.members.items() if m.status == BLOCKED and n != name)
        if self.backend == "incus" and older:
            are = "is" if len(older) == 1 else "are"
            return (f"{name} does not serve its API (it runs a newer version and waits until "
                    f"{_and(older)}, Blocked, {are} upgraded)")
        if live is not None and live.status == BLOCKED:
            return (f"{name} is Blocked (upgraded, it waits for the other members and serves no "
                    "API until then)")
        return (f"{name} does not serve its API (it holds every request, as an upgraded member "
                "waiting for the others does)")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: the fields, then each kind's section at top level."""
        out = {f.name: _to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
               if f.name not in ("objects", "builtin_descriptions")}
        out.update({s: _to_jsonable(objs) for s, objs in self.objects.items()})
        out["builtin_descriptions"] = _to_jsonable(self.builtin_descriptions)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], sections: Mapping[str, type]) -> "Observed":
        """The ``to_dict`` form read back; ``sections`` names each kind's section and the type
        of its objects (``lxdplan.registry.observed_types``)."""
        hints = typing.get_type_hints(cls)
        given = {f.name: _from_jsonable(hints[f.name], data[f.name])
                 for f in dataclasses.fields(cls) if f.name != "objects" and f.name in data}
        for section, tp in sections.items():
            if section in data:
                given[section] = {k: _from_jsonable(tp, v) for k, v in (data[section] or {}).items()}
        return cls(sections=list(sections), **given)

    def digest(self) -> str:
        """A stable hash of everything observed; a saved plan is stale when this changes.

        ETags, the apply lock and members' messages are left out: taking the lock changes the
        first two, every change an ETag stands for is already in the content hashed here, and a
        message such as "No heartbeat for 12.3s" changes by itself. A kind's section with no
        objects is left out too, so adding a kind to lxdplan does not change the digest of a
        cluster that has none of its objects.
        """
        data = {k: v for k, v in self.to_dict().items() if k not in self.objects or v}
        blob = json.dumps(_without_volatile(data), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


# ETags stand for content hashed anyway; a member's message changes by itself ("No heartbeat
# for 12.3s") and nothing is planned on it.
# ``api_level`` moves with ``version`` and ``no_answer`` with ``reachable``, both hashed; the
# join token field and the built-in descriptions follow from the backend and its extensions.
_DIGEST_SKIP = frozenset({"etag", "config_etag", "local_etag", "message", "api_level", "no_answer",
                          "join_token_field", "builtin_descriptions",
                          "client_fingerprints"})
# Hashed only when set, so the digest of a cluster that shows neither stays what it was.
_DIGEST_SKIP_UNSET: dict[str, Any] = {"view": None, "joining": False}


def _without_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_volatile(v) for k, v in value.items()
            if k not in _DIGEST_SKIP and k != LEGACY_LOCK_KEY
            and not (k in _DIGEST_SKIP_UNSET and v == _DIGEST_SKIP_UNSET[k])
        }
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_to_jsonable(v) for v in value]
    return value


def _from_jsonable(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    if isinstance(tp, str):
        tp = eval(tp, globals())  # annotations are strings under `from __future__ import annotations`
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: _from_jsonable(hints[f.name], data[f.name])
            for f in dataclasses.fields(tp)
            if f.name in data
        }
        return tp(**kwargs)  # type: ignore[operator]  # a dataclass type, not an instance
    if origin is dict:
        _, vt = typing.get_args(tp)
        return {k: _from_jsonable(vt, v) for k, v in data.items()}
    if origin is tuple:
        (et, *_rest) = typing.get_args(tp)
        return tuple(_from_jsonable(et, v) for v in data)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _from_jsonable(args[0], data) if len(args) == 1 else data
    return data
