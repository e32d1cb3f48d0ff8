"""OVN networks on an OVN lab (``lab up --ovn``), LXD 5.0.2 and Incus 6.0.4, 2 members each.

One lab per backend (module scope), one test per backend (so it depends on no other test): the
lab's own file forms the cluster with the uplink bridge and the OVN connections; an OVN network
and a container on it on each member converge (the plan is then empty: the MTU the server writes
is its own), the two containers reach each other over the members' geneve tunnel and the OVN
router's gateway is bound (BFD between the members is up); dropping everything deletes it, and
the network made again works (the uplink's OVS bridge is made again on the netdev datapath).
At the end ``lab down`` leaves no process of the lab behind. See docs/design.md "OVN on this
machine".
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from applykit import apply_ok, assert_converged, client_cmd, query, wait_for, write
from labkit import BACKENDS, lab_root, new_name, require_backend, require_ovn
from lxdplan import lab as labapi
from lxdplan.lab import ovn


@pytest.fixture(scope="module", params=BACKENDS)
def ovn_lab(request, tmp_path_factory):
    require_backend(request.param)
    require_ovn()
    lab = labapi.up(name=new_name(f"ovn-{request.param}"), backend=request.param, members=2,
                    root=lab_root(), ovn=True)
    try:
        yield lab, tmp_path_factory.mktemp(f"ovn-{request.param}")
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


def processes_of(directory: str) -> list[str]:
    """Command lines of live processes that name ``directory`` (the lab's daemons and OVS)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if directory in cmdline and state != "Z":
            found.append(f"{pid}: {cmdline}")
    return found


def sbctl(lab, *args: str) -> str:
    sock = Path(lab.dir) / "ovn-central" / "sb.sock"
    return subprocess.run(["ovn-sbctl", f"--db=unix:{sock}", *args], capture_output=True,
                          text=True, check=True).stdout


def test_ovn_network_and_containers_converge_and_reach_each_other(ovn_lab):
    lab, workdir = ovn_lab
    base = str(Path(lab.file))
    apply_ok(base)
    doc = yaml.safe_load(Path(base).read_text())
    doc["networks"].append({"name": "ovn1", "type": "ovn", "config": {
        "network": ovn.UPLINK, "ipv4.address": "10.250.7.1/24", "ipv4.nat": "true",
        "ipv6.address": "none"}})
    doc["instances"] = [
        {"name": f"c{i}", "image": "busybox", "member": f"node{i}",
         "devices": {"eth0": {"type": "nic", "network": "ovn1", "name": "eth0"}}}
        for i in (1, 2)]
    path = write(doc, workdir / "ovn.yaml")
    apply_ok(path)
    assert_converged(path)
    net = query(lab, "/1.0/networks/ovn1")
    assert (net["type"], net["status"], net["config"]["network"]) == ("ovn", "Created", "UPLINK")
    live = {i["name"]: i for i in query(lab, "/1.0/instances?recursion=1")}
    assert [(live[c]["location"], live[c]["status"]) for c in ("c1", "c2")] == [
        ("node1", "Running"), ("node2", "Running")]
    chassis = sbctl(lab, "--bare", "--columns=name", "list", "chassis").split()
    assert sorted(chassis) == ["node1", "node2"]
    # The router's gateway port is bound once BFD over the tunnel between the members is up.
    wait_for(lambda: sbctl(lab, "--bare", "--columns=chassis", "find", "port_binding",
                           "type=chassisredirect").strip(), "the OVN gateway port to be bound")
    for i in (1, 2):
        client_cmd(lab, "exec", f"c{i}", "--", "ip", "addr", "add", f"10.250.7.{10 + i}/24",
                   "dev", "eth0")
    wait_for(lambda: client_cmd(lab, "exec", "c1", "--", "ping", "-c1", "-W1", "10.250.7.12",
                                check=False).returncode == 0,
             "c1 on node1 to reach c2 on node2 over geneve")

    doc["instances"] = []
    doc["networks"] = [n for n in doc["networks"] if n["name"] != "ovn1"]
    apply_ok(write(doc, workdir / "ovn.yaml"))
    assert "ovn1" not in [n["name"] for n in query(lab, "/1.0/networks?recursion=1")]
    assert_converged(path)
    doc["networks"].append({"name": "ovn1", "type": "ovn", "config": {"network": ovn.UPLINK}})
    apply_ok(write(doc, workdir / "ovn.yaml"))
    assert query(lab, "/1.0/networks/ovn1")["status"] == "Created"
    assert_converged(path)

    labapi.down(lab.name, root=lab_root())
    assert processes_of(lab.dir) == []
