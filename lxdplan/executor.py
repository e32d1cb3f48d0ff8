"""Carrying out a plan: dependency order, bounded concurrency, progress events, failures.

The executor knows nothing about HTTP: it calls ``perform(step)`` (``lxdplan.providers.actions``
in production), which is level-based — it re-reads the object, returns False when the change
already holds (the step is skipped) and True when it made the change. ``define`` steps run
concurrently (they target different members), and so do the steps a kind lets run beside others
(instance launches, starts, stops and deletes): up to ``PER_MEMBER`` of them on one member at
once, and every member at once; every other step runs alone, in plan order, so joins happen one
at a time as LXD requires.

A failed step does not stop the apply (as in Terraform): every step that does not depend on it,
directly or through other steps, still runs; the steps that do are not run ("waits for X, which
failed"). Only a failed ``bootstrap`` stops everything: without the cluster nothing else can run.
At the end ``ApplyFailed`` lists every failure, what completed and what was not run.

``stop`` (an event the CLI sets on SIGINT/SIGTERM) starts no further step: the running ones
finish, and every step not started is "not run" because the apply was interrupted.
"""

from __future__ import annotations

import enum
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Sequence

from lxdplan.actionspec import Lane
from lxdplan.errors import LxdplanError
from lxdplan.membership import BOOTSTRAP
from lxdplan.plan import Kind, Step
from lxdplan.registry import action_spec

# Steps of one member's lane (``_lane``: instance launches, starts, stops, deletes) running on
# that member at once. Measured with benchmarks/launch.py (docs/performance.md, "Launching a
# workload"): 24 busybox launches over 3 members took 0.69x the time of one at a time per
# member with 2, 0.83x with 4 and 0.67x with 8 (LXD 5.0.2, medians; 2 had the best minimum):
# the launch is the server's CPU work (each operation's wait is ~90 % of it), so beyond 2 the
# launches of one member only wait longer for each other.
PER_MEMBER = 2
# A failure of these stops every step not yet started, whatever it depends on.
STOPS_ALL = frozenset({BOOTSTRAP})
INTERRUPTED = "the apply was interrupted before it started"


class Outcome(enum.Enum):
    DONE = "done"
    SKIPPED = "already done"
    BLOCKED = "blocked"
    FAILED = "failed"
    NOT_RUN = "not run"  # waits for a step that failed


@dataclass(frozen=True)
class StepResult:
    step: Step
    outcome: Outcome
    seconds: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class Event:
    """Progress: ``kind`` is "start" or "end"; ``result`` is set on "end"."""

    kind: str
    step: Step
    result: StepResult | None = None


class ApplyFailed(LxdplanError):
    """One or more steps failed; the apply went on with every step that did not depend on them.

    ``failures`` holds one sentence per failed step (the step, its member, the cause in LXD's own
    words), ``summary`` one sentence on what completed, what was not run or blocked, and what to
    do; ``results`` one result per step. ``str()`` is all of them, one per line."""

    def __init__(self, failed: list[tuple[Step, Exception]], results: list[StepResult]):
        self.failed = failed
        self.results = results
        self.failures = self.sentences()
        self.summary = _summary(results, len(failed))
        super().__init__("\n".join(self.failures + [self.summary]))

    def sentences(self, origin: Callable[[Step], str | None] = lambda step: None) -> list[str]:
        """One sentence per failed step; ``origin(step)``, when it gives one, starts it (the
        ``FILE:LINE`` the step's object is declared at: the CLI knows the file)."""
        out = []
        for step, cause in self.failed:
            where = origin(step)
            out.append(f"{f'{where}: ' if where else ''}step {step.id} ({step.action.value}"
                       f"{f' on {step.member}' if step.member else ''}) failed: {cause}")
        return out


def _listing(results: list[StepResult]) -> str:
    names = [_label(r.step) for r in results[:MAX_LISTED]]
    more = f" and {len(results) - MAX_LISTED} more" if len(results) > MAX_LISTED else ""
    return f"{', '.join(names)}{more}"


def _summary(results: list[StepResult], failures: int) -> str:
    done = [r for r in results if r.outcome in (Outcome.DONE, Outcome.SKIPPED)]
    not_run = [r for r in results if r.outcome == Outcome.NOT_RUN]
    blocked = [r for r in results if r.outcome == Outcome.BLOCKED]
    parts = [f"{len(done)} step(s) completed ({_listing(done)})" if done
             else "0 step(s) completed"]
    if not_run:
        parts.append(f"{len(not_run)} step(s) not run because they wait for a failed step "
                     f"({_listing(not_run)})")
    if blocked:
        parts.append(f"{len(blocked)} step(s) blocked for the reasons shown")
    cause = "the cause" if failures == 1 else "the causes"
    return "; ".join(parts) + f"; fix {cause} and run apply again"


MAX_LISTED = 8


def _label(step: Step) -> str:
    """``define storage pool data on node2``, ``join member node2``, ``update server config``."""
    what = step.kind.noun if step.kind == Kind.SERVER else f"{step.kind.noun} {step.name}"
    where = ""
    if step.member and step.kind != Kind.MEMBER:
        where = f" {action_spec(step.kind, step.action).toward} {step.member}"
    return f"{step.action.value} {what}{where}"


def execute(
    steps: Sequence[Step],
    perform: Callable[[Step], bool],
    *,
    on_event: Callable[[Event], None] = lambda event: None,
    workers: int = 4,
    stop: threading.Event | None = None,
    per_member: int | None = None,
) -> list[StepResult]:
    """Run ``steps`` (already in dependency order). Returns one result per step, blocked ones
    (and those waiting on them) included; raises ``ApplyFailed`` at the end when a step failed,
    after running every step that does not depend on a failed one.

    ``workers`` bounds the defines running at once, ``per_member`` (default ``PER_MEMBER``) the
    steps of one member's lane; the lanes of different members run side by side."""
    width = max(1, per_member if per_member is not None else PER_MEMBER)
    run = _Run(steps, perform, on_event, stop or threading.Event(), max(1, workers), width)
    lanes = {lane for s in steps if (lane := _lane(s)) is not None and lane.startswith("member:")}
    with ThreadPoolExecutor(max_workers=max(1, workers) + width * len(lanes)) as pool:
        while run.pending or run.running:
            run.launch_ready(pool)
            if not run.running:
                # Nothing runs and nothing could start: what is left waits on a step that will
                # not run (its dependencies are settled in plan order, so this is a safeguard).
                run.settle_stuck()
                break
            done, _ = wait(run.running, return_when=FIRST_COMPLETED)
            for future in done:
                run.collect(future)
    ordered = [run.results[s.id] for s in steps if s.id in run.results]
    if run.failed:
        # in plan order, whichever of the steps running at once failed first
        place = {s.id: i for i, s in enumerate(steps)}
        raise ApplyFailed(sorted(run.failed, key=lambda f: place[f[0].id]), ordered)
    return ordered


def _lane(step: Step) -> str | None:
    """Which steps may run beside ``step``: those of other lanes. Its action's ``Lane``
    (``lxdplan.actionspec``, declared by its kind) says: a lane of its own (a define: one
    member each), its member's lane, where at most ``per_member`` run at once (an instance's
    launch, start, stop or delete), or None: the step runs alone."""
    lane = action_spec(step.kind, step.action).lane
    if lane == Lane.OWN:
        return step.id
    if lane == Lane.MEMBER and step.member is not None:
        return f"member:{step.member}"
    return None


class _Run:
    """The state of one ``execute``: what is pending, running and settled."""

    def __init__(self, steps: Sequence[Step], perform: Callable[[Step], bool],
                 on_event: Callable[[Event], None], stop: threading.Event,
                 workers: int = 4, per_member: int = PER_MEMBER):
        self.workers, self.per_member = workers, per_member
        self.by_id = {s.id: s for s in steps}
        self.perform, self.on_event, self.stop = perform, on_event, stop
        self.results: dict[str, StepResult] = {}
        self.pending = list(steps)
        self.running: dict[Future, Step] = {}
        self.started: dict[str, float] = {}
        self.failed: list[tuple[Step, Exception]] = []
        self.halted: str | None = None  # set when a failure stops everything not yet started

    def finished(self, sid: str) -> bool:
        return sid in self.results and self.results[sid].outcome in (Outcome.DONE, Outcome.SKIPPED)

    def not_runnable(self, step: Step) -> tuple[Outcome, str] | None:
        """Why ``step`` will not run (blocked, or waiting for a failure), or None."""
        if step.blocked:
            return Outcome.BLOCKED, step.blocked
        for dep in step.depends_on:
            result = self.results.get(dep)
            if result is None:
                continue
            if result.outcome == Outcome.BLOCKED:
                return Outcome.BLOCKED, f"waits for {dep}, which is blocked"
            if result.outcome == Outcome.FAILED:
                return Outcome.NOT_RUN, f"waits for {dep}, which failed"
            if result.outcome == Outcome.NOT_RUN:
                return Outcome.NOT_RUN, result.note  # names the failed step it waits for
        if self.halted is not None:
            return Outcome.NOT_RUN, self.halted
        if self.stop.is_set():
            return Outcome.NOT_RUN, INTERRUPTED
        return None

    def settle(self, step: Step, outcome: Outcome, note: str) -> None:
        self.pending.remove(step)
        self.end(step, StepResult(step, outcome, note=note))

    def end(self, step: Step, result: StepResult) -> None:
        self.results[step.id] = result
        self.on_event(Event("end", step, result))

    def full(self, lane: str) -> bool:
        """Whether ``lane`` takes no further step now: a member's lane holds ``per_member``
        running steps, or the defines (each its own lane) ``workers``."""
        lanes = [_lane(s) or "" for s in self.running.values()]  # "": a step that runs alone
        if lane.startswith("member:"):
            return lanes.count(lane) >= self.per_member
        return lane in lanes or sum(not x.startswith("member:") for x in lanes) >= self.workers

    def launch_ready(self, pool: ThreadPoolExecutor) -> None:
        """Settle what cannot run; start what is ready: steps in different lanes together
        (``_lane``), up to ``per_member`` in one member's lane, any other step alone (an
        exclusive step waits for the running ones, and they for it). A step whose lane is full
        lets later ready steps of other lanes start; an exclusive one stops the scan, so nothing
        after it in plan order starts before it."""
        for step in list(self.pending):
            why = self.not_runnable(step)
            if why is not None:
                self.settle(step, *why)
                continue
            if self.halted is not None or not all(
                    self.finished(d) for d in step.depends_on if d in self.by_id):
                continue
            lane = _lane(step)
            if self.running and (lane is None or any(
                    _lane(s) is None for s in self.running.values())):
                break
            if lane is not None and self.full(lane):
                continue
            exclusive = lane is None
            self.pending.remove(step)
            self.started[step.id] = time.monotonic()
            self.on_event(Event("start", step))
            self.running[pool.submit(self.perform, step)] = step
            if exclusive:
                break

    def settle_stuck(self) -> None:
        for step in list(self.pending):
            self.settle(step, *(self.not_runnable(step) or (Outcome.BLOCKED, "waits for a blocked step")))

    def collect(self, future: Future) -> None:
        """Record a finished step: done, already done, or failed (a failed bootstrap stops
        every step not yet started)."""
        step = self.running.pop(future)
        seconds = time.monotonic() - self.started[step.id]
        try:
            changed = future.result()
        except Exception as exc:  # noqa: BLE001 - reported with the step, at the end
            if not isinstance(exc, LxdplanError):
                exc = LxdplanError(f"{type(exc).__name__}: {exc}")
            self.failed.append((step, exc))
            if step.action in STOPS_ALL and self.halted is None:
                self.halted = f"waits for {step.id}, which failed"
            self.end(step, StepResult(step, Outcome.FAILED, seconds, str(exc)))
            return
        self.end(step, StepResult(step, Outcome.DONE if changed else Outcome.SKIPPED, seconds))
