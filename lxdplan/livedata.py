"""What a kind reads live, as plain data: the GETs it asks for, the answers recorded for it, and
the pure helpers that turn LXD's JSON into observed values.

Both sides use it: a kind (``lxdplan.kinds``) declares its reads as ``Get``s and assembles its
observed objects from a ``Recorded``; the observer (``lxdplan.providers.observe``) sends the
``Get``s and records the answers. It lives outside both so that kinds stay pure (no import of
``lxdplan.providers``) and the providers need no kind's module to parse a member. No I/O here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping, Protocol
from urllib.parse import quote, unquote, urlsplit

from lxdplan import keys
from lxdplan.desired import Desired

# One recorded answer: its metadata and ETag.
Answer = tuple[Any, "str | None"]


@dataclass(frozen=True)
class AnswerShape:
    """What a kind's answers look like, as ``providers.shapes`` checks them where they enter:
    ``collections``, each listing it reads (a regex of the path after ``/1.0/``) with the field
    that names every listed object (``name``; a forward's ``listen_address``); ``fields``, the
    fields of its objects the shared table does not know, with their type (``"objects"``: a
    list of objects, ``"strings"``, ``"string"``, ``"flag"``, ``"number"``, ``"mapping"``)."""

    collections: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Get:
    """One read. ``member``: a member-specific read (``?target=<member>``), sent to that
    member's own endpoint when it answers, else forwarded by the reader, and not sent at all to
    a member that is offline or does not serve; None: asked of the reader, no target.
    ``required``: a failure fails the observation (a collection listing); otherwise a member
    that is down or an object that is gone is simply no answer (a busy database never is)."""

    path: str
    params: tuple[tuple[str, Any], ...] = ()
    member: str | None = None
    required: bool = field(default=False, compare=False)

    @classmethod
    def of(cls, path: str, params: Mapping[str, Any] | None = None, *, member: str | None = None,
           required: bool = False) -> "Get":
        return cls(path, tuple(sorted((params or {}).items())), member, required)

    @classmethod
    def listing(cls, path: str, params: Mapping[str, Any] | None = None) -> "Get":
        """A collection listing (``recursion=1`` unless ``params`` say otherwise): required."""
        return cls.of(path, {"recursion": 1, **(params or {})}, required=True)

    @classmethod
    def at(cls, where) -> "Get":
        """The single-object read of a ``kinds.base.Where`` (its ETag), on its member if any."""
        params = {k: v for k, v in where.params.items() if k != "target"}
        return cls.of(where.path, params, member=where.member)


class BackendFacts(Protocol):
    """What the read hooks may ask of the server (``providers.backend.Backend`` provides it)."""

    @property
    def name(self) -> str: ...

    @property
    def all_projects_profiles(self) -> bool: ...

    def has(self, extension: str) -> bool: ...


@dataclass(frozen=True)
class Reading:
    """What a kind's read hooks know besides the answers: the file, the detail (``lean``: only
    what the planner compares), the cluster's ``backend`` (``providers.backend.Backend``: read
    its facts, e.g. ``all_projects_profiles``), its members in the cluster's order, those
    nothing is asked of (``offline``), and the cluster-wide server config (``server_config``,
    cleaned: the ownership keys of kinds without config)."""

    desired: Desired
    backend: BackendFacts
    lean: bool = False
    members: tuple[str, ...] = ()
    offline: frozenset[str] = frozenset()
    server_config: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    """The answers the observer recorded, per kind section and read key. A read with no answer
    (its member is down, the object gone) is absent."""

    answers: dict[str, dict[Hashable, Answer]] = field(default_factory=dict)

    def of(self, section: str) -> dict[Hashable, Answer]:
        return self.answers.get(section, {})

    def answer(self, section: str, key: Hashable) -> Answer | None:
        return self.of(section).get(key)

    def metadata(self, section: str, key: Hashable, default: Any = None) -> Any:
        found = self.answer(section, key)
        return default if found is None or found[0] is None else found[0]

    def etag(self, section: str, key: Hashable) -> str | None:
        found = self.answer(section, key)
        return found[1] if found else None


def etag_reads(kind, reading: Reading) -> dict[Hashable, Get]:
    """At full detail, the single-object read of each declared object of ``kind`` (collection
    listings carry no ETags), keyed ``("etag", kind.ident(obj))``. At plan detail none: they are read
    after planning, for the objects a step updates (``providers.etags``)."""
    if reading.lean:
        return {}
    return {("etag", kind.ident(obj)): Get.at(kind.where_declared(obj))
            for obj in kind.declared(reading.desired)}


def project_items(recorded: Recorded, section: str):
    """``(project, item)`` of every object in a kind's listings: ``"listing"`` (the default
    project's, or every project's with ``all-projects``: an item names its own project) and
    ``("project", name)`` (one project's own collection)."""
    for key, (items, _etag) in recorded.of(section).items():
        if key == "listing":
            project = "default"
        elif isinstance(key, tuple) and key[0] == "project":
            project = key[1]
        else:
            continue
        for item in items or ():
            yield project, item


def projects_with(recorded: Recorded, feature: str) -> list[str]:
    """Projects other than ``default`` with their own ``features.<feature>`` (from the projects
    kind's listing): each has a collection of its own to list."""
    return [p["name"] for p in recorded.metadata("projects", "listing", [])
            if p["name"] != "default" and (p.get("config") or {}).get(f"features.{feature}") == "true"]


def segment(name: str) -> str:
    """``name`` as one segment of an API path: percent-quoted, "/" included, and "." and ".."
    as %2E (every HTTP client collapses a dot segment, so ``/1.0/profiles/..`` would be
    ``GET /1.0``; LXD's router reads %2E back as a dot)."""
    quoted = quote(name, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def names_of(urls: Any) -> list[str]:
    """Object names from a collection GET without recursion (a list of URLs)."""
    return [unquote(urlsplit(u).path.rsplit("/", 1)[-1]) for u in urls or () if isinstance(u, str)]


# -- cleaning LXD's JSON ----------------------------------------------------------------------


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


def marked(config: dict[str, str]) -> bool:
    """Whether a config carries lxdplan's ownership mark."""
    return config.get(keys.OWNER_KEY) == keys.OWNER_VALUE


def common_fields(item: dict[str, Any], project: str | None = None) -> dict[str, Any]:
    """The fields a project-scoped object's JSON gives every kind alike: name, description,
    config (cleaned), project (the listing's when LXD does not say), used_by and the ownership
    mark."""
    config = clean_config(item.get("config"))
    return {"name": item["name"], "description": item.get("description", ""), "config": config,
            "project": item.get("project") or project or "default", "used_by": used_by(item),
            "managed_by_lxdplan": marked(config)}


def listed_names(server_config: Mapping[str, str], key: str) -> frozenset[str]:
    """The names a server key lists (kinds with no config mark their objects so)."""
    raw = server_config.get(key, "")
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


def with_etag(obj: Any, etag: str | None) -> Any:
    """``obj`` (a frozen dataclass with ``etag``) with the ETag read for it, if any."""
    return dataclasses.replace(obj, etag=etag) if etag else obj
