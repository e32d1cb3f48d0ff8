"""The executor's ordering, concurrency, blocking and failure rules, with a recording perform()."""

from __future__ import annotations

import threading

import pytest

from lxdplan.errors import ApiError
from lxdplan.executor import ApplyFailed, Outcome, execute
from lxdplan.plan import Action, Kind, Step


def step(sid, action=Action.CREATE, deps=(), member=None, blocked=None):
    return Step(id=sid, action=action, kind=Kind.PROFILE, name=sid, member=member,
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
        step("j1", Action.JOIN),
        step("j2", Action.JOIN),
    ]
    rec = Recorder(gate=barrier)  # the three defines only pass the barrier together
    results = execute(steps, rec, workers=4)
    assert all(r.outcome == Outcome.DONE for r in results)
    assert rec.max_active == 3
    assert rec.order.index("inst") > max(rec.order.index(d) for d in ("d1", "d2", "d3"))
    assert rec.order.index("j1") < rec.order.index("j2")


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


def test_first_failure_stops_new_steps_and_names_step_and_member():
    steps = [step("a"), step("b", member="node2"), step("c")]
    rec = Recorder(fail={"b"})
    with pytest.raises(ApplyFailed) as info:
        execute(steps, rec)
    assert rec.order == ["a", "b"]
    message = str(info.value)
    assert "step b" in message and "on node2" in message and "boom b" in message
    assert "1 step(s) had completed" in message
    assert [r.outcome for r in info.value.results] == [Outcome.DONE, Outcome.FAILED]


def test_events_report_start_and_end_of_each_step():
    events = []
    execute([step("a"), step("b", deps=["a"])], Recorder(), on_event=events.append)
    assert [(e.kind, e.step.id) for e in events] == [
        ("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")
    ]
    assert events[1].result.outcome == Outcome.DONE and events[1].result.seconds >= 0
