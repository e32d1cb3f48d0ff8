"""Carrying out a plan: dependency order, bounded concurrency, progress events, stop on failure.

The executor knows nothing about HTTP: it calls ``perform(step)`` (``lxdplan.providers.actions``
in production), which is level-based — it re-reads the object, returns False when the change
already holds (the step is skipped) and True when it made the change. ``define`` steps run
concurrently (they target different members); every other step runs alone, in plan order, so
joins happen one at a time as LXD requires. The first failure stops the launch of new steps; steps
already running finish; the error names the step, its member, LXD's message and what was done.
"""

from __future__ import annotations

import enum
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Sequence

from lxdplan.errors import LxdplanError
from lxdplan.plan import Action, Kind, Step

PARALLEL_ACTIONS = frozenset({Action.DEFINE})

# Test hook: SIGKILL this process after N steps have finished (resumption tests).
KILL_AFTER_ENV = "LXDPLAN_TEST_KILL_AFTER_STEPS"


class Outcome(enum.Enum):
    DONE = "done"
    SKIPPED = "already done"
    BLOCKED = "blocked"
    FAILED = "failed"


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
    """A step failed; ``results`` holds what had finished (done, skipped, failed).

    The message names the step, its member, the cause (LXD's own words), what had completed
    before it, and that a re-run resumes."""

    def __init__(self, step: Step, cause: Exception, results: list[StepResult]):
        self.step = step
        self.cause = cause
        self.results = results
        where = f" on {step.member}" if step.member else ""
        done = [r for r in results if r.outcome in (Outcome.DONE, Outcome.SKIPPED)]
        if done:
            names = [_label(r.step) for r in done[:MAX_LISTED]]
            more = f" and {len(done) - MAX_LISTED} more" if len(done) > MAX_LISTED else ""
            completed = f"{len(done)} step(s) had completed before it ({', '.join(names)}{more})"
        else:
            completed = "0 step(s) had completed before it"
        super().__init__(
            f"step {step.id} ({step.action.value}{where}) failed: {cause}\n"
            f"{completed}; fix the cause and run apply again: it resumes from this step"
        )


MAX_LISTED = 8


def _label(step: Step) -> str:
    """``define storage pool data on node2``, ``join member node2``, ``update server config``."""
    what = step.kind.noun if step.kind == Kind.SERVER else f"{step.kind.noun} {step.name}"
    where = f" on {step.member}" if step.member and step.kind != Kind.MEMBER else ""
    return f"{step.action.value} {what}{where}"


def execute(
    steps: Sequence[Step],
    perform: Callable[[Step], bool],
    *,
    on_event: Callable[[Event], None] = lambda event: None,
    workers: int = 4,
) -> list[StepResult]:
    """Run ``steps`` (already in dependency order). Returns one result per step, blocked ones
    (and those waiting on them) included; raises ``ApplyFailed`` at the first failure."""
    kill_after = int(os.environ.get(KILL_AFTER_ENV, "0") or 0)
    by_id = {s.id: s for s in steps}
    results: dict[str, StepResult] = {}
    pending = list(steps)
    running: dict[Future, Step] = {}
    started: dict[str, float] = {}
    failure: tuple[Step, Exception] | None = None

    def finished(sid: str) -> bool:
        return sid in results and results[sid].outcome in (Outcome.DONE, Outcome.SKIPPED)

    def blocked_reason(step: Step) -> str | None:
        if step.blocked:
            return step.blocked
        for dep in step.depends_on:
            if dep in results and results[dep].outcome == Outcome.BLOCKED:
                return f"waits for {dep}, which is blocked"
        return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while pending or running:
            # Launch what is ready, unless a failure stopped new launches.
            if failure is None:
                for step in list(pending):
                    reason = blocked_reason(step)
                    if reason is not None:
                        pending.remove(step)
                        results[step.id] = StepResult(step, Outcome.BLOCKED, note=reason)
                        on_event(Event("end", step, results[step.id]))
                        continue
                    if not all(finished(d) for d in step.depends_on if d in by_id):
                        continue
                    exclusive = step.action not in PARALLEL_ACTIONS
                    if running and (exclusive or any(
                        s.action not in PARALLEL_ACTIONS for s in running.values()
                    )):
                        break  # an exclusive step waits for the running ones, and vice versa
                    pending.remove(step)
                    started[step.id] = time.monotonic()
                    on_event(Event("start", step))
                    running[pool.submit(perform, step)] = step
                    if exclusive:
                        break
            if not running:
                if failure is not None or not pending:
                    break
                # Nothing runs and nothing could start: the rest waits on blocked steps.
                for step in pending:
                    results[step.id] = StepResult(
                        step, Outcome.BLOCKED, note=blocked_reason(step) or "waits for a blocked step"
                    )
                    on_event(Event("end", step, results[step.id]))
                pending.clear()
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                step = running.pop(future)
                seconds = time.monotonic() - started[step.id]
                try:
                    changed = future.result()
                except Exception as exc:  # noqa: BLE001 - reported with the step, below
                    results[step.id] = StepResult(step, Outcome.FAILED, seconds, str(exc))
                    on_event(Event("end", step, results[step.id]))
                    if failure is None:
                        failure = (step, exc)
                    continue
                outcome = Outcome.DONE if changed else Outcome.SKIPPED
                results[step.id] = StepResult(step, outcome, seconds)
                on_event(Event("end", step, results[step.id]))
                if kill_after and len(results) >= kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
    ordered = [results[s.id] for s in steps if s.id in results]
    if failure is not None:
        step, exc = failure
        if not isinstance(exc, LxdplanError):
            exc = LxdplanError(f"{type(exc).__name__}: {exc}")
        raise ApplyFailed(step, exc, ordered)
    return ordered
