"""Profiles: per project, config and devices, PUT whole (devices compared device by device).

The ``default`` profile of every project is never deleted; before a cluster exists it is not
read, and it is there with the server's description, empty config and no devices. The apply
lock is a profile too (``lxdplan.providers.lock``): observation drops it. References: its
project, and its devices' pools, volumes (``source``), networks and nic parents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxdplan import references
from lxdplan.compare import comparable, desc, diff_config, diff_devices, put_config, shown
from lxdplan.kinds.base import ObjectKind, Stage, Where, in_project
from lxdplan.kinds.common import (
    DEFAULT, export_config, owned, plan_deletes, plan_update, put_if, scoped,
)
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.state.observed import ObservedProfile, profile_key

if TYPE_CHECKING:
    from lxdplan.planner.context import Context


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


class ProfileKind(ObjectKind):
    kind = Kind.define("profile")
    section = "profiles"
    etag_after_plan = True
    stage = Stage.AFTER_MEMBERS
    rank, delete_rank, list_rank = 60, 10, 30
    keep = frozenset({DEFAULT})
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}

    def ident(self, obj) -> tuple[str, ...]:
        return (obj.project, obj.name)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        return (step.payload.project, step.payload.name)

    def refs(self, obj) -> list[references.Ref]:
        return references.profile_refs(obj.project, obj.devices)

    def display(self, obj) -> str:
        return scoped(obj.project, obj.name)

    def live_key(self, obj) -> str:
        return profile_key(obj.project, obj.name)

    def plan(self, ctx: "Context") -> list[str]:
        for profile in self.declared(ctx.desired):
            name = self.display(profile)
            live = self.live(ctx.observed).get(self.live_key(profile))
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
            plan_update(ctx, self.kind, name, live, profile.description,
                        diff_config(live.config, profile.config),
                        Write(profile.name, profile.project, profile.description,
                              put_config(live.config, profile.config), devices),
                        devices=diff_devices(live.devices, profile.devices),
                        depends_on=ctx.after_bootstrap())
        return []

    def plan_deletes(self, ctx: "Context") -> None:
        plan_deletes(ctx, self)

    def delete_before(self, live) -> dict[str, Any]:
        return {**desc(live.description), "config": shown(live.config),
                "devices": _devices(live.devices)}

    def delete_payload(self, live) -> Delete:
        return Delete(live.name, live.project)

    def where(self, step: Step) -> Where:
        return in_project("profiles", step.payload.name, step.payload.project)

    def where_declared(self, obj) -> Where:
        return in_project("profiles", obj.name, obj.project)

    def create_body(self, step: Step) -> dict[str, Any]:
        p = step.payload
        return {"name": p.name, "description": p.description, "config": owned(p.config),
                "devices": p.devices}

    def put_body(self, step: Step, live: dict[str, Any]) -> dict[str, Any]:
        return {**super().put_body(step, live), "devices": step.payload.devices}

    def holds(self, live: dict[str, Any], body: dict[str, Any]) -> bool:
        devices = {d: comparable(v) for d, v in (live.get("devices") or {}).items()}
        return (super().holds(live, body)
                and devices == {d: comparable(v) for d, v in body["devices"].items()})

    def export(self, live) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": live.name}
        if live.project != DEFAULT:
            entry["project"] = live.project
        put_if(entry, "description", live.description)
        entry["config"] = export_config(live.config)
        entry["devices"] = {d: dict(sorted(c.items())) for d, c in sorted(live.devices.items())}
        return entry


KIND_SPEC = ProfileKind()
