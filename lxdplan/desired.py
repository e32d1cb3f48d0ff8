"""The desired state: what the operator's file declares, after loading and validation.

Every object is a frozen dataclass. Config values are LXD strings, a ``Secret`` (resolved only at
apply time) or ``None`` (server config only: "unset this key"). ``line`` is where the object
starts in the file, for messages. Fields left ``None`` were not declared and are left alone.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lxdplan.errors import LxdplanError

SENSITIVE = "(sensitive)"


@dataclass(frozen=True)
class Secret:
    """A value read from the environment or a file at apply time; never printed or saved."""

    source: str  # "env" | "file"
    ref: str  # variable name or file path

    def resolve(self) -> str:
        if self.source == "env":
            value = os.environ.get(self.ref)
            if value is None:
                raise LxdplanError(f"the secret from environment variable {self.ref} is not set")
            return value
        try:
            return Path(self.ref).read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise LxdplanError(f"the secret file {self.ref} cannot be read: {exc.strerror}") from None

    def as_reference(self) -> dict[str, str]:
        """The reference (not the value) as written in the file, safe to save in a plan."""
        return {self.source: self.ref}

    def __str__(self) -> str:
        return SENSITIVE

    __repr__ = __str__


def map_values(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """``value`` with ``leaf`` applied to every scalar (``Secret`` included) inside its dicts and
    lists/tuples (tuples come back as lists) and the fields of a payload (a dataclass other than
    ``Secret``, which comes back as a dict): how payloads are revealed, saved and printed."""
    if dataclasses.is_dataclass(value) and not isinstance(value, (type, Secret)):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): map_values(v, leaf) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [map_values(v, leaf) for v in value]
    return leaf(value)


def secrets_in(value: Any) -> list[Secret]:
    """Every ``Secret`` inside ``value``'s dicts and lists."""
    found: list[Secret] = []
    map_values(value, lambda v: found.append(v) if isinstance(v, Secret) else None)
    return found


Value = str | Secret | None
Config = dict[str, Value]


@dataclass(frozen=True)
class Trust:
    """How lxdplan gets its client certificate trusted on a member before it is clustered."""

    password: str | Secret | None = None
    token: str | Secret | None = None


@dataclass(frozen=True)
class Member:
    name: str
    address: str  # cluster address host:port
    endpoint: str  # https://host:port or unix:///path
    fingerprint: str | None = None
    trust: Trust | None = None
    config: Config = field(default_factory=dict)  # member-local server config
    description: str | None = None
    failure_domain: str | None = None
    groups: tuple[str, ...] | None = None
    roles: tuple[str, ...] | None = None
    state: str = "online"  # online | evacuated
    line: int = 0


@dataclass(frozen=True)
class ClusterGroup:
    name: str
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class StoragePool:
    name: str
    driver: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)  # cluster-wide keys
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # member -> specific keys
    line: int = 0


@dataclass(frozen=True)
class Network:
    name: str
    type: str = "bridge"
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    project: str = "default"
    line: int = 0


@dataclass(frozen=True)
class Project:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class StorageVolume:
    pool: str
    name: str
    member: str | None = None  # required for clustered local pools
    type: str = "custom"
    content_type: str = "filesystem"
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    project: str = "default"
    line: int = 0


@dataclass(frozen=True)
class ImageSource:
    """Where an image comes from: exactly one of a unified tarball (``file``), a split image
    (``metadata`` + ``rootfs``), or a remote image ``server`` (with ``protocol`` and ``alias`` or
    ``fingerprint``; ``certificate`` is the PEM of an lxd-protocol server). Paths are as written
    in the file (relative ones are relative to the file's directory)."""

    file: str | None = None
    metadata: str | None = None
    rootfs: str | None = None
    server: str | None = None
    protocol: str = "simplestreams"
    alias: str | None = None
    fingerprint: str | None = None
    certificate: str | Secret | None = None


@dataclass(frozen=True)
class Image:
    name: str  # its alias in the cluster (unique per project)
    source: ImageSource = field(default_factory=ImageSource)
    project: str = "default"
    fingerprint: str | None = None  # optional pin (a prefix of the fingerprint)
    aliases: tuple[str, ...] = ()  # more aliases; authoritative
    public: bool = False
    auto_update: bool = False
    line: int = 0


@dataclass(frozen=True)
class Instance:
    name: str
    image: str | None = None  # used at creation only
    project: str = "default"
    type: str = "container"  # container | virtual-machine
    member: str | None = None  # placement: a member, or a cluster group, or neither
    group: str | None = None
    profiles: tuple[str, ...] = ("default",)
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    state: str = "running"  # running | stopped
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class Desired:
    """The whole validated desired-state file."""

    path: str
    version: int = 1
    backend: str | None = None  # "lxd" | "incus" | None (detect)
    config: Config = field(default_factory=dict)  # cluster-wide server config
    force_remove: tuple[str, ...] = ()
    members: tuple[Member, ...] = ()
    cluster_groups: tuple[ClusterGroup, ...] = ()
    storage_pools: tuple[StoragePool, ...] = ()
    networks: tuple[Network, ...] = ()
    profiles: tuple[Profile, ...] = ()
    projects: tuple[Project, ...] = ()
    storage_volumes: tuple[StorageVolume, ...] = ()
    images: tuple[Image, ...] = ()
    instances: tuple[Instance, ...] = ()

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)
