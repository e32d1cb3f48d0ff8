"""The object kinds: one module per kind in this package (see ``base``).

A kind module defines ``SPEC``, an ``KindSpec``; the registry that lists them is
``lxdplan.registry`` (one line per kind), which only the layers above the kinds import. The
kinds see the planner through ``context.PlanContext``, a protocol they own.
"""

from __future__ import annotations

from lxdplan.kinds.base import KindSpec, Owner, Request, Stage, Where

__all__ = ["KindSpec", "Owner", "Request", "Stage", "Where"]
