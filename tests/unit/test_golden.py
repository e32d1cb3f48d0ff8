"""Golden plans: ``tests/cases/<name>/`` holds desired.yaml, observed.json (``Observed.to_dict``
form; fields left out take their defaults) and the expected ``plan.txt`` and ``plan.json`` — or
``error.txt`` when the planner must refuse. An optional ``args.json`` gives ``force_remove``.

Regenerate with ``LXDPLAN_UPDATE_GOLDEN=1 python3 -m pytest tests/unit/test_golden.py``, then read
every changed line before keeping it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from lxdplan.errors import PlanError
from lxdplan.loader import load_text
from lxdplan.planner import plan
from lxdplan.render import render_json, render_text
from lxdplan.state.observed import Observed

CASES = Path(__file__).resolve().parent.parent / "cases"
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "lxdplan/schema/plan.schema.json").read_text()
)
UPDATE = os.environ.get("LXDPLAN_UPDATE_GOLDEN") == "1"


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with LXDPLAN_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_golden(case: str) -> None:
    folder = CASES / case
    desired, _warnings = load_text((folder / "desired.yaml").read_text(), "desired.yaml")
    observed = Observed.from_dict(json.loads((folder / "observed.json").read_text()))
    args = json.loads((folder / "args.json").read_text()) if (folder / "args.json").exists() else {}
    if (folder / "error.txt").exists():
        with pytest.raises(PlanError) as err:
            plan(desired, observed, **args)
        _check(folder / "error.txt", f"{err.value}\n")
        return
    result = plan(desired, observed, **args)
    _check(folder / "plan.txt", render_text(result, colour=False))
    document = render_json(result)
    _check(folder / "plan.json", document)
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(document))
    again = plan(desired, observed, **args)
    assert again == result, "the planner must be deterministic"
