"""Custom storage volumes: per project and pool, on a member for pools local to each member.

A volume's identity includes its member: one name on two members is two volumes, and lxdplan
never moves a volume between members (a plan error). Keys LXD copies from the pool's
``volume.*`` defaults at create are not removals when undeclared, and are kept on a PUT.
A volume is created on its member after that member's join. References: its pool and project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Mapping

from lxdplan import references
from lxdplan.compare import config_views, desc, diff_config, put_config
from lxdplan.errors import PlanError, fmt_path
from lxdplan.filecheck import MEMBERS, names
from lxdplan.kinds import storage_pool
from lxdplan.kinds.base import (
    Adoptable,
    DependentReads,
    EtagReads,
    OnMembers,
    Referring,
    SingleRequests,
    Stage,
    Where,
    api_path,
    payload_of,
)
from lxdplan.kinds.common import DEFAULT, at, export_config, owned, put_if, scoped
from lxdplan.kinds.snapshot import Snapshot, load_list
from lxdplan.kinds.snapshot import exported as snapshot_entries
from lxdplan.knownkeys import suggest
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, clean_config, marked, names_of, used_by, with_etag
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.state.observed import Observed

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext


@dataclass(frozen=True)
class StorageVolume:
    pool: str
    name: str
    member: str | None = None  # required for clustered local pools
    type: str = "custom"
    content_type: str = "filesystem"
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    project: str = DEFAULT
    line: int = 0
    snapshots: tuple[Snapshot, ...] = ()  # declared snapshots (``kinds.snapshot``)


@dataclass(frozen=True)
class Write(Payload):
    """A create (``POST`` on the pool's volumes, ``?target=`` the step's member; config with the
    ownership mark) or an update (the full config map to PUT, the pool defaults LXD copied in
    kept; ``content_type`` is fixed at create and not sent)."""

    pool: str
    name: str
    project: str = DEFAULT
    type: str = "custom"
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    content_type: str = "filesystem"


@dataclass(frozen=True)
class Delete(Payload):
    pool: str
    name: str
    project: str = DEFAULT
    type: str = "custom"


def _load(c: "Checker", raw: dict, path: tuple, pool_drivers: dict[str, str],
          member_names: set[str], projects: set[str]) -> StorageVolume:
    pool, member, project = raw.get("pool"), raw.get("member"), raw.get("project", DEFAULT)
    label = f'{fmt_path(path)} ("{raw.get("name")}")'
    if pool is None:
        pass
    elif pool not in pool_drivers:
        c.error(path + ("pool",), f'{label} is in storage pool "{pool}", which is not declared in '
                                  "storage_pools")
    elif member is None and pool_drivers[pool] in storage_pool.LOCAL_DRIVERS:
        c.error(path, f'{label} is in {pool_drivers[pool]} pool "{pool}", which is local to each '
                      "member: add member: <name>")
    if member is not None and member not in member_names:
        c.error(path + ("member",), f'{label} is on member "{member}", which is not in '
                                    f"cluster.members{suggest(member, member_names)}")
    if project not in projects:
        c.error(path + ("project",), f'{label} is in project "{project}", which is not declared '
                                     "in projects")
    return StorageVolume(pool=pool or "", name=raw.get("name", ""), member=member,
                         type=raw.get("type", "custom"),
                         content_type=raw.get("content_type", "filesystem"),
                         description=raw.get("description", ""),
                         config=c.object_config(raw.get("config"), path + ("config",)),
                         project=project, line=c.src.line(path) or 0,
                         snapshots=load_list(c, raw.get("snapshots"), path,
                                             parent=raw.get("name", ""), project=project,
                                             pool=pool or "", member=member or ""))


class StorageVolumeSpec(Referring, OnMembers, SingleRequests, Adoptable, EtagReads, DependentReads):
    kind = Kind.STORAGE_VOLUME
    section = "storage_volumes"
    answer_shape = AnswerShape({"storage-pools/[^/]+/volumes(/[^/]+)?": "name"})
    etag_after_plan = True
    stage = Stage.AFTER_MEMBERS
    rank, delete_rank, list_rank = 50, 20, 60
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    load_rank = 50
    twice = "storage volume (per project, pool and member)"

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        pool_drivers = {p.name: p.driver for p in declared.get("storage_pools", ())}
        member_names, projects = names(declared, MEMBERS), names(declared, "projects", DEFAULT)
        return tuple(_load(checker, raw, (self.section, i), pool_drivers, member_names, projects)
                     for i, raw in items)

    def file_idents(self, obj) -> list[tuple]:
        """The name last: the file checker skips an identity ending in None (a remote pool's
        volume has no member)."""
        return [(obj.project, obj.pool, obj.member, obj.name)]

    def ident(self, obj) -> tuple:
        return (obj.project, obj.pool, obj.name, obj.type, obj.member)

    def step_ident(self, step: Step) -> tuple:
        p = _payload(step)
        return (p.project, p.pool, p.name, p.type, step.member)

    def ref_ident(self, ident: tuple) -> tuple:
        """A disk device names a volume by pool and name: not its member (each member's volume
        of that name on a local pool is used), type nor project (LXD resolves it)."""
        return ident[1:3]

    def refs(self, obj) -> list[references.Ref]:
        return references.volume_refs(obj.project, obj.pool)

    def label(self, ident: tuple) -> str:
        return scoped(ident[0], f"{ident[1]}/{ident[2]}")

    def live_member(self, live) -> str | None:
        return live.member

    def plan(self, ctx: "PlanContext") -> list[str]:
        declared = self.declared(ctx.desired)
        for vol in declared:
            name = self.display(vol)
            same = (vol.project, vol.pool, vol.name, vol.type)
            same_name = [o for o in self.live(ctx.observed).values()
                         if (o.project, o.pool, o.name, o.type) == same]
            live = next((o for o in same_name if o.member == vol.member), None)
            declared_members = {v.member for v in declared
                                if (v.project, v.pool, v.name, v.type) == same}
            elsewhere = [o for o in same_name if o.member not in declared_members]
            if live is None and elsewhere:
                raise PlanError(
                    f"{at(ctx, vol)}storage volume {name} lives on "
                    f"{elsewhere[0].member or 'no member'} and the file says "
                    f"{vol.member or 'no member'}; lxdplan does not move volumes between members"
                )
            blocked = ctx.member_block(vol.member) if vol.member else None
            if live is None:
                ctx.steps.add(
                    Action.CREATE, self.kind, name, member=vol.member,
                    depends_on=ctx.after_bootstrap() + ctx.joined(vol.member),
                    after={"type": vol.type, "content_type": vol.content_type,
                           **desc(vol.description), "config": dict(vol.config)},
                    reason=f"storage volume {name} is in the file but not in the cluster",
                    blocked=blocked,
                    payload=Write(vol.pool, vol.name, vol.project, vol.type, vol.description,
                                  owned(vol.config), vol.content_type),
                )
                continue
            defaults = storage_pool.SPEC.volume_defaults(ctx.desired, ctx.observed, vol.pool)
            changes = diff_config(live.config, vol.config, inherited=defaults)
            b, a = config_views(changes, live.description, vol.description)
            if b or a:
                inherited = {k: v for k, v in live.config.items()
                             if k not in vol.config and defaults.get(k) == v}
                ctx.steps.add(
                    Action.UPDATE, self.kind, name, member=vol.member, before=b, after=a,
                    reason=f"storage volume {name} differs from the file", blocked=blocked,
                    etag=live.etag,
                    payload=Write(vol.pool, vol.name, vol.project, vol.type, vol.description,
                                  {**inherited, **put_config(live.config, vol.config)}),
                )
        return []


    def delete_block(self, ctx: "PlanContext", live) -> str | None:
        return ctx.member_block(live.member) if live.member else None

    def delete_payload(self, live) -> Delete:
        return Delete(live.pool, live.name, live.project, live.type)

    def unmanaged_note(self, live) -> str:
        return f"on {live.member}" if live.member else ""

    def where(self, step: Step) -> Where:
        p = _payload(step)
        return self._where(p.pool, p.type, p.name, p.project, step.member)

    def where_declared(self, obj) -> Where:
        return self._where(obj.pool, obj.type, obj.name, obj.project, obj.member)

    @staticmethod
    def _where(pool: str, type_: str, name: str, project: str, member: str | None) -> Where:
        params = {"project": project} if project != DEFAULT else {}
        if member:
            params["target"] = member
        return Where(api_path("storage-pools", pool, "volumes", type_),
                     api_path("storage-pools", pool, "volumes", type_, name), params, member)

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"name": p.name, "description": p.description, "config": owned(p.config),
                "type": p.type, "content_type": p.content_type}

    def adopt_target(self, obj: Any, observed: Observed) -> Any:
        return next((v for v in self.live(observed).values()
                     if (v.pool, v.name, v.project) == (obj.pool, obj.name, obj.project)
                     and (obj.member is None or v.member == obj.member)), None)

    def adopt_label(self, obj) -> str:
        """Import's report has no member column: the member (and project) are in the words."""
        return (f"storage volume {obj.pool}/{obj.name}" + (f" on {obj.member}" if obj.member else "")
                + (f" in project {obj.project}" if obj.project != DEFAULT else ""))

    def export_section(self, observed: Observed) -> list[dict[str, Any]]:
        """Each volume with the snapshots lxdplan made on it (``kinds.snapshot``)."""
        out = []
        for live in self.live(observed).values():
            entry = self.export(live)
            put_if(entry, "snapshots", snapshot_entries(observed, live.project, live.name,
                                                        live.pool, live.member or ""))
            out.append(entry)
        return out

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"pool": live.pool, "name": live.name}
        if live.member:
            entry["member"] = live.member
        if live.project != DEFAULT:
            entry["project"] = live.project
        if live.content_type != "filesystem":
            entry["content_type"] = live.content_type
        put_if(entry, "description", live.description)
        put_if(entry, "config", export_config(live.config))
        return entry

    # -- reading it live ---------------------------------------------------------------------
    # One listing per pool, every project at once: sent from the pools' cheap name list before
    # their listing arrives; the listing then adds any pool the name list missed.

    early_needs = (("storage_pools", "names"),)
    needs = (("storage_pools", "listing"),)

    @property
    def observed_type(self) -> type:
        return ObservedVolume

    def early_reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        names = names_of(recorded.metadata(storage_pool.SPEC.section, "names"))
        return {**{("volumes", p): _volumes(p) for p in names}, **super().early_reads(reading, recorded)}

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        return {("volumes", p["name"]): _volumes(p["name"])
                for p in storage_pool.SPEC.listed(recorded)}

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedVolume"]:
        out = {}
        for pool in storage_pool.SPEC.listed(recorded):
            for item in recorded.metadata(self.section, ("volumes", pool["name"]), []):
                vol = parse_volume(item, pool["name"])
                if vol is None:
                    continue
                vol = with_etag(vol, recorded.etag(self.section, ("etag", self.ident(vol))))
                out[f"{vol.project}/{vol.pool}/{vol.member or ''}/{vol.name}"] = vol
        return out


# -- reading it live ---------------------------------------------------------------------------


def _volumes(pool: str) -> Get:
    return Get.of(api_path("storage-pools", pool, "volumes"), {"recursion": 1, "all-projects": "true"})


@dataclass(frozen=True)
class ObservedVolume:
    pool: str
    name: str
    member: str | None = None  # location; None on a remote pool or unclustered server
    type: str = "custom"
    content_type: str = "filesystem"
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    project: str = "default"
    managed_by_lxdplan: bool = False
    etag: str | None = None
    used_by: tuple[str, ...] = ()


def parse_volume(item: dict[str, Any], pool: str, etag: str | None = None) -> ObservedVolume | None:
    """A custom volume (``None`` for instance/image volumes, which lxdplan does not manage, and
    for a volume's snapshots, which the pool's listing gives as ``VOLUME/SNAPSHOT``:
    ``kinds.snapshot``'s)."""
    if item.get("type", "custom") != "custom" or "/" in str(item.get("name", "")):
        return None
    config = clean_config(item.get("config"))
    return ObservedVolume(
        pool=pool,
        name=item["name"],
        member=item.get("location") or None,
        type="custom",
        content_type=item.get("content_type", "filesystem"),
        description=item.get("description", ""),
        config=config,
        project=item.get("project") or "default",
        managed_by_lxdplan=marked(config),
        etag=etag,
        used_by=used_by(item),
    )


def _payload(step: Step) -> Write | Delete:
    """The payload of a step of this kind (one of ``payloads``)."""
    assert isinstance(step.payload, (Write, Delete)), step.payload
    return step.payload


SPEC = StorageVolumeSpec()
