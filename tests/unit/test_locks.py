"""The host lock and the cluster lock's holder record (the CAS itself runs on real servers in
tests/integration/test_resilience.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from lxdplan.errors import LockError
from lxdplan.providers.lock import Holder, host_identity
from lxdplan.state.hostlock import HostLock, process_alive, process_start


def test_host_lock_refuses_a_second_holder_naming_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("LXDPLAN_LOCK_DIR", str(tmp_path))
    with HostLock("10.0.0.1:8443"):
        with pytest.raises(LockError, match=rf"working on this cluster \(pid {os.getpid()}\)"):
            HostLock("10.0.0.1:8443").acquire()
        HostLock("10.0.0.2:8443").acquire()  # another cluster: another lock
    with HostLock("10.0.0.1:8443"):  # released on exit
        pass


def test_host_lock_dies_with_its_process(tmp_path, monkeypatch):
    env = {**os.environ, "LXDPLAN_LOCK_DIR": str(tmp_path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from lxdplan.state.hostlock import HostLock; "
         "HostLock('k').acquire(); print('held', flush=True); time.sleep(60)"],
        env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("LXDPLAN_LOCK_DIR", str(tmp_path))
        with pytest.raises(LockError):
            HostLock("k").acquire()
        holder.kill()
        holder.wait(timeout=10)
        lock = HostLock("k")
        lock.acquire()  # the kernel dropped the dead holder's lock
        lock.release()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()


def test_cluster_lock_holder_round_trips_and_knows_a_dead_local_holder():
    mine = Holder.mine(60, time.time())
    assert Holder.parse(mine.dump()) == mine
    assert not mine.dead_here()  # this very process
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    gone = Holder("x", "someone", time.time(), time.time() + 60, socket.gethostname(), dead.pid,
                  0, host_identity())
    assert gone.dead_here()
    elsewhere = Holder("y", "someone", time.time(), time.time() + 60, "another-host", dead.pid,
                       0, "another-machine/boot/4026531836")
    assert not elsewhere.dead_here()
    assert Holder.parse("not json") is None


def _holder_of(pid: int, start: int) -> Holder:
    return Holder("z", "someone", time.time(), time.time() + 60, socket.gethostname(), pid, start,
                  host_identity())


def test_an_unreaped_zombie_holds_no_lock():
    """Issue 7 item 6: kill(pid, 0) succeeds on a zombie; its lock is taken over all the same."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        start = process_start(child.pid)
        assert start and process_alive(child.pid, start)
        assert not _holder_of(child.pid, start).dead_here()
        child.stdin.close()  # it exits; waitid with WNOWAIT waits for that without reaping it
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        os.kill(child.pid, 0)  # still there, as a zombie
        assert not process_alive(child.pid, start)
        assert _holder_of(child.pid, start).dead_here()
        assert _holder_of(child.pid, 0).dead_here()  # a lock of an older version (no start time)
    finally:
        child.kill()
        child.wait(timeout=10)


def test_a_reused_pid_is_not_the_holder():
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        start = process_start(other.pid)
        assert not _holder_of(other.pid, start).dead_here()  # the holder itself
        assert _holder_of(other.pid, start - 1).dead_here()  # the holder died; its pid was reused
        assert not _holder_of(other.pid, 0).dead_here()  # start unknown: the pid is all there is
        assert not Holder.mine(60, time.time()).dead_here()  # this very process
        assert _holder_of(os.getpid(), process_start(os.getpid()) + 1).dead_here()
    finally:
        other.stdin.close()
        other.wait(timeout=10)


def test_process_start_reads_field_22_after_a_command_name_with_spaces():
    code = ("import sys; print('up', flush=True); sys.stdin.readline(); "
            "open('/proc/self/comm', 'w').write('a b) c 9'); print('renamed', flush=True); "
            "sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        before = process_start(proc.pid)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "renamed"
        assert open(f"/proc/{proc.pid}/comm").read().strip() == "a b) c 9"
        assert before is not None and process_start(proc.pid) == before
        assert process_alive(proc.pid, before)
        assert process_start(2 ** 22 + 7) is None  # beyond pid_max: no such process
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()
