"""Single-phase objects: profiles, projects, cluster groups and custom storage volumes.

Created objects carry lxdplan's ownership mark in their config; cluster groups, which have no
config, are listed in the server key ``keys.CLUSTER_GROUPS_OWNER_KEY`` (set before the group is
created, so an interrupted create never leaves an unowned group behind).
"""

from __future__ import annotations

from typing import Any

from lxdplan import keys
from lxdplan.plan import Kind, Step
from lxdplan.providers.actions.common import (
    comparable, get_or_none, gone, owned, precondition, reveal, same_config,
)
from lxdplan.providers.client import Client, path_of
from lxdplan.providers.parse import managed_group_names
from lxdplan.providers.session import Session


class _Where:
    """Path, query and client of one object."""

    def __init__(self, s: Session, step: Step):
        p = step.payload
        self.params: dict[str, Any] = {}
        if step.kind == Kind.PROFILE:
            name, project = p.get("name", step.name), p.get("project", "default")
            self.collection, self.path = "/1.0/profiles", path_of("profiles", name)
            self.params = {"project": project} if project != "default" else {}
            self.client: Client = s.cluster()
        elif step.kind == Kind.PROJECT:
            name = p.get("name", step.name)
            self.collection, self.path = "/1.0/projects", path_of("projects", name)
            self.client = s.cluster()
        elif step.kind == Kind.STORAGE_VOLUME:
            pool, vtype, name = p["pool"], p.get("type", "custom"), p["name"]
            project = p.get("project", "default")
            self.collection = path_of("storage-pools", pool, "volumes", vtype)
            self.path = path_of("storage-pools", pool, "volumes", vtype, name)
            self.params = {"project": project} if project != "default" else {}
            if step.member:
                self.params["target"] = step.member
            self.client = s.at(step.member)
        else:
            name = p.get("name", step.name)
            self.collection, self.path = "/1.0/cluster/groups", path_of("cluster", "groups", name)
            self.client = s.cluster()
        self.name = name


def create(s: Session, step: Step) -> bool:
    """Profile, project or volume: POST unless it exists already."""
    if step.kind == Kind.CLUSTER_GROUP:
        return create_group(s, step)
    w = _Where(s, step)
    if get_or_none(w.client, w.path, w.params) is not None:
        return False
    p = step.payload
    body: dict[str, Any] = {"name": w.name, "description": p.get("description", ""),
                            "config": reveal(owned(p.get("config")))}
    if step.kind == Kind.PROFILE:
        body["devices"] = reveal(p.get("devices") or {})
    if step.kind == Kind.STORAGE_VOLUME:
        body["type"] = p.get("type", "custom")
        body["content_type"] = p.get("content_type", "filesystem")
    w.client.post(w.collection, body, params=w.params or None)
    return True


def update(s: Session, step: Step) -> bool:
    """PUT the full object (config maps are authoritative) with the plan's ETag."""
    w = _Where(s, step)
    live = w.client.get(w.path, w.params or None)
    md = live.metadata or {}
    p = step.payload
    if step.kind == Kind.CLUSTER_GROUP:
        body: dict[str, Any] = {"description": p.get("description", ""),
                                "members": list(md.get("members") or [])}
        holds = (md.get("description") or "") == body["description"]
    else:
        body = {"description": p.get("description", md.get("description", "")),
                "config": p.get("config") or {}}
        holds = ((md.get("description") or "") == (body["description"] or "")
                 and same_config(md.get("config"), body["config"]))
        if step.kind == Kind.PROFILE:
            body["devices"] = p.get("devices") or {}
            live_devices = {d: comparable(v) for d, v in (md.get("devices") or {}).items()}
            holds = holds and live_devices == {d: comparable(v) for d, v in body["devices"].items()}
    if holds:
        return False
    with precondition(step):
        w.client.put(w.path, reveal(body), params=w.params or None, etag=step.etag)
    return True


def delete(s: Session, step: Step) -> bool:
    if step.kind == Kind.CLUSTER_GROUP:
        return delete_group(s, step)
    w = _Where(s, step)
    if get_or_none(w.client, w.path, w.params or None) is None:
        return False
    return gone(lambda: w.client.delete(w.path, params=w.params or None))


# -- cluster groups -------------------------------------------------------------------------------

def owned_groups(client: Client, key: str = keys.CLUSTER_GROUPS_OWNER_KEY) -> list[str]:
    """The cluster groups lxdplan manages, from the server key that lists them."""
    config = client.get("/1.0").metadata.get("config") or {}
    return sorted(managed_group_names({key: str(config.get(key, ""))}, key))


def set_owned_groups(client: Client, names: list[str], key: str = keys.CLUSTER_GROUPS_OWNER_KEY) -> None:
    client.patch("/1.0", {"config": {key: ",".join(sorted(set(names)))}})


def create_group(s: Session, step: Step) -> bool:
    w = _Where(s, step)
    if get_or_none(w.client, w.path) is not None:
        return False
    key = step.payload.get("owner_key", keys.CLUSTER_GROUPS_OWNER_KEY)
    names = owned_groups(w.client, key)
    if w.name not in names:
        set_owned_groups(w.client, names + [w.name], key)
    w.client.post(w.collection, {"name": w.name, "description": step.payload.get("description", ""),
                                 "members": []})
    return True


def delete_group(s: Session, step: Step) -> bool:
    w = _Where(s, step)
    # Check first: LXD 5.0.2 answers a delete of a missing group with 500, not 404.
    deleted = get_or_none(w.client, w.path) is not None and gone(lambda: w.client.delete(w.path))
    key = step.payload.get("owner_key", keys.CLUSTER_GROUPS_OWNER_KEY)
    names = owned_groups(w.client, key)
    if w.name in names:
        set_owned_groups(w.client, [n for n in names if n != w.name], key)
        return True
    return deleted
