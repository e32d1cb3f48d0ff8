"""`lxdplan roll`'s plan (``lxdplan.rolling``): order, refusals, resume states, skew — no server."""

from __future__ import annotations

import json

from lxdplan.rolling import (
    DOWN, SERVING, WAITING, Record, RollInstance, RollMember, RollState, plan_roll, render_text, skew,
)
from lxdplan.rollout import fill, run_command


def m(name, *roles, status="Online", version="5.0.2", domain="default", health="serving"):
    return RollMember(name, f"10.0.0.{name[-1]}:8443", tuple(roles), status, version, domain,
                      health)


FIVE = (m("n1", "database-leader", "database"), m("n2", "database"), m("n3", "database"),
        m("n4", "database-standby"), m("n5"))


def test_order_is_no_role_then_standbys_then_voters_then_the_leader():
    plan = plan_roll(RollState("lxd", FIVE))
    assert [(s.member, s.role) for s in plan.steps] == [
        ("n5", "none"), ("n4", "stand-by"), ("n2", "voter"), ("n3", "voter"), ("n1", "leader")]
    assert plan.refusals == ()
    assert plan.steps[-1].reason == "database leader, last of all"


def test_members_limits_the_roll_and_an_unknown_name_is_refused():
    plan = plan_roll(RollState("lxd", FIVE), only=["n1", "n5", "n9"])
    assert [s.member for s in plan.steps] == ["n5", "n1"]
    assert plan.refusals == ("n9 is not a member of the cluster (members: n1, n2, n3, n4 and n5)",)


def test_a_two_voter_cluster_is_refused_with_the_reason():
    plan = plan_roll(RollState("lxd", (m("n1", "database-leader", "database"), m("n2", "database"))))
    assert plan.refusals[0] == (
        "taking n2 out would leave 1 of the cluster's 2 database voters running, fewer than the 2 "
        "its quorum needs; a cluster needs 3 or more voters to be rolled one member at a time")


def test_a_voter_already_down_makes_taking_another_out_break_quorum():
    members = (m("n1", "database-leader", "database"), m("n2", "database"),
               m("n3", "database", status="Offline", health=DOWN), m("n4"))
    plan = plan_roll(RollState("lxd", members), only=["n4", "n2"])
    assert any(r.startswith("taking n2 out would leave 1 of the cluster's 3") for r in plan.refusals)
    assert not any("n4" in r for r in plan.refusals)
    plan = plan_roll(RollState("lxd", members))
    assert "n3 is Offline: bring it back before rolling" in plan.refusals


def test_a_member_waiting_for_the_others_still_counts_for_quorum():
    members = (m("n1", "database-leader", "database"), m("n2", "database", health=WAITING,
                                                          version=""), m("n3", "database"))
    plan = plan_roll(RollState("lxd", members, record=Record(done=("n2",))))
    assert plan.refusals == ()
    assert [(s.member, s.state) for s in plan.steps][0] == ("n2", "done")


def test_emptying_a_failure_domain_that_holds_the_only_copies_is_refused():
    members = (m("n1", "database-leader", "database", domain="a"), m("n2", "database", domain="b"),
               m("n3", "database", domain="c"), m("n4", domain="a", status="Offline", health=DOWN))
    state = RollState("lxd", members, declared_in_domain={"a": ("web1",)})
    plan = plan_roll(state, only=["n1"])
    assert plan.refusals == ("taking n1 out would empty failure domain a, which holds the only "
                             "copies of web1 (placed there by the file)",)
    # one member per domain: any roll empties it for a while; one at a time is the least
    assert plan_roll(state, only=["n2"]).refusals == ()


def test_a_roll_stopped_at_its_last_member_continues_though_the_others_are_evacuated():
    """Blocked path: the roll evacuated n2 and n3 (they wait for n1) and stopped at n1 while its
    command ran; all instances sit on n1. Run again, it continues with n1, which is out already."""
    members = (m("n1", "database-leader", "database"), m("n2", "database", status="Evacuated"),
               m("n3", "database", status="Evacuated"))
    declared = {"default": ("c1", "c2", "c3")}
    for phase in ("running", "ran"):
        record = Record(done=("n2", "n3"), evacuated=("n2", "n3"), current="n1", phase=phase)
        plan = plan_roll(RollState("incus", members, record=record, declared_in_domain=declared))
        assert plan.refusals == ()
    # not yet taken out: emptying the domain is refused as before
    record = Record(done=("n2", "n3"), evacuated=("n2", "n3"))
    plan = plan_roll(RollState("incus", members, record=record, declared_in_domain=declared))
    assert plan.refusals == ("taking n1 out would empty failure domain default, which holds the "
                             "only copies of c1, c2 and c3 (placed there by the file)",)


def test_instances_that_cannot_move_are_named_with_their_mode():
    insts = (RollInstance("c1", "default", "n2", "Running", "auto", "default", "dir",
                          fixed_by="eth0"),
             RollInstance("c2", "default", "n2", "Running", "stop", "default", "dir"),
             RollInstance("c3", "prod", "n2", "Running", "auto", "remote", "ceph"),
             RollInstance("c4", "default", "n3", "Running", "migrate", "default", "dir",
                          fixed_by="eth0"),
             RollInstance("c5", "default", "n3", "Running", "auto", "default", "dir"))
    plan = plan_roll(RollState("lxd", FIVE, insts))
    n2 = next(s for s in plan.steps if s.member == "n2")
    assert n2.moves == ("prod/c3",)
    assert [(x.instance, x.what) for x in n2.stays] == [
        ("c1", "cannot move (device eth0, cluster.evacuate: auto): stopped in place, started "
               "again at restore"),
        ("c2", "stopped in place (cluster.evacuate: stop), started again at restore")]
    assert next(s for s in plan.steps if s.member == "n3").moves == ("c4", "c5")
    assert plan_roll(RollState("lxd", FIVE, insts), evacuate=False).steps[2].stays == ()
    text = render_text(plan)
    assert "       c1 cannot move (device eth0" in text


def test_which_device_keeps_an_instance_in_place_as_each_server_decides():
    from lxdplan.rolling import fixed_by

    pools = {"local": "dir", "remote": "ceph"}
    root = {"root": {"type": "disk", "path": "/", "pool": "local"}}
    unmanaged_parent = {"eth0": {"type": "nic", "nictype": "bridged", "parent": "lxdbr0"}}
    # the root disk moves even on a local pool (copied to the target member)
    assert fixed_by(root, "lxd", pools, set()) == ""
    # a bridged NIC on a parent bridge: LXD needs `network`; Incus also takes a managed parent
    assert fixed_by({**root, **unmanaged_parent}, "lxd", pools, {"lxdbr0"}) == "eth0"
    assert fixed_by({**root, **unmanaged_parent}, "incus", pools, {"lxdbr0"}) == ""
    assert fixed_by({**root, **unmanaged_parent}, "incus", pools, set()) == "eth0"
    assert fixed_by({**root, "eth0": {"type": "nic", "network": "br0"}}, "lxd", pools, set()) == ""
    # another disk moves only on a remote pool; other devices never
    data = {"type": "disk", "path": "/data", "pool": "local", "source": "vol"}
    assert fixed_by({**root, "data": data}, "incus", pools, set()) == "data"
    assert fixed_by({**root, "data": {**data, "pool": "remote"}}, "lxd", pools, set()) == ""
    assert fixed_by({**root, "tty": {"type": "unix-char", "path": "/dev/ttyS0"}}, "lxd", pools,
                    set()) == "tty"


def test_resume_states_and_expected_version():
    members = (m("n1", "database-leader", "database"), m("n2", "database", version="5.21"),
               m("n3", "database", status="Evacuated"))
    record = Record(done=(), evacuated=("n3",), current="n3", phase="running")
    plan = plan_roll(RollState("lxd", members, record=record), expect_version="5.21")
    assert [(s.member, s.state) for s in plan.steps] == [
        ("n2", "done"), ("n3", "resume: command again"), ("n1", "to do")]
    assert plan.notes == ("a roll is half done (0 of 3 members finished): this run continues it",)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["expect_version"] == "5.21" and data["order"][1]["state"] == "resume: command again"


def test_record_round_trip():
    r = Record("cmd {member}", "6.0", ("a",), ("b",), "b", "ran", "h", 42, 7)
    assert Record.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_skew_names_the_members_behind():
    assert skew({"n1": "5.0.2", "n2": "5.0.2"}) is None
    assert skew({"n1": "5.21.1", "n2": "5.0.2", "n3": "", "n4": "5.0.2"}) == (
        "members run different versions: n2 and n4 are behind (n2 5.0.2, n4 5.0.2; newest 5.21.1)")


def test_fill_replaces_only_the_three_placeholders():
    assert fill("up {member} {address} {version} ${HOME} {x}", member="n1", address="a:1",
                version="6") == "up n1 a:1 6 ${HOME} {x}"


def test_run_command_streams_lines_with_the_member_and_bounds_time():
    said: list[str] = []
    assert run_command("echo one; echo two >&2; exit 4", "n1", said.append, 30) == 4
    assert said == ["n1 | one", "n1 | two"]
    assert run_command("sleep 30", "n1", said.append, 0.5) is None


class _Cluster:
    def save_record(self, record):
        pass


def test_a_command_left_running_by_a_killed_roll_is_waited_for():
    import socket
    import subprocess

    from lxdplan.rolling import RollPlan
    from lxdplan.rollout import Roller
    from lxdplan.state.hostlock import process_start

    left = subprocess.Popen(["sleep", "0.5"])
    said: list[str] = []
    record = Record(current="n1", phase="running", host=socket.gethostname(), pid=left.pid,
                    start=process_start(left.pid) or 0)
    roller = Roller(_Cluster(), RollPlan(()), command="true", timeout=30, say=said.append,
                    record=record)
    import threading
    threading.Thread(target=left.wait, daemon=True).start()  # reap it as its parent would
    roller.wait_for_earlier_command("n1")
    assert left.poll() is not None
    assert said == [f"n1: the command the interrupted roll started still runs (pid {left.pid}); "
                    "waiting for it to end"]


def test_status_and_plan_name_the_members_behind():
    import cases

    from lxdplan.planner import plan as make_plan
    from lxdplan.render.status import render_status

    desired, observed = cases.desired("blocked_member"), cases.observed("blocked_member")
    text = render_status(desired, observed)
    assert ("members run different versions (node1 5.0.2, node2 5.0.3, node3 5.0.2); node1 and "
            "node3 are behind") in text
    diagnostics = make_plan(desired, observed).diagnostics
    assert any("node1 and node3 are behind: a roll is half done, finish it with `lxdplan roll`"
               in d for d in diagnostics)


class _Listed(_Cluster):
    backend = "lxd"

    def statuses(self):
        return {"n1": {"roles": ["database-leader", "database"], "status": "Online"},
                "n2": {"roles": ["database"], "status": "Offline"},
                "n3": {"roles": ["database"], "status": "Online"}}

    def probe(self, member, listed=None):
        return DOWN, ""  # n2 is down for real: its own endpoint does not answer


def test_a_voter_gone_down_during_the_roll_stops_it_before_the_next_voter():
    import pytest

    from lxdplan.rolling import RollPlan
    from lxdplan.rollout import Roller, RollFailed

    roller = Roller(_Listed(), RollPlan(()), command="true", timeout=30, say=print, record=None)
    with pytest.raises(RollFailed, match="the roll stopped before n3: taking n3 out would leave 1 "
                                         "of the cluster's 3 database voters running"):
        roller.one("n3", "")


class _ListedLagging(_Listed):
    """n2 was restarted moments ago: it serves, and the cluster lists it Offline for the first
    ``lag`` listings (until the leader's next heartbeat reaches it)."""

    def __init__(self, lag: int):
        self.lag = lag

    def statuses(self):
        listed = super().statuses()
        if self.lag:
            self.lag -= 1
        else:
            listed["n2"]["status"] = "Online"
        return listed

    def probe(self, member, listed=None):
        return SERVING, "5.0.2"


def test_a_voter_listed_offline_that_serves_is_waited_for_before_the_next_voter(monkeypatch):
    from lxdplan import rollout
    from lxdplan.rolling import RollPlan

    monkeypatch.setattr(rollout, "HEARTBEAT_WAIT", 0.0)
    said: list[str] = []
    roller = rollout.Roller(_ListedLagging(lag=3), RollPlan(()), command="true", timeout=30,
                            say=said.append, record=None)
    roller.check_quorum("n3")  # no refusal: n2 is counted once the cluster lists it Online
    assert said == ["n2 serves but is listed Offline (restarted moments ago); waiting for the "
                    "cluster to count it before n3"]


def test_a_voter_listed_offline_too_long_stops_the_roll_even_if_it_serves(monkeypatch):
    import pytest

    from lxdplan import rollout
    from lxdplan.rolling import RollPlan

    monkeypatch.setattr(rollout, "HEARTBEAT_WAIT", 0.0)
    monkeypatch.setattr(rollout, "QUORUM_WAIT", 0.0)
    roller = rollout.Roller(_ListedLagging(lag=10**6), RollPlan(()), command="true", timeout=30,
                            say=lambda line: None, record=None)
    with pytest.raises(rollout.RollFailed, match="the roll stopped before n3: taking n3 out"):
        roller.check_quorum("n3")


class _ListedLate(_Listed):
    """No member serves for the first two listings (the last one restarting, the others
    waiting for it)."""

    def __init__(self):
        self.outage = 2

    def statuses(self):
        from lxdplan.errors import ConnectError

        if self.outage:
            self.outage -= 1
            raise ConnectError("no declared member of the cluster serves its API")
        return super().statuses()


def test_the_quorum_check_waits_for_a_listing_instead_of_skipping(monkeypatch):
    import pytest

    from lxdplan import rollout
    from lxdplan.rolling import RollPlan

    monkeypatch.setattr(rollout, "POLL", 0.0)
    said: list[str] = []
    roller = rollout.Roller(_ListedLate(), RollPlan(()), command="true", timeout=30,
                            say=said.append, record=None)
    with pytest.raises(rollout.RollFailed, match="the roll stopped before n3: taking n3 out"):
        roller.check_quorum("n3")
    assert said == ["waiting for a member to serve its API to read the members' status…"]


class _RestoreRefusedOnce(_Cluster):
    """A cluster that refuses the first restore as Incus does right after the member waited for
    the others (no heartbeat yet), and puts the member back to Evacuated."""

    backend = "incus"

    def __init__(self, refusal: str):
        self.refusal, self.asked, self.state = refusal, 0, "Evacuated"

    def statuses(self):
        return {"n1": {"status": self.state}}

    def member_operations(self, member):
        return []

    def set_state(self, member, action):
        from lxdplan.errors import ApiError

        self.asked += 1
        if self.asked == 1:
            raise ApiError(self.refusal)
        self.state = "Online"


def test_a_restore_refused_while_the_member_counts_offline_is_asked_again(monkeypatch):
    from lxdplan import rollout
    from lxdplan.rolling import RollPlan

    monkeypatch.setattr(rollout, "HEARTBEAT_WAIT", 0.0)
    cluster = _RestoreRefusedOnce("node1: Incus refused POST /1.0/cluster/members/n1/state: "
                                  "Failed to restore instances: Migration API failure: Target "
                                  "cluster member is offline")
    said: list[str] = []
    roller = rollout.Roller(cluster, RollPlan(()), command="true", timeout=30, say=said.append,
                            record=Record(evacuated=("n1",)))
    roller.restore("n1")
    assert cluster.asked == 2 and cluster.state == "Online"
    assert said == ["n1: restoring",
                    "n1: the cluster does not count it online yet; restoring again once it does"]
    assert roller.record.evacuated == ()


class _RestoreLeftStopped(_RestoreRefusedOnce):
    """The refused restore moved c1 back to n1 stopped; the one asked again started only what
    it stopped itself, so c1 stays stopped."""

    def __init__(self):
        super().__init__("Target cluster member is offline")
        self.started: list[tuple[str, str]] = []

    def instances(self):
        status = "Running" if self.started else "Stopped"
        return (RollInstance("c1", "default", "n1", status),
                RollInstance("c9", "default", "n1", "Stopped"))

    def start_instance(self, project, name):
        self.started.append((project, name))


def test_what_ran_before_the_evacuation_runs_after_the_restore(monkeypatch):
    from lxdplan import rollout
    from lxdplan.rolling import RollPlan

    monkeypatch.setattr(rollout, "HEARTBEAT_WAIT", 0.0)
    cluster = _RestoreLeftStopped()
    said: list[str] = []
    roller = rollout.Roller(cluster, RollPlan(()), command="true", timeout=30, say=said.append,
                            record=Record(evacuated=("n1",), running=("n1/default/c1",
                                                                      "n2/default/c2")))
    roller.restore("n1")
    assert cluster.started == [("default", "c1")]  # c9 was stopped before: left as it was
    assert "n1: c1 ran before the evacuation and the restore left it stopped: starting it" in said
    assert roller.record.running == ("n2/default/c2",)
    assert Record.from_dict(roller.record.to_dict()) == roller.record


def test_a_restore_refused_for_another_reason_stops_the_roll(monkeypatch):
    import pytest

    from lxdplan import rollout
    from lxdplan.rolling import RollPlan

    cluster = _RestoreRefusedOnce("node1: Incus refused POST …/state: Failed to start instance")
    roller = rollout.Roller(cluster, RollPlan(()), command="true", timeout=30, say=print,
                            record=Record(evacuated=("n1",)))
    with pytest.raises(rollout.RollFailed, match="restoring n1 failed .*Failed to start instance"):
        roller.restore("n1")
    assert cluster.asked == 1


class _LateClient:
    """A member that answers ``GET /1.0`` after the request's deadline (busy starting)."""

    def get(self, path, params=None):
        from lxdplan.errors import AnswerError

        raise AnswerError("member node1 did not finish answering GET /1.0 within 5 s (its answer "
                          "trickled in)", member="node1")


class _Session:
    def client(self, member):
        return _LateClient()


class _Declared:
    backend = "lxd"
    members = ()

    def member(self, name):
        return object()


def test_a_member_answering_too_late_while_it_starts_is_waiting_not_an_error():
    from lxdplan.providers.roll import RollCluster
    from lxdplan.rolling import DOWN, WAITING

    cluster = RollCluster(_Declared(), _Session())
    assert cluster.probe("node1", {"status": "Online"}) == (WAITING, "")
    assert cluster.probe("node1", {"status": "Offline"}) == (DOWN, "")
    assert cluster.member_operations("node1") == []


class _NoneServes:
    """Every request through a serving member fails as no member serves, ``outage`` times."""

    def __init__(self, outage: int):
        self.outage, self.saved = outage, 0

    def save_record(self, record):
        from lxdplan.errors import ConnectError

        if self.outage:
            self.outage -= 1
            raise ConnectError("no declared member of the cluster serves its API (n1: [Errno 2])")
        self.saved += 1


def test_a_record_write_while_no_member_serves_says_it_waits_once_then_goes_on(monkeypatch):
    from lxdplan import rollout
    from lxdplan.rolling import RollPlan

    monkeypatch.setattr(rollout, "POLL", 0.0)
    cluster = _NoneServes(outage=3)
    said: list[str] = []
    roller = rollout.Roller(cluster, RollPlan(()), command="true", timeout=30, say=said.append,
                            record=Record())
    roller.save(phase="ran")
    assert cluster.saved == 1
    assert said == ["waiting for a member to serve its API to record the roll's progress…"]


def test_no_member_serving_within_the_timeout_stops_the_roll_with_one_sentence(monkeypatch):
    import pytest

    from lxdplan import rollout
    from lxdplan.rolling import RollPlan

    monkeypatch.setattr(rollout, "POLL", 0.0)
    said: list[str] = []
    roller = rollout.Roller(_NoneServes(outage=10**9), RollPlan(()), command="true",
                            timeout=0.05, say=said.append, record=Record(current="n1"))
    with pytest.raises(rollout.RollFailed) as failed:
        roller.save(phase="ran")
    assert str(failed.value) == (
        "no member of the cluster served its API for 0.05 s while the roll waited to record the "
        "roll's progress (no declared member of the cluster serves its API (n1: [Errno 2])); n1 "
        "was being rolled: bring the members back, then run the same `lxdplan roll` again to "
        "continue")
    assert said == ["waiting for a member to serve its API to record the roll's progress…"]


class _Lock:
    def __init__(self):
        self.held = False

    def acquire(self):
        self.held = True

    def release(self):
        from lxdplan.errors import ConnectError

        raise ConnectError("no declared member of the cluster serves its API")


def test_a_lock_release_that_fails_never_replaces_the_rolls_own_error(capsys):
    import pytest

    from lxdplan.cli.roll import released
    from lxdplan.rollout import RollFailed

    with pytest.raises(RollFailed) as failed:
        with released(_Lock()):  # type: ignore[arg-type]
            raise RollFailed("the command failed on n2 (exit status 3)")
    assert str(failed.value) == "the command failed on n2 (exit status 3)"
    assert failed.value.__notes__ == [
        "the cluster lock could not be released (no declared member of the cluster serves its "
        "API); the next roll or apply from this host takes it over, one from elsewhere needs "
        "`--break-lock`"]
    with released(_Lock()):  # type: ignore[arg-type]
        pass  # a roll that succeeded: the failed release is a warning after its summary
    assert "the cluster lock could not be released" in capsys.readouterr().err
