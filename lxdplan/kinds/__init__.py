"""The object kinds: one module per kind in this package (see ``base``).

A kind module defines ``SPEC``, a ``KindSpec`` that opts into capabilities; the registry that lists them is
``lxdplan.registry`` (one line per kind), which only the layers above the kinds import. The
kinds see the planner through ``context.PlanContext``, a protocol they own.
"""

from __future__ import annotations

from lxdplan.kinds.base import (
    Adoptable,
    Checked,
    DependentReads,
    EarlyReads,
    EtagReads,
    KindSpec,
    ListedOwner,
    MemberSpecific,
    NamedByOthers,
    OnMembers,
    Referring,
    Request,
    Requested,
    SingleRequests,
    Stage,
    StatusRows,
    Where,
    member_of,
)

__all__ = ["Adoptable", "Checked", "DependentReads", "EarlyReads", "EtagReads", "KindSpec",
           "ListedOwner", "MemberSpecific", "NamedByOthers", "OnMembers", "Referring", "Request",
           "Requested", "SingleRequests", "Stage", "StatusRows", "Where", "member_of"]
