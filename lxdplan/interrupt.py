"""Stopping an apply on SIGINT (Ctrl-C) or SIGTERM (what CI sends on cancel) without leaving a
step half-done or the cluster lock behind.

``Stop`` is what the CLI's signal handler sets. Outside a shielded section the handler raises
``Interrupted`` at once (reading, planning, asking: nothing has changed yet, and the locks are
released on the way out). Inside one (``Stop.shield()``: while steps run, while a lock is taken
or released) it only records the signal: the executor starts no further step, the running ones
finish, the lock is released, and ``Interrupted`` is raised when the section ends. A second
signal changes nothing: a running step is never abandoned with the lock released under it.
Nothing here prints; the CLI says what happens.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from lxdplan.errors import LxdplanError


class Interrupted(LxdplanError):
    """The apply stopped on a signal; ``exit_code`` is 128 + the signal number (130, 143)."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(f"apply interrupted ({name}): no further step was started and the locks "
                         "are released; run apply again to finish")


class Stop:
    """The stop request of one apply, set from a signal handler (main thread)."""

    def __init__(self) -> None:
        self.event = threading.Event()  # the executor's "start nothing more"
        self.signum: int | None = None
        self.count = 0
        self._shielded = 0

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    @property
    def shielded(self) -> bool:
        return self._shielded > 0

    def request(self, signum: int, announce: Callable[[bool, bool], None] = lambda first, shielded: None) -> None:
        """Record a signal, then ``announce(first, shielded)``; the first raises ``Interrupted``
        unless a shielded section runs. A later one never raises: the first one's
        ``Interrupted`` is already unwinding (releasing the locks), and must not be cut short.
        (Recorded before anything else: a signal may arrive while the last one is announced.)"""
        self.count += 1
        first = self.count == 1
        if first:
            self.signum = signum
        self.event.set()
        shielded = self.shielded
        announce(first, shielded)
        if first and not shielded:
            raise Interrupted(signum)

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)

    @contextmanager
    def shield(self, *, then_raise: bool = True) -> Iterator[None]:
        """Defer a signal's ``Interrupted`` to the end of this section (if nothing else is being
        raised by then; with ``then_raise`` False, the caller looks at ``signum`` itself)."""
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1
        if then_raise and not self._shielded:
            self.check()
