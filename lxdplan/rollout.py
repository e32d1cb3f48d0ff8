"""Carry out a roll (``rolling.RollPlan``), level-based and resumable.

For each member not done yet, in the plan's order: evacuate it (unless it is evacuated already),
run the operator's command, wait until it is back — serving its API (at the expected version),
or waiting as an upgraded member waits for the others, which is progress — then restore it when
it serves. After the last member, wait until every member serves at one version and restore the
members the roll evacuated that are still evacuated.

Before each step the roll's record (``providers.roll``) says what is about to happen, so a roll
killed at any moment and run again re-reads the cluster and continues: a member is evacuated only
when the cluster does not already show it evacuated, and restored only once it serves.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from lxdplan.errors import ConnectError, LxdplanError
from lxdplan.rolling import (
    DOWN,
    SERVING,
    WAITING,
    Record,
    RollMember,
    RollPlan,
    RollState,
    quorum_refusal,
)
from lxdplan.state.hostlock import process_alive, process_start

# A member that holds requests right after a restart may only be slow to start: without the
# cluster saying Blocked (Incus, LXD 6.4+), it counts as waiting for the others once it held
# every request for this long.
SETTLE = 10.0
POLL = 1.0
# Between two asks of a restore the cluster refused because it deems the member offline: the
# leader heartbeats every member about every 10 s.
HEARTBEAT_WAIT = 2.0
# How long a quorum check waits for voters listed Offline that serve (a heartbeat or a few).
QUORUM_WAIT = 60.0
PROGRESS_EVERY = 30.0


class RollFailed(LxdplanError):
    """The roll stopped; the message says where and how to continue."""


Say = Callable[[str], None]
T = TypeVar("T")


def fill(command: str, *, member: str, address: str, version: str) -> str:
    return (command.replace("{member}", member).replace("{address}", address)
            .replace("{version}", version))


def run_command(argv: str, member: str, say: Say, timeout: float,
                started: Callable[[int], None] = lambda pid: None) -> int | None:
    """Run ``argv`` with a shell, each output line shown after the member's name; its exit
    status, or None when it ran out of time (it is killed then, with its process group).
    ``started`` is told the process id first."""
    proc = subprocess.Popen(argv, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    started(proc.pid)

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            say(f"{member} | {raw.decode(errors='replace').rstrip()}")

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        reader.join(timeout=2)
        return None
    reader.join(timeout=2)  # output of a process it left in the background is not waited for
    return code


class Roller:
    def __init__(self, cluster, plan: RollPlan, *, command: str, timeout: float, say: Say,
                 record: Record | None):
        self.cluster, self.plan, self.command = cluster, plan, command
        self.timeout, self.say = timeout, say
        self.record = record or Record(command=command, expect_version=plan.expect_version)

    def save(self, **changes) -> None:
        self.record = dataclasses.replace(self.record, **changes)
        self.reach("record the roll's progress", lambda: self.cluster.save_record(self.record))

    def reach(self, what: str, call: Callable[[], T]) -> T:
        """``call``, a request through whichever member serves, asked again while none does:
        right after a member restarts, the others may all wait for it (Blocked), and it does not
        serve until it has started. The wait is said once when it starts and bounded by the
        roll's timeout; then the roll stops with one sentence."""
        deadline = time.monotonic() + self.timeout
        said = False
        while True:
            try:
                return call()
            except ConnectError as exc:
                if time.monotonic() > deadline:
                    current = self.record.current
                    raise RollFailed(
                        f"no member of the cluster served its API for {self.timeout:g} s while "
                        f"the roll waited to {what} ({exc})"
                        f"{'; ' + current + ' was being rolled' if current else ''}: bring the "
                        "members back, then run the same `lxdplan roll` again to continue"
                    ) from exc
                if not said:
                    self.say(f"waiting for a member to serve its API to {what}…")
                    said = True
            time.sleep(POLL)

    def run(self) -> list[str]:
        """Roll every member not done; the lines of the summary."""
        self.save()
        for step in self.plan.steps:
            if step.state == "done":
                self.say(f"{step.member}: done already")
                continue
            self.one(step.member, step.address)
        self.finish()
        return [f"Rolled {len(self.plan.todo)} member(s); every member serves"
                f"{' at ' + self.plan.expect_version if self.plan.expect_version else ''}."]

    # -- one member -------------------------------------------------------------------------------

    def one(self, member: str, address: str) -> None:
        phase = self.record.phase if self.record.current == member else ""
        if not phase:
            self.check_quorum(member)
        if phase in ("", "evacuating"):
            if self.plan.evacuate:
                self.evacuate(member, resumed=phase == "evacuating")
            self.save(current=member, phase="running")
            phase = "running"
        if phase == "running":
            self.run_for(member, address)
            self.save(phase="ran")
        health = self.wait_back(member)
        self.save(done=self.record.done + (member,), current="", phase="")
        if health == SERVING and member in self.record.evacuated:
            self.restore(member)

    def check_quorum(self, member: str) -> None:
        """Refuse to take ``member`` out when, as the cluster is now, that would leave fewer
        running database voters than its quorum (a voter may have gone down since the plan).
        While no member serves, it waits: a check skipped for want of a listing checks nothing.
        A voter listed Offline that serves its own API (restarted moments ago: the cluster
        counts it again at the leader's next heartbeat) is waited for, ``QUORUM_WAIT`` at most."""
        deadline = time.monotonic() + QUORUM_WAIT
        said = False
        while True:
            try:
                listed = self.statuses()
            except RollFailed:
                raise
            except LxdplanError:
                listed = {}
            members = tuple(RollMember(n, roles=tuple(m.get("roles") or ()),
                                       status=str(m.get("status", "")),
                                       health=DOWN if m.get("status") == "Offline" else SERVING)
                            for n, m in listed.items())
            me = next((m for m in members if m.name == member), None)
            why = quorum_refusal(RollState(self.cluster.backend, members), me) if me else None
            if not why:
                return
            lagging = sorted(n for n, m in listed.items() if n != member
                             and m.get("status") == "Offline"
                             and self.cluster.probe(n, m)[0] == SERVING)
            if not lagging or time.monotonic() > deadline:
                raise RollFailed(f"the roll stopped before {member}: {why}; bring the other "
                                 "voters back, then run the same `lxdplan roll` again")
            if not said:
                self.say(f"{', '.join(lagging)} serve{'s' if len(lagging) == 1 else ''} but "
                         f"{'is' if len(lagging) == 1 else 'are'} listed Offline (restarted "
                         f"moments ago); waiting for the cluster to count "
                         f"{'it' if len(lagging) == 1 else 'them'} before {member}")
                said = True
            time.sleep(HEARTBEAT_WAIT)

    def statuses(self) -> dict:
        return self.reach("read the members' status", self.cluster.statuses)

    def status(self, member: str) -> str:
        return str(self.statuses().get(member, {}).get("status", ""))

    def evacuate(self, member: str, *, resumed: bool) -> None:
        listed = self.statuses()
        status = str(listed.get(member, {}).get("status", ""))
        if status not in ("Evacuated", "Evacuating") and not any(
                n != member and m.get("status") in ("Online", "Blocked") for n, m in listed.items()):
            # The members rolled before it wait for it, evacuated: none could take its
            # instances (Incus refuses the evacuation). They keep running through the command.
            self.say(f"{member}: not evacuated: every other member is evacuated and waits for it "
                     "to be upgraded; its instances stay")
            return
        if status in ("Evacuated", "Evacuating"):
            if resumed and member not in self.record.evacuated:
                self.save(evacuated=self.record.evacuated + (member,))
            self.wait_status(member, "Evacuating")
            self.say(f"{member}: already evacuated")
            return
        running = tuple(f"{member}/{i.project}/{i.name}" for i in self._instances()
                        if i.location == member and i.status == "Running")
        self.save(current=member, phase="evacuating", running=tuple(
            r for r in self.record.running if not r.startswith(f"{member}/")) + running)
        self.say(f"{member}: evacuating" + (" (again: the interrupted run had not done it)"
                                             if resumed else ""))
        try:
            self.cluster.set_state(member, "evacuate")
        except LxdplanError as exc:
            raise RollFailed(f"evacuating {member} failed ({exc}); nothing was run on it: fix "
                             "the cause and run the same `lxdplan roll` again") from exc
        self.save(evacuated=self.record.evacuated + (member,))

    def wait_status(self, member: str, transient: str) -> None:
        """Until ``member`` leaves a transient status and no evacuation or restore runs on it
        (one a killed roll started goes on without it)."""
        deadline = time.monotonic() + self.timeout
        said = False
        while time.monotonic() < deadline:
            running = self.cluster.member_operations(member)
            status = self.status(member)
            if status != transient and not running:
                return
            if not said:
                self.say(f"{member}: waiting for the evacuation or restore already under way"
                         if running else f"{member}: waiting while it is {status}")
                said = True
            time.sleep(POLL)

    def run_for(self, member: str, address: str) -> None:
        argv = fill(self.command, member=member, address=address,
                    version=self.plan.expect_version)
        self.wait_for_earlier_command(member)
        self.say(f"{member}: running {argv}")
        code = run_command(argv, member, self.say, self.timeout, started=self.started)
        self.save(host="", pid=0, start=0)
        left = "left evacuated" if member in self.record.evacuated else "left as it is"
        if code is None:
            raise RollFailed(f"the command did not finish on {member} within {self.timeout:g} s "
                             f"and was killed; {member} is {left}: fix it, then run the same "
                             "`lxdplan roll` again to continue")
        if code != 0:
            raise RollFailed(f"the command failed on {member} (exit status {code}); {member} is "
                             f"{left}: fix it, then run the same `lxdplan roll` again to continue "
                             "(it runs the command on that member again)")

    def started(self, pid: int) -> None:
        self.save(host=socket.gethostname(), pid=pid, start=process_start(pid) or 0)

    def wait_for_earlier_command(self, member: str) -> None:
        """A roll killed while the command ran left it running: wait until it ends before
        running it again (two at once would restart the member twice over)."""
        r = self.record
        if not r.pid or r.host != socket.gethostname() or not process_alive(r.pid, r.start or None):
            return
        self.say(f"{member}: the command the interrupted roll started still runs (pid {r.pid}); "
                 "waiting for it to end")
        deadline = time.monotonic() + self.timeout
        while process_alive(r.pid, r.start or None):
            if time.monotonic() > deadline:
                raise RollFailed(f"the command the interrupted roll started on {member} (pid "
                                 f"{r.pid}) still runs after {self.timeout:g} s; end it, then "
                                 "run the same `lxdplan roll` again")
            time.sleep(POLL)

    def wait_back(self, member: str) -> str:
        """Until ``member`` serves (at the expected version) or waits for the others."""
        expect = self.plan.expect_version
        start = time.monotonic()
        held_since: float | None = None
        last = ""
        while True:
            listed = self._listing()
            health, version = self.cluster.probe(member, listed.get(member))
            now = time.monotonic()
            offline = listed.get(member, {}).get("status") == "Offline"
            if health == SERVING and (not expect or version == expect) and not offline:
                self.say(f"{member}: serves again ({version})")
                return SERVING
            if health == WAITING:
                held_since = held_since if held_since is not None else now
                blocked = any(m.get("status") == "Blocked" for m in listed.values())
                if blocked or now - held_since >= SETTLE:
                    self.say(f"{member}: waits for the other members to be upgraded (Blocked); "
                             "going on")
                    return WAITING
            else:
                held_since = None
            seen = f"{health}{' at ' + version if version else ''}"
            if seen != last:
                self.say(f"{member}: {seen}")
                last = seen
            if now - start > self.timeout:
                what = (f"serves {version}, not {expect}" if health == SERVING else
                        "does not serve its API")
                raise RollFailed(
                    f"{member} is not back within {self.timeout:g} s (it {what}); it is "
                    f"{'left evacuated' if member in self.record.evacuated else 'left as it is'}: "
                    "bring it back, then run the same `lxdplan roll` again to continue")
            time.sleep(POLL)

    def _listing(self) -> dict:
        try:
            return self.cluster.statuses()
        except LxdplanError:
            return {}

    def restore(self, member: str) -> None:
        if self.status(member) in ("Evacuated", "Restoring"):
            self.wait_status(member, "Restoring")
            if self.status(member) == "Evacuated":
                self.say(f"{member}: restoring")
                self._restore(member)
        self._restart_left_stopped(member)
        self.save(evacuated=tuple(n for n in self.record.evacuated if n != member),
                  running=tuple(r for r in self.record.running if not r.startswith(f"{member}/")))

    def _instances(self) -> tuple:
        try:
            return self.reach("read the instances", self.cluster.instances)
        except RollFailed:
            raise
        except LxdplanError:
            return ()

    def _restart_left_stopped(self, member: str) -> None:
        """Start what ran on ``member`` before its evacuation and is stopped after its restore: a
        restore refused half-way (Incus: "Target cluster member is offline") has moved some
        instances back stopped, and the restore asked again starts only those it stopped itself."""
        ran = {tuple(r.split("/", 2)[1:]) for r in self.record.running if r.startswith(f"{member}/")}
        if not ran:
            return
        for inst in self._instances():
            if (inst.project, inst.name) in ran and inst.status == "Stopped":
                self.say(f"{member}: {inst.name} ran before the evacuation and the restore left it "
                         "stopped: starting it")
                try:
                    self.reach(f"start {inst.name}",
                               lambda: self.cluster.start_instance(inst.project, inst.name))
                except RollFailed:
                    raise
                except LxdplanError as exc:
                    raise RollFailed(f"starting {inst.name} after restoring {member} failed "
                                     f"({exc}); start it, then run the same `lxdplan roll` "
                                     "again") from exc

    def _restore(self, member: str) -> None:
        """Ask for the restore until it is accepted. A member that waited for the others has had
        no heartbeat meanwhile: until the leader's next one reaches it, the cluster deems it
        offline and refuses to move its instances back ("Target cluster member is offline"), and
        the server puts the member back to Evacuated, so asking again is safe."""
        deadline = time.monotonic() + self.timeout
        said = False
        while True:
            try:
                self.cluster.set_state(member, "restore")
                return
            except LxdplanError as exc:
                transient = "offline" in str(exc).lower() and self.status(member) == "Evacuated"
                if not transient or time.monotonic() > deadline:
                    raise RollFailed(f"restoring {member} failed ({exc}); run the same "
                                     "`lxdplan roll` again to retry") from exc
                if not said:
                    self.say(f"{member}: the cluster does not count it online yet; restoring "
                             "again once it does")
                    said = True
            time.sleep(HEARTBEAT_WAIT)

    # -- the end ----------------------------------------------------------------------------------

    def finish(self) -> None:
        """Wait until every member serves at one version, restore the members still evacuated,
        forget the record."""
        start = time.monotonic()
        last_said = 0.0
        while True:
            listed = self._listing()
            with ThreadPoolExecutor(max_workers=max(1, len(listed))) as pool:  # each held one
                futures = {n: pool.submit(self.cluster.probe, n, m) for n, m in listed.items()}
                seen = {n: f.result() for n, f in futures.items()}  # costs the probe's 5 s
            # Serving, and the cluster agrees (its heartbeats lag a member that just woke up).
            behind = sorted(n for n, (h, _v) in seen.items()
                            if h != SERVING or listed[n].get("status") == "Offline")
            versions = {v for h, v in seen.values() if h == SERVING and v}
            expect = self.plan.expect_version
            if listed and not behind and len(versions) == 1 and (not expect or versions == {expect}):
                break
            now = time.monotonic()
            if now - start > self.timeout:
                raise RollFailed(
                    f"every member was rolled, but {', '.join(behind) or 'some member'} still "
                    f"{'does' if len(behind) == 1 else 'do'} not serve at one version after "
                    f"{self.timeout:g} s; run the same `lxdplan roll` again to keep waiting")
            if now - last_said >= PROGRESS_EVERY or not last_said:
                what = ", ".join(f"{n} {seen[n][0]}"
                                 f"{' (listed Offline)' if seen[n][0] == SERVING else ''}"
                                 for n in behind) or \
                    f"versions {', '.join(sorted(versions))}"
                self.say(f"waiting until every member serves at one version ({what})")
                last_said = now
            time.sleep(POLL)
        for member in self.record.evacuated:
            self.restore(member)
        self.reach("forget the roll's record", self.cluster.delete_record)
