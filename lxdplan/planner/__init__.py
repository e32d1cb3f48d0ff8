"""The planner: a pure function from (desired, observed) to an ordered ``Plan``.

No I/O, no clock, no environment: secrets stay ``Secret`` objects and are never compared with a
value (see ``compare``). Changes LXD cannot make in place raise ``PlanError``; there is never a
silent delete-and-recreate.

Order (each step's ``depends_on`` names what it waits for; a topological sort keeps it stable):

0. Before anything, every live member's ``url`` must be its declared ``address``: LXD cannot
   change a clustered member's cluster address, so a difference is a ``PlanError``.
1. Removals of live members the file no longer lists, one at a time (``remove``/``force-remove``).
   They come first so a member on its way out needs no pool/network definition and an offline
   member removed with force does not block the instantiates.
2. ``bootstrap`` of the first declared member (fresh cluster only), then a server ``update`` with
   the ``cluster.*`` keys, which LXD accepts only once clustered. Existing cluster: server config
   updates (cluster-wide in one step, member-local per member).
3. The kinds of stage ``BEFORE_JOINS`` (``lxdplan.registry``), in rank order: cluster groups,
   projects, storage pools, network ACLs, networks (create/update). Pools and networks are made
   on the members present *now*: ``define`` on each member, then one ``instantiate``; resumption
   of ``Pending`` ones; retry of ``Errored`` ones (after the corrected member-specific keys of the
   members where it is not created yet); updates.
4. ``join`` of each new member, one at a time. Two orders (``members.choose_order``), measured
   with ``benchmarks/apply_form.py`` (docs/performance.md):

   - *Joins first* (planned whenever safe): the joins come before the pools and networks (the
     ``MemberSpecific`` kinds) are planned; each new one is then defined on every member, a
     joiner's define after its join, and instantiated once, which the server fans out to every
     member at once (0.75x the time of the other order forming the walkthrough on LXD 5.0.2).
     A joiner's ``member_config`` holds its keys of the objects that exist already: LXD
     creates those during the join, and a pool's ``source`` cannot change afterwards.
   - *Objects first*, when a join is blocked (the objects must not wait for a member that cannot
     join) or a pool or network is left Pending or Errored by an earlier apply: every join comes
     after every instantiate, and the joining member brings its member-specific keys of all of
     them in ``member_config``, exactly as ``lxd init`` does when it joins a member to a cluster
     that already has pools and networks.

   On LXD, when the file
   declares cluster-wide keys, ``server/views/update`` follows the joins: a member that joins
   does not load the keys written before, and the step makes every member load them again where
   one's own view differs (also planned, on any server, for a member whose view differs now while
   the reader's holds: ``members.plan_view_refresh``).
5. Member attribute updates (after the groups they name exist), then ``evacuate``/``restore``.
6. The kinds of stage ``AFTER_MEMBERS``, in rank order: storage volumes (on their member, after
   its join), profiles, images, instances (create/update and ``start``/``stop``, and ``move``
   where placement says so: ``lxdplan.kinds.placement``).
7. Deletes of managed objects the file dropped, in the kinds' ``delete_rank`` order: instances,
   images, profiles, storage volumes, storage pools, networks, network ACLs, projects, cluster
   groups. A delete of an object something still uses, which the plan does not change or
   delete first, is blocked, naming the users (``planner.usage``).

On top of that order, every reference an object's config makes to another object
(``lxdplan.references``, walked by ``planner.refwalk``: a project's ``restricted.*`` keys, a
profile's or an instance's devices, an OVN network's uplink, a volume's pool, a member's groups,
a network's or a nic's ACLs…) is an edge (``planner.dependencies``): the user is created or
changed after what it names is created or changed, and deleted before it.

A step whose dependency is blocked is blocked too ("waits for <id>, which is blocked").

Step ids: ``<kind>/<name>/<action>[/<member>]`` (``lxdplan.plan.step_id``) — ``member/node2/join``,
``storage_pool/data/define/node2``, ``storage_pool/data/instantiate``, ``network/br0/update/node2``
(member-specific keys), ``server/config/update`` (cluster-wide), ``server/config/update/node1``
(member-local), ``profile/web/update``, ``profile/staging/web/create`` (project shown when not
``default``), ``storage_volume/data/web/create/node2``.

Payloads: every step carries a frozen dataclass the executor reads: ``lxdplan.payloads`` for
membership and server config (below), and each kind's ``payloads`` (action -> dataclass, in its
module in ``lxdplan.kinds``, which documents its fields) for its objects.

action / kind      payload
=================  ===========================================================================
bootstrap/member   server_name, address (cluster address), endpoint, config (server keys to PATCH
                   on the member before ``PUT /1.0/cluster``: member-local incl.
                   core.https_address, cluster.https_address = address when the REST address
                   differs from it, and cluster-wide except ``cluster.*``). etag: its /1.0 ETag
join/member        server_name, address, endpoint, config (member-local keys to PATCH on the
                   joining member first), member_config (list of {entity: "storage-pool" |
                   "network", name, key, value}), token_field ("cluster_token" when the joining
                   server has the ``explicit_trust_token`` extension or is Incus, else
                   "cluster_password")
remove/member      force: false; force_if_unreachable: true for an evacuated member force_remove
                   lists (DELETE ?force=1 when the graceful one fails and the cluster cannot
                   reach it).  force-remove/member: force: true (DELETE ?force=1)
evacuate|restore   action: "evacuate" | "restore"  (POST /1.0/cluster/members/<m>/state)
update/member      description, failure_domain, groups, roles (database roles as read + declared
                   assignable ones; re-read database roles at apply for a member that just
                   joined), config (the member's own config map, as read). Full PUT body; etag
update/server      config: {key: value | Secret | None}, only changed keys: PATCH /1.0 (with
                   ``?target=<member>`` when ``member`` is set); etag (If-Match). Step
                   ``server/views/update``: refresh (members whose own view of ``config``, the
                   declared cluster-wide keys, is checked; an empty PATCH when one differs)
=================  ===========================================================================
"""

from __future__ import annotations

from typing import Iterable

from lxdplan.desired import Desired
from lxdplan.errors import PlanError
from lxdplan.kinds import MemberSpecific, Requested, Stage
from lxdplan.plan import Plan
from lxdplan.planner import dependencies, members, usage
from lxdplan.planner.context import Context
from lxdplan.registry import registry
from lxdplan.state.observed import Observed

__all__ = ["plan", "PlanError"]


def plan(desired: Desired, observed: Observed, *, force_remove: Iterable[str] = ()) -> Plan:
    """The ordered steps that make ``observed`` match ``desired``.

    ``force_remove`` adds to the file's ``force_remove`` (the CLI's ``--force-remove``). Raises
    ``PlanError`` for a change LXD cannot make in place.
    """
    ctx = Context(desired, observed, frozenset(desired.force_remove) | frozenset(force_remove))
    specs = registry()
    members.diagnose(ctx)
    members.check_addresses(ctx)
    members.plan_removals(ctx)
    members.plan_bootstrap(ctx)
    members.plan_server_config(ctx)
    members.choose_order(ctx)
    before = [s for s in specs if s.stage == Stage.BEFORE_JOINS]
    if ctx.joined_first:  # joins, then the new pools and networks defined on every member
        for spec in before:
            if not isinstance(spec, MemberSpecific):
                spec.plan(ctx)
        members.plan_joins(ctx, [])
        for spec in before:
            if isinstance(spec, MemberSpecific):
                spec.plan(ctx)
    else:
        made = [sid for spec in before for sid in spec.plan(ctx) if isinstance(spec, MemberSpecific)]
        members.plan_joins(ctx, made)
    members.plan_view_refresh(ctx)
    members.ovn_after_server_config(ctx)
    members.plan_member_updates(ctx)
    for spec in specs:
        if spec.stage == Stage.AFTER_MEMBERS:
            spec.plan(ctx)
    for spec in sorted(specs, key=lambda s: s.delete_rank):
        spec.plan_deletes(ctx)
    usage.block_used(ctx)
    dependencies.link(ctx)
    for spec in specs:  # one-off steps the command line asks for (--restore): after all others
        if isinstance(spec, Requested):
            spec.plan_requested(ctx)

    version = observed.server_version
    boot = ctx.bootstrap
    if not version and boot is not None and boot.name in observed.standalone:
        version = observed.standalone[boot.name].version
    listed = {spec.kind: spec.list_rank for spec in specs}
    unmanaged = sorted(ctx.unmanaged, key=lambda u: (listed[u.kind], u.name))
    return Plan(
        backend=ctx.backend(boot.name if boot else None),
        server_version=version,
        steps=ctx.steps.ordered(),
        unmanaged=tuple(unmanaged),
        diagnostics=tuple(ctx.diagnostics),
        observed_digest=observed.digest(),
    )
