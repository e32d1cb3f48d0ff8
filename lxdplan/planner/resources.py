"""Cluster groups, projects, profiles and storage volumes: single-phase objects."""

from __future__ import annotations

from lxdplan import keys
from lxdplan.errors import PlanError
from lxdplan.plan import Action, Kind, Unmanaged
from lxdplan.planner.compare import (
    AUTO_PROJECT_PREFIX, _desc, diff_config, shown, diff_devices, config_views,
)
from lxdplan.planner.context import Context
from lxdplan.planner.objects import put_config, where
from lxdplan.state.observed import ObservedProfile, ObservedProject, profile_key

DEFAULT = "default"


def _scoped(project: str, name: str) -> str:
    """Display name of a project-scoped object: the project is shown when not ``default``."""
    return name if project == DEFAULT else f"{project}/{name}"


def _owned(config: dict) -> dict:
    return {**config, keys.OWNER_KEY: keys.OWNER_VALUE}


def _note(used_by: tuple) -> str:
    n = len(used_by)
    return f"used by {n} object{'s' if n != 1 else ''}" if n else ""


def _builtin_description(ctx: Context, what: str) -> str:
    """Before a cluster exists the default profile and project are not read: they exist on every
    server with this description, empty config (profile) and no devices."""
    return f"Default {'Incus' if ctx.backend() == 'incus' else 'LXD'} {what}"


# --- cluster groups ------------------------------------------------------------------------

def plan_groups(ctx: Context) -> None:
    for group in ctx.desired.cluster_groups:
        live = ctx.observed.cluster_groups.get(group.name)
        if live is None:
            ctx.steps.add(
                Action.CREATE, Kind.CLUSTER_GROUP, group.name, depends_on=ctx.after_bootstrap(),
                after=_desc(group.description),
                reason=f"cluster group {group.name} is in the file but not in the cluster",
                blocked=ctx.serving_block(f"recording cluster group {group.name} as managed "
                                          "(a server config write)"),
                payload={"name": group.name, "description": group.description,
                         "owner_key": keys.CLUSTER_GROUPS_OWNER_KEY},
            )
        elif live.description != group.description:
            ctx.steps.add(
                Action.UPDATE, Kind.CLUSTER_GROUP, group.name, depends_on=ctx.after_bootstrap(),
                before={"description": live.description}, after=_desc(group.description),
                reason=f"cluster group {group.name} differs from the file", etag=live.etag,
                payload={"description": group.description, "members": list(live.members)},
            )


def plan_group_deletes(ctx: Context) -> None:
    declared = {g.name for g in ctx.desired.cluster_groups}
    members = ctx.steps.ids(kind=Kind.MEMBER, action=Action.UPDATE)
    for name, live in ctx.observed.cluster_groups.items():
        if name in declared or name == DEFAULT:
            continue
        if not live.managed_by_lxdplan:
            ctx.unmanaged.append(Unmanaged(Kind.CLUSTER_GROUP, name, ""))
            continue
        ctx.steps.add(
            Action.DELETE, Kind.CLUSTER_GROUP, name, depends_on=members,
            before={**_desc(live.description), "members": sorted(live.members)},
            reason=f"lxdplan manages cluster group {name} and the file no longer declares it",
            blocked=ctx.serving_block(f"dropping cluster group {name} from the managed ones "
                                      "(a server config write)"),
            etag=live.etag, payload={"owner_key": keys.CLUSTER_GROUPS_OWNER_KEY},
        )


# --- projects ------------------------------------------------------------------------------

def plan_projects(ctx: Context) -> None:
    for project in ctx.desired.projects:
        live = ctx.observed.projects.get(project.name)
        if live is None and ctx.fresh and project.name == DEFAULT:
            live = ObservedProject(DEFAULT, description=_builtin_description(ctx, "project"))
        if live is None:
            ctx.steps.add(
                Action.CREATE, Kind.PROJECT, project.name, depends_on=ctx.after_bootstrap(),
                after={**_desc(project.description), "config": dict(project.config)},
                reason=f"project {project.name} is in the file but not in the cluster",
                payload={"name": project.name, "description": project.description,
                         "config": _owned(project.config)},
            )
            continue
        changes = diff_config(live.config, project.config, auto_prefix=AUTO_PROJECT_PREFIX)
        _update(ctx, Kind.PROJECT, project.name, live, project.description, changes, {}, {},
                noun="project", depends_on=ctx.after_bootstrap(), payload={
                    "description": project.description,
                    "config": put_config(live.config, project.config,
                                         auto_prefix=AUTO_PROJECT_PREFIX)})


def _update(ctx, kind, name, live, description, changes, dev_before, dev_after, *, noun, payload,
            depends_on=()) -> None:
    b, a = config_views(changes, live.description, description)
    if dev_before:
        b["devices"] = dev_before
    if dev_after:
        a["devices"] = dev_after
    if not (b or a):
        return
    ctx.steps.add(
        Action.UPDATE, kind, name, depends_on=list(depends_on), before=b, after=a,
        reason=f"{noun} {name} differs from the file", etag=live.etag, payload=payload,
    )


# --- profiles ------------------------------------------------------------------------------

def plan_profiles(ctx: Context) -> None:
    for profile in ctx.desired.profiles:
        name = _scoped(profile.project, profile.name)
        live = ctx.observed.profiles.get(profile_key(profile.project, profile.name))
        if live is None and ctx.fresh and profile.project == DEFAULT and profile.name == DEFAULT:
            live = ObservedProfile(DEFAULT, description=_builtin_description(ctx, "profile"))
        if live is None:
            ctx.steps.add(
                Action.CREATE, Kind.PROFILE, name, depends_on=ctx.after_bootstrap(),
                after={**_desc(profile.description), "config": dict(profile.config),
                       "devices": {k: dict(v) for k, v in profile.devices.items()}},
                reason=f"profile {name} is in the file but not in the cluster",
                payload={"name": profile.name, "project": profile.project,
                         "description": profile.description, "config": _owned(profile.config),
                         "devices": {k: dict(v) for k, v in profile.devices.items()}},
            )
            continue
        changes = diff_config(live.config, profile.config)
        dev_before, dev_after = diff_devices(live.devices, profile.devices)
        _update(ctx, Kind.PROFILE, name, live, profile.description, changes, dev_before,
                dev_after, noun="profile", depends_on=ctx.after_bootstrap(), payload={
                    "name": profile.name, "project": profile.project,
                    "description": profile.description,
                    "config": put_config(live.config, profile.config),
                    "devices": {k: dict(v) for k, v in profile.devices.items()}})


def plan_profile_deletes(ctx: Context) -> list[str]:
    declared = {profile_key(p.project, p.name) for p in ctx.desired.profiles}
    ids = []
    for key, live in ctx.observed.profiles.items():
        if key in declared or live.name == DEFAULT:
            continue
        name = _scoped(live.project, live.name)
        if not live.managed_by_lxdplan:
            ctx.unmanaged.append(Unmanaged(Kind.PROFILE, name, _note(live.used_by)))
            continue
        ids.append(ctx.steps.add(
            Action.DELETE, Kind.PROFILE, name,
            before={**_desc(live.description), "config": shown(live.config),
                    "devices": {k: dict(v) for k, v in live.devices.items()}},
            reason=f"lxdplan manages profile {name} and the file no longer declares it",
            etag=live.etag, payload={"name": live.name, "project": live.project},
        ))
    return ids


# --- storage volumes -----------------------------------------------------------------------

def _volume_name(project: str, pool: str, name: str) -> str:
    return _scoped(project, f"{pool}/{name}")


def _pool_defaults(ctx: Context, pool: str) -> dict[str, str]:
    """Volume keys LXD copies from the pool's ``volume.*`` config at create."""
    declared = next((p for p in ctx.desired.storage_pools if p.name == pool), None)
    live = ctx.observed.storage_pools.get(pool)
    config = {**(live.config if live else {}), **(declared.config if declared else {})}
    return {k.removeprefix("volume."): v for k, v in config.items() if k.startswith("volume.")}


def plan_volumes(ctx: Context) -> None:
    for vol in ctx.desired.storage_volumes:
        name = _volume_name(vol.project, vol.pool, vol.name)
        same_name = [
            o for o in ctx.observed.storage_volumes.values()
            if (o.project, o.pool, o.name, o.type) == (vol.project, vol.pool, vol.name, vol.type)
        ]
        live = next((o for o in same_name if o.member == vol.member), None)
        declared_members = {
            v.member for v in ctx.desired.storage_volumes
            if (v.project, v.pool, v.name, v.type) == (vol.project, vol.pool, vol.name, vol.type)
        }
        elsewhere = [o for o in same_name if o.member not in declared_members]
        if live is None and elsewhere:
            raise PlanError(
                f"{where(ctx, vol)}storage volume {name} lives on {elsewhere[0].member or 'no member'} and "
                f"the file says {vol.member or 'no member'}; lxdplan does not move volumes between members"
            )
        if live is None:
            deps = ctx.after_bootstrap() + ctx.joined(vol.member)
            ctx.steps.add(
                Action.CREATE, Kind.STORAGE_VOLUME, name, member=vol.member, depends_on=deps,
                after={"type": vol.type, "content_type": vol.content_type,
                       **_desc(vol.description), "config": dict(vol.config)},
                reason=f"storage volume {name} is in the file but not in the cluster",
                blocked=ctx.member_block(vol.member) if vol.member else None,
                payload={"pool": vol.pool, "name": vol.name, "project": vol.project,
                         "type": vol.type, "content_type": vol.content_type,
                         "description": vol.description, "config": _owned(vol.config)},
            )
            continue
        defaults = _pool_defaults(ctx, vol.pool)
        changes = diff_config(live.config, vol.config, inherited=defaults)
        b, a = config_views(changes, live.description, vol.description)
        if b or a:
            inherited = {k: v for k, v in live.config.items()
                         if k not in vol.config and defaults.get(k) == v}
            ctx.steps.add(
                Action.UPDATE, Kind.STORAGE_VOLUME, name, member=vol.member, before=b, after=a,
                reason=f"storage volume {name} differs from the file",
                blocked=ctx.member_block(vol.member) if vol.member else None, etag=live.etag,
                payload={"pool": vol.pool, "name": vol.name, "project": vol.project,
                         "type": vol.type, "description": vol.description,
                         "config": {**inherited, **put_config(live.config, vol.config)}},
            )


def plan_volume_deletes(ctx: Context) -> list[str]:
    # A volume's identity includes its member: volumes of one name on two members are two objects.
    declared = {(v.project, v.pool, v.name, v.type, v.member) for v in ctx.desired.storage_volumes}
    ids = []
    for live in ctx.observed.storage_volumes.values():
        if (live.project, live.pool, live.name, live.type, live.member) in declared:
            continue
        name = _volume_name(live.project, live.pool, live.name)
        if not live.managed_by_lxdplan:
            ctx.unmanaged.append(Unmanaged(Kind.STORAGE_VOLUME, name,
                                           f"on {live.member}" if live.member else ""))
            continue
        ids.append(ctx.steps.add(
            Action.DELETE, Kind.STORAGE_VOLUME, name, member=live.member,
            before={**_desc(live.description), "config": shown(live.config)},
            reason=f"lxdplan manages storage volume {name} and the file no longer declares it",
            blocked=ctx.member_block(live.member) if live.member else None, etag=live.etag,
            payload={"pool": live.pool, "name": live.name, "project": live.project,
                     "type": live.type},
        ))
    return ids


def plan_project_deletes(ctx: Context) -> None:
    declared = {p.name for p in ctx.desired.projects}
    for name, live in ctx.observed.projects.items():
        if name in declared or name == DEFAULT:
            continue
        if not live.managed_by_lxdplan:
            ctx.unmanaged.append(Unmanaged(Kind.PROJECT, name, _note(live.used_by)))
            continue
        ctx.steps.add(
            Action.DELETE, Kind.PROJECT, name,
            before={**_desc(live.description), "config": shown(live.config)},
            reason=f"lxdplan manages project {name} and the file no longer declares it",
            etag=live.etag, payload={},
        )
