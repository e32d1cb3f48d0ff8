"""Network ACLs: per project (the project's own where it has ``features.networks``), created
with their rules and ``user.*`` config (ownership marked), PUT whole on update.

Rules are compared as two ordered lists (``ingress``, ``egress``) of LXD's rule fields. LXD
requires ``action`` and ``state`` (lxdplan fills in ``state: enabled``), trims every field and
the items of the comma-separated lists (``source``, ``destination``, the ports), drops empty
fields when it answers, and refuses a rule repeated in one direction and any config key but
``user.*`` (lxd-5.0.2 ``lxd/network/acl/driver_common.go``, ``shared/api/network_acl.go``;
Incus 6.0.4 alike). A PATCH replaces the rules too, so adoption PUTs the object as read.

References: its project; and, declared here rather than in the users' modules, a network's
``security.acls`` (ACLs of the default project: lxdplan's networks are the default project's)
and a nic device's ``security.acls`` in profiles and instances (ACLs of the nic's network
project: the object's project where that has ``features.networks``, else ``default``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

from lxdplan.compare import config_views, desc, diff_config, put_config, shown
from lxdplan.errors import fmt_path
from lxdplan.filecheck import normalise
from lxdplan.kinds.base import (
    Adoptable,
    Checked,
    DependentReads,
    EtagReads,
    KindSpec,
    NamedByOthers,
    Referring,
    Request,
    SingleRequests,
    Stage,
    Where,
    in_project,
    payload_of,
)
from lxdplan.kinds.common import DEFAULT, export_config, owned, put_if, scoped
from lxdplan.livedata import (
    AnswerShape,
    Get,
    Reading,
    Recorded,
    common_fields,
    project_items,
    projects_with,
    with_etag,
)
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.references import Ref

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

# A rule's fields, in the order LXD documents them (and the plan shows them).
RULE_FIELDS = ("action", "state", "description", "source", "destination", "protocol",
               "source_port", "destination_port", "icmp_type", "icmp_code")
_LISTS = frozenset({"source", "destination", "source_port", "destination_port"})
DIRECTIONS = ("ingress", "egress")
ACLS_KEY = "security.acls"  # a network's or a nic device's list of ACL names

Rule = dict[str, str]


def normalise_rule(rule: Mapping[str, Any]) -> Rule:
    """A rule as LXD stores and answers it: fields trimmed (list items too), empty ones left
    out, ``state`` ``enabled`` when not given."""
    out: Rule = {}
    for name in RULE_FIELDS:
        value = rule.get(name)
        if name == "state" and value in (None, ""):
            value = "enabled"
        if value is None:
            continue
        text = normalise(value).strip()
        if name in _LISTS:
            text = ",".join(part.strip() for part in text.split(","))
        if text:
            out[name] = text
    return out


@dataclass(frozen=True)
class NetworkACL:
    name: str
    project: str = DEFAULT
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Write(Payload):
    """A create (config with the ownership mark) or an update (the full config, ownership
    kept, and both rule lists) of ACL ``name`` in ``project``."""

    name: str
    project: str = DEFAULT
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    ingress: list[Rule] = field(default_factory=list)
    egress: list[Rule] = field(default_factory=list)


@dataclass(frozen=True)
class Delete(Payload):
    name: str
    project: str = DEFAULT


def _rules(c: "Checker", raw: dict, path: tuple, direction: str) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for i, rule in enumerate(raw.get(direction) or ()):
        if not isinstance(rule, dict):
            continue  # the schema said so
        norm = normalise_rule(rule)
        if norm in rules:
            where = path + (direction, i)
            first = path + (direction, rules.index(norm))
            c.error(where, f"{fmt_path(where)} repeats {fmt_path(first)} (LXD refuses a rule "
                           "given twice in one direction)")
        rules.append(norm)
    return tuple(rules)


def _load(c: "Checker", raw: dict, path: tuple, projects: Mapping[str, Any]) -> NetworkACL:
    project = raw.get("project", DEFAULT)
    if project not in projects:
        c.error(path + ("project",), f'{fmt_path(path)} is in project "{project}", which is not '
                                     "declared in projects")
    elif project != DEFAULT and projects[project].get("features.networks") != "true":
        c.error(path + ("project",), f'{fmt_path(path)} is in project "{project}", whose config '
                                     'does not set features.networks: "true" (without it the '
                                     "project uses the default project's ACLs)")
    config = c.object_config(raw.get("config"), path + ("config",))
    for key in config:
        if not key.startswith("user."):
            c.error(path + ("config", key), f'"{key}" in {fmt_path(path + ("config",))} is not a '
                                            "user.* key (the only keys an ACL's config takes)",
                    key=True)
    return NetworkACL(raw.get("name", ""), project, raw.get("description", ""), config,
                      _rules(c, raw, path, "ingress"), _rules(c, raw, path, "egress"),
                      c.src.line(path) or 0)


def _acl_names(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def _rule_views(live: tuple[Rule, ...], wanted: tuple[Rule, ...]) -> tuple[dict, dict]:
    """The rules that differ, by position: ``({"0": old}, {"0": new})``."""
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


class NetworkACLSpec(Checked, Referring, NamedByOthers, SingleRequests, Adoptable, EtagReads,
                     DependentReads):
    kind = Kind.define("network_acl", "network ACL")
    section = "network_acls"
    answer_shape = AnswerShape({"network-acls": "name"},
                               fields={"ingress": "objects", "egress": "objects"})
    etag_after_plan = True
    stage = Stage.BEFORE_JOINS  # networks name them, and networks are made before the joins
    rank, delete_rank, list_rank = 35, 45, 25
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    load_rank = 35  # after projects (their features.networks)
    twice = "network ACL (per project)"

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        projects = {p.name: p.config for p in declared.get("projects", ())}
        projects.setdefault(DEFAULT, {})
        return tuple(_load(checker, raw, (self.section, i), projects) for i, raw in items)

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        """The ACLs a declared network, profile or instance names are declared (LXD refuses an
        unknown name), in the project whose ACLs that object uses."""
        known = self.known(declared)
        networks_own = {p.name for p in declared.get("projects", ())
                        if p.config.get("features.networks") == "true"}
        for user in specs:
            for i, obj in enumerate(declared.get(user.section, ())):
                for ref in self.refs_into(user.kind, obj):
                    if not ref.certain:
                        continue
                    project, name = ref.ident
                    if project not in networks_own:
                        project = DEFAULT  # a project without networks of its own uses default's
                    if (project, name) in known:
                        continue
                    where = (user.section, i) + ref.at
                    checker.error(where, f'{fmt_path(where)} names network ACL '
                                         f'"{scoped(project, name)}", which is not declared in '
                                         f"{self.section}", key=True)

    def ident(self, obj) -> tuple[str, ...]:
        return (obj.project, obj.name)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        return (_payload(step).project, _payload(step).name)

    def refs(self, obj) -> list[Ref]:
        return [Ref(Kind.PROJECT, (obj.project,), ("project",))]

    def refs_into(self, kind: Kind, obj) -> list[Ref]:
        """A network's ``security.acls``; a nic's in a profile or instance. A nic of an object
        in another project names that project's ACL or, when the project has no networks of
        its own, the default project's: both are referenced (the order is right either way;
        ``check`` decides which one must be declared)."""
        if kind == Kind.NETWORK:
            return [Ref(self.kind, (DEFAULT, n), ("config", ACLS_KEY))
                    for n in _acl_names((obj.config or {}).get(ACLS_KEY))]
        devices = getattr(obj, "devices", None)
        project = getattr(obj, "project", None)
        if not isinstance(devices, dict) or not isinstance(project, str):
            return []
        out = []
        for dev_name, device in devices.items():
            if device.get("type") != "nic":
                continue
            at = ("devices", dev_name, ACLS_KEY)
            for n in _acl_names(device.get(ACLS_KEY)):
                out.append(Ref(self.kind, (project, n), at))
                if project != DEFAULT:
                    out.append(Ref(self.kind, (DEFAULT, n), at, certain=False))
        return out

    def label(self, ident: tuple) -> str:
        return scoped(*ident)  # the project shown when not default

    def plan(self, ctx: "PlanContext") -> list[str]:
        for acl in self.declared(ctx.desired):
            name = self.display(acl)
            live = self.live_of(ctx.observed, acl)
            ingress, egress = [dict(r) for r in acl.ingress], [dict(r) for r in acl.egress]
            if live is None:
                after: dict[str, Any] = {**desc(acl.description), "config": dict(acl.config)}
                for direction, rules in (("ingress", ingress), ("egress", egress)):
                    if rules:
                        after[direction] = {str(i): r for i, r in enumerate(rules)}
                ctx.steps.add(
                    Action.CREATE, self.kind, name, depends_on=ctx.after_bootstrap(),
                    after=after, reason=f"network ACL {name} is in the file but not in the cluster",
                    payload=Write(acl.name, acl.project, acl.description, owned(acl.config),
                                  ingress, egress),
                )
                continue
            before, after = config_views(diff_config(live.config, acl.config), live.description,
                                         acl.description)
            for direction in DIRECTIONS:
                old, new = _rule_views(getattr(live, direction), getattr(acl, direction))
                if old:
                    before[direction] = old
                if new:
                    after[direction] = new
            if not (before or after):
                continue
            ctx.steps.add(
                Action.UPDATE, self.kind, name, depends_on=ctx.after_bootstrap(),
                before=before, after=after, reason=f"network ACL {name} differs from the file",
                etag=live.etag,
                payload=Write(acl.name, acl.project, acl.description,
                              put_config(live.config, acl.config), ingress, egress),
            )
        return []


    def delete_before(self, live) -> dict[str, Any]:
        before: dict[str, Any] = {**desc(live.description), "config": shown(live.config)}
        for direction in DIRECTIONS:
            rules = getattr(live, direction)
            if rules:
                before[direction] = {str(i): dict(r) for i, r in enumerate(rules)}
        return before

    def delete_payload(self, live) -> Delete:
        return Delete(live.name, live.project)

    def where(self, step: Step) -> Where:
        return in_project("network-acls", _payload(step).name, _payload(step).project)

    def where_declared(self, obj) -> Where:
        return in_project("network-acls", obj.name, obj.project)

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"name": p.name, "description": p.description, "config": owned(p.config),
                "ingress": p.ingress, "egress": p.egress}

    def put_body(self, step: Step, live: dict[str, Any]) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {**super().put_body(step, live), "ingress": p.ingress, "egress": p.egress}

    def holds(self, live: dict[str, Any], body: dict[str, Any]) -> bool:
        return super().holds(live, body) and all(
            [normalise_rule(r) for r in live.get(d) or ()] == [normalise_rule(r) for r in body[d]]
            for d in DIRECTIONS)

    def adopt_request(self, obj, md: dict[str, Any]) -> Request:
        """As read, with the mark: a PUT (or PATCH) without the rules would drop them."""
        request = super().adopt_request(obj, md)
        return replace(request, body={**request.body, "ingress": md.get("ingress") or [],
                                      "egress": md.get("egress") or []})

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": live.name}
        if live.project != DEFAULT:
            entry["project"] = live.project
        put_if(entry, "description", live.description)
        put_if(entry, "config", export_config(live.config))
        for direction in DIRECTIONS:
            put_if(entry, direction, [dict(r) for r in getattr(live, direction)])
        return entry

    # -- reading it live ---------------------------------------------------------------------
    # The default project's listing and one per project with ``features.networks`` (LXD 5.0.2
    # has no ``all-projects`` for ACLs; Incus 6.0.4 has, as ``network_acls_all_projects``, but
    # the per-project listings serve both). A project without networks of its own answers with
    # the default project's ACLs, so it is not asked.

    needs = (("projects", "listing"),)
    list_read = Get.listing("/1.0/network-acls")

    @property
    def observed_type(self) -> type:
        return ObservedNetworkACL

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        return {("project", p): Get.listing("/1.0/network-acls", {"project": p})
                for p in projects_with(recorded, "networks")}

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedNetworkACL"]:
        out = {}
        for project, item in project_items(recorded, self.section):
            acl = parse_acl(item, project=project)
            acl = with_etag(acl, recorded.etag(self.section, ("etag", self.ident(acl))))
            out[self.live_key(self.ident(acl))] = acl
        return out


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedNetworkACL:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    ingress: tuple[dict[str, str], ...] = ()
    egress: tuple[dict[str, str], ...] = ()
    project: str = DEFAULT
    used_by: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None



def parse_acl(item: dict[str, Any], project: str | None = None,
              etag: str | None = None) -> ObservedNetworkACL:
    """An ACL from LXD's JSON (LXD 5.0.2 does not say its project: the listing's is given)."""
    return ObservedNetworkACL(
        **common_fields(item, project),
        ingress=tuple(normalise_rule(r) for r in item.get("ingress") or ()),
        egress=tuple(normalise_rule(r) for r in item.get("egress") or ()),
        etag=etag,
    )


def _payload(step: Step) -> Write | Delete:
    """The payload of a step of this kind (one of ``payloads``)."""
    assert isinstance(step.payload, (Write, Delete)), step.payload
    return step.payload


SPEC = NetworkACLSpec()
