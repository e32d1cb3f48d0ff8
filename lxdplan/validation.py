"""Semantic rules of the desired-state file that JSON Schema cannot express, and the model build.

Input is plain data that already passed the schema; output is a ``Desired`` and diagnostics.
Membership and server config (``cluster:``) are checked here; every object kind loads and
checks its own section (``KindSpec.load``/``check`` in ``lxdplan.kinds``), in ``load_rank``
order, so this module names no kind.
"""

from __future__ import annotations

import re

from lxdplan import addresses, keys, knownkeys, references
from lxdplan.desired import Desired, Member, Trust
from lxdplan.errors import Diagnostic, fmt_path
from lxdplan.filecheck import MEMBERS, Checker, dicts
from lxdplan.kinds import Checked
from lxdplan.registry import registry, spec_of
from lxdplan.yamlsource import Source

_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?)\]|(?P<host>[A-Za-z0-9._-]+))"
                        r":(?P<port>\d+)$")


def build(src: Source) -> tuple[Desired, list[Diagnostic]]:
    """Check the semantic rules on schema-valid data and build the model."""
    c = Checker(src)
    d = src.data if isinstance(src.data, dict) else {}  # schema-valid: a mapping
    backend = d.get("backend")
    cluster = d.get("cluster") or {}
    specs = sorted(registry(), key=lambda s: s.load_rank)
    declared: dict[str, tuple] = {}

    for spec in (k for k in specs if k.load_rank < 0):  # what members name
        _load(c, spec, d, declared)
    members = _members(c, cluster, backend, declared)
    declared[MEMBERS] = tuple(members)
    member_names = {m.name for m in members}
    server_cfg = _cluster_config(c, cluster, backend)
    force_remove = _force_remove(c, cluster, member_names)
    for spec in (k for k in specs if k.load_rank >= 0):
        _load(c, spec, d, declared)
    for spec in registry():  # rank order: projects' references, networks', profiles', images'
        if isinstance(spec, Checked):
            spec.check(c, declared, registry())
    knownkeys.check(c, d, backend)  # drivers, network types, keys the servers do not know

    desired = Desired(path=src.path, version=d.get("version", 1), backend=backend, config=server_cfg,
                      force_remove=force_remove, members=tuple(members),
                      objects={k.section: declared[k.section] for k in specs},
                      sections=[k.section for k in registry()],
                      config_line=(c.src.key_line(("cluster", "config")) or 0) if "config" in cluster else 0)
    return desired, c.diags


def _load(c: Checker, spec, data: dict, declared: dict[str, tuple]) -> None:
    """Load one kind's section into ``declared``, then check that no identity repeats."""
    objects = tuple(spec.load(c, dicts(data.get(spec.section)), declared))
    c.unique([(ident, (spec.section, i, "name")) for i, obj in enumerate(objects)
              for ident in spec.file_idents(obj)], spec.twice or spec.kind.noun)
    declared[spec.section] = objects


def _members(c: Checker, cluster: dict, backend: str | None,
             declared: dict[str, tuple]) -> list[Member]:
    """The members, their groups checked against what loaded before them (``declared``)."""
    raw = cluster.get("members")
    if raw is None:
        return []  # missing: the schema said so
    if not raw:
        c.error(("cluster", "members"), "cluster.members is empty; declare at least one member",
                key=True)
        return []
    local_keys = keys.SERVER_MEMBER_LOCAL_KEYS.get(backend or "", keys.SERVER_MEMBER_LOCAL_KEYS_ANY)
    out = []
    for i, m in dicts(raw):
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
            for ref in references.member_refs(groups):
                target = spec_of(ref.kind)
                if ref.ident not in target.known(declared):
                    c.error(p + ref.at, f'{fmt_path(p)} ("{m.get("name")}") is in group "{ref.name}", '
                                        f"which is not declared in {target.section}")
        roles = m.get("roles")
        for j, r in enumerate(roles or []):
            if r in keys.DATABASE_ROLES:
                c.error(p + ("roles", j), f'role "{r}" is assigned by LXD itself and cannot be declared; '
                                          f"assignable roles: {', '.join(sorted(keys.ASSIGNABLE_ROLES))}")
            elif r is not None and r not in keys.ASSIGNABLE_ROLES:
                c.error(p + ("roles", j), f'unknown role "{r}"; assignable roles: '
                                          f"{', '.join(sorted(keys.ASSIGNABLE_ROLES))}")
        out.append(Member(
            name=m.get("name", ""), address=address, endpoint=endpoint, fingerprint=fingerprint, trust=trust,
            config=config, description=m.get("description"), failure_domain=m.get("failure_domain"),
            groups=tuple(groups) if groups is not None else None,
            roles=tuple(roles) if roles is not None else None,
            state=m.get("state", "online"), line=c.src.line(p) or 0))
    c.unique([(m.name, ("cluster", "members", i, "name")) for i, m in enumerate(out)], "member")
    if len(out) < 3:
        c.warning(("cluster", "members"), f"{len(out)} member(s): the cluster cannot survive losing a "
                                          f"member (3 or more keep quorum)")
    return out


def _valid_host_port(text: str) -> bool:
    match = _HOST_PORT.match(text)
    return match is not None and 0 < int(match["port"]) < 65536


def _valid_endpoint(endpoint: str) -> bool:
    if endpoint.startswith("unix://"):
        return endpoint.startswith("unix:///") and len(endpoint) > len("unix:///")
    if endpoint.startswith("https://"):
        return _valid_host_port(endpoint[len("https://"):].rstrip("/"))
    # remote:NAME: resolved at connection time through the lxc/incus client configuration.
    return bool(re.fullmatch(r"remote:[A-Za-z0-9][A-Za-z0-9._-]*", endpoint))


def _trust(c: Checker, raw: dict | None, path: tuple, backend: str | None) -> Trust | None:
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
    return Trust(password=Checker.secret_or_value(raw.get("password")),
                 token=Checker.secret_or_value(raw.get("token")))


def _cluster_config(c: Checker, cluster: dict, backend: str | None) -> dict:
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


def _force_remove(c: Checker, cluster: dict, member_names: set[str]) -> tuple[str, ...]:
    names = cluster.get("force_remove") or []
    for i, name in enumerate(names):
        if name is not None and name in member_names:
            c.error(("cluster", "force_remove", i),
                    f'force_remove lists "{name}", which is still in cluster.members; force_remove '
                    f"is only for members being removed (take it out of members, or out of force_remove)")
    return tuple(names)
