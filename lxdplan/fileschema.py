"""The desired-state file's JSON Schema, assembled from the base and each kind's fragment.

``schema/base.schema.json`` holds what is not a kind: the top level (``version``, ``backend``),
``cluster`` (members and server config) and the shapes every kind shares (``name``,
``object_config``, ``secret``…). Each kind brings its section as a fragment named by its id
(``network_zone`` -> ``schema/kinds/network_zone.schema.json``): the schema of the section (a
list of entries), plus, under ``$defs``, the definitions it owns (the shape of its names, which
other kinds' fragments ``$ref`` to name its objects, and of its parts: ``acl_rule``). Every
``$ref`` points into the assembled document (``#/$defs/…``), so the published schema is one
self-contained file: ``lxdplan schema`` prints it and the loader validates with it. Nothing
here knows the kinds: the loader hands in the registry's sections and fragment files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
BASE = SCHEMA_DIR / "base.schema.json"
SUFFIX = ".schema.json"  # a kind's fragment: its id with this suffix
# The folders fragments are found in, first match wins: the package's, and any a caller adds
# (a test's kind defined outside the package, as ``lxdplan.kinds.__path__`` takes its module).
FRAGMENT_DIRS: list[Path] = [SCHEMA_DIR / "kinds"]


def fragment_file(kind: str) -> Path:
    """The fragment of the kind with id ``kind`` (where it would be when there is none)."""
    name = kind + SUFFIX
    return next((d / name for d in FRAGMENT_DIRS if (d / name).is_file()), FRAGMENT_DIRS[0] / name)


def read(path: Path) -> dict[str, Any]:
    """A schema file's JSON; a missing or broken one is a RuntimeError naming it (a defect of
    lxdplan, not of the user's file)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise RuntimeError(f"the schema file {path} cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise RuntimeError(f"the schema file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RuntimeError(f"the schema file {path} is not a JSON object")
    return data


def assemble(base: Mapping[str, Any], fragments: Iterable[tuple[str, Path, Mapping[str, Any]]]
             ) -> dict[str, Any]:
    """The published schema: ``base`` with each fragment ``(section, file, schema)`` as the
    property ``section`` and its ``$defs`` among the base's. A section or a ``$defs`` name
    given twice is a RuntimeError naming both files."""
    properties = dict(base.get("properties", {}))
    defs = dict(base.get("$defs", {}))
    owner = {name: BASE.name for name in (*properties, *defs)}
    for section, path, fragment in fragments:
        own = dict(fragment)
        for name, value in own.pop("$defs", {}).items():
            if name in defs:
                raise RuntimeError(f"$defs.{name} is defined by both {owner[name]} and {path.name}")
            defs[name], owner[name] = value, path.name
        if section in properties:
            raise RuntimeError(f"section {section} is defined by both {owner[section]} and {path.name}")
        properties[section], owner[section] = own, path.name
    return {**base, "properties": properties, "$defs": defs}


def refs(node: Any) -> set[str]:
    """The ``$defs`` names every ``$ref`` under ``node`` points to (``#/$defs/NAME``)."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref[len("#/$defs/"):])
        for value in node.values():
            found |= refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs(value)
    return found
