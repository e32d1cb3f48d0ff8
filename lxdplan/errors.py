"""The one error root of lxdplan and its narrow subclasses.

Only the CLI layer prints errors and picks exit codes; everything else raises these. The text of
an error is one plain sentence a user can act on, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


class LxdplanError(Exception):
    """Anything a user can cause or fix. ``str(err)`` is the sentence to print."""


def fmt_path(path: tuple) -> str:
    """A place in the file as diagnostics name it: ``("storage_pools", 0, "config",
    "volume.size")`` -> ``storage_pools[0].config["volume.size"]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.replace("_", "").replace("-", "").isalnum():
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text or "the top level"


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (newlines, tabs, terminal escapes,
    direction overrides) written as its escape: a message quotes what the file holds, and a key
    such as "a\\nPlan: 0 to add" must not print as a second line of the output."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else json.dumps(ch)[1:-1] for ch in text)


@dataclass(frozen=True)
class Diagnostic:
    """One finding about the desired-state file, anchored at a file and line; its message is
    one line (see :func:`one_line`)."""

    path: str
    line: int | None
    message: str
    severity: str = "error"  # "error" | "warning"

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", one_line(self.message))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class ValidationError(LxdplanError):
    """The desired-state file is not valid; carries every error found, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity == "error"]
        super().__init__("\n".join(str(d) for d in errors))


class ApiError(LxdplanError):
    """The LXD/Incus server refused a request; the message names the member and quotes LXD."""

    # LXD's own words, for callers that rephrase: set by the client when LXD gave some (read
    # with getattr: absent otherwise).
    lxd_message: str

    def __init__(self, message: str, *, member: str | None = None, status: int | None = None):
        self.member = member
        self.status = status
        super().__init__(message)


class PreconditionFailed(ApiError):
    """HTTP 412: the object changed since its ETag was read."""


class ConnectError(LxdplanError):
    """A member could not be reached. ``mid_request``: it was reached, then the connection
    failed during the request (the member is up: no evidence an object is missing there)."""

    def __init__(self, message: str, *, member: str | None = None, mid_request: bool = False):
        self.member = member
        self.mid_request = mid_request
        super().__init__(message)


class AnswerError(LxdplanError):
    """A member's answer was not what LXD sends: not JSON, the wrong shape, larger than the cap,
    or not finished within the request's deadline. Never retried and never taken as "absent":
    a plan made from it would be wrong. The message names the member, the method and the path."""

    def __init__(self, message: str, *, member: str | None = None):
        self.member = member
        super().__init__(message)


class TrustError(LxdplanError):
    """Certificate pin mismatch or client certificate not trusted."""


class LabError(LxdplanError):
    """`lxdplan lab` could not do what it was asked."""


class PlanError(LxdplanError):
    """The desired state cannot be reached from the observed one (e.g. an immutable change)."""


class LockError(LxdplanError):
    """Another apply holds the lock."""
