"""`lxdplan import`: mark live objects that the file declares as managed by lxdplan.

The mark is ``user.lxdplan.managed: "true"`` in the object's own config (cluster groups, which
have no config, are listed in the server key ``user.lxdplan.cluster_groups``). Once adopted, an
object dropped from the file is planned for deletion like one lxdplan created.
"""

from __future__ import annotations

from lxdplan import keys
from lxdplan.desired import Desired
from lxdplan.kinds import ObjectKind, Owner, registry
from lxdplan.providers.actions.single import owned_names, set_owned_names
from lxdplan.providers.client import Client
from lxdplan.state.observed import Observed


def _mark_by_put(client: Client, spec: ObjectKind, path: str, params: dict | None = None) -> None:
    """Read the object and PUT it back with the mark (If-Match); the body is the kind's
    (``adopt_body``). Projects, profiles and volumes are PUT whole: LXD 5.0 treats a project
    PATCH's config as the whole config (seen live: ``features.*`` were dropped)."""
    answer = client.get(path, params=params)
    client.put(path, spec.adopt_body(answer.metadata or {}), params=params, etag=answer.etag)


def adopt(client: Client, desired: Desired, observed: Observed) -> list[str]:
    """Mark every declared, live, not yet managed object; return their labels."""
    done: list[str] = []
    for spec in registry():
        listed: list[str] = []
        for obj in spec.declared(desired):
            live = spec.adopt_target(obj, observed)
            if live is None or live.managed_by_lxdplan:
                continue
            if spec.owner == Owner.SERVER_KEY:
                listed.append(spec.display(obj))
                continue
            where = spec.where_declared(obj)
            if spec.adopt_by_put:
                _mark_by_put(client, spec, where.path, where.params or None)
            else:
                client.patch(where.path, {"config": {keys.OWNER_KEY: keys.OWNER_VALUE}})
            done.append(spec.adopt_label(obj))
        if listed:
            key = spec.owner_key
            set_owned_names(client, owned_names(client, key) + listed, key)
            done.extend(spec.adopt_label(obj) for obj in spec.declared(desired)
                        if spec.display(obj) in listed)
    return done
