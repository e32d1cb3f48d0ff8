"""OVN networks and the objects on them, live on an OVN lab (``lab up --ovn``), LXD 5.0.2 and
Incus 6.0.4, 2 members each (issue 21 item 4).

One lab per backend (module scope), one test per backend (it depends on no other test):
- the lab's file forms the cluster with the uplink bridge; then one apply creates a project whose
  ``restricted.networks.uplinks`` names the uplink, an OVN network on the uplink (once,
  cluster-wide: no member's view), a forward on it (no member: an OVN network's forward is
  cluster-wide) listening in the uplink's ``ipv4.routes``; the plan is then empty;
- a changed network key and forward port converge in one update each;
- drift made by hand (a network key, a forward's target address) shows in the plan and apply
  puts it back;
- mutual network peers between two OVN networks are both "Created"; a peer's config converges
  and its drift is put back like the others';
- an OVN network, a forward and a peer made by hand are listed and left alone; the export plans empty and
  ``import`` adopts them;
- dropping everything deletes the forwards before their network.
"""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path

import pytest
import yaml

from applykit import (
    apply_ok,
    assert_converged,
    changes,
    cli,
    client_cmd,
    line_of,
    one_error,
    plan_json,
    query,
    write,
)
from labkit import BACKENDS, lab_root, new_name, require_backend, require_ovn
from lxdplan import lab as labapi
from lxdplan.lab import ovn

MARK = "user.lxdplan.managed"


@pytest.fixture(scope="module", params=BACKENDS)
def ovn_kinds_lab(request, tmp_path_factory):
    require_backend(request.param)
    require_ovn()
    lab = labapi.up(name=new_name(f"ovnk-{request.param}"), backend=request.param, members=2,
                    root=lab_root(), ovn=True)
    try:
        yield lab, tmp_path_factory.mktemp(f"ovnk-{request.param}")
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


def test_ovn_networks_forwards_peers_converge_drift_export_adopt_delete(ovn_kinds_lab):
    lab, workdir = ovn_kinds_lab
    base = str(Path(lab.file))
    apply_ok(base)
    routes = ipaddress.ip_network(ovn.uplink_config(lab)["ipv4.routes"])
    listen = [str(routes.network_address + i) for i in (1, 2, 3, 4)]
    doc = yaml.safe_load(Path(base).read_text())
    doc["projects"] = [{"name": "tenant", "config": {
        "features.networks": "true", "restricted": "true",
        "restricted.networks.uplinks": ovn.UPLINK}}]
    doc["networks"].append({"name": "ovn1", "type": "ovn", "description": "tenant net",
                            "config": {"network": ovn.UPLINK, "ipv4.address": "10.250.8.1/24",
                                       "ipv4.nat": "true", "ipv6.address": "none"}})
    doc["networks"].append({"name": "ovn3", "type": "ovn", "config": {
        "network": ovn.UPLINK, "ipv4.address": "10.250.10.1/24", "ipv4.nat": "true",
        "ipv6.address": "none"}})
    # Mutual peers: each is "Pending" until the other is made, then "Created".
    doc["network_peers"] = [
        {"network": "ovn1", "name": "to-ovn3", "target_network": "ovn3", "description": "east"},
        {"network": "ovn3", "name": "to-ovn1", "target_network": "ovn1"}]
    doc["network_forwards"] = [
        {"network": "ovn1", "listen_address": listen[0],
         "config": {"target_address": "10.250.8.10"},
         "ports": [{"protocol": "tcp", "listen_port": "80", "target_address": "10.250.8.11",
                    "target_port": "8080"}]}]
    path = write(doc, workdir / "ovn.yaml")
    out = apply_ok(path)
    assert_converged(path)
    net = query(lab, "/1.0/networks/ovn1")
    assert (net["type"], net["status"], net["description"]) == ("ovn", "Created", "tenant net")
    assert net["config"][MARK] == "true" and net["locations"]
    fwd = query(lab, f"/1.0/networks/ovn1/forwards/{listen[0]}")
    assert fwd["config"][MARK] == "true" and fwd["ports"][0]["target_port"] == "8080"
    assert query(lab, "/1.0/projects/tenant")["config"]["restricted.networks.uplinks"] == "UPLINK"
    peer = query(lab, "/1.0/networks/ovn1/peers/to-ovn3")
    assert (peer["target_network"], peer["status"], peer["config"][MARK]) == (
        "ovn3", "Created", "true")

    # A changed network key and forward port: one update each.
    doc = copy.deepcopy(doc)
    next(n for n in doc["networks"] if n["name"] == "ovn1")["config"]["dns.domain"] = "tenant.lab"
    doc["network_forwards"][0]["ports"][0]["target_port"] = "8081"
    doc["network_peers"][1]["config"] = {"user.team": "net"}
    write(doc, Path(path))
    assert changes(path) == [("update", "network", "ovn1"),
                             ("update", "network_forward", f"ovn1/{listen[0]}"),
                             ("update", "network_peer", "ovn3/to-ovn1")]
    apply_ok(path)
    assert query(lab, "/1.0/networks/ovn1")["config"]["dns.domain"] == "tenant.lab"
    assert query(lab, f"/1.0/networks/ovn1/forwards/{listen[0]}")["ports"][0][
        "target_port"] == "8081"
    assert query(lab, "/1.0/networks/ovn3/peers/to-ovn1")["config"]["user.team"] == "net"
    assert_converged(path)

    # Drift made by hand shows in the plan; apply puts it back.
    client_cmd(lab, "network", "set", "ovn1", "dns.domain=hand.lab")
    client_cmd(lab, "network", "forward", "set", "ovn1", listen[0], "target_address=10.250.8.99")
    client_cmd(lab, "network", "peer", "set", "ovn1", "to-ovn3", "user.hand=1")
    steps = {s["kind"]: s for s in plan_json(path)["steps"]}
    assert set(steps) == {"network", "network_forward", "network_peer"}
    assert steps["network_peer"]["before"] == {"config": {"user.hand": "1"}}
    assert steps["network"]["before"] == {"config": {"dns.domain": "hand.lab"}}
    assert steps["network_forward"]["before"] == {"config": {"target_address": "10.250.8.99"}}
    apply_ok(path)
    assert query(lab, "/1.0/networks/ovn1")["config"]["dns.domain"] == "tenant.lab"
    assert_converged(path)

    # Made by hand: listed and left alone; the export plans empty and import adopts them.
    client_cmd(lab, "network", "create", "ovn2", "--type=ovn", f"network={ovn.UPLINK}",
               "ipv4.address=10.250.9.1/24", "ipv4.nat=true", "ipv6.address=none")
    client_cmd(lab, "network", "forward", "create", "ovn2", listen[1],
               "target_address=10.250.9.10")
    client_cmd(lab, "network", "peer", "create", "ovn2", "to-ovn1", "ovn1")
    listed = cli("plan", "-f", path)
    assert "No changes." in listed.stdout, listed.stdout
    assert "ovn2" in listed.stdout, listed.stdout
    exported = workdir / "exported.yaml"
    done = cli("export", "-f", path, "-o", str(exported))
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(exported.read_text())
    ovns = {n["name"]: n for n in data["networks"] if n.get("type") == "ovn"}
    assert set(ovns) == {"ovn1", "ovn2", "ovn3"} and ovns["ovn2"]["config"]["network"] == "UPLINK"
    assert "members" not in ovns["ovn1"]
    assert sorted((f["network"], f["listen_address"], f.get("member")) for f in
                  data["network_forwards"]) == [("ovn1", listen[0], None),
                                                ("ovn2", listen[1], None)]
    assert sorted((p["network"], p["name"], p["target_network"]) for p in
                  data["network_peers"]) == [("ovn1", "to-ovn3", "ovn3"), ("ovn2", "to-ovn1", "ovn1"),
                                             ("ovn3", "to-ovn1", "ovn1")]
    assert_converged(str(exported))
    done = cli("import", "-f", str(exported))
    assert done.returncode == 0, done.stderr + done.stdout
    assert query(lab, "/1.0/networks/ovn2")["config"][MARK] == "true"
    assert query(lab, f"/1.0/networks/ovn2/forwards/{listen[1]}")["config"][MARK] == "true"
    assert query(lab, "/1.0/networks/ovn2/peers/to-ovn1")["config"][MARK] == "true"
    assert_converged(str(exported))

    doc = load_balancers(lab, workdir, data, listen)

    # Dropping them: the forwards go before their networks.
    doc["networks"] = [n for n in doc["networks"] if n.get("type") != "ovn"]
    doc["network_forwards"] = []
    doc["network_peers"] = []
    doc.pop("network_load_balancers", None)
    write(doc, Path(path))
    out = apply_ok(path)
    assert out.index(f'done: delete network forward "ovn1/{listen[0]}"') < out.index(
        'done: delete network "ovn1"')
    assert out.index(f'done: delete network forward "ovn2/{listen[1]}"') < out.index(
        'done: delete network "ovn2"')
    assert out.index('done: delete network peer "ovn2/to-ovn1"') < out.index(
        'done: delete network "ovn1"')
    names = [n["name"] for n in query(lab, "/1.0/networks?recursion=1")]
    assert not {"ovn1", "ovn2", "ovn3"} & set(names)
    assert_converged(path)


def load_balancers(lab, workdir: Path, exported: dict, listen: list[str]) -> dict:
    """LXD 5.0.2 has no network_load_balancer extension: one plan error naming the member.
    Incus 6.0.4: a load balancer converges, changes, drifts back, and a hand-made one is
    exported and adopted. The file as it ends."""
    doc = copy.deepcopy(exported)
    doc["network_load_balancers"] = [{
        "network": "ovn1", "listen_address": listen[2], "description": "web",
        "backends": [{"name": "b1", "target_address": "10.250.8.21", "target_port": "8080"},
                     {"name": "b2", "target_address": "10.250.8.22"}],
        "ports": [{"protocol": "tcp", "listen_port": "80", "target_backend": ["b1", "b2"]}]}]
    path = write(doc, workdir / "lb.yaml")
    if lab.backend == "lxd":
        error = one_error(cli("plan", "-f", path))
        line = line_of(path, "network_load_balancers:") + 1
        assert error.startswith(f"{path}:{line}: network load balancer ovn1/{listen[2]} needs "
                                "the network_load_balancer API extension, which the server of "
                                "member node"), error
        assert error.endswith("(lxd 5.0.2) does not have"), error
        return exported
    apply_ok(path)
    lb = query(lab, f"/1.0/networks/ovn1/load-balancers/{listen[2]}")
    assert lb["config"][MARK] == "true" and [b["name"] for b in lb["backends"]] == ["b1", "b2"]
    assert lb["ports"][0]["target_backend"] == ["b1", "b2"]
    assert_converged(path)

    doc["network_load_balancers"][0]["backends"][1]["target_port"] = "9090"
    write(doc, Path(path))
    assert changes(path) == [("update", "network_load_balancer", f"ovn1/{listen[2]}")]
    apply_ok(path)
    lb = query(lab, f"/1.0/networks/ovn1/load-balancers/{listen[2]}")
    assert lb["backends"][1]["target_port"] == "9090"
    assert_converged(path)

    client_cmd(lab, "network", "load-balancer", "set", "ovn1", listen[2], "user.hand=1")
    (step,) = plan_json(path)["steps"]
    assert step["before"] == {"config": {"user.hand": "1"}}
    apply_ok(path)
    assert_converged(path)

    client_cmd(lab, "network", "load-balancer", "create", "ovn1", listen[3])
    client_cmd(lab, "network", "load-balancer", "backend", "add", "ovn1", listen[3], "h1",
               "10.250.8.30")
    exported_path = workdir / "lb-exported.yaml"
    done = cli("export", "-f", path, "-o", str(exported_path))
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(exported_path.read_text())
    assert sorted(b["listen_address"] for b in data["network_load_balancers"]) == sorted(
        listen[2:4])
    assert_converged(str(exported_path))
    done = cli("import", "-f", str(exported_path))
    assert done.returncode == 0, done.stderr + done.stdout
    hand = query(lab, f"/1.0/networks/ovn1/load-balancers/{listen[3]}")
    assert hand["config"][MARK] == "true" and hand["backends"][0]["name"] == "h1"
    assert_converged(str(exported_path))
    return data


def test_an_ovn_network_of_a_project_converges_drifts_exports_adopts_deletes(ovn_kinds_lab):
    """A restricted project with features.networks (what MicroCloud runs) and an OVN network
    of its own on the uplink the project allows, used by a nic of the project's profile: it is
    created with ``?project=``, changed, drift is put back, a hand-made one is exported and
    adopted, and dropping them deletes the profile, the networks, then the project."""
    lab, workdir = ovn_kinds_lab
    doc = yaml.safe_load(Path(lab.file).read_text())
    doc["projects"] = [{"name": "mc", "config": {
        "features.networks": "true", "features.profiles": "true", "restricted": "true",
        "restricted.networks.uplinks": ovn.UPLINK}}]
    doc["networks"].append({"name": "mcnet", "type": "ovn", "project": "mc", "config": {
        "network": ovn.UPLINK, "ipv4.address": "10.250.20.1/24", "ipv4.nat": "true",
        "ipv6.address": "none"}})
    doc["profiles"] = [{"name": "mcweb", "project": "mc",
                        "devices": {"eth0": {"type": "nic", "network": "mcnet"}}}]
    path = write(doc, workdir / "project-net.yaml")
    apply_ok(path)
    assert_converged(path)
    net = query(lab, "/1.0/networks/mcnet?project=mc")
    assert (net["type"], net["status"], net["config"][MARK]) == ("ovn", "Created", "true")
    assert "mcnet" not in {n["name"] for n in query(lab, "/1.0/networks?recursion=1")}
    assert "/1.0/profiles/mcweb?project=mc" in net["used_by"]

    # A changed key: one update, named with its project.
    doc["networks"][-1]["config"]["dns.domain"] = "mc.lab"
    write(doc, Path(path))
    assert changes(path) == [("update", "network", "mc/mcnet")]
    apply_ok(path)
    assert query(lab, "/1.0/networks/mcnet?project=mc")["config"]["dns.domain"] == "mc.lab"
    assert_converged(path)

    # Drift made by hand shows in the plan; apply puts it back.
    client_cmd(lab, "network", "set", "mcnet", "dns.domain=hand.lab", "--project", "mc")
    (step,) = plan_json(path)["steps"]
    assert (step["name"], step["before"]) == ("mc/mcnet", {"config": {"dns.domain": "hand.lab"}})
    apply_ok(path)
    assert_converged(path)

    # Made by hand in the project: listed and left alone; export plans empty; import adopts.
    client_cmd(lab, "network", "create", "mcnet2", "--type=ovn", f"network={ovn.UPLINK}",
               "ipv4.address=10.250.21.1/24", "ipv4.nat=true", "ipv6.address=none",
               "--project", "mc")
    listed = cli("plan", "-f", path)
    assert "No changes." in listed.stdout and "mc/mcnet2" in listed.stdout, listed.stdout
    exported = workdir / "project-net-exported.yaml"
    done = cli("export", "-f", path, "-o", str(exported))
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(exported.read_text())
    assert sorted((n.get("project"), n["name"]) for n in data["networks"]
                  if n.get("project")) == [("mc", "mcnet"), ("mc", "mcnet2")]
    assert_converged(str(exported))
    done = cli("import", "-f", str(exported))
    assert done.returncode == 0, done.stderr + done.stdout
    assert query(lab, "/1.0/networks/mcnet2?project=mc")["config"][MARK] == "true"
    assert_converged(str(exported))

    # Dropping them: the profile, then the networks, then the project.
    data["networks"] = [n for n in data["networks"] if not n.get("project")]
    data["profiles"] = [p for p in data.get("profiles", []) if p.get("project") != "mc"]
    data["projects"] = [p for p in data["projects"] if p["name"] != "mc"]
    write(data, exported)
    out = apply_ok(str(exported))
    assert out.index('done: delete profile "mc/mcweb"') < out.index(
        'done: delete network "mc/mcnet"') < out.index('done: delete project "mc"')
    assert out.index('done: delete network "mc/mcnet2"') < out.index('done: delete project "mc"')
    assert "mc" not in {p["name"] for p in query(lab, "/1.0/projects?recursion=1")}
    assert_converged(str(exported))
