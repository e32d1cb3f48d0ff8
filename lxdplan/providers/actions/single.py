"""Single-phase kinds (projects, profiles, volumes, cluster groups): create, update, delete.

Where an object lives and the bodies sent come from its kind module (``lxdplan.kinds``).
Created objects carry lxdplan's ownership mark in their config; a kind owned through a server
key (cluster groups, which have no config) is listed in that key before it is created, so an
interrupted create never leaves an unowned object behind, and dropped from it after the delete.
"""

from __future__ import annotations

from lxdplan import keys
from lxdplan.kinds import ListedOwner, SingleRequests, Where
from lxdplan.livedata import listed_names
from lxdplan.plan import Step
from lxdplan.providers.actions.common import get_or_none, gone, precondition, reveal
from lxdplan.providers.client import Client
from lxdplan.providers.session import Session
from lxdplan.registry import spec_of


def _target(s: Session, step: Step) -> tuple[SingleRequests, Where, Client]:
    spec = spec_of(step.kind)
    if not isinstance(spec, SingleRequests):
        raise TypeError(f"{step.kind} is not a kind of single requests (step {step.id})")
    where = spec.where(step)
    return spec, where, (s.at(where.member) if where.member else s.cluster())


def create(s: Session, step: Step) -> bool:
    """POST unless it exists already (check first: LXD 5.0.2 answers a missing cluster group
    with 500, not 404, so the existence check also guards the delete)."""
    spec, w, client = _target(s, step)
    if get_or_none(client, w.path, w.params or None) is not None:
        return False
    if isinstance(spec, ListedOwner):
        key: str = getattr(step.payload, "owner_key")  # the payload of a kind owned by a server key
        mark_owned(client, key, step.name, add=True)
    client.post(w.collection, reveal(spec.create_body(step)), params=w.params or None)
    return True


def update(s: Session, step: Step) -> bool:
    """PUT the full object (config maps are authoritative) with the plan's ETag."""
    spec, w, client = _target(s, step)
    md = client.get(w.path, w.params or None).metadata or {}
    body = spec.put_body(step, md)
    if spec.holds(md, body):
        return False
    with precondition(step):
        client.put(w.path, reveal(body), params=w.params or None, etag=step.etag)
    return True


def delete(s: Session, step: Step) -> bool:
    spec, w, client = _target(s, step)
    deleted = (get_or_none(client, w.path, w.params or None) is not None
               and gone(lambda: client.delete(w.path, params=w.params or None)))
    if not isinstance(spec, ListedOwner):
        return deleted
    key: str = getattr(step.payload, "owner_key")
    return mark_owned(client, key, step.name, add=False) or deleted


# -- ownership through a server key ---------------------------------------------------------------

def owned_names(client: Client, key: str = keys.CLUSTER_GROUPS_OWNER_KEY) -> list[str]:
    """The objects lxdplan manages, from the server key that lists them."""
    config = client.get("/1.0").metadata.get("config") or {}
    return sorted(listed_names({key: str(config.get(key, ""))}, key))


def set_owned_names(client: Client, names: list[str], key: str = keys.CLUSTER_GROUPS_OWNER_KEY) -> None:
    client.patch("/1.0", {"config": {key: ",".join(sorted(set(names)))}})


def mark_owned(client: Client, key: str, name: str, *, add: bool) -> bool:
    """Add ``name`` to (or drop it from) the server key ``key`` listing what lxdplan manages;
    whether the list changed."""
    names = owned_names(client, key)
    if add == (name in names):
        return False
    set_owned_names(client, names + [name] if add else [n for n in names if n != name], key)
    return True
