"""The registry of object kinds: the one list of the kind modules (``lxdplan.kinds.*``).

Like a Terraform provider's ``Resources()``, the kinds are listed here by hand, once: adding a
kind is its module plus one line of ``SPECS`` (docs/design.md, "Adding a kind"). Only the upper
layers import this module (loader, planner, providers, renderers, CLI); the kinds themselves,
``Desired`` and ``Observed`` never do: they are handed what they need (the layer contract in
pyproject.toml keeps it so).
"""

from __future__ import annotations

from typing import Any, Mapping

from lxdplan import payloads
from lxdplan.desired import Desired
from lxdplan.kinds import (
    cluster_group,
    image,
    instance,
    network,
    network_acl,
    network_forward,
    network_zone,
    network_zone_record,
    profile,
    project,
    storage_pool,
    storage_volume,
)
from lxdplan.kinds.base import KindSpec
from lxdplan.plan import Action, Payload
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
    profile.SPEC,
    storage_volume.SPEC,
    image.SPEC,
    instance.SPEC,
)


# The orders a kind's hand-picked ranks decide: two kinds sharing one would leave the plan's
# order to the list's, so each is unique.
RANKS = ("rank", "delete_rank", "list_rank", "load_rank")


def _checked(kinds: tuple[KindSpec, ...]) -> tuple[KindSpec, ...]:
    """``kinds`` in ``rank`` order; RuntimeError when two share any of ``RANKS``."""
    for attr in RANKS:
        seen: dict[int, str] = {}
        for k in kinds:
            value = getattr(k, attr)
            if value in seen:
                raise RuntimeError(f"kinds {seen[value]} and {k.kind} share {attr} {value}")
            seen[value] = k.kind
    return tuple(sorted(kinds, key=lambda k: k.rank))


SPECS = _checked(SPECS)


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
    if found is None or action not in found.payloads:
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
