"""Storage pools and networks: the two-phase clustered objects (define per member, instantiate)."""

from __future__ import annotations

from dataclasses import dataclass

from lxdplan import keys
from lxdplan.errors import PlanError
from lxdplan.plan import Action, Kind, Unmanaged
from lxdplan.planner.compare import (
    AUTO_NETWORK_KEYS, AUTO_POOL_KEYS, IMMUTABLE_POOL_MEMBER_KEYS, diff_config, diff_declared,
    _desc, config_views, ignored, shown, split_changes,
)
from lxdplan.planner.context import Context


@dataclass(frozen=True)
class _Sort:
    """What differs between pools and networks."""

    kind: Kind
    noun: str  # "storage pool" | "network"
    type_field: str  # "driver" | "type"

    def desired(self, ctx: Context):
        return ctx.desired.storage_pools if self.kind == Kind.STORAGE_POOL else ctx.desired.networks

    def observed(self, ctx: Context):
        return (ctx.observed.storage_pools if self.kind == Kind.STORAGE_POOL
                else ctx.observed.networks)

    def auto(self, type_: str) -> frozenset[str]:
        table = AUTO_POOL_KEYS if self.kind == Kind.STORAGE_POOL else AUTO_NETWORK_KEYS
        return table.get(type_, frozenset())

    def immutable(self) -> frozenset[str]:
        return IMMUTABLE_POOL_MEMBER_KEYS if self.kind == Kind.STORAGE_POOL else frozenset()


POOLS = _Sort(Kind.STORAGE_POOL, "storage pool", "driver")
NETWORKS = _Sort(Kind.NETWORK, "network", "type")


def put_config(live: dict, desired: dict, auto: frozenset[str] = frozenset(),
               auto_prefix: str | None = None) -> dict:
    """The config map to PUT: the declared keys plus the live keys the planner never removes
    (ownership marks, auto-filled keys), so a PUT does not reset them."""
    config = dict(desired)
    for key, value in live.items():
        if key in config:
            continue
        if ignored(key) or key in auto or (auto_prefix and key.startswith(auto_prefix)):
            config[key] = value
    return config


def where(ctx: Context, obj) -> str:
    """``file:line: `` of a declared object, for errors."""
    line = getattr(obj, "line", 0)
    return f"{ctx.desired.path}:{line}: " if line else f"{ctx.desired.path}: "


def plan_objects(ctx: Context, sort: _Sort) -> list[str]:
    """Create, resume and update the declared pools (or networks); return the step ids that
    make them exist (instantiates), which joins and users of the objects wait for."""
    made: list[str] = []
    for obj in sort.desired(ctx):
        live = sort.observed(ctx).get(obj.name)
        type_ = getattr(obj, sort.type_field)
        if live is None:
            made.append(_create(ctx, sort, obj, type_))
            continue
        live_type = getattr(live, sort.type_field)
        if live_type != type_:
            raise PlanError(
                f"{where(ctx, obj)}{sort.noun} {obj.name} has {sort.type_field} {live_type} and the file says "
                f"{type_}; LXD cannot change a {sort.noun}'s {sort.type_field} in place, so delete "
                f"and recreate it by hand or keep {sort.type_field} {live_type}"
            )
        if live.status == "Pending":
            made.append(_resume_pending(ctx, sort, obj, live, type_))
        elif live.status == "Errored":
            # Members that have not created it yet take corrected keys before the retry.
            unfinished = [m for m in _define_targets(ctx, sort, type_) if not _created_on(live, m)]
            fixes = [sid for m in unfinished
                     if (sid := _member_update(ctx, sort, obj, live, m, pending=True))]
            sid = _retry_errored(ctx, sort, obj, live, type_, fixes)
            made.append(sid)
            _updates(ctx, sort, obj, live, type_, after=[sid], skip=unfinished)
        else:
            _updates(ctx, sort, obj, live, type_, after=[])
    return made


def _define_targets(ctx: Context, sort: _Sort, type_: str) -> list[str]:
    if sort.kind == Kind.NETWORK and type_ == "ovn":
        return []  # OVN networks take no target
    return ctx.present


def _define(ctx: Context, sort: _Sort, obj, type_: str, member: str, reason: str) -> str:
    config = dict(obj.members.get(member, {}))
    return ctx.steps.add(
        Action.DEFINE, sort.kind, obj.name, member=member, depends_on=ctx.after_membership(),
        after={sort.type_field: type_, **({"config": config} if config else {})},
        reason=reason, blocked=ctx.member_block(member),
        payload={sort.type_field: type_, "config": config},
    )


def _instantiate(ctx: Context, sort: _Sort, obj, type_: str, deps: list[str], reason: str) -> str:
    config = dict(obj.config)
    return ctx.steps.add(
        Action.INSTANTIATE, sort.kind, obj.name, depends_on=ctx.after_membership() + deps,
        after={sort.type_field: type_, **_desc(obj.description), "config": config},
        reason=reason,
        blocked=ctx.all_members_block(f"creating {sort.noun} {obj.name}"),
        payload={sort.type_field: type_, "description": obj.description,
                 "config": {**config, keys.OWNER_KEY: keys.OWNER_VALUE}, "retry": False},
    )


def _create(ctx: Context, sort: _Sort, obj, type_: str) -> str:
    defines = [
        _define(ctx, sort, obj, type_, m, f"{sort.noun} {obj.name} does not exist: define it on "
                f"each member first")
        for m in _define_targets(ctx, sort, type_)
    ]
    return _instantiate(ctx, sort, obj, type_, defines, f"{sort.noun} {obj.name} is in the file "
                        "but not in the cluster")


def _resume_pending(ctx: Context, sort: _Sort, obj, live, type_: str) -> str:
    """A create interrupted between the defines and the instantiate: define what is missing,
    correct declared member keys of existing definitions, then instantiate."""
    deps = []
    defined = set(live.member_status) | set(live.members)
    missing = [m for m in _define_targets(ctx, sort, type_) if m not in defined]
    for member in missing:
        deps.append(_define(ctx, sort, obj, type_, member,
                            f"{sort.noun} {obj.name} is pending and not yet defined on {member}"))
    for member in _define_targets(ctx, sort, type_):
        if member in defined:
            sid = _member_update(ctx, sort, obj, live, member, pending=True)
            if sid:
                deps.append(sid)
    have = ", ".join(sorted(m for m in defined if m in ctx.present)) or "no member"
    return _instantiate(ctx, sort, obj, type_, deps,
                        f"{sort.noun} {obj.name} is pending (defined on {have}): finish creating it")


_UNFINISHED = ("Pending", "Errored")  # a member's own state before its create succeeded


def _created_on(live, member: str) -> bool:
    """Whether ``member`` has created the object (its own status, else the object's): only
    there are keys such as a pool's ``source`` fixed. A member where it is Pending or Errored
    takes new member-specific keys (``PATCH ?target=``) before the retry."""
    return live.member_status.get(member, live.status) not in _UNFINISHED


def _retry_errored(ctx: Context, sort: _Sort, obj, live, type_: str, deps: list[str]) -> str:
    failed = sorted(m for m, s in live.member_status.items() if s in _UNFINISHED)
    where = f" on {', '.join(failed)}" if failed else ""
    return ctx.steps.add(
        Action.INSTANTIATE, sort.kind, obj.name, depends_on=ctx.after_membership() + deps,
        before={"status": "Errored"}, after={"status": "Created"},
        reason=(f"{sort.noun} {obj.name} is Errored{where}: retry the create without "
                "cluster-wide config, as LXD requires"),
        blocked=ctx.all_members_block(f"retrying {sort.noun} {obj.name}"),
        payload={sort.type_field: type_, "description": "", "config": {}, "retry": True},
    )


def _updates(ctx: Context, sort: _Sort, obj, live, type_: str, *, after: list[str],
             skip: list[str] = ()) -> None:
    auto = sort.auto(type_)
    changes = diff_config(live.config, obj.config, auto=auto)
    b, a = config_views(changes, live.description, obj.description)
    if b or a:
        ctx.steps.add(
            Action.UPDATE, sort.kind, obj.name, depends_on=after, before=b, after=a,
            reason=f"cluster-wide config of {sort.noun} {obj.name} differs from the file",
            blocked=ctx.all_members_block(f"updating {sort.noun} {obj.name}"), etag=live.etag,
            payload={sort.type_field: type_, "description": obj.description,
                     "config": put_config(live.config, obj.config, auto)},
        )
    for member in _define_targets(ctx, sort, type_):
        if member not in skip:
            _member_update(ctx, sort, obj, live, member, pending=False, after=after)


def _member_update(ctx, sort, obj, live, member, *, pending, after=()) -> str | None:
    if member not in live.members and ctx.member_block(member):
        return None  # its keys could not be read (the member is down): nothing is known to differ
    declared = obj.members.get(member, {})
    current = live.members.get(member, {})
    changes = diff_declared(current, declared)
    if not changes:
        return None
    if not pending and _created_on(live, member):
        for key in sorted(changes):
            if key in sort.immutable() and current.get(key) is not None:
                raise PlanError(
                    f"{where(ctx, obj)}{sort.noun} {obj.name} has {key} {current[key]} on {member} and the file says "
                    f"{declared[key]}; LXD cannot change {key} after the {sort.noun} is created"
                )
    before, new = split_changes(changes)
    return ctx.steps.add(
        Action.UPDATE, sort.kind, obj.name, member=member, depends_on=list(after),
        before={"config": before} if before else {}, after={"config": new},
        reason=f"{member}'s keys of {sort.noun} {obj.name} differ from the file",
        blocked=ctx.member_block(member), etag=None if sort.kind == Kind.STORAGE_POOL else live.etag,
        payload={"config": {**current, **declared}},
    )


def plan_object_deletes(ctx: Context, sort: _Sort) -> None:
    """Delete managed objects the file no longer declares; list unmanaged ones. (Their users
    go first: ``planner.dependencies``.)"""
    declared = {o.name for o in sort.desired(ctx)}
    for name, live in sort.observed(ctx).items():
        if name in declared:
            continue
        if not live.managed_by_lxdplan:
            ctx.unmanaged.append(Unmanaged(sort.kind, name, _unmanaged_note(live)))
            continue
        ctx.steps.add(
            Action.DELETE, sort.kind, name,
            before={sort.type_field: getattr(live, sort.type_field),
                    **_desc(live.description), "config": shown(live.config)},
            reason=f"lxdplan manages {sort.noun} {name} and the file no longer declares it",
            blocked=ctx.all_members_block(f"deleting {sort.noun} {name}"), etag=live.etag,
            payload={},
        )


def _unmanaged_note(live) -> str:
    used = len(live.used_by)
    return f"used by {used} object{'s' if used != 1 else ''}" if used else ""
