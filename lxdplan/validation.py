"""Semantic rules of the desired-state file that JSON Schema cannot express, and the model build.

Input is plain data that already passed the schema; output is a ``Desired`` and diagnostics.
"""

from __future__ import annotations

import re

from lxdplan import addresses, keys, references
from lxdplan.desired import (ClusterGroup, Desired, Member, Network, Profile, Project, Secret,
                             StoragePool, StorageVolume, Trust)
from lxdplan.errors import Diagnostic
from lxdplan.kinds import image as image_kind, instance as instance_kind  # their part of the file
from lxdplan.plan import Kind
from lxdplan.yamlsource import Source, fmt_path

LXDPLAN_PREFIX = "user.lxdplan."  # ownership marks and the lock: lxdplan's own, never declared
LOCAL_POOL_DRIVERS = frozenset({"dir", "btrfs", "zfs", "lvm"})
HOST_PARENT_NICTYPES = references.HOST_PARENT_NICTYPES
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>\d+)$")


def normalise(value: object) -> str:
    """A YAML scalar in LXD's string form: true -> "true", 15 -> "15", 1.5 -> "1.5"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _dicts(items: object):
    """(index, item) for the mappings in a list; other items were rejected by the schema."""
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            yield i, item


class _Checker:
    def __init__(self, src: Source):
        self.src = src
        self.diags: list[Diagnostic] = []

    def error(self, path, message: str, *, key: bool = False) -> None:
        line = self.src.key_line(path) if key else self.src.line(path)
        self.diags.append(Diagnostic(self.src.path, line, message))

    def warning(self, path, message: str) -> None:
        self.diags.append(Diagnostic(self.src.path, self.src.key_line(path), message, "warning"))

    def unique(self, items: list[tuple[object, tuple]], what: str) -> None:
        """Report every repeat of an identity; items are (identity, path of the object)."""
        first: dict[object, tuple] = {}
        for ident, path in items:
            if ident is None or (isinstance(ident, tuple) and None in ident[-1:]):
                continue
            if ident in first:
                self.error(path, f"{what} is declared twice ({fmt_path(path)} repeats "
                                 f"{fmt_path(first[ident])}, line {self.src.line(first[ident])})")
            else:
                first[ident] = path

    # -- config maps -------------------------------------------------------------------------
    def plain_config(self, cfg: dict | None, path: tuple) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in (cfg or {}).items():
            self.no_volatile(k, path)
            out[k] = normalise(v)
        return out

    def server_config(self, cfg: dict | None, path: tuple) -> dict:
        out: dict = {}
        for k, v in (cfg or {}).items():
            self.no_volatile(k, path)
            out[k] = self.secret_or_value(v)
        return out

    def no_volatile(self, k: str, path: tuple) -> None:
        if keys.is_lxd_own(k):
            self.error(path + (k,), f'"{k}" in {fmt_path(path)} is a key LXD sets itself '
                                    f'(volatile.*); remove it', key=True)
        elif k.startswith(LXDPLAN_PREFIX):
            self.error(path + (k,), f'"{k}" in {fmt_path(path)} is a key lxdplan keeps for itself '
                                    f"({LXDPLAN_PREFIX}*); remove it", key=True)

    @staticmethod
    def secret_or_value(v: object):
        if isinstance(v, dict):
            (source, ref), = v.items()
            return Secret(source, ref)
        if v is None:
            return None
        return normalise(v)


def build(src: Source) -> tuple[Desired, list[Diagnostic]]:
    """Check the semantic rules on schema-valid data and build the model."""
    c = _Checker(src)
    d = src.data
    backend = d.get("backend")
    cluster = d.get("cluster") or {}

    groups = [ClusterGroup(g.get("name"), g.get("description", ""), src.line(("cluster_groups", i)))
              for i, g in _dicts(d.get("cluster_groups"))]
    c.unique([(g.name, ("cluster_groups", i, "name")) for i, g in enumerate(groups)], "cluster group")
    group_names = {g.name for g in groups} | {"default"}

    members = _members(c, cluster, backend, group_names)
    member_names = {m.name for m in members}
    server_cfg = _cluster_config(c, cluster, backend)
    force_remove = _force_remove(c, cluster, member_names)

    pools = [_pool(c, p, i, member_names) for i, p in _dicts(d.get("storage_pools"))]
    c.unique([(p.name, ("storage_pools", i, "name")) for i, p in enumerate(pools)], "storage pool")
    networks = [_network(c, n, i, member_names) for i, n in _dicts(d.get("networks"))]
    c.unique([(n.name, ("networks", i, "name")) for i, n in enumerate(networks)], "network")

    projects = [Project(p.get("name"), p.get("description", ""),
                        c.plain_config(p.get("config"), ("projects", i, "config")),
                        src.line(("projects", i)))
                for i, p in _dicts(d.get("projects"))]
    c.unique([(p.name, ("projects", i, "name")) for i, p in enumerate(projects)], "project")
    project_names = {p.name for p in projects} | {"default"}

    pool_drivers = {p.name: p.driver for p in pools}
    profiles = [_profile(c, p, i, set(pool_drivers), {n.name for n in networks}, project_names)
                for i, p in _dicts(d.get("profiles"))]
    c.unique([((p.project, p.name), ("profiles", i, "name")) for i, p in enumerate(profiles)],
             "profile (per project)")
    volumes = [_volume(c, v, i, pool_drivers, member_names, project_names)
               for i, v in _dicts(d.get("storage_volumes"))]
    c.unique([((v.project, v.pool, v.member, v.name), ("storage_volumes", i, "name"))
              for i, v in enumerate(volumes)], "storage volume (per project, pool and member)")

    _references(c, groups, networks, projects, profiles, volumes)
    images = image_kind.load(c, _dicts(d.get("images")), project_names)
    instances = instance_kind.load(c, _dicts(d.get("instances")), {
        "members": member_names, "groups": group_names, "projects": project_names,
        "profiles": {(p.project, p.name) for p in profiles},
        "images": {(i.project, n) for i in images for n in (i.name, *i.aliases)},
        "pools": set(pool_drivers), "networks": {n.name for n in networks},
    })

    desired = Desired(path=src.path, version=d.get("version", 1), backend=backend, config=server_cfg,
                      force_remove=force_remove, members=tuple(members),
                      cluster_groups=tuple(groups), storage_pools=tuple(pools),
                      networks=tuple(networks), profiles=tuple(profiles),
                      projects=tuple(projects), storage_volumes=tuple(volumes),
                      images=tuple(images), instances=tuple(instances))
    return desired, c.diags


def _members(c: _Checker, cluster: dict, backend: str | None, group_names: set[str]) -> list[Member]:
    raw = cluster.get("members")
    if raw is None:
        return []  # missing: the schema said so
    if not raw:
        c.error(("cluster", "members"), "cluster.members is empty; declare at least one member",
                key=True)
        return []
    local_keys = keys.SERVER_MEMBER_LOCAL_KEYS.get(backend or "", keys.SERVER_MEMBER_LOCAL_KEYS_ANY)
    out = []
    for i, m in _dicts(raw):
        p = ("cluster", "members", i)
        address = m.get("address", "")
        if "address" in m and not _valid_host_port(address):
            c.error(p + ("address",), f'{fmt_path(p + ("address",))} must be host:port (IPv6 in '
                                      f'brackets, e.g. [fd00::1]:8443), not "{address}"')
        endpoint = m.get("endpoint", f"https://{address}")
        if "endpoint" in m and not _valid_endpoint(endpoint):
            c.error(p + ("endpoint",), f'{fmt_path(p + ("endpoint",))} must be https://host:port or '
                                       f'unix:///path/to/unix.socket or remote:NAME (a remote of '
                                       f'the lxc or incus client), not "{endpoint}"')
        fingerprint = m.get("fingerprint")
        if fingerprint is not None:
            fp = fingerprint.replace(":", "").lower()
            if not re.fullmatch(r"[0-9a-f]{64}", fp):
                c.error(p + ("fingerprint",), f"{fmt_path(p + ('fingerprint',))} must be the SHA-256 "
                                              f"certificate fingerprint: 64 hex digits (colons allowed)")
            fingerprint = fp
        trust = _trust(c, m.get("trust"), p + ("trust",), backend)
        config = c.server_config(m.get("config"), p + ("config",))
        for k in config:
            if k not in local_keys:
                c.error(p + ("config", k), f'"{k}" is a cluster-wide server key: put it under '
                                           f'cluster.config, not {fmt_path(p + ("config",))}', key=True)
        cluster_address = config.get("cluster.https_address", address)
        if not isinstance(cluster_address, str) or not addresses.same(cluster_address, address or ""):
            c.error(p + ("config", "cluster.https_address"),
                    f"{fmt_path(p + ('config', 'cluster.https_address'))} must be the member's "
                    f"address ({address}): a member's address is its cluster address; leave "
                    f"cluster.https_address out and set address")
        groups = m.get("groups")
        if groups is not None:
            if not groups:
                c.error(p + ("groups",), f"{fmt_path(p + ('groups',))} may not be empty (LXD keeps every "
                                         f"member in a group); leave it out or list default")
            for j, g in enumerate(groups):
                if g is not None and g not in group_names:
                    c.error(p + ("groups", j), f'{fmt_path(p)} ("{m.get("name")}") is in group "{g}", '
                                               f"which is not declared in cluster_groups")
        roles = m.get("roles")
        for j, r in enumerate(roles or []):
            if r in keys.DATABASE_ROLES:
                c.error(p + ("roles", j), f'role "{r}" is assigned by LXD itself and cannot be declared; '
                                          f"assignable roles: {', '.join(sorted(keys.ASSIGNABLE_ROLES))}")
            elif r is not None and r not in keys.ASSIGNABLE_ROLES:
                c.error(p + ("roles", j), f'unknown role "{r}"; assignable roles: '
                                          f"{', '.join(sorted(keys.ASSIGNABLE_ROLES))}")
        out.append(Member(
            name=m.get("name"), address=address, endpoint=endpoint, fingerprint=fingerprint, trust=trust,
            config=config, description=m.get("description"), failure_domain=m.get("failure_domain"),
            groups=tuple(groups) if groups is not None else None,
            roles=tuple(roles) if roles is not None else None,
            state=m.get("state", "online"), line=c.src.line(p)))
    c.unique([(m.name, ("cluster", "members", i, "name")) for i, m in enumerate(out)], "member")
    if len(out) < 3:
        c.warning(("cluster", "members"), f"{len(out)} member(s): the cluster cannot survive losing a "
                                          f"member (3 or more keep quorum)")
    return out


def _valid_host_port(text: str) -> bool:
    match = _HOST_PORT.match(text)
    return bool(match) and 0 < int(match["port"]) < 65536


def _valid_endpoint(endpoint: str) -> bool:
    if endpoint.startswith("unix://"):
        return endpoint.startswith("unix:///") and len(endpoint) > len("unix:///")
    if endpoint.startswith("https://"):
        return _valid_host_port(endpoint[len("https://"):].rstrip("/"))
    # remote:NAME: resolved at connection time through the lxc/incus client configuration.
    return bool(re.fullmatch(r"remote:[A-Za-z0-9][A-Za-z0-9._-]*", endpoint))


def _trust(c: _Checker, raw: dict | None, path: tuple, backend: str | None) -> Trust | None:
    if raw is None:
        return None
    if "password" in raw and "token" in raw:
        c.error(path, f"{fmt_path(path)} takes password or token, not both")
    if "password" in raw and backend == "incus":
        c.error(path + ("password",), f"{fmt_path(path + ('password',))}: Incus has no trust password; "
                                      f"use a trust token")
    for k in ("password", "token"):
        if isinstance(raw.get(k), str):
            c.warning(path + (k,), f"{fmt_path(path + (k,))} is written in plain text; prefer "
                                   f"{{env: NAME}} or {{file: PATH}}")
    return Trust(password=_Checker.secret_or_value(raw.get("password")),
                 token=_Checker.secret_or_value(raw.get("token")))


def _cluster_config(c: _Checker, cluster: dict, backend: str | None) -> dict:
    p = ("cluster", "config")
    cfg = c.server_config(cluster.get("config"), p)
    local_keys = keys.SERVER_MEMBER_LOCAL_KEYS.get(backend or "", keys.SERVER_MEMBER_LOCAL_KEYS_ANY)
    for k in cfg:
        if k in local_keys:
            c.error(p + (k,), f'"{k}" is a member-local server key: it belongs under '
                              f"cluster.members[i].config, not cluster.config", key=True)
        if backend == "incus" and k in keys.LXD_ONLY_SERVER_KEYS:
            c.error(p + (k,), f'"{k}" does not exist in Incus; use trust tokens instead', key=True)
    return cfg


def _force_remove(c: _Checker, cluster: dict, member_names: set[str]) -> tuple[str, ...]:
    names = cluster.get("force_remove") or []
    for i, name in enumerate(names):
        if name is not None and name in member_names:
            c.error(("cluster", "force_remove", i),
                    f'force_remove lists "{name}", which is still in cluster.members; force_remove '
                    f"is only for members being removed (take it out of members, or out of force_remove)")
    return tuple(names)


def _split_members(c: _Checker, raw: dict, path: tuple, kind: str, member_keys: frozenset[str],
                   member_names: set[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Check a pool's or network's config/members split; return (config, members with keys)."""
    config = c.plain_config(raw.get("config"), path + ("config",))
    for k in config:
        if k in member_keys:
            c.error(path + ("config", k), f'"{k}" is member-specific for {kind}: put it under '
                                          f"{fmt_path(path + ('members',))}.<member>", key=True)
    members: dict[str, dict[str, str]] = {}
    for name, cfg in (raw.get("members") or {}).items():
        mp = path + ("members", name)
        if name not in member_names:
            c.error(mp, f'{fmt_path(path + ("members",))} names "{name}", which is not in '
                        f"cluster.members", key=True)
        values = c.plain_config(cfg, mp)
        for k in values:
            if k not in member_keys:
                allowed = ", ".join(sorted(member_keys)) or "none"
                c.error(mp + (k,), f'"{k}" is not member-specific for {kind} (member-specific keys: '
                                   f"{allowed}): put it under {fmt_path(path + ('config',))}", key=True)
        if values:
            members[name] = values
    return config, members


def _pool(c: _Checker, raw: dict, i: int, member_names: set[str]) -> StoragePool:
    path = ("storage_pools", i)
    driver = raw.get("driver", "")
    config, members = _split_members(c, raw, path, f"{driver} pools", keys.pool_member_keys(driver),
                                     member_names)
    return StoragePool(raw.get("name"), driver, raw.get("description", ""), config, members,
                       c.src.line(path))


def _network(c: _Checker, raw: dict, i: int, member_names: set[str]) -> Network:
    path = ("networks", i)
    net_type = raw.get("type", "bridge")
    if net_type == "ovn" and raw.get("members"):
        c.error(path + ("members",), f"{fmt_path(path)}: OVN networks take no members: (they have no "
                                     f"member-specific keys); remove it", key=True)
        raw = {k: v for k, v in raw.items() if k != "members"}
    config, members = _split_members(c, raw, path, f"{net_type} networks",
                                     keys.network_member_keys(net_type), member_names)
    return Network(raw.get("name"), net_type, raw.get("description", ""), config, members,
                   c.src.line(path))


def _profile(c: _Checker, raw: dict, i: int, pools: set[str], networks: set[str],
             projects: set[str]) -> Profile:
    path = ("profiles", i)
    project = raw.get("project", "default")
    if project == "default" and str(raw.get("name", "")).startswith(keys.LOCK_PROFILE):
        c.error(path + ("name",), f'{fmt_path(path)}: the profile name "{keys.LOCK_PROFILE}" is '
                                  "lxdplan's own (its apply lock); choose another name")
    if project not in projects:
        c.error(path + ("project",), f'{fmt_path(path)} is in project "{project}", which is not '
                                     f"declared in projects")
    devices: dict[str, dict[str, str]] = {}
    for dev_name, dev in (raw.get("devices") or {}).items():
        dp = path + ("devices", dev_name)
        values = c.plain_config(dev, dp)
        devices[dev_name] = values
        dev_type = values.get("type")
        if dev_type is None:
            c.error(dp, f"{fmt_path(dp + ('type',))} is missing (disk, nic, ...)")
        if dev_type == "disk" and "pool" in values and values["pool"] not in pools:
            c.error(dp + ("pool",), f'{fmt_path(dp)} uses storage pool "{values["pool"]}", which is '
                                    f"not declared in storage_pools")
        if dev_type == "nic":
            if "network" in values and values["network"] not in networks:
                c.error(dp + ("network",), f'{fmt_path(dp)} uses network "{values["network"]}", which '
                                           f"is not declared in networks")
            nictype = values.get("nictype")
            undeclared = ("parent" in values and "network" not in values
                          and nictype not in HOST_PARENT_NICTYPES and values["parent"] not in networks)
            if undeclared and nictype == "bridged":
                # A bridged nic may use a bridge the hosts made themselves (LXD lists it unmanaged).
                c.warning(dp + ("parent",), f'{fmt_path(dp)} has parent "{values["parent"]}", which is '
                                            f"not declared in networks: it must be a bridge that exists "
                                            f"on every member's host")
            elif undeclared:
                c.error(dp + ("parent",), f'{fmt_path(dp)} has parent "{values["parent"]}", which is not '
                                          f"declared in networks (only physical, macvlan, sriov, ipvlan "
                                          f"and routed nics take a host interface as parent)")
    return Profile(raw.get("name"), raw.get("description", ""),
                   c.plain_config(raw.get("config"), path + ("config",)), devices, project,
                   c.src.line(path))


def _volume(c: _Checker, raw: dict, i: int, pool_drivers: dict[str, str], member_names: set[str],
            projects: set[str]) -> StorageVolume:
    path = ("storage_volumes", i)
    pool, member, project = raw.get("pool"), raw.get("member"), raw.get("project", "default")
    if pool is None:
        pass
    elif pool not in pool_drivers:
        c.error(path + ("pool",), f'{fmt_path(path)} ("{raw.get("name")}") is in storage pool "{pool}", '
                                  f"which is not declared in storage_pools")
    elif member is None and pool_drivers[pool] in LOCAL_POOL_DRIVERS:
        c.error(path, f'{fmt_path(path)} ("{raw.get("name")}") is in {pool_drivers[pool]} pool "{pool}", '
                      f"which is local to each member: add member: <name>")
    if member is not None and member not in member_names:
        c.error(path + ("member",), f'{fmt_path(path)} ("{raw.get("name")}") is on member "{member}", '
                                    f"which is not in cluster.members")
    if project not in projects:
        c.error(path + ("project",), f'{fmt_path(path)} ("{raw.get("name")}") is in project "{project}", '
                                     f"which is not declared in projects")
    return StorageVolume(pool=pool, name=raw.get("name"), member=member, type=raw.get("type", "custom"),
                         content_type=raw.get("content_type", "filesystem"),
                         description=raw.get("description", ""),
                         config=c.plain_config(raw.get("config"), path + ("config",)),
                         project=project, line=c.src.line(path))


_DECLARED_IN = {Kind.NETWORK: "networks", Kind.CLUSTER_GROUP: "cluster_groups"}


def _references(c: _Checker, groups, networks, projects, profiles, volumes) -> None:
    """Names that projects' ``restricted.*`` keys, networks' keys and profiles' disk sources give
    (``lxdplan.references``) resolve to declared objects. A certain reference to an undeclared
    object is an error (LXD refuses it, or the object would be deleted under its user); a
    profile's volume is a warning (it may live in the pool unmanaged). Profiles' pools, networks
    and nic parents are checked with the profile."""
    declared = {
        Kind.NETWORK: {(n.name,) for n in networks},
        Kind.CLUSTER_GROUP: {(g.name,) for g in groups} | {("default",)},
    }
    objects = ([(("projects", i), references.project_refs(p.config)) for i, p in enumerate(projects)]
               + [(("networks", i), references.network_refs(n.name, n.config, n.members))
                  for i, n in enumerate(networks)])
    for path, refs in objects:
        for ref in refs:
            if not ref.certain or ref.kind not in declared or ref.ident in declared[ref.kind]:
                continue
            where = path + ref.at
            c.error(where, f'{fmt_path(where)} names {ref.kind.noun} "{ref.name}", which is not '
                           f"declared in {_DECLARED_IN[ref.kind]}", key=True)
    volume_names = {(v.pool, v.name) for v in volumes}
    for i, profile in enumerate(profiles):
        for ref in references.profile_refs(profile.project, profile.devices):
            if ref.kind == Kind.STORAGE_VOLUME and ref.ident not in volume_names:
                where = ("profiles", i) + ref.at
                c.warning(where, f'{fmt_path(where)} uses storage volume "{ref.ident[1]}" of pool '
                                 f'"{ref.ident[0]}", which is not declared in storage_volumes: it '
                                 f"must exist in the pool before the profile is applied")
