"""Networks: two-phase clustered objects (``lxdplan.kinds.twophase``).

``type`` cannot change in place. A bridge's (and an OVN network's) addresses and NAT keys are
generated at create: enforced only when declared. An OVN network takes no per-member definition
(no ``?target=``) and no member-specific keys at join. A network's ETag depends on the view
(``?target=<m>`` covers m's keys). References: an OVN network's uplink ``network`` (certain), a
``parent`` (cluster-wide or per member; usually a host interface, so not certain).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from lxdplan import keys, references
from lxdplan.errors import fmt_path
from lxdplan.kinds.twophase import TwoPhaseKind
from lxdplan.plan import Kind

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


_ADDRESSES = frozenset({"ipv4.address", "ipv4.nat", "ipv6.address", "ipv6.nat"})
# Cluster-wide keys LXD fills in when the file leaves them out.
AUTO_KEYS: dict[str, frozenset[str]] = {
    "bridge": _ADDRESSES,
    "ovn": _ADDRESSES | {"network"},
}


class NetworkKind(TwoPhaseKind):
    kind = Kind.define("network")
    section = "networks"
    rank, delete_rank, list_rank = 40, 40, 20
    type_field = "type"
    collection = "networks"
    join_entity = "network"
    etag_per_view = True
    declared_type, default_type, plural = Network, "bridge", "networks"
    load_rank = 20

    def load_checks(self, checker: "Checker", raw: dict, path: tuple, type_: str) -> dict:
        if type_ == "ovn" and raw.get("members"):
            checker.error(path + ("members",), f"{fmt_path(path)}: OVN networks take no members: "
                                               "(they have no member-specific keys); remove it",
                          key=True)
            return {k: v for k, v in raw.items() if k != "members"}
        return raw

    def check(self, checker: "Checker", declared: Mapping[str, tuple]) -> None:
        """An OVN network's uplink (``network``) is a declared network."""
        self.check_refs(checker, declared, (self.kind,))

    def auto_keys(self, type_: str) -> frozenset[str]:
        return AUTO_KEYS.get(type_, frozenset())

    def member_keys(self, type_: str) -> frozenset[str]:
        return keys.network_member_keys(type_)

    def define_targets(self, ctx, type_: str) -> list[str]:
        return [] if type_ == "ovn" else ctx.present  # OVN networks take no target

    def joins_with_keys(self, obj) -> bool:
        return obj.type != "ovn"

    def refs(self, obj) -> list[references.Ref]:
        return references.network_refs(obj.name, obj.config, obj.members)


KIND_SPEC = NetworkKind()
