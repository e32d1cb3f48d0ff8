"""Faults during a join (issue 17's matrix): a daemon killed mid-join, an expired join token.

Each case forms a cluster from the lab's own file (node1 bootstraps, node2 and node3 join) and
strikes while node3 joins, at a moment read from apply's ``--debug`` request log (one line per
request, written when it ends): the join's ``PUT /1.0/cluster`` answered 202 means the join task
runs inside node3's daemon; the token's ``POST /1.0/cluster/members`` answered means it was
minted. Then the daemon is restarted (where one was killed) and apply runs again: it must
converge, with every member Online and nothing Pending or Errored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from applykit import cli, client_cmd, query, wait_for, write
from labkit import BACKENDS
from lxdplan.errors import LabError
from lxdplan.lab import host, restart_member

JOIN_SENT = "debug: node3 PUT /1.0/cluster -> 202"
TOKEN_MINTED = "debug: node1 POST /1.0/cluster/members -> 202"


def lab_file(lab, workdir: Path, **cluster_config) -> str:
    doc = yaml.safe_load(Path(lab.file).read_text())
    doc.pop("images", None)  # not what these cases are about; an import costs seconds
    doc["cluster"]["config"] = dict(cluster_config)
    return write(doc, workdir / "lxdplan.yaml")


def apply_until(path: str, moment: str) -> subprocess.Popen:
    """``apply --debug`` running, its output read up to the first line starting with ``moment``
    (the process is left running there; the caller strikes, then ``finish``es it)."""
    proc = subprocess.Popen([sys.executable, "-m", "lxdplan", "--debug", "apply", "-f", path,
                             "--auto-approve"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(moment):
            proc.seen = "".join(seen)
            return proc
    proc.wait(timeout=60)
    raise AssertionError(f"apply ended before {moment!r}:\n{''.join(seen)}")


def finish(proc: subprocess.Popen) -> str:
    rest = proc.stdout.read()
    proc.stdout.close()
    proc.wait(timeout=600)
    output = proc.seen + rest
    assert "Traceback" not in output, output
    return output


def assert_rerun_converges(lab, path: str) -> str:
    done = cli("apply", "-f", path, "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    plan = cli("plan", "-f", path, "--detailed-exitcode")
    assert plan.returncode == 0 and "No changes." in plan.stdout, plan.stdout + plan.stderr
    members = query(lab, "/1.0/cluster/members?recursion=1")
    assert sorted((m["server_name"], m["status"]) for m in members) == [
        ("node1", "Online"), ("node2", "Online"), ("node3", "Online")]
    for collection in ("networks", "storage-pools"):
        for obj in query(lab, f"/1.0/{collection}?recursion=1"):
            if obj.get("managed", True):
                assert obj["status"] == "Created", obj
    return done.stdout


def kill_daemon(lab, name: str) -> None:
    member = next(m for m in lab.members if m.name == name)
    os.kill(member.pid, signal.SIGKILL)
    host.wait_gone([member.pid], 30)


def test_joining_members_daemon_killed_mid_join(make_lab, tmp_path):
    """A joining member's daemon killed mid-join, then restarted: the re-run converges."""
    lab = make_lab("lxd")
    path = lab_file(lab, tmp_path)
    proc = apply_until(path, JOIN_SENT)
    kill_daemon(lab, "node3")
    output = finish(proc)
    assert proc.returncode == 1 and "node3" in output.splitlines()[-2] + output.splitlines()[-1]
    restart_member(lab, "node3", grace=0)
    assert_rerun_converges(lab, path)


def _clustered(lab, index: int) -> bool:
    done = client_cmd(lab, "query", "/1.0", member=index, check=False)
    return done.returncode == 0 and json.loads(done.stdout)["environment"]["server_clustered"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_joining_members_daemon_killed_once_it_says_it_is_clustered(backend, make_lab, tmp_path):
    """A joining member's daemon killed once it says it is clustered: the re-run converges once the daemon runs again; else (a half-joined member its server cannot start, or refuses to join again) only that member's join stops, in one sentence naming it, and the rest of the cluster stands."""
    lab = make_lab(backend)
    path = lab_file(lab, tmp_path)
    proc = apply_until(path, JOIN_SENT)
    wait_for(lambda: _clustered(lab, 2), "node3 to say it is clustered", timeout=60, every=0.05)
    kill_daemon(lab, "node3")
    finish(proc)
    # Where the join was cut decides whether the server can start the daemon again (seen on
    # both servers: "Failed to initialize global database: No node registered with address").
    try:
        restart_member(lab, "node3", grace=0)
    except LabError as exc:
        assert "No node registered with address" in str(exc), exc
        again = cli("apply", "-f", path, "--auto-approve")
        assert again.returncode == 1 and "Traceback" not in again.stderr
        assert 'blocked: join member "node3" on node3: node3 cannot be reached' in again.stdout
        members = query(lab, "/1.0/cluster/members?recursion=1")
        assert sorted((m["server_name"], m["status"]) for m in members) == [
            ("node1", "Online"), ("node2", "Online")]
        for collection in ("networks", "storage-pools"):
            assert all(o["status"] == "Created" for o in
                       query(lab, f"/1.0/{collection}?recursion=1") if o.get("managed", True))
        return
    again = cli("apply", "-f", path, "--auto-approve")
    if again.returncode == 0:
        assert_rerun_converges(lab, path)
        return
    # The server refuses the join on the half-joined node3: one sentence naming node3 and the
    # file's line, nothing else touched.
    errors = [ln for ln in again.stderr.splitlines() if ln.startswith("error:")]
    assert "Traceback" not in again.stderr and len(errors) == 1, again.stdout + again.stderr
    assert "node3" in errors[0] and "lxdplan.yaml:" in errors[0], errors[0]
    found = re.search(r'Storage pool directory "([^"]+)" already exists', errors[0])
    if found:  # cut while it made the cluster's pools: removing the directory is the way out
        shutil.rmtree(found.group(1))
        assert_rerun_converges(lab, path)
        return
    # Otherwise (seen on Incus: "Failed adding local trusted certificate"), the others stand.
    members = query(lab, "/1.0/cluster/members?recursion=1")
    assert {(m["server_name"], m["status"]) for m in members} >= {("node1", "Online"), ("node2", "Online")}
    for collection in ("networks", "storage-pools"):
        assert all(o["status"] == "Created" for o in
                   query(lab, f"/1.0/{collection}?recursion=1") if o.get("managed", True))


def test_member_that_minted_the_join_token_killed_mid_join(make_lab, tmp_path):
    """The member that minted a join token killed mid-join, then restarted: the re-run converges."""
    lab = make_lab("lxd")
    path = lab_file(lab, tmp_path)
    proc = apply_until(path, JOIN_SENT)
    kill_daemon(lab, "node1")
    output = finish(proc)
    assert proc.returncode == 1, output
    restart_member(lab, "node1", grace=0)
    assert_rerun_converges(lab, path)


# ``apply`` with a fault injected from the test: it stops itself (SIGSTOP) right after it minted
# node3's join token, before sending it; the test continues it once the token expired.
STOP_AFTER_TOKEN = """
import os, signal, sys
from lxdplan.providers import joining
minted = joining.mint_token
def mint_and_stop(cluster, name, *args, **kwargs):
    op = minted(cluster, name, *args, **kwargs)
    if name == "node3":
        print("token minted for node3", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
    return op
joining.mint_token = mint_and_stop
sys.argv = ["lxdplan", *sys.argv[1:]]
from lxdplan.cli import main
main()
"""


def test_join_token_expired_before_it_was_used(make_lab, tmp_path):
    """An expired join token (cluster.join_token_expiry 3S): the re-run gets a new token and converges."""
    lab = make_lab("lxd")
    path = lab_file(lab, tmp_path, **{"cluster.join_token_expiry": "3S"})
    proc = subprocess.Popen([sys.executable, "-c", STOP_AFTER_TOKEN, "apply", "-f", path,
                             "--auto-approve"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("token minted for node3"):
                break
        os.waitid(os.P_PID, proc.pid, os.WSTOPPED)
        tokens = [op for op in query(lab, "/1.0/operations?recursion=1").get("running") or []
                  if op["class"] == "token" and op["metadata"].get("serverName") == "node3"]
        assert len(tokens) == 1, tokens
        expiry = _epoch(tokens[0]["metadata"]["expiresAt"])
        wait_for(lambda: time.time() > expiry + 1, "node3's join token to expire", timeout=60)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    proc.seen = "".join(seen)
    output = finish(proc)
    assert proc.returncode == 1 and "Token has expired" in output, output
    out = assert_rerun_converges(lab, path)
    assert "join member \"node3\"" in out


def _epoch(stamp: str) -> float:
    from datetime import datetime

    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float(f"0.{frac[:6] or 0}")
