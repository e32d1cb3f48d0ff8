"""Planner pieces every kind uses: display names, file positions, the update and delete steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxdplan import keys
from lxdplan.compare import config_views
from lxdplan.plan import Action, Kind, Payload, Unmanaged

if TYPE_CHECKING:
    from lxdplan.kinds.base import ObjectKind
    from lxdplan.planner.context import Context

DEFAULT = "default"


def scoped(project: str, name: str) -> str:
    """Display name of a project-scoped object: the project is shown when not ``default``."""
    return name if project == DEFAULT else f"{project}/{name}"


def owned(config: dict) -> dict:
    """A created object's config: with lxdplan's ownership mark."""
    return {**config, keys.OWNER_KEY: keys.OWNER_VALUE}


def used_by_note(used_by: tuple) -> str:
    n = len(used_by)
    return f"used by {n} object{'s' if n != 1 else ''}" if n else ""


def at(ctx: "Context", obj) -> str:
    """``file:line: `` of a declared object, for errors."""
    line = getattr(obj, "line", 0)
    return f"{ctx.desired.path}:{line}: " if line else f"{ctx.desired.path}: "


def builtin_description(name: str, declared: str, live) -> str:
    """The description to compare and keep. A built-in object (the ``default`` profile of each
    project, the ``default`` project and cluster group) comes with a description LXD wrote:
    it is compared only when the file gives one. Any other object's description is the file's:
    left out, it is empty (a live one is cleared)."""
    return declared or live.description if name == DEFAULT else declared


def plan_update(ctx: "Context", kind: Kind, name: str, live, description: str, changes: dict,
                payload: Payload, *, devices: tuple[dict, dict] = ({}, {}),
                depends_on: list[str] = (), **step: Any) -> str | None:
    """An ``update`` step when config, description or devices differ; None when nothing does."""
    before, after = config_views(changes, live.description, description)
    if devices[0]:
        before["devices"] = devices[0]
    if devices[1]:
        after["devices"] = devices[1]
    if not (before or after):
        return None
    return ctx.steps.add(
        Action.UPDATE, kind, name, depends_on=list(depends_on), before=before, after=after,
        reason=step.pop("reason", f"{kind.noun} {name} differs from the file"), etag=live.etag,
        payload=payload, **step,
    )


def plan_deletes(ctx: "Context", spec: "ObjectKind") -> None:
    """Delete the managed objects of ``spec``'s kind that the file no longer declares; list the
    unmanaged ones. (Their users go first: ``lxdplan.planner.dependencies``.)"""
    declared = {spec.key(o) for o in spec.declared(ctx.desired)}
    for live in spec.live(ctx.observed).values():
        if spec.key(live) in declared or live.name in spec.keep:
            continue
        name = spec.display(live)
        if spec.live_member(live) in ctx.forced_out:
            continue  # forgotten with its member (the force removal's reason names it)
        if not live.managed_by_lxdplan:
            ctx.unmanaged.append(Unmanaged(spec.kind, name, spec.unmanaged_note(live)))
            continue
        sid = ctx.steps.add(
            Action.DELETE, spec.kind, name, member=spec.live_member(live),
            depends_on=spec.delete_waits(ctx), before=spec.delete_before(live),
            reason=f"lxdplan manages {spec.kind.noun} {name} and the file no longer declares it",
            blocked=spec.delete_block(ctx, live), etag=live.etag,
            payload=spec.delete_payload(live),
        )
        leave_after(ctx, sid, spec.live_member(live))


def leave_after(ctx: "Context", sid: str, member: str | None) -> None:
    """Make a graceful removal of ``member`` planned in this run wait for step ``sid`` (the
    delete of something that lives on it: LXD refuses to remove a member that still holds
    instances or custom volumes)."""
    for removal in ctx.steps.all():
        if (removal.kind, removal.action, removal.name) == (Kind.MEMBER, Action.REMOVE, member):
            ctx.steps.add_dependency(removal.id, sid)


def removal_pins(ctx: "Context", spec: "ObjectKind", member: str) -> str | None:
    """Why ``member`` cannot leave because of ``spec``'s objects on it that lxdplan will not
    delete (not managed, so never deleted; a declared one cannot be on a member the file
    drops), or None. LXD refuses to remove a member that still holds them."""
    declared = {spec.key(o) for o in spec.declared(ctx.desired)}
    pins = sorted(spec.display(live) for live in spec.live(ctx.observed).values()
                  if spec.live_member(live) == member and not live.managed_by_lxdplan
                  and spec.key(live) not in declared)
    if not pins:
        return None
    noun = spec.kind.noun + ("s" if len(pins) > 1 else "")
    it = "it" if len(pins) == 1 else "them"
    return (f"{member} still holds {noun} {and_list(pins)} (not managed by lxdplan), and LXD "
            f"does not remove a member that holds {it}: delete or move {it} yourself")


def and_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


# -- export: the live object as a file entry, exactly what the planner compares --------------

SECRET_KEYS = frozenset({"core.trust_password"})  # read back only as "true": never exported


def export_config(config: dict[str, str]) -> dict[str, str]:
    """A config map as exported: lxdplan's own keys, LXD's own keys and secrets left out."""
    return {
        k: v for k, v in sorted(config.items())
        if not k.startswith("user.lxdplan.") and k not in SECRET_KEYS and not keys.is_lxd_own(k)
    }


def put_if(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is empty (the file leaves defaults out)."""
    if value not in (None, "", {}, []):
        target[key] = value
