"""Network peers: a routing relationship from one OVN network to another (``lxc network peer``),
created with the ownership mark in their config, PUT whole (description and config).

A peer is named by its network and its own name, and points at ``target_network`` in
``target_project`` (default: the network's project, ``default``: lxdplan's networks are the
default project's). Both servers (``network_peer``: lxd-5.0.2 ``lxd/network_peers.go``,
``lxd/network/driver_ovn.go``; Incus 6.0.4 ``cmd/incusd/network_peers.go`` alike; seen live) take
``user.*`` config keys only, keep a peer "Pending" until the target network has the mirror peer
back and "Created" from then on (the status is not compared), and cannot change the target of a
peer: a changed target is a plan error saying how to replace it (the relationship is between two
networks, so a new peer name makes the new one while the old is dropped). A peer lives on OVN
networks only, cluster-wide (no member).

References: its network (certain; an OVN network of the file) and, in the default project, its
target network (not certain: the peer may be made before the target exists, and stays pending).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

from lxdplan.compare import config_views, desc, diff_config, put_config
from lxdplan.errors import PlanError, fmt_path
from lxdplan.kinds.base import (
    Adoptable,
    Checked,
    DependentReads,
    EtagReads,
    KindSpec,
    Referring,
    SingleRequests,
    Stage,
    Where,
    api_path,
    payload_of,
)
from lxdplan.kinds.common import DEFAULT, at, export_config, owned, put_if
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, clean_config, marked, with_etag
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.references import Ref

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext


@dataclass(frozen=True)
class NetworkPeer:
    network: str
    name: str
    target_network: str
    target_project: str = DEFAULT
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Write(Payload):
    """A create (config with the ownership mark, the target) or an update (full config, mark
    kept)."""

    network: str
    name: str
    target_network: str = ""
    target_project: str = DEFAULT
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delete(Payload):
    network: str
    name: str


def _load(c: "Checker", raw: dict, path: tuple, networks: dict[str, str]) -> NetworkPeer:
    network = str(raw.get("network") or "")
    if networks.get(network, "ovn") != "ovn":
        c.error(path + ("network",), f'{fmt_path(path)} is on network "{network}" of type '
                                     f"{networks[network]}; a network peer links OVN networks")
    target_project = str(raw.get("target_project") or DEFAULT)
    target = str(raw.get("target_network") or "")
    if target_project == DEFAULT and target == network:
        c.error(path + ("target_network",), f"{fmt_path(path)} peers network \"{network}\" with "
                                            "itself")
    elif target_project == DEFAULT and networks.get(target, "ovn") != "ovn":
        c.error(path + ("target_network",), f'{fmt_path(path)} targets network "{target}" of '
                                            f"type {networks[target]}; a peer targets an OVN "
                                            "network")
    config = c.object_config(raw.get("config"), path + ("config",))
    for key in config:
        if not key.startswith("user."):
            c.error(path + ("config", key),
                    f'"{key}" in {fmt_path(path + ("config",))} is not a key a network peer '
                    "takes (user.*)", key=True)
    return NetworkPeer(network, str(raw.get("name") or ""), target, target_project,
                       raw.get("description", ""), config, c.src.line(path) or 0)


class NetworkPeerSpec(Checked, Referring, SingleRequests, Adoptable, EtagReads, DependentReads):
    kind = Kind.define("network_peer", "network peer")
    section = "network_peers"
    answer_shape = AnswerShape({"networks/[^/]+/peers": "name"})
    etag_after_plan = True
    stage = Stage.BEFORE_JOINS  # OVN networks are cluster-wide, made before the joins
    rank, delete_rank, list_rank = 46, 34, 29
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    load_rank = 26  # after the networks (their type)

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        networks = {n.name: n.type for n in declared.get("networks", ()) if n.project == DEFAULT}
        return tuple(_load(checker, raw, (self.section, i), networks) for i, raw in items)

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        self.check_refs(checker, declared, specs, (Kind.NETWORK,))

    def ident(self, obj) -> tuple[str, ...]:
        return (obj.network, obj.name)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        return (_payload(step).network, _payload(step).name)

    def refs(self, obj) -> list[Ref]:
        out = [Ref(Kind.NETWORK, (obj.network,), ("network",))]
        if obj.target_project == DEFAULT and obj.target_network:
            out.append(Ref(Kind.NETWORK, (obj.target_network,), ("target_network",), False))
        return out

    def plan(self, ctx: "PlanContext") -> list[str]:
        lives = self.live(ctx.observed)
        for peer in self.declared(ctx.desired):
            name = self.display(peer)
            live = lives.get(self.live_key(self.ident(peer)))
            if live is None:
                after: dict[str, Any] = {**desc(peer.description), "config": dict(peer.config),
                                         "target_network": peer.target_network}
                if peer.target_project != DEFAULT:
                    after["target_project"] = peer.target_project
                ctx.steps.add(
                    Action.CREATE, self.kind, name, depends_on=ctx.after_bootstrap(), after=after,
                    reason=f"network peer {name} is in the file but not in the cluster",
                    payload=Write(peer.network, peer.name, peer.target_network,
                                  peer.target_project, peer.description, owned(peer.config)),
                )
                continue
            if (live.target_project, live.target_network) != (peer.target_project,
                                                              peer.target_network):
                raise PlanError(
                    f"{at(ctx, peer)}network peer {name} targets "
                    f"{live.target_project}/{live.target_network}, not "
                    f"{peer.target_project}/{peer.target_network}: a peer's target cannot "
                    "change; give the new peer another name (the old one is then deleted)")
            before, after = config_views(diff_config(live.config, peer.config), live.description,
                                         peer.description)
            if not (before or after):
                continue
            ctx.steps.add(
                Action.UPDATE, self.kind, name, depends_on=ctx.after_bootstrap(),
                before=before, after=after, reason=f"network peer {name} differs from the file",
                etag=live.etag,
                payload=Write(peer.network, peer.name, description=peer.description,
                              config=put_config(live.config, peer.config)),
            )
        return []

    def delete_payload(self, live) -> Delete:
        return Delete(live.network, live.name)

    def unmanaged_note(self, live) -> str:
        return f"to {live.target_project}/{live.target_network}, {live.status.lower() or 'pending'}"

    def where(self, step: Step) -> Where:
        return self._where(_payload(step).network, _payload(step).name)

    def where_declared(self, obj) -> Where:
        return self._where(obj.network, obj.name)

    @staticmethod
    def _where(network: str, name: str) -> Where:
        return Where(api_path("networks", network, "peers"),
                     api_path("networks", network, "peers", name))

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"name": p.name, "description": p.description, "config": owned(p.config),
                "target_project": p.target_project, "target_network": p.target_network}

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"network": live.network, "name": live.name,
                                 "target_network": live.target_network}
        if live.target_project != DEFAULT:
            entry["target_project"] = live.target_project
        put_if(entry, "description", live.description)
        put_if(entry, "config", export_config(live.config))
        return entry

    # -- reading it live ---------------------------------------------------------------------
    # One listing per managed OVN network of the networks' listing.

    needs = (("networks", "listing"),)

    @property
    def observed_type(self) -> type:
        return ObservedNetworkPeer

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        return {("network", n["name"]): Get.listing(api_path("networks", n["name"], "peers"))
                for n in recorded.metadata("networks", "listing") or ()
                if n.get("managed") and n.get("type") == "ovn" and n.get("status") == "Created"}

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedNetworkPeer"]:
        out = {}
        for key, (items, _etag) in recorded.of(self.section).items():
            if not (isinstance(key, tuple) and key[0] == "network"):
                continue
            for item in items or ():
                peer = parse_peer(item, key[1])
                etag = recorded.etag(self.section, ("etag", self.ident(peer)))
                out[self.live_key(self.ident(peer))] = with_etag(peer, etag)
        return out


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedNetworkPeer:
    network: str
    name: str
    target_network: str = ""
    target_project: str = DEFAULT
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    status: str = ""
    used_by: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None


def parse_peer(item: dict[str, Any], network: str, etag: str | None = None) -> ObservedNetworkPeer:
    config = clean_config(item.get("config"))
    return ObservedNetworkPeer(
        network=network, name=item["name"], target_network=item.get("target_network") or "",
        target_project=item.get("target_project") or DEFAULT,
        description=item.get("description", ""), config=config, status=item.get("status", ""),
        used_by=tuple(item.get("used_by") or ()),
        managed_by_lxdplan=marked(config), etag=etag)


SPEC = NetworkPeerSpec()


def _payload(step: Step) -> "Write | Delete":
    """The step's payload: a create or update (``Write``) or a delete."""
    if not isinstance(step.payload, (Write, Delete)):
        raise TypeError(f"step {step.id} carries {type(step.payload).__name__}, not a {SPEC.kind} payload")
    return step.payload
