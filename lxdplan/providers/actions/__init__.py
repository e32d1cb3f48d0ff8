"""The per-step actions of ``apply``: ``perform(session, step) -> bool``.

Level-based: each action re-reads the object before changing it and returns False, changing
nothing, when the change already holds (so a re-run after a kill resumes without duplicating
anything); True when it made the change. Async operations are awaited. A 412 raises
``PreconditionFailed`` ("<kind> <name> changed outside lxdplan since the plan; run plan again").
Secrets in payloads are resolved only when the request is sent.

Dispatch is on ``(step.kind, step.action)``: membership and server config here, object kinds by
their shape (two-phase or single-phase, ``lxdplan.kinds``), reading the step's typed payload.
"""

from __future__ import annotations

import importlib
from functools import partial
from typing import Callable

from lxdplan.errors import ApiError, LxdplanError
from lxdplan.kinds import SingleRequests
from lxdplan.kinds.twophase import TwoPhaseSpec
from lxdplan.membership import BOOTSTRAP, EVACUATE, FORCE_REMOVE, JOIN, REMOVE, RESTORE
from lxdplan.plan import Action, Kind, Step
from lxdplan.providers import links
from lxdplan.providers.actions import members, single, twophase
from lxdplan.providers.session import Session
from lxdplan.registry import registry

Handler = Callable[[Session, Step], bool]

MEMBERSHIP: dict[tuple[str, Action], Handler] = {
    (Kind.MEMBER, BOOTSTRAP): members.bootstrap,
    (Kind.MEMBER, JOIN): members.join,
    (Kind.MEMBER, REMOVE): members.remove,
    (Kind.MEMBER, FORCE_REMOVE): members.remove,
    (Kind.MEMBER, Action.UPDATE): members.update_member,
    (Kind.MEMBER, EVACUATE): members.change_state,
    (Kind.MEMBER, RESTORE): members.change_state,
    (Kind.SERVER, Action.UPDATE): members.update_server,
}
# What carries out each action of an object kind, by its shape.
TWO_PHASE: dict[Action, Handler] = {
    Action.DEFINE: twophase.define, Action.INSTANTIATE: twophase.instantiate,
    Action.UPDATE: twophase.update, Action.DELETE: twophase.delete}
SINGLE: dict[Action, Handler] = {
    Action.CREATE: single.create, Action.UPDATE: single.update, Action.DELETE: single.delete}


def handlers() -> dict[tuple[str, Action], Handler]:
    """Every ``(kind, action)`` the executor can carry out."""
    table = dict(MEMBERSHIP)
    for spec in registry():
        if spec.actions:  # a kind with actions of its own: its module here (``HANDLERS``)
            own = importlib.import_module(f"{__name__}.{spec.actions}").HANDLERS
            table.update({(spec.kind, action): own[action] for action in spec.payloads})
            continue
        if isinstance(spec, TwoPhaseSpec):
            shape = TWO_PHASE
        elif isinstance(spec, SingleRequests):
            shape = SINGLE
        else:
            continue  # no way to carry out its steps: ``perform`` refuses them
        table.update({(spec.kind, action): shape[action] for action in spec.payloads})
    return table


def perform(session: Session, step: Step) -> bool:
    """Carry out one step; True when something changed, False when it already held."""
    handler = handlers().get((step.kind, step.action))
    if handler is None:
        what = "server config" if step.kind == Kind.SERVER else step.kind.noun
        raise LxdplanError(f"step {step.id}: lxdplan cannot {step.action.value} a {what}")
    try:
        return handler(session, step)
    except ApiError as exc:
        # A member could not reach another one yet (restarted moments ago): a read or an
        # operation failed. The operation may have done part of its work, so it is not sent
        # again as it was: once the members reach each other the step runs again, re-reading
        # first, and does only what is left. What the first run did counts as a change.
        if not links.link_down(exc) or not links.wait_links(session):
            raise
    handler(session, step)
    return True


def performer(session: Session) -> Callable[[Step], bool]:
    """``perform`` bound to a session, the shape ``executor.execute`` takes."""
    return partial(perform, session)


__all__ = ["perform", "performer", "handlers", "Session"]
