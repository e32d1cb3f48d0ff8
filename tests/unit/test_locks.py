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
from lxdplan.providers.lock import Holder
from lxdplan.state.hostlock import HostLock


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
    mine = Holder.mine(60)
    assert Holder.parse(mine.dump()) == mine
    assert not mine.dead_here()  # this very process
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    gone = Holder("x", "someone", time.time(), time.time() + 60, socket.gethostname(), dead.pid)
    assert gone.dead_here()
    elsewhere = Holder("y", "someone", time.time(), time.time() + 60, "another-host", dead.pid)
    assert not elsewhere.dead_here()
    assert Holder.parse("not json") is None
