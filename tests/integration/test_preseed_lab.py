"""`convert-preseed` end to end: a standalone server's `init --dump` plus join preseeds, converted,
fitted to a fresh lab and applied, form the cluster the preseeds describe."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest
import yaml

from applykit import cli, client_cmd
from lxdplan import lab as labapi


def dump(lab) -> str:
    """`lxd init --dump` / `incus admin init --dump` of the lab's first member."""
    m = lab.members[0]
    argv = ["lxd", "init", "--dump"] if lab.backend == "lxd" else ["incus", "admin", "init", "--dump"]
    env = {**os.environ, ("LXD_DIR" if lab.backend == "lxd" else "INCUS_DIR"): m.daemon_dir}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=120, check=True)
    return done.stdout


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_dump_and_join_preseeds_form_the_cluster_they_describe(backend, make_lab, tmp_path):
    # A standalone server configured by hand, as an operator's existing one would be.
    source = make_lab(backend, members=1)
    node1 = source.members[0]
    src_dir = tmp_path / "data-node1"
    src_dir.mkdir()
    client_cmd(source, "config", "set", "core.https_address", node1.address)
    client_cmd(source, "storage", "create", "data", "dir", f"source={src_dir}")
    client_cmd(source, "network", "create", "br9", "ipv4.address=192.0.2.1/24", "ipv6.address=none",
               "ipv4.nat=false")
    (tmp_path / "node1.yaml").write_text(dump(source))
    joins = []
    for i, name in ((2, "node2"), (3, "node3")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(f"""\
            cluster:
              enabled: true
              server_name: {name}
              server_address: 10.250.0.{i}:8443
              cluster_address: {node1.address}
              cluster_token: not-a-real-token
              member_config:
              - {{entity: storage-pool, name: data, key: source, value: /srv/data-{name}}}
            """))
        joins.append(str(path))
    converted = tmp_path / "converted.yaml"
    done = cli("convert-preseed", str(tmp_path / "node1.yaml"), *joins, "--name", "node1",
               "--backend", backend, "-o", str(converted))
    assert done.returncode == 0, done.stderr
    assert "not-a-real-token" not in converted.read_text()
    doc = yaml.safe_load(converted.read_text())
    assert [m["name"] for m in doc["cluster"]["members"]] == ["node1", "node2", "node3"]
    assert doc["storage_pools"][0]["members"] == {
        "node1": {"source": str(src_dir)}, "node2": {"source": "/srv/data-node2"},
        "node3": {"source": "/srv/data-node3"},
    }
    assert cli("validate", "-f", str(converted)).returncode == 0

    # Applied to a fresh lab (addresses and dir sources fitted to it, as `lab up --from` does).
    target = make_lab(backend, members=3)
    fitted = labapi.labfile.write_lab_file(target, tmp_path / "fitted.yaml", template=doc)
    applied = cli("apply", "-f", str(fitted), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = cli("plan", "-f", str(fitted), "--detailed-exitcode")
    assert again.returncode == 0 and "No changes." in again.stdout, again.stdout + again.stderr

    members = json.loads(client_cmd(target, "cluster", "list", "--format", "json").stdout)
    assert sorted(m["server_name"] for m in members) == ["node1", "node2", "node3"]
    want = yaml.safe_load(fitted.read_text())["storage_pools"][0]["members"]
    for name, keys in want.items():
        shown = yaml.safe_load(client_cmd(target, "storage", "show", "data", "--target", name).stdout)
        assert shown["config"]["source"] == keys["source"] and shown["status"] == "Created"
    net = yaml.safe_load(client_cmd(target, "network", "show", "br9").stdout)
    assert net["config"]["ipv4.address"] == "192.0.2.1/24" and net["status"] == "Created"


def init_preseed(lab, member: int, path) -> subprocess.CompletedProcess:
    """What cloud-init runs on the joining machine: `lxd init --preseed` / `incus admin init --preseed`."""
    m = lab.members[member]
    argv = ["lxd", "init", "--preseed"] if lab.backend == "lxd" else ["incus", "admin", "init", "--preseed"]
    env = {**os.environ, ("LXD_DIR" if lab.backend == "lxd" else "INCUS_DIR"): m.daemon_dir}
    with open(path, "rb") as stdin:
        return subprocess.run(argv, env=env, stdin=stdin, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_join_preseed_joins_a_member_lxdplan_cannot_reach(backend, make_lab, tmp_path):
    lab = make_lab(backend)
    template = {
        "version": 1,
        "cluster": {"members": [{"name": f"node{i}", "address": "x"} for i in (1, 2, 3)]},
        "storage_pools": [{"name": "data", "driver": "dir",
                           "members": {f"node{i}": {"source": f"/d{i}"} for i in (1, 2, 3)}}],
    }
    full = labapi.labfile.write_lab_file(lab, tmp_path / "full.yaml", template=template)
    doc = yaml.safe_load(full.read_text())
    # node3 is declared, but lxdplan reaches it nowhere: its endpoint refuses connections.
    node3 = lab.members[2]
    doc["cluster"]["members"][2]["endpoint"] = f"https://{node3.ip}:9"
    declared = tmp_path / "lxdplan.yaml"
    declared.write_text(yaml.safe_dump(doc, sort_keys=False))
    two = yaml.safe_load(full.read_text())
    two["cluster"]["members"] = two["cluster"]["members"][:2]
    del two["storage_pools"][0]["members"]["node3"]
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(two, sort_keys=False))
    formed = cli("apply", "-f", str(tmp_path / "two.yaml"), "--auto-approve")
    assert formed.returncode == 0, formed.stdout + formed.stderr

    out = tmp_path / "node3-join.yaml"
    made = cli("join-preseed", "node3", "-f", str(declared), "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    preseed = yaml.safe_load(out.read_text())
    section = preseed["cluster"]
    token = section.get("cluster_token") or section.get("cluster_password")
    assert token and token not in made.stdout + made.stderr
    assert section["server_address"] == node3.address
    assert section["member_config"] == [{"entity": "storage-pool", "name": "data", "key": "source",
                                         "value": doc["storage_pools"][0]["members"]["node3"]["source"]}]
    joined = init_preseed(lab, 2, out)
    assert joined.returncode == 0, joined.stderr
    again = cli("plan", "-f", str(full), "--detailed-exitcode")
    assert again.returncode == 0 and "No changes." in again.stdout, again.stdout + again.stderr
    used = cli("join-preseed", "node3", "-f", str(full), "-o", str(tmp_path / "again.yaml"))
    assert used.returncode == 1 and "already belongs to the cluster" in used.stderr
