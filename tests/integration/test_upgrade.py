"""A member Blocked by an upgrade, for real (issue 12): status and plan name it in its server's
words and finish without waiting on it; apply does what needs no member; after the upgrade the
cluster converges.

The block is made by ``upgradekit.blocked_member`` on a fresh lab per test and backend: the other
members' schema is lowered in the cluster database and node2 restarted, so node2 waits for them
and holds every request, as a member restarted on a newer version does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from applykit import apply_ok, assert_converged, cli, query, write
from labkit import BACKENDS
from upgradekit import blocked_member


def base_doc(lab) -> dict:
    return {
        "version": 1,
        "backend": lab.backend,
        "cluster": {"members": [{"name": m.name, "address": m.address, "endpoint": m.endpoint}
                                for m in lab.members]},
    }


def upgraded_doc(lab, workdir: Path) -> dict:
    """The base file plus what the block meets: a profile and a project (need no member), a pool
    (defines on each member, then an instantiate that needs every member) and a cluster-wide
    server key."""
    doc = base_doc(lab)
    doc["cluster"]["config"] = {"images.auto_update_interval": "30"}
    sources = {}
    for m in lab.members:
        source = workdir / f"fast-{m.name}"
        source.mkdir(parents=True, exist_ok=True)  # LXD wants it to exist, Incus empty
        sources[m.name] = {"source": str(source)}
    doc["storage_pools"] = [{"name": "fast", "driver": "dir", "members": sources}]
    doc["profiles"] = [{"name": "web", "description": "web tier", "config": {"limits.cpu": "1"}}]
    doc["projects"] = [{"name": "staging", "description": "staging workloads"}]
    return doc


def formed(make_lab, backend: str, workdir: Path):
    lab = make_lab(backend)
    path = write(base_doc(lab), workdir / "lxdplan.yaml")
    apply_ok(path)
    return lab, path


def rows(text: str) -> dict[str, str]:
    return {line.split()[0]: line for line in text.splitlines() if line.strip()}


def expected_reason(backend: str) -> str:
    if backend == "incus":
        return ("node2 does not serve its API (it runs a newer version and waits until node1 and "
                "node3, Blocked, are upgraded)")
    return "node2 does not serve its API (it holds every request, as an upgraded member waiting"


@pytest.mark.parametrize("backend", BACKENDS)
def test_status_and_plan_name_the_member_that_does_not_serve(backend, make_lab, tmp_path):
    lab, path = formed(make_lab, backend, tmp_path)
    server = query(lab, "/1.0")
    version = server["environment"]["server_version"]
    level = len(server["api_extensions"])
    write(upgraded_doc(lab, tmp_path), Path(path))

    with blocked_member(lab, "node2"):
        started = time.monotonic()
        status = cli("status", "-f", path)
        status_s = time.monotonic() - started
        assert status.returncode == 0, status.stderr
        assert "Traceback" not in status.stderr
        members = rows(status.stdout)
        assert "Not serving !" in members["node2"]
        assert "answered nothing to GET /1.0 within 5 s" in members["node2"]
        for other in ("node1", "node3"):
            assert f" {version} " in members[other] and f" {level} " in members[other]
            word = "Blocked !" if backend == "incus" else "Online"
            assert word in members[other], status.stdout
        assert expected_reason(backend) in status.stdout
        assert "Upgrading: upgrade the remaining members to the same version" in status.stdout

        started = time.monotonic()
        plan = cli("plan", "-f", path, "--format", "json", "--detailed-exitcode")
        plan_s = time.monotonic() - started
        assert plan.returncode == 2, plan.stderr
        steps = {s["id"]: s for s in json.loads(plan.stdout)["steps"]}
        free = ["profile/web/create", "project/staging/create",
                "storage_pool/fast/define/node1", "storage_pool/fast/define/node3"]
        held = ["storage_pool/fast/define/node2", "storage_pool/fast/instantiate",
                "server/config/update"]
        assert all(steps[s]["blocked"] is None for s in free), plan.stdout
        for sid in held:
            assert expected_reason(backend) in steps[sid]["blocked"], steps[sid]
        diagnostics = json.loads(plan.stdout)["diagnostics"]
        assert any(expected_reason(backend) in d for d in diagnostics), diagnostics
    print(f"{backend}: status {status_s:.1f} s, plan {plan_s:.1f} s with node2 not serving")

    # The member serves again: nothing is blocked any more.
    plan = cli("plan", "-f", path, "--format", "json")
    assert plan.returncode == 0, plan.stderr
    assert all(s["blocked"] is None for s in json.loads(plan.stdout)["steps"]), plan.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_apply_does_what_needs_no_member_then_converges_after_the_upgrade(
        backend, make_lab, tmp_path):
    lab, path = formed(make_lab, backend, tmp_path)
    before = {i: query(lab, "/1.0", member=i)["config"] for i in range(3)}
    write(upgraded_doc(lab, tmp_path), Path(path))

    with blocked_member(lab, "node2"):
        done = cli("apply", "-f", path, "--auto-approve")
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "Traceback" not in done.stderr
        assert f'blocked: instantiate storage pool "fast": {expected_reason(backend)}' in output
        assert f"blocked: update server config: {expected_reason(backend)}" in output
        assert query(lab, "/1.0/profiles/web")["config"]["limits.cpu"] == "1"
        assert query(lab, "/1.0/projects/staging")["description"] == "staging workloads"
        assert query(lab, "/1.0/storage-pools/fast")["status"] == "Pending"
        for i in (0, 2):  # the defines of the members that serve were made
            member = lab.members[i].name
            view = query(lab, f"/1.0/storage-pools/fast?target={member}", member=i)
            assert view["config"]["source"].endswith(f"fast-{member}"), view
        for i in (0, 2):
            assert query(lab, "/1.0", member=i)["config"] == before[i]

    assert query(lab, "/1.0", member=1)["config"] == before[1]
    apply_ok(path)
    assert_converged(path)
    assert query(lab, "/1.0")["config"]["images.auto_update_interval"] == "30"
