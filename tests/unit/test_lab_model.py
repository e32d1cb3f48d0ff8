"""The pure parts of `lxdplan lab`: names, subnet choice, state round trip, the generated file."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from lxdplan.errors import LabError
from lxdplan.lab import host
from lxdplan.lab.labfile import lab_document, write_lab_file
from lxdplan.lab.model import Lab, LabMember, bridge_name, check_name, namespace_name, veth_name


def test_bridge_and_veth_names_fit_in_15_characters():
    assert bridge_name("demo") == "lxp-demo"
    long = bridge_name("a-very-long-lab-name")
    assert long.startswith("lxp-h") and len(long) == 15
    assert long != bridge_name("a-very-long-lab-namf")
    assert len(veth_name("a-very-long-lab-name", 7)) <= 15
    assert namespace_name("demo", 2) == "lxdplan-demo-2"


@pytest.mark.parametrize("bad", ["", "Lab", "-x", "a_b", "x" * 31, "a/b"])
def test_bad_lab_names_are_refused(bad):
    with pytest.raises(LabError, match="is not valid"):
        check_name(bad)


def test_subnets_avoid_taken_networks():
    first, inner = host.pick_subnets(0, [])
    assert (str(first), str(inner)) == ("10.64.0.0/24", "10.128.0.0/24")
    taken = [ipaddress.ip_network("10.64.0.0/16"), ipaddress.ip_network("10.129.0.0/24")]
    lab, inner = host.pick_subnets(0, taken)
    assert str(lab) == "10.65.1.0/24" and str(inner) == "10.129.1.0/24"
    assert not any(lab.overlaps(t) or inner.overlaps(t) for t in taken)


def test_mountinfo_escapes_are_decoded():
    assert host._unescape(r"/tmp/a\040b\011c") == "/tmp/a b\tc"


def _lab(tmp_path, backend="lxd") -> Lab:
    members = [
        LabMember(name=f"node{i}", index=i, ip=f"10.70.1.{i}", namespace=f"lxdplan-t-{i}",
                  veth=f"lxvt-{i}", daemon_dir=str(tmp_path / f"node{i}"), pid=100 + i)
        for i in (1, 2)
    ]
    return Lab(name="t", backend=backend, dir=str(tmp_path), bridge="lxp-t", subnet="10.70.1.0/24",
               host_ip="10.70.1.254", lxdbr0_address="10.134.1.1/24", members=members)


def test_state_round_trips_with_addresses_and_sockets(tmp_path):
    lab = _lab(tmp_path)
    lab.save()
    raw = yaml.safe_load(lab.state_path.read_text())  # JSON is YAML
    assert raw["members"][0]["address"] == "10.70.1.1:8443"
    assert raw["members"][0]["socket"] == str(tmp_path / "node1" / "unix.socket")
    assert Lab.load(lab.state_path) == lab


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_lab_file_declares_members_pool_bridge_and_profile(tmp_path, backend):
    lab = _lab(tmp_path, backend)
    path = write_lab_file(lab, tmp_path / "out" / "lxdplan.yaml")
    doc = yaml.safe_load(path.read_text())
    assert doc == lab_document(lab)
    assert doc["backend"] == backend
    assert doc["cluster"]["members"][1] == {
        "name": "node2", "address": "10.70.1.2:8443",
        "endpoint": f"unix://{tmp_path}/node2/unix.socket",
    }
    assert doc["storage_pools"] == [{"name": "default", "driver": "dir"}]
    assert doc["networks"][0]["config"] == {
        "ipv4.address": "10.134.1.1/24", "ipv4.nat": "false", "ipv6.address": "none"}
    assert doc["profiles"][0]["devices"]["root"]["pool"] == "default"


def test_a_fitted_template_keeps_separate_cluster_and_rest_ports(tmp_path):
    from lxdplan.lab.labfile import from_template

    template = {"version": 1, "cluster": {"members": [
        {"name": "a", "address": "192.0.2.7:8444", "config": {"core.https_address": "192.0.2.7:8443"}},
        {"name": "b", "address": "192.0.2.8:8443", "config": {"core.https_address": "[::]:9443"}},
    ]}}
    first, second = from_template(_lab(tmp_path), template)["cluster"]["members"]
    assert first["address"] == "10.70.1.1:8444"
    assert first["config"] == {"core.https_address": "10.70.1.1:8443"}
    assert second["address"] == "10.70.1.2:8443"
    assert second["config"] == {"core.https_address": "[::]:9443"}  # a wildcard fits any lab


def test_lab_up_never_overwrites_a_file_with_edits(tmp_path):
    """`lab up` rewrites a file it wrote and left alone, and keeps one the user changed."""
    from lxdplan.lab.lifecycle import News, _publish

    lab = _lab(tmp_path)
    lab.news = News()
    mine = tmp_path / "work" / "lxdplan.yaml"
    _publish(lab, mine, None)
    assert lab.file == str(mine) and yaml.safe_load(mine.read_text()) == lab_document(lab)
    lab.members[1].ip = "10.70.1.9"  # the lab changed (say, it grew): an untouched file follows
    _publish(lab, mine, None)
    assert "10.70.1.9:8443" in mine.read_text() and lab.news.kept == []
    mine.write_text(mine.read_text() + "# mine\n")
    lab.members[1].ip = "10.70.1.8"
    _publish(lab, mine, None)
    assert mine.read_text().endswith("# mine\n") and lab.news.kept == [str(mine)]
    assert "10.70.1.8:8443" in (tmp_path / "lxdplan.yaml").read_text()  # the lab's own copy
    foreign = tmp_path / "other.yaml"
    foreign.write_text("version: 1\n")
    _publish(lab, foreign, None)
    assert foreign.read_text() == "version: 1\n" and str(foreign) in lab.news.kept


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_an_ovn_lab_file_is_valid_and_declares_the_uplink_and_connections(tmp_path, backend):
    from lxdplan.lab import ovn
    from lxdplan.loader import load_text

    lab = _lab(tmp_path, backend)
    lab.ovn = True
    text = write_lab_file(lab, tmp_path / "lxdplan.yaml").read_text()
    load_text(text)  # Incus's network.ovs.connection is member-local: no validation error
    doc = yaml.safe_load(text)
    assert doc["cluster"]["config"] == {"network.ovn.northbound_connection": "tcp:10.70.1.252:6641"}
    sockets = [m.get("config", {}).get("network.ovs.connection") for m in doc["cluster"]["members"]]
    assert sockets == ([f"unix:{tmp_path}/node{i}-ovs/db.sock" for i in (1, 2)]
                       if backend == "incus" else [None, None])
    uplink = doc["networks"][-1]
    assert (uplink["name"], uplink["type"]) == (ovn.UPLINK, "bridge")
    assert uplink["config"]["ipv4.address"] == "10.198.1.129/25"
    assert uplink["config"]["ipv4.ovn.ranges"] == "10.198.1.160-10.198.1.191"
    assert ovn.daemon_env(lab, lab.members[0]) == {"OVS_RUNDIR": f"{tmp_path}/node1-ovs"}
    assert ovn.tunnel_ip(lab, lab.members[1]) == "10.198.1.2"


def test_an_ovn_lab_also_avoids_a_taken_ovn_subnet():
    from lxdplan.lab import ovn

    taken = [ipaddress.ip_network("10.192.0.0/24")]
    assert str(host.pick_subnets(0, taken)[0]) == "10.64.0.0/24"
    lab, _ = host.pick_subnets(0, taken, also=ovn.subnet_of)
    assert str(lab) == "10.64.1.0/24" and str(ovn.subnet_of(lab)) == "10.192.1.0/24"
