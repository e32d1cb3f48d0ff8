"""The cluster lock's compare-and-swap under concurrent takers, against a fake server.

The fake is for fault injection only: it holds every taker's first read until all of them have
read, so they all race on the same state (a real server cannot be made to interleave like this
on demand). It models what LXD 5.0.2 and Incus 6.0.4 do with profiles, as seen live: a second
create of a name is refused (Incus answers 500, LXD 409), a delete of a missing one answers 404. The real servers run the same lock in tests/integration/test_resilience.py.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time

import pytest
import unixhttp

from lxdplan.errors import ApiError, LockError
from lxdplan.providers.client import Client
from lxdplan.providers.lock import ClusterLock, Holder, host_identity
from lxdplan.workflow import ApplyLocks


class LockServer:
    """Profiles by name, stored atomically; ``race`` makes the first ``race`` GETs wait for each
    other. ``description`` is the lock profile's (None: no such profile)."""

    def __init__(self, path: str, *, race: int = 0, create_status: int = 500):
        self.profiles: dict[str, str] = {}
        self.mutex = threading.Lock()
        self.barrier = threading.Barrier(race) if race else None
        self.reads = 0
        self.writes: list[tuple[str, str, int]] = []
        self.fail_writes = False
        server = self

        class Handler(unixhttp.Handler):
            def _answer(self, status, body, etag=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status, text):
                self._answer(status, {"type": "error", "error": text, "error_code": status})

            def _name(self):
                return self.path.split("?")[0].rsplit("/", 1)[-1]

            def do_GET(self):
                if self.path.split("?")[0] == "/1.0":  # the server's clock: its Date header
                    return self._answer(200, {"type": "sync", "status_code": 200,
                                              "metadata": {"environment": {}}})
                with server.mutex:
                    server.reads += 1
                    wait = server.barrier is not None and server.reads <= server.barrier.parties
                if wait:
                    server.barrier.wait(timeout=30)
                with server.mutex:
                    name = self._name()
                    if name not in server.profiles:
                        return self._error(404, "Profile not found")
                    body = {"name": name, "description": server.profiles[name],
                            "config": {}, "devices": {}}
                    self._answer(200, {"type": "sync", "status_code": 200, "metadata": body},
                                 server.etag())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.mutex:
                    if body["name"] in server.profiles:
                        server.writes.append(("POST", body["name"], create_status))
                        return self._error(create_status, "The profile already exists")
                    server.profiles[body["name"]] = body["description"]
                    server.writes.append(("POST", body["name"], 201))
                self._answer(201, {"type": "sync", "status_code": 200, "metadata": {}})

            def do_PATCH(self):  # the lease renewal: If-Match honoured, as on both servers
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.mutex:
                    name = self._name()
                    if name not in server.profiles:
                        return self._error(404, "Profile not found")
                    if self.headers.get("If-Match") not in (None, server.etag()):
                        return self._error(412, "ETag doesn't match")
                    server.profiles[name] = body.get("description", server.profiles[name])
                self._answer(200, {"type": "sync", "status_code": 200, "metadata": {}})

            def do_DELETE(self):
                with server.mutex:
                    name = self._name()
                    if server.fail_writes:
                        return self._error(500, "Failed to begin transaction: no available dqlite leader server found")
                    if name not in server.profiles:
                        return self._error(404, "Profile not found")
                    del server.profiles[name]
                    server.writes.append(("DELETE", name, 200))
                self._answer(200, {"type": "sync", "status_code": 200, "metadata": {}})

        self.server = unixhttp.serve(path, Handler)

    @property
    def description(self) -> str | None:
        return self.profiles.get("lxdplan-lock")

    @description.setter
    def description(self, text: str | None) -> None:
        if text is None:
            self.profiles.pop("lxdplan-lock", None)
        else:
            self.profiles["lxdplan-lock"] = text

    def etag(self) -> str:
        return '"' + hashlib.sha256((self.description or "").encode()).hexdigest()[:16] + '"'

    def holder(self) -> Holder | None:
        return Holder.parse(self.description) if self.description else None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sock(tmp_path):
    return str(tmp_path / "unix.socket")


def race(sock: str, takers: int, **lock_args) -> tuple[list[ClusterLock], list[Exception]]:
    """``takers`` locks acquired at once, each through its own connection."""
    won: list[ClusterLock] = []
    lost: list[Exception] = []
    clients = [Client(f"unix://{sock}", member="node1") for _ in range(takers)]

    def take(client):
        lock = ClusterLock(client, **lock_args)
        try:
            lock.acquire()
            won.append(lock)
        except LockError as exc:
            lost.append(exc)

    threads = [threading.Thread(target=take, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost


@pytest.mark.parametrize("create_status", [409, 500])
def test_concurrent_takers_of_a_free_cluster_one_wins(sock, create_status):
    server = LockServer(sock, race=4, create_status=create_status)
    try:
        won, lost = race(sock, 4)
        assert len(won) == 1 and len(lost) == 3
        assert server.holder().id == won[0].holder.id
        assert all("locked by another apply" in str(e) for e in lost)
        won[0].release()
        assert server.profiles == {}  # free: the lock profile is gone
    finally:
        server.close()


def test_concurrent_takers_of_a_dead_holders_lock_one_wins(sock):
    server = LockServer(sock, race=4)
    now = time.time()
    server.description = Holder("dead", "root@here pid 1", now - 5, now + 3600,
                                socket.gethostname(), 2 ** 22 + 7, 1, host_identity()).dump()  # no such pid
    try:
        won, lost = race(sock, 4)
        assert len(won) == 1 and len(lost) == 3
        assert server.holder().id == won[0].holder.id
        # the take-over was claimed once; every lock created was created by the one winner
        assert [w for w in server.writes if w[0] == "POST" and w[1] == "lxdplan-lock" and w[2] == 201] \
            == [("POST", "lxdplan-lock", 201)]
        won[0].release()
        assert server.profiles == {}  # no claim left behind
    finally:
        server.close()


def test_a_free_lock_is_taken_and_a_live_one_refused_naming_its_owner(sock):
    server = LockServer(sock)
    now = time.time()
    server.description = Holder("other", "ann@elsewhere pid 42", now - 90, now + 3600,
                                "elsewhere", 42).dump()
    client = Client(f"unix://{sock}", member="node1")
    try:
        with pytest.raises(LockError, match=r"locked by another apply \(ann@elsewhere pid 42, taken (89|9\d) s ago; .*--break-lock"):
            ClusterLock(client).acquire()
        broken = ClusterLock(client, break_lock=True)
        broken.acquire()
        assert server.holder().id == broken.holder.id
        broken.release()
        again = ClusterLock(client)
        server.description = ""  # an earlier version's free lock: an empty description
        again.acquire()
        assert server.holder().id == again.holder.id
    finally:
        client.close()
        server.close()


def test_release_leaves_a_lock_taken_over_meanwhile(sock):
    server = LockServer(sock)
    client = Client(f"unix://{sock}", member="node1")
    try:
        mine = ClusterLock(client)
        mine.acquire()
        breaker = ClusterLock(Client(f"unix://{sock}", member="node1"), break_lock=True)
        breaker.acquire()
        mine.release()
        assert server.holder().id == breaker.holder.id
    finally:
        client.close()
        server.close()


def test_a_failed_release_is_a_warning_after_the_real_error(sock, tmp_path, monkeypatch):
    """Issue 7 item 4: the release raising must not replace the apply's own error."""
    from lxdplan.desired import Desired, Member

    monkeypatch.setenv("LXDPLAN_LOCK_DIR", str(tmp_path / "locks"))
    server = LockServer(sock)
    client = Client(f"unix://{sock}", member="node4")
    desired = Desired(path="f.yaml", members=(Member(name="node4", address="10.9.0.4:8443",
                                                     endpoint=f"unix://{sock}"),))
    try:
        with pytest.raises(ApiError) as info:
            with ApplyLocks(desired, break_lock=False) as locks:
                locks.take_cluster(client)
                server.fail_writes = True  # the database lost its leader meanwhile
                raise ApiError('node1: LXD refused DELETE /1.0/cluster/members/node1: Failed to '
                               'leave the cluster: server has lost leadership', member="node1")
        assert "server has lost leadership" in str(info.value)
        notes = info.value.__notes__
        assert len(notes) == 1 and notes[0].startswith("the cluster lock could not be released (")
        assert "no available dqlite leader" in notes[0] and "takes it over" in notes[0]
        # the lock left behind names this very process: not dead, so it still refuses others here,
        # but a later process on this host (another pid) sees it dead and takes it over
        assert server.holder().pid and server.holder().host == socket.gethostname()
        server.fail_writes = False
        ok = ApplyLocks(desired, break_lock=False)
        with ok:
            pass
        assert ok.warnings == []
    finally:
        client.close()
        server.close()



def test_the_lease_is_renewed_and_a_take_over_meanwhile_is_noticed(sock):
    """The renewing thread extends the lease; when another apply broke the lock meanwhile, it
    says so (``lost``) and calls ``on_lost`` (apply then starts no further step)."""
    server = LockServer(sock)
    lost = threading.Event()
    mine = ClusterLock(Client(f"unix://{sock}", member="node1"), ttl=0.6, on_lost=lost.set)
    breaker = ClusterLock(Client(f"unix://{sock}", member="node1"), break_lock=True)
    try:
        mine.acquire()
        first = server.holder().expires
        while server.holder().expires == first:  # renewed every 0.1 s
            time.sleep(0.05)
        assert server.holder().id == mine.holder.id
        breaker.acquire()
        assert lost.wait(timeout=30)
        assert mine.lost.startswith("the cluster lock was taken over by another apply (")
        mine.release()
        assert server.holder().id == breaker.holder.id  # the taker's lock is left alone
    finally:
        breaker.release()
        server.close()


def test_plan_names_the_apply_that_holds_the_lock_and_since_when(sock):
    """`plan` never takes the lock, but says when another apply holds it (issue 19): who, since
    when, and that the plan may be out of date; a free lock or a dead holder says nothing."""
    from lxdplan.providers.lock import held_by_another

    server = LockServer(sock)
    client = Client(f"unix://{sock}", member="node1")
    try:
        assert held_by_another(client) is None  # free: no profile
        other = Holder("abc", "ops@build7 pid 4242", 1_780_000_000.0, time.time() + 600,
                       "build7", 4242, 1, "elsewhere")
        server.description = other.dump()
        note = held_by_another(client)
        assert note is not None and note.startswith(
            "another apply holds the cluster lock (ops@build7 pid 4242, since 2026-05-28 ")
        assert "this plan may be out of date" in note
        server.description = Holder("abc", "gone", 1.0, 2.0).dump()  # its lease ran out
        assert held_by_another(client) is None
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_plan_warns_of_the_lock_and_keeps_its_exit_code(tmp_path, monkeypatch, fmt):
    from typer.testing import CliRunner

    import lxdplan.workflow as workflow
    from lxdplan.cli.app import app
    from lxdplan.plan import Plan
    from lxdplan.state.observed import Observed

    desired = tmp_path / "lxdplan.yaml"
    desired.write_text("version: 1\ncluster:\n  members:\n    - name: node1\n"
                       "      address: 192.0.2.1:8443\n")
    note = "another apply holds the cluster lock (ops@build7 pid 4242, since …)"
    monkeypatch.setattr(workflow, "make_plan", lambda d, **kw: workflow.PlanResult(
        d, Observed(clustered=True), Plan("lxd", "5.0.2"), note))
    result = CliRunner().invoke(app, ["plan", "-f", str(desired), "--format", fmt,
                                      "--detailed-exitcode"])
    assert result.exit_code == 0, result.output  # no changes: still 0
    if fmt == "text":
        assert f"warning: {note}" in result.output
    else:
        assert note in json.loads(result.stdout)["diagnostics"]
