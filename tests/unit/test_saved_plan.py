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


def _apply_with_confirm(tmp_path, monkeypatch, args_of):
    """Run `lxdplan apply` (no terminal) with run_apply replaced by one that asks ``confirm``
    once per plan it is given; return the CLI result and the answers."""
    from typer.testing import CliRunner

    import lxdplan.workflow as workflow
    from lxdplan.cli.app import app

    desired = tmp_path / "lxdplan.yaml"
    desired.write_text("version: 1\ncluster:\n  members:\n    - name: node1\n"
                       "      address: 192.0.2.1:8443\n")
    step = Step("server/config/update", Action.UPDATE, Kind.SERVER, "config",
                after={"config": {"images.auto_update_interval": "6"}},
                payload=ServerUpdate(config={"images.auto_update_interval": "6"}))
    plan = Plan("lxd", "5.0.2", steps=(step,))
    saved = tmp_path / "my.plan"
    save_plan(plan, Observed(clustered=True), desired, saved)
    answers = []

    def run_apply(desired_, *, confirm, on_plan, **_kw):
        on_plan(plan)
        answers.append(confirm(plan))
        return workflow.ApplyResult(plan)

    monkeypatch.setattr(workflow, "run_apply", run_apply)
    result = CliRunner().invoke(app, args_of(str(desired), str(saved)), input="")
    return result, answers


def test_apply_of_a_saved_plan_runs_it_without_asking(tmp_path, monkeypatch):
    """A saved plan was reviewed when it was made (and apply refuses it once stale): applying it
    asks nothing, as Terraform does, even with no terminal to ask on. Applying the file still
    asks, and its hint offers the saved plan."""
    result, answers = _apply_with_confirm(tmp_path, monkeypatch, lambda f, p: ["apply", p])
    assert answers == [True], result.output
    assert "no terminal" not in result.output
    result, answers = _apply_with_confirm(tmp_path, monkeypatch, lambda f, p: ["apply", "-f", f])
    assert result.exit_code == 1 and answers == []
    assert "no terminal to ask on: save the plan with `lxdplan plan --out PLAN`" in result.output


def test_a_saved_plan_asks_again_for_steps_it_did_not_have():
    """After a declared trust is redeemed apply plans again; steps new to the saved plan are
    confirmed as usual (here: refused, there is no terminal)."""
    from lxdplan.cli.apply import confirm_on_terminal

    confirm = confirm_on_terminal(False, reviewed=True)
    assert confirm(None) is True
    with pytest.raises(LxdplanError, match="no terminal"):
        confirm(None)
