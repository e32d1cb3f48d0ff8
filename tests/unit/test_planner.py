"""Rules of the pure planner, one behaviour per test."""

from __future__ import annotations

import dataclasses

import pytest

from lxdplan import keys
from lxdplan.desired import Secret
from lxdplan.kinds.cluster_group import ClusterGroup, ObservedGroup
from lxdplan.kinds.profile import Profile, ObservedProfile
from lxdplan.kinds.project import Project, ObservedProject
from lxdplan.kinds.storage_volume import StorageVolume, ObservedVolume
from lxdplan.errors import PlanError
from lxdplan.payloads import MemberState, Remove
from lxdplan import membership
from lxdplan.plan import Action, Kind
from lxdplan.planner import plan
from lxdplan.planner.order import StepList
from lxdplan.state.observed import Standalone
from plan_helpers import (
    by_id, cluster, desired, fresh, live_members, live_net, live_pool, members, net, pool,
)


def test_matching_cluster_plans_nothing():
    result = plan(desired(storage_pools=(pool(members={"n1": {"source": "/srv/data-n1"}}),)),
                  cluster(storage_pools={"data": live_pool()}))
    assert result.steps == () and not result.changes


def test_secret_matches_when_the_key_is_set_and_is_planned_only_when_absent():
    want = desired(config={"core.trust_password": Secret("env", "PW")})
    assert plan(want, cluster(config={"core.trust_password": "true"})).steps == ()
    step = by_id(plan(want, cluster()))["server/config/update"]
    assert step.payload.config == {"core.trust_password": Secret("env", "PW")}


def test_null_unsets_a_server_key_and_undeclared_keys_are_left():
    observed = cluster(config={"core.proxy_http": "http://p", "images.x": "1"}, config_etag="E")
    step = by_id(plan(desired(config={"core.proxy_http": None}), observed))["server/config/update"]
    assert step.payload.config == {"core.proxy_http": None}
    assert step.etag == "E" and step.before == {"config": {"core.proxy_http": "http://p"}}


def test_member_local_config_is_updated_per_member_with_its_etag():
    want = desired(members=members("n1", "n2", "n3", n2={"config": {"core.metrics_address": ":9"}}))
    observed = cluster(members=live_members("n1", "n2", "n3", n2={"local_etag": "L2"}))
    step = by_id(plan(want, observed))["server/config/update/n2"]
    assert step.member == "n2" and step.etag == "L2"
    assert step.payload.config == {"core.metrics_address": ":9"}


def test_fresh_cluster_bootstraps_then_sets_cluster_keys_then_joins_in_turn():
    want = desired(config={"cluster.offline_threshold": "30", "images.x": "1"},
                   storage_pools=(pool(members={"n2": {"source": "/srv/b"}}),))
    steps = by_id(plan(want, fresh()))
    boot = steps["member/n1/bootstrap"]
    assert boot.payload.config == {"core.https_address": "10.9.0.1:8443", "images.x": "1"}
    assert steps["server/config/update"].depends_on == ("member/n1/bootstrap",)
    assert steps["server/config/update"].payload.config == {"cluster.offline_threshold": "30"}
    join2, join3 = steps["member/n2/join"], steps["member/n3/join"]
    assert join3.depends_on == join2.depends_on  # a failed join does not hold the next one
    order = [s for s in steps]
    assert order.index("member/n2/join") < order.index("member/n3/join")  # still in file order
    assert join2.payload.token_field == "cluster_password"


def test_fresh_cluster_joins_empty_members_first_then_defines_each_pool_on_every_member():
    # The faster forming order (benchmarks/apply_form.py): the members join before the pool
    # exists, so each gets its own definition, with its keys, after its join; one instantiate
    # then creates the pool on every member at once.
    want = desired(storage_pools=(pool(members={"n2": {"source": "/srv/b"}}),),
                   networks=(net(members={"n3": {"bridge.external_interfaces": "eth9"}}),))
    result = plan(want, fresh())
    steps, order = by_id(result), [s.id for s in result.steps]
    for joiner in ("n2", "n3"):
        join = steps[f"member/{joiner}/join"]
        assert join.payload.member_config == [] and "member_config" not in join.after
        assert "storage_pool/data/instantiate" not in join.depends_on
        for kind, name in (("storage_pool", "data"), ("network", "br0")):
            define = steps[f"{kind}/{name}/define/{joiner}"]
            assert join.id in define.depends_on
            assert order.index(join.id) < order.index(define.id)
    assert steps["storage_pool/data/define/n2"].payload.config == {"source": "/srv/b"}
    assert steps["network/br0/define/n3"].payload.config == {"bridge.external_interfaces": "eth9"}
    assert set(steps["storage_pool/data/instantiate"].depends_on) >= {
        "storage_pool/data/define/n1", "storage_pool/data/define/n2", "storage_pool/data/define/n3"}
    assert order.index("member/n3/join") < order.index("storage_pool/data/instantiate")


def test_growing_cluster_joins_with_the_keys_of_existing_pools_and_defines_only_new_ones():
    # An existing pool is created on the joiner by its join: its source must be in member_config
    # (it cannot be set afterwards). A pool the same apply adds is defined on it after the join.
    want = desired(storage_pools=(pool(members={"n3": {"source": "/srv/data-n3"}}),
                                  pool("fast", members={"n3": {"source": "/srv/fast-n3"}})))
    observed = cluster(("n1", "n2"), storage_pools={"data": live_pool(members=("n1", "n2"))},
                       standalone={"n3": Standalone(name="n3", reachable=True)})
    steps = by_id(plan(want, observed))
    join = steps["member/n3/join"]
    assert join.payload.member_config == [
        {"entity": "storage-pool", "name": "data", "key": "source", "value": "/srv/data-n3"}]
    assert "storage_pool/data/define/n3" not in steps and "storage_pool/data/update/n3" not in steps
    assert steps["storage_pool/fast/define/n3"].depends_on == ("member/n3/join",)
    assert steps["storage_pool/fast/define/n3"].payload.config == {"source": "/srv/fast-n3"}


def test_an_unfinished_pool_is_finished_first_and_the_joins_carry_its_keys():
    # A Pending pool from an interrupted apply: finished on the members present, then the
    # joiner creates it in its join (the objects-first order), as before.
    live = live_pool(status="Pending", members=("n1",), member_status={"n1": "Pending"})
    want = desired(storage_pools=(pool(members={"n3": {"source": "/srv/c"}}),))
    observed = cluster(("n1", "n2"), storage_pools={"data": live},
                       standalone={"n3": Standalone(name="n3", reachable=True)})
    steps = by_id(plan(want, observed))
    join = steps["member/n3/join"]
    assert "storage_pool/data/instantiate" in join.depends_on
    assert join.payload.member_config == [
        {"entity": "storage-pool", "name": "data", "key": "source", "value": "/srv/c"}]
    assert "storage_pool/data/define/n3" not in steps


def test_a_blocked_join_keeps_the_objects_first_order():
    # A joiner that cannot be reached must not hold back the pools of the members present.
    observed = fresh()
    observed.standalone["n3"] = Standalone(name="n3", reachable=False, error="connection refused")
    want = desired(storage_pools=(pool(members={"n2": {"source": "/srv/b"}}),))
    steps = by_id(plan(want, observed))
    assert steps["member/n3/join"].blocked == "n3 cannot be reached: connection refused"
    assert steps["storage_pool/data/instantiate"].blocked is None
    assert "storage_pool/data/define/n2" not in steps
    assert steps["member/n2/join"].payload.member_config == [
        {"entity": "storage-pool", "name": "data", "key": "source", "value": "/srv/b"}]


def test_join_token_field_is_the_one_observed_on_the_joining_server():
    observed = cluster(("n1", "n2"), standalone={"n3": Standalone(
        name="n3", reachable=True, join_token_field="cluster_token")})
    assert by_id(plan(desired(), observed))["member/n3/join"].payload.token_field == "cluster_token"


def test_unreachable_bootstrap_member_blocks_bootstrap_and_everything_after_it():
    observed = fresh()
    observed.standalone["n1"] = Standalone(name="n1", reachable=False, error="connection refused")
    result = plan(desired(), observed)
    steps = by_id(result)
    assert steps["member/n1/bootstrap"].blocked == "n1 cannot be reached: connection refused"
    assert steps["member/n3/join"].blocked == "waits for member/n1/bootstrap, which is blocked"


def test_new_pool_is_defined_on_every_member_then_instantiated_with_the_owner_mark():
    want = desired(storage_pools=(pool(config={"volume.size": "1GiB"},
                                       members={"n1": {"source": "/a"}}),))
    result = plan(want, cluster())
    ids = [s.id for s in result.steps]
    assert ids == ["storage_pool/data/define/n1", "storage_pool/data/define/n2",
                   "storage_pool/data/define/n3", "storage_pool/data/instantiate"]
    inst = result.steps[-1]
    assert inst.payload.config == {"volume.size": "1GiB", keys.OWNER_KEY: "true"}
    assert result.steps[0].payload.config == {"source": "/a"}


def test_pending_pool_defines_only_the_missing_members():
    live = live_pool(status="Pending", members=("n1",), member_status={"n1": "Pending"})
    want = desired(storage_pools=(pool(members={"n1": {"source": "/srv/data-n1"}}),))
    ids = [s.id for s in plan(want, cluster(storage_pools={"data": live})).steps]
    assert ids == ["storage_pool/data/define/n2", "storage_pool/data/define/n3",
                   "storage_pool/data/instantiate"]


def test_errored_network_is_retried_without_cluster_wide_config():
    live = live_net(status="Errored", config={"ipv4.address": "10.0.0.1/24"},
                    member_status={"n1": "Created", "n2": "Errored", "n3": "Created"})
    step = by_id(plan(desired(networks=(net(),)), cluster(networks={"br0": live})))[
        "network/br0/instantiate"]
    assert step.payload.retry is True and step.payload.config == {}
    assert "without cluster-wide config" in step.reason and "n2" in step.reason


def test_bridge_keys_lxd_generates_are_not_removed_but_declared_ones_are_enforced():
    live = live_net(config={"ipv4.address": "10.1.1.1/24", "ipv4.nat": "true",
                            "ipv6.address": "fd00::1/64", "ipv6.nat": "true", "dns.domain": "x"})
    result = plan(desired(networks=(net(config={"ipv4.nat": "false"}),)),
                  cluster(networks={"br0": live}))
    step = by_id(result)["network/br0/update"]
    assert step.before == {"config": {"ipv4.nat": "true", "dns.domain": "x"}}
    assert step.after == {"config": {"ipv4.nat": "false"}}
    assert step.payload.config["ipv4.address"] == "10.1.1.1/24"  # kept in the PUT


def test_member_specific_keys_compare_only_declared_ones_and_source_is_immutable():
    live = live_pool(members=("n1", "n2", "n3"))
    assert plan(desired(storage_pools=(pool(),)), cluster(storage_pools={"data": live})).steps == ()
    want = desired(storage_pools=(pool(members={"n2": {"source": "/elsewhere"}}, line=7),))
    with pytest.raises(PlanError, match=r"^lxdplan.yaml:7: storage pool data has source "
                                        r"/srv/data-n2 on n2 .* cannot change source"):
        plan(want, cluster(storage_pools={"data": live}))


def test_member_specific_update_targets_the_member():
    live = live_pool(members=("n1", "n2", "n3"))
    want = desired(storage_pools=(pool(members={"n2": {"size": "5GiB"}}),))
    step = by_id(plan(want, cluster(storage_pools={"data": live})))["storage_pool/data/update/n2"]
    assert step.member == "n2"
    assert step.payload.config == {"source": "/srv/data-n2", "size": "5GiB"}


def test_network_type_change_is_refused():
    live = live_net()
    with pytest.raises(PlanError, match="cannot change a network's type"):
        plan(desired(networks=(net(type="macvlan"),)), cluster(networks={"br0": live}))


def test_offline_member_blocks_steps_that_need_every_member():
    observed = cluster(members=live_members("n1", "n2", "n3", status={"n3": "Offline"}))
    steps = by_id(plan(desired(networks=(net(),)), observed))
    assert steps["network/br0/define/n1"].blocked is None
    assert steps["network/br0/define/n3"].blocked == "n3 is offline"
    assert steps["network/br0/instantiate"].blocked == (
        "n3 is offline, and creating network br0 needs every member")


def test_member_down_before_the_cluster_notices_is_unreachable_not_drifted():
    """The cluster still says Online, but lxdplan could not reach the member itself: its
    member-specific keys were never read, so nothing is planned on them and what needs it waits."""
    observed = cluster(
        members=live_members("n1", "n2", "n3", n1={"version": "5.0.2"}, n2={"version": "5.0.2"}),
        storage_pools={"data": live_pool(members=("n1", "n2"), member_status={
            "n1": "Created", "n2": "Created", "n3": "Created"})},
        standalone={"n3": Standalone(name="n3", reachable=False, error="connection refused")},
    )
    want = desired(storage_pools=(pool(members={"n3": {"source": "/srv/n3"}}),), networks=(net(),))
    steps = by_id(plan(want, observed))
    assert not any(s.kind == Kind.STORAGE_POOL for s in steps.values())
    assert steps["network/br0/define/n3"].blocked == "n3 cannot be reached: connection refused"
    assert steps["network/br0/instantiate"].blocked.startswith("n3 cannot be reached")


def test_member_that_does_not_trust_lxdplan_blocks_its_steps_with_the_fix():
    observed = fresh(("n1", "n2", "n3"))
    observed.standalone["n2"] = Standalone(name="n2", reachable=True, trusted=False)
    steps = by_id(plan(desired(), observed))
    assert steps["member/n1/bootstrap"].blocked is None
    assert steps["member/n2/join"].blocked == (
        "n2 does not trust lxdplan's client certificate yet: run `lxdplan auth trust -f lxdplan.yaml`")


def test_member_with_declared_trust_is_planned_as_trusted_and_apply_is_said_to_redeem_it():
    from lxdplan.desired import Trust

    want = desired(members=members("n1", "n2", "n3", n2={"trust": Trust(token=Secret("env", "T2"))}))
    observed = fresh(("n1", "n2", "n3"))
    observed.standalone["n2"] = Standalone(name="n2", reachable=True, trusted=False)
    result = plan(want, observed)
    assert by_id(result)["member/n2/join"].blocked is None
    assert result.diagnostics == (
        "n2 does not trust lxdplan's client certificate yet: apply first redeems the trust "
        "declared for it in lxdplan.yaml, then plans again with what it shows",)


def test_removal_graceful_force_and_blocked():
    observed = cluster(("n1", "n2", "n3", "n4", "n5"), members=live_members(
        "n1", "n2", "n3", "n4", "n5", status={"n4": "Offline", "n5": "Offline"}))
    steps = by_id(plan(desired(("n1", "n2")), observed, force_remove=["n4"]))
    assert steps["member/n3/remove"].payload == Remove(force=False)
    assert steps["member/n3/remove"].blocked is None
    assert steps["member/n4/force-remove"].payload == Remove(force=True)
    assert steps["member/n5/remove"].blocked == (
        "n5 is offline; add it to force_remove to remove it with force")


def test_an_evacuated_member_force_remove_lists_falls_back_to_force():
    observed = cluster(("n1", "n2", "n3", "n4"), members=live_members(
        "n1", "n2", "n3", "n4", status={"n3": "Evacuated", "n4": "Evacuated"}))
    steps = by_id(plan(desired(("n1", "n2")), observed, force_remove=["n3"]))
    assert steps["member/n3/remove"].payload.force_if_unreachable is True
    assert "or with force if the cluster cannot reach it" in steps["member/n3/remove"].reason
    assert steps["member/n4/remove"].payload.force_if_unreachable is False  # graceful only


def _roles(**spec) -> dict:
    """member -> (roles, database) as LXD reports them."""
    return {n: {"roles": tuple(r), "database": bool(set(r) & {"database", "database-standby"})}
            for n, r in spec.items()}


def test_removing_the_last_member_able_to_lead_is_blocked_with_the_reason():
    """Issue 7 item 4, seen live on LXD 5.0.2: cluster.max_standby 0, node2 a spare; removing
    node1, the only voter, makes LXD lose the cluster's database. Incus 6.0.4 promotes the spare."""
    observed = cluster(("n1", "n2"), members=live_members("n1", "n2", **_roles(
        n1=("database-leader", "database"), n2=())))
    step = by_id(plan(desired(("n2",)), observed))["member/n1/remove"]
    assert step.blocked == (
        "removing n1 would take away the last database member able to lead: no member that stays "
        "(n2) is an online database voter or stand-by, and LXD would lose the cluster's database; "
        "let LXD make another member a database member first (cluster.max_standby, "
        "cluster.max_voters)")
    incus = dataclasses.replace(observed, backend="incus")
    assert by_id(plan(desired(("n2",)), incus))["member/n1/remove"].blocked is None


@pytest.mark.parametrize("spec, keep, ok", [
    ({"n1": ("database-leader", "database"), "n2": ("database-standby",)}, ("n2",), True),  # promoted
    ({"n1": ("database",), "n2": ("database-leader", "database"), "n3": ("database",)}, ("n2", "n3"), True),
    ({"n1": ("database-leader", "database"), "n2": ()}, ("n1",), True),  # a spare leaves
    ({"n1": ("database-leader", "database"), "n2": (), "n3": ()}, ("n2", "n3"), False),
])
def test_a_removal_is_blocked_only_when_no_staying_member_can_lead(spec, keep, ok):
    names = tuple(spec)
    observed = cluster(names, members=live_members(*names, **_roles(**spec)))
    steps = by_id(plan(desired(keep), observed))
    removals = [s for s in steps.values() if s.action == membership.REMOVE]
    assert removals and all((s.blocked is None) == ok for s in removals)


def test_a_stand_by_that_is_offline_cannot_take_over():
    observed = cluster(("n1", "n2", "n3"), members=live_members(
        "n1", "n2", "n3", status={"n2": "Offline"},
        **_roles(n1=("database-leader", "database"), n2=("database-standby",), n3=())))
    steps = by_id(plan(desired(("n2", "n3")), observed))
    assert "last database member able to lead" in steps["member/n1/remove"].blocked


def test_force_remove_of_an_online_member_is_graceful():
    observed = cluster(("n1", "n2", "n3", "n4"))
    steps = by_id(plan(desired(force_remove=("n4",)), observed))
    assert steps["member/n4/remove"].action == membership.REMOVE


def test_member_update_keeps_database_roles_and_needs_the_group():
    want = desired(members=members("n1", "n2", "n3", n1={"roles": ("event-hub",),
                                                         "groups": ("gpu",)}),
                   cluster_groups=(ClusterGroup("gpu"),))
    observed = cluster(members=live_members("n1", "n2", "n3",
                                            n1={"roles": ("database-leader", "database")}))
    steps = by_id(plan(want, observed))
    update = steps["member/n1/update"]
    assert update.payload.roles == ["database-leader", "database", "event-hub"]
    assert update.payload.groups == ["gpu"]
    assert "cluster_group/gpu/create" in update.depends_on
    assert steps["cluster_group/gpu/create"].payload.owner_key == keys.CLUSTER_GROUPS_OWNER_KEY


def test_managed_group_is_deleted_after_member_updates_and_default_never():
    observed = cluster(cluster_groups={
        "default": ObservedGroup("default", managed_by_lxdplan=True),
        "old": ObservedGroup("old", members=("n1",), managed_by_lxdplan=True),
        "hand": ObservedGroup("hand")})
    observed.members["n1"] = observed.members["n1"].__class__(name="n1", groups=("default", "old"))
    result = plan(desired(), observed)
    steps = by_id(result)
    assert "cluster_group/default/delete" not in steps
    assert steps["cluster_group/old/delete"].depends_on == ("member/n1/update",)
    assert [u.name for u in result.unmanaged] == ["hand"]


def test_evacuate_and_restore_follow_state():
    want = desired(members=members("n1", "n2", "n3", n1={"state": "evacuated"}))
    observed = cluster(members=live_members("n1", "n2", "n3", status={"n2": "Evacuated"}))
    steps = by_id(plan(want, observed))
    assert steps["member/n1/evacuate"].payload == MemberState("evacuate")
    assert steps["member/n2/restore"].payload == MemberState("restore")


def test_project_features_set_by_lxd_are_not_removed():
    observed = cluster(projects={"p": ObservedProject("p", config={
        "features.images": "true", "features.profiles": "true", keys.OWNER_KEY: "true"})})
    assert plan(desired(projects=(Project("p"),)), observed).steps == ()


def test_profile_drift_is_authoritative_and_keeps_the_owner_mark():
    live = ObservedProfile("web", config={"limits.cpu": "2", "volatile.a": "b",
                                          keys.OWNER_KEY: "true"},
                           devices={"old": {"type": "disk", "path": "/o", "pool": "data"}},
                           etag="P")
    want = desired(profiles=(Profile("web", config={"limits.memory": "1GiB"}),))
    step = by_id(plan(want, cluster(profiles={"default/web": live})))["profile/web/update"]
    assert step.before == {"config": {"limits.cpu": "2"},
                           "devices": {"old": {"type": "disk", "path": "/o", "pool": "data"}}}
    assert step.after == {"config": {"limits.memory": "1GiB"}}
    assert step.payload.config == {"limits.memory": "1GiB", keys.OWNER_KEY: "true",
                                      "volatile.a": "b"}
    assert step.etag == "P"


def test_deletes_run_users_first_and_unmanaged_objects_are_listed():
    observed = cluster(
        storage_pools={"old": live_pool("old", managed_by_lxdplan=True),
                       "hand": live_pool("hand")},
        profiles={"default/p": ObservedProfile("p", managed_by_lxdplan=True, devices={
                      "root": {"type": "disk", "path": "/", "pool": "old"}}),
                  "default/default": ObservedProfile("default", managed_by_lxdplan=True)},
    )
    result = plan(desired(), observed)
    assert [s.id for s in result.steps] == ["profile/p/delete", "storage_pool/old/delete"]
    assert "profile/p/delete" in result.steps[1].depends_on
    assert [(u.kind, u.name) for u in result.unmanaged] == [(Kind.STORAGE_POOL, "hand")]


def test_volume_created_on_its_member_and_pool_defaults_are_not_removed():
    want = desired(storage_pools=(pool(config={"volume.size": "1GiB"}),),
                   storage_volumes=(StorageVolume("data", "web", member="n2"),))
    steps = by_id(plan(want, cluster(storage_pools={"data": live_pool(
        config={"volume.size": "1GiB"})})))
    create = steps["storage_volume/data/web/create/n2"]
    assert create.member == "n2" and create.payload.config == {keys.OWNER_KEY: "true"}
    observed = cluster(storage_pools={"data": live_pool(config={"volume.size": "1GiB"})},
                       storage_volumes={"default/data/n2/web": ObservedVolume(
                           "data", "web", member="n2", config={"size": "1GiB"})})
    assert plan(want, observed).steps == ()


def test_volumes_of_one_name_on_two_members_are_two_objects():
    want = desired(storage_volumes=(StorageVolume("data", "web", member="n1"),
                                    StorageVolume("data", "web", member="n2")))
    observed = cluster(storage_volumes={"default/data/n1/web": ObservedVolume(
        "data", "web", member="n1", managed_by_lxdplan=True)})
    steps = by_id(plan(want, observed))
    assert list(steps) == ["storage_volume/data/web/create/n2"]


def test_volume_on_another_member_is_refused():
    want = desired(storage_volumes=(StorageVolume("data", "web", member="n2"),))
    observed = cluster(storage_volumes={"default/data/n1/web": ObservedVolume(
        "data", "web", member="n1")})
    with pytest.raises(PlanError, match="lives on n1 and the file says n2"):
        plan(want, observed)


def test_blocked_member_and_version_skew_are_diagnosed():
    observed = cluster(members=live_members("n1", "n2", "n3", status={"n2": "Blocked"},
                                            n2={"version": "5.0.3"}, n1={"version": "5.0.2"}))
    result = plan(desired(networks=(net(),)), observed)
    assert any("different versions (n1 5.0.2, n2 5.0.3)" in d for d in result.diagnostics)
    assert "n2 is Blocked" in by_id(result)["network/br0/instantiate"].blocked


def test_dependencies_point_backwards_and_a_cycle_is_a_readable_error():
    result = plan(desired(storage_pools=(pool(),), profiles=(Profile("web", devices={
        "root": {"type": "disk", "path": "/", "pool": "data"}}),)), fresh())
    seen: set[str] = set()
    for step in result.steps:
        assert set(step.depends_on) <= seen
        seen.add(step.id)
    steps = StepList()
    a = steps.add(Action.CREATE, Kind.PROJECT, "a", depends_on=["project/b/create"])
    steps.add(Action.CREATE, Kind.PROJECT, "b", depends_on=[a])
    with pytest.raises(PlanError, match="cycle: project/"):
        steps.ordered()


def test_a_dependency_on_a_step_the_plan_does_not_hold_is_an_error_not_dropped():
    steps = StepList()
    steps.add(Action.CREATE, Kind.PROJECT, "a", depends_on=["network/nosuch/instantiate"])
    with pytest.raises(PlanError, match="project/a/create waits for network/nosuch/instantiate, "
                                        "which the plan does not hold"):
        steps.ordered()
