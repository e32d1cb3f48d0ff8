"""A delete of something still used (``used_by``) by what the plan leaves using it is blocked,
naming the users, for every kind alike (issue 16 item 8). LXD refuses such a delete ("The
network is currently in use") without saying what uses it."""

from __future__ import annotations

from lxdplan.kinds.instance import ObservedInstance
from lxdplan.kinds.network_acl import ObservedNetworkACL
from lxdplan.kinds.profile import ObservedProfile, Profile
from lxdplan.kinds.project import ObservedProject
from lxdplan.kinds.storage_volume import ObservedVolume
from lxdplan.planner import plan

from plan_helpers import by_id, cluster, desired, live_net, live_pool

MARK = {"user.lxdplan.managed": "true"}
NIC = {"eth0": {"type": "nic", "name": "eth0", "nictype": "bridged", "parent": "lxdbr0"}}


def _bridge(*users: str):
    return live_net("lxdbr0", managed_by_lxdplan=True, config=dict(MARK), used_by=users)


def _profile(name="default", project="default", managed=False, devices=NIC, used_by=()):
    return ObservedProfile(name, devices=dict(devices), project=project, used_by=used_by,
                           managed_by_lxdplan=managed, config=dict(MARK) if managed else {})


def _profiles(*profiles):
    return {f"{p.project}/{p.name}": p for p in profiles}


def test_a_network_the_undeclared_default_profile_uses_is_not_deleted_and_the_plan_says_why():
    o = cluster(networks={"lxdbr0": _bridge("/1.0/profiles/default")},
                profiles=_profiles(_profile()))
    delete = by_id(plan(desired(), o))["network/lxdbr0/delete"]
    assert delete.blocked == ("network lxdbr0 is still used by profile default, which the file "
                              "does not declare: stop it using lxdbr0 first, or keep lxdbr0 in "
                              "the file")


def test_users_the_plan_deletes_or_changes_first_do_not_block_and_go_first():
    o = cluster(networks={"lxdbr0": _bridge("/1.0/profiles/default", "/1.0/profiles/web")},
                profiles=_profiles(_profile(), _profile("web", managed=True)))
    d = desired(profiles=(Profile("default"),))  # declared without the nic: an update drops it
    steps = by_id(plan(d, o))
    delete = steps["network/lxdbr0/delete"]
    assert delete.blocked is None
    assert {"profile/web/delete", "profile/default/update"} <= set(delete.depends_on)


def test_a_declared_user_that_keeps_naming_the_object_blocks_its_delete():
    o = cluster(networks={"lxdbr0": _bridge("/1.0/profiles/default", "/1.0/instances/c9")},
                profiles=_profiles(_profile()),
                instances={"default/c9": ObservedInstance("c9", location="n1", status="Running")})
    d = desired(profiles=(Profile("default", devices=NIC),))
    delete = by_id(plan(d, o))["network/lxdbr0/delete"]
    assert delete.blocked == ("network lxdbr0 is still used by instance c9, which the file does "
                              "not declare and profile default, which the file keeps using it: "
                              "stop them using lxdbr0 first, or keep lxdbr0 in the file")


def test_every_kind_alike_pools_volumes_projects_and_acls():
    volume = ObservedVolume("data", "web", member="n2", managed_by_lxdplan=True, config=dict(MARK),
                            used_by=("/1.0/instances/c1?project=staging",))
    o = cluster(
        storage_pools={"data": live_pool(managed_by_lxdplan=True, config=dict(MARK), used_by=(
            "/1.0/storage-pools/data/volumes/custom/web?target=n2",
            "/1.0/storage-pools/data/volumes/custom/tmp?target=n1",
            "/1.0/images/3fa9c30b?target=n1"))},
        storage_volumes={"default/data/n2/web": volume,
                         "default/data/n1/tmp": ObservedVolume("data", "tmp", member="n1")},
        projects={"staging": ObservedProject("staging", config=dict(MARK), managed_by_lxdplan=True,
                                             used_by=("/1.0/profiles/default?project=staging",
                                                      "/1.0/instances/c1?project=staging"))},
        network_acls={"default/web": ObservedNetworkACL(
            "web", config=dict(MARK), managed_by_lxdplan=True,
            used_by=("/1.0/instances/c1/snapshots/s1?project=staging",))},
    )
    steps = by_id(plan(desired(), o))
    assert steps["storage_volume/data/web/delete/n2"].blocked == (
        "storage volume data/web is still used by /1.0/instances/c1 (project staging), which the "
        "file does not declare: stop it using data/web first, or keep data/web in the file")
    # Its volume on n2 goes first (a step of the plan, blocked itself); the unmanaged one on n1
    # pins it; the image volume goes with the pool.
    pool = steps["storage_pool/data/delete"]
    assert pool.blocked.startswith("storage pool data is still used by storage volume data/tmp, "
                                   "which the file does not declare")
    assert "storage_volume/data/web/delete/n2" in pool.depends_on
    # The project's own default profile goes with it; what else is in it stays.
    assert steps["project/staging/delete"].blocked.startswith(
        "project staging is still used by /1.0/instances/c1 (project staging)")
    assert steps["network_acl/web/delete"].blocked.startswith(
        "network ACL web is still used by /1.0/instances/c1/snapshots/s1 (project staging)")


def test_a_project_used_only_by_its_own_default_profile_is_deleted():
    o = cluster(projects={"staging": ObservedProject(
        "staging", config=dict(MARK), managed_by_lxdplan=True,
        used_by=("/1.0/profiles/default?project=staging",))},
        profiles=_profiles(_profile(project="staging", devices={})))
    assert by_id(plan(desired(), o))["project/staging/delete"].blocked is None


def test_a_snapshot_of_a_user_the_plan_deletes_goes_with_it():
    inst = ObservedInstance("c1", location="n1", status="Stopped", managed_by_lxdplan=True,
                            config=dict(MARK))
    o = cluster(storage_pools={"data": live_pool(managed_by_lxdplan=True, config=dict(MARK), used_by=(
        "/1.0/instances/c1", "/1.0/instances/c1/snapshots/snap0"))},
        instances={"default/c1": inst})
    steps = by_id(plan(desired(), o))
    pool = steps["storage_pool/data/delete"]
    assert pool.blocked is None and "instance/c1/delete/n1" in pool.depends_on


def test_an_instance_using_the_network_through_a_profile_the_plan_changes_does_not_block():
    inst = ObservedInstance("c1", location="n1", status="Running", profiles=("default",))
    o = cluster(networks={"lxdbr0": _bridge("/1.0/profiles/default", "/1.0/instances/c1")},
                profiles=_profiles(_profile()), instances={"default/c1": inst})
    changed = by_id(plan(desired(profiles=(Profile("default"),)), o))["network/lxdbr0/delete"]
    assert changed.blocked is None and "profile/default/update" in changed.depends_on
    kept = by_id(plan(desired(), o))["network/lxdbr0/delete"]  # the profile stays as it is
    assert kept.blocked.startswith("network lxdbr0 is still used by profile default, which")
    # A pool lists the instance because its volume lives there: that one blocks on its own.
    pool = cluster(storage_pools={"data": live_pool(managed_by_lxdplan=True, config=dict(MARK),
                                                    used_by=("/1.0/profiles/default",
                                                             "/1.0/instances/c1"))},
                   profiles=_profiles(_profile(devices={"root": {"type": "disk", "path": "/",
                                                                 "pool": "data"}})),
                   instances={"default/c1": inst})
    blocked = by_id(plan(desired(profiles=(Profile("default"),)), pool))["storage_pool/data/delete"]
    assert blocked.blocked.startswith("storage pool data is still used by instance c1, which the "
                                      "file does not declare")
