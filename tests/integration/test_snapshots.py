"""Declared snapshots of an instance and a custom volume on real LXD and Incus.

One 1-member lab per backend (module scope), one scenario per backend:
- one apply forms the cluster, creates an empty instance and a volume, then their snapshots,
  each name listed in its parent's ``user.lxdplan.snapshots``; the plan is then empty;
- a snapshot made by hand is listed as not lxdplan's and kept;
- a managed snapshot deleted outside lxdplan shows as a create, and apply takes it again;
- a changed ``expires_at`` is a plan error saying how to replace it;
- dropping a managed snapshot deletes it (and its name leaves the mark), the hand-made one stays;
- the export declares the managed snapshots on their parents and plans empty;
- import adopts the hand-made one once the file declares it (then dropping it deletes it);
- ``--restore``: a file written into a stopped container, snapshotted by hand, changed, comes
  back through a saved ``plan --restore … --out`` applied, and again with it running (it runs
  after); a volume restore keeps its mark; a missing snapshot is one sentence; the file's plan
  has no restore step.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from applykit import (
    apply_ok,
    assert_converged,
    changes,
    cli,
    client_cmd,
    instance_file,
    one_error,
    query,
    write,
)
from labkit import BACKENDS, lab_root, start_lab

from lxdplan import lab as labapi
from lxdplan.lab import labfile

OWNER_KEY = "user.lxdplan.snapshots"
VOL = "/1.0/storage-pools/data/volumes/custom/vol"


@pytest.fixture(scope="module", params=BACKENDS)
def snap_lab(request, tmp_path_factory):
    lab = start_lab(request.param, f"snp-{request.param}", 1)
    try:
        yield lab, tmp_path_factory.mktemp(f"snp-{request.param}")
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


def names(lab, path: str) -> set[str]:
    return {s["name"].rsplit("/", 1)[-1] for s in query(lab, f"{path}/snapshots?recursion=1")}


def mark(lab, path: str) -> set[str]:
    raw = (query(lab, path)["config"] or {}).get(OWNER_KEY, "")
    return {n for n in raw.split(",") if n}


def base_doc(lab) -> dict:
    m = lab.members[0]
    return {"version": 1, "backend": lab.backend,
            "cluster": {"members": [{"name": m.name, "address": m.address, "endpoint": m.endpoint}]},
            "storage_pools": [{"name": "data", "driver": "dir"}],
            "storage_volumes": [{"pool": "data", "name": "vol", "member": m.name,
                                 "snapshots": [{"name": "v1"}]}],
            "instances": [{"name": "box", "image": "none", "state": "stopped",
                           "devices": {"root": {"type": "disk", "path": "/", "pool": "data"}},
                           "snapshots": [{"name": "s1", "expires_at": "2030-01-01T00:00:00Z"},
                                         {"name": "s2"}]}]}


def test_snapshots_create_drift_unmanaged_immutable_delete_and_export(snap_lab):
    lab, workdir = snap_lab
    path = str(workdir / "lxdplan.yaml")
    doc = base_doc(lab)
    write(doc, Path(path))

    out = apply_ok(path)
    assert out.index('done: create instance "box"') < out.index('done: create snapshot "box/s1"'), out
    assert names(lab, "/1.0/instances/box") == {"s1", "s2"} == mark(lab, "/1.0/instances/box")
    assert names(lab, VOL) == {"v1"} == mark(lab, VOL)
    assert_converged(path)

    # Made by hand: listed, kept.
    client_cmd(lab, "query", "--wait", "-X", "POST", "/1.0/instances/box/snapshots",
               "--data", json.dumps({"name": "hand"}))
    listed = assert_converged(path)
    assert "box/hand" in listed, listed

    # A managed one deleted outside lxdplan: created again.
    client_cmd(lab, "query", "--wait", "-X", "DELETE", "/1.0/instances/box/snapshots/s2")
    assert changes(path) == [("create", "snapshot", "box/s2")]
    apply_ok(path)
    assert names(lab, "/1.0/instances/box") == {"s1", "s2", "hand"}

    # Never changed in place.
    changed = copy.deepcopy(doc)
    changed["instances"][0]["snapshots"][0]["expires_at"] = "2031-01-01T00:00:00Z"
    write(changed, Path(path))
    error = one_error(cli("plan", "-f", path))
    assert "snapshot box/s1 expires at" in error and "declare it under a new name" in error, error

    # Dropped: the managed one is deleted and leaves the mark; the hand-made one stays.
    dropped = copy.deepcopy(doc)
    dropped["instances"][0]["snapshots"] = [{"name": "s2"}]
    write(dropped, Path(path))
    out = apply_ok(path)
    assert 'done: delete snapshot "box/s1"' in out, out
    assert names(lab, "/1.0/instances/box") == {"s2", "hand"}
    assert mark(lab, "/1.0/instances/box") == {"s2"}
    assert_converged(path)

    # The export declares the managed ones on their parents and plans empty.
    exported = workdir / "exported.yaml"
    done = cli("export", "-f", path, "-o", str(exported))
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(exported.read_text())
    (box,) = [i for i in data["instances"] if i["name"] == "box"]
    (vol,) = [v for v in data["storage_volumes"] if v["name"] == "vol"]
    assert box["snapshots"] == [{"name": "s2"}] and vol["snapshots"] == [{"name": "v1"}]
    assert_converged(str(exported))

    # Declared, the hand-made one is adopted by import: its name joins the mark, and it is
    # lxdplan's from then on (dropped, it is deleted).
    dropped["instances"][0]["snapshots"] = [{"name": "s2"}, {"name": "hand"}]
    write(dropped, Path(path))
    done = cli("import", "-f", path)
    assert done.returncode == 0 and "snapshot box/hand" in done.stdout, done.stdout + done.stderr
    assert mark(lab, "/1.0/instances/box") == {"s2", "hand"}
    assert_converged(path)
    dropped["instances"][0]["snapshots"] = [{"name": "s2"}]
    write(dropped, Path(path))
    out = apply_ok(path)
    assert 'done: delete snapshot "box/hand"' in out, out
    assert names(lab, "/1.0/instances/box") == {"s2"}


def test_restore_an_instance_and_a_volume_to_a_snapshot(snap_lab):
    lab, workdir = snap_lab
    path = str(workdir / "restore.yaml")
    doc = base_doc(lab)
    doc["instances"][0]["snapshots"] = [{"name": "s2"}]
    # A container with a root filesystem (an empty one has none to write in on LXD 5.0.2); it
    # declares no snapshot: its snapshots are read because --restore names it.
    doc["images"] = [labfile.image_entry(lab)]
    doc["instances"].append({"name": "rbox", "image": "busybox", "state": "stopped",
                             "devices": {"root": {"type": "disk", "path": "/", "pool": "data"}}})
    write(doc, Path(path))
    apply_ok(path)
    content = workdir / "hello.txt"

    def push(text: str) -> None:
        content.write_text(text)
        client_cmd(lab, "file", "push", str(content), "rbox/root/hello.txt")

    push("before\n")
    client_cmd(lab, "query", "--wait", "-X", "POST", "/1.0/instances/rbox/snapshots",
               "--data", json.dumps({"name": "r1"}))
    push("after\n")
    assert instance_file(lab, "rbox", "/root/hello.txt").stdout == "after\n"

    missing = one_error(cli("plan", "-f", path, "--restore", "rbox/nope"))
    assert missing.startswith("--restore rbox/nope: instance rbox has no snapshot nope"), missing

    saved = str(workdir / "restore.plan")
    done = cli("plan", "-f", path, "--restore", "rbox/r1", "--out", saved)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'restore snapshot "rbox/r1"' in done.stdout, done.stdout
    assert "1 snapshot to restore" in done.stdout, done.stdout
    applied = cli("apply", saved)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert 'done: restore snapshot "rbox/r1"' in applied.stdout, applied.stdout
    assert instance_file(lab, "rbox", "/root/hello.txt").stdout == "before\n"

    # Running: both servers stop it, restore it and start it again, as the plan says.
    doc["instances"][1]["state"] = "running"
    write(doc, Path(path))
    apply_ok(path)
    push("after\n")
    out = apply_ok(path, "--restore", "rbox/r1")
    assert "it is running: the server stops it, restores it and starts it again" in out, out
    assert instance_file(lab, "rbox", "/root/hello.txt").stdout == "before\n"
    assert query(lab, "/1.0/instances/rbox")["status"] == "Running"

    out = apply_ok(path, "--restore", "data/vol/v1")
    assert 'done: restore snapshot "data/vol/v1"' in out, out
    assert mark(lab, VOL) == {"v1"}
    assert_converged(path)  # nothing is restored without the flag
