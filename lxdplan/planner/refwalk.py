"""The reference walk: every declared or observed object with the references it makes.

The references each kind's objects make are the kinds' business (``Referring.refs`` and
``refs_into``, built from ``lxdplan.references``); walking all of them is the planner's, which
reads the registry (``lxdplan.planner.dependencies`` orders steps by them, ``usage`` finds the
users of an object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from lxdplan.desired import Desired
from lxdplan.kinds import NamedByOthers, Referring
from lxdplan.kinds.base import KindSpec
from lxdplan.plan import Kind
from lxdplan.references import Ref, member_refs
from lxdplan.registry import registry
from lxdplan.state.observed import Observed


@dataclass(frozen=True)
class Node:
    """One object (declared or observed) with the references it makes."""

    kind: Kind
    ident: tuple[str, ...]
    refs: tuple[Ref, ...]
    line: int = 0  # where a declared object starts in the file


def declared(desired: Desired) -> Iterator[Node]:
    """Every declared object that makes references."""
    for m in desired.members:
        yield Node(Kind.MEMBER, (m.name,), tuple(member_refs(m.groups)), m.line)
    yield from _objects(lambda spec: spec.declared(desired))


def observed(live: Observed) -> Iterator[Node]:
    """Every live object that makes references."""
    for m in live.members.values():
        yield Node(Kind.MEMBER, (m.name,), tuple(member_refs(m.groups)))
    yield from _objects(lambda spec: spec.live(live).values())


def refs_of(spec: KindSpec, obj: Any) -> list[Ref]:
    """Every reference ``obj`` (an object of ``spec``'s kind) makes: its kind's own (``refs``)
    and those a kind it names declares from its own module (``refs_into``: the network ACLs a
    network's or a nic's ``security.acls`` names)."""
    refs = list(spec.refs(obj)) if isinstance(spec, Referring) else []
    for target in registry():
        if isinstance(target, NamedByOthers):
            refs.extend(target.refs_into(spec.kind, obj))
    return refs


def _objects(objects_of: Callable[[KindSpec], Iterable[Any]]) -> Iterator[Node]:
    for spec in registry():
        for obj in objects_of(spec):
            refs = tuple(refs_of(spec, obj))
            if refs:
                yield Node(spec.kind, spec.ref_ident(spec.ident(obj)), refs, getattr(obj, "line", 0))
