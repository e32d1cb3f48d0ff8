"""Network zones, their records and network forwards on real LXD and Incus.

One 2-member lab per backend (module scope); the scenario is one test per backend, so it does
not depend on other tests or their order:
- one apply forms the cluster (Incus 6.0.4 cannot join a member to a cluster whose bridge names
  a zone: the joiner checks the bridge's dns.zone.forward against its own empty database,
  "network zone ... not found"; LXD 5.0.2 joins);
- the next creates two zones and a record before the bridge that names the
  zones (dns.zone.forward, dns.zone.reverse.ipv4), then a forward on each member (the second
  member's sent with ?target=: a bridge's forward lives on one member); the plan is then empty;
- a changed zone config, record entry and forward port converge in one update each;
- drift made by hand (a record entry, a forward's target address) shows in the plan and
  apply puts it back;
- a record and a forward made by hand are listed as unmanaged and left alone;
- the export plans empty, and ``import`` of it adopts the hand-made ones, entries and ports
  intact;
- dropping the forward zone (and the bridge's use of it: that update first), its record and a
  forward deletes them.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from applykit import cli, client_cmd, plan_json, query, write
from labkit import BACKENDS, lab_root, start_lab
from lxdplan import lab as labapi

MARK = "user.lxdplan.managed"


def apply_ok(path: str) -> str:
    done = cli("apply", "-f", path, "--auto-approve")
    assert done.returncode == 0, f"apply failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout


def assert_converged(path: str) -> None:
    plan = cli("plan", "-f", path, "--detailed-exitcode")
    assert plan.returncode == 0, f"plan still shows changes:\n{plan.stdout}\n{plan.stderr}"


def forward(lab, address: str, member: str) -> dict:
    return query(lab, f"/1.0/networks/zbr/forwards/{address}?target={member}")


def record(lab, zone: str, name: str) -> dict:
    return query(lab, f"/1.0/network-zones/{zone}/records/{name}")


@pytest.fixture(scope="module", params=BACKENDS)
def zone_lab(request, tmp_path_factory):
    lab = start_lab(request.param, f"zone-{request.param}", 2)
    try:
        yield lab, tmp_path_factory.mktemp(f"zone-{request.param}")
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


def test_zones_records_and_forwards_converge_export_adopt_and_delete(zone_lab):
    lab, workdir = zone_lab
    path = str(workdir / "lxdplan.yaml")
    n1, n2 = (m.name for m in lab.members)
    doc = {
        "version": 1, "backend": lab.backend,
        "cluster": {"members": [{"name": m.name, "address": m.address, "endpoint": m.endpoint}
                                for m in lab.members]},
        # Declared before the zones: the order comes from the references.
        "networks": [{"name": "zbr", "type": "bridge", "config": {
            "ipv4.address": "10.77.0.1/24", "ipv6.address": "none",
            "dns.zone.forward": "lab.example", "dns.zone.reverse.ipv4": "0.77.10.in-addr.arpa"}}],
        "network_zones": [
            {"name": "lab.example", "description": "lab names",
             "config": {"dns.nameservers": "ns1.lab.example", "user.team": "net"}},
            {"name": "0.77.10.in-addr.arpa"}],
        "network_zone_records": [
            {"zone": "lab.example", "name": "www", "entries": [
                {"type": "A", "value": "10.77.0.10"},
                {"type": "A", "value": "10.77.0.11", "ttl": 60}]}],
        "network_forwards": [
            {"network": "zbr", "listen_address": "192.0.2.10", "member": n1,
             "config": {"target_address": "10.77.0.10"},
             "ports": [{"protocol": "tcp", "listen_port": "80,81", "target_address": "10.77.0.12",
                        "target_port": "8080-8081", "description": "web"}]},
            {"network": "zbr", "listen_address": "192.0.2.11", "member": n2,
             "description": "on the second member"}],
    }
    formed = {k: doc[k] for k in ("version", "backend", "cluster")}
    write(formed, Path(path))
    apply_ok(path)
    write(doc, Path(path))
    out = apply_ok(path)
    assert out.index('done: create network zone "lab.example"') < out.index(
        'done: define network "zbr"')
    assert out.index('done: create network zone "0.77.10.in-addr.arpa"') < out.index(
        'done: define network "zbr"')
    assert out.index('done: create network zone "lab.example"') < out.index(
        'done: create network zone record "lab.example/www"')
    assert out.index('done: instantiate network "zbr"') < out.index(
        'done: create network forward "zbr/192.0.2.11"')
    assert_converged(path)
    zone = query(lab, "/1.0/network-zones/lab.example")
    assert zone["config"] == {"dns.nameservers": "ns1.lab.example", "user.team": "net",
                              MARK: "true"}
    assert zone["used_by"] == ["/1.0/networks/zbr"]
    assert record(lab, "lab.example", "www")["entries"] == [
        {"type": "A", "value": "10.77.0.10"}, {"type": "A", "value": "10.77.0.11", "ttl": 60}]
    first = forward(lab, "192.0.2.10", n1)
    assert first["location"] == n1 and first["config"]["target_address"] == "10.77.0.10"
    assert first["ports"][0]["target_port"] == "8080-8081"
    assert forward(lab, "192.0.2.11", n2)["location"] == n2  # the second member's own

    # A changed zone config, record entry and forward port converge in one update each.
    doc = copy.deepcopy(doc)
    doc["network_zones"][0]["config"]["dns.nameservers"] = "ns2.lab.example"
    doc["network_zone_records"][0]["entries"][1]["ttl"] = 120
    doc["network_forwards"][0]["ports"][0]["listen_port"] = "80"
    doc["network_forwards"][0]["ports"][0]["target_port"] = "8080"
    write(doc, Path(path))
    plan = plan_json(path)
    assert sorted((s["action"], s["kind"], s["name"], s["member"]) for s in plan["steps"]) == [
        ("update", "network_forward", "zbr/192.0.2.10", n1),
        ("update", "network_zone", "lab.example", None),
        ("update", "network_zone_record", "lab.example/www", None)]
    steps = {s["kind"]: s for s in plan["steps"]}
    assert steps["network_zone_record"]["after"] == {"entries": {"1": {
        "type": "A", "value": "10.77.0.11", "ttl": 120}}}
    apply_ok(path)
    assert record(lab, "lab.example", "www")["entries"][1]["ttl"] == 120
    assert forward(lab, "192.0.2.10", n1)["ports"][0]["listen_port"] == "80"
    assert_converged(path)

    # Drift made by hand shows in the plan; apply puts it back.
    client_cmd(lab, "network", "zone", "record", "entry", "add", "lab.example", "www", "TXT",
               "hand")
    client_cmd(lab, "network", "forward", "set", "zbr", "192.0.2.11",
               "target_address=10.77.0.99", "--target", n2)
    plan = plan_json(path)
    steps = {(s["kind"], s["action"]): s for s in plan["steps"]}
    assert set(steps) == {("network_zone_record", "update"), ("network_forward", "update")}
    assert steps[("network_zone_record", "update")]["before"] == {"entries": {"2": {
        "type": "TXT", "value": "hand"}}}
    assert steps[("network_forward", "update")]["before"] == {
        "config": {"target_address": "10.77.0.99"}}
    apply_ok(path)
    assert len(record(lab, "lab.example", "www")["entries"]) == 2
    assert "target_address" not in forward(lab, "192.0.2.11", n2)["config"]
    assert_converged(path)

    # Made by hand: listed, never deleted.
    client_cmd(lab, "network", "zone", "record", "create", "lab.example", "mail")
    client_cmd(lab, "network", "zone", "record", "entry", "add", "lab.example", "mail", "A",
               "10.77.0.25")
    client_cmd(lab, "network", "forward", "create", "zbr", "192.0.2.12", "--target", n2)
    client_cmd(lab, "network", "forward", "port", "add", "zbr", "192.0.2.12", "udp", "53",
               "10.77.0.53", "--target", n2)
    listed = cli("plan", "-f", path)
    assert "network zone record lab.example/mail" in listed.stdout, listed.stdout
    assert "network forward zbr/192.0.2.12" in listed.stdout, listed.stdout
    assert "No changes." in listed.stdout, listed.stdout
    apply_ok(path)
    assert record(lab, "lab.example", "mail")["entries"] == [{"type": "A", "value": "10.77.0.25"}]

    # The export plans empty; importing it adopts the hand-made ones, entries and ports intact.
    exported = workdir / "exported.yaml"
    done = cli("export", "-f", path, "-o", str(exported))
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(exported.read_text())
    assert {z["name"] for z in data["network_zones"]} == {"lab.example", "0.77.10.in-addr.arpa"}
    assert {(r["zone"], r["name"]) for r in data["network_zone_records"]} == {
        ("lab.example", "www"), ("lab.example", "mail")}
    assert {(f["listen_address"], f["member"]) for f in data["network_forwards"]} == {
        ("192.0.2.10", n1), ("192.0.2.11", n2), ("192.0.2.12", n2)}
    assert_converged(str(exported))
    done = cli("import", "-f", str(exported))
    assert done.returncode == 0, done.stderr
    mail = record(lab, "lab.example", "mail")
    assert mail["config"][MARK] == "true" and mail["entries"] == [
        {"type": "A", "value": "10.77.0.25"}]
    hand = forward(lab, "192.0.2.12", n2)
    assert hand["config"][MARK] == "true" and hand["ports"][0]["target_address"] == "10.77.0.53"
    assert_converged(str(exported))

    # Dropping the forward zone: the bridge stops naming it first; its records, the adopted
    # record and forward, and a declared forward go too.
    doc = copy.deepcopy(doc)
    del doc["networks"][0]["config"]["dns.zone.forward"]
    doc["network_zones"] = doc["network_zones"][1:]
    doc["network_zone_records"] = []
    doc["network_forwards"] = doc["network_forwards"][:1]
    write(doc, Path(path))
    out = apply_ok(path)
    assert out.index('done: update network "zbr"') < out.index(
        'done: delete network zone "lab.example"')
    assert out.index('done: delete network zone record "lab.example/www"') < out.index(
        'done: delete network zone "lab.example"')
    assert out.count("done: delete network forward") == 2
    zones = [u.rsplit("/", 1)[-1] for u in query(lab, "/1.0/network-zones")]
    assert zones == ["0.77.10.in-addr.arpa"]
    listed = query(lab, "/1.0/networks/zbr/forwards?recursion=1")
    assert [(f["listen_address"], f["location"]) for f in listed] == [("192.0.2.10", n1)]
    assert_converged(path)
