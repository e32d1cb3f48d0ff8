"""Membership's actions, declared as a kind declares its own (``lxdplan.actionspec``).

Members and server config are not object kinds (``docs/design.md``, "Members and server config
stay special"), but their steps are read like any other: the ids below name them in step ids
and plan JSON, and ``ACTIONS`` says, per kind (``member``, ``server``), how the summary,
renderers, progress and executor show and run them. Their rules are ``lxdplan.planner.members``,
their payloads ``lxdplan.payloads``.
"""

from __future__ import annotations

from dataclasses import replace

from lxdplan.actionspec import UPDATE, ActionSpec
from lxdplan.plan import Action, Kind

BOOTSTRAP = Action("bootstrap")
JOIN = Action("join")
REMOVE = Action("remove")  # graceful
FORCE_REMOVE = Action("force-remove")
EVACUATE = Action("evacuate")
RESTORE = Action("restore")

ACTIONS: dict[Kind, tuple[ActionSpec, ...]] = {
    Kind.MEMBER: (
        ActionSpec(BOOTSTRAP, "bootstrapping", "form a new cluster on the first member",
                   count="bootstrap", words="to bootstrap"),
        ActionSpec(JOIN, "joining", "join a member to the cluster", count="join",
                   words="to join"),
        replace(UPDATE, doc="change a member's description, failure domain, groups, roles or "
                            "member-local config"),
        ActionSpec(REMOVE, "removing", "remove a member from the cluster",
                   count="remove", words="to remove"),
        ActionSpec(FORCE_REMOVE, "force-removing", "remove an offline member with force",
                   count="remove", words="to remove"),
        ActionSpec(EVACUATE, "evacuating", "evacuate a member (its instances move away)",
                   count="evacuate", words="to evacuate"),
        ActionSpec(RESTORE, "restoring", "restore an evacuated member", count="restore",
                   words="to restore"),
    ),
    Kind.SERVER: (replace(UPDATE, doc="change server config keys"),),
}
