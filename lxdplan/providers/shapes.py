"""The shape of every answer, checked where it enters: the one boundary between the cluster's JSON
and the parsers (``providers.parse``, ``livedata``, each kind's ``parse_*``), which then trust it.

A server (or anything between it and lxdplan) can answer ``metadata: "oops"`` for ``GET /1.0`` or
``roles: "database"`` for a member: unchecked, the first is a traceback and the second a tuple of
letters, i.e. a wrong plan. ``check`` walks the envelope and the metadata against a small table of
LXD's field types, the same for every object kind (a ``config`` is a map of scalars wherever it
appears, ``used_by`` a list of strings, …), and the path's expected form (a collection listing is a
list, an object a map). It raises ``Malformed`` with the place (``metadata[2].roles``) and what was
found; the client turns that into one sentence naming the member, the method and the path. Fields
the table does not know are not checked (LXD adds fields over time); absent fields are left to the
parsers' defaults, except the name that identifies each item of a listing. No I/O here.

Each kind declares its own collections and fields (``KindSpec.answer_shape``); they join the
table the first time an answer other than ``GET /1.0`` or an operation is checked, so commands
that read only those (``auth trust``) never load the kinds.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

from lxdplan.livedata import AnswerShape

Scalar = (str, bool, int, float, type(None))


class Malformed(Exception):
    """An answer of the wrong shape: ``where`` (e.g. ``metadata.config``) and what it is."""

    def __init__(self, where: str, problem: str):
        self.where, self.problem = where, problem
        super().__init__(f"{where} {problem}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _string(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise Malformed(where, f"is {_kind(value)}, expected a string")


def _flag(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise Malformed(where, f"is {_kind(value)}, expected true or false")


def _number(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(where, f"is {_kind(value)}, expected a whole number")


def _mapping(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise Malformed(where, f"is {_kind(value)}, expected an object")


def _scalars(value: Any, where: str) -> None:
    """A config map: string keys, scalar values (LXD says ``true`` for ``core.trust_password``)."""
    _mapping(value, where)
    for key, item in value.items():
        if not isinstance(item, Scalar):
            raise Malformed(f'{where}["{key}"]', f"is {_kind(item)}, expected a string")


def _devices(value: Any, where: str) -> None:
    _mapping(value, where)
    for key, item in value.items():
        _scalars(item, f'{where}["{key}"]')


def _strings(value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise Malformed(where, f"is {_kind(value)}, expected a list of strings")
    for i, item in enumerate(value):
        _string(item, f"{where}[{i}]")


def _objects(value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise Malformed(where, f"is {_kind(value)}, expected a list of objects")
    for i, item in enumerate(value):
        _mapping(item, f"{where}[{i}]")


Check = Callable[[Any, str], None]

# The fields lxdplan reads, with their type in every object that has them. A field that is null
# is taken as absent (LXD sends ``null`` for an empty list on some versions).
FIELDS: dict[str, Check] = {
    **dict.fromkeys(("name", "description", "status", "type", "location", "project", "driver",
                     "server_name", "url", "fingerprint", "message", "failure_domain", "auth",
                     "err", "class", "architecture"), _string),
    **dict.fromkeys(("database", "managed", "public", "auto_update", "ephemeral", "stateful"),
                    _flag),
    **dict.fromkeys(("status_code", "size"), _number),
    "config": _scalars,
    "devices": _devices,
    **dict.fromkeys(("roles", "groups", "used_by", "profiles", "locations", "api_extensions",
                     "members"), _strings),
    "aliases": _objects,
    **dict.fromkeys(("properties", "resources"), _mapping),
}
ENVIRONMENT: dict[str, Check] = {
    **dict.fromkeys(("certificate", "certificate_fingerprint", "server", "server_name",
                     "server_version"), _string),
    "server_clustered": _flag,
    "addresses": _strings,
}

# The type words a kind's ``AnswerShape.fields`` use.
WORDS: dict[str, Check] = {"string": _string, "flag": _flag, "number": _number, "mapping": _mapping,
                           "strings": _strings, "objects": _objects}

# Collections lxdplan lists (the membership's; each kind declares its own): their ``metadata`` is
# a list (URLs, or objects with ``recursion``), and each listed object names itself with this
# field.
MEMBERSHIP_COLLECTIONS = {"cluster/members": "server_name"}


def table(shapes: Iterable[AnswerShape]) -> tuple[list[tuple[re.Pattern[str], str]], dict[str, Check]]:
    """The collections (path pattern, identity field) and the field table, with the kinds'
    ``shapes``; a kind that gives a known field another type is a RuntimeError."""
    collections = dict(MEMBERSHIP_COLLECTIONS)
    fields = dict(FIELDS)
    for shape in shapes:
        collections.update(shape.collections)
        for name, word in shape.fields.items():
            check = WORDS[word]
            if fields.setdefault(name, check) is not check:
                raise RuntimeError(f"field {name} of LXD's answers is given two types ({word})")
    return [(re.compile(rf"^/1\.0/(?:{p})$"), ident) for p, ident in collections.items()], fields


@lru_cache(maxsize=1)
def _with_kinds() -> tuple[list[tuple[re.Pattern[str], str]], dict[str, Check]]:
    from lxdplan import registry  # downward; deferred so that auth and lab never load the kinds

    return table(k.answer_shape for k in registry.registry())


def listing_identity(path: str) -> str | None:
    """The field naming each object listed at ``path``; None when ``path`` is no collection
    lxdplan lists (the membership's or a kind's)."""
    return next((ident for pattern, ident in _with_kinds()[0] if pattern.match(path)), None)


def check_object(item: Any, where: str, *, identity: str | None = None,
                 fields: Mapping[str, Check] = FIELDS) -> None:
    """One LXD object: a map whose known fields have their types (``fields``)."""
    _mapping(item, where)
    if identity is not None and identity not in item:
        raise Malformed(where, f"has no {identity}")
    for key, value in item.items():
        if value is None or key not in fields:
            continue
        fields[key](value, f"{where}.{key}")
    env = item.get("environment")
    if env is not None:
        _mapping(env, f"{where}.environment")
        for key, value in env.items():
            if value is not None and key in ENVIRONMENT:
                ENVIRONMENT[key](value, f"{where}.environment.{key}")


def check_envelope(body: Any) -> None:
    """The envelope every answer comes in (sync, async or error)."""
    _mapping(body, "the answer")
    kind = body.get("type")
    if kind not in ("sync", "async", "error"):
        raise Malformed("type", f"is {kind!r}, expected sync, async or error")
    if kind == "async":
        _string(body.get("operation"), "operation")


def check_metadata(path: str, params: dict[str, Any] | None, metadata: Any) -> None:
    """The ``metadata`` of a successful ``GET path``: a listing for a collection, else an object
    (a wait answers the operation: an object whose own ``metadata`` is free-form)."""
    if path.startswith("/1.0/operations/"):
        _mapping(metadata, "metadata")
        check_object({k: v for k, v in metadata.items() if k != "metadata"}, "metadata")
        if metadata.get("metadata") is not None:
            _mapping(metadata["metadata"], "metadata.metadata")
        return
    if path == "/1.0":
        check_object(metadata, "metadata")
        return
    fields = _with_kinds()[1]
    identity = listing_identity(path)
    if identity is not None:
        if metadata is None:
            return
        recursive = str((params or {}).get("recursion", "0")) not in ("0", "")
        if not recursive:
            _strings(metadata, "metadata")
            return
        if not isinstance(metadata, list):
            raise Malformed("metadata", f"is {_kind(metadata)}, expected a list of objects")
        for i, item in enumerate(metadata):
            check_object(item, f"metadata[{i}]", identity=identity, fields=fields)
        return
    if metadata is not None:
        check_object(metadata, "metadata", fields=fields)
