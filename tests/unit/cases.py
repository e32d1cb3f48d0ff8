"""The golden cases of ``tests/cases/<name>/``: how a case is read.

``observed.json`` is a JSON Merge Patch (RFC 7396) on the shared ``tests/cases/observed.base.json``
(a formed three-member LXD 5.0.2 cluster with a pool, a bridge and the default objects, in
``Observed.to_dict`` form): a map merges key by key, ``null`` removes a key, anything else
replaces. So a case's file holds only what makes the case. ``desired.yaml`` starts with a comment
saying what the case shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lxdplan.registry import observed_from_dict
from lxdplan.desired import Desired
from lxdplan.loader import load_text
from lxdplan.state.observed import Observed

CASES = Path(__file__).resolve().parent.parent / "cases"
BASE = CASES / "observed.base.json"


def merge(base: Any, patch: Any) -> Any:
    """``base`` with the merge patch ``patch`` applied (RFC 7396)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def observed_data(name: str) -> dict[str, Any]:
    """The case's observed state as ``Observed.to_dict`` data: the base with its patch."""
    patch = json.loads((CASES / name / "observed.json").read_text())
    return merge(json.loads(BASE.read_text()), patch)


def observed(name: str) -> Observed:
    return observed_from_dict(observed_data(name))


def desired(name: str) -> Desired:
    desired_, _warnings = load_text((CASES / name / "desired.yaml").read_text(), "desired.yaml")
    return desired_


def names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())
