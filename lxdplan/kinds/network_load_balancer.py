"""Network load balancers: an address an OVN network listens on, balanced over named backends
(``lxc network load-balancer``), created with the ownership mark in their config, PUT whole.

Only servers with the ``network_load_balancer`` API extension have them: Incus 6.0.4 does, LXD
5.0.2 does not (``/1.0/networks/NET/load-balancers`` answers "not found"; docs/design.md "OVN on
this machine"), so declaring one for a server without it is one plan error naming the member,
and nothing is read there. A load balancer is named by its OVN network and ``listen_address``
(in the uplink's ``ipv4.routes``/``ipv6.routes``, like an OVN forward), is cluster-wide (no
member), takes ``user.*`` config keys, ``backends`` (``name``, ``target_address``, optional
``target_port`` and ``description``) and ``ports`` (``protocol``, ``listen_port``,
``target_backend``: backend names, optional ``description``); the server keeps both lists in
the order given, so both are compared in order and sent whole with every create and PUT.

References: its network (certain; an OVN network of the file).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

from lxdplan.compare import config_views, desc, diff_config, put_config, shown
from lxdplan.errors import PlanError, fmt_path
from lxdplan.filecheck import normalise
from lxdplan.kinds.base import (
    Adoptable,
    Checked,
    DependentReads,
    EtagReads,
    KindSpec,
    Referring,
    Request,
    SingleRequests,
    Stage,
    Where,
    api_path,
    payload_of,
)
from lxdplan.kinds.common import DEFAULT, at, export_config, owned, put_if
from lxdplan.kinds.network_forward import check_uplink_routes
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, clean_config, marked, with_etag
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.references import Ref

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

EXTENSION = "network_load_balancer"
BACKEND_FIELDS = ("name", "description", "target_address", "target_port")
PORT_FIELDS = ("description", "protocol", "listen_port")
Item = dict[str, Any]


def _text(value: Any) -> str:
    return "" if value is None else normalise(value).strip()


def normalise_backend(backend: Mapping[str, Any]) -> Item:
    """A backend as the server answers it, empty fields left out."""
    return {k: _text(backend.get(k)) for k in BACKEND_FIELDS if _text(backend.get(k))}


def normalise_port(port: Mapping[str, Any]) -> Item:
    """A port as the server answers it, empty fields left out; ``target_backend`` a list."""
    out: Item = {k: _text(port.get(k)) for k in PORT_FIELDS if _text(port.get(k))}
    targets = port.get("target_backend") or []
    if isinstance(targets, str):
        targets = [targets]
    names = [_text(t) for t in targets if _text(t)]
    if names:
        out["target_backend"] = names
    return out


@dataclass(frozen=True)
class NetworkLoadBalancer:
    network: str
    listen_address: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    backends: tuple[Item, ...] = ()
    ports: tuple[Item, ...] = ()
    line: int = 0

    @property
    def name(self) -> str:
        return self.listen_address


@dataclass(frozen=True)
class Write(Payload):
    """A create (config with the ownership mark) or an update (full config, mark kept), with
    both lists whole."""

    network: str
    listen_address: str
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    backends: list[Item] = field(default_factory=list)
    ports: list[Item] = field(default_factory=list)


@dataclass(frozen=True)
class Delete(Payload):
    network: str
    listen_address: str


def _load(c: "Checker", raw: dict, path: tuple, networks: dict[str, Any]) -> NetworkLoadBalancer:
    address = str(raw.get("listen_address") or "")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        c.error(path + ("listen_address",), f'{fmt_path(path + ("listen_address",))}: "{address}" '
                                            "is not an IP address (a load balancer listens on one)")
    network = str(raw.get("network") or "")
    net = networks.get(network)
    if net is not None and net.type != "ovn":
        c.error(path + ("network",), f'{fmt_path(path)} is on network "{network}" of type '
                                     f"{net.type}; lxdplan manages load balancers of OVN networks")
    elif net is not None:
        check_uplink_routes(c, path, address, net, networks)
    config = c.object_config(raw.get("config"), path + ("config",))
    for key in config:
        if not key.startswith("user."):
            c.error(path + ("config", key),
                    f'"{key}" in {fmt_path(path + ("config",))} is not a key a network load '
                    "balancer takes (user.*)", key=True)
    backends = tuple(normalise_backend(b) for b in raw.get("backends") or () if isinstance(b, dict))
    names = [b.get("name", "") for b in backends]
    for j, name in enumerate(names):
        if name in names[:j]:
            c.error(path + ("backends", j, "name"),
                    f'{fmt_path(path + ("backends", j))} repeats backend "{name}"')
    ports = tuple(normalise_port(p) for p in raw.get("ports") or () if isinstance(p, dict))
    for j, port in enumerate(ports):
        for target in port.get("target_backend", []):
            if target not in names:
                c.error(path + ("ports", j, "target_backend"),
                        f'{fmt_path(path + ("ports", j, "target_backend"))} names backend '
                        f'"{target}", which is not in {fmt_path(path + ("backends",))}')
    return NetworkLoadBalancer(network, address, raw.get("description", ""), config, backends,
                               ports, c.src.line(path) or 0)


def _views(live: tuple[Item, ...], wanted: tuple[Item, ...]) -> tuple[dict, dict]:
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


def missing_extension(ctx: "PlanContext") -> str | None:
    """The member whose server lacks the extension (the cluster's reader, else a declared
    member not yet clustered), or None."""
    observed = ctx.observed
    if observed.clustered:
        if EXTENSION in observed.api_extensions:
            return None
        return observed.config_member or next(iter(observed.members), "") or "the cluster"
    for name, st in observed.standalone.items():
        if st.reachable and st.backend and EXTENSION not in st.api_extensions:
            return name
    return None


class NetworkLoadBalancerSpec(Checked, Referring, SingleRequests, Adoptable, EtagReads,
                              DependentReads):
    kind = Kind.define("network_load_balancer", "network load balancer")
    section = "network_load_balancers"
    answer_shape = AnswerShape({"networks/[^/]+/load-balancers": "listen_address"},
                               fields={"backends": "objects", "ports": "objects"})
    etag_after_plan = True
    stage = Stage.BEFORE_JOINS  # OVN networks are cluster-wide, made before the joins
    rank, delete_rank, list_rank = 47, 33, 31
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    load_rank = 27  # after the networks (their type and uplink)

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        networks = {n.name: n for n in declared.get("networks", ()) if n.project == DEFAULT}
        return tuple(_load(checker, raw, (self.section, i), networks) for i, raw in items)

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        self.check_refs(checker, declared, specs, (Kind.NETWORK,))

    def ident(self, obj) -> tuple[str, ...]:
        return (obj.network, obj.listen_address)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        return (_payload(step).network, _payload(step).listen_address)

    def refs(self, obj) -> list[Ref]:
        return [Ref(Kind.NETWORK, (obj.network,), ("network",))]

    def plan(self, ctx: "PlanContext") -> list[str]:
        declared = self.declared(ctx.desired)
        if not declared:
            return []
        member = missing_extension(ctx)
        if member:
            first = declared[0]
            raise PlanError(f"{at(ctx, first)}network load balancer {self.display(first)} needs "
                            f"the {EXTENSION} API extension, which the server of member {member} "
                            f"({ctx.observed.backend} {ctx.observed.server_version}) does not have")
        lives = self.live(ctx.observed)
        for lb in declared:
            name = self.display(lb)
            live = lives.get(self.live_key(self.ident(lb)))
            backends, ports = [dict(b) for b in lb.backends], [dict(p) for p in lb.ports]
            if live is None:
                after: dict[str, Any] = {**desc(lb.description), "config": dict(lb.config)}
                if backends:
                    after["backends"] = {str(i): b for i, b in enumerate(backends)}
                if ports:
                    after["ports"] = {str(i): p for i, p in enumerate(ports)}
                ctx.steps.add(
                    Action.CREATE, self.kind, name, depends_on=ctx.after_bootstrap(), after=after,
                    reason=f"network load balancer {name} is in the file but not in the cluster",
                    payload=Write(lb.network, lb.listen_address, lb.description,
                                  owned(lb.config), backends, ports),
                )
                continue
            before, after = config_views(diff_config(live.config, lb.config), live.description,
                                         lb.description)
            for part in ("backends", "ports"):
                old, new = _views(getattr(live, part), getattr(lb, part))
                if old:
                    before[part] = old
                if new:
                    after[part] = new
            if not (before or after):
                continue
            ctx.steps.add(
                Action.UPDATE, self.kind, name, depends_on=ctx.after_bootstrap(),
                before=before, after=after,
                reason=f"network load balancer {name} differs from the file", etag=live.etag,
                payload=Write(lb.network, lb.listen_address, lb.description,
                              put_config(live.config, lb.config), backends, ports),
            )
        return []

    def delete_payload(self, live) -> Delete:
        return Delete(live.network, live.listen_address)

    def unmanaged_note(self, live) -> str:
        return ""

    def delete_before(self, live: Any) -> dict[str, Any]:
        before: dict[str, Any] = {**desc(live.description), "config": shown(live.config)}
        for part in ("backends", "ports"):
            if getattr(live, part):
                before[part] = {str(i): dict(x) for i, x in enumerate(getattr(live, part))}
        return before

    def where(self, step: Step) -> Where:
        return self._where(_payload(step).network, _payload(step).listen_address)

    def where_declared(self, obj) -> Where:
        return self._where(obj.network, obj.listen_address)

    @staticmethod
    def _where(network: str, address: str) -> Where:
        return Where(api_path("networks", network, "load-balancers"),
                     api_path("networks", network, "load-balancers", address))

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"listen_address": p.listen_address, "description": p.description,
                "config": owned(p.config), "backends": p.backends, "ports": p.ports}

    def put_body(self, step: Step, live: dict[str, Any]) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"description": p.description, "config": p.config, "backends": p.backends,
                "ports": p.ports}

    def holds(self, live: dict[str, Any], body: dict[str, Any]) -> bool:
        return super().holds(live, body) and all(
            [norm(i) for i in live.get(part) or ()] == [norm(i) for i in body[part]]
            for part, norm in (("backends", normalise_backend), ("ports", normalise_port)))

    def adopt_request(self, obj: Any, md: dict[str, Any]) -> Request:
        request = super().adopt_request(obj, md)
        return Request(request.method, request.path, request.params,
                       {**request.body, "backends": md.get("backends") or [],
                        "ports": md.get("ports") or []})

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"network": live.network, "listen_address": live.listen_address}
        put_if(entry, "description", live.description)
        put_if(entry, "config", export_config(live.config))
        put_if(entry, "backends", [dict(b) for b in live.backends])
        put_if(entry, "ports", [dict(p) for p in live.ports])
        return entry

    # -- reading it live ---------------------------------------------------------------------
    # One listing per managed OVN network, on a server with the extension only.

    needs = (("networks", "listing"),)

    @property
    def observed_type(self) -> type:
        return ObservedNetworkLoadBalancer

    def early_reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        return super().early_reads(reading, recorded) if _has(reading) else {}

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        if not _has(reading):
            return {}
        return {("network", n["name"]): Get.listing(api_path("networks", n["name"],
                                                             "load-balancers"))
                for n in recorded.metadata("networks", "listing") or ()
                if n.get("managed") and n.get("type") == "ovn" and n.get("status") == "Created"}

    def assemble(self, reading: Reading,
                 recorded: Recorded) -> dict[str, "ObservedNetworkLoadBalancer"]:
        out = {}
        for key, (items, _etag) in recorded.of(self.section).items():
            if not (isinstance(key, tuple) and key[0] == "network"):
                continue
            for item in items or ():
                lb = parse_load_balancer(item, key[1])
                etag = recorded.etag(self.section, ("etag", self.ident(lb)))
                out[self.live_key(self.ident(lb))] = with_etag(lb, etag)
        return out


def _has(reading: Reading) -> bool:
    """Whether the cluster's server has the extension (its reads would answer "not found")."""
    return bool(reading.backend is not None and reading.backend.has(EXTENSION))


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedNetworkLoadBalancer:
    network: str
    listen_address: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    backends: tuple[Item, ...] = ()
    ports: tuple[Item, ...] = ()
    used_by: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None

    @property
    def name(self) -> str:
        return self.listen_address


def parse_load_balancer(item: dict[str, Any], network: str,
                        etag: str | None = None) -> ObservedNetworkLoadBalancer:
    config = clean_config(item.get("config"))
    return ObservedNetworkLoadBalancer(
        network=network, listen_address=item["listen_address"],
        description=item.get("description", ""), config=config,
        backends=tuple(normalise_backend(b) for b in item.get("backends") or ()),
        ports=tuple(normalise_port(p) for p in item.get("ports") or ()),
        managed_by_lxdplan=marked(config), etag=etag)


SPEC = NetworkLoadBalancerSpec()


def _payload(step: Step) -> "Write | Delete":
    """The step's payload: a create or update (``Write``) or a delete."""
    if not isinstance(step.payload, (Write, Delete)):
        raise TypeError(f"step {step.id} carries {type(step.payload).__name__}, not a {SPEC.kind} payload")
    return step.payload
