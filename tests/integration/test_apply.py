"""`lxdplan apply` end to end on real LXD and Incus clusters; every scenario ends with an empty plan.

One walkthrough cluster per backend (module scope) carries the scenarios that build on each other
in file order: form it, repair drift, refuse a stale saved plan, evacuate/restore, remove a member.
A scenario that needs the formed cluster takes ``walked``, which applies the current document
first (a no-op in file order), so each one also runs alone with ``-k``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from applykit import (
    add_interface, apply_ok, assert_converged, cli, client_cmd, member_status, query, walkthrough, write,
)
from labkit import BACKENDS, start_lab


class Walk:
    """The module's cluster: the lab, the working file and the document it was written from."""

    def __init__(self, lab, workdir: Path):
        self.lab, self.workdir = lab, workdir
        self.doc = walkthrough(lab, workdir)
        self.path = str(workdir / "lxdplan.yaml")

    def write(self, doc: dict | None = None) -> str:
        if doc is not None:
            self.doc = doc
        return write(self.doc, Path(self.path))


@pytest.fixture(scope="module", params=BACKENDS)
def walk(request, tmp_path_factory):
    from labkit import lab_root
    from lxdplan import lab as labapi

    lab = start_lab(request.param, f"walk-{request.param}")
    try:
        for i in range(len(lab.members)):
            add_interface(lab, i, "ext0")
        yield Walk(lab, tmp_path_factory.mktemp(f"walk-{request.param}"))
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


@pytest.fixture
def walked(walk):
    """The cluster as the module's earlier tests left it, reached here when they did not run
    (``-k``): the current document is applied. Apply is level-based: in file order the cluster
    already matches it and nothing changes."""
    apply_ok(walk.write())
    return walk


def test_walkthrough_forms_the_cluster(walk):
    out = apply_ok(walk.write())
    assert "bootstrap" in out and "join" in out
    assert_converged(walk.path)
    lab = walk.lab
    members = {m["server_name"]: m for m in query(lab, "/1.0/cluster/members?recursion=1")}
    assert sorted(members) == ["node1", "node2", "node3"]
    assert all(m["status"] == "Online" for m in members.values())
    assert members["node1"]["failure_domain"] == "rack1" and members["node3"]["failure_domain"] == "rack2"
    assert "fast" in members["node1"]["groups"] and members["node1"]["description"] == "first member"
    for i, m in enumerate(lab.members):
        pool = query(lab, f"/1.0/storage-pools/data?target={m.name}")
        assert pool["status"] == "Created" and pool["config"]["source"] == str(walk.workdir / f"data-{m.name}")
        net = query(lab, f"/1.0/networks/lxdbr1?target={m.name}")
        assert net["status"] == "Created" and net["config"]["bridge.external_interfaces"] == "ext0"
    volumes = query(lab, "/1.0/storage-pools/data/volumes/custom?recursion=1")
    assert sorted(v["location"] for v in volumes if v["name"] == "web") == ["node1", "node2"]
    assert query(lab, "/1.0/projects/staging")["config"]["features.images"] == "false"
    assert query(lab, "/1.0/profiles/web")["devices"]["eth1"]["parent"] == "lxdbr1"
    server = query(lab, "/1.0")["config"]
    assert server["images.auto_update_interval"] == "15" and server["cluster.images_minimal_replica"] == "1"


@pytest.mark.usefixtures("walked")
def test_drift_made_by_hand_is_repaired(walk):
    lab = walk.lab
    client_cmd(lab, "config", "set", "images.auto_update_interval", "30")
    client_cmd(lab, "profile", "set", "web", "user.added", "by-hand")
    client_cmd(lab, "network", "set", "lxdbr0", "ipv4.nat", "true")
    plan = cli("plan", "-f", walk.path, "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    for expected in ("images.auto_update_interval", "user.added", "ipv4.nat"):
        assert expected in plan.stdout
    apply_ok(walk.path)
    assert_converged(walk.path)
    assert query(lab, "/1.0")["config"]["images.auto_update_interval"] == "15"
    assert "user.added" not in query(lab, "/1.0/profiles/web")["config"]
    assert query(lab, "/1.0/networks/lxdbr0")["config"]["ipv4.nat"] == "false"


@pytest.mark.usefixtures("walked")
def test_saved_plan_is_refused_when_the_cluster_moved_on(walk):
    doc = copy.deepcopy(walk.doc)
    doc["profiles"][1]["config"]["limits.memory"] = "256MiB"
    walk.write(doc)
    saved = str(walk.workdir / "change.plan")
    plan = cli("plan", "-f", walk.path, "--out", saved, "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    client_cmd(walk.lab, "profile", "set", "default", "user.meddled", "yes")
    refused = cli("apply", saved, "--auto-approve")
    assert refused.returncode == 1
    assert "saved plan is stale" in refused.stderr and "Traceback" not in refused.stderr
    # Keys the file leaves out (README): a value someone set is removed (lxdbr0's ipv4.nat
    # "false"), a built-in object's description is kept (the default profile's).
    del doc["networks"][0]["config"]["ipv4.nat"]
    del doc["profiles"][0]["description"]
    walk.write(doc)
    fresh = str(walk.workdir / "fresh.plan")
    planned = cli("plan", "-f", walk.path, "--out", fresh)
    assert planned.returncode == 0 and 'config["ipv4.nat"] = "false"' in planned.stdout
    assert "description" not in planned.stdout, planned.stdout
    done = cli("apply", fresh)  # a saved plan was reviewed: no --auto-approve, no terminal
    assert done.returncode == 0, done.stdout + done.stderr
    assert query(walk.lab, "/1.0/profiles/web")["config"]["limits.memory"] == "256MiB"
    assert "ipv4.nat" not in query(walk.lab, "/1.0/networks/lxdbr0")["config"]
    assert query(walk.lab, "/1.0/profiles/default")["description"] == "Default profile"
    assert_converged(walk.path)


def test_evacuate_then_restore_through_state(walk):
    doc = copy.deepcopy(walk.doc)
    doc["cluster"]["members"][2]["state"] = "evacuated"
    apply_ok(walk.write(doc))
    assert member_status(walk.lab, "node3") == "Evacuated"
    assert_converged(walk.path)
    doc["cluster"]["members"][2].pop("state")
    apply_ok(walk.write(doc))
    assert member_status(walk.lab, "node3") == "Online"
    assert_converged(walk.path)


@pytest.mark.usefixtures("walked")
def test_member_dropped_from_the_file_is_removed_gracefully(walk):
    doc = copy.deepcopy(walk.doc)
    doc["cluster"]["members"] = doc["cluster"]["members"][:2]
    for obj in doc["storage_pools"] + doc["networks"]:
        obj.get("members", {}).pop("node3", None)
    plan = cli("plan", "-f", walk.write(doc), "--detailed-exitcode")
    assert plan.returncode == 2 and "remove" in plan.stdout
    apply_ok(walk.path)
    assert member_status(walk.lab, "node3") == "absent"
    assert_converged(walk.path)
