"""Projects: created with their config (ownership marked), PUT whole on update.

LXD sets a project's ``features.*`` at create and freezes them while the project is in use:
enforced only when declared, kept on a PUT. The ``default`` project is never deleted; before a
cluster exists it is not read, and it is there on every server with the server's description.
References: ``restricted.networks.{uplinks,subnets,access}`` and ``restricted.cluster.groups``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from lxdplan import references
from lxdplan.compare import desc, diff_config, put_config
from lxdplan.kinds.base import (
    Adoptable,
    Checked,
    EtagReads,
    KindSpec,
    Referring,
    SingleRequests,
    Stage,
    Where,
    api_path,
    payload_of,
)
from lxdplan.kinds.common import (
    DEFAULT,
    builtin_description,
    export_config,
    owned,
    plan_update,
    put_if,
)
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, clean_config, marked, used_by
from lxdplan.plan import Action, Kind, Payload, Step

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

AUTO_PREFIX = "features."  # set by LXD at create, frozen while in use


@dataclass(frozen=True)
class Project:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Create(Payload):
    name: str
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # with the ownership mark


@dataclass(frozen=True)
class Update(Payload):
    """The full config map to PUT (live ``features.*`` kept)."""

    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delete(Payload):
    """``DELETE /1.0/projects/<name>`` (no fields)."""


class ProjectSpec(Checked, Referring, SingleRequests, Adoptable, EtagReads):
    kind = Kind.PROJECT
    section = "projects"
    answer_shape = AnswerShape({"projects": "name"})
    etag_after_plan = True
    stage = Stage.BEFORE_JOINS
    rank, delete_rank, list_rank = 20, 50, 40
    keep = frozenset({DEFAULT})
    payloads = {Action.CREATE: Create, Action.UPDATE: Update, Action.DELETE: Delete}
    load_rank = 30

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        return tuple(Project(p.get("name"), p.get("description", ""),
                             checker.object_config(p.get("config"), (self.section, i, "config")),
                             checker.src.line((self.section, i)) or 0)
                     for i, p in items)

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        """``restricted.*`` keys name declared networks and cluster groups."""
        self.check_refs(checker, declared, specs, (Kind.NETWORK, Kind.CLUSTER_GROUP))

    def refs(self, obj) -> list[references.Ref]:
        return references.project_refs(obj.config)

    def plan(self, ctx: "PlanContext") -> list[str]:
        for project in self.declared(ctx.desired):
            live = self.live(ctx.observed).get(project.name)
            if live is None and ctx.fresh and project.name == DEFAULT:
                live = ObservedProject(DEFAULT, description=ctx.builtin_description(self.kind))
            if live is None:
                ctx.steps.add(
                    Action.CREATE, self.kind, project.name, depends_on=ctx.after_bootstrap(),
                    after={**desc(project.description), "config": dict(project.config)},
                    reason=f"project {project.name} is in the file but not in the cluster",
                    payload=Create(project.name, project.description, owned(project.config)),
                )
                continue
            changes = diff_config(live.config, project.config, auto_prefix=AUTO_PREFIX)
            description = builtin_description(project.name, project.description, live)
            plan_update(ctx, self.kind, project.name, live, description, changes,
                        Update(description,
                               put_config(live.config, project.config, auto_prefix=AUTO_PREFIX)),
                        depends_on=ctx.after_bootstrap())
        return []


    def where(self, step: Step) -> Where:
        name = getattr(_payload(step), "name", step.name)
        return Where("/1.0/projects", api_path("projects", name))

    def user_blocks(self, live, path: str, project: str) -> bool:
        return (path, project) != ("/1.0/profiles/default", live.name)  # goes with the project

    def where_declared(self, obj) -> Where:
        return Where("/1.0/projects", api_path("projects", obj.name))

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Create)
        return {"name": p.name, "description": p.description, "config": owned(p.config)}

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": live.name}
        put_if(entry, "description", live.description)
        config = export_config(live.config)
        if live.name == DEFAULT:  # LXD's own: it refuses to change the default project's
            config = {k: v for k, v in config.items() if not k.startswith(AUTO_PREFIX)}
        put_if(entry, "config", config)
        return entry

    # -- reading it live ---------------------------------------------------------------------
    # The listing (key ``"listing"``) also tells other kinds which projects have collections
    # of their own (``livedata.projects_with``).

    list_read = Get.listing("/1.0/projects")

    @property
    def observed_type(self) -> type:
        return ObservedProject

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedProject"]:
        return {p["name"]: parse_project(p, recorded.etag(self.section, ("etag", (p["name"],))))
                for p in recorded.metadata(self.section, "listing", [])}


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedProject:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    used_by: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None


def parse_project(item: dict[str, Any], etag: str | None = None) -> ObservedProject:
    config = clean_config(item.get("config"))
    return ObservedProject(
        name=item["name"],
        description=item.get("description", ""),
        config=config,
        used_by=used_by(item),
        managed_by_lxdplan=marked(config),
        etag=etag,
    )


def _payload(step: Step) -> Create | Update | Delete:
    """The payload of a step of this kind (one of ``payloads``)."""
    assert isinstance(step.payload, (Create, Update, Delete)), step.payload
    return step.payload


SPEC = ProjectSpec()
