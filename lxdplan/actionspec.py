"""What an action is to the people reading a plan: ``ActionSpec``, declared by whoever owns it.

An action id (``plan.Action``) is only a word in step ids and JSON. What the outputs say about
it is declared next to the rules that plan it: the actions every object kind shares
(``SHARED``: create, update, delete, define, instantiate) here, membership's in
``lxdplan.membership``, a kind's own (an instance's start, stop and move) in its module
(``KindSpec.action_specs``, which may also change a shared action's lane). The registry joins
them (``registry.action_spec``); the summary, renderers, progress, executor lanes and the plan's
JSON Schema read them there, so a kind with a new action touches no other module. A step whose
kind declares no such action is refused when it is planned.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lxdplan.plan import Action

# The summary's counts always shown, without a noun, as Terraform's: "1 to add, 0 to change".
HEADLINE = ("add", "change", "destroy")


class Lane(enum.Enum):
    """Which steps of this action may run beside others (``lxdplan.executor``)."""

    ALONE = "alone"  # one at a time, in plan order (joins, most writes)
    OWN = "own"  # each step beside every other (a define: one member each, independent)
    MEMBER = "member"  # in its member's lane: a few at once per member, every member at once


@dataclass(frozen=True)
class ActionSpec:
    """One action of a kind, as every output shows it.

    ``verb`` is the progress wording ("still moving instance web to node2"); ``sign`` the text
    plan's sign (``+``, ``~``, ``-``, ``±``); ``toward`` the word before the step's member
    ("move instance "web" to node2"; "on" for the others). ``count`` is the summary's key it
    counts under: one of ``HEADLINE`` ("1 to add"), or its own, shown as the kind's noun and
    ``words`` ("2 instances to move") when not zero; None: not counted (a define is part of
    its instantiate). Actions sharing a key share its words (remove and force-remove).
    ``lane``: see ``Lane``. ``writes``: the step sends the object's declared config (or starts
    the object with it), so it waits for the steps that make what that config names
    (``planner.dependencies``). ``doc`` says what it does, for the JSON Schema.
    """

    action: Action
    verb: str
    doc: str
    sign: str = "±"
    count: str | None = None
    words: str = ""
    toward: str = "on"
    lane: Lane = Lane.ALONE
    writes: bool = False

    def __post_init__(self) -> None:
        if self.count is not None and self.count not in HEADLINE and not self.words:
            raise ValueError(f"action {self.action}: a count of its own needs its words")


CREATE = ActionSpec(Action.CREATE, "creating", "create the object", sign="+", count="add",
                    writes=True)
UPDATE = ActionSpec(Action.UPDATE, "updating", "change it in place", sign="~", count="change",
                    writes=True)
DELETE = ActionSpec(Action.DELETE, "deleting", "delete it", sign="-", count="destroy")
DEFINE = ActionSpec(Action.DEFINE, "defining",
                    "define a pool or network on one member (pending until instantiated)",
                    lane=Lane.OWN, writes=True)
INSTANTIATE = ActionSpec(Action.INSTANTIATE, "instantiating",
                         "create a pool or network cluster-wide after its defines",
                         count="add", writes=True)

# The actions object kinds share; a kind has those it has a payload for (``payloads``).
SHARED: dict[Action, ActionSpec] = {s.action: s for s in (CREATE, UPDATE, DELETE, DEFINE, INSTANTIATE)}
