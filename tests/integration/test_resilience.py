"""apply survives what operators meet: an offline member, a SIGKILL anywhere, two applies at once.

Each scenario runs on a fresh lab per backend and ends with "plan shows no changes".
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from applykit import add_interface, cli, member_status, query, wait_for, walkthrough, write
from labkit import BACKENDS
from lxdplan.lab import host
from test_apply import apply_ok, assert_converged


def fresh_walkthrough(make_lab, backend: str, workdir: Path, **cluster_config):
    """A fresh unclustered lab, its uplink interfaces, and the walkthrough file for it."""
    lab = make_lab(backend)
    for i in range(len(lab.members)):
        add_interface(lab, i, "ext0")
    doc = walkthrough(lab, workdir)
    doc["cluster"]["config"].update(cluster_config)
    return lab, doc, write(doc, workdir / "lxdplan.yaml")


@pytest.mark.parametrize("backend", BACKENDS)
def test_offline_member_blocks_until_force_removed(backend, make_lab, tmp_path):
    lab, doc, path = fresh_walkthrough(make_lab, backend, tmp_path, **{"cluster.offline_threshold": 11})
    apply_ok(path)
    assert_converged(path)

    # node3 dies; once the cluster sees it Offline, it is dropped from the file without force.
    victim = lab.members[2]
    os.kill(victim.pid, signal.SIGKILL)
    host.wait_gone([victim.pid], 30)
    wait_for(lambda: member_status(lab, "node3") == "Offline", "node3 to be seen Offline", timeout=120)
    doc = copy.deepcopy(doc)
    doc["cluster"]["members"] = doc["cluster"]["members"][:2]
    for obj in doc["storage_pools"] + doc["networks"]:
        obj.get("members", {}).pop("node3", None)
    doc["storage_pools"].append({"name": "extra", "driver": "dir"})
    write(doc, Path(path))

    plan = cli("plan", "-f", path, "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    assert "blocked" in plan.stdout and "node3 is offline" in plan.stdout
    refused = cli("apply", "-f", path, "--auto-approve")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "blocked" in refused.stdout + refused.stderr
    assert member_status(lab, "node3") == "Offline"
    assert query(lab, "/1.0/storage-pools/extra?target=node1")["status"] != "Created"

    if backend == "lxd":  # allowed in the file
        doc["cluster"]["force_remove"] = ["node3"]
        write(doc, Path(path))
        out = apply_ok(path)
    else:  # allowed on the command line of a saved plan, which carries it to apply
        saved = str(tmp_path / "force.plan")
        planned = cli("plan", "-f", path, "--force-remove", "node3", "--out", saved)
        assert planned.returncode == 0 and "force-remove" in planned.stdout, planned.stderr
        done = cli("apply", saved, "--auto-approve")
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
    assert "force-remove" in out
    assert member_status(lab, "node3") == "absent"
    assert query(lab, "/1.0/storage-pools/extra")["status"] == "Created"
    assert_converged(path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_apply_killed_at_every_step_boundary_resumes(backend, make_lab, tmp_path):
    lab, _doc, path = fresh_walkthrough(make_lab, backend, tmp_path)

    def steps_left() -> int:
        plan = cli("plan", "-f", path, "--format", "json")
        assert plan.returncode == 0, plan.stderr
        return len(json.loads(plan.stdout)["steps"])

    left = steps_left()
    assert left > 10
    kills = 0
    while left:
        run = cli("apply", "-f", path, "--auto-approve", env={"LXDPLAN_TEST_KILL_AFTER_STEPS": "1"})
        if run.returncode == 0:
            break
        assert run.returncode == -signal.SIGKILL, run.stdout + run.stderr
        kills += 1
        now = steps_left()
        assert now < left, f"a killed apply made no progress ({left} steps left before, {now} after)"
        left = now
    assert kills >= 5
    assert_converged(path)
    assert sorted(m["server_name"] for m in query(lab, "/1.0/cluster/members?recursion=1")) == [
        "node1", "node2", "node3"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_apply_killed_mid_step_resumes(backend, make_lab, tmp_path):
    lab, _doc, path = fresh_walkthrough(make_lab, backend, tmp_path)
    # Kill while a step is in flight: wait for the "start:" line of a join, then SIGKILL.
    for marker in ("start: join member \"node2\"", "start: join member \"node3\"", "start: create"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "lxdplan", "apply", "-f", path, "--auto-approve"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        )
        try:
            for line in proc.stdout:
                if line.startswith(marker):
                    proc.kill()
                    break
        finally:
            proc.kill()
            proc.wait(timeout=60)
            proc.stdout.close()
    apply_ok(path)
    assert_converged(path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_applies_at_once_never_interleave(backend, make_lab, tmp_path):
    lab, _doc, path = fresh_walkthrough(make_lab, backend, tmp_path)
    argv = [sys.executable, "-m", "lxdplan", "apply", "-f", path, "--auto-approve"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0, outputs
    if codes[1] != 0:  # the loser must say why, in one sentence, and change nothing
        loser = outputs[[p.returncode for p in procs].index(codes[1])]
        assert "another lxdplan apply" in loser[1] or "locked by another apply" in loser[1], loser
        assert "Traceback" not in loser[1]
    assert_converged(path)

    # On the formed cluster: the cluster lock, held by a "dead" apply, is reported and breakable.
    from lxdplan.providers.lock import Holder
    now = time.time()
    stale = Holder("dead", "someone@elsewhere pid 1", now - 60, now + 3600).dump()
    from applykit import client_cmd
    client_cmd(lab, "config", "set", "user.lxdplan.lock", stale)
    doc = walkthrough(lab, tmp_path)
    doc["profiles"][1]["config"]["limits.memory"] = "128MiB"
    write(doc, Path(path))
    held = cli("apply", "-f", path, "--auto-approve")
    assert held.returncode == 1 and "locked by another apply (someone@elsewhere pid 1" in held.stderr
    apply_ok(path, "--break-lock")
    assert "user.lxdplan.lock" not in query(lab, "/1.0")["config"]
    assert_converged(path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_growing_the_cluster_joins_with_the_new_members_specific_keys(backend, make_lab, tmp_path):
    """Form with two members, then add the third: its join carries its own pool source and bridge
    uplink (member_config), and the cluster converges."""
    lab, doc, path = fresh_walkthrough(make_lab, backend, tmp_path)
    small = copy.deepcopy(doc)
    small["cluster"]["members"] = small["cluster"]["members"][:2]
    for obj in small["storage_pools"] + small["networks"]:
        obj.get("members", {}).pop("node3", None)
    apply_ok(write(small, Path(path)))
    assert member_status(lab, "node3") == "absent"
    assert_converged(path)

    plan = cli("plan", "-f", write(doc, Path(path)), "--detailed-exitcode")
    assert plan.returncode == 2 and 'member "node3"' in plan.stdout and "join" in plan.stdout
    apply_ok(path)
    assert member_status(lab, "node3") == "Online"
    pool = query(lab, "/1.0/storage-pools/data?target=node3")
    assert pool["status"] == "Created" and pool["config"]["source"] == str(tmp_path / "data-node3")
    net = query(lab, "/1.0/networks/lxdbr1?target=node3")
    assert net["config"]["bridge.external_interfaces"] == "ext0"
    assert_converged(path)
