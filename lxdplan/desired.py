"""The desired state: what the operator's file declares, after loading and validation.

What is not an object kind lives here: ``Desired`` itself, membership (``Member``, ``Trust``)
and secrets. Each kind's frozen dataclass lives in its module (``lxdplan.kinds.<kind>``).
Config values are LXD strings, a ``Secret`` (resolved only at apply time) or ``None`` (server
config only: "unset this key"). ``line`` is where an object starts in the file, for messages.
Fields left ``None`` were not declared and are left alone.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from lxdplan.errors import LxdplanError
from lxdplan.sections import same_sections

SENSITIVE = "(sensitive)"
# Every secret value resolved in this process: what the CLI's printing scrubs from any sentence
# (a server's error message may quote the value it refused).
_RESOLVED: set[str] = set()


def scrub(text: str) -> str:
    """``text`` with every secret value resolved so far replaced by ``(sensitive)``."""
    for value in sorted(_RESOLVED, key=len, reverse=True):
        text = text.replace(value, SENSITIVE)
    return text


@dataclass(frozen=True)
class Secret:
    """A value read from the environment or a file at apply time; never printed or saved."""

    source: str  # "env" | "file"
    ref: str  # variable name or file path
    # ``--rotate``: the live value cannot be compared with it, so a set key matches a secret;
    # a rotated secret does not match, and is written again.
    rotate: bool = False

    def resolve(self) -> str:
        value = self._read()
        if len(value) >= 6:  # shorter values would scrub ordinary words ("true", "yes")
            _RESOLVED.add(value)
        return value

    def _read(self) -> str:
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


def with_rotation(desired: "Desired", patterns: list[str]) -> tuple["Desired", list[str]]:
    """``desired`` with every secret under a config key matching one of ``patterns`` (shell
    patterns: ``loki.auth.password``, ``environment.*``) marked ``rotate``; and the patterns
    that matched no secret (``--rotate KEY``)."""
    import fnmatch

    hits: set[str] = set()

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, Secret):
            matched = [p for p in patterns if key is not None and fnmatch.fnmatchcase(key, p)]
            hits.update(matched)
            return dataclasses.replace(value, rotate=True) if matched else value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changed = {f.name: new for f in dataclasses.fields(value)
                       if (new := walk(getattr(value, f.name), None)) is not getattr(value, f.name)}
            return dataclasses.replace(value, **changed) if changed else value
        if isinstance(value, Mapping):
            out = {k: walk(v, str(k)) for k, v in value.items()}
            return out if any(out[k] is not value[k] for k in value) else value
        if isinstance(value, (list, tuple)):
            items = [walk(v, None) for v in value]
            return type(value)(items) if any(a is not b for a, b in zip(items, value)) else value
        return value

    return walk(desired, None), [p for p in patterns if p not in hits]


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


@dataclass(frozen=True, init=False)
class Desired:
    """The whole validated desired-state file.

    Membership and server config are fields of their own (they are the cluster itself, not
    objects of a collection: see ``lxdplan.planner.members``). The declared objects of every
    kind are in ``objects``, by the kind's ``section``, in file order, and read as attributes:
    ``desired.networks``. They are given as keywords too: ``Desired(path=..., networks=(...))``.

    This module knows no kind: the caller says which sections exist (``sections``, the
    registry's: ``lxdplan.registry.desired``); those not given are empty, and a section outside
    them is refused as a dataclass refuses an unknown field. Without ``sections`` the container
    holds the sections given; ``section()`` reads any section, absent ones as ``()``.
    """

    path: str
    version: int = 1
    backend: str | None = None  # "lxd" | "incus" | None (detect)
    config: Config = field(default_factory=dict)  # cluster-wide server config
    force_remove: tuple[str, ...] = ()
    members: tuple[Member, ...] = ()
    objects: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # section -> objects
    config_line: int = 0  # where cluster.config is, for messages about server config
    restore: tuple[str, ...] = ()  # the command line's --restore targets (one-off restores)

    def __init__(self, path: str, version: int = 1, backend: str | None = None,
                 config: Config | None = None, force_remove: tuple[str, ...] = (),
                 members: tuple[Member, ...] = (),
                 objects: Mapping[str, tuple[Any, ...]] | None = None,
                 config_line: int = 0, sections: Iterable[str] | None = None,
                 restore: tuple[str, ...] = (),
                 **given_sections: tuple[Any, ...]):
        given = {**(objects or {}), **given_sections}
        known = list(given) if sections is None else list(sections)
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise TypeError(f"Desired() got sections no object kind has: {', '.join(unknown)}")
        values = {"path": path, "version": version, "backend": backend,
                  "config": {} if config is None else config, "force_remove": tuple(force_remove),
                  "members": tuple(members),
                  "objects": {s: tuple(given.get(s, ())) for s in known},
                  "config_line": config_line, "restore": tuple(restore)}
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> tuple[Any, ...]:
        # Only called when ``name`` is not a field: a section of ``objects``.
        objects = self.__dict__.get("objects")
        if objects is not None and name in objects:
            return objects[name]
        raise AttributeError(f"Desired has no field or section {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Desired):
            return NotImplemented
        return same_sections(self, other)

    __hash__ = None  # type: ignore[assignment]  # it holds dicts

    def section(self, name: str) -> tuple[Any, ...]:
        """The declared objects of a section, ``()`` when it holds none."""
        return tuple(self.objects.get(name, ()))

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)
