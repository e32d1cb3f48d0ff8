"""Pure parsers: LXD/Incus JSON (the ``metadata`` of an answer) to lxdplan's observed types.

No I/O here; each function is tested on JSON recorded from real daemons (tests/unit/data/).
Every config map comes out with string values and without ``volatile.*`` keys.
"""

from __future__ import annotations

from typing import Any

from lxdplan import keys
from lxdplan.providers.backend import Backend, backend_name
from lxdplan.providers.certs import fingerprint
from lxdplan.state.observed import (
    ObservedGroup,
    ObservedImage,
    ObservedInstance,
    ObservedMember,
    ObservedNetwork,
    ObservedPool,
    ObservedProfile,
    ObservedProject,
    ObservedVolume,
    Standalone,
)



def used_by(item: dict[str, Any]) -> tuple[str, ...]:
    """An object's ``used_by``, without lxdplan's apply lock (the profile ``lxdplan-lock`` and its
    take-over claims exist only while an apply runs: a project's list names them then)."""
    lock = f"/1.0/profiles/{keys.LOCK_PROFILE}"
    return tuple(sorted(u for u in item.get("used_by") or () if not str(u).startswith(lock)))


def clean_config(config: dict[str, Any] | None) -> dict[str, str]:
    """String values (LXD reports ``core.trust_password`` as ``true``), ``volatile.*`` dropped."""
    out: dict[str, str] = {}
    for key, value in (config or {}).items():
        if keys.is_lxd_own(key):
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out[key] = "" if value is None else str(value)
    return out


def owned(config: dict[str, str]) -> bool:
    return config.get(keys.OWNER_KEY) == keys.OWNER_VALUE


def local_keys(backend: str) -> frozenset[str]:
    return keys.SERVER_MEMBER_LOCAL_KEYS.get(backend, keys.SERVER_MEMBER_LOCAL_KEYS_ANY)


def split_server_config(config: dict[str, Any], backend: str) -> tuple[dict[str, str], dict[str, str]]:
    """(cluster-wide keys, member-local keys) of a server config."""
    clean, local = clean_config(config), local_keys(backend)
    return (
        {k: v for k, v in clean.items() if k not in local},
        {k: v for k, v in clean.items() if k in local},
    )


def parse_server(name: str, metadata: dict[str, Any], etag: str | None = None) -> Standalone:
    """A member's own ``GET /1.0``. Untrusted clients see no ``environment`` and no config."""
    env = metadata.get("environment") or {}
    cert = env.get("certificate") or ""
    return Standalone(
        join_token_field=Backend.from_server(metadata).join_token_field,
        name=name,
        reachable=True,
        clustered=bool(env.get("server_clustered", False)),
        server_name=str(env.get("server_name", "")) if env.get("server_clustered") else "",
        trusted=metadata.get("auth") == "trusted",
        backend=backend_name(metadata),
        version=str(env.get("server_version", "")),
        api_extensions=tuple(metadata.get("api_extensions") or ()),
        certificate_fingerprint=env.get("certificate_fingerprint") or (fingerprint(cert) if cert else ""),
        config=clean_config(metadata.get("config")),
        etag=etag,
    )


def parse_member(
    item: dict[str, Any],
    *,
    version: str = "",
    api_level: int = 0,
    local_config: dict[str, str] | None = None,
    local_etag: str | None = None,
    etag: str | None = None,
) -> ObservedMember:
    """One entry of ``GET /1.0/cluster/members?recursion=1``; ``version`` and ``api_level`` (the
    count of API extensions) come from the member's own ``GET /1.0``: the list carries neither
    on LXD 5.0 or Incus 6.0."""
    return ObservedMember(
        name=item["server_name"],
        url=item.get("url", ""),
        status=item.get("status", ""),
        message=item.get("message", ""),
        roles=tuple(sorted(item.get("roles") or ())),
        failure_domain=item.get("failure_domain") or "default",
        description=item.get("description", ""),
        groups=tuple(sorted(item.get("groups") or ())),
        database=bool(item.get("database", False)),
        version=version,
        api_level=api_level,
        local_config=dict(local_config or {}),
        config=clean_config(item.get("config")),
        etag=etag,
        local_etag=local_etag,
    )


def _two_phase(item: dict[str, Any], specific: frozenset[str],
               per_member: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The fields pools and networks share: cluster-wide config from the collection, each
    member's specific keys and status from its ``?target=`` answer."""
    config = clean_config(item.get("config"))
    members: dict[str, dict[str, str]] = {}
    status: dict[str, str] = {}
    for member, meta in (per_member or {}).items():
        full = clean_config(meta.get("config"))
        members[member] = {k: v for k, v in full.items() if k in specific}
        status[member] = meta.get("status", "")
    return dict(
        name=item["name"],
        description=item.get("description", ""),
        status=item.get("status", ""),
        config={k: v for k, v in config.items() if k not in specific},
        members=members,
        member_status=status,
        locations=tuple(sorted(item.get("locations") or ())),
        used_by=used_by(item),
        managed_by_lxdplan=owned(config),
    )


def parse_pool(item: dict[str, Any], per_member: dict[str, dict[str, Any]] | None = None) -> ObservedPool:
    """A pool from the collection (no target) plus each member's ``?target=`` answer."""
    driver = item.get("driver", "")
    return ObservedPool(driver=driver, **_two_phase(item, keys.pool_member_keys(driver), per_member))


def parse_network(
    item: dict[str, Any],
    per_member: dict[str, dict[str, Any]] | None = None,
    etag: str | None = None,
) -> ObservedNetwork:
    """A managed network from the collection plus each member's ``?target=`` answer."""
    net_type = item.get("type", "")
    fields = _two_phase(item, keys.network_member_keys(net_type), per_member)
    return ObservedNetwork(type=net_type, etag=etag, **fields)


def managed_networks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``GET /1.0/networks`` also lists the host's own interfaces (``managed: false``)."""
    return [n for n in items if n.get("managed")]


def parse_profile(item: dict[str, Any], project: str | None = None, etag: str | None = None) -> ObservedProfile:
    config = clean_config(item.get("config"))
    return ObservedProfile(
        name=item["name"],
        description=item.get("description", ""),
        config=config,
        devices={d: clean_config(dev) for d, dev in (item.get("devices") or {}).items()},
        project=item.get("project") or project or "default",
        used_by=used_by(item),
        managed_by_lxdplan=owned(config),
        etag=etag,
    )


def parse_project(item: dict[str, Any], etag: str | None = None) -> ObservedProject:
    config = clean_config(item.get("config"))
    return ObservedProject(
        name=item["name"],
        description=item.get("description", ""),
        config=config,
        used_by=used_by(item),
        managed_by_lxdplan=owned(config),
        etag=etag,
    )


def managed_group_names(server_config: dict[str, str],
                        key: str = keys.CLUSTER_GROUPS_OWNER_KEY) -> frozenset[str]:
    """Cluster groups carry no config: lxdplan lists the ones it manages in a server key."""
    raw = server_config.get(key, "")
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


def parse_group(item: dict[str, Any], managed: frozenset[str], etag: str | None = None) -> ObservedGroup:
    return ObservedGroup(
        name=item["name"],
        description=item.get("description", ""),
        members=tuple(item.get("members") or ()),
        managed_by_lxdplan=item["name"] in managed,
        etag=etag,
    )


def parse_volume(item: dict[str, Any], pool: str, etag: str | None = None) -> ObservedVolume | None:
    """A custom volume (``None`` for instance/image volumes, which lxdplan does not manage)."""
    if item.get("type", "custom") != "custom":
        return None
    config = clean_config(item.get("config"))
    return ObservedVolume(
        pool=pool,
        name=item["name"],
        member=item.get("location") or None,
        type="custom",
        content_type=item.get("content_type", "filesystem"),
        description=item.get("description", ""),
        config=config,
        project=item.get("project") or "default",
        managed_by_lxdplan=owned(config),
        etag=etag,
    )


def parse_image(item: dict[str, Any], project: str, managed: frozenset[str]) -> ObservedImage:
    """One image of ``GET /1.0/images?recursion=1`` in ``project``; ``managed`` are the names
    the server key ``user.lxdplan.images`` lists (``project/name`` outside default)."""
    aliases = tuple(a["name"] for a in item.get("aliases") or () if a.get("name"))
    prefix = "" if project == "default" else f"{project}/"
    mine = next((a for a in aliases if f"{prefix}{a}" in managed), None)
    fp = item.get("fingerprint", "")
    return ObservedImage(
        fingerprint=fp,
        name=mine or (aliases[0] if aliases else fp[:12]),
        project=item.get("project") or project,
        aliases=aliases,
        public=bool(item.get("public", False)),
        auto_update=bool(item.get("auto_update", False)),
        description=str((item.get("properties") or {}).get("description", "")),
        type=item.get("type") or "container",
        size=int(item.get("size") or 0),
        managed_by_lxdplan=mine is not None,
    )


def parse_instance(item: dict[str, Any], etag: str | None = None) -> ObservedInstance:
    """One instance of ``GET /1.0/instances?recursion=1``: its own config and devices (not the
    expanded ones), without LXD's own keys (``volatile.*``, ``image.*``)."""
    raw = item.get("config") or {}
    config = {k: v for k, v in clean_config(raw).items() if not k.startswith("image.")}
    return ObservedInstance(
        name=item["name"],
        project=item.get("project") or "default",
        type=item.get("type") or "container",
        location=item.get("location") or "",
        status=item.get("status") or "",
        profiles=tuple(item.get("profiles") or ()),
        config=config,
        devices={d: clean_config(dev) for d, dev in (item.get("devices") or {}).items()},
        description=item.get("description", ""),
        base_image=str(raw.get("volatile.base_image", "")),
        managed_by_lxdplan=owned(config),
        etag=etag,
    )
