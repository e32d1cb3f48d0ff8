"""Profiles: per project, config and devices, PUT whole (devices compared device by device).

The ``default`` profile of every project is never deleted; before a cluster exists it is not
read, and it is there with the server's description, empty config and no devices. The apply
lock is a profile too (``lxdplan.providers.lock``): observation drops it. References: its
project, and its devices' pools, volumes (``source``), networks and nic parents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

from lxdplan import keys, references
from lxdplan.compare import comparable, desc, diff_config, diff_devices, put_config, shown
from lxdplan.errors import fmt_path
from lxdplan.filecheck import names
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
    in_project,
    payload_of,
)
from lxdplan.kinds.common import (
    DEFAULT,
    builtin_description,
    export_config,
    owned,
    plan_update,
    put_if,
    scoped,
)
from lxdplan.livedata import (
    AnswerShape,
    Get,
    Reading,
    Recorded,
    clean_config,
    common_fields,
    project_items,
    projects_with,
    with_etag,
)
from lxdplan.plan import Action, Kind, Payload, Step

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    project: str = DEFAULT
    line: int = 0


@dataclass(frozen=True)
class Write(Payload):
    """A create (config with the ownership mark) or an update (the full config, ownership
    kept, and the full devices) of profile ``name`` in ``project``."""

    name: str
    project: str = DEFAULT
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Delete(Payload):
    name: str
    project: str = DEFAULT


def _devices(devices: dict) -> dict[str, dict]:
    return {k: dict(v) for k, v in devices.items()}


def _load(c: "Checker", raw: dict, path: tuple, pools: set[str], networks: set[str],
          projects: set[str], scope: tuple[set[tuple[str, ...]], set[str]]) -> Profile:
    project = raw.get("project", DEFAULT)
    if project == DEFAULT and str(raw.get("name", "")).startswith(keys.LOCK_PROFILE):
        c.error(path + ("name",), f'{fmt_path(path)}: the profile name "{keys.LOCK_PROFILE}" is '
                                  "lxdplan's own (its apply lock); choose another name")
    if project not in projects:
        c.error(path + ("project",), f'{fmt_path(path)} is in project "{project}", which is not '
                                     f"declared in projects")
    devices: dict[str, dict[str, str]] = {}
    for dev_name, dev in (raw.get("devices") or {}).items():
        dp = path + ("devices", dev_name)
        c.device_name(dp)
        values = c.plain_config(dev, dp)
        devices[dev_name] = values
        dev_type = values.get("type")
        if dev_type is None:
            c.error(dp, f"{fmt_path(dp + ('type',))} is missing (disk, nic, ...)")
        if dev_type == "disk" and "pool" in values and values["pool"] not in pools:
            c.error(dp + ("pool",), f'{fmt_path(dp)} uses storage pool "{values["pool"]}", which is '
                                    f"not declared in storage_pools")
        if dev_type == "nic":
            _nic(c, dp, values, networks, project, scope)
    return Profile(raw.get("name", ""), raw.get("description", ""),
                   c.object_config(raw.get("config"), path + ("config",)), devices, project,
                   c.src.line(path) or 0)


def _nic(c: "Checker", dp: tuple, values: dict[str, str], networks: set[str], project: str,
         scope: tuple[set[tuple[str, ...]], set[str]]) -> None:
    idents, own = scope
    if "network" in values and (net := references.nic_network(project, values["network"], own)
                                ) not in idents:
        c.error(dp + ("network",), f'{fmt_path(dp)} uses network "{values["network"]}", which '
                                   f"is not declared in networks{references.network_scope_note(net)}")
    nictype = values.get("nictype")
    undeclared = ("parent" in values and "network" not in values
                  and nictype not in references.HOST_PARENT_NICTYPES
                  and values["parent"] not in networks)
    if undeclared and nictype == "bridged":
        # A bridged nic may use a bridge the hosts made themselves (LXD lists it unmanaged).
        c.warning(dp + ("parent",), f'{fmt_path(dp)} has parent "{values["parent"]}", which is '
                                    f"not declared in networks: it must be a bridge that exists "
                                    f"on every member's host")
    elif undeclared:
        c.error(dp + ("parent",), f'{fmt_path(dp)} has parent "{values["parent"]}", which is not '
                                  f"declared in networks (only physical, macvlan, sriov, ipvlan "
                                  f"and routed nics take a host interface as parent)")


class ProfileSpec(Checked, Referring, SingleRequests, Adoptable, EtagReads, DependentReads):
    kind = Kind.PROFILE
    section = "profiles"
    answer_shape = AnswerShape({"profiles": "name"})
    etag_after_plan = True
    stage = Stage.AFTER_MEMBERS
    rank, delete_rank, list_rank = 60, 10, 30
    keep = frozenset({DEFAULT})
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    load_rank = 40
    twice = "profile (per project)"

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        pools, networks = names(declared, "storage_pools"), names(declared, "networks")
        projects = names(declared, "projects", DEFAULT)
        scope = references.network_scope(declared)
        return tuple(_load(checker, raw, (self.section, i), pools, networks, projects, scope)
                     for i, raw in items)

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        """A disk's ``source`` names a declared volume, or one that must exist (a warning: it
        may live in the pool unmanaged)."""
        volumes = {(v.pool, v.name) for v in declared.get("storage_volumes", ())}
        for i, profile in enumerate(declared.get(self.section, ())):
            for ref in self.refs(profile):
                if ref.kind == Kind.STORAGE_VOLUME and ref.ident not in volumes:
                    where = (self.section, i) + ref.at
                    checker.warning(where, f'{fmt_path(where)} uses storage volume "{ref.ident[1]}" '
                                           f'of pool "{ref.ident[0]}", which is not declared in '
                                           "storage_volumes: it must exist in the pool before the "
                                           "profile is applied")

    def ident(self, obj) -> tuple[str, ...]:
        return (obj.project, obj.name)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        return (_payload(step).project, _payload(step).name)

    def refs(self, obj) -> list[references.Ref]:
        return references.profile_refs(obj.project, obj.devices)

    def label(self, ident: tuple) -> str:
        return scoped(*ident)  # the project shown when not default

    def plan(self, ctx: "PlanContext") -> list[str]:
        for profile in self.declared(ctx.desired):
            name = self.display(profile)
            live = self.live_of(ctx.observed, profile)
            if live is None and ctx.fresh and (profile.project, profile.name) == (DEFAULT, DEFAULT):
                live = ObservedProfile(DEFAULT, description=ctx.builtin_description(self.kind))
            devices = _devices(profile.devices)
            if live is None:
                ctx.steps.add(
                    Action.CREATE, self.kind, name, depends_on=ctx.after_bootstrap(),
                    after={**desc(profile.description), "config": dict(profile.config),
                           "devices": devices},
                    reason=f"profile {name} is in the file but not in the cluster",
                    payload=Write(profile.name, profile.project, profile.description,
                                  owned(profile.config), devices),
                )
                continue
            description = builtin_description(profile.name, profile.description, live)
            plan_update(ctx, self.kind, name, live, description,
                        diff_config(live.config, profile.config),
                        Write(profile.name, profile.project, description,
                              put_config(live.config, profile.config), devices),
                        devices=diff_devices(live.devices, profile.devices),
                        depends_on=ctx.after_bootstrap())
        return []


    def delete_before(self, live) -> dict[str, Any]:
        return {**desc(live.description), "config": shown(live.config),
                "devices": _devices(live.devices)}

    def delete_payload(self, live) -> Delete:
        return Delete(live.name, live.project)

    def where(self, step: Step) -> Where:
        return in_project("profiles", _payload(step).name, _payload(step).project)

    def where_declared(self, obj) -> Where:
        return in_project("profiles", obj.name, obj.project)

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"name": p.name, "description": p.description, "config": owned(p.config),
                "devices": p.devices}

    def put_body(self, step: Step, live: dict[str, Any]) -> dict[str, Any]:
        return {**super().put_body(step, live), "devices": payload_of(step, Write).devices}

    def holds(self, live: dict[str, Any], body: dict[str, Any]) -> bool:
        devices = {d: comparable(v) for d, v in (live.get("devices") or {}).items()}
        return (super().holds(live, body)
                and devices == {d: comparable(v) for d, v in body["devices"].items()})

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": live.name}
        if live.project != DEFAULT:
            entry["project"] = live.project
        put_if(entry, "description", live.description)
        put_if(entry, "config", export_config(live.config))  # left out: none (PUT whole)
        put_if(entry, "devices", {d: dict(sorted(c.items())) for d, c in sorted(live.devices.items())})
        return entry

    # -- reading it live ---------------------------------------------------------------------
    # One listing of every project's profiles where the server has ``all-projects`` for them,
    # else the default project's and one per project with its own (``features.profiles``).
    # The apply lock (``keys.LOCK_PROFILE`` and its claims) is nobody's to plan or list.

    needs = (("projects", "listing"),)

    @property
    def observed_type(self) -> type:
        return ObservedProfile

    def listings(self, reading: Reading) -> dict[Hashable, Get]:
        every = {"all-projects": "true"} if reading.backend.all_projects_profiles else {}
        return {"listing": Get.listing("/1.0/profiles", every)}

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        if reading.backend.all_projects_profiles:
            return {}
        return {("project", p): Get.listing("/1.0/profiles", {"project": p})
                for p in projects_with(recorded, "profiles")}

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedProfile"]:
        out = {}
        for project, item in project_items(recorded, self.section):
            if ((item.get("project") or project) == DEFAULT
                    and str(item.get("name", "")).startswith(keys.LOCK_PROFILE)):
                continue
            prof = parse_profile(item, project=project)
            prof = with_etag(prof, recorded.etag(self.section, ("etag", self.ident(prof))))
            out[self.live_key(self.ident(prof))] = prof
        return out


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedProfile:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    project: str = "default"
    used_by: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None



def parse_profile(item: dict[str, Any], project: str | None = None,
                  etag: str | None = None) -> ObservedProfile:
    return ObservedProfile(
        **common_fields(item, project),
        devices={d: clean_config(dev) for d, dev in (item.get("devices") or {}).items()},
        etag=etag,
    )


def _payload(step: Step) -> Write | Delete:
    """The payload of a step of this kind (one of ``payloads``)."""
    assert isinstance(step.payload, (Write, Delete)), step.payload
    return step.payload


SPEC = ProfileSpec()
