"""export: the observed cluster written as a file plans empty against the same cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import cases
from lxdplan.exporter import export_document
from lxdplan.loader import load_text
from lxdplan.planner import plan
from lxdplan.state.observed import Observed



@pytest.mark.parametrize("case", ["no_change", "drift", "unmanaged"])
def test_export_round_trip_plans_no_steps(case):
    observed = cases.observed(case)
    text = yaml.safe_dump(export_document(observed), sort_keys=False)
    desired, _warnings = load_text(text, f"{case}-export.yaml")
    result = plan(desired, observed)
    assert result.steps == (), [s.id for s in result.steps]
    assert result.unmanaged == ()


def test_export_puts_member_specific_keys_under_members_and_drops_lxdplan_keys():
    observed = cases.observed("no_change")
    doc = export_document(observed)
    for pool in doc.get("storage_pools", []):
        assert "source" not in pool.get("config", {})
    for section in ("storage_pools", "networks", "profiles", "projects"):
        for obj in doc.get(section, []):
            assert not any(k.startswith("user.lxdplan.") for k in obj.get("config", {}))
    assert "core.trust_password" not in doc["cluster"].get("config", {})
