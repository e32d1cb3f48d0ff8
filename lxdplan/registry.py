"""The registry of object kinds: the one list of the kind modules (``lxdplan.kinds.*``).

Like a Terraform provider's ``Resources()``, the kinds are listed here by hand, once: adding a
kind is its module plus one line of ``SPECS`` (docs/design.md, "Adding a kind"). Only the upper
layers import this module (loader, planner, providers, renderers, CLI); the kinds themselves,
``Desired`` and ``Observed`` never do: they are handed what they need (the layer contract in
pyproject.toml keeps it so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from lxdplan import membership, payloads, sensitive
from lxdplan.actionspec import HEADLINE, SHARED, ActionSpec
from lxdplan.desired import Desired
from lxdplan.kinds import (
    certificate,
    cluster_group,
    image,
    instance,
    network,
    network_acl,
    network_forward,
    network_load_balancer,
    network_peer,
    network_zone,
    network_zone_record,
    profile,
    project,
    snapshot,
    storage_pool,
    storage_volume,
)
from lxdplan.kinds.base import KindSpec
from lxdplan.plan import Action, Kind, Payload
from lxdplan.state.observed import Observed

# Every object kind, in ``rank`` order (checked below).
SPECS: tuple[KindSpec, ...] = (
    cluster_group.SPEC,
    project.SPEC,
    storage_pool.SPEC,
    network_acl.SPEC,
    network_zone.SPEC,
    network_zone_record.SPEC,
    network.SPEC,
    network_forward.SPEC,
    network_peer.SPEC,
    network_load_balancer.SPEC,
    profile.SPEC,
    storage_volume.SPEC,
    image.SPEC,
    instance.SPEC,
    snapshot.SPEC,
    certificate.SPEC,
)


# The orders a kind's hand-picked ranks decide: two kinds sharing one would leave the plan's
# order to the list's, so each is unique.
RANKS = ("rank", "delete_rank", "list_rank", "load_rank")


def _checked(specs: tuple[KindSpec, ...]) -> tuple[KindSpec, ...]:
    """``specs`` in ``rank`` order; RuntimeError when two share any of ``RANKS``."""
    for attr in RANKS:
        seen: dict[int, str] = {}
        for k in specs:
            value = getattr(k, attr)
            if value in seen:
                raise RuntimeError(f"kinds {seen[value]} and {k.kind} share {attr} {value}")
            seen[value] = k.kind
    return tuple(sorted(specs, key=lambda k: k.rank))


SPECS = _checked(SPECS)

# What the layers below need of every kind, handed down once here (they never import the registry).
sensitive.declare(key for k in SPECS for key in k.secret_keys)


# -- actions (``lxdplan.actionspec``) --------------------------------------------------------

def _kind_actions(k: KindSpec) -> dict[Action, ActionSpec]:
    """An object kind's actions: one per payload (its own spec, else the shared one), then any
    it declares without one. RuntimeError for a payload of an action nobody declares."""
    own = {s.action: s for s in k.action_specs}
    table: dict[Action, ActionSpec] = {}
    for action in k.payloads:
        found = own.get(action) or SHARED.get(action)
        if found is None:
            raise RuntimeError(f"kind {k.kind} has a payload for {action}, an action it does not "
                               "declare (action_specs)")
        table[action] = found
    return {**table, **own}


@dataclass(frozen=True)
class Tally:
    """A count of the summary: its key in JSON, and how the summary line words it (``noun``
    None for the headline counts: "1 to add"; else "2 instances to move")."""

    key: str
    noun: str | None
    words: str
    doc: str


def _tallies(actions: Mapping[Kind, Mapping[Action, ActionSpec]]) -> dict[str, Tally]:
    """Every count of the summary, in order: the headline, then membership's and each kind's
    own in registry order. RuntimeError when two actions share a key but not its words."""
    found: dict[str, Tally] = {key: Tally(key, None, f"to {key}", "") for key in HEADLINE}
    docs: dict[str, list[str]] = {key: [] for key in HEADLINE}
    for kind, table in actions.items():
        for spec in table.values():
            if spec.count is None:
                continue
            noun = None if spec.count in HEADLINE else kind.noun
            tally = Tally(spec.count, noun, spec.words if noun else f"to {spec.count}", "")
            if found.setdefault(spec.count, tally) != tally:
                raise RuntimeError(f"{kind} {spec.action} counts under {spec.count!r}, which "
                                   f"another action words differently")
            docs.setdefault(spec.count, []).append(f"{kind} {spec.action}")
    return {key: Tally(t.key, t.noun, t.words, ", ".join(docs[key]) + " steps")
            for key, t in found.items()}


def actions() -> dict[Kind, dict[Action, ActionSpec]]:
    """Every kind's actions, by kind: membership's (member, server), then each object kind's
    in registry order. Built again when ``SPECS`` changes (a test adds a kind)."""
    if _ACTIONS and _ACTIONS[0][0] is SPECS:
        return _ACTIONS[0][1]
    table: dict[Kind, dict[Action, ActionSpec]] = {
        kind: {s.action: s for s in specs} for kind, specs in membership.ACTIONS.items()}
    for k in SPECS:
        table[k.kind] = _kind_actions(k)
    _ACTIONS[:] = [(SPECS, table)]
    return table


_ACTIONS: list[tuple[tuple[KindSpec, ...], dict[Kind, dict[Action, ActionSpec]]]] = []


def action_spec(kind: str, action: str) -> ActionSpec:
    """How a step of ``action`` on ``kind`` is shown and run; KeyError when the kind does not
    declare that action (no step of it can be planned, rendered or read back)."""
    own = actions().get(Kind(kind), {})
    if action not in own:
        raise KeyError(f"{Kind(kind).noun} has no action {Action(action).value!r}")
    return own[Action(action)]


def tallies() -> dict[str, Tally]:
    """The summary's counts, in the order the summary line and its JSON list them."""
    return _tallies(actions())


_tallies(actions())  # refuse conflicting declarations when the registry loads


def registry() -> tuple[KindSpec, ...]:
    """Every object kind, in ``rank`` order."""
    return SPECS


def find_spec(kind: str) -> KindSpec | None:
    """The spec of an object kind; None for the membership kinds (member, server)."""
    return next((s for s in SPECS if s.kind == kind), None)


def spec_of(kind: str) -> KindSpec:
    """The spec of an object kind that must exist (a step of an object kind, a reference)."""
    found = find_spec(kind)
    if found is None:
        raise KeyError(f"no object kind {kind}")
    return found


def payload_type(kind: str, action: Action) -> type[Payload]:
    """The payload class of a step, for reading saved plans back."""
    if (kind, action) in payloads.TYPES:
        return payloads.TYPES[(kind, action)]
    found = find_spec(kind)
    if found is None or Action(action) not in found.payloads:
        raise ValueError(f"no step {kind}/{action.value} exists")
    return found.payloads[action]


def sections() -> list[str]:
    """Every kind's section of ``Desired`` and ``Observed``, in registry order."""
    return [k.section for k in SPECS]


def observed_types() -> dict[str, type]:
    """Each kind's ``Observed`` section and the type of its objects (``Observed.from_dict``)."""
    return {k.section: k.observed_type for k in SPECS}


def desired(**given: Any) -> Desired:
    """A ``Desired`` holding every kind's section (``()`` for those not given); a section no
    kind has is refused, as a dataclass refuses an unknown field."""
    return Desired(**given, sections=sections())


def observed(**given: Any) -> Observed:
    """An ``Observed`` holding every kind's section (``{}`` for those not given); a section no
    kind has is refused."""
    return Observed(**given, sections=sections())


def observed_from_dict(data: Mapping[str, Any]) -> Observed:
    """``Observed.from_dict`` with every kind's section."""
    return Observed.from_dict(dict(data), observed_types())
