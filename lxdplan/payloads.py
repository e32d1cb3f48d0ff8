"""Payloads of the membership steps (bootstrap, join, removal, member attributes, evacuate and
restore, server config): what the executor sends beyond what the plan shows.

Object kinds keep their payloads in their own module (``lxdplan.kinds``). Values may be
``Secret``; in a server config map ``None`` means "unset this key".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxdplan.membership import BOOTSTRAP, EVACUATE, FORCE_REMOVE, JOIN, REMOVE, RESTORE
from lxdplan.plan import Action, Kind, Payload


@dataclass(frozen=True)
class Bootstrap(Payload):
    """``config``: server keys PATCHed on the member before ``PUT /1.0/cluster`` (member-local
    ones incl. core.https_address, cluster.https_address = address when the REST address differs
    from it, and cluster-wide ones except ``cluster.*``). The step's etag is its ``/1.0`` ETag."""

    server_name: str
    address: str  # cluster address host:port
    endpoint: str = ""  # where lxdplan reaches it (shown; the executor uses the session's client)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Join(Payload):
    """``config``: member-local keys PATCHed on the joining member first; ``member_config``: the
    join's list of ``{entity, name, key, value}`` (member-specific keys of pools and networks);
    ``token_field``: the ``PUT /1.0/cluster`` field of the join token on the joining server (as
    observed: ``Standalone.join_token_field``)."""

    server_name: str
    address: str
    endpoint: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    member_config: list[dict[str, Any]] = field(default_factory=list)
    token_field: str = "cluster_password"


@dataclass(frozen=True)
class Remove(Payload):
    """``DELETE /1.0/cluster/members/<m>``, with ``?force=1`` when ``force``.

    ``force_if_unreachable``: an evacuated member that ``force_remove`` lists; LXD lists it
    Evacuated even when dead, so when the graceful removal fails and the cluster cannot reach
    it, it is removed with force."""

    force: bool = False
    force_if_unreachable: bool = False


@dataclass(frozen=True)
class MemberUpdate(Payload):
    """The full ``PUT`` body of a member: ``roles`` are the database roles as read plus the
    declared assignable ones (re-read at apply), ``config`` the member's own map as read."""

    description: str = ""
    failure_domain: str = "default"
    groups: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberState(Payload):
    """``POST /1.0/cluster/members/<m>/state`` with this action."""

    action: str = "evacuate"  # "evacuate" | "restore"


@dataclass(frozen=True)
class ServerUpdate(Payload):
    """Only the changed keys, PATCHed on ``/1.0`` (``?target=<member>`` when the step has a
    member); ``via_member``: the member whose ETag the plan read for cluster-wide keys."""

    config: dict[str, Any] = field(default_factory=dict)
    via_member: str | None = None
    # Not a write of changed keys but a check of these members' own views of the cluster-wide
    # keys in ``config`` (LXD 5.0.2 keeps a view per member): when one differs, a cluster-wide
    # write of no key makes every member load the config again (``actions.members``).
    refresh: list[str] = field(default_factory=list)


TYPES: dict[tuple[str, Action], type[Payload]] = {
    (Kind.MEMBER, BOOTSTRAP): Bootstrap,
    (Kind.MEMBER, JOIN): Join,
    (Kind.MEMBER, REMOVE): Remove,
    (Kind.MEMBER, FORCE_REMOVE): Remove,
    (Kind.MEMBER, Action.UPDATE): MemberUpdate,
    (Kind.MEMBER, EVACUATE): MemberState,
    (Kind.MEMBER, RESTORE): MemberState,
    (Kind.SERVER, Action.UPDATE): ServerUpdate,
}
