"""The fault matrix: the apply lock and signals (issue 17), on real LXD labs.

The lock is a profile in the cluster database (``lxdplan.providers.lock``); the server matters
only as the keeper of that profile and of the clock, so one backend (LXD) runs these cases.
Holders that must look like another host or another clock run in a subprocess
(``tests/integration/hooked.py``): another pid namespace (``unshare``) is another host with the
same hostname; ``LXDPLAN_HOOK_CLOCK_OFFSET`` puts the holder's wall clock hours off.
"""

from __future__ import annotations

import email.utils
import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

import pytest
import yaml

import hooked
from applykit import cli, client_cmd, query, wait_for
from lxdplan.errors import LockError
from lxdplan.providers.client import Client
from lxdplan.providers.lock import PATH, PARAMS, ClusterLock, Holder

HOURS_2 = 2 * 3600


def lock_profiles(lab) -> list[str]:
    """The lock and take-over claims the cluster holds (none when no apply runs)."""
    names = [u.rsplit("/", 1)[-1].split("?")[0] for u in query(lab, "/1.0/profiles")]
    return [n for n in names if n.startswith("lxdplan-lock")]


def held(client: Client) -> Holder | None:
    answer = client.get(PATH, PARAMS)
    return Holder.parse(answer.metadata.get("description") or "")


def server_now(client: Client) -> float:
    """The server's clock (the Date header of its answer)."""
    return email.utils.parsedate_to_datetime(client.get("/1.0").headers["date"]).timestamp()


def put_lock(lab, name: str, holder: dict | None) -> None:
    """A lock profile (or a take-over claim: ``holder`` None) as a dead apply leaves it."""
    description = json.dumps(holder, sort_keys=True) if holder else ""
    client_cmd(lab, "query", "-X", "POST", "/1.0/profiles", "--data",
               json.dumps({"name": name, "description": description}))


def elsewhere(lock_id: str, since: float, expires: float) -> dict:
    """A holder on another machine (its pid means nothing here)."""
    return {"id": lock_id, "owner": "ci@runner-7 pid 12", "since": since, "expires": expires,
            "host": "runner-7", "pid": 12, "start": 99, "host_id": "another-machine/boot/1"}


@contextmanager
def lock_client(lab) -> Iterator[Client]:
    """A client to a member of a session lab; no lock profile is left behind."""
    client = Client(lab.members[0].endpoint, member=lab.members[0].name)
    try:
        yield client
    finally:
        for name in lock_profiles(lab):
            client_cmd(lab, "profile", "delete", name, check=False)
        client.close()


@pytest.fixture
def member(lxd_lab):
    with lock_client(lxd_lab) as client:
        yield client


def hold(endpoint: str, ttl: float, *, env: dict[str, str] | None = None,
         other_host: bool = False) -> subprocess.Popen:
    """A process holding the cluster lock (renewing it) until its stdin closes."""
    argv = hooked.argv("hold-lock", endpoint, str(ttl))
    if other_host:  # another pid namespace: its pids mean nothing here, its hostname is ours
        argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", *argv]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    line = proc.stdout.readline()
    assert line.startswith("held "), line
    return proc


def stop(proc: subprocess.Popen, *, release: bool = True) -> None:
    """End a holder: releasing the lock, or killed (``release=False``) leaving it behind."""
    if release and proc.poll() is None:
        proc.stdin.write("release\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "released"
    proc.kill()
    proc.wait(timeout=60)
    proc.stdin.close()
    proc.stdout.close()


def test_a_lease_outlived_is_renewed_and_an_expired_one_taken_over(lab):
    """A lock lease outlived: the holder renews it and keeps the lock; an expired lease is taken over."""
    with lock_client(lab) as member:  # renewal is a PATCH with If-Match: both servers
        mine = ClusterLock(member, ttl=3)  # renewed every 0.5 s
        mine.acquire()
        try:
            first = mine.holder.expires
            wait_for(lambda: server_now(member) > first + 1, "the first lease to run out on the server")
            with Client(member.endpoint, member="other") as other:
                with pytest.raises(LockError, match="locked by another apply"):
                    ClusterLock(other).acquire()
            assert held(member).id == mine.holder.id and held(member).expires > first
        finally:
            mine.release()
        assert lock_profiles(lab) == []
        # A holder elsewhere that stopped renewing (it died there): taken over once its lease ran out.
        now = server_now(member)
        gone = elsewhere("gone", now - 30, now + 2)
        put_lock(lab, "lxdplan-lock", gone)
        with pytest.raises(LockError, match="--break-lock"):
            ClusterLock(member).acquire()
        wait_for(lambda: server_now(member) > gone["expires"], "the dead holder's lease to run out")
        taker = ClusterLock(member)
        taker.acquire()
        assert held(member).id == taker.holder.id
        taker.release()
        assert lock_profiles(lab) == []


def test_a_holder_whose_clock_is_2_h_off_is_judged_on_the_servers_clock(lxd_lab, member):
    """A lock holder whose clock is 2 h off: its lease is judged on the server's clock, neither expired early nor held for hours."""
    behind = hold(member.endpoint, 600, env={hooked.CLOCK_OFFSET: str(-HOURS_2)})
    try:
        with pytest.raises(LockError, match="locked by another apply"):
            ClusterLock(member).acquire()  # its lease is not an hour in the past
    finally:
        stop(behind)
    ahead = hold(member.endpoint, 2, env={hooked.CLOCK_OFFSET: str(HOURS_2)}, other_host=True)
    stop(ahead, release=False)  # died on "another host": only its lease can free the lock
    lease = held(member)
    assert lease.expires < server_now(member) + 10  # not two hours ahead
    wait_for(lambda: server_now(member) > lease.expires, "the ahead holder's lease to run out")
    taker = ClusterLock(member)
    taker.acquire()
    taker.release()
    assert lock_profiles(lxd_lab) == []


def test_two_hosts_with_one_hostname_do_not_judge_each_others_lock_dead(lxd_lab, member):
    """Two hosts with one hostname (cloned VMs, CI containers): a live lock of the other is refused, never taken over as dead."""
    other = hold(member.endpoint, 600, other_host=True)
    try:
        lease = held(member)
        assert lease.host == os.uname().nodename and lease.pid != other.pid
        with pytest.raises(LockError) as info:
            ClusterLock(member).acquire()
        assert "locked by another apply" in str(info.value) and "--break-lock" in str(info.value)
        assert held(member).id == lease.id
    finally:
        stop(other)
    assert lock_profiles(lxd_lab) == []


def test_a_leftover_claim_profile_is_broken_with_break_lock(lxd_lab, member):
    """A leftover claim profile (a taker died mid-take-over): one sentence naming --break-lock, which clears lock and claim."""
    now = server_now(member)
    put_lock(lxd_lab, "lxdplan-lock", elsewhere("dead1", now - 900, now - 300))
    put_lock(lxd_lab, "lxdplan-lock-dead1", None)
    with pytest.raises(LockError) as info:
        ClusterLock(member).acquire()
    assert "\n" not in str(info.value) and "`lxdplan apply --break-lock`" in str(info.value)
    breaker = ClusterLock(member, break_lock=True)
    breaker.acquire()
    breaker.release()
    assert lock_profiles(lxd_lab) == []


def _apply_signalled(path: str, signals: list[int]) -> tuple[int, str]:
    """Run apply, send ``signals`` once the first join has started (each next one after the
    apply said it is stopping), and return its exit code and output."""
    proc = subprocess.Popen([sys.executable, "-m", "lxdplan", "apply", "-f", path, "--auto-approve"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    lines, left = [], list(signals)
    for line in proc.stdout:
        lines.append(line)
        if left and (line.startswith("start: join member") if len(left) == len(signals)
                     else line.startswith("warning: interrupted")):
            proc.send_signal(left.pop(0))
    proc.stdout.close()
    return proc.wait(timeout=600), "".join(lines)


def test_sigterm_and_double_sigint_during_a_join(make_lab, tmp_path):
    """SIGTERM and double SIGINT during a join: apply exits 143 and 130 with the join finished and no lock left; the re-run converges."""
    lab = make_lab("lxd", 3)
    members = [{"name": m.name, "address": m.address, "endpoint": m.endpoint} for m in lab.members]
    path = tmp_path / "lxdplan.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "backend": "lxd", "cluster": {"members": members},
                                    "profiles": [{"name": "web", "description": "after the joins"}]}))
    code, out = _apply_signalled(str(path), [signal.SIGTERM])
    assert code == 143, out
    assert 'done: join member "node2"' in out and "start: join member \"node3\"" not in out, out
    assert "apply interrupted (SIGTERM)" in out and "Traceback" not in out, out
    assert lock_profiles(lab) == []
    code, out = _apply_signalled(str(path), [signal.SIGINT, signal.SIGINT])
    assert code == 130, out
    assert 'done: join member "node3"' in out and "still finishing the running step" in out, out
    assert "apply interrupted (SIGINT)" in out and "Traceback" not in out, out
    assert lock_profiles(lab) == []
    assert cli("apply", "-f", str(path), "--auto-approve").returncode == 0
    again = cli("plan", "-f", str(path), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(m["server_name"] for m in query(lab, "/1.0/cluster/members?recursion=1")) == [
        "node1", "node2", "node3"]
