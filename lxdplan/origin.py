"""Where in the file the object of a plan step is declared: ``FILE:LINE`` for messages.

A server's refusal of a step names the step and LXD's words; the CLI adds the place in the file
the refused object came from, so the user knows what to fix. The step knows its object (kind and
identity); each kind says how a step names its object (``step_ident``) and a declared object
carries the line where it starts. A member-specific update of a pool or network points at that
member's keys, cluster-wide server config at ``cluster.config``, member-local server config and
a join at the member. Objects the file no longer declares (deletes) have no line: the file alone.
"""

from __future__ import annotations

from lxdplan.desired import Desired
from lxdplan.plan import Action, Kind, Step
from lxdplan.registry import find_spec


def line_of(desired: Desired, step: Step) -> int | None:
    """The line declaring the object ``step`` acts on, or None (not declared, or no line)."""
    if step.kind == Kind.MEMBER or (step.kind == Kind.SERVER and step.member):
        member = desired.member((step.member or "") if step.kind == Kind.SERVER else step.name)
        return (member.line or None) if member else None
    if step.kind == Kind.SERVER:
        return desired.config_line or None  # cluster.config
    found = find_spec(step.kind)
    if found is None:
        return None
    ident = found.step_ident(step)
    obj = next((o for o in found.declared(desired) if found.ident(o) == ident), None)
    if obj is None:
        return None
    if step.member:
        keyed = [line for (m, _), line in getattr(obj, "key_lines", {}).items() if m == step.member]
        if keyed and step.action == Action.UPDATE:
            return min(keyed)
    return getattr(obj, "line", 0) or None


def origin(desired: Desired, step: Step) -> str:
    """``FILE:LINE`` of the step's object (``FILE`` alone when it has no line)."""
    line = line_of(desired, step)
    return f"{desired.path}:{line}" if line else desired.path
