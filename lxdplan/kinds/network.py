"""Networks: two-phase clustered objects (``lxdplan.kinds.twophase``).

``type`` cannot change in place. A bridge's (and an OVN network's) addresses and NAT keys are
generated at create: enforced only when declared. An OVN network takes no per-member definition
(no ``?target=``) and no member-specific keys at join. A network's ETag depends on the view
(``?target=<m>`` covers m's keys). References: an OVN network's uplink ``network`` (certain), a
``parent`` (cluster-wide or per member; usually a host interface, so not certain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

from lxdplan import keys, references
from lxdplan.errors import fmt_path
from lxdplan.kinds.base import (
    Checked,
    DependentReads,
    EarlyReads,
    KindSpec,
    Referring,
    Where,
    api_path,
)
from lxdplan.kinds.common import DEFAULT, scoped
from lxdplan.kinds.twophase import TwoPhaseSpec, two_phase_fields
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, project_items, projects_with
from lxdplan.plan import Kind, Step

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker


@dataclass(frozen=True)
class Network:
    name: str
    type: str = "bridge"
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    line: int = 0
    # Lines of the keys under ``members:`` ((member, key) -> line), for messages about one key.
    key_lines: dict[tuple[str, str], int] = field(default_factory=dict, compare=False, repr=False)
    project: str = DEFAULT  # outside default: an OVN network of a project with features.networks


_INTERFACE_NAME = re.compile(r"[-_a-zA-Z0-9.]{2,15}")  # LXD's IsInterfaceName
_ADDRESSES = frozenset({"ipv4.address", "ipv6.address"})
# Keys LXD fills in with a known value when it generates the addresses: left alone only while
# they hold it (``ipv4.nat: "false"`` was set by someone: dropped from the file, it is removed).
GENERATED: dict[str, dict[str, str]] = {
    "bridge": {"ipv4.nat": "true", "ipv6.nat": "true"},
    "ovn": {"ipv4.nat": "true", "ipv6.nat": "true"},
}
# Cluster-wide keys LXD fills in when the file leaves them out. An OVN network's ``bridge.mtu``
# is derived from the uplink at create (1442 under geneve: LXD 5.0.2 and Incus 6.0.4, seen live).
AUTO_KEYS: dict[str, frozenset[str]] = {
    "bridge": _ADDRESSES,
    "ovn": _ADDRESSES | {"network", "bridge.mtu"},
}


class NetworkSpec(TwoPhaseSpec, Checked, Referring, EarlyReads, DependentReads):
    kind = Kind.NETWORK
    section = "networks"
    answer_shape = AnswerShape({"networks": "name"})
    rank, delete_rank, list_rank = 40, 40, 20
    type_field = "type"
    collection = "networks"
    join_entity = "network"
    etag_per_view = True
    declared_type, default_type, plural = Network, "bridge", "networks"
    load_rank = 20
    secret_keys = frozenset({"bgp.peers.*.password"})  # bridge and physical networks

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        items = list(items)
        loaded = super().load(checker, items, declared)
        return tuple(replace(net, project=raw.get("project", DEFAULT))
                     for net, (_i, raw) in zip(loaded, items))

    def load_checks(self, checker: "Checker", raw: dict, path: tuple, type_: str) -> dict:
        name = raw.get("name")
        if type_ == "bridge" and isinstance(name, str) and not _INTERFACE_NAME.fullmatch(name):
            checker.error(path + ("name",), f'{fmt_path(path + ("name",))}: a bridge is named as '
                                            f"its interface: 2 to 15 ASCII letters, digits and "
                                            f'- _ . (LXD refuses "{name}")')
        if type_ == "ovn" and raw.get("members"):
            checker.error(path + ("members",), f"{fmt_path(path)}: OVN networks take no members: "
                                               "(they have no member-specific keys); remove it",
                          key=True)
            return {k: v for k, v in raw.items() if k != "members"}
        return raw

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        """An OVN network's uplink (``network``) is a declared network."""
        self.check_refs(checker, declared, specs, (self.kind,))
        check_uplinks(checker, declared.get(self.section, ()))
        check_projects(checker, declared)

    # -- identity: a default-project network is ``(name,)`` (what every reference to it names,
    # and its key in ``Observed``), one of another project ``(project, name)``, shown
    # ``project/name`` as profiles and instances are.

    def ident(self, obj) -> tuple[str, ...]:
        project = getattr(obj, "project", DEFAULT)
        return (obj.name,) if project == DEFAULT else (project, obj.name)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        project, sep, name = step.name.partition("/")  # a project name has no "/"
        return (project, name) if sep else (step.name,)

    def object_name(self, step: Step) -> str:
        return self.step_ident(step)[-1]

    def label(self, ident: tuple) -> str:
        return scoped(*ident) if len(ident) == 2 else ident[0]

    def where(self, step: Step) -> Where:
        ident = self.step_ident(step)
        return _where(ident[-1], ident[0] if len(ident) == 2 else DEFAULT, step.member)

    def where_declared(self, obj) -> Where:
        return _where(obj.name, getattr(obj, "project", DEFAULT))

    def export(self, live) -> dict[str, Any]:
        entry = super().export(live)
        if live.project == DEFAULT:
            return entry
        return {"name": entry.pop("name"), "project": live.project, **entry}

    def auto_keys(self, type_: str) -> frozenset[str]:
        return AUTO_KEYS.get(type_, frozenset())

    def generated_values(self, type_: str) -> dict[str, str]:
        return GENERATED.get(type_, {})

    def member_keys(self, type_: str) -> frozenset[str]:
        return keys.network_member_keys(type_)

    def define_targets(self, ctx, type_: str) -> list[str]:
        return [] if type_ == "ovn" else ctx.present  # OVN networks take no target

    def joins_with_keys(self, obj) -> bool:
        return obj.type != "ovn"

    def delete_block(self, ctx, live) -> str | None:
        """LXD refuses to delete a network a peer (``network_peers``) links while both sides
        exist: a peer lxdplan leaves in place (not managed, or declared on a network the file
        keeps) on it or targeting it blocks the delete."""
        declared = {(p.network, p.name) for p in ctx.desired.section("network_peers")}
        if live.project != DEFAULT:
            return super().delete_block(ctx, live)  # peers live on default-project networks
        stuck = sorted(
            f"{p.network}/{p.name}" for p in ctx.observed.section("network_peers").values()
            if live.name in (p.network, p.target_network) and p.target_project == "default"
            and (not p.managed_by_lxdplan or (p.network, p.name) in declared))
        if stuck:
            return (f"network peer {', '.join(stuck)} links it, and the server does not delete a "
                    "peered network: drop the peer (or delete it by hand) first")
        return super().delete_block(ctx, live)

    def refs(self, obj) -> list[references.Ref]:
        # A project's network may be named as its uplink (which is the default project's).
        own = obj.name if obj.project == DEFAULT else ""
        refs = references.network_refs(own, obj.config, obj.members)
        if obj.project != DEFAULT:  # its uplink is the default project's; its project is one
            refs.append(references.Ref(Kind.PROJECT, (obj.project,), ("project",)))
        return refs

    # -- reading it live ---------------------------------------------------------------------
    # Each member's views of the declared networks go out before the listing arrives. An OVN
    # network has one view (no target). At plan detail a declared network no member's view is
    # read of gets its ETag from one untargeted GET (``("etag", name)``).

    needs = (("networks", "listing"), ("projects", "listing"))

    @property
    def observed_type(self) -> type:
        return ObservedNetwork

    def keyed(self, desired) -> dict[str, set[str]]:
        """As for pools, of the default project's networks (another project's is OVN, without
        members' views, and may share a default network's name)."""
        return {n.name: {m for m, c in n.members.items() if c}
                for n in self.declared(desired) if n.project == DEFAULT}

    def early_reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        keyed = self.keyed(reading.desired)
        out: dict[Hashable, Get] = {}
        for n in self.declared(reading.desired):
            if n.type == "ovn" or n.project != DEFAULT:
                continue
            for m in reading.members:
                if m not in reading.offline and self.wanted(reading, keyed, n.name, m):
                    out[("view", n.name, m)] = self.view(n.name, m)
            if reading.lean and not keyed.get(n.name):
                out[("etag", n.name)] = Get.of(api_path(self.collection, n.name))
        return out

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        items = managed_networks(self.listed(recorded))
        out = self.views_to_read(reading, [n for n in items if n.get("type") != "ovn"])
        declared = {n.name for n in self.declared(reading.desired) if n.project == DEFAULT}
        # A project with networks of its own: its listing, and each declared network's own
        # GET (its ETag); a project without them lists the default project's, so is not asked.
        own = projects_with(recorded, "networks")
        out.update({("project", p): Get.listing("/1.0/networks", {"project": p}) for p in own})
        out.update({("pview", n.project, n.name): Get.at(self.where_declared(n))
                    for n in self.declared(reading.desired) if n.project in own})
        for n in items:
            name = n["name"]
            if n.get("type") == "ovn":
                out[("view", name, "")] = Get.of(api_path(self.collection, name))
            elif (reading.lean and name in declared
                  and ("view", name) not in {k[:2] for k in out if isinstance(k, tuple)}):
                out[("etag", name)] = Get.of(api_path(self.collection, name))
        return out

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedNetwork"]:
        answers, out = recorded.of(self.section), {}
        for item in managed_networks(self.listed(recorded)):
            name = item["name"]
            ovn = answers.get(("view", name, ""))
            # The ETag of the first member's view read (in the listing's order), else the
            # untargeted GET's: a network's ETag depends on the view.
            targeted = [answers[("view", name, m)][1] for m in item.get("locations") or ()
                        if ("view", name, m) in answers]
            etag = ovn[1] if ovn else (next(iter(targeted), None)
                                       or recorded.etag(self.section, ("etag", name)))
            out[name] = parse_network(item, {} if ovn else self.views(recorded, item), etag)
        for project, item in project_items(recorded, self.section):
            if project == DEFAULT or not item.get("managed"):
                continue
            net = parse_network(item, {}, recorded.etag(self.section,
                                                        ("pview", project, item["name"])), project)
            out[self.live_key(self.ident(net))] = net
        return out


UPLINK_TYPES = ("bridge", "physical")


def check_uplinks(checker: "Checker", networks: Sequence[Network]) -> None:
    """A declared OVN network's uplink is a bridge or physical network (both servers refuse
    others), and a bridge uplink with IPv4 declares ``ipv4.ovn.ranges``: the OVN router's uplink
    address comes from it (lxd-5.0.2 ``lxd/network/driver_ovn.go``: "Missing required
    \"ipv4.ovn.ranges\" config key on uplink network"; Incus 6.0.4 alike)."""
    by_name = {n.name: n for n in networks if n.project == DEFAULT}  # uplinks are default's
    for i, net in enumerate(networks):
        uplink = by_name.get(str(net.config.get("network", ""))) if net.type == "ovn" else None
        if uplink is None:
            continue
        where = ("networks", i, "config", "network")
        if uplink.type not in UPLINK_TYPES:
            checker.error(where, f'{fmt_path(where)} names network "{uplink.name}" of type '
                                 f"{uplink.type}; an OVN network's uplink is a bridge or a "
                                 "physical network", key=True)
        elif (uplink.type == "bridge" and uplink.config.get("ipv4.address") != "none"
              and not uplink.config.get("ipv4.ovn.ranges")):
            checker.error(where, f'{fmt_path(where)} names uplink network "{uplink.name}", which '
                                 "declares no ipv4.ovn.ranges (the OVN router takes its uplink "
                                 "address from them)", key=True)


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedNetwork:
    name: str
    type: str
    description: str = ""
    status: str = "Created"
    config: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    member_status: dict[str, str] = field(default_factory=dict)
    locations: tuple[str, ...] = ()
    used_by: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None
    project: str = DEFAULT


def managed_networks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``GET /1.0/networks`` also lists the host's own interfaces (``managed: false``)."""
    return [n for n in items if n.get("managed")]


def parse_network(item: dict[str, Any], per_member: dict[str, dict[str, Any]] | None = None,
                  etag: str | None = None, project: str = DEFAULT) -> ObservedNetwork:
    """A managed network from the collection plus each member's ``?target=`` answer."""
    net_type = item.get("type", "")
    fields = two_phase_fields(item, keys.network_member_keys(net_type), per_member)
    return ObservedNetwork(type=net_type, etag=etag, project=project, **fields)


def _where(name: str, project: str, member: str | None = None) -> Where:
    return Where("/1.0/networks", api_path("networks", name),
                 {"project": project} if project != DEFAULT else {}, member=member)


def check_projects(checker: "Checker", declared: Mapping[str, tuple]) -> None:
    """A network outside the default project is an OVN network of a declared project with
    ``features.networks: "true"``: only there does the server keep networks of the project's
    own, and of those it creates only OVN networks (lxd-5.0.2 ``lxd/networks.go``, Incus 6.0.4
    ``cmd/incusd/networks.go``: "Network type does not support non-default projects")."""
    projects = {p.name: p.config for p in declared.get("projects", ())}
    for i, net in enumerate(declared.get("networks", ())):
        if net.project == DEFAULT:
            continue
        where = ("networks", i, "project")
        if net.project not in projects:
            checker.error(where, f'{fmt_path(where[:2])} is in project "{net.project}", which is '
                                 "not declared in projects")
        elif projects[net.project].get("features.networks") != "true":
            checker.error(where, f'{fmt_path(where[:2])} is in project "{net.project}", whose '
                                 'config does not set features.networks: "true" (without it the '
                                 "project uses the default project's networks)")
        elif net.type != "ovn":
            checker.error(where, f'{fmt_path(where[:2])} is a {net.type} network in project '
                                 f'"{net.project}"; a project\'s own networks are OVN networks '
                                 "(other types live in the default project only)")


SPEC = NetworkSpec()
