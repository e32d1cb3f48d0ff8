"""Network zones: the DNS zones LXD serves for its networks, created with their config (ownership
marked), PUT whole on update. Their records are a kind of their own (``network_zone_record``).

A zone lives in a project, but lxdplan's networks are the default project's and a network names
zones of its own project, so lxdplan manages the default project's zones only (the listing of
``/1.0/network-zones``). LXD takes ``dns.nameservers``, ``network.nat``, ``peers.NAME.address``,
``peers.NAME.key`` (a TSIG secret: sensitive) and ``user.*`` keys, refuses any other, and refuses
to delete a zone a network uses (lxd-5.0.2 ``lxd/network/zone/zone.go``; Incus 6.0.4 alike).

References: declared here rather than in the networks' module, a network's ``dns.zone.forward``,
``dns.zone.reverse.ipv4`` and ``dns.zone.reverse.ipv6`` (comma-separated zone names) name
zones: the zone is created before the network names it and deleted after it stops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from lxdplan.compare import config_views, desc, diff_config, put_config
from lxdplan.errors import fmt_path
from lxdplan.kinds.base import (
    Adoptable,
    Checked,
    EtagReads,
    KindSpec,
    NamedByOthers,
    SingleRequests,
    Stage,
    Where,
    api_path,
    payload_of,
)
from lxdplan.kinds.common import export_config, owned, put_if
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, common_fields, with_etag
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.references import Ref

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

# A network's keys naming zones (each a comma-separated list).
ZONE_KEYS = ("dns.zone.forward", "dns.zone.reverse.ipv4", "dns.zone.reverse.ipv6")
_PEER_KEY = re.compile(r"peers\.[^.]+\.(address|key)")
_KEYS = frozenset({"dns.nameservers", "network.nat"})
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
ZONE_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


@dataclass(frozen=True)
class NetworkZone:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Write(Payload):
    """A create (config with the ownership mark) or an update (the full config, mark kept)."""

    name: str
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delete(Payload):
    name: str


def zone_key_ok(key: str) -> bool:
    """Whether LXD takes ``key`` in a zone's config."""
    return key in _KEYS or key.startswith("user.") or bool(_PEER_KEY.fullmatch(key))


def zone_names(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


class NetworkZoneSpec(Checked, NamedByOthers, SingleRequests, Adoptable, EtagReads):
    kind = Kind.define("network_zone", "network zone")
    section = "network_zones"
    answer_shape = AnswerShape({"network-zones": "name"})
    etag_after_plan = True
    stage = Stage.BEFORE_JOINS  # networks name them, and networks are made before the joins
    rank, delete_rank, list_rank = 36, 46, 26
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    load_rank = 36
    secret_keys = frozenset({"peers.*.key"})  # a peer's TSIG key

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        out = []
        for i, raw in items:
            path = (self.section, i)
            name = raw.get("name")
            if isinstance(name, str) and not ZONE_NAME.fullmatch(name):
                checker.error(path + ("name",), f'{fmt_path(path + ("name",))}: "{name}" is not a '
                                                "DNS zone name (dot-separated labels of 1 to 63 "
                                                "ASCII letters, digits, - and _)")
            config = checker.object_config(raw.get("config"), path + ("config",))
            for key in config:
                if not zone_key_ok(key):
                    checker.error(path + ("config", key),
                                  f'"{key}" in {fmt_path(path + ("config",))} is not a key a '
                                  "network zone takes (dns.nameservers, network.nat, "
                                  "peers.NAME.address, peers.NAME.key, user.*)", key=True)
            out.append(NetworkZone(str(raw.get("name") or ""), raw.get("description", ""), config,
                                   checker.src.line(path) or 0))
        return tuple(out)

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        """The zones a declared network names are declared (LXD refuses an unknown name)."""
        known = self.known(declared)
        for i, obj in enumerate(declared.get("networks", ())):
            for ref in self.refs_into(Kind.NETWORK, obj):
                if ref.ident in known:
                    continue
                where = ("networks", i) + ref.at
                checker.error(where, f'{fmt_path(where)} names network zone "{ref.name}", which '
                                     f"is not declared in {self.section}", key=True)

    def refs_into(self, kind: Kind, obj) -> list[Ref]:
        """A network's ``dns.zone.*`` keys."""
        if kind != Kind.NETWORK:
            return []
        config = getattr(obj, "config", None) or {}
        return [Ref(self.kind, (name,), ("config", key))
                for key in ZONE_KEYS for name in zone_names(config.get(key))]

    def plan(self, ctx: "PlanContext") -> list[str]:
        self._incus_join_note(ctx)
        for zone in self.declared(ctx.desired):
            live = self.live(ctx.observed).get(zone.name)
            if live is None:
                ctx.steps.add(
                    Action.CREATE, self.kind, zone.name, depends_on=ctx.after_bootstrap(),
                    after={**desc(zone.description), "config": dict(zone.config)},
                    reason=f"network zone {zone.name} is in the file but not in the cluster",
                    payload=Write(zone.name, zone.description, owned(zone.config)),
                )
                continue
            before, after = config_views(diff_config(live.config, zone.config), live.description,
                                         zone.description)
            if not (before or after):
                continue
            ctx.steps.add(
                Action.UPDATE, self.kind, zone.name, depends_on=ctx.after_bootstrap(),
                before=before, after=after,
                reason=f"network zone {zone.name} differs from the file",
                etag=live.etag,
                payload=Write(zone.name, zone.description, put_config(live.config, zone.config)),
            )
        return []

    def _incus_join_note(self, ctx: "PlanContext") -> None:
        """Incus 6.0.4 cannot join a member while a bridge names a zone: the joiner creates the
        bridge from the cluster's config and checks its ``dns.zone.*`` against its own database,
        which has no zones yet ("network zone ... not found"; seen live; LXD 5.0.2 joins)."""
        if not ctx.joiners or (ctx.desired.backend or ctx.observed.backend) != "incus":
            return
        naming = sorted(n.name for n in ctx.desired.section("networks") if self.refs_into(Kind.NETWORK, n))
        if naming:
            joiners = ", ".join(m.name for m in ctx.joiners)
            ctx.diagnostics.append(
                f"Incus refuses to join {joiners} while network {', '.join(naming)} names network "
                "zones (the joining member checks dns.zone.* against its own empty database): "
                "apply without those keys first and add them once the members have joined")


    def delete_payload(self, live) -> Delete:
        return Delete(live.name)

    def delete_block(self, ctx: "PlanContext", live) -> str | None:
        """LXD refuses to delete a zone a network names: a network the file drops is deleted
        first and one it declares is updated first (the references), but one lxdplan neither
        keeps nor deletes (not declared, not managed) goes on naming it."""
        declared = {n.name for n in ctx.desired.section("networks")}
        stuck = sorted(
            n.name for n in ctx.observed.section("networks").values()
            if n.name not in declared and not n.managed_by_lxdplan
            and any(ref.ident == (live.name,) for ref in self.refs_into(Kind.NETWORK, n)))
        if not stuck:
            return None
        return (f"network {', '.join(stuck)} (not managed by lxdplan) names it, and LXD does not "
                "delete a zone in use: remove it from that network's dns.zone.* keys")

    def where(self, step: Step) -> Where:
        return self._where(_payload(step).name)

    def where_declared(self, obj) -> Where:
        return self._where(obj.name)

    @staticmethod
    def _where(name: str) -> Where:
        return Where("/1.0/network-zones", api_path("network-zones", name))

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"name": p.name, "description": p.description, "config": owned(p.config)}

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": live.name}
        put_if(entry, "description", live.description)
        put_if(entry, "config", export_config(live.config))
        return entry

    # -- reading it live ---------------------------------------------------------------------
    # The default project's listing (see the module's docstring).

    list_read = Get.listing("/1.0/network-zones")

    @property
    def observed_type(self) -> type:
        return ObservedNetworkZone

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedNetworkZone"]:
        out = {}
        for item in recorded.metadata(self.section, "listing") or ():
            zone = parse_zone(item)
            out[zone.name] = with_etag(zone, recorded.etag(self.section, ("etag", (zone.name,))))
        return out


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedNetworkZone:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    project: str = "default"
    used_by: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None


def parse_zone(item: dict[str, Any], etag: str | None = None) -> ObservedNetworkZone:
    return ObservedNetworkZone(**common_fields(item, "default"), etag=etag)


SPEC = NetworkZoneSpec()


def _payload(step: Step) -> "Write | Delete":
    """The step's payload: a create or update (``Write``) or a delete."""
    if not isinstance(step.payload, (Write, Delete)):
        raise TypeError(f"step {step.id} carries {type(step.payload).__name__}, not a {SPEC.kind} payload")
    return step.payload
