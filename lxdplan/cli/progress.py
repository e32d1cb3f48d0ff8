"""What `apply` prints while it runs: one line per finished step, and signs of life for long ones.

``Progress`` takes the executor's events. A step that runs longer than a few seconds (a join, an
instantiate, an image import) is reported still running with its elapsed time, as Terraform's
"Still creating... [10s elapsed]": in a log (no terminal) a plain line every ``EVERY`` seconds,
on a terminal one live line rewritten in place. The timing is ``StillRunning``: plain data driven
by a clock passed in, so it is tested with a fake clock; a daemon thread calls ``tick()`` about
once a second while steps run.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

from lxdplan.cli.output import out, style, use_colour
from lxdplan.desired import scrub
from lxdplan.plan import Kind, Step
from lxdplan.registry import action_spec

EVERY = 10.0  # seconds between plain lines about one step
LIVE_AFTER = 3.0  # on a terminal the live line appears once a step has run this long
TICK = 1.0

def describe(step: Step) -> str:
    """``member node2``, ``storage pool data on node1``, ``instance web to node2``, ``server
    config``: the member after the word its action declares (``ActionSpec.toward``)."""
    what = step.kind.noun if step.kind == Kind.SERVER else f"{step.kind.noun} {step.name}"
    if not step.member or step.kind == Kind.MEMBER:
        return what
    return f"{what} {action_spec(step.kind, step.action).toward} {step.member}"


def still(step: Step, seconds: float) -> str:
    """``still joining member node2... [10s elapsed]``, in its action's words (``verb``)."""
    verb = action_spec(step.kind, step.action).verb
    return f"still {verb} {describe(step)}... [{int(seconds)}s elapsed]"


@dataclass
class _Running:
    step: Step
    since: float
    next_line: float


class StillRunning:
    """Which running steps are due a "still running" line. ``due(now)`` answers each step once
    per ``every`` seconds, the first time ``every`` seconds after it started."""

    def __init__(self, every: float = EVERY) -> None:
        self.every = every
        self.running: dict[str, _Running] = {}

    def start(self, step: Step, now: float) -> None:
        self.running[step.id] = _Running(step, now, now + self.every)

    def end(self, step: Step) -> None:
        self.running.pop(step.id, None)

    def due(self, now: float) -> list[str]:
        lines = []
        for run in self.running.values():
            if now >= run.next_line:
                lines.append(still(run.step, now - run.since))
                while run.next_line <= now:
                    run.next_line += self.every
        return lines

    def live(self, now: float, after: float = LIVE_AFTER) -> str:
        """The live line for a terminal: the longest-running step, once it ran ``after`` s."""
        if not self.running:
            return ""
        run = min(self.running.values(), key=lambda r: r.since)
        if now - run.since < after:
            return ""
        more = len(self.running) - 1
        return still(run.step, now - run.since) + (f" (and {more} more running)" if more else "")


class Progress:
    """The executor's ``on_event``: a start line when not on a terminal (a log then shows what was
    running if the process dies), one line per finished step with its member and time, and the
    still-running reports. Use as a context manager to run the ticker thread."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, tty: bool | None = None):
        self.clock = clock
        self.tty = use_colour(sys.stdout) if tty is None else tty
        self.timer = StillRunning()
        self._lock = threading.Lock()
        self._shown = ""  # the live line on the terminal, if any
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, event) -> None:
        with self._lock:
            if event.kind == "start":
                self.timer.start(event.step, self.clock())
                if not self.tty:
                    self._line(f"start: {describe_action(event.step)}")
                return
            self.timer.end(event.step)
            self._line(_finished(event))

    def note(self, text: str) -> None:
        """A line of its own between steps (e.g. a wait for a join already in flight)."""
        with self._lock:
            self._line(text)

    def tick(self) -> None:
        """Print what is due now (called by the ticker thread, or by a test)."""
        with self._lock:
            now = self.clock()
            if self.tty:
                self._live(self.timer.live(now))
            else:
                for line in self.timer.due(now):
                    self._line(line)

    def _line(self, text: str) -> None:
        self._live("")
        out(text)

    def _live(self, text: str) -> None:
        if text == self._shown:
            return
        sys.stdout.write("\r\x1b[K" + scrub(text))
        sys.stdout.flush()
        self._shown = text

    def __enter__(self) -> "Progress":
        self._thread = threading.Thread(target=self._run, name="lxdplan-progress", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            self.tick()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._live("")


def describe_action(step: Step) -> str:
    """``move instance "web" to node2``, ``join member "node2" on node2``."""
    from lxdplan.render.common import object_label

    where = ""
    if step.member:
        toward = "on" if step.kind == Kind.MEMBER else action_spec(step.kind, step.action).toward
        where = f" {toward} {step.member}"
    return f"{step.action.value} {object_label(step)}{where}"


def _finished(event) -> str:
    from lxdplan.executor import Outcome

    label, result = describe_action(event.step), event.result
    if result.outcome == Outcome.BLOCKED:
        return style(f"blocked: {label}: {result.note}", "yellow")
    if result.outcome == Outcome.NOT_RUN:
        return style(f"not run: {label}: {result.note}", "yellow")
    if result.outcome == Outcome.DONE:
        mark, colour = "done", "green"
    elif result.outcome == Outcome.SKIPPED:
        mark, colour = "already done", "cyan"
    else:
        mark, colour = "failed", "red"
    return f"{style(mark, colour)}: {label} ({result.seconds:.1f} s)"
