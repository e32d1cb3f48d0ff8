"""Snapshots of instances and custom volumes without a server: the file part (declared on the
parent's entry), the planner rules (create when missing, after a new parent; never changed: a
plan error; a dropped managed one deleted, others listed), the reads' assembly and the marks."""

from __future__ import annotations

import pytest
from loaderkit import assert_error, doc, ok
from plan_helpers import cluster, desired

from lxdplan.errors import PlanError
from lxdplan.kinds.instance import IMAGE_KEY, Instance, ObservedInstance
from lxdplan.kinds.snapshot import SPEC, ObservedSnapshot, Snapshot, Write
from lxdplan.kinds.storage_volume import StorageVolume
from lxdplan.livedata import Reading, Recorded
from lxdplan.plan import Action, Kind
from lxdplan.planner import plan

SNAP = Kind("snapshot")


def test_snapshots_load_on_instances_and_volumes_with_their_lines():
    d, _ = ok(doc("""\
        storage_pools: [{name: data, driver: dir}]
        storage_volumes:
          - {pool: data, name: vol, member: node2, snapshots: [{name: nightly-1}]}
        instances:
          - name: web1
            image: busybox
            snapshots:
              - {name: before-upgrade, expires_at: "2027-01-01T00:00:00Z"}
              - {name: live, stateful: true}
        """))
    (inst,) = d.section("instances")
    assert inst.snapshots == (
        Snapshot("before-upgrade", "web1", expires_at="2027-01-01T00:00:00Z", line=14),
        Snapshot("live", "web1", stateful=True, line=15))
    (vol,) = d.section("storage_volumes")
    assert vol.snapshots == (Snapshot("nightly-1", "vol", pool="data", member="node2", line=9),)
    assert [s.name for s in SPEC.declared(d)] == ["before-upgrade", "live", "nightly-1"]


def test_a_repeated_name_a_bad_time_and_a_stateful_volume_snapshot_are_errors():
    text = doc("""\
        storage_pools: [{name: data, driver: ceph}]
        storage_volumes:
          - {pool: data, name: vol, snapshots: [{name: s, stateful: true}]}
        instances:
          - name: web1
            image: busybox
            snapshots:
              - {name: a, expires_at: "tomorrow"}
              - {name: a}
        """)
    assert_error(text, 9, 'snapshot "s"', "cannot be stateful")
    assert_error(text, 14, 'expires_at "tomorrow" is not a time with its offset')
    assert_error(text, 15, 'declares snapshot "a" twice')


def test_a_top_level_snapshots_section_is_refused():
    with pytest.raises(Exception, match="snapshots"):
        ok(doc("snapshots: [{name: x}]\n"))


# -- planning ----------------------------------------------------------------------------------

def inst(*snaps: Snapshot, name="web1") -> Instance:
    return Instance(name=name, image="busybox", snapshots=snaps, line=7)


def live_inst(name="web1") -> ObservedInstance:
    return ObservedInstance(name=name, status="Running", location="n1",
                            config={"user.lxdplan.managed": "true", IMAGE_KEY: "busybox"},
                            managed_by_lxdplan=True)


def snap(name="s1", parent="web1", **kw) -> Snapshot:
    return Snapshot(name, parent, line=9, **kw)


def live_snap(name="s1", parent="web1", managed=True, **kw) -> ObservedSnapshot:
    return ObservedSnapshot(name, parent, managed_by_lxdplan=managed, **kw)


def planned(instances=(), lives=(), snaps=(), volumes=()):
    d = desired(instances=tuple(instances), storage_volumes=tuple(volumes))
    o = cluster(instances={f"default/{i.name}": i for i in lives},
                snapshots={SPEC.live_key(SPEC.ident(s)): s for s in snaps})
    return plan(d, o)


def snap_steps(p):
    return [(s.action, s.name) for s in p.steps if s.kind == SNAP]


def test_a_missing_snapshot_is_created_and_a_present_one_planned_nothing():
    p = planned([inst(snap("s1", expires_at="2027-01-01T00:00:00Z"), snap("s2"))], [live_inst()],
                [live_snap("s2")])
    assert snap_steps(p) == [(Action.CREATE, "web1/s1")]
    (step,) = [s for s in p.steps if s.kind == SNAP]
    assert step.payload == Write("web1", "s1", expires_at="2027-01-01T00:00:00Z")
    assert step.after == {"expires_at": "2027-01-01T00:00:00Z"}


def test_a_new_instance_is_created_before_its_snapshot():
    p = planned([inst(snap("s1"))])
    (step,) = [s for s in p.steps if s.kind == SNAP]
    creates = [s.id for s in p.steps if s.kind == Kind.INSTANCE and s.action == Action.CREATE]
    assert creates and set(creates) <= set(step.depends_on)


def test_a_changed_expiry_or_statefulness_is_a_plan_error_saying_how_to_replace_it():
    with pytest.raises(PlanError, match=r"lxdplan.yaml:9: snapshot web1/s1 expires at "
                                        r"2026-01-01T00:00:00Z and the file says "
                                        r"2027-01-01T00:00:00Z; .*drop it from the file and apply, "
                                        r"then declare it again, or declare it under a new name"):
        planned([inst(snap("s1", expires_at="2027-01-01T00:00:00Z"))], [live_inst()],
                [live_snap("s1", expires_at="2026-01-01T00:00:00Z")])
    with pytest.raises(PlanError, match="snapshot web1/s1 is not stateful and the file says stateful: true"):
        planned([inst(snap("s1", stateful=True))], [live_inst()], [live_snap("s1")])


def test_the_same_instant_in_another_offset_and_an_undeclared_expiry_are_no_change():
    p = planned([inst(snap("s1", expires_at="2027-01-01T01:00:00+01:00"), snap("s2"))],
                [live_inst()], [live_snap("s1", expires_at="2027-01-01T00:00:00Z"),
                                live_snap("s2", expires_at="2027-02-01T00:00:00Z")])
    assert snap_steps(p) == []


def test_a_dropped_managed_snapshot_is_deleted_others_listed_and_an_undeclared_parents_left():
    p = planned([inst()], [live_inst(), live_inst("other")],
                [live_snap("mine"), live_snap("snap0", managed=False),
                 live_snap("x", parent="other")])
    assert snap_steps(p) == [(Action.DELETE, "web1/mine")]
    assert [(u.kind, u.name) for u in p.unmanaged if u.kind == SNAP] == [(SNAP, "web1/snap0")]


def test_a_volume_snapshot_is_sent_to_its_member_under_the_volume():
    vol = StorageVolume(pool="data", name="vol", member="n2",
                        snapshots=(Snapshot("n1", "vol", pool="data", member="n2", line=3),))
    step = next(s for s in planned(volumes=[vol]).steps if s.kind == SNAP)
    assert (step.name, step.member) == ("data/vol/n1", "n2")
    w = SPEC.where(step)
    assert (w.collection, w.path, w.params) == (
        "/1.0/storage-pools/data/volumes/custom/vol/snapshots",
        "/1.0/storage-pools/data/volumes/custom/vol/snapshots/n1", {"target": "n2"})


# -- reading -----------------------------------------------------------------------------------

def test_the_reads_are_the_declared_parents_and_the_mark_comes_from_the_parent():
    d = desired(instances=(inst(),), storage_volumes=(StorageVolume("data", "vol", "n2"),))
    reading = Reading(desired=d, backend=None, members=("n1", "n2", "n3"))  # type: ignore[arg-type]
    listing = [{"name": "web1", "project": "default", "location": "n1",
                "config": {"user.lxdplan.snapshots": "a, b"}}]
    assert SPEC.listings(reading) == {}
    reads = SPEC.reads(reading, Recorded({"instances": {"listing": (listing, None)}}))
    assert sorted((g.path, g.member) for g in reads.values()) == [
        ("/1.0/instances/web1/snapshots", "n1"),
        ("/1.0/storage-pools/data/volumes/custom/vol/snapshots", "n2")]
    rec = Recorded({
        "instances": {"listing": (listing, None)},
        "storage_volumes": {("volumes", "data"): ([{"name": "vol", "type": "custom", "location": "n2",
                                                    "config": {"user.lxdplan.snapshots": "n1"}}], None)},
        "snapshots": {
            ("instance", "default", "web1"): ([
                {"name": "a", "expires_at": "0001-01-01T00:00:00Z", "stateful": False},
                {"name": "snap0", "expires_at": "2027-01-01T00:00:00Z"}], None),
            ("volume", "default", "data", "n2", "vol"): ([{"name": "vol/n1"}], None)}})
    out = SPEC.assemble(reading, rec)
    assert out == {
        "default///web1/a": ObservedSnapshot("a", "web1", managed_by_lxdplan=True),
        "default///web1/snap0": ObservedSnapshot("snap0", "web1", expires_at="2027-01-01T00:00:00Z"),
        "default/data/n2/vol/n1": ObservedSnapshot("n1", "vol", pool="data", member="n2",
                                                   managed_by_lxdplan=True)}


def test_a_volume_snapshot_in_the_pools_listing_is_no_volume():
    from lxdplan.kinds.storage_volume import parse_volume

    assert parse_volume({"name": "vol/v1", "type": "custom", "config": {}}, "data") is None
    assert parse_volume({"name": "vol", "type": "custom", "config": {}}, "data") is not None


def test_a_used_by_entry_naming_a_read_snapshot_still_resolves_to_its_parent():
    """A snapshot goes with its parent (``planner/usage.py``): one this kind read is no user of
    its own, so a pool used by a deleted instance's snapshot is not blocked by it."""
    from lxdplan.kinds.instance import ObservedInstance as Inst
    from plan_helpers import by_id, live_pool

    mark = {"user.lxdplan.managed": "true"}
    o = cluster(storage_pools={"data": live_pool(managed_by_lxdplan=True, config=dict(mark), used_by=(
        "/1.0/instances/c1", "/1.0/instances/c1/snapshots/snap0"))},
        instances={"default/c1": Inst("c1", location="n1", status="Stopped",
                                      managed_by_lxdplan=True, config=dict(mark))},
        snapshots={"default///c1/snap0": ObservedSnapshot("snap0", "c1", managed_by_lxdplan=True)})
    pool = by_id(plan(desired(), o))["storage_pool/data/delete"]
    assert pool.blocked is None and "instance/c1/delete/n1" in pool.depends_on


def test_no_snapshot_read_is_asked_of_an_offline_member_nor_for_a_parent_with_none():
    """A parent on an Offline member failed the whole plan (forwarded, LXD answered "Missing
    event connection with target cluster member"): its read is on its member, which the
    observer asks nothing of; an instance that is not there, or declares none and has no mark,
    and a volume on a member not in the cluster yet, are not read at all."""
    d = desired(instances=(inst(snap("s1")), inst(snap("s1"), name="away"), inst(name="bare"),
                           inst(snap("s1"), name="new")),
                storage_volumes=(StorageVolume("data", "vol", "n3"), StorageVolume("data", "v2", "n1"),
                                 StorageVolume("data", "v4", "n4")))  # n4 joins this run
    reading = Reading(desired=d, backend=None, members=("n1", "n2", "n3"),  # type: ignore[arg-type]
                      offline=frozenset({"n3"}))
    listing = [{"name": "web1", "location": "n2"}, {"name": "away", "location": "n3"},
               {"name": "bare", "location": "n1", "config": {}}]
    reads = SPEC.reads(reading, Recorded({"instances": {"listing": (listing, None)}}))
    assert sorted((g.path, g.member) for g in reads.values()) == [
        ("/1.0/instances/web1/snapshots", "n2"),
        ("/1.0/storage-pools/data/volumes/custom/v2/snapshots", "n1")]


@pytest.mark.parametrize("status", ["Offline", "Not serving"])
def test_snapshots_of_a_parent_on_an_unread_member_are_left_with_a_note(status):
    """Nothing is planned for them (their reads were not sent), as for the instance itself."""
    d = desired(instances=(inst(snap("s1")),),
                storage_volumes=(StorageVolume("data", "vol", "n3", snapshots=(
                    Snapshot("v1", "vol", pool="data", member="n3", line=3),)),))
    from lxdplan.kinds.storage_volume import ObservedVolume
    from plan_helpers import live_members
    o = cluster(members=live_members("n1", "n2", "n3", status={"n3": status}),
                instances={"default/web1": ObservedInstance(
                    name="web1", status="Running", location="n3",
                    config={"user.lxdplan.managed": "true", IMAGE_KEY: "busybox"},
                    managed_by_lxdplan=True)},
                storage_volumes={"default/data/n3/vol": ObservedVolume(
                    "data", "vol", member="n3", managed_by_lxdplan=True)})
    p = plan(d, o)
    assert snap_steps(p) == []
    notes = [n for n in p.diagnostics if n.startswith("snapshots of")]
    assert notes == [f"snapshots of instance web1 are not read: n3 is {status.lower()}; they are "
                     "planned once it is back",
                     f"snapshots of storage volume data/vol are not read: n3 is {status.lower()}; "
                     "they are planned once it is back"], p.diagnostics
