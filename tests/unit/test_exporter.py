"""export: the observed cluster written as a file plans empty against the same cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lxdplan.exporter import export_document
from lxdplan.loader import load_text
from lxdplan.planner import plan
from lxdplan.state.observed import Observed

CASES = Path(__file__).parent.parent / "cases"


@pytest.mark.parametrize("case", ["no_change", "drift", "unmanaged"])
def test_export_round_trip_plans_no_steps(case):
    observed = Observed.from_dict(json.loads((CASES / case / "observed.json").read_text()))
    text = yaml.safe_dump(export_document(observed), sort_keys=False)
    desired, _warnings = load_text(text, f"{case}-export.yaml")
    result = plan(desired, observed)
    assert result.steps == (), [s.id for s in result.steps]
    assert result.unmanaged == ()


def test_export_puts_member_specific_keys_under_members_and_drops_lxdplan_keys():
    observed = Observed.from_dict(json.loads((CASES / "no_change" / "observed.json").read_text()))
    doc = export_document(observed)
    for pool in doc.get("storage_pools", []):
        assert "source" not in pool.get("config", {})
    for section in ("storage_pools", "networks", "profiles", "projects"):
        for obj in doc.get(section, []):
            assert not any(k.startswith("user.lxdplan.") for k in obj.get("config", {}))
    assert "core.trust_password" not in doc["cluster"].get("config", {})
