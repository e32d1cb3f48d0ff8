"""Saved plans keep secrets as references and refuse files that are not saved plans."""

from __future__ import annotations

import hashlib
import json

import pytest

from lxdplan.desired import Secret
from lxdplan.errors import LxdplanError
from lxdplan.payloads import ServerUpdate
from lxdplan.plan import Action, Kind, Plan, Step, Unmanaged
from lxdplan.state.observed import Observed
from lxdplan.state.saved import load_plan, save_plan


def test_round_trip_keeps_steps_and_stores_secret_references_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PW_D", "hunter2-value")
    desired = tmp_path / "lxdplan.yaml"
    desired.write_text("version: 1\n")
    step = Step("server/config/update", Action.UPDATE, Kind.SERVER, "config",
                depends_on=("member/n1/bootstrap",),
                after={"config": {"core.trust_password": Secret("env", "PW_D")}},
                etag="E1", payload=ServerUpdate(config={"core.trust_password": Secret("env", "PW_D"),
                                            "images.x": None}))
    plan = Plan("lxd", "5.0.2", steps=(step,),
                unmanaged=(Unmanaged(Kind.NETWORK, "lxdbr9"),), diagnostics=("d",))
    observed = Observed(clustered=True, config={"a": "b"})
    target = tmp_path / "plan.json"
    save_plan(plan, observed, desired, target)
    raw = target.read_text()
    assert "hunter2-value" not in raw
    assert json.loads(raw)["steps"][0]["payload"]["config"]["core.trust_password"] == {
        "$secret": {"env": "PW_D"}}
    saved = load_plan(target)
    assert saved.plan.steps == (step,)
    assert saved.plan.unmanaged == plan.unmanaged and saved.plan.diagnostics == ("d",)
    assert saved.observed_digest == observed.digest()
    assert saved.desired_path == str(desired)
    assert saved.desired_sha256 == hashlib.sha256(b"version: 1\n").hexdigest()


def test_a_file_that_is_not_a_saved_plan_is_refused(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(LxdplanError, match="is not a saved lxdplan plan"):
        load_plan(bad)
    bad.write_text("not json")
    with pytest.raises(LxdplanError, match="not JSON"):
        load_plan(bad)
    bad.write_text(json.dumps({"format": "lxdplan-saved-plan", "format_version": 1}))
    with pytest.raises(LxdplanError, match="damaged"):
        load_plan(bad)
