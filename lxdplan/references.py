"""The references a configuration makes to other objects: one table for the whole product.

An object that names another one in its config or devices uses it: the used object must exist
(and carry its new config) before the user is created or changed, and the user must be deleted
(or changed to stop using it) before the used object is deleted. The planner walks every
object's references (``lxdplan.planner.refwalk``) and orders steps by them
(``lxdplan.planner.dependencies``) and the kinds check, when the file loads,
that the objects they name are declared (``Checked.check``, ``Referring.check_refs``).

The functions work on the declared objects (each kind's dataclass) and on the observed ones
(``lxdplan.state.observed``) alike: both have the same field names.

A reference is *certain* when LXD resolves the name as an object of that kind and refuses a name
that does not exist (a project's ``restricted.networks.subnets`` names an uplink network). It is
not certain when the name may also be something lxdplan does not manage, such as a host bridge
given as a bridged nic's ``parent``: that one orders steps only when such an object is declared.

Identities: a pool, network, project, cluster group or member is ``(name,)``; a storage volume
is ``(pool, name)`` (a profile names a volume without its member, so it waits for the volume on
every member); a profile and a network ACL are ``(project, name)``.

A kind may also declare the references other kinds' objects make to it, from its own module
(``NamedByOthers.refs_into``): the network ACLs kind reads ``security.acls`` of networks and nics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from lxdplan.plan import Kind

# Project keys whose value is a comma-separated list of names. `restricted.networks.zones` names
# network zones, which lxdplan does not manage: no reference.
PROJECT_LIST_KEYS: dict[str, tuple[Kind, bool]] = {
    "restricted.networks.uplinks": (Kind.NETWORK, True),
    "restricted.networks.access": (Kind.NETWORK, False),  # may be networks of the project itself
    "restricted.cluster.groups": (Kind.CLUSTER_GROUP, True),
}
# Project keys whose value is a comma-separated list of NETWORK:CIDR.
PROJECT_SUBNET_KEYS = ("restricted.networks.subnets",)
# Network keys naming another network: the uplink of an OVN network (certain); a `parent`
# (cluster-wide or member-specific) is usually a host interface, a managed network only sometimes.
NETWORK_KEYS: dict[str, bool] = {"network": True, "parent": False}
# nictypes whose `parent` is a host interface, never an LXD network.
HOST_PARENT_NICTYPES = frozenset({"physical", "macvlan", "sriov", "ipvlan", "routed"})


@dataclass(frozen=True)
class Ref:
    """``kind``/``ident`` is the object named; ``at`` is the path of the naming value inside the
    object (``("config", "restricted.networks.uplinks")``, ``("devices", "eth0", "parent")``)."""

    kind: Kind
    ident: tuple[str, ...]
    at: tuple[str | int, ...]
    certain: bool = True

    @property
    def name(self) -> str:
        return "/".join(self.ident)


def _names(value: Any) -> list[str]:
    if not isinstance(value, str):  # a Secret or None names nothing
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def project_refs(config: dict) -> list[Ref]:
    refs = []
    for key, (kind, certain) in PROJECT_LIST_KEYS.items():
        for name in _names(config.get(key)):
            refs.append(Ref(kind, (name,), ("config", key), certain))
    for key in PROJECT_SUBNET_KEYS:
        for entry in _names(config.get(key)):
            network, sep, _cidr = entry.partition(":")
            if sep and network:
                refs.append(Ref(Kind.NETWORK, (network,), ("config", key)))
    return refs


def network_refs(name: str, config: dict, members: dict) -> list[Ref]:
    refs = []
    maps = [(("config",), config)] + [(("members", m), keys) for m, keys in sorted(members.items())]
    for place, keys in maps:
        for key, certain in NETWORK_KEYS.items():
            target = keys.get(key)
            if isinstance(target, str) and target and target != name:
                refs.append(Ref(Kind.NETWORK, (target,), place + (key,), certain))
    return refs


def profile_refs(project: str, devices: dict) -> list[Ref]:
    refs = [Ref(Kind.PROJECT, (project,), ("project",))]
    for dev_name, device in devices.items():
        at = ("devices", dev_name)
        pool = device.get("pool")
        if pool:
            refs.append(Ref(Kind.STORAGE_POOL, (pool,), at + ("pool",)))
            source = device.get("source")
            if device.get("type") == "disk" and source:
                # A custom volume of that pool, maybe as <type>/<name>; a snapshot as <name>/<snap>.
                volume = source.split("/")[1] if source.startswith("custom/") else source.split("/")[0]
                refs.append(Ref(Kind.STORAGE_VOLUME, (pool, volume), at + ("source",), False))
        if device.get("type") == "nic":
            if device.get("network"):
                # In another project: that project's network if it has networks of its own,
                # else default's; both are referenced (the order is right either way).
                refs.append(Ref(Kind.NETWORK, (device["network"],), at + ("network",)))
                if project != "default":
                    refs.append(Ref(Kind.NETWORK, (project, device["network"]),
                                    at + ("network",), False))
            elif device.get("parent") and device.get("nictype") not in HOST_PARENT_NICTYPES:
                refs.append(Ref(Kind.NETWORK, (device["parent"],), at + ("parent",), False))
    return refs


def nic_network(project: str, network: str, own: Iterable[str]) -> tuple[str, ...]:
    """The identity of the network a nic of an object in ``project`` names: the project's own
    where it has ``features.networks`` (``own``: such projects), else the default project's
    (``(name,)``), as both servers resolve it."""
    return (project, network) if project != "default" and project in own else (network,)


def network_scope(declared: Mapping[str, tuple]) -> tuple[set[tuple[str, ...]], set[str]]:
    """The declared networks' identities and the declared projects with networks of their own
    (``features.networks: "true"``): what a nic's ``network`` resolves against."""
    idents: set[tuple[str, ...]] = {(n.name,) if n.project == "default" else (n.project, n.name)
                                    for n in declared.get("networks", ())}
    own = {p.name for p in declared.get("projects", ())
           if p.config.get("features.networks") == "true"}
    return idents, own


def network_scope_note(ident: tuple[str, ...]) -> str:
    """Which project's networks a nic's network (``nic_network``) was looked for in, when not
    the default project's: said after "is not declared in networks"."""
    return f' (project "{ident[0]}", which has networks of its own)' if len(ident) == 2 else ""


def volume_refs(project: str, pool: str) -> list[Ref]:
    return [Ref(Kind.STORAGE_POOL, (pool,), ("pool",)), Ref(Kind.PROJECT, (project,), ("project",))]


def member_refs(groups: Iterable[str] | None) -> list[Ref]:
    return [Ref(Kind.CLUSTER_GROUP, (g,), ("groups", i)) for i, g in enumerate(groups or ()) if g]
