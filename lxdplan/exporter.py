"""The live cluster as a desired-state document (``lxdplan export``): pure, Observed → dict.

What is exported is exactly what the planner compares, so ``plan`` on an exported file shows no
changes: member-specific keys under ``members:``, ownership marks and the apply lock left out
(they are lxdplan's own), secrets left out (``core.trust_password`` reads back only as "true").
The implicit ``default`` cluster group is not listed.
"""

from __future__ import annotations

from typing import Any

from lxdplan import keys
from lxdplan.state.observed import EVACUATED, Observed

SECRET_KEYS = frozenset({"core.trust_password"})


def _config(config: dict[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in sorted(config.items())
        if not k.startswith("user.lxdplan.") and k not in SECRET_KEYS and not keys.is_lxd_own(k)
    }


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, "", {}, []):
        target[key] = value


def _two_phase(obj, type_field: str, type_value: str) -> dict[str, Any]:
    """A pool or network: cluster-wide config, and member-specific keys under ``members``."""
    entry: dict[str, Any] = {"name": obj.name, type_field: type_value}
    _put(entry, "description", obj.description)
    _put(entry, "config", _config(obj.config))
    _put(entry, "members", {m: dict(sorted(c.items())) for m, c in sorted(obj.members.items()) if c})
    return entry


def export_document(observed: Observed, endpoints: dict[str, str] | None = None) -> dict[str, Any]:
    """``endpoints`` maps member names to the endpoint lxdplan should keep using for them."""
    endpoints = endpoints or {}
    doc: dict[str, Any] = {"version": 1, "backend": observed.backend}
    members = []
    for name, live in observed.members.items():
        address = live.url.removeprefix("https://")
        entry: dict[str, Any] = {"name": name, "address": address}
        endpoint = endpoints.get(name)
        if endpoint and endpoint != f"https://{address}":
            entry["endpoint"] = endpoint
        _put(entry, "config", _config(live.local_config))
        _put(entry, "description", live.description)
        if live.failure_domain and live.failure_domain != "default":
            entry["failure_domain"] = live.failure_domain
        if tuple(live.groups) != ("default",):
            _put(entry, "groups", list(live.groups))
        _put(entry, "roles", sorted(r for r in live.roles if r in keys.ASSIGNABLE_ROLES))
        if live.status == EVACUATED:
            entry["state"] = "evacuated"
        members.append(entry)
    cluster: dict[str, Any] = {}
    _put(cluster, "config", _config(observed.config))
    cluster["members"] = members
    doc["cluster"] = cluster

    groups = [
        {"name": g.name, **({"description": g.description} if g.description else {})}
        for g in observed.cluster_groups.values() if g.name != "default"
    ]
    _put(doc, "cluster_groups", groups)

    pools = [_two_phase(pool, "driver", pool.driver) for pool in observed.storage_pools.values()]
    _put(doc, "storage_pools", pools)
    networks = [_two_phase(net, "type", net.type) for net in observed.networks.values()]
    _put(doc, "networks", networks)

    profiles = []
    for prof in observed.profiles.values():
        entry = {"name": prof.name}
        if prof.project != "default":
            entry["project"] = prof.project
        _put(entry, "description", prof.description)
        entry["config"] = _config(prof.config)
        entry["devices"] = {d: dict(sorted(c.items())) for d, c in sorted(prof.devices.items())}
        profiles.append(entry)
    _put(doc, "profiles", profiles)

    projects = []
    for proj in observed.projects.values():
        entry = {"name": proj.name}
        _put(entry, "description", proj.description)
        _put(entry, "config", _config(proj.config))
        projects.append(entry)
    _put(doc, "projects", projects)

    volumes = []
    for vol in observed.storage_volumes.values():
        entry = {"pool": vol.pool, "name": vol.name}
        if vol.member:
            entry["member"] = vol.member
        if vol.project != "default":
            entry["project"] = vol.project
        if vol.content_type != "filesystem":
            entry["content_type"] = vol.content_type
        _put(entry, "description", vol.description)
        _put(entry, "config", _config(vol.config))
        volumes.append(entry)
    _put(doc, "storage_volumes", volumes)
    return doc
