"""The registry of object kinds: one module per kind in this package (see ``base``).

Every module of this package that defines ``KIND_SPEC`` is a kind; nothing lists them by hand,
so adding a kind is adding its module (docs/design.md, "Adding a kind"). The registry is built
on first use, in ``rank`` order.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from lxdplan.kinds.base import ObjectKind, Owner, Request, Stage, Where
from lxdplan.plan import Action, Payload

__all__ = ["ObjectKind", "Owner", "Request", "Stage", "Where", "registry", "spec", "payload_type"]


@lru_cache(maxsize=1)
def registry() -> tuple[ObjectKind, ...]:
    """Every object kind, in ``rank`` order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec_ = getattr(module, "KIND_SPEC", None)
        if isinstance(spec_, ObjectKind):
            found.append(spec_)
    ranks = [s.rank for s in found]
    if len(set(ranks)) != len(ranks):
        raise RuntimeError(f"two kinds share a rank: {sorted(ranks)}")
    return tuple(sorted(found, key=lambda s: s.rank))


def spec(kind: str) -> ObjectKind | None:
    """The module of an object kind; None for the membership kinds (member, server)."""
    return next((s for s in registry() if s.kind == kind), None)


def payload_type(kind: str, action: Action) -> type[Payload]:
    """The payload class of a step, for reading saved plans back."""
    from lxdplan import payloads

    if (kind, action) in payloads.TYPES:
        return payloads.TYPES[(kind, action)]
    found = spec(kind)
    if found is None or action not in found.payloads:
        raise ValueError(f"no step {kind}/{action.value} exists")
    return found.payloads[action]
