"""Pure parsers of what is not an object kind: a server's ``GET /1.0`` and the cluster's members.

No I/O here; each function is tested on JSON recorded from real daemons (tests/unit/data/).
Every config map comes out with string values and without ``volatile.*`` keys. Each kind parses
its own objects (``lxdplan.kinds``, "reading it live"), with the helpers of ``lxdplan.livedata``.
"""

from __future__ import annotations

from typing import Any

from lxdplan import keys
from lxdplan.livedata import clean_config
from lxdplan.providers.backend import Backend, backend_name
from lxdplan.providers.certs import fingerprint
from lxdplan.state.observed import ObservedMember, Standalone

__all__ = ["fingerprint", "local_keys", "parse_member", "parse_server", "split_server_config"]


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
    view: dict[str, str] | None = None,
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
        view=dict(view) if view is not None else None,
    )
