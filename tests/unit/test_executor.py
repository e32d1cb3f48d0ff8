"""The executor's ordering, concurrency, blocking and failure rules, with a recording perform()."""

from __future__ import annotations

import threading

import pytest

from lxdplan.errors import ApiError
from lxdplan.executor import ApplyFailed, Outcome, execute
from lxdplan import membership
from lxdplan.kinds.instance import START
from lxdplan.plan import Action, Kind, Step


# The kind that declares each action (a step of an action its kind lacks is refused).
KIND_OF = {Action.DEFINE: Kind.STORAGE_POOL, Action.INSTANTIATE: Kind.STORAGE_POOL,
           membership.JOIN: Kind.MEMBER, membership.BOOTSTRAP: Kind.MEMBER}


def step(sid, action=Action.CREATE, deps=(), member=None, blocked=None):
    return Step(id=sid, action=action, kind=KIND_OF.get(action, Kind.PROFILE), name=sid, member=member,
                depends_on=tuple(deps), blocked=blocked)


class Recorder:
    def __init__(self, fail=(), skip=(), gate=None):
        self.fail, self.skip, self.gate = set(fail), set(skip), gate
        self.order: list[str] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def __call__(self, s: Step) -> bool:
        with self.lock:
            self.order.append(s.id)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.gate is not None and s.action == Action.DEFINE:
                self.gate.wait()
            if s.id in self.fail:
                raise ApiError(f"node1: LXD refused POST /1.0/profiles: boom {s.id}")
            return s.id not in self.skip
        finally:
            with self.lock:
                self.active -= 1


def test_runs_in_order_and_reports_done_and_skipped():
    steps = [step("a"), step("b", deps=["a"]), step("c", deps=["b"])]
    rec = Recorder(skip={"b"})
    results = execute(steps, rec)
    assert rec.order == ["a", "b", "c"]
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.SKIPPED, Outcome.DONE]


def test_defines_run_concurrently_but_other_steps_alone():
    barrier = threading.Barrier(3, timeout=10)
    steps = [
        step("d1", Action.DEFINE, member="n1"),
        step("d2", Action.DEFINE, member="n2"),
        step("d3", Action.DEFINE, member="n3"),
        step("inst", Action.INSTANTIATE, deps=["d1", "d2", "d3"]),
        step("j1", membership.JOIN),
        step("j2", membership.JOIN),
    ]
    rec = Recorder(gate=barrier)  # the three defines only pass the barrier together
    results = execute(steps, rec, workers=4)
    assert all(r.outcome == Outcome.DONE for r in results)
    assert rec.max_active == 3
    assert rec.order.index("inst") > max(rec.order.index(d) for d in ("d1", "d2", "d3"))
    assert rec.order.index("j1") < rec.order.index("j2")


def test_instance_launches_on_different_members_run_together_and_one_at_a_time_per_member():
    from lxdplan.kinds.instance import SPEC as INSTANCE

    def launch(sid, member, action=Action.CREATE):
        return Step(id=sid, action=action, kind=INSTANCE.kind, name=sid, member=member)

    barrier = threading.Barrier(2, timeout=10)

    class Gated(Recorder):
        def __call__(self, s: Step) -> bool:
            if s.id in ("c1", "c2"):
                barrier.wait()  # passes only if c1 and c2 run at the same time
            return super().__call__(s)

    steps = [launch("c1", "n1"), launch("c2", "n2"), launch("c3", "n1", START),
             launch("c4", None), step("p")]
    rec = Gated()
    results = execute(steps, rec, workers=4, per_member=1)
    assert all(r.outcome == Outcome.DONE for r in results)
    # c1 and c2 met at the barrier; c3 (no barrier) would have started while c1 waited there,
    # had one member taken two steps at once; c4 (no member) and p run alone, after.
    assert set(rec.order[:2]) == {"c1", "c2"} and rec.order[2:] == ["c3", "c4", "p"]


def _launch(sid, member, action=Action.CREATE, deps=()):
    from lxdplan.kinds.instance import SPEC as INSTANCE

    return Step(id=sid, action=action, kind=INSTANCE.kind, name=sid, member=member,
                depends_on=tuple(deps))


class Meeting(Recorder):
    """Steps in ``meet`` pass only all together (a barrier); the others record at once."""

    def __init__(self, meet, **kw):
        super().__init__(**kw)
        self.meet = set(meet)
        self.barrier = threading.Barrier(len(meet), timeout=10)

    def __call__(self, s: Step) -> bool:
        if s.id in self.meet:
            with self.lock:
                self.order.append(f"meet {s.id}")
            self.barrier.wait()
        return super().__call__(s)


def test_up_to_per_member_launches_run_on_one_member_at_once_and_no_more():
    steps = [_launch("a1", "n1"), _launch("a2", "n1"), _launch("b1", "n2"), _launch("a3", "n1")]
    rec = Meeting({"a1", "a2", "b1"})
    results = execute(steps, rec, per_member=2)
    assert all(r.outcome == Outcome.DONE for r in results)
    # a1, a2 (n1's two) and b1 met at the barrier, so they ran at once; a3, n1's third, started
    # only after one of n1's two had ended (it would be among the first three otherwise)
    assert set(rec.order[:3]) == {"meet a1", "meet a2", "meet b1"}
    assert rec.order.index("a3") > min(rec.order.index("a1"), rec.order.index("a2"))


def test_a_full_member_lane_does_not_hold_back_other_members():
    # plan order puts n1's launches first; n2's must not wait behind them
    steps = [_launch("a1", "n1"), _launch("a2", "n1"), _launch("a3", "n1"), _launch("b1", "n2")]
    rec = Meeting({"a1", "b1"})
    results = execute(steps, rec, per_member=1)
    assert all(r.outcome == Outcome.DONE for r in results)
    assert set(rec.order[:2]) == {"meet a1", "meet b1"}


def test_a_start_waits_for_its_create_on_a_wide_member_lane():
    done = []

    def perform(s: Step) -> bool:
        if s.action == START:
            assert "c1" in done, "started before its create ended"
        done.append(s.id)
        return True

    steps = [_launch("c1", "n1"), _launch("s1", "n1", START, deps=["c1"]),
             _launch("c2", "n1"), _launch("s2", "n1", START, deps=["c2"])]
    results = execute(steps, perform, per_member=4)
    assert all(r.outcome == Outcome.DONE for r in results)


def test_an_exclusive_step_waits_for_every_launch_and_later_launches_wait_for_it():
    steps = [_launch("a1", "n1"), _launch("a2", "n1"), step("p"), _launch("b1", "n2")]
    rec = Recorder()
    execute(steps, rec, per_member=4)
    assert rec.order.index("p") > max(rec.order.index("a1"), rec.order.index("a2"))
    assert rec.order.index("b1") > rec.order.index("p")


def test_blocked_steps_and_their_dependents_are_not_run():
    steps = [
        step("a"),
        step("b", blocked="node4 is offline"),
        step("c", deps=["b"]),
        step("d", deps=["a"]),
    ]
    rec = Recorder()
    results = {r.step.id: r for r in execute(steps, rec)}
    assert rec.order == ["a", "d"]
    assert results["b"].outcome == Outcome.BLOCKED and results["b"].note == "node4 is offline"
    assert results["c"].outcome == Outcome.BLOCKED and "b" in results["c"].note


def test_a_failure_lets_independent_steps_run_and_its_dependents_are_not_run():
    steps = [step("a"), step("b", member="node2"), step("c"), step("d", deps=["b"]),
             step("e", deps=["d"]), step("f", deps=["c"])]
    rec = Recorder(fail={"b"})
    with pytest.raises(ApplyFailed) as info:
        execute(steps, rec)
    assert rec.order == ["a", "b", "c", "f"]  # siblings after the failure still ran
    results = {r.step.id: r for r in info.value.results}
    assert [results[s].outcome for s in "abcdef"] == [
        Outcome.DONE, Outcome.FAILED, Outcome.DONE, Outcome.NOT_RUN, Outcome.NOT_RUN, Outcome.DONE]
    assert results["d"].note == "waits for b, which failed"
    assert results["e"].note == "waits for b, which failed"  # names the failure, not d
    assert info.value.failures == [
        "step b (create on node2) failed: node1: LXD refused POST /1.0/profiles: boom b"]
    assert info.value.summary == (
        "3 step(s) completed (create profile a, create profile c, create profile f); 2 step(s) "
        "not run because they wait for a failed step (create profile d, create profile e); fix "
        "the cause and run apply again")
    assert "resumes from" not in str(info.value)
    assert str(info.value) == info.value.failures[0] + "\n" + info.value.summary


def test_every_failure_is_listed_and_blocked_steps_are_counted():
    steps = [step("a"), step("b"), step("c", blocked="node3 is offline"), step("d", deps=["a"])]
    rec = Recorder(fail={"a", "b"})
    with pytest.raises(ApplyFailed) as info:
        execute(steps, rec)
    assert rec.order == ["a", "b"]
    assert [f.split(":")[0] for f in info.value.failures] == ["step a (create) failed",
                                                              "step b (create) failed"]
    assert info.value.summary == (
        "0 step(s) completed; 1 step(s) not run because they wait for a failed step (create "
        "profile d); 1 step(s) blocked for the reasons shown; fix the causes and run apply again")


def test_a_failed_define_leaves_the_other_defines_and_stops_only_the_instantiate():
    steps = [step("d1", Action.DEFINE, member="n1"), step("d2", Action.DEFINE, member="n2"),
             step("inst", Action.INSTANTIATE, deps=["d1", "d2"]), step("other")]
    rec = Recorder(fail={"d1"})
    with pytest.raises(ApplyFailed) as info:
        execute(steps, rec)
    results = {r.step.id: r.outcome for r in info.value.results}
    assert results == {"d1": Outcome.FAILED, "d2": Outcome.DONE, "inst": Outcome.NOT_RUN,
                       "other": Outcome.DONE}


def test_a_failed_bootstrap_stops_everything():
    steps = [step("boot", membership.BOOTSTRAP, member="n1"), step("lone"),
             step("join", membership.JOIN, deps=["boot"])]
    rec = Recorder(fail={"boot"})
    with pytest.raises(ApplyFailed) as info:
        execute(steps, rec)
    assert rec.order == ["boot"]
    results = {r.step.id: r for r in info.value.results}
    assert results["lone"].outcome == Outcome.NOT_RUN
    assert results["lone"].note == "waits for boot, which failed"
    assert results["join"].outcome == Outcome.NOT_RUN


def test_not_run_steps_are_reported_as_events():
    events = []
    with pytest.raises(ApplyFailed):
        execute([step("a"), step("b", deps=["a"])], Recorder(fail={"a"}), on_event=events.append)
    assert [(e.kind, e.step.id, e.result.outcome if e.result else None) for e in events] == [
        ("start", "a", None), ("end", "a", Outcome.FAILED), ("end", "b", Outcome.NOT_RUN)]


def test_events_report_start_and_end_of_each_step():
    events = []
    execute([step("a"), step("b", deps=["a"])], Recorder(), on_event=events.append)
    assert [(e.kind, e.step.id) for e in events] == [
        ("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")
    ]
    assert events[1].result.outcome == Outcome.DONE and events[1].result.seconds >= 0


def test_a_stop_request_starts_no_further_step_and_lets_the_running_one_finish():
    """SIGINT/SIGTERM (the CLI sets ``stop``): the running step ends normally, nothing else starts."""
    stop = threading.Event()
    seen: list[str] = []

    def perform(s: Step) -> bool:
        seen.append(s.id)
        stop.set()  # the signal lands while the first step runs
        return True

    results = execute([step("a"), step("b", deps=["a"]), step("c")], perform, stop=stop)
    assert seen == ["a"]
    assert [(r.step.id, r.outcome) for r in results] == [
        ("a", Outcome.DONE), ("b", Outcome.NOT_RUN), ("c", Outcome.NOT_RUN)]
    assert results[2].note == "the apply was interrupted before it started"


def test_a_signal_inside_a_shield_waits_for_its_end_and_a_second_never_raises():
    from lxdplan.interrupt import Interrupted, Stop

    stop, said = Stop(), []
    with pytest.raises(Interrupted) as info:
        with stop.shield():
            stop.request(15, lambda first, shielded: said.append((first, shielded)))
            stop.request(15, lambda first, shielded: said.append((first, shielded)))
            said.append("the shielded section went on")
    assert info.value.exit_code == 143 and "SIGTERM" in str(info.value)
    assert said == [(True, True), (False, True), "the shielded section went on"]
    unshielded = Stop()
    with pytest.raises(Interrupted):
        unshielded.request(2)
    unshielded.request(2)  # the second, while the first unwinds: recorded, not raised
    assert unshielded.count == 2 and unshielded.signum == 2


def test_a_stop_request_during_concurrent_launches_awaits_every_running_one():
    """A signal while several launches run on each member: every launch already started ends
    (and is reported done), none not yet started begins."""
    stop = threading.Event()
    started = threading.Barrier(4, timeout=10)  # the four first launches run at once
    ended: list[str] = []

    def perform(s: Step) -> bool:
        started.wait()
        stop.set()  # the signal lands while they run
        ended.append(s.id)
        return True

    steps = [_launch("a1", "n1"), _launch("a2", "n1"), _launch("b1", "n2"), _launch("b2", "n2"),
             _launch("a3", "n1"), _launch("b3", "n2")]
    results = execute(steps, perform, stop=stop, per_member=2)
    outcome = {r.step.id: r.outcome for r in results}
    assert sorted(ended) == ["a1", "a2", "b1", "b2"]
    assert outcome == {"a1": Outcome.DONE, "a2": Outcome.DONE, "b1": Outcome.DONE,
                       "b2": Outcome.DONE, "a3": Outcome.NOT_RUN, "b3": Outcome.NOT_RUN}


def test_failures_of_launches_running_at_once_are_listed_in_plan_order():
    """One sentence per failed step, in plan order, whichever finished first."""
    second_failed = threading.Event()

    def perform(s: Step) -> bool:
        if s.id == "a1":
            second_failed.wait(10)  # a1 fails only after b1 has
        if s.id == "b1":
            try:
                raise ApiError(f"node2: LXD refused POST /1.0/instances: boom {s.id}")
            finally:
                second_failed.set()
        raise ApiError(f"node1: LXD refused POST /1.0/instances: boom {s.id}")

    with pytest.raises(ApplyFailed) as info:
        execute([_launch("a1", "n1"), _launch("b1", "n2")], perform, per_member=2)
    assert [step.id for step, _ in info.value.failed] == ["a1", "b1"]
    assert "boom a1" in info.value.failures[0] and "boom b1" in info.value.failures[1]
