"""What a kind's planning rules see of the planner: the ``PlanContext`` protocol.

The kinds own this protocol and the planner implements it (``lxdplan.planner.context.Context``),
so the kinds never import the planner: layers point one way (pyproject.toml's layer contract).
It lists exactly what the kinds' rules read and call; mypy checks that the planner's context
provides it.

What belongs here: what only the planner knows, i.e. where steps, diagnostics and unmanaged
objects go, and the membership decisions of this run (who bootstraps, joins, stays or is forced
out; why a member cannot take a step; which steps an object step waits for). What follows from
the file and the live state alone is read from ``desired`` and ``observed`` (a member's status:
``observed.member_status``; the backend: ``desired.backend or observed.backend``), never added
here: a kind needs no edit of this file. A new membership decision is a planner change.
"""

from __future__ import annotations

from typing import Any, Protocol

from lxdplan.desired import Desired, Member
from lxdplan.plan import Action, Kind, Payload, Step, Unmanaged
from lxdplan.state.observed import Observed


class StepSink(Protocol):
    """Where a rule adds its steps (``lxdplan.planner.order.StepList``)."""

    def add(self, action: Action, kind: Kind, name: str, *, member: str | None = None,
            depends_on: tuple[str, ...] | list[str] = (), before: dict[str, Any] | None = None,
            after: dict[str, Any] | None = None, reason: str = "", blocked: str | None = None,
            etag: str | None = None, payload: Payload | None = None,
            notes: dict[str, str] | None = None) -> str:
        """Add a step; its id."""
        ...

    def all(self) -> list[Step]:
        """The steps collected so far, in collection order."""
        ...

    def ids(self, *, kind: Kind | None = None, action: Action | None = None) -> list[str]:
        """The ids of the steps collected so far, of ``kind`` and ``action`` when given."""
        ...

    def add_dependency(self, sid: str, *deps: str) -> None:
        """Make step ``sid`` wait for ``deps`` too."""
        ...


class PlanContext(Protocol):
    """The inputs of one planning run and the membership facts derived from them."""

    @property
    def desired(self) -> Desired: ...

    @property
    def observed(self) -> Observed: ...

    @property
    def steps(self) -> StepSink: ...

    @property
    def diagnostics(self) -> list[str]: ...

    @property
    def unmanaged(self) -> list[Unmanaged]: ...

    @property
    def forced_out(self) -> dict[str, str]:
        """Offline members removed with force -> that step."""
        ...

    @property
    def fresh(self) -> bool:
        """No cluster exists yet."""
        ...

    @property
    def joiners(self) -> list[Member]:
        """Declared members that join, in file order."""
        ...

    @property
    def present(self) -> list[str]:
        """Members in the cluster when pools and networks are defined."""
        ...

    @property
    def joined_first(self) -> list[str]:
        """Members that join before new pools and networks are created (defined there too)."""
        ...

    def member_block(self, name: str) -> str | None:
        """Why a step on this member cannot run now, or None."""
        ...

    def serving_block(self, what: str) -> str | None:
        """Why ``what``, which must reach every member, cannot run now, or None."""
        ...

    def all_members_block(self, what: str) -> str | None:
        """Why a step needing every member cannot run now, or None."""
        ...

    def builtin_description(self, kind: str) -> str:
        """The description of a built-in object before a cluster exists."""
        ...

    def after_membership(self) -> list[str]:
        """Ids every object step waits for: the bootstrap and the removals."""
        ...

    def after_bootstrap(self) -> list[str]:
        """Ids a single-phase object step waits for: the bootstrap only."""
        ...

    def joined(self, member: str | None) -> list[str]:
        """The join (or bootstrap) step a step on ``member`` waits for, if it joins now."""
        ...
