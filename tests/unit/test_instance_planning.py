"""Planner rules for images and instances that the golden cases do not show (no server)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lxdplan.errors import PlanError
from lxdplan.exporter import export_document
from lxdplan.kinds.image import Image, ImageSource, ObservedImage, parse_image
from lxdplan.kinds.instance import Instance, ObservedInstance, parse_instance
from lxdplan.kinds.profile import ObservedProfile
from lxdplan.planner import plan

from plan_helpers import by_id, cluster, desired, live_members, net

DATA = Path(__file__).parent / "data" / "instances"
IMAGE = Image("busybox", ImageSource(file="busybox.tar.xz"))
LIVE_IMAGE = ObservedImage("3fa9c30bb1df" + "0" * 52, "busybox", aliases=("busybox",),
                           managed_by_lxdplan=True)
MARKS = {"user.lxdplan.managed": "true", "user.lxdplan.image": "busybox"}


def live(name="c1", location="n1", status="Running", **kw) -> ObservedInstance:
    kw.setdefault("config", dict(MARKS))
    kw.setdefault("profiles", ("default",))
    return ObservedInstance(name, location=location, status=status, managed_by_lxdplan=True, **kw)


def observed(*instances, **kw):
    return cluster(images={f"default/{LIVE_IMAGE.fingerprint}": LIVE_IMAGE},
                   instances={f"{i.project}/{i.name}": i for i in instances}, **kw)


def test_a_changed_image_is_a_plan_error_saying_how_to_replace_the_instance():
    d = desired(images=(IMAGE,), instances=(Instance("c1", "debian", member="n1", line=7),))
    with pytest.raises(PlanError) as err:
        plan(d, observed(live()))
    assert str(err.value).startswith("lxdplan.yaml:7: instance c1 was created from image busybox "
                                     "and the file says debian")
    assert "drop c1 from the file and apply" in str(err.value)


def test_a_changed_type_or_project_is_a_plan_error():
    vm = desired(instances=(Instance("c1", "busybox", type="virtual-machine", member="n1"),))
    with pytest.raises(PlanError, match="c1 is a container and the file says virtual-machine"):
        plan(vm, observed(live()))
    moved = desired(instances=(Instance("c1", "busybox", project="staging", member="n1"),))
    with pytest.raises(PlanError, match="c1 is in project default and the file says staging"):
        plan(moved, observed(live()))


def test_volatile_and_image_keys_are_never_compared():
    d = desired(images=(IMAGE,), instances=(Instance("c1", "busybox", member="n1"),))
    item = {"name": "c1", "location": "n1", "status": "Running", "profiles": ["default"],
            "type": "container", "config": {**MARKS, "volatile.idmap.base": "0",
                                            "image.os": "busybox"}}
    p = plan(d, observed(parse_instance(item)))
    assert p.steps == ()


def test_a_restore_in_the_same_run_comes_before_the_move_back():
    d = desired(members=desired().members[:1] + (replace(desired().members[1], state="online"),)
                + desired().members[2:],
                images=(IMAGE,), instances=(Instance("c1", "busybox", member="n2"),))
    o = observed(live(location="n1"), members=live_members("n1", "n2", "n3",
                                                           status={"n2": "Evacuated"}))
    steps = by_id(plan(d, o))
    assert "member/n2/restore" in steps["instance/c1/move/n2"].depends_on
    ids = list(steps)
    assert ids.index("member/n2/restore") < ids.index("instance/c1/move/n2")


def test_an_offline_declared_member_leaves_the_instance_where_it_is():
    d = desired(images=(IMAGE,), instances=(Instance("c1", "busybox", member="n2"),))
    o = observed(live(location="n1"), members=live_members("n1", "n2", "n3",
                                                           status={"n2": "Offline"}))
    p = plan(d, o)
    assert not [s for s in p.steps if s.kind == "instance"]
    assert any("c1 stays on n1 while n2 is offline" in d for d in p.diagnostics)


def test_a_force_removal_names_the_instances_the_cluster_forgets_with_the_member():
    d = desired(names=("n1", "n2"), images=(IMAGE,), instances=(Instance("c1", "busybox"),))
    o = observed(live("c1", location="n3"), live("tmp", location="n3"), live("c2", location="n1"),
                 members=live_members("n1", "n2", "n3", status={"n3": "Offline"}))
    p = plan(d, o, force_remove=["n3"])
    steps = by_id(p)
    force = steps["member/n3/force-remove"]
    assert force.reason == ("n3 is not in the file and is offline; force_remove allows removing it "
                            "with force; the cluster forgets what lived only there: instance c1, "
                            "instance tmp")
    # The declared one is created again once its member is gone; nothing is deleted on n3.
    create = next(s for sid, s in steps.items() if sid.startswith("instance/c1/create"))
    assert "member/n3/force-remove" in create.depends_on and create.blocked is None
    assert create.reason == ("instance c1 is on n3, which is removed with force: the cluster "
                             "forgets it there, so it is created again")
    assert not [sid for sid in steps if sid.startswith("instance/tmp/")]
    assert "instance/c2/delete/n1" in steps  # a dropped instance elsewhere is deleted as ever


def test_a_profile_the_instance_uses_is_deleted_only_after_the_instance():
    profile = ObservedProfile("web", project="default", managed_by_lxdplan=True)
    o = observed(live(profiles=("default", "web")), profiles={"default/web": profile})
    p = plan(desired(images=(IMAGE,)), o)
    steps = by_id(p)
    assert "instance/c1/delete/n1" in steps["profile/web/delete"].depends_on


def test_starting_a_stopped_instance_waits_for_the_network_its_nic_names():
    """Seen live (fault matrix): a stopped instance whose nic's parent bridge was missing, then
    declared: the start ran beside the network's define and LXD refused it ("Specified network
    is not fully created")."""
    nic = {"eth1": {"type": "nic", "nictype": "bridged", "parent": "br9", "name": "eth1"}}
    d = desired(images=(IMAGE,), networks=(net("br9"),),
                instances=(Instance("c1", "busybox", member="n1", devices=nic),))
    stopped = live(status="Stopped", devices={k: dict(v) for k, v in nic.items()})
    steps = by_id(plan(d, observed(stopped)))
    assert "network/br9/instantiate" in steps["instance/c1/start/n1"].depends_on


def test_a_dropped_member_waits_for_the_moves_off_it():
    d = desired(names=("n1", "n2"), images=(IMAGE,),
                instances=(Instance("c1", "busybox", member="n1"),))
    steps = by_id(plan(d, observed(live(location="n3"))))
    assert steps["member/n3/remove"].blocked is None
    assert "instance/c1/move/n1" in steps["member/n3/remove"].depends_on


def test_a_virtual_machine_is_read_planned_and_exported_from_a_recorded_answer():
    item = json.loads((DATA / "vm.json").read_text())
    vm = parse_instance(item, etag="e1")
    assert (vm.type, vm.location, vm.status, vm.base_image[:12]) == (
        "virtual-machine", "node2", "Stopped", "6d0f5e2b4a1c")
    assert "image.os" not in vm.config and "volatile.uuid" not in vm.config
    entry = export_document(cluster(names=("node1", "node2"), instances={"default/vm1": vm}))["instances"][0]
    assert entry == {"name": "vm1", "type": "virtual-machine", "image": "debian", "member": "node2",
                     "profiles": ["default"], "config": {"limits.cpu": 2},
                     "devices": {"root": {"path": "/", "pool": "data", "size": "10GiB",
                                          "type": "disk"}},
                     "state": "stopped", "description": "a vm"}
    d = desired(names=("node1", "node2"), instances=(Instance(
        "vm1", "debian", type="virtual-machine", member="node2", config={"limits.cpu": "4"},
        devices=entry["devices"], state="stopped", description="a vm"),))
    steps = by_id(plan(d, cluster(names=("node1", "node2"), instances={"default/vm1": vm})))
    assert list(steps) == ["instance/vm1/update/node2"]
    assert steps["instance/vm1/update/node2"].etag == "e1"


def test_images_are_known_by_their_managed_alias():
    item = {"fingerprint": "ab" * 32, "aliases": [{"name": "other"}, {"name": "bb"}],
            "public": True}
    img = parse_image(item, "staging", frozenset({"staging/bb"}))
    assert (img.name, img.project, img.managed_by_lxdplan, img.public) == ("bb", "staging", True, True)
    assert parse_image(item, "default", frozenset()).name == "other"


def test_image_aliases_and_flags_are_updated_and_a_dropped_image_deleted():
    d = desired(images=(replace(IMAGE, aliases=("bb",), public=True),))
    steps = by_id(plan(d, observed()))
    update = steps["image/busybox/update"]
    assert update.before == {"aliases": [], "public": False}
    assert update.after == {"aliases": ["bb"], "public": True}
    assert list(by_id(plan(desired(), observed()))) == ["image/busybox/delete"]


def test_a_running_container_takes_every_key_some_at_its_next_start():
    """driver_lxc.go Update takes every key on a running container; ``security.privileged``
    (the id map) is applied when it next starts: marked so, and no restart is planned."""
    d = desired(images=(IMAGE,), instances=(Instance(
        "c1", "busybox", member="n1", config={"security.privileged": "true", "limits.cpu": "2"}),))
    (update,) = plan(d, observed(live())).steps
    assert update.notes == {'config["security.privileged"]': "applied at next start"}
    assert not update.payload.restart
    assert update.reason.endswith("; security.privileged takes effect when it next starts")
