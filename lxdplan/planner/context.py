"""Facts the planner derives once from (desired, observed) and every rule reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxdplan.desired import Desired, Member
from lxdplan.plan import Unmanaged
from lxdplan.planner.order import StepList
from lxdplan.state.observed import OFFLINE, UNREACHABLE, Observed


@dataclass
class Context:
    """The inputs plus derived membership: who bootstraps, joins, leaves and stays."""

    desired: Desired
    observed: Observed
    force_remove: frozenset[str]
    steps: StepList = field(default_factory=StepList)
    diagnostics: list[str] = field(default_factory=list)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    leaving: set[str] = field(default_factory=set)  # live members removed (not blocked) first
    bootstrap_step: str | None = None
    removal_steps: list[str] = field(default_factory=list)
    # Offline members removed with force -> that step: what lived only on them is forgotten
    # with them (no delete is planned there; a declared instance is created again elsewhere).
    forced_out: dict[str, str] = field(default_factory=dict)
    join_steps: dict[str, str] = field(default_factory=dict)  # member -> join/bootstrap step id
    wide_update: str | None = None  # the step writing changed cluster-wide keys, if any
    # Members that join before new pools and networks are created (``members.choose_order``):
    # their joins carry member-specific keys only for objects that exist already, and each new
    # object is defined on them too, after their join.
    joined_first: list[str] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        """No cluster exists yet: the first declared member bootstraps one."""
        return not self.observed.clustered

    @property
    def bootstrap(self) -> Member | None:
        return self.desired.members[0] if self.fresh and self.desired.members else None

    @property
    def joiners(self) -> list[Member]:
        """Declared members that join, in file order (the bootstrap member excluded)."""
        boot = self.bootstrap
        return [
            m for m in self.desired.members
            if m.name not in self.observed.members and (boot is None or m.name != boot.name)
        ]

    @property
    def present(self) -> list[str]:
        """Members in the cluster when pools and networks are defined: after removals, before
        joins (see the ordering rule in ``lxdplan.planner``)."""
        if self.fresh:
            return [self.bootstrap.name] if self.bootstrap else []
        return [n for n in self.observed.members if n not in self.leaving]

    def status(self, name: str) -> str:
        """The member's status as far as planning goes (``Observed.member_status``): nothing is
        planned on keys of a member that could not be read."""
        return self.observed.member_status(name)

    def member_block(self, name: str) -> str | None:
        """Why a step on this member cannot run now, or None."""
        if self.awaits_trust(name):
            declared = self.desired.member(name)
            if declared is None or declared.trust is None:
                return (f"{name} does not trust lxdplan's client certificate yet: run "
                        f"`lxdplan auth trust -f {self.desired.path}`")
            # apply redeems the declared trust: before anything runs, then it plans again
        if name in self.observed.not_serving():
            return self.not_serving_reason(name)
        status = self.status(name)
        if status == OFFLINE:
            return f"{name} is offline"
        if status == UNREACHABLE:
            alone = self.observed.standalone.get(name)
            why = f": {alone.error}" if alone is not None and alone.error else ""
            return f"{name} cannot be reached{why}"
        return None  # Incus's Blocked marks a member that needs upgrading: it still serves

    def awaits_trust(self, name: str) -> bool:
        """The member answers but does not trust lxdplan's client certificate."""
        alone = self.observed.standalone.get(name)
        return alone is not None and alone.reachable and not alone.trusted

    def not_serving_reason(self, name: str) -> str:
        """Why a member that does not serve cannot take a step (``Observed.not_serving_reason``)."""
        return self.observed.not_serving_reason(name)

    def serving_block(self, what: str) -> str | None:
        """Why ``what`` (a server config write, a join: anything LXD sends to every member,
        Offline ones aside) cannot run while a member does not serve, or None."""
        for name in sorted(self.observed.not_serving()):
            if name not in self.leaving:
                return f"{self.not_serving_reason(name)}, and {what} must reach every member"
        return None

    def all_members_block(self, what: str) -> str | None:
        """Why a step needing every member (``what``, e.g. "instantiating storage pool data")
        cannot run now, or None."""
        for name in self.present:
            reason = self.member_block(name)
            if reason:
                return f"{reason}, and {what} needs every member"
        return None

    def backend(self, member: str | None = None) -> str:
        alone = self.observed.standalone.get(member) if member else None
        if alone is not None and alone.backend:
            return alone.backend
        return self.desired.backend or self.observed.backend

    def builtin_description(self, kind: str) -> str:
        """Before a cluster exists the default profile and project are not read: they exist on
        every server with this description (as observed), empty config and no devices."""
        return self.observed.builtin_descriptions.get(kind, "")

    def after_membership(self) -> list[str]:
        """Ids every object step waits for: the bootstrap and the removals."""
        ids = [self.bootstrap_step] if self.bootstrap_step else []
        return ids + self.removal_steps

    def after_bootstrap(self) -> list[str]:
        """Ids a single-phase object step (group, project, profile, volume) waits for: the
        bootstrap only. Unlike pools and networks, whose definitions are made for the members
        that stay, they do not need the removals: a removal that fails does not hold them."""
        return [self.bootstrap_step] if self.bootstrap_step else []

    def joined(self, member: str | None) -> list[str]:
        """The join (or bootstrap) step a step on ``member`` waits for, if it joins now."""
        sid = self.join_steps.get(member or "")
        return [sid] if sid else []

