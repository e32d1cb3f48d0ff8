"""apply survives what operators meet: an offline member, a SIGKILL at any moment, two applies at once.

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
import yaml

import hooked
from applykit import (
    add_interface, apply_ok, assert_converged, cli, member_status, query, wait_for, walkthrough, write,
)
from labkit import BACKENDS
from lxdplan.lab import host
from lxdplan.lab.labfile import image_entry


def lock_free(lab, member: int = 0) -> bool:
    """No apply holds the cluster lock: no profile lxdplan-lock (nor a take-over claim)."""
    names = [u.rsplit("/", 1)[-1].split("?")[0] for u in query(lab, "/1.0/profiles", member=member)]
    return not any(n.startswith("lxdplan-lock") for n in names)


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
    doc["images"] = [image_entry(lab)]
    # c8: stopped (this lab's containers cannot be frozen, which a running one's snapshot needs)
    doc["instances"] = [{"name": "c9", "image": "busybox", "member": "node3"},
                        {"name": "c8", "image": "none", "member": "node3", "state": "stopped",
                         "snapshots": [{"name": "s1"}]}]
    path = write(doc, Path(path))
    apply_ok(path)
    assert_converged(path)
    assert query(lab, "/1.0/instances/c9")["location"] == "node3"
    assert [s["name"] for s in query(lab, "/1.0/instances/c8/snapshots?recursion=1")] == ["s1"]

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
    doc["instances"][0].pop("member")  # c9 may run anywhere now
    doc["instances"][1].pop("member")
    write(doc, Path(path))

    plan = cli("plan", "-f", path, "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    assert "blocked" in plan.stdout and "node3 is offline" in plan.stdout
    # c8's snapshots are not read there (its member is offline): a note, not a failed plan.
    assert "snapshots of instance c8 are not read: node3 is offline" in plan.stdout + plan.stderr
    refused = cli("apply", "-f", path, "--auto-approve")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "blocked" in refused.stdout + refused.stderr
    assert member_status(lab, "node3") == "Offline"
    assert query(lab, "/1.0/storage-pools/extra?target=node1")["status"] != "Created"

    if backend == "lxd":  # allowed in the file
        doc["cluster"]["force_remove"] = ["node3"]
        write(doc, Path(path))
        shown = cli("plan", "-f", path).stdout
        out = apply_ok(path)
    else:  # allowed on the command line of a saved plan, which carries it to apply
        saved = str(tmp_path / "force.plan")
        planned = cli("plan", "-f", path, "--force-remove", "node3", "--out", saved)
        assert planned.returncode == 0 and "force-remove" in planned.stdout, planned.stderr
        shown = planned.stdout
        done = cli("apply", saved, "--auto-approve")
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
    assert "force-remove" in out
    (lost,) = [line for line in shown.splitlines() if "the cluster forgets what lived only there" in line]
    assert "instance c9" in lost and "instance c8" in lost, lost
    assert member_status(lab, "node3") == "absent"
    c9 = query(lab, "/1.0/instances/c9")  # forgotten with node3, created again in the same apply
    assert c9["location"] in ("node1", "node2") and c9["status"] == "Running"
    assert [s["name"] for s in query(lab, "/1.0/instances/c8/snapshots?recursion=1")] == ["s1"]
    assert query(lab, "/1.0/storage-pools/extra")["status"] == "Created"
    assert_converged(path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_evacuated_member_that_died_is_removed_with_force_when_allowed(backend, make_lab, tmp_path):
    """LXD lists an evacuated member Evacuated even once it is dead: the graceful removal fails
    (the leader cannot reach it), and with force_remove lxdplan then removes it with force."""
    lab = make_lab(backend)
    doc = yaml.safe_load(Path(lab.file).read_text())
    doc["cluster"]["config"] = {"cluster.offline_threshold": 11}
    doc["cluster"]["members"][2]["state"] = "evacuated"
    path = write(doc, tmp_path / "lxdplan.yaml")
    apply_ok(path)
    assert member_status(lab, "node3") == "Evacuated"

    victim = lab.members[2]
    os.kill(victim.pid, signal.SIGKILL)
    host.wait_gone([victim.pid], 30)
    doc["cluster"]["members"] = doc["cluster"]["members"][:2]
    doc["cluster"]["force_remove"] = ["node3"]
    write(doc, Path(path))
    plan = cli("plan", "-f", path)
    assert plan.returncode == 0 and "or with force if the cluster cannot reach it" in plan.stdout, plan.stderr
    apply_ok(path)
    assert member_status(lab, "node3") == "absent"
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
        run = subprocess.run(hooked.argv("lxdplan", "apply", "-f", path, "--auto-approve"),
                             env={**os.environ, hooked.KILL_AFTER: "1"}, capture_output=True,
                             text=True, stdin=subprocess.DEVNULL, timeout=600)
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


# Where each successive apply of the walkthrough is killed: at the n-th output line starting with
# the text. Before any step, right after the bootstrap (the cluster lock just taken), inside a
# step, inside a join, right after a join (before the joined member's attributes are set), and
# between later steps. Each next apply resumes from what its predecessor left.
KILL_AT = [("lxdplan will perform", 1), ("done: bootstrap", 1), ("start:", 2),
           ("start: join member", 1), ("done: join member", 1), ("start:", 3), ("done:", 2)]


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


@pytest.mark.parametrize("backend", BACKENDS)
def test_apply_killed_at_any_moment_is_resumed_at_once_while_the_killed_one_is_unreaped(
        backend, make_lab, tmp_path):
    """Issue 7 item 6: SIGKILL at several moments (driven by the progress output), and the next
    apply starts at once while the killed process is still a zombie holding the cluster lock."""
    lab, _doc, path = fresh_walkthrough(make_lab, backend, tmp_path)
    argv = [sys.executable, "-m", "lxdplan", "apply", "-f", path, "--auto-approve"]
    killed: list[subprocess.Popen] = []
    try:
        for text, nth in KILL_AT:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True)
            killed.append(proc)
            seen, lines = 0, []
            for line in proc.stdout:
                lines.append(line)
                seen += line.startswith(text)
                if seen == nth:
                    proc.kill()
                    break
            output = "".join(lines)
            assert "Traceback" not in output and "error:" not in output, output
            if seen < nth:  # it finished before that moment: then it must have succeeded
                assert proc.wait(timeout=600) == 0, output
                continue
            # Wait until it has died without reaping it (WNOWAIT): it stays a zombie.
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            assert proc.returncode is None and _zombie(proc.pid)
        unreaped = [p for p in killed if p.returncode is None]
        assert len(unreaped) >= 5 and all(_zombie(p.pid) for p in unreaped)
        out = apply_ok(path)  # the zombies are still there: a dead holder's lock is taken over
        assert all(_zombie(p.pid) for p in unreaped)
        assert "Apply complete" in out or "No changes" in out
        assert_converged(path)
        assert sorted(m["server_name"] for m in query(lab, "/1.0/cluster/members?recursion=1")) == [
            "node1", "node2", "node3"]
        assert lock_free(lab)  # free again
    finally:
        for proc in killed:
            proc.kill()
            proc.wait(timeout=60)
            proc.stdout.close()


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


    # On the formed cluster the lock is the profile lxdplan-lock while an apply holds it: none
    # between applies.
    assert lock_free(lab)

    # Two applies as from two hosts (separate host-lock dirs) meet at the cluster lock: at most
    # one of them carries out steps.
    doc = walkthrough(lab, tmp_path)
    doc["profiles"][1]["config"]["limits.memory"] = "128MiB"
    write(doc, Path(path))
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL,
                              env={**os.environ, "LXDPLAN_LOCK_DIR": str(tmp_path / f"host{i}")})
             for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert sum(1 for out, _err in outputs if "start: update profile" in out) == 1, outputs
    for (out, err), proc in zip(outputs, procs):
        assert "Traceback" not in err
        if proc.returncode != 0:
            assert "the cluster is locked by another apply" in err, err
        else:
            assert "Apply complete" in out or "No changes" in out, out
    assert_converged(path)

    # A lock held by an apply elsewhere is reported and breakable; an earlier version's server
    # key user.lxdplan.lock is ignored.
    from lxdplan.providers.lock import Holder
    from applykit import client_cmd
    now = time.time()
    stale = Holder("dead", "someone@elsewhere pid 1", now - 60, now + 3600, "elsewhere", 1).dump()
    client_cmd(lab, "config", "set", "user.lxdplan.lock", stale)
    client_cmd(lab, "query", "-X", "POST", "/1.0/profiles", "--data",
               json.dumps({"name": "lxdplan-lock", "description": stale}))
    for command in (("plan", "-f", path), ("status", "-f", path), ("export", "-f", path)):
        shown = cli(*command)  # the held lock is invisible to plan, status and export
        assert shown.returncode == 0 and "lxdplan-lock" not in shown.stdout + shown.stderr, shown
        if command[0] == "plan":  # but plan says that an apply holds it, who, since when
            assert ("warning: another apply holds the cluster lock (someone@elsewhere pid 1, "
                    "since ") in shown.stderr and "may be out of date" in shown.stderr, shown
    doc["profiles"][1]["config"]["limits.memory"] = "256MiB"
    write(doc, Path(path))
    held = cli("apply", "-f", path, "--auto-approve")
    assert held.returncode == 1 and "locked by another apply (someone@elsewhere pid 1" in held.stderr
    assert query(lab, "/1.0/profiles/web")["config"]["limits.memory"] == "128MiB"
    apply_ok(path, "--break-lock")
    assert lock_free(lab)
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_members_attributes_change_in_the_apply_that_grows_the_cluster(backend, make_lab, tmp_path):
    """Issue 7 item 5: node3's join makes LXD promote node2 to a database voter, which moves
    the ETag of node2 read at plan time; node2's update must still go through."""
    lab, doc, path = fresh_walkthrough(make_lab, backend, tmp_path)
    small = copy.deepcopy(doc)
    small["cluster"]["members"] = small["cluster"]["members"][:2]
    for obj in small["storage_pools"] + small["networks"]:
        obj.get("members", {}).pop("node3", None)
    apply_ok(write(small, Path(path)))
    roles_before = _member(lab, "node2")["roles"]

    doc["cluster"]["members"][1].update(description="second member", failure_domain="rack9")
    plan = cli("plan", "-f", write(doc, Path(path)))
    assert "join" in plan.stdout and "second member" in plan.stdout, plan.stdout
    apply_ok(path)
    node2 = _member(lab, "node2")
    assert node2["roles"] != roles_before  # LXD rebalanced it during this apply
    assert node2["description"] == "second member" and node2["failure_domain"] == "rack9"
    assert member_status(lab, "node3") == "Online"
    assert_converged(path)


def _member(lab, name: str) -> dict:
    return next(m for m in query(lab, "/1.0/cluster/members?recursion=1") if m["server_name"] == name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_removing_the_last_member_able_to_lead(backend, make_lab, tmp_path):
    """Issue 7 item 4. With cluster.max_standby 0, node2 of a 2-member cluster is a spare (no
    database role). LXD 5.0.2 removes node1, the only voter, anyway and loses the cluster's
    database: the plan blocks it, naming why. Incus 6.0.4 promotes the spare: the removal runs."""
    lab = make_lab(backend, members=2)
    doc = yaml.safe_load(Path(lab.file).read_text())
    doc["cluster"].setdefault("config", {})["cluster.max_standby"] = "0"
    path = write(doc, tmp_path / "lxdplan.yaml")
    apply_ok(path)
    assert _member(lab, "node1")["database"] and not _member(lab, "node2")["database"]

    doc["cluster"]["members"] = doc["cluster"]["members"][1:]
    write(doc, Path(path))
    if backend == "incus":
        apply_ok(path)
        assert member_status(lab, "node1", via=1) == "absent"
        assert member_status(lab, "node2", via=1) == "Online"
        assert_converged(path)
        return
    reason = "removing node1 would take away the last database member able to lead"
    plan = cli("plan", "-f", path, "--detailed-exitcode")
    assert plan.returncode == 2 and reason in plan.stdout and "blocked" in plan.stdout
    refused = cli("apply", "-f", path, "--auto-approve")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert reason in refused.stdout and "1 blocked" in refused.stderr
    assert member_status(lab, "node1") == "Online" and member_status(lab, "node2", via=1) == "Online"
    assert lock_free(lab, member=1)


# Kills inside a request the server carries on with: read from the --debug request log, each
# line written when a request ends. The instantiate's POST follows its re-read at once and runs
# about 0.6 s (a bridge on every member); a join's PUT /1.0/cluster answers 202 at once and the
# join goes on inside the joining member's daemon. In plan order: the members join first, then
# the pools and networks are made on all of them (``planner.members.choose_order``).
KILL_DURING = [
    ('start: join member "node2"', "debug: node2 PUT /1.0/cluster -> 202"),
    ('start: join member "node3"', "debug: node3 PUT /1.0/cluster -> 202"),
    ('start: instantiate network "lxdbr1"', "debug: node1 GET /1.0/networks/lxdbr1 -> 200"),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_apply_killed_during_an_instantiate_and_during_joins_is_rerun_at_once(
        backend, make_lab, tmp_path):
    """Issue 16 item 2: SIGKILL while node2 and while node3 join (each join goes on inside the
    joining daemon), then while a network is being instantiated, each time running apply
    again at once; the last run converges, with nothing left Pending or Errored."""
    lab, _doc, path = fresh_walkthrough(make_lab, backend, tmp_path)
    argv = [sys.executable, "-m", "lxdplan", "--debug", "apply", "-f", path, "--auto-approve"]
    outputs = []
    for started, moment in KILL_DURING:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True)
        lines, inside, killed = [], False, False
        for line in proc.stdout:
            lines.append(line)
            inside = inside or line.startswith(started)
            if inside and line.startswith(moment):
                proc.kill()
                killed = True
                break
        lines += proc.stdout.readlines() if not killed else []
        proc.stdout.close()
        code = proc.wait(timeout=600)
        output = "".join(lines)
        outputs.append(output)
        assert "Traceback" not in output and "blocked:" not in output, output
        if not killed:  # the moment never came (done earlier): the run itself must have converged
            assert code == 0, output
    out = apply_ok(path)
    assert "already belongs" not in out
    assert_converged(path)
    assert sorted(m["server_name"] for m in query(lab, "/1.0/cluster/members?recursion=1")) == [
        "node1", "node2", "node3"]
    assert all(m["status"] == "Online" for m in query(lab, "/1.0/cluster/members?recursion=1"))
    for collection in ("networks", "storage-pools"):
        for obj in query(lab, f"/1.0/{collection}?recursion=1"):
            assert obj.get("status", "Created") == "Created" or not obj.get("managed", True), obj
