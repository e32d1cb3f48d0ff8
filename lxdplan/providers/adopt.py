"""`lxdplan import`: mark live objects that the file declares as managed by lxdplan.

The mark is ``user.lxdplan.managed: "true"`` in the object's own config (cluster groups and
images, which have none, are listed in a server key such as ``user.lxdplan.cluster_groups``).
Once adopted, an object dropped from the file is planned for deletion like one lxdplan created.

Each object is read where the file declares it (``adopt_where``, by default ``where_declared``:
its path with its ``project``/``target`` query; for a snapshot its parent, which carries its
mark) and marked with the one request its kind returns (``adopt_request``), sent with the ETag
of that read: an object changed in between is not overwritten.
"""

from __future__ import annotations

from lxdplan.desired import Desired
from lxdplan.errors import PreconditionFailed
from lxdplan.kinds import Adoptable, ListedOwner
from lxdplan.livedata import listed_names
from lxdplan.providers.client import Client
from lxdplan.registry import registry
from lxdplan.state.observed import Observed


def _mark(client: Client, spec: Adoptable, obj) -> None:
    """Read the declared object and send its kind's adoption request with the ETag just read."""
    where = spec.adopt_where(obj)
    answer = client.get(where.path, params=where.params or None)
    request = spec.adopt_request(obj, answer.metadata or {})
    try:
        client.send(request.method, request.path, request.body, request.params or None,
                    etag=answer.etag)
    except PreconditionFailed as exc:
        raise PreconditionFailed(f"{spec.adopt_label(obj)} changed while lxdplan import marked "
                                 "it; run import again", member=exc.member, status=412) from None


def _list(client: Client, spec: ListedOwner, names: list[str]) -> None:
    """Add ``names`` to the server key that lists the kind's managed objects, with the ETag of
    the server config just read."""
    answer = client.get("/1.0")
    config = (answer.metadata or {}).get("config") or {}
    key = spec.owner_key
    owned = listed_names({key: str(config.get(key, ""))}, key)
    try:
        client.patch("/1.0", {"config": {key: ",".join(sorted(owned | set(names)))}},
                     etag=answer.etag)
    except PreconditionFailed as exc:
        raise PreconditionFailed("the server config changed while lxdplan import recorded the "
                                 f"{spec.kind.noun}s it manages; run import again",
                                 member=exc.member, status=412) from None


def adopt(client: Client, desired: Desired, observed: Observed) -> list[str]:
    """Mark every declared, live, not yet managed object of an ``Adoptable`` kind; return their
    labels."""
    done: list[str] = []
    for spec in registry():
        if not isinstance(spec, Adoptable):
            continue
        listed: list[str] = []
        for obj in spec.declared(desired):
            live = spec.adopt_target(obj, observed)
            if live is None or live.managed_by_lxdplan:
                continue
            if isinstance(spec, ListedOwner):
                listed.append(spec.display(obj))
                continue
            _mark(client, spec, obj)
            done.append(spec.adopt_label(obj))
        if listed and isinstance(spec, ListedOwner):
            _list(client, spec, listed)
            done.extend(spec.adopt_label(obj) for obj in spec.declared(desired)
                        if spec.display(obj) in listed)
    return done
