"""Network ACLs on real LXD and Incus: create, update, export, adopt, delete, unmanaged.

One 1-member lab per backend (module scope); the scenario is one test per backend, so it does
not depend on other tests or their order:
- one apply forms the cluster and creates two ACLs in the default project, a project with
  ``features.networks`` and an ACL of its own there, and (Incus) a bridge whose
  ``security.acls`` names both default-project ACLs (the ACLs come first); the plan is then
  empty;
- a rule changed (and one spelled with spaces LXD trims) converges in one update;
- an ACL made by hand is listed as unmanaged and left alone by apply;
- the export of the cluster plans empty, and ``import`` of it adopts the hand-made ACL with
  its rules intact;
- dropping an ACL (and, on Incus, the bridge's use of it: that update first) deletes it.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from applykit import apply_ok, assert_converged, cli, client_cmd, plan_json, query, write
from labkit import BACKENDS, start_lab

MARK = "user.lxdplan.managed"


def acl(lab, name: str, project: str = "default") -> dict:
    return query(lab, f"/1.0/network-acls/{name}" + (f"?project={project}" if project != "default" else ""))


@pytest.fixture(scope="module", params=BACKENDS)
def acl_lab(request, tmp_path_factory):
    from labkit import lab_root
    from lxdplan import lab as labapi

    lab = start_lab(request.param, f"acl-{request.param}", 1)
    try:
        yield lab, tmp_path_factory.mktemp(f"acl-{request.param}")
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


def test_acls_converge_export_adopt_and_delete(acl_lab):
    lab, workdir = acl_lab
    path = str(workdir / "lxdplan.yaml")
    m = lab.members[0]
    doc = {
        "version": 1, "backend": lab.backend,
        "cluster": {"members": [{"name": m.name, "address": m.address, "endpoint": m.endpoint}]},
        "projects": [{"name": "tenant", "config": {"features.networks": "true"}}],
        "network_acls": [
            {"name": "web-in", "description": "web servers", "config": {"user.team": "web"},
             "ingress": [
                 {"action": "allow", "protocol": "tcp", "destination_port": "80, 443",
                  "description": "http"},
                 {"action": "drop", "source": "192.0.2.0/24", "state": "logged"}]},
            {"name": "dns-out", "egress": [
                {"action": "allow", "protocol": "udp", "destination": "192.0.2.53/32",
                 "destination_port": 53}]},
            {"name": "tenant-in", "project": "tenant", "ingress": [
                {"action": "reject", "protocol": "icmp4", "icmp_type": 8, "icmp_code": 0}]},
        ],
    }
    # A bridge that uses ACLs, declared before them: the order comes from the references. Not
    # on LXD 5.0.2 here: it applies a bridge's ACLs with iptables-nft and then can neither
    # change nor delete that bridge ("CHAIN_DEL failed (Device or resource busy): chain
    # lxd_acl_aclbr"); and it has no security.acls on a bridged nic.
    bridge = lab.backend == "incus"
    if bridge:
        doc["networks"] = [{"name": "aclbr", "type": "bridge", "config": {
            "ipv6.address": "none", "security.acls": "web-in,dns-out"}}]
    write(doc, Path(path))
    out = apply_ok(path)
    if bridge:
        assert out.index('done: create network ACL "dns-out"') < out.index(
            'done: define network "aclbr"')
    assert out.index('done: create project "tenant"') < out.index(
        'done: create network ACL "tenant/tenant-in"')
    assert_converged(path)
    web = acl(lab, "web-in")
    assert web["config"] == {"user.team": "web", MARK: "true"}
    assert web["ingress"][0]["destination_port"] == "80,443"  # LXD trims list items
    assert web["ingress"][1]["state"] == "logged"
    assert acl(lab, "tenant-in", "tenant")["ingress"][0]["icmp_type"] == "8"
    names = [u.rsplit("/", 1)[-1] for u in query(lab, "/1.0/network-acls")]
    assert "tenant-in" not in names  # the project's own, not the default project's

    # A changed rule and a description converge in one update.
    doc = copy.deepcopy(doc)
    doc["network_acls"][0]["ingress"][0]["destination_port"] = "8080"
    doc["network_acls"][1]["description"] = "resolver"
    write(doc, Path(path))
    plan = plan_json(path)
    assert [(s["action"], s["name"]) for s in plan["steps"]] == [
        ("update", "web-in"), ("update", "dns-out")]
    assert plan["steps"][0]["after"] == {"ingress": {"0": {
        "action": "allow", "state": "enabled", "description": "http", "protocol": "tcp",
        "destination_port": "8080"}}}
    apply_ok(path)
    assert acl(lab, "web-in")["ingress"][0]["destination_port"] == "8080"
    assert_converged(path)

    # One made by hand is listed, never deleted.
    client_cmd(lab, "network", "acl", "create", "handmade")
    client_cmd(lab, "network", "acl", "rule", "add", "handmade", "ingress", "action=allow",
               "protocol=tcp", "destination_port=22")
    listed = cli("plan", "-f", path)
    assert 'network ACL handmade' in listed.stdout and "No changes." in listed.stdout, listed.stdout
    apply_ok(path)
    assert acl(lab, "handmade")["ingress"][0]["destination_port"] == "22"

    # The export plans empty; importing it adopts the hand-made ACL, rules intact.
    exported = workdir / "exported.yaml"
    done = cli("export", "-f", path, "-o", str(exported))
    assert done.returncode == 0, done.stderr
    entries = {(a.get("project", "default"), a["name"]): a
               for a in yaml.safe_load(exported.read_text())["network_acls"]}
    assert set(entries) == {("default", "web-in"), ("default", "dns-out"),
                            ("tenant", "tenant-in"), ("default", "handmade")}
    assert_converged(str(exported))
    done = cli("import", "-f", str(exported))
    assert done.returncode == 0, done.stderr
    handmade = acl(lab, "handmade")
    assert handmade["config"][MARK] == "true"
    assert handmade["ingress"][0]["destination_port"] == "22"
    assert_converged(str(exported))

    # Dropping an ACL (and its use): the bridge stops naming it first, then it is deleted.
    doc = copy.deepcopy(doc)
    doc["network_acls"] = [a for a in doc["network_acls"] if a["name"] != "dns-out"]
    if bridge:
        doc["networks"][0]["config"]["security.acls"] = "web-in"
    write(doc, Path(path))
    out = apply_ok(path)
    if bridge:
        assert out.index('done: update network "aclbr"') < out.index(
            'done: delete network ACL "dns-out"')
    assert out.count("done: delete network ACL") == 2  # dns-out and the adopted handmade
    names = [u.rsplit("/", 1)[-1] for u in query(lab, "/1.0/network-acls")]
    assert sorted(names) == ["web-in"]
    assert_converged(path)
