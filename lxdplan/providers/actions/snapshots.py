"""Snapshots (``lxdplan.kinds.snapshot``): take and delete a declared snapshot.

Level-based, like the certificates' handlers: the name is listed in the parent's
``user.lxdplan.snapshots`` (a ``PATCH`` of the parent's config, which LXD 5.0.2 and Incus 6.0.4
merge into the config for instances and volumes) before the snapshot is taken, so an
interrupted create never leaves one lxdplan would not recognise, and dropped from it after the
delete; a snapshot that exists already is not taken again. Facts: LXD 5.0.2
``lxd/instance_snapshot.go`` and ``lxd/storage_volumes_snapshot.go`` (Incus 6.0.4 the same under
``cmd/incusd/``): ``POST …/snapshots`` takes ``name``, ``expires_at`` and (instances)
``stateful``; both answer with an operation.
"""

from __future__ import annotations

from typing import Any

from lxdplan.kinds.base import payload_of
from lxdplan.kinds.snapshot import SPEC, Write, parent_path
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


HANDLERS = {Action.CREATE: create, Action.DELETE: delete}
