"""The pure half of reading a cluster: the answers the observer recorded -> ``Observed``.

``observe`` does the I/O (which requests, to whom, all in flight together) and records every
answer as plain data in ``Answers``; ``assemble`` decides which answers count and builds the
observed state with the parsers of ``parse``. No I/O here: it is tested on recorded answers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lxdplan import keys
from lxdplan.kinds.image import OWNER_KEY as IMAGES_KEY
from lxdplan.providers import parse
from lxdplan.providers.backend import Backend
from lxdplan.state.observed import Observed, Standalone

# One recorded answer: its metadata and ETag.
Answer = tuple[Any, "str | None"]


@dataclass
class Answers:
    """What the observer read from a cluster, as plain data. A read that failed because the
    member is down or the object is gone is simply absent."""

    backend: Backend
    server: Answer  # the reader's GET /1.0
    reader: str  # the reader's member name
    standalone: dict[str, Standalone]
    members: list[dict[str, Any]]  # GET /1.0/cluster/members?recursion=1
    member_servers: dict[str, Answer] = field(default_factory=dict)  # each member's GET /1.0
    groups: list[dict[str, Any]] = field(default_factory=list)
    pools: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)  # managed ones
    # (name, member) -> that member's view ("" member: the one view of an OVN network), in the
    # order the reads were made
    pool_views: dict[tuple[str, str], Answer] = field(default_factory=dict)
    network_views: dict[tuple[str, str], Answer] = field(default_factory=dict)
    network_etags: dict[str, str | None] = field(default_factory=dict)  # untargeted GETs
    profiles: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # per project
    projects: list[dict[str, Any]] = field(default_factory=list)
    volumes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per pool
    etags: dict[tuple, str | None] = field(default_factory=dict)  # single-object GETs
    images: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # per project
    instances: list[dict[str, Any]] = field(default_factory=list)  # all projects


def _views(reads: dict[tuple[str, str], Answer], name: str) -> dict[str, dict[str, Any]]:
    """Each member's view of one object, by member name."""
    return dict(sorted((m, md or {}) for (n, m), (md, _etag) in reads.items() if n == name and m))


def assemble(a: Answers) -> Observed:
    """The observed cluster from the recorded answers."""
    meta, backend = a.server[0] or {}, a.backend
    server_config = meta.get("config") or {}
    cluster_config, _ = parse.split_server_config(server_config, backend.name)
    members = {}
    for item in a.members:
        name = item["server_name"]
        answer = a.member_servers.get(name)
        md = (answer[0] or {}) if answer else {}
        _, local_config = parse.split_server_config(md.get("config") or {}, backend.name)
        members[name] = parse.parse_member(
            item,
            version=str((md.get("environment") or {}).get("server_version", "")),
            api_level=len(md.get("api_extensions") or ()),
            local_config=local_config if answer else {},
            local_etag=answer[1] if answer else None,
            etag=a.etags.get(("member", name)),
        )
    managed_groups = parse.managed_group_names(parse.clean_config(server_config))
    groups = {g["name"]: parse.parse_group(g, managed_groups, a.etags.get(("group", g["name"])))
              for g in a.groups}
    pools = {p["name"]: parse.parse_pool(p, _views(a.pool_views, p["name"])) for p in a.pools}
    networks = {}
    for n in a.networks:
        name = n["name"]
        ovn = a.network_views.get((name, ""))
        targeted = [etag for (nn, m), (_md, etag) in a.network_views.items() if nn == name and m]
        etag = ovn[1] if ovn else (next(iter(targeted), None) or a.network_etags.get(name))
        networks[name] = parse.parse_network(n, {} if ovn else _views(a.network_views, name), etag)
    profiles = {}
    for project, items in a.profiles:
        for item in items:
            if (item.get("project") or project) == "default" and str(item.get("name", "")).startswith(keys.LOCK_PROFILE):
                continue  # the apply lock (lxdplan.providers.lock): nobody's to plan or list
            prof = parse.parse_profile(item, project=project)
            prof = _with_etag(prof, a.etags.get(("profile", prof.project, prof.name)))
            profiles[f"{prof.project}/{prof.name}"] = prof
    projects = {p["name"]: parse.parse_project(p, a.etags.get(("project", p["name"])))
                for p in a.projects}
    volumes = {}
    for pool_name, items in a.volumes.items():
        for item in items:
            vol = parse.parse_volume(item, pool_name)
            if vol is None:
                continue
            vol = _with_etag(vol, a.etags.get(("volume", vol.project, vol.pool, vol.member or "",
                                               vol.name)))
            volumes[f"{vol.project}/{vol.pool}/{vol.member or ''}/{vol.name}"] = vol
    managed_images = parse.managed_group_names(parse.clean_config(server_config), IMAGES_KEY)
    images = {}
    for project, items in a.images:
        for item in items:
            img = parse.parse_image(item, project, managed_images)
            images[f"{img.project}/{img.fingerprint}"] = img
    instances = {}
    for item in a.instances:
        inst = parse.parse_instance(item)
        instances[f"{inst.project}/{inst.name}"] = _with_etag(
            inst, a.etags.get(("instance", inst.project, inst.name)))
    env = meta.get("environment") or {}
    return Observed(
        backend=backend.name,
        server_version=backend.version,
        api_extensions=tuple(sorted(backend.api_extensions)),
        clustered=True,
        cluster_fingerprint=parse.fingerprint(env["certificate"]) if env.get("certificate") else "",
        config=cluster_config,
        config_etag=a.server[1],
        config_member=a.reader,
        members=members,
        standalone=a.standalone,
        storage_pools=pools,
        networks=networks,
        profiles=profiles,
        projects=projects,
        cluster_groups=groups,
        storage_volumes=volumes,
        images=images,
        instances=instances,
    )


def _with_etag(obj: Any, etag: str | None) -> Any:
    return dataclasses.replace(obj, etag=etag) if etag else obj
