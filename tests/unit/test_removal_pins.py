"""A member the file drops leaves after what LXD refuses its removal for (issue 16 item 7):
custom volumes on it are deleted first when lxdplan manages them, and block the removal,
named, when it does not. LXD (``NodeIsEmpty``) and Incus refuse a graceful removal while the
member holds instances or custom volumes of a local pool."""

from __future__ import annotations

from lxdplan.kinds.storage_volume import ObservedVolume, StorageVolume
from lxdplan.planner import plan

from plan_helpers import by_id, cluster, desired, live_pool, pool


def _volume(name: str, member: str, managed: bool = True) -> ObservedVolume:
    return ObservedVolume("data", name, member=member, managed_by_lxdplan=managed,
                          config={"user.lxdplan.managed": "true"} if managed else {})


def _observed(*volumes: ObservedVolume):
    return cluster(storage_pools={"data": live_pool(managed_by_lxdplan=True)},
                   storage_volumes={f"default/data/{v.member}/{v.name}": v for v in volumes})


def test_a_managed_volume_on_a_dropped_member_is_deleted_before_the_member_leaves():
    d = desired(names=("n1", "n3"), storage_pools=(pool(),))
    p = plan(d, _observed(_volume("web", "n2")))
    steps = by_id(p)
    removal, delete = steps["member/n2/remove"], steps["storage_volume/data/web/delete/n2"]
    assert delete.id in removal.depends_on and removal.blocked is None and delete.blocked is None
    ids = [s.id for s in p.steps]
    assert ids.index(delete.id) < ids.index(removal.id)


def test_an_unmanaged_volume_on_a_dropped_member_blocks_its_removal_naming_it():
    d = desired(names=("n1", "n3"), storage_pools=(pool(),))
    p = plan(d, _observed(_volume("web", "n2", managed=False), _volume("logs", "n2", managed=False),
                          _volume("other", "n1", managed=False)))
    removal = by_id(p)["member/n2/remove"]
    assert removal.blocked == (
        "n2 still holds storage volumes data/logs and data/web (not managed by lxdplan), and LXD "
        "does not remove a member that holds them: delete or move them yourself")
    assert not [s for s in p.steps if s.kind == "storage_volume"]


def test_volumes_on_members_that_stay_do_not_hold_a_removal():
    d = desired(names=("n1", "n3"), storage_pools=(pool(),),
                storage_volumes=(StorageVolume("data", "web", member="n1"),))
    p = plan(d, _observed(_volume("web", "n1"), _volume("tmp", "n3", managed=False)))
    removal = by_id(p)["member/n2/remove"]
    assert removal.blocked is None and removal.depends_on == ()
