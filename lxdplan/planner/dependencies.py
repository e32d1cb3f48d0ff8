"""Dependency edges from the references objects make (``lxdplan.references``).

One pass over the collected steps, after every rule has added its own:

- create order: every step that writes an object's config (``create``, ``define``,
  ``instantiate``, ``update``) or starts it with that config (an instance's ``start`` and
  ``move``): the actions whose ``ActionSpec.writes``; each waits for the steps that create
  or change what its *declared* config names
  (``instantiate``, ``create``, ``update``) — a project whose ``restricted.networks.uplinks``
  names a new network comes after that network's instantiate, and so does the start of a
  stopped instance whose nic names it (LXD refuses the start until the network is created);
- delete order: the ``delete`` of an object waits for every step on the live objects that name
  it in their *live* config (their deletes, or the updates that stop using it) — users go first.

A reference to an object without steps adds nothing; a reference to oneself is ignored.
"""

from __future__ import annotations

from collections import defaultdict

from lxdplan.plan import Action, Kind, Step
from lxdplan.planner import refwalk
from lxdplan.planner.context import Context
from lxdplan.registry import action_spec, find_spec

MAKES = frozenset({Action.CREATE, Action.INSTANTIATE, Action.UPDATE})


def identity(step: Step) -> tuple[Kind, tuple[str, ...]] | None:
    """The object a step acts on, as ``lxdplan.references`` names it (its kind says how)."""
    if step.kind == Kind.SERVER:
        return None
    found = find_spec(step.kind)
    return step.kind, (found.ref_ident(found.step_ident(step)) if found else (step.name,))


def link(ctx: Context) -> None:
    """Add the reference edges to ``ctx.steps`` (see the module docstring)."""
    by_object: dict[tuple, list[Step]] = defaultdict(list)
    for step in ctx.steps.all():
        ident = identity(step)
        if ident is not None:
            by_object[ident].append(step)

    for node in refwalk.declared(ctx.desired):
        users = [s.id for s in by_object.get((node.kind, node.ident), ())
                 if action_spec(s.kind, s.action).writes]
        if not users:
            continue
        for ref in node.refs:
            if (ref.kind, ref.ident) == (node.kind, node.ident):
                continue
            makers = [s.id for s in by_object.get((ref.kind, ref.ident), ()) if s.action in MAKES]
            for sid in users:
                ctx.steps.add_dependency(sid, *makers)

    for node in refwalk.observed(ctx.observed):
        users = [s.id for s in by_object.get((node.kind, node.ident), ())]
        if not users:
            continue
        for ref in node.refs:
            if (ref.kind, ref.ident) == (node.kind, node.ident):
                continue
            for used in by_object.get((ref.kind, ref.ident), ()):
                if used.action == Action.DELETE:
                    ctx.steps.add_dependency(used.id, *users)
