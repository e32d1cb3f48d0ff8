"""Collecting steps, ordering them by dependency and propagating ``blocked``.

Steps are collected in the order the planner thinks of them; ``StepList.ordered()`` then runs a
topological sort (``graphlib``) that always takes, among the steps ready to run, the one collected
first, so the result is stable for the same inputs. A step whose dependency is blocked is blocked
too, naming the step it waits for.
"""

from __future__ import annotations

import dataclasses
import graphlib
from typing import Any

from lxdplan.errors import PlanError
from lxdplan.plan import Action, Kind, Payload, Step, step_id
from lxdplan.registry import action_spec

__all__ = ["StepList", "step_id"]


class StepList:
    """Steps under construction, keyed by id; ids are unique."""

    def __init__(self) -> None:
        self._steps: dict[str, Step] = {}

    def add(
        self,
        action: Action,
        kind: Kind,
        name: str,
        *,
        member: str | None = None,
        depends_on: tuple[str, ...] | list[str] = (),
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str = "",
        blocked: str | None = None,
        etag: str | None = None,
        payload: Payload | None = None,
        notes: dict[str, str] | None = None,
    ) -> str:
        action_spec(kind, action)  # KeyError: the kind declares no such action
        sid = step_id(kind, name, action, None if kind == Kind.MEMBER else member)
        if sid in self._steps:
            raise PlanError(f"the plan would hold two steps with the id {sid}")
        self._steps[sid] = Step(
            id=sid, action=action, kind=kind, name=name, member=member,
            depends_on=tuple(dict.fromkeys(depends_on)), before=before, after=after,
            reason=reason, blocked=blocked, etag=etag, payload=payload or Payload(),
            notes=notes or None,
        )
        return sid

    def all(self) -> list[Step]:
        """The steps collected so far, in collection order."""
        return list(self._steps.values())

    def ids(self, *, kind: Kind | None = None, action: Action | None = None) -> list[str]:
        return [
            s.id for s in self._steps.values()
            if (kind is None or s.kind == kind) and (action is None or s.action == action)
        ]

    def add_dependency(self, sid: str, *deps: str) -> None:
        step = self._steps[sid]
        extra = tuple(d for d in deps if d != sid and d not in step.depends_on)
        if extra:
            self._steps[sid] = dataclasses.replace(step, depends_on=step.depends_on + extra)

    def block(self, sid: str, reason: str) -> None:
        """Mark step ``sid`` blocked with ``reason``, unless it is blocked already."""
        step = self._steps[sid]
        if step.blocked is None:
            self._steps[sid] = dataclasses.replace(step, blocked=reason)

    def ordered(self) -> tuple[Step, ...]:
        """Dependency order (stable); blocked propagated. A dependency on a step id the plan
        does not hold is a planner bug, refused here rather than dropped."""
        for sid, step in self._steps.items():
            unknown = [d for d in step.depends_on if d not in self._steps]
            if unknown:
                raise PlanError(f"step {sid} waits for {', '.join(unknown)}, which the plan does "
                                "not hold")
        steps = dict(self._steps)
        rank = {sid: i for i, sid in enumerate(steps)}
        sorter = graphlib.TopologicalSorter({sid: s.depends_on for sid, s in steps.items()})
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise PlanError(f"the steps depend on each other in a cycle: {cycle}") from None
        ready: list[str] = []
        order: list[str] = []
        while sorter.is_active():
            ready.extend(sorter.get_ready())
            ready.sort(key=rank.__getitem__)
            sid = ready.pop(0)
            order.append(sid)
            sorter.done(sid)
        position = {sid: i for i, sid in enumerate(order)}
        result: dict[str, Step] = {}
        for sid in order:
            step = steps[sid]
            step = dataclasses.replace(step, depends_on=tuple(sorted(step.depends_on,
                                                                     key=position.__getitem__)))
            if step.blocked is None:
                waiting = next((d for d in step.depends_on if result[d].blocked), None)
                if waiting:
                    step = dataclasses.replace(step, blocked=f"waits for {waiting}, which is blocked")
            result[sid] = step
        return tuple(result.values())
