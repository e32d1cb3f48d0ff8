"""Deletes of objects something still uses (``used_by``), for every kind alike.

LXD refuses to delete a pool, network, profile, project, volume or ACL that something uses
("The network is currently in use"), and says what only in ``used_by``. A delete the plan makes
is fine when each user LXD lists goes first: the plan deletes it too, or the file declares it
and its declared config no longer names the object (an update stops the use). Otherwise the
delete is blocked, naming the users: those the file does not declare (lxdplan leaves them
alone) and those it keeps using the object.

Users are matched to live objects by their API path and project (``KindSpec.where_declared``
on the live object), a snapshot to the object it belongs to; a user lxdplan does not read (a
bucket, an object in a project it does not list) is named by its path.
The kind of the used object says which users LXD removes with it (``KindSpec.user_blocks``:
a pool's image volumes, a project's own default profile), and whether LXD lists users that use
it only through other users it lists (``users_through_others``: an instance whose profile uses
a network is listed as the network's user; the profile decides). Pools say no: an instance
listed by a pool has its volume there, whatever its profiles say.

The delete waits for the steps that end each use (``depends_on``), as ``dependencies`` does for
the references it can see in live config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from lxdplan.kinds import member_of
from lxdplan.kinds.base import KindSpec
from lxdplan.kinds.common import DEFAULT, and_list
from lxdplan.plan import Action, Kind, Step
from lxdplan.planner import refwalk
from lxdplan.planner.context import Context
from lxdplan.registry import find_spec, registry


@dataclass(frozen=True)
class User:
    """One entry of ``used_by``: its path and query, and the live object it names, if read."""

    path: str
    project: str = DEFAULT
    target: str | None = None
    spec: KindSpec | None = None
    live: Any = None

    @classmethod
    def parse(cls, url: str) -> "User":
        parts = urlsplit(str(url))
        query = parse_qs(parts.query)
        return cls(unquote(parts.path), query.get("project", [DEFAULT])[0],
                   query.get("target", [None])[0])

    def shown(self) -> str:
        if self.spec is not None:
            return f"{self.spec.kind.noun} {self.spec.display(self.live)}"
        return self.path + (f" (project {self.project})" if self.project != DEFAULT else "")


def block_used(ctx: Context) -> None:
    """Block each delete whose object is still used by something the plan leaves using it."""
    index = _live_index(ctx)
    for step in ctx.steps.all():
        if step.action != Action.DELETE:
            continue
        found = find_spec(step.kind)
        if found is None:
            continue
        live = _live_of(found, ctx, step)
        if live is None:
            continue
        ident = (found.kind, found.ref_ident(found.ident(live)))
        users = [u for u in (_resolve(User.parse(url), index)
                             for url in getattr(live, "used_by", ()) or ())
                 if u.live is not live and found.user_blocks(live, u.path, u.project)
                 and not _mutual(found, live, u)]
        listed = {(u.spec.kind, u.spec.ref_ident(u.spec.ident(u.live))) for u in users if u.spec is not None}
        outside, kept = [], []
        for user in users:
            if found.users_through_others and _through_others(user, ident, listed):
                continue  # an instance using it through a listed profile: the profile decides
            ending = _ending_steps(ctx, user)
            if ending is not None:
                ctx.steps.add_dependency(step.id, *ending)
                continue
            declared = _declared(ctx, user)
            if declared is None or user.spec is None:
                outside.append(user.shown())
            elif any((r.kind, r.ident) == ident for r in refwalk.refs_of(user.spec, declared)):
                kept.append(user.shown())
            else:
                ctx.steps.add_dependency(step.id, *_updates(ctx, user))
        if outside or kept:
            ctx.steps.block(step.id, _reason(found, live, outside, kept))


def _mutual(found: KindSpec, live: Any, user: User) -> bool:
    """Whether ``user`` lists the object back as its own user: two OVN networks peered both ways
    list each other (seen live, LXD 5.0.2), a use through their peers, which the peers'
    references order (the peers are deleted first) and the network's ``delete_block`` blocks
    when lxdplan leaves a peer in place."""
    if user.live is None:
        return False
    path = found.where_declared(live).path
    return any(User.parse(url).path == path for url in getattr(user.live, "used_by", ()) or ())


def _through_others(user: User, ident: tuple, listed: set) -> bool:
    """Whether ``user`` names the object only through other listed users (LXD lists an
    instance whose profile uses a network as a user of the network)."""
    if user.spec is None:
        return False
    named = {(r.kind, r.ident) for r in refwalk.refs_of(user.spec, user.live)}
    own = (user.spec.kind, user.spec.ref_ident(user.spec.ident(user.live)))
    return ident not in named and bool(named & (listed - {own}))


def _reason(found: KindSpec, live, outside: list[str], kept: list[str]) -> str:
    name = found.display(live)
    parts = ([f"{and_list(outside)}, which the file does not declare"] if outside else []) + (
        [f"{and_list(kept)}, which the file keeps using it"] if kept else [])
    them = "it" if len(outside) + len(kept) == 1 else "them"
    return (f"{found.kind.noun} {name} is still used by {' and '.join(parts)}: stop {them} using "
            f"{name} first, or keep {name} in the file")


def _live_index(ctx: Context) -> dict[tuple[str, str], list[tuple[KindSpec, Any]]]:
    """Every live object by its API path and project."""
    index: dict[tuple[str, str], list[tuple[KindSpec, Any]]] = {}
    for spec in registry():
        for live in spec.live(ctx.observed).values():
            where = spec.where_declared(live)
            if where.path:
                key = (where.path, where.params.get("project", DEFAULT))
                index.setdefault(key, []).append((spec, live))
    return index


def _resolve(user: User, index) -> User:
    """The live object ``user`` names: the one at its path, else at the nearest path above it
    (an instance's or volume's snapshot is part of it, and goes with it)."""
    path = user.path
    found: list[Any] = []
    while path.count("/") > 2 and not found:
        found = index.get((path, user.project), [])
        path = path.rsplit("/", 1)[0]
    if user.target is not None and len(found) > 1:
        found = [(k, o) for k, o in found if member_of(k, o) in (user.target, None)]
    if len(found) != 1:
        return user
    kind, live = found[0]
    return User(user.path, user.project, user.target, kind, live)


def _live_of(found: KindSpec, ctx: Context, step: Step):
    return next((o for o in found.live(ctx.observed).values()
                 if found.display(o) == step.name and member_of(found, o) == step.member), None)


def _steps_on(ctx: Context, user: User, action: Action) -> list[str]:
    if user.spec is None:
        return []
    name, member = user.spec.display(user.live), member_of(user.spec, user.live)
    return [s.id for s in ctx.steps.all()
            if (s.kind, s.action, s.name) == (user.spec.kind, action, name)
            and (s.member == member or action != Action.DELETE)]


def _ending_steps(ctx: Context, user: User) -> list[str] | None:
    """The delete of the user (its use ends with it), or None."""
    if user.spec is None:
        return None
    return _steps_on(ctx, user, Action.DELETE) or None


def _updates(ctx: Context, user: User) -> list[str]:
    return _steps_on(ctx, user, Action.UPDATE)


def _declared(ctx: Context, user: User):
    if user.spec is None or user.spec.kind == Kind.MEMBER:
        return None
    key = user.spec.ident(user.live)
    return next((o for o in user.spec.declared(ctx.desired) if user.spec.ident(o) == key), None)
