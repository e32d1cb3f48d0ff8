"""Network forwards: an address a bridge (or an OVN network) listens on, forwarded to addresses
in the network's subnet (``lxc network forward``), created with the ownership mark in their config, PUT whole.

A forward is named by its bridge and ``listen_address``. On a cluster a bridge's forward lives
on one member (LXD keeps it per member: ``memberSpecific`` in lxd-5.0.2
``lxd/network/driver_bridge.go``, Incus 6.0.4 alike; seen live): the listing of any member shows
every member's with their ``location``, and a read, change or delete must name the member
(``?target=``), else LXD answers "not found" (the member asked has none) or "found on more than
one cluster member". So a forward declares its ``member`` (optional when the file declares one
member), and lxdplan never moves one between members (a plan error).

LXD takes any listen address that does not overlap another network's subnet or a NIC's routes
(its own bridge's subnet is allowed, e.g. 192.0.2.10 or 10.0.0.200 on a 10.0.0.1/24 bridge),
``config`` keys ``target_address`` and ``user.*``, and ``ports`` of ``protocol`` (tcp, udp),
``listen_port`` and ``target_address`` (required), ``target_port`` and ``description``; it keeps
the ports in the order given.

An OVN network's forward is cluster-wide (no ``location``, no ``?target=``: a forward of an OVN
network declares no member) and listens on an address in its uplink's ``ipv4.routes`` or
``ipv6.routes`` (both servers refuse others: "Uplink network doesn't contain ... in its routes";
checked when the file declares the uplink).

References: its network (certain; a bridge or OVN network of the file).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

from lxdplan.compare import config_views, desc, diff_config, put_config
from lxdplan.errors import PlanError, fmt_path
from lxdplan.filecheck import MEMBERS, normalise
from lxdplan.kinds.base import (
    Checked,
    DependentReads,
    EtagReads,
    KindSpec,
    OnMembers,
    Referring,
    Stage,
    Where,
    api_path,
    payload_of,
)
from lxdplan.kinds.common import DEFAULT, ItemsSpec, at, export_config, owned, put_if
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, clean_config, marked, with_etag
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.references import Ref

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

FORWARDED = ("bridge", "ovn")  # the network types whose forwards lxdplan reads and manages
PORT_FIELDS = ("protocol", "listen_port", "target_address", "target_port", "description")
Port = dict[str, str]


def normalise_port(port: Mapping[str, Any]) -> Port:
    """A port as LXD answers it, empty fields left out."""
    out: Port = {}
    for name in PORT_FIELDS:
        value = port.get(name)
        text = "" if value is None else normalise(value).strip()
        if text:
            out[name] = text
    return out


@dataclass(frozen=True)
class NetworkForward:
    network: str
    listen_address: str
    member: str = ""
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    line: int = 0

    @property
    def name(self) -> str:
        return self.listen_address


@dataclass(frozen=True)
class Write(Payload):
    """A create (config with the ownership mark) or an update (full config, mark kept, ports)."""

    network: str
    listen_address: str
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    ports: list[Port] = field(default_factory=list)


@dataclass(frozen=True)
class Delete(Payload):
    network: str
    listen_address: str


def _load(c: "Checker", raw: dict, path: tuple, members: list[str],
          networks: dict[str, Any]) -> NetworkForward:
    address = str(raw.get("listen_address") or "")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        c.error(path + ("listen_address",), f'{fmt_path(path + ("listen_address",))}: "{address}" '
                                            "is not an IP address (a forward listens on one)")
    network = str(raw.get("network") or "")
    net = networks.get(network)
    net_type = net.type if net is not None else ""
    member = raw.get("member") or ""
    if net_type == "ovn":
        if member:
            c.error(path + ("member",), f'{fmt_path(path)} is on OVN network "{network}": an OVN '
                                        "network's forward is cluster-wide; remove member")
        member = ""
        check_uplink_routes(c, path, address, net, networks)
    elif not member and len(members) == 1:
        member = members[0]
    elif not member and net is not None:  # an undeclared network is its own error (check)
        c.error(path, f"{fmt_path(path)} needs member: a bridge's forward lives on one member "
                      f"of the cluster, and the file declares {len(members)}", key=True)
    elif member and member not in members:
        c.error(path + ("member",), f'{fmt_path(path)} is on member "{member}", which is not in '
                                    "cluster.members")
    if net_type not in ("", "bridge", "ovn"):
        c.error(path + ("network",), f'{fmt_path(path)} is on network "{network}" of type '
                                     f"{net_type}; lxdplan manages forwards of bridges and OVN "
                                     "networks")
    config = c.object_config(raw.get("config"), path + ("config",))
    for key in config:
        if key != "target_address" and not key.startswith("user."):
            c.error(path + ("config", key),
                    f'"{key}" in {fmt_path(path + ("config",))} is not a key a network forward '
                    "takes (target_address, user.*)", key=True)
    ports = tuple(normalise_port(p) for p in raw.get("ports") or () if isinstance(p, dict))
    return NetworkForward(network, address, member, raw.get("description", ""), config, ports,
                          c.src.line(path) or 0)


def check_uplink_routes(c: "Checker", path: tuple, address: str, net: Any,
                         networks: dict[str, Any]) -> None:
    """An OVN network's forward (or load balancer) listens on an address in its declared
    uplink's ``ipv4.routes``/``ipv6.routes`` (both servers refuse others: "Uplink network
    doesn't contain ... in its routes"). Unchecked when the uplink is not declared."""
    uplink = networks.get(net.config.get("network", ""))
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return
    if uplink is None:
        return
    key = f"ipv{ip.version}.routes"
    routes = []
    for text in str(uplink.config.get(key, "")).split(","):
        try:
            routes.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            continue
    if not any(ip in r for r in routes):
        c.error(path + ("listen_address",),
                f'{fmt_path(path + ("listen_address",))}: {address} is not in {key} of uplink '
                f'network "{uplink.name}" (an OVN network listens on its uplink\'s routes)')


def _port_views(live: tuple[Port, ...], wanted: tuple[Port, ...]) -> tuple[dict, dict]:
    before, after = {}, {}
    for i in range(max(len(live), len(wanted))):
        old = live[i] if i < len(live) else None
        new = wanted[i] if i < len(wanted) else None
        if old != new:
            if old is not None:
                before[str(i)] = dict(old)
            if new is not None:
                after[str(i)] = dict(new)
    return before, after


class NetworkForwardSpec(ItemsSpec, Checked, Referring, OnMembers, EtagReads, DependentReads):
    kind = Kind.define("network_forward", "network forward")
    section = "network_forwards"
    answer_shape = AnswerShape({"networks/[^/]+/forwards": "listen_address"},
                               fields={"ports": "objects"})
    etag_after_plan = True
    stage = Stage.AFTER_MEMBERS  # on a member: after its join
    rank, delete_rank, list_rank = 45, 35, 28
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    items = "ports"  # ItemsSpec: the ordered list beside the config
    load_rank = 25  # after the networks (their type) and the members

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        members = [m.name for m in declared.get(MEMBERS, ())]
        networks = {n.name: n for n in declared.get("networks", ()) if n.project == DEFAULT}
        return tuple(_load(checker, raw, (self.section, i), members, networks) for i, raw in items)

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        self.check_refs(checker, declared, specs, (Kind.NETWORK,))

    def ident(self, obj) -> tuple[str, ...]:
        return (obj.network, obj.listen_address, obj.member)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        return (_payload(step).network, _payload(step).listen_address, step.member or "")

    def refs(self, obj) -> list[Ref]:
        return [Ref(Kind.NETWORK, (obj.network,), ("network",))]

    def label(self, ident: tuple) -> str:
        return f"{ident[0]}/{ident[1]}"  # the member is the step's own field

    def live_key(self, ident: tuple) -> str:
        return forward_key(*ident)

    def live_member(self, live) -> str | None:
        return live.member or None

    def removal_block(self, ctx: "PlanContext", member: str) -> str | None:
        return None  # LXD removes a member's forwards with it

    def plan(self, ctx: "PlanContext") -> list[str]:
        lives = self.live(ctx.observed)
        for fwd in self.declared(ctx.desired):
            name = self.display(fwd)
            live = lives.get(self.live_key(self.ident(fwd)))
            member = fwd.member or None
            waits = ctx.after_bootstrap() + ctx.joined(member)
            ports = [dict(p) for p in fwd.ports]
            if live is None:
                here = (fwd.network, fwd.listen_address)
                elsewhere = sorted(f.member for f in lives.values()
                                   if (f.network, f.listen_address) == here
                                   and f.member and not f.managed_by_lxdplan)
                if elsewhere and fwd.member not in elsewhere:
                    raise PlanError(f"{at(ctx, fwd)}network forward {name} is on member "
                                    f"{elsewhere[0]}, not {fwd.member}: lxdplan does not move a "
                                    "forward between members; delete it there or declare its "
                                    "member")
                after: dict[str, Any] = {**desc(fwd.description), "config": dict(fwd.config)}
                if ports:
                    after["ports"] = {str(i): p for i, p in enumerate(ports)}
                ctx.steps.add(
                    Action.CREATE, self.kind, name, member=member, depends_on=waits, after=after,
                    reason=f"network forward {name} is in the file but not in the cluster",
                    payload=Write(fwd.network, fwd.listen_address, fwd.description,
                                  owned(fwd.config), ports),
                )
                continue
            before, after = config_views(diff_config(live.config, fwd.config), live.description,
                                         fwd.description)
            old, new = _port_views(live.ports, fwd.ports)
            if old:
                before["ports"] = old
            if new:
                after["ports"] = new
            if not (before or after):
                continue
            ctx.steps.add(
                Action.UPDATE, self.kind, name, member=member, depends_on=waits,
                before=before, after=after, reason=f"network forward {name} differs from the file",
                etag=live.etag,
                payload=Write(fwd.network, fwd.listen_address, fwd.description,
                              put_config(live.config, fwd.config), ports),
            )
        return []


    def delete_payload(self, live) -> Delete:
        return Delete(live.network, live.listen_address)

    def unmanaged_note(self, live) -> str:
        return f"on {live.member}" if live.member else ""

    def where(self, step: Step) -> Where:
        return self._where(_payload(step).network, _payload(step).listen_address, step.member)

    def where_declared(self, obj) -> Where:
        return self._where(obj.network, obj.listen_address, obj.member)

    @staticmethod
    def _where(network: str, address: str, member: str | None) -> Where:
        return Where(api_path("networks", network, "forwards"),
                     api_path("networks", network, "forwards", address),
                     {"target": member} if member else {}, member or None)

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"listen_address": p.listen_address, "description": p.description,
                "config": owned(p.config), "ports": p.ports}

    def normalise_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return normalise_port(item)

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"network": live.network, "listen_address": live.listen_address}
        put_if(entry, "member", live.member)
        put_if(entry, "description", live.description)
        put_if(entry, "config", export_config(live.config))
        put_if(entry, "ports", [dict(p) for p in live.ports])
        return entry

    # -- reading it live ---------------------------------------------------------------------
    # One listing per managed bridge or OVN network of the networks' listing (any member's lists every
    # member's forwards, each with its ``location``).

    needs = (("networks", "listing"),)

    @property
    def observed_type(self) -> type:
        return ObservedNetworkForward

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        return {("network", n["name"]): Get.listing(api_path("networks", n["name"], "forwards"))
                for n in recorded.metadata("networks", "listing") or ()
                if n.get("managed") and n.get("type") in FORWARDED
                and n.get("status") == "Created"}

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedNetworkForward"]:
        out = {}
        for key, (items, _etag) in recorded.of(self.section).items():
            if not (isinstance(key, tuple) and key[0] == "network"):
                continue
            for item in items or ():
                fwd = parse_forward(item, key[1])
                etag = recorded.etag(self.section, ("etag", self.ident(fwd)))
                out[forward_key(fwd.network, fwd.listen_address, fwd.member)] = with_etag(fwd, etag)
        return out


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedNetworkForward:
    network: str
    listen_address: str
    member: str = ""
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None

    @property
    def name(self) -> str:
        return self.listen_address


def forward_key(network: str, address: str, member: str) -> str:
    """The key of ``Observed.network_forwards``."""
    return f"{network}/{address}@{member}" if member else f"{network}/{address}"


def parse_forward(item: dict[str, Any], network: str,
                  etag: str | None = None) -> ObservedNetworkForward:
    """A forward from LXD's JSON; a ``location`` of "none" (a server not clustered) is none."""
    config = clean_config(item.get("config"))
    location = item.get("location") or ""
    return ObservedNetworkForward(
        network=network, listen_address=item["listen_address"],
        member="" if location == "none" else location,
        description=item.get("description", ""), config=config,
        ports=tuple(normalise_port(p) for p in item.get("ports") or ()),
        managed_by_lxdplan=marked(config), etag=etag)


SPEC = NetworkForwardSpec()


def _payload(step: Step) -> "Write | Delete":
    """The step's payload: a create or update (``Write``) or a delete."""
    if not isinstance(step.payload, (Write, Delete)):
        raise TypeError(f"step {step.id} carries {type(step.payload).__name__}, not a {SPEC.kind} payload")
    return step.payload
