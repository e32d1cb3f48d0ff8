"""Cluster groups: a description and the members in them (members name their groups).

Groups have no config, so lxdplan lists the ones it manages in the server key
``keys.CLUSTER_GROUPS_OWNER_KEY`` (written before the group is created, so an interrupted
create never leaves an unowned group behind). That makes a create or delete a server config
write: blocked while a member does not serve. The implicit ``default`` group is never deleted or
exported. A dropped group is deleted after the member updates that empty it. LXD 5.0.2 answers
the delete of a missing group with 500, not 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from lxdplan import keys
from lxdplan.compare import desc
from lxdplan.kinds.base import EtagReads, ListedOwner, SingleRequests, Stage, Where, api_path, payload_of
from lxdplan.kinds.common import DEFAULT, builtin_description, put_if
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, listed_names
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.state.observed import Observed

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext


@dataclass(frozen=True)
class ClusterGroup:
    """A declared cluster group (members name their groups)."""

    name: str
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class Create(Payload):
    """``owner_key``: the server key listing managed groups (the name is added first)."""

    name: str
    description: str = ""
    owner_key: str = keys.CLUSTER_GROUPS_OWNER_KEY


@dataclass(frozen=True)
class Update(Payload):
    description: str = ""
    members: list[str] = field(default_factory=list)  # as read


@dataclass(frozen=True)
class Delete(Payload):
    """``owner_key``: the name is removed from it after the delete."""

    owner_key: str = keys.CLUSTER_GROUPS_OWNER_KEY


class ClusterGroupSpec(SingleRequests, ListedOwner, EtagReads):
    kind = Kind.CLUSTER_GROUP
    section = "cluster_groups"
    answer_shape = AnswerShape({"cluster/groups": "name"})
    etag_after_plan = True
    stage = Stage.BEFORE_JOINS
    rank, delete_rank, list_rank = 10, 60, 50
    owner_key = keys.CLUSTER_GROUPS_OWNER_KEY
    keep = frozenset({DEFAULT})
    payloads = {Action.CREATE: Create, Action.UPDATE: Update, Action.DELETE: Delete}
    load_rank = -10  # before membership: members name their groups

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        return tuple(ClusterGroup(g.get("name"), g.get("description", ""),
                                  checker.src.line((self.section, i)) or 0) for i, g in items)

    def plan(self, ctx: "PlanContext") -> list[str]:
        for group in self.declared(ctx.desired):
            live = self.live(ctx.observed).get(group.name)
            if live is None:
                ctx.steps.add(
                    Action.CREATE, self.kind, group.name, depends_on=ctx.after_bootstrap(),
                    after=desc(group.description),
                    reason=f"cluster group {group.name} is in the file but not in the cluster",
                    blocked=ctx.serving_block(f"recording cluster group {group.name} as managed "
                                              "(a server config write)"),
                    payload=Create(group.name, group.description),
                )
            elif live.description != builtin_description(group.name, group.description, live):
                ctx.steps.add(
                    Action.UPDATE, self.kind, group.name, depends_on=ctx.after_bootstrap(),
                    before={"description": live.description}, after=desc(group.description),
                    reason=f"cluster group {group.name} differs from the file", etag=live.etag,
                    payload=Update(group.description, list(live.members)),
                )
        return []


    def delete_waits(self, ctx: "PlanContext") -> list[str]:
        return ctx.steps.ids(kind=Kind.MEMBER, action=Action.UPDATE)  # they empty it first

    def delete_before(self, live) -> dict[str, Any]:
        return {**desc(live.description), "members": sorted(live.members)}

    def delete_block(self, ctx: "PlanContext", live) -> str | None:
        return ctx.serving_block(f"dropping cluster group {live.name} from the managed ones "
                                 "(a server config write)")

    def unmanaged_note(self, live) -> str:
        return ""

    def where(self, step: Step) -> Where:
        return self.where_declared(step)

    def where_declared(self, obj) -> Where:
        return Where("/1.0/cluster/groups", api_path("cluster", "groups", obj.name))

    def create_body(self, step: Step) -> dict[str, Any]:
        return {"name": step.name, "description": payload_of(step, Create).description, "members": []}

    def put_body(self, step: Step, live: dict[str, Any]) -> dict[str, Any]:
        return {"description": payload_of(step, Update).description, "members": list(live.get("members") or [])}

    def holds(self, live: dict[str, Any], body: dict[str, Any]) -> bool:
        return (live.get("description") or "") == body["description"]

    def adopt_target(self, obj: Any, observed: Observed) -> Any:
        return self.live(observed).get(obj.name)

    def export(self, live) -> dict[str, Any] | None:
        if live.name == DEFAULT:
            return None
        entry: dict[str, Any] = {"name": live.name}
        put_if(entry, "description", live.description)
        return entry

    # -- reading it live ---------------------------------------------------------------------

    list_read = Get.listing("/1.0/cluster/groups")

    @property
    def observed_type(self) -> type:
        return ObservedGroup

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedGroup"]:
        managed = listed_names(reading.server_config, self.owner_key)
        return {g["name"]: parse_group(g, managed, recorded.etag(self.section, ("etag", (g["name"],))))
                for g in recorded.metadata(self.section, "listing", [])}


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedGroup:
    name: str
    description: str = ""
    members: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None


def parse_group(item: dict[str, Any], managed: frozenset[str], etag: str | None = None) -> ObservedGroup:
    """A group of the listing; ``managed``: the names the server key lists."""
    return ObservedGroup(
        name=item["name"],
        description=item.get("description", ""),
        members=tuple(item.get("members") or ()),
        managed_by_lxdplan=item["name"] in managed,
        etag=etag,
    )


def _payload(step: Step) -> Create | Update | Delete:
    """The payload of a step of this kind (one of ``payloads``)."""
    assert isinstance(step.payload, (Create, Update, Delete)), step.payload
    return step.payload


SPEC = ClusterGroupSpec()
