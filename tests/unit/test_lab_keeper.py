"""The lab keeper (lxdplan.lab.keeper) starts a crashed daemon again, as systemd's
Restart=on-failure does, and ends with a daemon that stops otherwise. A small Python program
stands in for the daemon (no namespace needed: the keeper only starts and waits)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lxdplan.lab.model import Lab, LabMember

# Exits with the status named in its first argument the first N times it runs (N: second
# argument, counted in a file), then sleeps until killed.
FAKE_DAEMON = """
import sys, time, pathlib
status, times, counter = int(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])
runs = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(runs + 1))
if runs < times:
    sys.exit(status)
while True:
    time.sleep(3600)
"""


def _keeper(tmp_path: Path, status: int, times: int) -> tuple[subprocess.Popen, Lab, int]:
    lab = Lab(name="t", backend="incus", dir=str(tmp_path), bridge="lxp-t",
              subnet="10.70.1.0/24", host_ip="10.70.1.254", lxdbr0_address="10.134.1.1/24",
              members=[LabMember(name="node1", index=1, ip="10.70.1.1", namespace="lxdplan-t-1",
                                 veth="lxvt-1", daemon_dir=str(tmp_path / "node1"))])
    lab.save()
    fake = tmp_path / "fake.py"
    fake.write_text(FAKE_DAEMON)
    keeper = subprocess.Popen(
        [sys.executable, "-m", "lxdplan.lab.keeper", str(lab.state_path), "node1",
         str(tmp_path / "node1.log"), "--",
         sys.executable, str(fake), str(status), str(times), str(tmp_path / "runs")],
        stdout=subprocess.PIPE, text=True)
    assert keeper.stdout is not None
    first = int(keeper.stdout.readline())
    return keeper, lab, first


def _recorded_pid(lab: Lab) -> int | None:
    return Lab.load(lab.state_path).members[0].pid


def _until(condition, keeper: subprocess.Popen, what: str, bound: float = 30.0) -> None:
    """Poll ``condition`` while the keeper runs (a hung keeper fails after ``bound`` s)."""
    give_up = time.monotonic() + bound
    while not condition():
        assert keeper.poll() is None, f"the keeper ended before {what}"
        assert time.monotonic() < give_up, f"no {what} after {bound:g} s"
        time.sleep(0.02)  # polls the condition above


def test_a_crashed_daemon_is_started_again_and_its_pid_recorded(tmp_path):
    keeper, lab, first = _keeper(tmp_path, status=2, times=2)
    try:
        runs = tmp_path / "runs"
        _until(lambda: runs.exists() and runs.read_text() == "3", keeper, "the third run")
        _until(lambda: _recorded_pid(lab) not in (None, first), keeper,  # saved after the start
               "the new pid recorded")
        now = _recorded_pid(lab)
        assert now is not None and now != first
        os.kill(now, 0)  # the daemon that runs now
        assert (tmp_path / "node1.log").read_text().count("the daemon crashed (exit status 2)") == 2
        os.kill(now, signal.SIGKILL)  # a member taken down: not started again
        assert keeper.wait(timeout=30) == 0
        assert (tmp_path / "runs").read_text() == "3"
    finally:
        keeper.kill()
        keeper.wait()


@pytest.mark.parametrize("status, times, runs", [
    (1, 1, "1"),  # a failure other than a crash: not started again
    (2, 99, "4"),  # crashing again and again: the first start and three more, then given up
])
def test_the_keeper_ends_when_the_daemon_ends_otherwise_or_crashes_too_often(tmp_path, status,
                                                                              times, runs):
    keeper, lab, _first = _keeper(tmp_path, status=status, times=times)
    try:
        assert keeper.wait(timeout=60) == 0
        assert (tmp_path / "runs").read_text() == runs
        if status != 2:
            assert _recorded_pid(lab) is None  # no restart, nothing recorded
    finally:
        keeper.kill()
        keeper.wait()
