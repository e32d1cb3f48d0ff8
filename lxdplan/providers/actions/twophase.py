"""Two-phase kinds (storage pools, networks; ``lxdplan.kinds.twophase``): define per member,
instantiate (or retry), update, delete.

Facts these rely on (seen live on LXD 5.0.2 and Incus 6.0.4):
- ``GET …/<name>?target=<m>`` of a pool pending elsewhere answers status ``Unknown`` with
  ``locations`` listing only the members that have a definition.
- ``PUT …/<name>?target=<m>`` replaces the WHOLE config (cluster-wide keys included) and the
  description; ``PATCH …?target=<m>`` merges. Member-specific changes are therefore PATCHed.
- ``PUT …/<name>`` without target keeps every member's specific keys.
- A network's ETag depends on the view: a targeted GET includes that member's specific keys.
"""

from __future__ import annotations

from typing import Any

from lxdplan.errors import ApiError, PreconditionFailed
from lxdplan.kinds.base import payload_of
from lxdplan.kinds.twophase import Define, Instantiate, TwoPhaseSpec, Update
from lxdplan.plan import Step
from lxdplan.providers.actions.common import (
    comparable,
    get_or_none,
    gone,
    owned,
    precondition,
    reveal,
    same_config,
)
from lxdplan.providers.client import Client
from lxdplan.providers.session import Session
from lxdplan.registry import find_spec


def _kind(step: Step) -> TwoPhaseSpec:
    found = find_spec(step.kind)
    assert isinstance(found, TwoPhaseSpec), step.kind
    return found


def _member_keys(k: TwoPhaseSpec, live: dict[str, Any]) -> frozenset[str]:
    return k.member_keys(live.get(k.type_field, ""))


def _declared(s: Session, k: TwoPhaseSpec, step: Step):
    return next((o for o in k.declared(s.desired) if k.display(o) == step.name), None)


def define(s: Session, step: Step) -> bool:
    """A pending definition on one member with its member-specific keys (``?target=``)."""
    k, p = _kind(step), payload_of(step, Define)
    where, member = k.where(step), step.member or ""
    client = s.at(member)
    live = get_or_none(client, where.path, {"target": member})
    if live is not None and member in ((live.metadata or {}).get("locations") or ()):
        return False
    body = k.define_body(k.object_name(step), p.type, reveal(p.config))
    client.post(where.collection, body, params={"target": member})
    return True


def instantiate(s: Session, step: Step) -> bool:
    """The cluster-wide create once every member has a definition; an ``Errored`` object is
    created again with no cluster-wide config, as LXD requires, which completes the members
    that failed."""
    k, p = _kind(step), payload_of(step, Instantiate)
    where = k.where(step)
    client, params = s.cluster(), where.params
    live = get_or_none(client, where.path, params)
    status = (live.metadata or {}).get("status", "") if live else ""
    if status == "Created":
        return False
    body: dict[str, Any] = {"name": k.object_name(step), k.type_field: p.type}
    if status == "Errored":
        # No cluster-wide config (LXD refuses it), but the description as it is: a retry
        # without one resets it to "".
        body["config"] = {}
        body["description"] = (live.metadata or {}).get("description", "") if live else ""
    else:
        config, description = p.config, p.description
        if p.retry:  # planned as a retry, found Pending
            declared = _declared(s, k, step)
            config = dict(declared.config) if declared else {}
            description = declared.description if declared else ""
        body["config"] = reveal(owned(config))
        body["description"] = description
    try:
        client.post(where.collection, body, params=params)
    except ApiError as exc:
        if _created_meanwhile(client, where.path, params):
            return False
        raise _name_failed_members(s, step, exc) from None
    if body.get("description"):
        # LXD keeps the description of the pending record and ignores the instantiate's one.
        after = client.get(where.path, params)
        md = after.metadata or {}
        if (md.get("description") or "") != body["description"]:
            client.patch(where.path, {"description": body["description"], "config": {}},
                         params=params, etag=after.etag)
    return True


def _created_meanwhile(client: Client, path: str, params: dict[str, str]) -> bool:
    """A refused instantiate of an object that is Created now: an earlier apply, stopped while
    its create ran, left the request to finish inside the daemon (LXD marks the object Errored
    until every member has it). Seen on LXD 5.0.2 as "The network already exists" for a rerun
    that read Errored a moment before the earlier create completed."""
    live = get_or_none(client, path, params)
    return live is not None and (live.metadata or {}).get("status") == "Created"


def _name_failed_members(s: Session, step: Step, exc: ApiError) -> ApiError:
    """LXD names the member an instantiate failed on by its cluster address ("failed to notify
    peer 10.0.0.2:8443"): say which declared member that is, and that the object is left
    ``Errored`` for the next apply to retry."""
    text = str(exc)
    failed = [m.name for m in s.desired.members if m.address and m.address in text]
    if not failed:
        return exc
    err = ApiError(
        f"{step.kind.noun} {step.name} could not be created on {', '.join(failed)} "
        f"(it is left Errored; the next apply retries it): {text}",
        member=failed[0], status=exc.status,
    )
    err.lxd_message = getattr(exc, "lxd_message", text)
    return err


def update(s: Session, step: Step) -> bool:
    """Cluster-wide config and description (PUT without target), or one member's specific keys
    (PATCH with ``?target=``)."""
    if step.member:
        return _update_member(s, step)
    k, p = _kind(step), payload_of(step, Update)
    client = s.cluster()
    path, params = k.where(step).path, k.where(step).params
    live = client.get(path, params)
    md = live.metadata or {}
    wanted, description = p.config, p.description
    specific = _member_keys(k, md)
    live_config = {k: v for k, v in (md.get("config") or {}).items() if k not in specific}
    if (md.get("description") or "") == (description or "") and same_config(live_config, wanted):
        return False
    etag = _checked_etag(s, client, step, live.etag, md)
    with precondition(step):
        client.put(path, {"description": description, "config": reveal(wanted)}, params=params,
                   etag=etag)
    return True


def _checked_etag(s: Session, client: Client, step: Step, live_etag: str | None,
                  md: dict[str, Any]) -> str | None:
    """The ETag to send. The plan may hold a network ETag read with ``?target=<m>`` (which also
    covers that member's specific keys): accept it when it matches the untargeted view or any
    member's view, then guard the write with the live untargeted ETag."""
    if not step.etag or not live_etag or step.etag == live_etag or not _kind(step).etag_per_view:
        return step.etag
    for member in md.get("locations") or ():
        where = _kind(step).where(step)
        view = get_or_none(client, where.path, {**where.params, "target": member})
        if view is not None and view.etag == step.etag:
            return live_etag
    with precondition(step):
        raise PreconditionFailed("etag", status=412)
    return None  # unreachable


def _update_member(s: Session, step: Step) -> bool:
    kind, p = _kind(step), payload_of(step, Update)
    member = step.member or ""
    client = s.at(member)
    path = kind.where(step).path
    live = client.get(path, {"target": member})
    md = live.metadata or {}
    specific = _member_keys(kind, md)
    current = {k: v for k, v in comparable(md.get("config")).items() if k in specific}
    changes = {k: v for k, v in p.config.items() if current.get(k) != v}
    if not changes:
        return False
    etag = live.etag if step.etag else None  # the plan's ETag is another view: guard the race
    with precondition(step):
        client.patch(path, {"config": reveal(changes)}, params={"target": member}, etag=etag)
    return True


def delete(s: Session, step: Step) -> bool:
    where = _kind(step).where(step)
    client = s.cluster()
    if get_or_none(client, where.path, where.params) is None:
        return False
    return gone(lambda: client.delete(where.path, params=where.params))


__all__ = ["define", "instantiate", "update", "delete"]
