"""Pieces every renderer shares: value display, labels, the summary line. No diff logic."""

from __future__ import annotations

import enum
import json
from typing import Any

from lxdplan.desired import SENSITIVE, Secret, map_values
from lxdplan.plan import Kind, Plan, Step
from lxdplan.registry import action_spec, tallies
from lxdplan.sensitive import masked_views


def jsonable(value: Any) -> Any:
    """Plain JSON data; every ``Secret`` becomes ``"(sensitive)"``."""
    def leaf(v: Any) -> Any:
        if isinstance(v, Secret):
            return SENSITIVE
        return v.value if isinstance(v, enum.Enum) else v

    return map_values(value, leaf)


def show(value: Any) -> str:
    """One value as the text output prints it: strings quoted, secrets ``(sensitive)``."""
    if isinstance(value, Secret) or value == SENSITIVE:
        return SENSITIVE
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {show(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return json.dumps(value)


def object_label(step: Step) -> str:
    """``storage pool "data"``, ``server config``, ``member "node2"``."""
    if step.kind == Kind.SERVER:
        return "server config"
    return f'{step.kind.noun} "{step.name}"'


def step_title(step: Step) -> str:
    """The action and, for a member-specific step on an object, the member: ``define on node1``."""
    if step.member and step.kind != Kind.MEMBER:
        return f"{step.action.value} on {step.member}"
    return step.action.value


def _flatten(data: dict | None) -> dict[str, Any]:
    """One level of nesting as ``key["sub"]`` labels; deeper values stay whole."""
    flat: dict[str, Any] = {}
    for key, value in (data or {}).items():
        if isinstance(value, dict) and value:
            for sub, inner in value.items():
                flat[f'{key}["{sub}"]'] = inner
        elif isinstance(value, dict):
            continue
        else:
            flat[key] = value
    return flat


def views(step: Step) -> tuple[Any, Any]:
    """A step's ``before``/``after`` as every output shows them: sensitive values
    ``"(sensitive)"`` on both sides (``lxdplan.sensitive``)."""
    return masked_views(step.before, step.after)


def change_lines(step: Step) -> list[tuple[str, str]]:
    """``(sign, text)`` per changed attribute: ``+`` added, ``~`` changed, ``-`` removed, with
    the step's note on it in parentheses (``(applied at next start)``).
    Sensitive values show as ``(sensitive)`` on both sides; one present on both sides is a
    change (the planner lists only changed keys, and two hidden values cannot be compared)."""
    raw_before, raw_after = _flatten(step.before), _flatten(step.after)
    shown_before, shown_after = views(step)
    before, after = _flatten(shown_before), _flatten(shown_after)
    lines = []
    notes = step.notes or {}
    for label in list(dict.fromkeys([*before, *after])):
        note = f" ({notes[label]})" if label in notes else ""
        if label in before and label in after:
            hidden = before[label] == after[label] == SENSITIVE
            if hidden or raw_before[label] != raw_after[label]:
                lines.append(("~", f"{label} = {show(before[label])} -> {show(after[label])}{note}"))
        elif label in after:
            lines.append(("+", f"{label} = {show(after[label])}{note}"))
        else:
            lines.append(("-", f"{label} = {show(before[label])}{note}"))
    return lines


def counts(plan: Plan) -> dict[str, int]:
    """The summary's counts: every key the kinds declare (``registry.tallies``), in order, and
    how many steps count under each (``ActionSpec.count``)."""
    found = dict.fromkeys(tallies(), 0)
    for step in plan.steps:
        key = action_spec(step.kind, step.action).count
        if key is not None:
            found[key] += 1
    return found


def summary_line(plan: Plan) -> str:
    """``Plan: 2 to add, 1 to change, 0 to destroy, 1 member to join.`` or the no-change line:
    the headline counts always, every other count its kind declares when it is not zero
    (``2 instances to move``)."""
    if not plan.changes:
        return "No changes. The cluster matches the file."
    found = counts(plan)
    parts = []
    for key, tally in tallies().items():
        n = found[key]
        if tally.noun is None:
            parts.append(f"{n} {tally.words}")
        elif n:
            parts.append(f"{n} {tally.noun}{'s' if n != 1 else ''} {tally.words}")
    return "Plan: " + ", ".join(parts) + "."


def sign(step: Step) -> str:
    """The step's sign in the text plan (``+``, ``~``, ``-``, ``±``), as its action declares."""
    return action_spec(step.kind, step.action).sign


def blocked_line(plan: Plan) -> str | None:
    blocked = sum(1 for s in plan.steps if s.blocked)
    if not blocked:
        return None
    return (f"{blocked} step{'s are' if blocked != 1 else ' is'} blocked and cannot run now "
            "(reasons above).")


def step_line(step: Step) -> str:
    """A step as its line names it: the action, the object, and the member it runs on:
    ``create storage volume "data/web" on node3``, ``join member "node3"``."""
    on = ""
    if step.member and step.kind != Kind.MEMBER:
        on = f" {action_spec(step.kind, step.action).toward} {step.member}"
    return f"{step.action.value} {object_label(step)}{on}"


# What each sign means, for the legend printed once above the steps (only the signs used).
SIGNS = {
    "+": "create or add",
    "~": "change",
    "-": "delete or remove",
    "±": "the step named (join, move, start…)",
    "!": "blocked or a warning",
}


def legend(plan: Plan) -> str:
    """``Signs: + create / add, ~ change in place, …`` for the signs this plan uses."""
    used = set()
    for step in plan.steps:
        used.add(sign(step))
        used.update(sign for sign, _text in change_lines(step))
        if step.blocked:
            used.add("!")
    if plan.diagnostics:
        used.add("!")
    return "Signs: " + ", ".join(f"{sign} {text}" for sign, text in SIGNS.items() if sign in used)
