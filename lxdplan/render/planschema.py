"""The JSON Schema of ``plan --format json``, as ``lxdplan schema --plan`` prints it.

``lxdplan/schema/plan.schema.json`` is the base: the document's shape, with the open parts
left open (a kind is an id, an action a word, the summary's counts any count). This module
fills them from the kinds' declarations (``lxdplan.registry``): the kind ids, every action
each kind declares (a step of an action its kind does not declare fails), and the summary's
counts (``registry.tallies``), each required. Generated on each call, never written to git: a
new kind or action is in the schema with no edit elsewhere.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

from lxdplan.registry import actions, tallies


def base() -> dict[str, Any]:
    """The published base (``lxdplan/schema/plan.schema.json``)."""
    text = resources.files("lxdplan").joinpath("schema/plan.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def plan_schema() -> dict[str, Any]:
    """The full schema: the base with the kinds, their actions and the summary's counts."""
    schema = copy.deepcopy(base())
    table = actions()
    defs = schema["$defs"]
    defs["kind"] = {"description": defs["kind"]["description"], "enum": [str(k) for k in table]}
    every = list(dict.fromkeys(str(a) for specs in table.values() for a in specs))
    defs["action"] = {"description": defs["action"]["description"], "enum": every}
    defs["step"]["allOf"] = [
        {"if": {"properties": {"kind": {"const": str(kind)}}, "required": ["kind"]},
         "then": {"properties": {"action": {
             "description": "; ".join(f"{a}: {s.doc}" for a, s in specs.items()),
             "enum": [str(a) for a in specs]}}}}
        for kind, specs in table.items()
    ]
    summary = schema["properties"]["summary"]
    fixed = summary["properties"]
    counted = {key: {"description": fixed[key]["description"] if key in fixed else tally.doc,
                     "$ref": "#/$defs/count"} for key, tally in tallies().items()}
    summary["properties"] = {**counted, "other": fixed["other"], "blocked": fixed["blocked"],
                             "text": fixed["text"]}
    summary["required"] = list(summary["properties"])
    summary["additionalProperties"] = False
    return schema


def render_plan_schema() -> str:
    """``plan_schema()`` as ``lxdplan schema --plan`` prints it."""
    return json.dumps(plan_schema(), indent=2, ensure_ascii=False)
