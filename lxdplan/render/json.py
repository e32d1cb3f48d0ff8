"""The JSON form of a plan (``--format json``), validated by the schema ``lxdplan schema --plan``
prints (``lxdplan.render.planschema``)."""

from __future__ import annotations

import json
from typing import Any

from lxdplan.membership import EVACUATE, RESTORE
from lxdplan.plan import FORMAT_VERSION, Kind, Plan
from lxdplan.render.common import counts, jsonable, summary_line, views


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as one JSON-ready dict; secrets are ``"(sensitive)"``."""
    return {
        "format_version": FORMAT_VERSION,
        "backend": {"server": plan.backend, "version": plan.server_version},
        "changes": plan.changes,
        "summary": {**counts(plan), "other": _other(plan),
                    "blocked": sum(1 for s in plan.steps if s.blocked), "text": summary_line(plan)},
        "steps": [
            {
                "id": s.id,
                "action": s.action.value,
                "kind": s.kind.value,
                "name": s.name,
                "member": s.member,
                "depends_on": list(s.depends_on),
                "before": jsonable(views(s)[0]),
                "after": jsonable(views(s)[1]),
                "reason": s.reason,
                "blocked": s.blocked,
            }
            for s in plan.steps
        ],
        "unmanaged": [
            {"kind": u.kind.value, "name": u.name, "note": u.note} for u in plan.unmanaged
        ],
        "diagnostics": list(plan.diagnostics),
        "observed_digest": plan.observed_digest,
    }


def _other(plan: Plan) -> int:
    """Format 1.0's ``other``: evacuate and restore steps together. Each has had its own count
    since; ``other`` stays for the readers of format 1.x (a key is never taken away within it).
    A member's only: a snapshot's ``restore`` (``--restore``) is another action of that word."""
    return sum(1 for s in plan.steps if s.kind == Kind.MEMBER and s.action in (EVACUATE, RESTORE))


def render_json(plan: Plan) -> str:
    """One JSON document, indented, ending with a newline."""
    return json.dumps(plan_document(plan), indent=2, ensure_ascii=False) + "\n"
