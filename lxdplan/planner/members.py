"""Membership and server config: bootstrap, join, remove, member attributes, evacuate/restore."""

from __future__ import annotations

from typing import Any

from lxdplan import addresses, keys
from lxdplan.compare import diff_server, split_changes
from lxdplan.desired import Member
from lxdplan.errors import PlanError
from lxdplan.kinds import MemberSpecific, OnMembers, member_of
from lxdplan.kinds.twophase import Instantiate
from lxdplan.membership import BOOTSTRAP, EVACUATE, FORCE_REMOVE, JOIN, REMOVE, RESTORE
from lxdplan.payloads import Bootstrap, Join, MemberState, MemberUpdate, Remove, ServerUpdate
from lxdplan.plan import Action, Kind
from lxdplan.planner.context import Context
from lxdplan.registry import registry
from lxdplan.rolling import skew
from lxdplan.state.observed import (
    BLOCKED,
    EVACUATED,
    JOIN_TOKEN_FIELD_DEFAULT,
    OFFLINE,
    ONLINE,
    UPGRADE_ADVICE,
    ObservedMember,
)


def diagnose(ctx: Context) -> None:
    """Version skew, members that do not serve and Blocked members, one sentence each, in the
    words each server means (see ``Context.not_serving_reason``), with the seed's advice."""
    observed = ctx.observed
    versions = {n: m.version for n, m in observed.members.items() if m.version}
    levels = {n: m.api_level for n, m in observed.members.items() if m.api_level}
    if len(set(versions.values())) > 1 or len(set(levels.values())) > 1:
        listing = ", ".join(
            f"{n} {versions.get(n, '?')}" + (f" (API level {levels[n]})" if n in levels else "")
            for n in sorted(set(versions) | set(levels))
        )
        advice = "" if observed.not_serving() else f": {UPGRADE_ADVICE}"
        behind = skew(versions)
        if behind:  # which members are behind, and that a roll is half done
            advice += (f"; {behind.split(': ', 1)[1].split(' (', 1)[0]}: a roll is half done, "
                       "finish it with `lxdplan roll`")
        ctx.diagnostics.append(f"members run different versions ({listing}){advice}")
    for member in ctx.desired.members:
        if member.trust is not None and ctx.awaits_trust(member.name):
            ctx.diagnostics.append(
                f"{member.name} does not trust lxdplan's client certificate yet: apply first "
                f"redeems the trust declared for it in {ctx.desired.path}, then plans again "
                f"with what it shows"
            )
    silent = observed.not_serving()
    for name, live in sorted(observed.members.items()):
        if live.status == OFFLINE:
            why = f" ({live.message})" if live.message else ""
            ctx.diagnostics.append(f"{name} is offline{why}")
        if name in silent:
            ctx.diagnostics.append(
                f"{ctx.not_serving_reason(name)}; steps that need it are blocked: "
                f"{UPGRADE_ADVICE}"
            )
        elif live.status == BLOCKED:
            ctx.diagnostics.append(
                f"{name} is Blocked ({live.message or 'no message'}): it runs the older version "
                "and still serves; upgrading it lets the waiting members serve again"
            )


def check_addresses(ctx: Context) -> None:
    """Every live member's cluster address (its ``url``) is the declared ``address``.

    LXD (5.0 and Incus 6.0 alike, seen live) refuses to change a clustered member's
    ``cluster.https_address`` ("Changing cluster.https_address is currently not supported"), so
    a difference is a plan error naming the member, never a silent pass.
    """
    problems = []
    for member in ctx.desired.members:
        live = ctx.observed.members.get(member.name)
        if live is None or not live.url:
            continue
        current = addresses.of_url(live.url)
        if addresses.same(current, member.address):
            continue
        at = f"{ctx.desired.path}:{member.line}: " if member.line else f"{ctx.desired.path}: "
        problems.append(
            f"{at}member {member.name} has cluster address {current} and the file says "
            f"{member.address}; LXD cannot change a clustered member's cluster address in place: "
            f"write address: {current} (its REST API address is core.https_address under its "
            f"config), or remove {member.name} from the cluster and join it again with the new "
            f"address"
        )
    if problems:
        raise PlanError("\n".join(problems))


def plan_removals(ctx: Context) -> None:
    """Graceful ``remove`` or ``force-remove`` of live members the file no longer lists.

    Removals run first, one at a time, before pools and networks are defined (so a member on its
    way out needs no definition and an offline member removed with force does not block them).
    """
    declared = {m.name for m in ctx.desired.members}
    previous: list[str] = []
    for name, live in ctx.observed.members.items():
        if name in declared:
            continue
        may_force = name in ctx.force_remove
        if live.status == OFFLINE and may_force:
            sid = ctx.steps.add(
                FORCE_REMOVE, Kind.MEMBER, name, member=name, depends_on=previous,
                before=_member_view(live), reason=f"{name} is not in the file and is offline; "
                "force_remove allows removing it with force" + _lost_with(ctx, name),
                payload=Remove(force=True),
            )
            ctx.leaving.add(name)
            ctx.forced_out[name] = sid
        else:
            blocked = None
            if live.status == OFFLINE:
                blocked = f"{name} is offline; add it to force_remove to remove it with force"
            elif name in ctx.observed.not_serving():
                blocked = f"{ctx.not_serving_reason(name)}, and a graceful removal needs it"
            else:
                blocked = _last_leader_block(ctx, name, declared) or next(
                    (why for spec in registry()
                     if isinstance(spec, OnMembers) and (why := spec.removal_block(ctx, name))), None)
            reason = f"{name} is not in the file"
            # LXD lists an evacuated member as Evacuated even when it stopped answering
            # heartbeats, so the plan cannot tell a dead one: it leaves gracefully, or with force
            # when the cluster cannot reach it and force_remove allows it.
            fallback = may_force and live.status == EVACUATED
            if fallback:
                reason += (" (force_remove lists it; LXD does not say whether an evacuated member "
                           "is up: it leaves gracefully, or with force if the cluster cannot reach it)")
            elif may_force:
                reason += f" (force_remove lists it, but it is {live.status.lower()}, so it leaves gracefully)"
            sid = ctx.steps.add(
                REMOVE, Kind.MEMBER, name, member=name, depends_on=previous,
                before=_member_view(live), reason=reason, blocked=blocked,
                payload=Remove(force=False, force_if_unreachable=fallback),
            )
            if blocked is None:
                ctx.leaving.add(name)
        if name in ctx.leaving:
            ctx.removal_steps.append(sid)  # what later steps wait for; a blocked one is not
        previous = [sid]


def _lost_with(ctx: Context, name: str) -> str:
    """What the cluster forgets when ``name`` is removed with force: the objects that live on
    that member alone (its instances, its volumes of local pools), as a clause of the reason."""
    lost = [f"{spec.kind.noun} {spec.display(live)}" for spec in registry()
            for live in spec.live(ctx.observed).values() if member_of(spec, live) == name]
    if not lost:
        return ""
    return f"; the cluster forgets what lived only there: {', '.join(lost)}"


# Roles of a member that can lead the database: a voter, or a stand-by LXD promotes to replace a
# leaving voter. A spare (``database: false``, no role) cannot: LXD 5.0.2 removes the last voter
# anyway and the cluster loses its database ("server has lost leadership"; seen live with
# cluster.max_standby 0). Incus 6.0.4 promotes the spare and the removal works (seen live).
_CAN_LEAD = frozenset({"database", "database-leader", "database-standby"})


def _last_leader_block(ctx: Context, name: str, declared: set[str]) -> str | None:
    """Why removing ``name`` gracefully would break the cluster, or None."""
    live = ctx.observed.members[name]
    if ctx.backend() != "lxd" or not ({"database", "database-leader"} & set(live.roles)):
        return None
    staying = sorted(n for n in ctx.observed.members if n in declared)
    able = [n for n in staying
            if ctx.observed.members[n].status in (ONLINE, EVACUATED)
            and (ctx.observed.members[n].database or _CAN_LEAD & set(ctx.observed.members[n].roles))]
    if able:
        return None
    others = f"no member that stays ({', '.join(staying)}) is" if staying else "no member stays"
    return (f"removing {name} would take away the last database member able to lead: {others} "
            "an online database voter or stand-by, and LXD would lose the cluster's database; "
            "let LXD make another member a database member first (cluster.max_standby, "
            "cluster.max_voters)")


def _member_view(live: ObservedMember) -> dict:
    return {"address": live.url.removeprefix("https://"), "status": live.status}


def _local_config(member: Member) -> dict:
    """Member-local config to set before bootstrap/join: core.https_address defaults to the
    cluster address."""
    config: dict = {"core.https_address": member.address}
    config.update(member.config)
    return config


def _bootstrap_config(member: Member, live: dict) -> dict:
    """The bootstrap member's local config. Its cluster address is ``address``: LXD takes it
    from ``cluster.https_address`` when set, else from ``core.https_address`` (and refuses a
    wildcard one), and a join carries it in ``server_address``. So ``cluster.https_address``
    is set whenever the REST address differs, or a stale one is there."""
    config = _local_config(member)
    rest = config.get("core.https_address")
    stale = live.get("cluster.https_address")
    if (not isinstance(rest, str) or not addresses.same(rest, member.address)
            or (stale and not addresses.same(stale, member.address))):
        config.setdefault("cluster.https_address", member.address)
    return config


def plan_bootstrap(ctx: Context) -> None:
    """Fresh cluster: bootstrap the first member, then set the ``cluster.*`` server keys."""
    boot = ctx.bootstrap
    if boot is None:
        return
    alone = ctx.observed.standalone.get(boot.name)
    live_config = alone.config if alone is not None else {}
    wide = {k: v for k, v in ctx.desired.config.items()
            if not k.startswith(keys.CLUSTER_ONLY_KEY_PREFIX)}
    changes = diff_server(live_config, {**wide, **_bootstrap_config(boot, live_config)})
    before, after = split_changes(changes)
    ctx.bootstrap_step = ctx.steps.add(
        BOOTSTRAP, Kind.MEMBER, boot.name, member=boot.name,
        before={"config": before} if before else None,
        after={"server_name": boot.name, "address": boot.address,
               **({"config": after} if after else {})},
        reason=(f"no cluster exists yet: {boot.name}, the first member in the file, forms it"
                if alone is not None and alone.reachable and alone.trusted else
                f"if no cluster exists ({boot.name} does not say until it trusts lxdplan), "
                f"{boot.name}, the first member in the file, forms it"),
        blocked=_standalone_block(ctx, boot),
        etag=alone.etag if alone is not None else None,
        payload=Bootstrap(boot.name, boot.address, boot.endpoint,
                          {k: new for k, (_old, new) in changes.items()}),
    )
    ctx.join_steps[boot.name] = ctx.bootstrap_step
    late = {k: v for k, v in ctx.desired.config.items()
            if k.startswith(keys.CLUSTER_ONLY_KEY_PREFIX)}
    ctx.wide_update = _server_update(
        ctx, live_config, late, etag=None, depends_on=[ctx.bootstrap_step],
        reason="cluster.* keys can only be set once the cluster exists")


def _standalone_block(ctx: Context, member: Member) -> str | None:
    reason = ctx.member_block(member.name)
    if reason:
        return reason
    alone = ctx.observed.standalone.get(member.name)
    if alone is None or ctx.observed.join_in_progress(member.name):
        return None
    if alone.clustered:
        return (f"{member.name} already belongs to another cluster (as "
                f"{alone.server_name or 'a member'}, with certificate "
                f"{alone.certificate_fingerprint[:12] or 'unknown'}); remove it from that cluster "
                "first")
    return None


def plan_server_config(ctx: Context) -> None:
    """Existing cluster: cluster-wide keys in one update, member-local keys per member.

    The cluster-wide keys are compared as the reader shows them and as each member shows them
    itself (``ObservedMember.view``): a member whose own view differs while the reader's holds
    gets a ``refresh`` (``plan_view_refresh``); a write of changed keys refreshes every view."""
    if ctx.fresh:
        return
    declared = {k: ctx.observed.config.get(k) for k in ctx.desired.config}
    stale = [n for n, m in sorted(ctx.observed.members.items())
             if m.view is not None and diff_server(m.view, declared)]  # unlike the reader's
    reason = "cluster-wide server config differs from the file"
    if stale:
        reason += (f" (as the cluster holds it; {_and(stale)} {'shows' if len(stale) == 1 else 'show'} "
                   "yet another view, which the write refreshes)")
    ctx.wide_update = _server_update(
        ctx, ctx.observed.config, ctx.desired.config, etag=ctx.observed.config_etag,
        depends_on=[], reason=reason, via=getattr(ctx.observed, "config_member", "") or None)
    for member in ctx.desired.members:
        live = ctx.observed.members.get(member.name)
        if live is None or not member.config:
            continue
        _server_update(ctx, live.local_config, member.config, etag=live.local_etag,
                       depends_on=[], member=member.name,
                       reason=f"member-local server config of {member.name} differs from the file")


def _server_update(ctx, live, desired, *, etag, depends_on, reason, member=None,
                   via=None) -> str | None:
    changes = diff_server(live, desired)
    if not changes:
        return None
    before, after = split_changes(changes)
    return ctx.steps.add(
        Action.UPDATE, Kind.SERVER, "config", member=member, depends_on=depends_on,
        before={"config": before}, after={"config": after}, reason=reason,
        blocked=(ctx.member_block(member) if member else None)
        or ctx.serving_block("a server config write"), etag=etag,
        payload=ServerUpdate({k: new for k, (_old, new) in changes.items()}, via),
    )


# Which forming order the planner takes when members join in this apply (issue 22, measured by
# benchmarks/apply_form.py on the walkthrough; docs/performance.md). True: the joiners join
# first, empty of the objects the file adds, and each new pool and network is then defined on
# every member and instantiated once, which the server fans out to all members at once. False:
# the objects are made on the members present, then each joiner creates every one of them
# during its own join, one member after another (``member_config``).
JOINS_FIRST = True

_UNFINISHED = frozenset({"Pending", "Errored"})


def choose_order(ctx: Context) -> None:
    """Set ``ctx.joined_first``: the joiners, when joining before the new pools and networks
    are created is safe, else none (the objects first, then the joins).

    Safe when every join can run (none blocked) and no pool or network is left unfinished
    (Pending or Errored) from an earlier apply: those are finished on the members present,
    before the joins, as before. A joiner still brings, in its join's ``member_config``, its
    keys of every declared object that exists already (``_member_config``)."""
    if not JOINS_FIRST or not ctx.joiners:
        return
    if any(_standalone_block(ctx, m) for m in ctx.joiners) or ctx.serving_block("a join"):
        return
    for spec in registry():
        if isinstance(spec, MemberSpecific):
            for live in spec.live(ctx.observed).values():
                states = {getattr(live, "status", ""), *getattr(live, "member_status", {}).values()}
                if states & _UNFINISHED:
                    return
    ctx.joined_first = [m.name for m in ctx.joiners]


def plan_joins(ctx: Context, wait_for: list[str]) -> None:
    """Joins, after the pools and networks exist on the current members.

    A join does not depend on the join before it: the executor runs joins one at a time in plan
    order (as LXD requires), and a join that fails (a bad member-specific key, an unreachable
    joiner) says nothing about the next member, which may still join in the same apply."""
    previous = list(ctx.after_membership()) + wait_for
    for member in ctx.joiners:
        alone = ctx.observed.standalone.get(member.name)
        changes = diff_server(alone.config if alone is not None else {}, _local_config(member))
        member_config = _member_config(ctx, member.name)
        field = alone.join_token_field if alone is not None else JOIN_TOKEN_FIELD_DEFAULT
        display: dict = {}
        for entry in member_config:
            display.setdefault(f"{entry['entity']}/{entry['name']}", {})[entry["key"]] = entry["value"]
        _before, after = split_changes(changes)
        sid = ctx.steps.add(
            JOIN, Kind.MEMBER, member.name, member=member.name, depends_on=previous,
            after={"address": member.address, **({"config": after} if after else {}),
                   **({"member_config": display} if display else {})},
            reason=(f"{member.name} is joining the cluster now (a join an earlier apply started "
                    "still runs in its daemon): apply waits for it" if ctx.observed.join_in_progress(member.name)
                    else f"{member.name} is in the file but not in the cluster"),
            blocked=_standalone_block(ctx, member) or ctx.serving_block(f"joining {member.name}"),
            etag=alone.etag if alone is not None else None,
            payload=Join(member.name, member.address, member.endpoint,
                         {k: new for k, (_old, new) in changes.items()}, member_config, field),
        )
        ctx.join_steps[member.name] = sid


def _member_config(ctx: Context, member: str) -> list[dict]:
    """Member-specific keys of every declared object (pools, networks), as LXD's join expects
    them (each ``MemberSpecific`` kind says its own: ``join_member_config``); for a member that
    joins first, of those that exist already (the new ones are defined on it after its join)."""
    return [entry for spec in registry() if isinstance(spec, MemberSpecific)
            for entry in spec.join_member_config(ctx.desired, member)
            if member not in ctx.joined_first or entry["name"] in spec.live(ctx.observed)]


def plan_member_updates(ctx: Context) -> None:
    """Member attributes (description, failure domain, groups, roles), then evacuate/restore."""
    declared_groups = {g.name for g in ctx.desired.section("cluster_groups")}
    dropped = {n for n, g in ctx.observed.section("cluster_groups").items()
               if g.managed_by_lxdplan and n not in declared_groups and n != "default"}
    for member in ctx.desired.members:
        live = ctx.observed.members.get(member.name)
        current: dict[str, Any] = {
            "description": live.description if live else "",
            "failure_domain": live.failure_domain if live else "default",
            "groups": sorted(live.groups) if live else ["default"],
            "roles": sorted(r for r in (live.roles if live else ()) if r not in keys.DATABASE_ROLES),
        }
        wanted = dict(current)
        if member.description is not None:
            wanted["description"] = member.description
        if member.failure_domain is not None:
            wanted["failure_domain"] = member.failure_domain
        if member.groups is not None:
            wanted["groups"] = sorted(member.groups)
        # a group about to be deleted must be empty first
        wanted["groups"] = [g for g in wanted["groups"] if g not in dropped] or ["default"]
        if member.roles is not None:
            wanted["roles"] = sorted(member.roles)
        changed = [k for k in wanted if wanted[k] != current[k]]
        deps = ctx.joined(member.name)
        update_id = None
        if changed:
            db_roles = [r for r in (live.roles if live else ()) if r in keys.DATABASE_ROLES]
            update_id = ctx.steps.add(
                Action.UPDATE, Kind.MEMBER, member.name, member=member.name,
                depends_on=deps,  # and the groups it names: lxdplan.references, member_refs
                before={k: current[k] for k in changed}, after={k: wanted[k] for k in changed},
                reason=f"member {member.name}'s attributes differ from the file",
                blocked=(ctx.not_serving_reason(member.name)
                         if member.name in ctx.observed.not_serving() else None),
                etag=live.etag if live else None,
                payload=MemberUpdate(wanted["description"], wanted["failure_domain"],
                                     wanted["groups"], db_roles + wanted["roles"],
                                     dict(live.config) if live else {}),
            )
        _plan_state(ctx, member, live, deps + ([update_id] if update_id else []))


def _plan_state(ctx: Context, member: Member, live: ObservedMember | None, deps: list[str]) -> None:
    status = live.status if live else "Online"
    if member.state == "evacuated" and status not in (EVACUATED, "Evacuating"):
        action, reason = EVACUATE, f"the file wants {member.name} evacuated"
    elif member.state == "online" and status == EVACUATED:
        action, reason = RESTORE, f"the file wants {member.name} online and it is evacuated"
    else:
        return
    ctx.steps.add(
        action, Kind.MEMBER, member.name, member=member.name, depends_on=deps,
        before={"status": status}, after={"status": "Evacuated" if action == EVACUATE else "Online"},
        reason=reason, blocked=ctx.member_block(member.name) if live else None,
        payload=MemberState(action.value),
    )


# -- each member's own view of the cluster-wide keys ----------------------------------------------

def _stale_views(ctx: Context) -> dict[str, dict]:
    """Members (the reader aside) whose own view of the declared cluster-wide keys differs from
    the file: member -> its changes (``diff_server``)."""
    reader = ctx.observed.config_member
    out = {}
    for name, live in sorted(ctx.observed.members.items()):
        if name == reader or live.view is None or name in ctx.leaving:
            continue
        changes = diff_server(live.view, ctx.desired.config)
        if changes:
            out[name] = changes
    return out


def plan_view_refresh(ctx: Context) -> None:
    """Every member shows the cluster-wide config the cluster holds, after this plan's joins.

    LXD 5.0.2 keeps each member's view of the cluster-wide keys in memory, and a member that
    joins after they were written does not load them (Incus 6.0.4 does); a cluster-wide write,
    even of no key, makes every member load them again (seen live: LXD-FACTS "Cluster-wide
    config and members that join later"). So on LXD a ``refresh`` follows the joins when the
    file declares cluster-wide keys; on any server one is planned for members whose view
    differs now while the reader's holds (a write of changed keys refreshes them itself). The
    step checks every view first and writes only when one differs."""
    declared = dict(ctx.desired.config)
    if not declared:
        return
    # a blocked join does not hold back the refresh of the members that do join
    held = {step.id for step in ctx.steps.all() if step.blocked}
    joins = [ctx.join_steps[m.name] for m in ctx.joiners
             if m.name in ctx.join_steps and ctx.join_steps[m.name] not in held]
    stale = {} if ctx.fresh else _stale_views(ctx)
    after_joins = bool(joins) and ctx.backend() == "lxd"
    if not after_joins and (not stale or ctx.wide_update):
        return
    if after_joins:
        names = [m.name for m in ctx.joiners if ctx.join_steps.get(m.name) in joins]
        reason = (f"on LXD a member that joins does not load the cluster-wide config written "
                  f"before ({_and(names)} here): once {'it has' if len(names) == 1 else 'they have'} "
                  "joined, each member's own view is checked and, where one differs, a "
                  "cluster-wide write makes every member load the config again")
        if stale:
            reason += f"; {_and(sorted(stale))} already {'shows' if len(stale) == 1 else 'show'} an old one"
        before, after = None, None
    else:
        reason = (f"{_and(sorted(stale))} {'shows' if len(stale) == 1 else 'show'} cluster-wide "
                  "config that differs from the file while the cluster holds the file's values "
                  "(LXD keeps each member's view in memory, and a member that joined after "
                  "they were written misses them): a cluster-wide write makes every member load "
                  "the config again")
        first = next(iter(stale.values()))
        union = {k: c for changes in stale.values() for k, c in changes.items()}
        old, new = split_changes({k: (first.get(k, (None, None))[0], c[1]) for k, c in union.items()})
        before, after = {"config": old}, {"config": new}
    wanted = {k: v for k, v in declared.items()}
    check = [m.name for m in ctx.desired.members
             if m.name in ctx.observed.members or m.name in ctx.join_steps]
    deps = joins + ([ctx.wide_update] if ctx.wide_update else [])
    ctx.steps.add(
        Action.UPDATE, Kind.SERVER, VIEWS, depends_on=deps, before=before, after=after,
        reason=reason, blocked=ctx.serving_block("a server config write"),
        payload=ServerUpdate(wanted, None, check),
    )


VIEWS = "views"  # the name of the refresh step: server/views/update


def ovn_after_server_config(ctx: Context) -> None:
    """An OVN network's create waits for this plan's cluster-wide server config writes (the
    update and the views' refresh): the server creates it in OVN's databases through
    ``network.ovn.northbound_connection``, on every member. Seen live on LXD 5.0.2: created
    while a member that just joined had not loaded the connection, the create fails "failed
    to notify peer …: ovn-nbctl … database connection failed". A create a write waits for
    itself (joins wait for new networks when the joiners bring their member-specific keys)
    keeps its order: no cycle."""
    steps = {s.id: s for s in ctx.steps.all()}
    writes = [sid for sid, s in steps.items() if s.kind == Kind.SERVER and not s.member]
    for step in steps.values():
        if (step.kind == Kind.NETWORK and step.action == Action.INSTANTIATE
                and isinstance(step.payload, Instantiate) and step.payload.type == "ovn"):
            ctx.steps.add_dependency(step.id, *(w for w in writes
                                                if step.id not in _waits_for(steps, w)))


def _waits_for(steps: dict[str, Any], sid: str) -> set[str]:
    """Every step ``sid`` waits for, directly or not."""
    seen: set[str] = set()
    todo = [sid]
    while todo:
        for dep in steps[todo.pop()].depends_on:
            if dep not in seen and dep in steps:
                seen.add(dep)
                todo.append(dep)
    return seen


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
