"""`lxdplan convert-preseed`: `lxd init` / `incus admin init` preseeds → one desired-state document.

Pure: parsed YAML in, a plain document out (``convert``), or a ``ValidationError`` naming every
preseed key it cannot express, each with its file and line. The inputs are:

- a *bootstrap* preseed (``cluster.enabled: true`` with ``server_name`` and no ``cluster_address``),
  or the output of ``lxd init --dump`` of a standalone server (``cluster: null``; the member then
  needs ``--name``);
- any number of *join* preseeds (``cluster.cluster_address`` set): one member each, their
  ``member_config`` entries becoming the pools' and networks' ``members:`` keys.

Decisions (see docs/design.md):
- The bootstrap member's ``address`` is its ``cluster.https_address`` when the preseed sets one (a
  separate REST address stays in the member's ``config``), else ``cluster.server_address``, else
  ``core.https_address``. A join member's address is its ``server_address``.
- Secrets are never copied: ``core.trust_password`` becomes ``{env: LXD_TRUST_PASSWORD}`` (and the
  bootstrap member's ``trust``), as does a join preseed's ``cluster_password``; a join
  ``cluster_token`` is dropped (lxdplan mints a fresh join token for each join) with a note.
- ``cluster_certificate`` becomes the bootstrap member's ``fingerprint`` pin: the join preseeds are
  written against a formed cluster, whose members all serve that certificate.
- A built-in object (the ``default`` profile or project) the preseed gives no description keeps
  the server's own ("Default LXD profile"), so the file writes that one (the backend from
  ``--backend``, or LXD when the preseed sets a trust password); else a note says so.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from lxdplan import keys
from lxdplan.errors import Diagnostic, ValidationError, fmt_path
from lxdplan.sensitive import export_reference, reference_secrets, sensitive_key
from lxdplan.yamlsource import Source

TRUST_ENV = "LXD_TRUST_PASSWORD"
_TOP_KEYS = {"config", "networks", "storage_pools", "storage_volumes", "profiles", "projects", "cluster"}
_REMOTE_DRIVERS = {"ceph", "cephfs", "cephobject", "lvmcluster", "powerflex", "pure"}  # volumes have no member
_VOLUME_KEYS = {"name", "pool", "description", "config", "content_type", "type", "project"}
_CLUSTER_KEYS = {"server_name", "enabled", "server_address", "cluster_address", "cluster_certificate",
                 "cluster_certificate_path", "cluster_password", "cluster_token", "member_config"}
_ENTITIES = {"storage-pool": "storage_pools", "network": "networks"}


@dataclass
class Converted:
    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # things the user should know, one sentence each


class _Errors:
    def __init__(self) -> None:
        self.found: list[Diagnostic] = []

    def add(self, src: Source, path: tuple, message: str) -> None:
        self.found.append(Diagnostic(src.path, src.key_line(path), message))


def _wildcard(address: str) -> bool:
    host = address.rsplit(":", 1)[0] if ":" in address else address
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        return True
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _mapping(src: Source, path: tuple, value: Any, errors: _Errors) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(src, path, f"preseed key {fmt_path(path)} must be a mapping")
        return {}
    return value


def _listing(src: Source, path: tuple, value: Any, errors: _Errors) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        errors.add(src, path, f"preseed key {fmt_path(path)} must be a list of mappings")
        return []
    return value


class _Builder:
    """Collects the document while the preseeds are read, bootstrap first."""

    def __init__(self, backend: str | None) -> None:
        self.backend = backend
        self.errors = _Errors()
        self.notes: list[str] = []
        self.server: dict[str, Any] = {}
        self.members: list[dict[str, Any]] = []
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"storage_pools": {}, "networks": {}}
        self.profiles: list[dict[str, Any]] = []
        self.projects: list[dict[str, Any]] = []
        self.volumes: list[dict[str, Any]] = []
        self.secret_password = False

    # -- server config -------------------------------------------------------------------------
    def _local_keys(self) -> frozenset[str]:
        return keys.SERVER_MEMBER_LOCAL_KEYS.get(self.backend or "lxd", keys.SERVER_MEMBER_LOCAL_KEYS_ANY)

    def split_config(self, src: Source, raw: Any, *, bootstrap: bool) -> dict[str, str]:
        """Cluster-wide keys go to ``self.server`` (a join preseed may only repeat them); returns the
        member-local keys."""
        local: dict[str, Any] = {}
        config = _mapping(src, ("config",), raw, self.errors)
        for key, value in config.items():
            path = ("config", key)
            if key == "core.trust_password":
                if self.backend == "incus":
                    self.errors.add(src, path, "preseed key config.core.trust_password does not exist "
                                               "on Incus; drop it (Incus trusts clients by token)")
                    continue
                self.secret_password = True
                self.server[key] = {"env": TRUST_ENV}
            elif sensitive_key(key):
                where = local if key in self._local_keys() else self.server
                where[key] = export_reference(key)
                self.notes.append(f"{src.path}: config.{key} is a secret: written as "
                                  f"{{env: {where[key]['env']}}}, set it before `lxdplan apply`")
            elif key in self._local_keys():
                local[key] = _text(value)
            elif bootstrap:
                self.server[key] = _text(value)
            elif key in self.server and self.server[key] != _text(value):
                self.errors.add(src, path, f"preseed key config.{key} is {_text(value)!r} here and "
                                           f"{self.server[key]!r} in the bootstrap preseed; a "
                                           "cluster-wide key has one value for every member")
            elif key not in self.server:
                self.errors.add(src, path, f"preseed key config.{key} is cluster-wide and only "
                                           "a join preseed sets it; move it to the bootstrap preseed")
        return local

    # -- pools and networks --------------------------------------------------------------------
    def add_objects(self, src: Source, data: dict, member: str) -> None:
        for top, type_field in (("storage_pools", "driver"), ("networks", "type")):
            for i, raw in enumerate(_listing(src, (top,), data.get(top), self.errors)):
                self._add_object(src, (top, i), raw, top, type_field, member)

    def _add_object(self, src: Source, path: tuple, raw: dict, top: str, type_field: str,
                    member: str) -> None:
        allowed = {"name", type_field, "description", "config"} | ({"project"} if top == "networks" else set())
        for key in raw:
            if key not in allowed:
                self.errors.add(src, path + (key,), f"preseed key {fmt_path(path + (key,))} cannot be "
                                                    "expressed in an lxdplan file")
        name, kind = raw.get("name"), raw.get(type_field)
        if not isinstance(name, str) or not name:
            self.errors.add(src, path, f"{fmt_path(path)} has no name")
            return
        if raw.get("project") not in (None, "", "default"):
            self.errors.add(src, path + ("project",), f"network {name} is in project "
                                                      f"{raw['project']}; lxdplan declares networks "
                                                      "of the default project only")
            return
        member_keys = (keys.pool_member_keys if top == "storage_pools" else keys.network_member_keys)(
            str(kind or ""))
        wide: dict[str, Any] = {}
        specific: dict[str, Any] = {}
        for key, value in _mapping(src, path + ("config",), raw.get("config"), self.errors).items():
            if keys.is_lxd_own(key):
                continue
            (specific if key in member_keys else wide)[key] = _text(value)
        entry: dict[str, Any] = {"name": name, type_field: kind or ""}
        if not kind:
            self.errors.add(src, path, f"{fmt_path(path)} ({name}) has no {type_field}")
        if raw.get("description"):
            entry["description"] = str(raw["description"])
        if wide:
            entry["config"] = wide
        if specific:
            entry["members"] = {member: specific}
        if name in self.objects[top]:
            self.errors.add(src, path, f"{fmt_path(path)}: {name} is declared twice")
        self.objects[top][name] = entry

    def member_config(self, src: Source, raw: Any, member: str) -> None:
        for i, item in enumerate(_listing(src, ("cluster", "member_config"), raw, self.errors)):
            path = ("cluster", "member_config", i)
            entity, name, key = item.get("entity"), item.get("name"), item.get("key")
            top = _ENTITIES.get(entity)
            if top is None:
                self.errors.add(src, path + ("entity",), f"{fmt_path(path)}.entity is {entity!r}; "
                                                         "lxdplan knows storage-pool and network")
                continue
            obj = self.objects[top].get(name)
            if obj is None:
                noun = "storage pool" if top == "storage_pools" else "network"
                self.errors.add(src, path + ("name",), f"{fmt_path(path)} names {noun} {name}, which "
                                                       "the bootstrap preseed does not declare")
                continue
            value = _text(item.get("value"))
            if value == "":
                continue  # LXD's own default for this member (e.g. the dir pool's path)
            obj.setdefault("members", {}).setdefault(member, {})[str(key)] = value

    # -- members -------------------------------------------------------------------------------
    def add_member(self, src: Source, name: str, address: str, local: dict[str, str],
                   **extra: Any) -> None:
        entry: dict[str, Any] = {"name": name, "address": address}
        entry.update({k: v for k, v in extra.items() if v})
        local = {k: v for k, v in local.items() if k != "cluster.https_address"}
        if local.get("core.https_address") == address:
            del local["core.https_address"]
        if local:
            entry["config"] = local
        if any(m["name"] == name for m in self.members):
            self.errors.add(src, ("cluster", "server_name"), f"member {name} is named by two preseeds")
        self.members.append(entry)

    def builtin_description(self, kind: str, entry: dict[str, Any]) -> dict[str, Any]:
        """A built-in object (the ``default`` profile or project) whose preseed gives no
        description keeps the server's own, so the file says it (a file's missing description
        is an empty one). A trust password means LXD (before 6.1) when no backend is given."""
        builtin = entry.get("name") == "default" and entry.get("project") in (None, "default")
        if not builtin or "description" in entry:
            return entry
        backend = self.backend or ("lxd" if self.secret_password else None)
        if backend is None:
            self.notes.append(f"{kind} default has no description in the preseed, so the server "
                              f"keeps its own: pass --backend lxd or incus to write it in the "
                              f"file, or apply empties it")
            return entry
        return {"name": "default", "description": keys.builtin_descriptions(backend)[kind],
                **{k: v for k, v in entry.items() if k != "name"}}

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"version": 1}
        if self.backend:
            doc["backend"] = self.backend
        cluster: dict[str, Any] = {}
        if self.server:
            cluster["config"] = self.server
        cluster["members"] = self.members
        doc["cluster"] = cluster
        for top in ("storage_pools", "networks"):
            if self.objects[top]:
                doc[top] = list(self.objects[top].values())
        if self.profiles:
            doc["profiles"] = [self.builtin_description("profile", p) for p in self.profiles]
        if self.projects:
            doc["projects"] = [self.builtin_description("project", p) for p in self.projects]
        if self.volumes:
            doc["storage_volumes"] = self.volumes
        return doc


def _bootstrap(b: _Builder, src: Source, name_override: str | None) -> str | None:
    data = src.data
    cluster = _mapping(src, ("cluster",), data.get("cluster"), b.errors)
    for key in cluster:
        if key not in _CLUSTER_KEYS:
            b.errors.add(src, ("cluster", key), f"preseed key cluster.{key} cannot be expressed in an "
                                                "lxdplan file")
    if cluster.get("cluster_address"):
        b.errors.add(src, ("cluster", "cluster_address"), "the first preseed joins a cluster "
                     "(cluster.cluster_address is set); give the bootstrap preseed first")
        return None
    name = name_override or cluster.get("server_name")
    if not name:
        where = "is not clustered (cluster: null)" if not cluster else "has no cluster.server_name"
        b.errors.add(src, ("cluster",), f"the bootstrap preseed {where}: pass --name NAME for the member")
        return None
    local = b.split_config(src, data.get("config"), bootstrap=True)
    address = (local.get("cluster.https_address") or _text(cluster.get("server_address"))
               or local.get("core.https_address", ""))
    if not address or _wildcard(address):
        b.errors.add(src, ("config",), f"member {name} has no cluster address: set "
                                       "config.cluster.https_address (core.https_address is "
                                       f"{local.get('core.https_address') or 'unset'})")
        return None
    trust = {"password": {"env": TRUST_ENV}} if b.secret_password else None
    b.add_member(src, str(name), address, local, trust=trust)
    b.add_objects(src, data, str(name))
    for top, target in (("profiles", b.profiles), ("projects", b.projects)):
        for i, raw in enumerate(_listing(src, (top,), data.get(top), b.errors)):
            entry = {k: v for k, v in raw.items() if v not in (None, "", {}, [])}
            if "config" in entry:
                entry["config"] = {k: _text(v) for k, v in entry["config"].items()}
            target.append(entry)
    _volumes(b, src, data.get("storage_volumes"), str(name))
    return address


def _volumes(b: _Builder, src: Source, raw: Any, member: str) -> None:
    """Custom volumes (Incus and newer LXD preseeds): on the bootstrap member in a local pool."""
    for i, vol in enumerate(_listing(src, ("storage_volumes",), raw, b.errors)):
        path = ("storage_volumes", i)
        for key in vol:
            if key not in _VOLUME_KEYS:
                b.errors.add(src, path + (key,), f"preseed key {fmt_path(path + (key,))} cannot be "
                                                 "expressed in an lxdplan file")
        if vol.get("type") not in (None, "", "custom"):
            continue  # instance and image volumes come with their instances and images
        pool = b.objects["storage_pools"].get(vol.get("pool"))
        if pool is None:
            b.errors.add(src, path + ("pool",), f"{fmt_path(path)} is in storage pool "
                                                f"{vol.get('pool')}, which the preseed does not declare")
            continue
        entry: dict[str, Any] = {"pool": pool["name"], "name": vol.get("name")}
        if pool["driver"] not in _REMOTE_DRIVERS:
            entry["member"] = member
        if vol.get("project") not in (None, "", "default"):
            entry["project"] = vol["project"]
        if vol.get("content_type") not in (None, "", "filesystem"):
            entry["content_type"] = vol["content_type"]
        if vol.get("description"):
            entry["description"] = str(vol["description"])
        config = {k: _text(v) for k, v in (vol.get("config") or {}).items() if not keys.is_lxd_own(k)}
        if config:
            entry["config"] = config
        b.volumes.append(entry)


def _join(b: _Builder, src: Source, bootstrap_name: str, bootstrap_address: str) -> None:
    data = src.data
    cluster = _mapping(src, ("cluster",), data.get("cluster"), b.errors)
    for key in data:
        if key not in ("config", "cluster"):
            b.errors.add(src, (key,), f"preseed key {key} in a join preseed cannot be expressed: a "
                                      "joining member takes the cluster's objects (give them in the "
                                      "bootstrap preseed)")
    for key in cluster:
        if key not in _CLUSTER_KEYS:
            b.errors.add(src, ("cluster", key), f"preseed key cluster.{key} cannot be expressed in an "
                                                "lxdplan file")
    name, address = cluster.get("server_name"), _text(cluster.get("server_address"))
    if not name or not address:
        b.errors.add(src, ("cluster",), "a join preseed needs cluster.server_name and "
                                        "cluster.server_address")
        return
    target = _text(cluster.get("cluster_address"))
    known = {m["address"] for m in b.members} | {bootstrap_address}
    if target not in known:
        b.errors.add(src, ("cluster", "cluster_address"), f"cluster.cluster_address {target} is not "
                     f"the address of a member of the converted cluster ({', '.join(sorted(known))})")
    if cluster.get("cluster_password"):
        if b.backend == "incus":
            b.errors.add(src, ("cluster", "cluster_password"), "Incus joins with cluster_token, not "
                                                               "cluster_password")
        b.secret_password = True
        b.server.setdefault("core.trust_password", {"env": TRUST_ENV})
        b.members[0].setdefault("trust", {"password": {"env": TRUST_ENV}})
    if cluster.get("cluster_token"):
        b.notes.append(f"{src.path}: cluster.cluster_token dropped: lxdplan mints a fresh join "
                       f"token for {name} when it joins it")
    cert = cluster.get("cluster_certificate")
    if cert:
        pin = _fingerprint(str(cert))
        if pin is None:
            b.errors.add(src, ("cluster", "cluster_certificate"), "cluster.cluster_certificate is not a "
                         "PEM certificate")
        elif b.members[0].setdefault("fingerprint", pin) != pin:
            b.errors.add(src, ("cluster", "cluster_certificate"), "cluster.cluster_certificate differs "
                         "from the one in an earlier join preseed")
    if cluster.get("cluster_certificate_path"):
        b.errors.add(src, ("cluster", "cluster_certificate_path"), "cluster.cluster_certificate_path "
                     "names a file on the joining machine; give its content as cluster_certificate")
    local = b.split_config(src, data.get("config"), bootstrap=False)
    b.add_member(src, str(name), address, local)
    b.member_config(src, cluster.get("member_config"), str(name))


def _fingerprint(pem: str) -> str | None:
    from lxdplan.providers.certs import fingerprint

    # The seed writes the certificate with blank lines between its lines (to survive YAML
    # folding); PEM readers want them gone.
    text = "\n".join(line.strip() for line in pem.strip().splitlines() if line.strip()) + "\n"
    try:
        return fingerprint(text)
    except Exception:  # noqa: BLE001 - any unreadable certificate is the same user error
        return None


def convert(sources: list[Source], *, backend: str | None = None, name: str | None = None) -> Converted:
    """The first source is the bootstrap preseed (or a `--dump`), the others join preseeds."""
    b = _Builder(backend)
    for src in sources:
        if not isinstance(src.data, dict):
            b.errors.add(src, (), "a preseed is a mapping of keys (config, cluster, ...)")
    if b.errors.found:
        raise ValidationError(b.errors.found)
    first = sources[0]
    for key in first.data:
        if key not in _TOP_KEYS:
            b.errors.add(first, (key,), f"preseed key {key} cannot be expressed in an lxdplan file")
    address = _bootstrap(b, first, name)
    if address is not None:
        for src in sources[1:]:
            _join(b, src, b.members[0]["name"], address)
    if b.errors.found:
        raise ValidationError(b.errors.found)
    document = b.document()
    for variable in reference_secrets(document):  # secrets in pools', networks'… config
        b.notes.append(f"a secret is written as {{env: {variable}}}: set it before `lxdplan apply`")
    return Converted(document, b.notes)
