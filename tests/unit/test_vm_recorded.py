"""Virtual machines on answers recorded from LXD 5.0.2's and Incus 6.0.4's API documentation and
source (issue 21 item 1): no VM runs on the test machines (no ``vhost_vsock``), so the planner
and the instance actions are run against ``VMServer`` (vmfake.py), which serves a VM as each
server does and refuses what each refuses, in its words."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fakelxd import FakeLXD
from lxdplan import keys
from lxdplan.desired import Desired, Member
from lxdplan.executor import ApplyFailed, execute
from lxdplan.exporter import export_document
from lxdplan.kinds.instance import Instance, parse_instance
from lxdplan.planner import plan
from lxdplan.providers.actions import performer
from lxdplan.providers.client import Client
from lxdplan.providers.session import Session
from lxdplan.render import render_text
from lxdplan.state.observed import Observed

from plan_helpers import by_id, cluster, desired
from vmfake import SERVERS, VMServer, etag, recorded

BACKEND = {"lxd-5.0.2": "lxd", "incus-6.0.4": "incus"}
MEMBERS = ("node1", "node2")
ROOT = {"root": {"path": "/", "pool": "data", "size": "10GiB", "type": "disk"}}


@pytest.fixture(params=SERVERS)
def vm(request, tmp_path):
    """A ``VMServer`` of each server, behind a session whose requests go through node1."""
    sock = str(tmp_path / "unix.socket")
    fake = FakeLXD(sock)
    endpoint = f"unix://{sock}"
    backend = BACKEND[request.param]
    fake.script[("GET", "/1.0")] = [(200, {"type": "sync", "status_code": 200, "metadata": {
        "environment": {"server": backend, "server_clustered": True, "server_name": "node1"},
        "config": {}, "api_extensions": []}})]
    server = VMServer(fake, request.param)
    client = Client(endpoint, member="node1")
    files = Desired(path="lxdplan.yaml", backend=backend, members=(
        Member(name="node1", address="10.9.0.1:8443", endpoint=endpoint),))
    with Session(files, Observed(clustered=True, backend=backend),
                 clients={"node1": client}) as session:
        server.session = session
        server.backend = backend
        yield server
    client.close()
    fake.close()
    assert not server.errors, server.errors[0]


def declared(server: VMServer, **fields) -> Instance:
    """The recorded VM as the file declares it (``fields`` changed)."""
    answer = server.answers["instance"]
    config = {k: v for k, v in answer["config"].items()
              if not k.startswith(("volatile.", "image.", "user.lxdplan."))}
    base = dict(name="vm1", image="debian", type="virtual-machine", member="node1",
                config=config, devices=ROOT, description="a vm")
    base["config"] = {**base["config"], **fields.pop("config", {})}
    return Instance(**{**base, **fields})


def planned(server: VMServer, *instances: Instance):
    """The plan of ``instances`` against what ``server`` holds now."""
    live = {f"default/{n}": parse_instance(i, etag=etag(i)) for n, i in server.instances.items()}
    return plan(desired(names=MEMBERS, backend=server.backend, instances=instances),
                cluster(names=MEMBERS, backend=server.backend, instances=live))


def apply(server: VMServer, p) -> None:
    execute([s for s in p.steps if s.kind == "instance"], performer(server.session))


def changes(server: VMServer) -> list[tuple[str, str]]:
    """The changes asked, as (method, path and the state action)."""
    return [(m, p.split("?")[0] + (f" {b['action']}" if p.endswith("/state") else ""))
            for m, p, b in server.requests]


def test_a_vm_is_created_with_its_type_and_root_disk_size_then_started(vm):
    p = planned(vm, declared(vm, config={"security.secureboot": "true"}))
    assert [s.id for s in p.steps] == ["instance/vm1/create/node1"]
    apply(vm, p)
    (method, path, body), start = vm.requests[0], vm.requests[1]
    assert (method, path.split("?")[0]) == ("POST", "/1.0/instances") and "target=node1" in path
    assert body["type"] == "virtual-machine" and body["devices"]["root"]["size"] == "10GiB"
    assert body["config"]["security.secureboot"] == "true"
    assert body["source"] == {"type": "image", "alias": "debian"}
    assert start[2]["action"] == "start" and vm.instances["vm1"]["status"] == "Running"
    assert [s.id for s in planned(vm, declared(vm, config={"security.secureboot": "true"})).steps] == []


def test_an_empty_vm_has_no_source_and_is_left_stopped(vm):
    apply(vm, planned(vm, declared(vm, image="none", state="stopped")))
    assert [m for m, _, _ in vm.requests] == ["POST"]
    assert vm.requests[0][2]["source"] == {"type": "none"}
    assert vm.requests[0][2]["type"] == "virtual-machine"
    assert vm.instances["vm1"]["status"] == "Stopped"
    assert planned(vm, declared(vm, image="none", state="stopped")).steps == ()


def test_a_vm_is_stopped_started_moved_and_deleted(vm):
    vm.add()
    apply(vm, planned(vm, declared(vm, state="stopped")))
    assert changes(vm) == [("PUT", "/1.0/instances/vm1/state stop")]
    apply(vm, planned(vm, declared(vm)))
    assert changes(vm)[1:] == [("PUT", "/1.0/instances/vm1/state start")]
    moved = planned(vm, declared(vm, member="node2"))
    assert [s.id for s in moved.steps] == ["instance/vm1/move/node2"]
    apply(vm, moved)
    assert changes(vm)[2:] == [("PUT", "/1.0/instances/vm1/state stop"),
                               ("POST", "/1.0/instances/vm1"),
                               ("PUT", "/1.0/instances/vm1/state start")]
    assert (vm.instances["vm1"]["location"], vm.instances["vm1"]["status"]) == ("node2", "Running")
    gone = planned(vm)
    assert [s.id for s in gone.steps] == ["instance/vm1/delete/node2"]
    apply(vm, gone)
    assert changes(vm)[5:] == [("PUT", "/1.0/instances/vm1/state stop"),
                               ("DELETE", "/1.0/instances/vm1")]
    assert "vm1" not in vm.instances


def test_an_exported_vm_keeps_its_type_not_its_volatile_keys_and_plans_nothing(vm):
    vm.add()
    item = vm.instances["vm1"]
    live = parse_instance(item, etag=etag(item))
    entry = export_document(cluster(names=MEMBERS, backend=vm.backend,
                                    instances={"default/vm1": live}))["instances"][0]
    assert entry["type"] == "virtual-machine" and entry["image"] == "debian"
    assert entry["devices"] == ROOT
    assert not [k for k in entry.get("config", {}) if k.startswith(("volatile.", "image."))]
    assert entry["config"]["security.secureboot"] is False
    again = Instance(entry["name"], entry["image"], type=entry["type"], member=entry["member"],
                     profiles=tuple(entry["profiles"]), devices=entry["devices"],
                     config={k: str(v).lower() if isinstance(v, bool) else str(v)
                             for k, v in entry["config"].items()},  # as the loader reads them
                     description=entry["description"])
    assert planned(vm, again).steps == ()


def test_a_key_a_running_vm_refuses_stops_it_for_the_update_and_starts_it_again(vm):
    """Both servers refuse ``raw.qemu`` on a running VM ("Key "raw.qemu" cannot be updated when
    VM is running"): the plan says the update restarts it, and the apply stops it, updates it
    and starts it again, so the server never sees the refused request."""
    vm.add()
    p = planned(vm, declared(vm, config={"raw.qemu": "-no-reboot"}))
    (update,) = p.steps
    server = "Incus" if vm.backend == "incus" else "LXD"
    assert update.reason == (f"instance vm1 differs from the file; {server} refuses raw.qemu "
                             "while a virtual machine runs, so the update stops it and starts "
                             "it again")
    assert '+ config["raw.qemu"] = "-no-reboot" (restarts the instance)' in render_text(p)
    apply(vm, p)
    assert changes(vm) == [("PUT", "/1.0/instances/vm1/state stop"), ("PUT", "/1.0/instances/vm1"),
                           ("PUT", "/1.0/instances/vm1/state start")]
    assert vm.instances["vm1"]["config"]["raw.qemu"] == "-no-reboot"
    assert vm.instances["vm1"]["status"] == "Running"


def test_a_refused_key_of_a_vm_the_file_stops_is_updated_after_the_stop(vm):
    """The update stops it (a stop step before it would change LXD's volatile keys, and with
    them the ETag the plan read); the stop step after it finds it stopped."""
    vm.add()
    p = planned(vm, declared(vm, state="stopped", config={"raw.qemu": "-no-reboot"}))
    steps = by_id(p)
    assert list(steps) == ["instance/vm1/update/node1", "instance/vm1/stop/node1"]
    assert steps["instance/vm1/update/node1"].reason.endswith("so the update stops it")
    assert steps["instance/vm1/update/node1"].notes == {
        'config["raw.qemu"]': "stops the instance first"}
    apply(vm, p)
    assert changes(vm) == [("PUT", "/1.0/instances/vm1/state stop"), ("PUT", "/1.0/instances/vm1")]
    assert vm.instances["vm1"]["status"] == "Stopped"


def test_the_server_s_refusal_is_what_the_fake_answers(vm):
    """The fake refuses as the server does (so the tests above prove the order of requests)."""
    vm.add()
    p = planned(vm, declared(vm, config={"raw.qemu": "-no-reboot"}))
    (update,) = p.steps
    plain = replace(update, payload=replace(update.payload, restart=False, start=False))
    with pytest.raises(ApplyFailed) as info:
        execute([plain], performer(vm.session))
    assert 'Key "raw.qemu" cannot be updated when VM is running' in str(info.value)


def test_a_next_start_key_is_marked_and_sent_live(vm):
    """``security.secureboot`` is taken by a running VM and rebuilt into its NVRAM at its next
    start (driver_qemu.go: ``volatile.apply_nvram``)."""
    vm.add()
    p = planned(vm, declared(vm, config={"security.secureboot": "true"}))
    text = render_text(p)
    assert ('~ config["security.secureboot"] = "false" -> "true" (applied at next start)'
            in text)
    assert p.steps[0].reason == ("instance vm1 differs from the file; security.secureboot takes "
                                 "effect when it next starts")
    apply(vm, p)
    assert changes(vm) == [("PUT", "/1.0/instances/vm1")]
    assert vm.instances["vm1"]["status"] == "Running"


def test_keys_a_running_vm_takes_live_are_sent_live(vm):
    """Shrinking the memory (the balloon), another CPU count (hotplug) and user keys."""
    vm.add()
    p = planned(vm, declared(vm, config={"limits.memory": "1GiB", "limits.cpu": "4",
                                         "user.role": "db"}))
    assert "(applied at next start)" not in render_text(p)
    assert "(restarts the instance)" not in render_text(p)
    apply(vm, p)
    assert changes(vm) == [("PUT", "/1.0/instances/vm1")]


def test_the_servers_differ_on_security_protection_delete(vm):
    """Incus 6.0.4 takes it on a running VM; LXD 5.0.2's liveUpdateKeys do not list it."""
    vm.add()
    p = planned(vm, declared(vm, config={"security.protection.delete": "true"}))
    apply(vm, p)
    restarted = ("PUT", "/1.0/instances/vm1/state stop") in changes(vm)
    assert restarted == (vm.backend == "lxd")
    assert vm.instances["vm1"]["config"]["security.protection.delete"] == "true"


def test_a_member_that_cannot_run_vms_is_one_sentence_naming_it(tmp_path):
    sock = str(tmp_path / "unix.socket")
    fake = FakeLXD(sock)
    fake.script[("GET", "/1.0")] = [(200, {"type": "sync", "status_code": 200, "metadata": {
        "environment": {"server": "lxd", "server_clustered": True, "server_name": "node1"},
        "config": {}, "api_extensions": []}})]
    server = VMServer(fake, "lxd-5.0.2", can_run=False)
    client = Client(f"unix://{sock}", member="node1")
    server.backend = "lxd"
    p = planned(server, declared(server, member="node2"))
    with Session(desired(names=MEMBERS), Observed(clustered=True), clients={"node1": client}) as s:
        with pytest.raises(ApplyFailed) as info:
            execute(list(p.steps), performer(s))
    client.close()
    fake.close()
    said = info.value.failures[0]
    assert "member node2 cannot run virtual machines, so instance vm1 was not created" in said
    assert "vhost_vsock kernel module not loaded" in said


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_the_running_key_table(backend):
    run = keys.while_running
    vm = "virtual-machine"
    assert run(backend, vm, "limits.memory", "2GiB", "4GiB") == keys.REFUSED  # past boot size
    assert run(backend, vm, "limits.memory", "2GiB", "1024MiB") == keys.LIVE
    assert run(backend, vm, "limits.memory", None, "512MiB") == keys.LIVE  # under the 1GiB default
    assert run(backend, vm, "limits.memory", "2GiB", "1GiB", hugepages=True) == keys.REFUSED
    assert run(backend, vm, "limits.memory", "2GiB", None) == keys.NEXT_START
    assert run(backend, vm, "limits.cpu", "2", "4") == keys.LIVE
    assert run(backend, vm, "limits.cpu", "0-3", "4") == keys.REFUSED  # a pinning
    assert run(backend, vm, "security.secureboot", "true", "false") == keys.NEXT_START
    assert run(backend, vm, "boot.autostart", None, "true") == keys.LIVE
    assert run(backend, vm, "raw.qemu", None, "-S") == keys.REFUSED
    assert run(backend, "container", "raw.qemu", None, "-S") == keys.LIVE
    assert run(backend, "container", "security.privileged", None, "true") == keys.NEXT_START
    assert run(backend, vm, "security.csm", None, "true") == (
        keys.NEXT_START if backend == "incus" else keys.REFUSED)


def test_recorded_vm_answers_parse_as_vms():
    for server in SERVERS:
        live = parse_instance(recorded(server)["instance"])
        assert (live.type, live.status, live.location) == ("virtual-machine", "Running", "node1")
        assert not [k for k in live.config if k.startswith(("volatile.", "image."))]
        assert live.managed_by_lxdplan and live.base_image.startswith("6d0f5e2b4a1c")


def test_a_saved_plan_keeps_the_restart_and_the_marks(vm, tmp_path):
    from lxdplan.state.saved import load_plan, save_plan

    vm.add()
    p = planned(vm, declared(vm, config={"raw.qemu": "-S", "security.secureboot": "true"}))
    (update,) = p.steps
    assert update.payload.restart and update.notes == {
        'config["raw.qemu"]': "restarts the instance"}  # restarted: applied at once, no mark
    desired_file = tmp_path / "lxdplan.yaml"
    desired_file.write_text("version: 1\n")
    save_plan(p, cluster(names=MEMBERS), desired_file, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json").plan.steps == p.steps


def test_a_bigger_root_disk_of_a_running_vm_is_marked_for_its_next_start(vm):
    """disk.go: a block volume in use is not resized; ``volatile.apply_quota`` defers it."""
    vm.add()
    bigger = {"root": {**ROOT["root"], "size": "20GiB"}}
    p = planned(vm, declared(vm, devices=bigger))
    assert 'size = "20GiB", type = "disk"} (size applied at next start)' in render_text(p)
    assert p.steps[0].notes == {'devices["root"]': "size applied at next start"}
    assert "devices.root.size takes effect when it next starts" in p.steps[0].reason
    apply(vm, p)
    assert changes(vm) == [("PUT", "/1.0/instances/vm1")]
    assert vm.instances["vm1"]["devices"]["root"]["size"] == "20GiB"
