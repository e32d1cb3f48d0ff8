"""The JSON Schema of which keys are member-specific, generated from ``lxdplan.keys``.

``validate`` refuses a member-specific key in a cluster-wide ``config`` and a cluster-wide key
under ``members:`` (pools and networks) or a member's ``config`` (server keys). Editors read the
published schema, so it says the same: these ``$defs`` are built here from the tables of
``lxdplan.keys`` (the one source) and the loader puts them into the schema it assembles
(``lxdplan.fileschema``), which it validates with and ``lxdplan schema`` prints; no schema file
in the repository holds a copy (``tests/unit/test_keyschema.py``).

Every rule here is a ``propertyNames`` constraint; the loader leaves their errors to the
validator, which says the same in its own words (naming the right place).
"""

from __future__ import annotations

from typing import Any

from lxdplan import keys

# The $defs this module adds to the published schema (no schema file defines them).
DEF_NAMES = ("pool_member_keys", "network_member_keys", "server_member_local_keys")
KEYWORD = "propertyNames"  # used by these defs alone in the published schema


def _split(member_keys: frozenset[str], what: str) -> dict[str, Any]:
    """``config`` may not hold ``member_keys``; each member's map may hold only them."""
    names = sorted(member_keys)
    config: dict[str, Any] = {"description": f"Cluster-wide keys only: not {', '.join(names)} "
                                             f"(member-specific for {what})."} if names else {
        "description": f"Cluster-wide keys only ({what} have no member-specific keys)."}
    if names:
        config[KEYWORD] = {"not": {"enum": names}}
    members = {
        "description": (f"Member-specific keys of {what} only: {', '.join(names)}." if names
                        else f"{what.capitalize()} have no member-specific keys."),
        "additionalProperties": {KEYWORD: {"enum": names} if names else False},
    }
    return {"properties": {"config": config, "members": members}}


def _by_type(field: str, table: dict[str, frozenset[str]], union: frozenset[str], plural: str,
             default: str | None = None) -> dict[str, Any]:
    """One ``if``/``then`` per driver or type; the union of keys for one not in the table (as
    ``keys.pool_member_keys``/``network_member_keys`` do)."""
    rules = []
    for type_, member_keys in table.items():
        cond: dict[str, Any] = {"properties": {field: {"const": type_}}}
        if type_ != default:  # the default type also applies when the field is left out
            cond["required"] = [field]
        rules.append({"if": cond, "then": _split(member_keys, f"{type_} {plural}")})
    known: dict[str, Any] = {"properties": {field: {"enum": list(table)}}}
    if default is None:
        known["required"] = [field]
    rules.append({"if": known, "else": _split(union, f"{plural} of other kinds")})
    return {"description": f"Generated from lxdplan/keys.py: which {plural}' keys are "
                           f"member-specific.", "allOf": rules}


def _server(local: frozenset[str], what: str) -> dict[str, Any]:
    names = sorted(local)
    return {"properties": {"cluster": {"description": f"Member-local server keys ({what}).", "properties": {
        "config": {"description": f"Cluster-wide server keys only: not the member-local "
                                  f"{', '.join(names)} ({what}).",
                   KEYWORD: {"not": {"enum": names}}},
        "members": {"description": "Each member's config: member-local keys only.",
                    "items": {"properties": {"config": {
            "description": f"Member-local server keys only: {', '.join(names)} ({what}).",
            KEYWORD: {"enum": names}}}}},
    }}}}


def _server_keys() -> dict[str, Any]:
    table = keys.SERVER_MEMBER_LOCAL_KEYS
    rules: list[dict[str, Any]] = [
        {"if": {"properties": {"backend": {"const": b}}, "required": ["backend"]},
         "then": _server(local, b)} for b, local in table.items()]
    rules.append({"if": {"properties": {"backend": {"enum": list(table)}}, "required": ["backend"]},
                  "else": _server(keys.SERVER_MEMBER_LOCAL_KEYS_ANY, "any backend")})
    return {"description": "Generated from lxdplan/keys.py: which server keys are member-local.",
            "allOf": rules}


def defs() -> dict[str, dict[str, Any]]:
    """The generated ``$defs``, by name."""
    return {
        "pool_member_keys": _by_type("driver", keys.POOL_MEMBER_KEYS_BY_DRIVER, keys.POOL_MEMBER_KEYS,
                                     "pools"),
        "network_member_keys": _by_type("type", keys.NETWORK_MEMBER_KEYS_BY_TYPE,
                                        keys.NETWORK_MEMBER_KEYS, "networks", default="bridge"),
        "server_member_local_keys": _server_keys(),
    }


def apply(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its generated ``$defs`` replaced by the ones from the tables."""
    return {**schema, "$defs": {**schema.get("$defs", {}), **defs()}}


def is_generated_rule(error) -> bool:
    """Whether a ``jsonschema`` error comes from one of these rules."""
    return KEYWORD in error.absolute_schema_path
