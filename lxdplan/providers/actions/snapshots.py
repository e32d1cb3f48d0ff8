"""Snapshots (``lxdplan.kinds.snapshot``): take and delete a declared snapshot.

Level-based, like the certificates' handlers: the name is listed in the parent's
``user.lxdplan.snapshots`` (a ``PATCH`` of the parent's config, which LXD 5.0.2 and Incus 6.0.4
merge into the config for instances and volumes) before the snapshot is taken, so an
interrupted create never leaves one lxdplan would not recognise, and dropped from it after the
delete; a snapshot that exists already is not taken again. Facts: LXD 5.0.2
``lxd/instance_snapshot.go`` and ``lxd/storage_volumes_snapshot.go`` (Incus 6.0.4 the same under
``cmd/incusd/``): ``POST …/snapshots`` takes ``name``, ``expires_at`` and (instances)
``stateful``; both answer with an operation.

A restore (``--restore``) is ``PUT`` of the parent with ``{"restore": SNAPSHOT}`` alone
(``instance_put.go``: an operation; ``storage_volumes.go``: a volume's is synchronous and keeps
its config when none is sent). An instance gets the snapshot's config back, marks included:
the parent's ``user.lxdplan.snapshots`` as it was before is written again after, so the
snapshots taken since stay lxdplan's.
"""

from __future__ import annotations

from typing import Any

from lxdplan.kinds.base import payload_of
from lxdplan.kinds.snapshot import RESTORE, SPEC, Restore, Write, parent_path
from lxdplan.plan import Action, Step
from lxdplan.providers.actions.common import get_or_none, gone
from lxdplan.providers.client import Client
from lxdplan.providers.session import Session


def _mark(client: Client, path: str, params: dict[str, Any] | None, key: str, name: str,
          add: bool) -> bool:
    """Add ``name`` to (or drop it from) the parent's ``key``; True when it changed."""
    parent = get_or_none(client, path, params)
    if parent is None:
        return False  # the parent is gone: its snapshots went with it
    raw = str(((parent.metadata or {}).get("config") or {}).get(key, ""))
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if add == (name in names):
        return False
    names = names + [name] if add else [n for n in names if n != name]
    client.patch(path, {"config": {key: ",".join(names)}}, params=params)
    return True


def create(s: Session, step: Step) -> bool:
    p = payload_of(step, Write)
    where, client = SPEC.where(step), s.cluster()
    params = dict(where.params) or None
    changed = _mark(client, parent_path(where.collection), params, p.owner_key, p.name, True)
    if get_or_none(client, where.path, params) is not None:
        return changed
    body: dict[str, Any] = {"name": p.name}
    if p.expires_at:
        body["expires_at"] = p.expires_at
    if not p.pool:
        body["stateful"] = p.stateful
    client.post(where.collection, body, params=params)
    return True


def delete(s: Session, step: Step) -> bool:
    p = payload_of(step, Write)
    where, client = SPEC.where(step), s.cluster()
    params = dict(where.params) or None
    deleted = (get_or_none(client, where.path, params) is not None
               and gone(lambda: client.delete(where.path, params=params)))
    return _mark(client, parent_path(where.collection), params, p.owner_key, p.name, False) or deleted


def restore(s: Session, step: Step) -> bool:
    p = payload_of(step, Restore)
    where, client = SPEC.where(step), s.cluster()
    params = dict(where.params) or None
    path = parent_path(where.collection)
    before = get_or_none(client, path, params)
    mark = str((((before.metadata if before else None) or {}).get("config") or {}).get(p.owner_key, ""))
    client.put(path, {"restore": p.name}, params=params)
    after = get_or_none(client, path, params)
    now = str((((after.metadata if after else None) or {}).get("config") or {}).get(p.owner_key, ""))
    if now != mark:
        client.patch(path, {"config": {p.owner_key: mark}}, params=params)
    return True


HANDLERS = {Action.CREATE: create, Action.DELETE: delete, RESTORE: restore}
