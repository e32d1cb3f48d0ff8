"""Saved plans (``lxdplan plan --out PLAN``, ``lxdplan apply PLAN``).

A saved plan is one JSON file holding every step with its payload and ETag, the digest of the
observed state it was made from and the path and sha256 of the desired-state file, so ``apply``
can refuse it when the cluster or the file moved on. Secrets are stored only as references,
``{"$secret": {"env": NAME}}`` or ``{"$secret": {"file": PATH}}``, and resolved again at apply.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxdplan.desired import Secret, map_values
from lxdplan.errors import LxdplanError
from lxdplan.files import write_private
from lxdplan.plan import Action, Kind, Plan, Step, Unmanaged
from lxdplan.registry import payload_type
from lxdplan.sensitive import masked_views
from lxdplan.state.observed import Observed

SAVED_FORMAT = "lxdplan-saved-plan"
SAVED_VERSION = 1
_SECRET_TAG = "$secret"


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from disk, with what it was made from."""

    plan: Plan
    desired_path: str
    desired_sha256: str
    observed_digest: str
    format_version: int = SAVED_VERSION
    rotate: tuple[str, ...] = ()  # the plan's --rotate keys, applied again with it


def file_sha256(path: str | os.PathLike) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise LxdplanError(f"{path} cannot be read: {exc.strerror}") from None


def _encode(value: Any) -> Any:
    def leaf(v: Any) -> Any:
        if not isinstance(v, Secret):
            return v
        return {_SECRET_TAG: v.as_reference(), **({"rotate": True} if v.rotate else {})}

    return map_values(value, leaf)


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if _SECRET_TAG in value and set(value) <= {_SECRET_TAG, "rotate"}:
            ((source, ref),) = value[_SECRET_TAG].items()
            return Secret(source, ref, rotate=value.get("rotate") is True)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _step_dict(step: Step) -> dict[str, Any]:
    # before/after are for display: stored as shown (sensitive values "(sensitive)"); the
    # payload keeps what apply sends, secrets as references.
    before, after = masked_views(step.before, step.after)
    return {
        "id": step.id, "action": step.action.value, "kind": step.kind.value, "name": step.name,
        "member": step.member, "depends_on": list(step.depends_on),
        "before": _encode(before), "after": _encode(after), "reason": step.reason,
        "blocked": step.blocked, "etag": step.etag, "payload": _encode(step.payload),
        **({"notes": step.notes} if step.notes else {}),
    }


def _step(data: dict[str, Any]) -> Step:
    action, kind = Action(data["action"]), Kind.known(data["kind"])
    return Step(
        id=data["id"], action=action, kind=kind, name=data["name"],
        member=data["member"], depends_on=tuple(data["depends_on"]),
        before=_decode(data["before"]), after=_decode(data["after"]), reason=data["reason"],
        blocked=data["blocked"], etag=data["etag"],
        payload=payload_type(kind, action)(**_decode(data["payload"])),
        notes=data.get("notes") or None,
    )


def save_plan(plan: Plan, observed: Observed, desired_path: str | os.PathLike,
              path: str | os.PathLike, *, rotate: list[str] | tuple[str, ...] = ()) -> None:
    """Write ``plan`` to ``path`` (mode 0600, atomically), recording the observed digest and the desired
    file's path and sha256."""
    document = {
        "format": SAVED_FORMAT,
        "format_version": SAVED_VERSION,
        "backend": plan.backend,
        "server_version": plan.server_version,
        "desired": {"path": str(desired_path), "sha256": file_sha256(desired_path)},
        "observed_digest": observed.digest(),
        "steps": [_step_dict(s) for s in plan.steps],
        "unmanaged": [{"kind": u.kind.value, "name": u.name, "note": u.note}
                      for u in plan.unmanaged],
        "diagnostics": list(plan.diagnostics),
        "rotate": list(rotate),
    }
    write_private(path, json.dumps(document, indent=2) + "\n", what="the saved plan")


def load_plan(path: str | os.PathLike) -> SavedPlan:
    """Read a saved plan; a file that is not one is an ``LxdplanError`` naming it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LxdplanError(f"the saved plan {path} cannot be read: {exc.strerror}") from None
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested beyond reason
        raise LxdplanError(f"{path} is not a saved lxdplan plan (not JSON)") from None
    if not isinstance(document, dict) or document.get("format") != SAVED_FORMAT:
        raise LxdplanError(f"{path} is not a saved lxdplan plan")
    if document.get("format_version") != SAVED_VERSION:
        raise LxdplanError(
            f"{path} is a saved plan of format version {document.get('format_version')}; this "
            f"lxdplan reads version {SAVED_VERSION}: make the plan again"
        )
    try:
        plan = Plan(
            backend=document["backend"],
            server_version=document["server_version"],
            steps=tuple(_step(s) for s in document["steps"]),
            unmanaged=tuple(Unmanaged(Kind.known(u["kind"]), u["name"], u["note"])
                            for u in document["unmanaged"]),
            diagnostics=tuple(document["diagnostics"]),
            observed_digest=document["observed_digest"],
        )
        return SavedPlan(
            plan=plan,
            desired_path=document["desired"]["path"],
            desired_sha256=document["desired"]["sha256"],
            observed_digest=document["observed_digest"],
            rotate=tuple(str(k) for k in document.get("rotate", [])),
        )
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
        raise LxdplanError(f"the saved plan {path} is damaged; make the plan again") from None
