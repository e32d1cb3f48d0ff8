"""`lxdplan import`: mark live objects that the file declares as managed by lxdplan.

The mark is ``user.lxdplan.managed: "true"`` in the object's own config (cluster groups, which
have no config, are listed in the server key ``user.lxdplan.cluster_groups``). Once adopted, an
object dropped from the file is planned for deletion like one lxdplan created.
"""

from __future__ import annotations

from lxdplan import keys
from lxdplan.desired import Desired
from lxdplan.providers.actions.resources import owned_groups, set_owned_groups
from lxdplan.providers.client import Client, path_of
from lxdplan.state.observed import Observed, profile_key


def _mark_by_put(client: Client, path: str, params: dict | None = None) -> None:
    """Read the object and PUT it back with the mark (If-Match). Projects, profiles and volumes
    are PUT whole: LXD 5.0 treats a project PATCH's config as the whole config (seen live:
    ``features.*`` were dropped)."""
    answer = client.get(path, params=params)
    md = answer.metadata or {}
    body = {"description": md.get("description", ""),
            "config": {**(md.get("config") or {}), keys.OWNER_KEY: keys.OWNER_VALUE}}
    if "devices" in md:
        body["devices"] = md["devices"]
    client.put(path, body, params=params, etag=answer.etag)


def adopt(client: Client, desired: Desired, observed: Observed) -> list[str]:
    """Mark every declared, live, not yet managed object; return their labels."""
    mark = {"config": {keys.OWNER_KEY: keys.OWNER_VALUE}}
    done: list[str] = []
    for pool in desired.storage_pools:
        live = observed.storage_pools.get(pool.name)
        if live and not live.managed_by_lxdplan:
            client.patch(path_of("storage-pools", pool.name), mark)
            done.append(f"storage pool {pool.name}")
    for net in desired.networks:
        live = observed.networks.get(net.name)
        if live and not live.managed_by_lxdplan:
            client.patch(path_of("networks", net.name), mark)
            done.append(f"network {net.name}")
    for proj in desired.projects:
        live = observed.projects.get(proj.name)
        if live and not live.managed_by_lxdplan and proj.name != "default":
            _mark_by_put(client, path_of("projects", proj.name))
            done.append(f"project {proj.name}")
    for prof in desired.profiles:
        live = observed.profiles.get(profile_key(prof.project, prof.name))
        if live and not live.managed_by_lxdplan and prof.name != "default":
            _mark_by_put(client, path_of("profiles", prof.name), {"project": prof.project})
            done.append(f"profile {prof.name}")
    for vol in desired.storage_volumes:
        live = next((v for v in observed.storage_volumes.values()
                     if (v.pool, v.name, v.project) == (vol.pool, vol.name, vol.project)
                     and (vol.member is None or v.member == vol.member)), None)
        if live and not live.managed_by_lxdplan:
            _mark_by_put(client, path_of("storage-pools", vol.pool, "volumes", vol.type, vol.name),
                         {"project": vol.project, "target": vol.member})
            done.append(f"storage volume {vol.pool}/{vol.name}" + (f" on {vol.member}" if vol.member else ""))
    groups = [g.name for g in desired.cluster_groups
              if g.name in observed.cluster_groups and not observed.cluster_groups[g.name].managed_by_lxdplan]
    if groups:
        set_owned_groups(client, owned_groups(client) + groups)
        done.extend(f"cluster group {g}" for g in groups)
    return done
