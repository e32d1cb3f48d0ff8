"""Where an instance lives: the placement rules of ``lxdplan.kinds.instance``.

An instance is placed on a member, on a cluster group, or wherever LXD likes. Placement
converges, except while the declared member (or the one the instance is on) is evacuated,
offline or not serving: then the instance is left where it is, with a note, unless a
``restore`` of that member is planned in the same run, which the move waits for. A member the
file drops is removed only after the instances the file keeps are moved off it; instances no
rule moves (not managed, not declared) block the removal, named.

Pure planner code, as every kind's rules are; kept apart from the instance kind only to keep
modules short. Step ids are built by ``lxdplan.plan.step_id``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxdplan.membership import REMOVE, RESTORE
from lxdplan.plan import Action, Kind, step_id
from lxdplan.state.observed import EVACUATED, NOT_SERVING, OFFLINE, UNREACHABLE

if TYPE_CHECKING:
    from lxdplan.kinds.base import KindSpec
    from lxdplan.kinds.context import PlanContext

MOVE = Action("move")  # an instance's, declared with its others in ``kinds.instance``
AWAY = frozenset({EVACUATED, "Evacuating", OFFLINE, UNREACHABLE, NOT_SERVING})


def member_step(member: str, action: Action) -> str:
    """The id of a membership step of ``member`` (join, update, restore, remove…)."""
    return step_id(Kind.MEMBER, member, action)


def away(ctx: "PlanContext", member: str) -> tuple[str | None, list[str]]:
    """(what ``member`` is when it cannot take changes now: "evacuated", "offline"…, or None;
    the steps to wait for). A ``restore`` planned in this run makes it available after that
    step."""
    restore = member_step(member, RESTORE)
    if restore in ctx.steps.ids(kind=Kind.MEMBER, action=RESTORE):
        return None, [restore]
    declared = ctx.desired.member(member)
    if declared is not None and declared.state == "evacuated":
        return "evacuated", []
    status = ctx.observed.member_status(member)
    if status in AWAY:
        return status.lower(), []
    return None, []


def group_members(ctx: "PlanContext", group: str) -> list[str]:
    """The declared members in ``group`` (as declared, else as they are)."""
    out = []
    for m in ctx.desired.members:
        live = ctx.observed.members.get(m.name)
        groups = m.groups if m.groups is not None else (live.groups if live else ("default",))
        if group in groups:
            out.append(m.name)
    return out


def group_updates(ctx: "PlanContext", group: str) -> list[str]:
    """The member updates that put members into ``group`` (placement waits for them)."""
    ids = set(ctx.steps.ids(kind=Kind.MEMBER, action=Action.UPDATE))
    return [s for m in group_members(ctx, group) if (s := member_step(m, Action.UPDATE)) in ids]


def destination(ctx: "PlanContext", inst, where: str) -> tuple[str, str] | None:
    """(target, member to check) when the instance on ``where`` must move, else None."""
    if inst.member:
        return (inst.member, inst.member) if inst.member != where else None
    if inst.group:
        return None if where in group_members(ctx, inst.group) else (f"@{inst.group}", "")
    if ctx.desired.member(where) is None:  # its member leaves the cluster
        stays = [m.name for m in ctx.desired.members
                 if m.name in ctx.observed.members and away(ctx, m.name)[0] is None]
        return (stays[0], stays[0]) if stays else None
    return None


def plan_move(spec: "KindSpec", ctx: "PlanContext", inst, where: str, deps: list[str]) -> str | None:
    """Plan the move of the instance on ``where`` to where the file places it; return the
    step's id, or None when it stays (in place, or for now: a note says why)."""
    dest = destination(ctx, inst, where)
    if dest is None:
        return None
    name = spec.display(inst)
    target, member = dest
    dest_away, dest_waits = away(ctx, member) if member else (None, [])
    if dest_away:
        ctx.diagnostics.append(
            f"instance {name} stays on {where} while {member} is {dest_away}; it moves "
            f"to {member} once {member} is back (state: online restores it)")
        return None
    move = ctx.steps.add(
        MOVE, spec.kind, name, member=member or None,
        depends_on=deps + dest_waits + ctx.joined(member or None)
        + (group_updates(ctx, inst.group) if inst.group else []),
        before={"member": where}, after={"member": target.lstrip("@") if member else target},
        reason=_move_reason(name, where, inst, member) + (
            ": the move stops it and starts it again there" if inst.state == "running"
            else ": the move stops it, and it stays stopped there"),
        blocked=ctx.member_block(where) or (ctx.member_block(member) if member
                                            and member in ctx.observed.members else None),
        payload=spec.payloads[MOVE](inst.name, inst.project, target,  # type: ignore[call-arg]
                                           inst.state == "running"),  # the kind's Change payload
    )
    removal = member_step(where, REMOVE)
    if removal in ctx.steps.ids(kind=Kind.MEMBER, action=REMOVE):
        ctx.steps.add_dependency(removal, move)  # moved off before it leaves
    return move


def removal_block(spec: "KindSpec", ctx: "PlanContext", member: str) -> str | None:
    """Why ``member`` cannot be removed yet because of the instances on it, or None."""
    joining = {m.name for m in ctx.joiners}
    pins, later = [], []
    for live in spec.live(ctx.observed).values():
        if live.location != member:
            continue
        inst = next((i for i in spec.declared(ctx.desired) if spec.ident(i) == spec.ident(live)), None)
        if inst is not None:
            if inst.member in joining:
                later.append((spec.display(live), inst.member))
        elif not live.managed_by_lxdplan:
            pins.append(spec.display(live))
    if pins:
        them = "which the file does not place elsewhere"
        it = "it" if len(pins) == 1 else "them"
        return (f"{member} still hosts {_and(pins)}, {them} (not managed by lxdplan): declare "
                f"{it} on a member that stays, or move or delete {it} yourself")
    if later:
        name, dest = later[0]
        return (f"{member} still hosts {name}, which moves to {dest} once {dest} has joined: "
                "run apply again after this one")
    return None


def _move_reason(name: str, where: str, inst, member: str) -> str:
    if inst.member:
        return f"instance {name} is on {where} and the file places it on {inst.member}"
    if inst.group:
        return f"instance {name} is on {where}, outside group {inst.group} where the file places it"
    return f"instance {name} is on {where}, which leaves the cluster: it moves to {member}"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
