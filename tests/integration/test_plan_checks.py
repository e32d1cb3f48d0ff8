"""What a plan must say before apply trips over it, on real LXD and Incus clusters (issue 16
items 6, 7 and 8). One 2-member lab per backend (module scope), formed by ``checked`` (the
current document applied: a no-op when the tests before did it), in file order:

- node2 holds a managed custom volume and leaves: its volume is deleted first, in one apply;
  an unmanaged volume on it blocks the removal, named, until it is gone;
- ``lxdbr0`` is dropped while the default profile, not in the file, uses it: the delete is
  blocked naming the profile, and apply leaves the network alone;
- a client the cluster does not trust, then a cluster whose daemons are all down: plan and
  status exit 1 saying the cluster's state is unknown, never "no cluster exists yet".
"""

from __future__ import annotations

import copy
import os
import re
import signal
from pathlib import Path

import pytest

from applykit import apply_ok, cli, client_cmd, one_error, query, write
from labkit import BACKENDS, lab_root, start_lab
from lxdplan import lab as labapi
from lxdplan.lab import host
from lxdplan.lab.labfile import lab_document
from lxdplan.providers.certs import fingerprint
from lxdplan.providers.client import probe_certificate


class Checks:
    def __init__(self, lab, workdir: Path):
        self.lab, self.workdir = lab, workdir
        self.path = str(workdir / "lxdplan.yaml")
        doc = lab_document(lab)
        doc.pop("images", None)
        doc["profiles"] = []  # the default profile stays LXD's, outside the file
        doc["storage_pools"].append({"name": "data", "driver": "dir"})
        doc["storage_volumes"] = [{"pool": "data", "name": "web", "member": "node2"}]
        self.doc = doc

    def write(self, doc: dict | None = None, path: str | None = None) -> str:
        if doc is not None and path is None:
            self.doc = doc
        return write(doc if doc is not None else self.doc, Path(path or self.path))


@pytest.fixture(scope="module", params=BACKENDS)
def checks(request, tmp_path_factory):

    lab = start_lab(request.param, f"chk-{request.param}", 2)
    try:
        yield Checks(lab, tmp_path_factory.mktemp(f"chk-{request.param}"))
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


@pytest.fixture
def checked(checks):
    apply_ok(checks.write())
    return checks


def _volumes(lab) -> list[tuple[str, str]]:
    return sorted((v["name"], v.get("location", "")) for v in
                  query(lab, "/1.0/storage-pools/data/volumes?recursion=1") if v["type"] == "custom")


def test_a_leaving_members_volume_is_deleted_before_the_member_is_removed(checked):
    c = checked
    assert ("web", "node2") in _volumes(c.lab)
    client_cmd(c.lab, "storage", "volume", "create", "data", "tmp", "--target", "node2")
    dropped = copy.deepcopy(c.doc)
    dropped["cluster"]["members"] = dropped["cluster"]["members"][:1]
    dropped["storage_volumes"] = []
    plan = cli("plan", "-f", c.write(dropped), "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    assert ("node2 still holds storage volume data/tmp (not managed by lxdplan), and LXD does not "
            "remove a member that holds it: delete or move it yourself") in plan.stdout
    client_cmd(c.lab, "storage", "volume", "delete", "data", "tmp", "--target", "node2")
    plan = cli("plan", "-f", c.path)
    order = [line for line in plan.stdout.splitlines() if "data/web" in line or "node2" in line]
    assert "blocked" not in plan.stdout, plan.stdout
    assert order and "data/web" in order[0], plan.stdout  # the volume's delete comes first
    apply_ok(c.path)
    assert [m["server_name"] for m in query(c.lab, "/1.0/cluster/members?recursion=1")] == ["node1"]
    assert _volumes(c.lab) == []
    again = cli("plan", "-f", c.path, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_network_the_undeclared_default_profile_uses_is_not_deleted(checked):
    c = checked
    client_cmd(c.lab, "profile", "device", "add", "default", "eth0", "nic", "network=lxdbr0",
               "name=eth0")
    try:
        dropped = copy.deepcopy(c.doc)
        dropped["networks"] = []
        path = c.write(dropped, str(c.workdir / "no-bridge.yaml"))
        why = ("network lxdbr0 is still used by profile default, which the file does not declare: "
               "stop it using lxdbr0 first, or keep lxdbr0 in the file")
        plan = cli("plan", "-f", path)
        assert plan.returncode == 0 and why in plan.stdout, plan.stdout + plan.stderr
        applied = cli("apply", "-f", path, "--auto-approve")
        assert applied.returncode == 1 and why in applied.stdout, applied.stdout + applied.stderr
        assert "lxdbr0" in [n["name"] for n in query(c.lab, "/1.0/networks?recursion=1")]
    finally:
        client_cmd(c.lab, "profile", "device", "remove", "default", "eth0")


def test_a_client_the_cluster_does_not_trust_learns_nothing_and_says_so(checked):
    c = checked
    doc = copy.deepcopy(c.doc)
    for m in doc["cluster"]["members"]:
        m["endpoint"] = f"https://{m['address']}"
        m["fingerprint"] = fingerprint(probe_certificate(m["endpoint"]))
    path = c.write(doc, str(c.workdir / "https.yaml"))
    env = {"LXDPLAN_CONFIG_DIR": str(c.workdir / "stranger")}
    for command in (["plan", "--detailed-exitcode"], ["status"]):
        message = one_error(cli(*command, "-f", path, env=env))
        assert message.startswith("the cluster's state is unknown"), message
        first = doc["cluster"]["members"][0]["name"]
        # "node1 does not trust …", or "node1 and node2 do not trust …" when node2 answers too
        assert re.search(rf"\b{first}(?:(?:, | and )[\w-]+)* do(?:es)? not trust lxdplan's client "
                         "certificate", message), message
        assert f"`lxdplan auth trust -f {path}`" in message and "no cluster exists" not in message


def test_a_cluster_whose_daemons_are_all_down_is_unknown_not_new(checked):
    """Last in the file: the lab's daemons stay down."""
    c = checked
    for m in c.lab.members:
        if m.pid and host.pid_alive(m.pid):
            os.kill(m.pid, signal.SIGKILL)
    host.wait_gone([m.pid for m in c.lab.members if m.pid], 30)
    for command in (["plan", "--detailed-exitcode"], ["status"]):
        message = one_error(cli(*command, "-f", c.path))
        assert message.startswith("the cluster's state is unknown"), message
        assert "cannot reach member node1" in message and "no cluster exists" not in message
