"""The plan: plain data produced by the planner and read by renderers and the executor.

A ``Plan`` is an ordered tuple of ``Step``s (dependency order: every step's ``depends_on`` names
earlier steps). ``before``/``after`` hold only the fields that matter for the change; values may be
``Secret`` objects, which renderers print as ``(sensitive)`` and saved plans store by reference.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = "1.0"


class Action(enum.Enum):
    BOOTSTRAP = "bootstrap"
    JOIN = "join"
    DEFINE = "define"
    INSTANTIATE = "instantiate"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REMOVE = "remove"
    FORCE_REMOVE = "force-remove"
    EVACUATE = "evacuate"
    RESTORE = "restore"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
}
for _a in Action:
    _SYMBOLS.setdefault(_a, "±")


class Kind(str, enum.Enum):
    SERVER = "server"  # cluster-wide server config
    MEMBER = "member"
    CLUSTER_GROUP = "cluster_group"
    STORAGE_POOL = "storage_pool"
    NETWORK = "network"
    PROJECT = "project"
    PROFILE = "profile"
    STORAGE_VOLUME = "storage_volume"

    @property
    def noun(self) -> str:
        """``storage pool``, ``cluster group``…: the kind in a sentence."""
        return "server" if self is Kind.SERVER else self.value.replace("_", " ")


@dataclass(frozen=True)
class Step:
    """One change. ``id`` is unique in the plan and stable for the same inputs.

    ``blocked`` is None when the step can run now, else the one-sentence reason it cannot.
    ``etag`` is the ETag read at plan time, sent as ``If-Match`` by the executor where LXD gives one.
    ``payload`` carries what the executor needs that is not for display (e.g. member_config).
    """

    id: str
    action: Action
    kind: Kind
    name: str
    member: str | None = None
    depends_on: tuple[str, ...] = ()
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""
    blocked: str | None = None
    etag: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unmanaged:
    """A live object lxdplan does not manage and leaves alone, listed for the user."""

    kind: Kind
    name: str
    note: str = ""


@dataclass(frozen=True)
class Plan:
    backend: str
    server_version: str
    steps: tuple[Step, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    diagnostics: tuple[str, ...] = ()  # warnings, one sentence each
    observed_digest: str = ""

    @property
    def changes(self) -> bool:
        return bool(self.steps)

    def summary(self) -> dict[str, int]:
        """Counts for the summary line: add/change/destroy plus member operations."""
        counts = {"add": 0, "change": 0, "destroy": 0, "bootstrap": 0, "join": 0, "remove": 0,
                  "other": 0}
        for step in self.steps:
            if step.action in (Action.CREATE, Action.INSTANTIATE):
                counts["add"] += 1
            elif step.action == Action.UPDATE:
                counts["change"] += 1
            elif step.action == Action.DELETE:
                counts["destroy"] += 1
            elif step.action == Action.BOOTSTRAP:
                counts["bootstrap"] += 1
            elif step.action == Action.JOIN:
                counts["join"] += 1
            elif step.action in (Action.REMOVE, Action.FORCE_REMOVE):
                counts["remove"] += 1
            elif step.action != Action.DEFINE:
                counts["other"] += 1
        return counts
