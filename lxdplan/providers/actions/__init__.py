"""The per-step actions of ``apply``: ``perform(session, step) -> bool``.

Level-based: each action re-reads the object before changing it and returns False, changing
nothing, when the change already holds (so a re-run after a kill resumes without duplicating
anything); True when it made the change. Async operations are awaited. A 412 raises
``PreconditionFailed`` ("<kind> <name> changed outside lxdplan since the plan; run plan again").
Secrets in payloads are resolved only when the request is sent.

Dispatch is on ``(step.kind, step.action)``; the payload each needs is the planner's contract
(``lxdplan.planner`` docstring).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from lxdplan.errors import LxdplanError
from lxdplan.plan import Action, Kind, Step
from lxdplan.providers.actions import members, objects, resources
from lxdplan.providers.actions.common import NOUNS
from lxdplan.providers.session import Session

_TWO_PHASE = (Kind.STORAGE_POOL, Kind.NETWORK)
_SINGLE = (Kind.PROFILE, Kind.PROJECT, Kind.CLUSTER_GROUP, Kind.STORAGE_VOLUME)

HANDLERS: dict[tuple[Kind, Action], Callable[[Session, Step], bool]] = {
    (Kind.MEMBER, Action.BOOTSTRAP): members.bootstrap,
    (Kind.MEMBER, Action.JOIN): members.join,
    (Kind.MEMBER, Action.REMOVE): members.remove,
    (Kind.MEMBER, Action.FORCE_REMOVE): members.remove,
    (Kind.MEMBER, Action.UPDATE): members.update_member,
    (Kind.MEMBER, Action.EVACUATE): members.change_state,
    (Kind.MEMBER, Action.RESTORE): members.change_state,
    (Kind.SERVER, Action.UPDATE): members.update_server,
    **{(k, Action.DEFINE): objects.define for k in _TWO_PHASE},
    **{(k, Action.INSTANTIATE): objects.instantiate for k in _TWO_PHASE},
    **{(k, Action.UPDATE): objects.update for k in _TWO_PHASE},
    **{(k, Action.DELETE): objects.delete for k in _TWO_PHASE},
    **{(k, Action.CREATE): resources.create for k in _SINGLE},
    **{(k, Action.UPDATE): resources.update for k in _SINGLE},
    **{(k, Action.DELETE): resources.delete for k in _SINGLE},
}


def perform(session: Session, step: Step) -> bool:
    """Carry out one step; True when something changed, False when it already held."""
    handler = HANDLERS.get((step.kind, step.action))
    if handler is None:
        raise LxdplanError(
            f"step {step.id}: lxdplan cannot {step.action.value} a {NOUNS[step.kind]}"
        )
    return handler(session, step)


def performer(session: Session) -> Callable[[Step], bool]:
    """``perform`` bound to a session, the shape ``executor.execute`` takes."""
    return partial(perform, session)


__all__ = ["perform", "performer", "HANDLERS", "Session"]
