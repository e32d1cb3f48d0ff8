"""``--restore TARGET`` without a server: the target resolved to a declared parent, the snapshot
checked (live, or taken earlier in the same plan), the one-off step after every other one and
counted, the request sent, and a saved plan carrying it to ``apply PLAN``."""

from __future__ import annotations

import dataclasses
import json

import pytest
from plan_helpers import cluster, desired

from lxdplan.errors import PlanError
from lxdplan.kinds.instance import IMAGE_KEY, Instance, ObservedInstance
from lxdplan.kinds.snapshot import RESTORE, SPEC, ObservedSnapshot, Restore, Snapshot
from lxdplan.kinds.storage_volume import StorageVolume
from lxdplan.livedata import Reading, Recorded
from lxdplan.plan import Action, Kind
from lxdplan.planner import plan
from lxdplan.render.common import summary_line
from lxdplan.render.text import render_text

SNAP = Kind("snapshot")
MARK = {"user.lxdplan.managed": "true", IMAGE_KEY: "busybox"}


def inst(name="web1", project="default", snaps=()) -> Instance:
    return Instance(name=name, image="busybox", project=project, snapshots=tuple(snaps), line=7)


def live_inst(name="web1", project="default", status="Running", **kw) -> ObservedInstance:
    return ObservedInstance(name=name, project=project, status=status, location="n1",
                            config=dict(MARK, **kw.pop("config", {})), managed_by_lxdplan=True, **kw)


def planned(restore, instances=(inst(),), lives=(live_inst(),), snaps=(), volumes=()):
    d = dataclasses.replace(desired(instances=tuple(instances), storage_volumes=tuple(volumes)),
                            restore=tuple(restore))
    o = cluster(instances={f"{i.project}/{i.name}": i for i in lives},
                snapshots={SPEC.live_key(SPEC.ident(s)): s for s in snaps})
    return plan(d, o)


def restores(p):
    return [s for s in p.steps if s.action == RESTORE]


def test_a_restore_is_planned_only_when_asked_after_every_other_step_and_counted():
    snaps = [ObservedSnapshot("before", "web1")]
    drifted = live_inst(config={"limits.cpu": "4"})
    assert [s for s in planned([], lives=[drifted], snaps=snaps).steps if s.kind == SNAP] == []
    p = planned(["web1/before"], lives=[drifted], snaps=snaps)
    *others, last = p.steps
    assert others and (last.action, last.kind, last.name) == (RESTORE, SNAP, "web1/before")
    assert set(last.depends_on) == {s.id for s in others}
    assert last.payload == Restore("web1", "before", target="web1/before")
    assert "restore instance web1 to snapshot before (--restore web1/before)" in last.reason
    assert summary_line(p) == "Plan: 0 to add, 1 to change, 0 to destroy, 1 snapshot to restore."
    assert '± 2. restore snapshot "web1/before"' in render_text(p)


def test_the_json_plan_counts_it_on_its_own_not_as_a_member_restore():
    import jsonschema

    from lxdplan.render.json import plan_document
    from lxdplan.render.planschema import plan_schema

    p = planned(["web1/before"], snaps=[ObservedSnapshot("before", "web1")])
    document = plan_document(p)
    jsonschema.Draft202012Validator(plan_schema()).validate(document)  # `lxdplan schema --plan`
    summary = document["summary"]
    assert (summary["restore_snapshot"], summary["restore"], summary["other"]) == (1, 0, 0)


def test_the_plan_says_a_running_container_is_stopped_and_started_again():
    p = planned(["web1/before"], lives=[live_inst(status="Running")],
                snaps=[ObservedSnapshot("before", "web1")])
    (step,) = restores(p)
    assert "it is running: the server stops it, restores it and starts it again" in step.reason
    p = planned(["web1/before"], lives=[live_inst(status="Stopped")],
                snaps=[ObservedSnapshot("before", "web1")])
    assert "running" not in restores(p)[0].reason


def test_a_snapshot_declared_and_taken_this_run_is_restored_after_it():
    p = planned(["web1/new"], instances=[inst(snaps=[Snapshot("new", "web1", line=9)])])
    create = next(s for s in p.steps if s.kind == SNAP and s.action == Action.CREATE)
    restore = p.steps[-1]
    assert restore.action == RESTORE and create.id in restore.depends_on


def test_a_restore_of_an_undeclared_parent_or_a_missing_snapshot_is_one_sentence():
    with pytest.raises(PlanError, match="^--restore db1/before: the file declares no instance "
                                        "or custom volume db1$"):
        planned(["db1/before"])
    with pytest.raises(PlanError, match=r"^--restore web1/gone: instance web1 has no snapshot "
                                        r"gone \(it has a, b\), and the file does not declare "
                                        r"one to take first$"):
        planned(["web1/gone"], snaps=[ObservedSnapshot("b", "web1"), ObservedSnapshot("a", "web1")])
    with pytest.raises(PlanError, match="^--restore web1: name INSTANCE/SNAPSHOT"):
        planned(["web1"])


def test_a_name_in_two_projects_needs_its_project():
    both = [inst(), inst(project="staging")]
    lives = [live_inst(), live_inst(project="staging")]
    snaps = [ObservedSnapshot("s", "web1"), ObservedSnapshot("s", "web1", project="staging")]
    with pytest.raises(PlanError, match=r"--restore web1/s names more than one: instance "
                                        r"staging/web1, instance web1; add the project"):
        planned(["web1/s"], both, lives, snaps)
    (step,) = restores(planned(["staging/web1/s"], both, lives, snaps))
    assert step.payload == Restore("web1", "s", "staging", target="staging/web1/s")
    assert step.name == "staging/web1/s"


def test_a_volume_restore_is_sent_to_its_member():
    vol = StorageVolume(pool="data", name="vol", member="n2")
    p = planned(["data/vol/v1"], volumes=[vol],
                snaps=[ObservedSnapshot("v1", "vol", pool="data", member="n2")])
    (step,) = restores(p)
    assert (step.name, step.member) == ("data/vol/v1", "n2")
    assert "refused while an instance using the volume runs" in step.reason


def test_a_restored_parent_is_read_though_it_declares_no_snapshot():
    d = dataclasses.replace(desired(instances=(inst(),)), restore=("web1/s",))
    reading = Reading(desired=d, backend=None, members=("n1",))  # type: ignore[arg-type]
    listing = [{"name": "web1", "project": "default", "location": "n1", "config": {}}]
    reads = SPEC.reads(reading, Recorded({"instances": {"listing": (listing, None)}}))
    assert [(g.path, g.member) for g in reads.values()] == [("/1.0/instances/web1/snapshots", "n1")]


class FakeClient:
    """Records the requests; the parent's config as LXD has it before and after the restore
    (an instance gets the snapshot's config back, its mark as the snapshot had it)."""

    def __init__(self):
        self.sent: list = []
        self.config = {"user.lxdplan.snapshots": "before,later"}

    def get(self, path, params=None):
        return type("R", (), {"metadata": {"config": dict(self.config)}})()

    def put(self, path, body, params=None):
        self.sent.append(("PUT", path, body, params))
        self.config = {"user.lxdplan.snapshots": "before"}

    def patch(self, path, body, params=None):
        self.sent.append(("PATCH", path, body, params))
        self.config.update(body["config"])


def test_the_restore_request_and_the_mark_written_back():
    from lxdplan.providers.actions.snapshots import HANDLERS

    client = FakeClient()
    session = type("S", (), {"cluster": lambda self: client})()
    (step,) = restores(planned(["staging/web1/before"], [inst(project="staging")],
                               [live_inst(project="staging")],
                               [ObservedSnapshot("before", "web1", project="staging")]))
    assert HANDLERS[RESTORE](session, step) is True
    assert client.sent == [
        ("PUT", "/1.0/instances/web1", {"restore": "before"}, {"project": "staging"}),
        ("PATCH", "/1.0/instances/web1", {"config": {"user.lxdplan.snapshots": "before,later"}},
         {"project": "staging"})]


def test_a_saved_plan_carries_the_restore_to_apply(tmp_path, monkeypatch):
    """``plan --restore X --out p`` then ``apply p``: the plan file's restore step is read
    back typed, and apply plans with its target again (so the reviewed step runs)."""
    from typer.testing import CliRunner

    import lxdplan.workflow as workflow
    from lxdplan.cli.app import app
    from lxdplan.state.observed import Observed
    from lxdplan.state.saved import load_plan, save_plan

    file = tmp_path / "lxdplan.yaml"
    file.write_text("version: 1\ncluster:\n  members:\n    - name: node1\n"
                    "      address: 192.0.2.1:8443\ninstances:\n  - {name: web1, image: busybox}\n")
    p = planned(["web1/before"], snaps=[ObservedSnapshot("before", "web1")])
    saved = tmp_path / "p.plan"
    save_plan(p, Observed(clustered=True), file, saved)
    assert json.loads(saved.read_text())["steps"][-1]["payload"]["target"] == "web1/before"
    assert load_plan(saved).plan.steps == p.steps
    seen = []

    def run_apply(desired_, *, on_plan, **_kw):
        seen.append(desired_.restore)
        return workflow.ApplyResult(p)

    monkeypatch.setattr(workflow, "run_apply", run_apply)
    result = CliRunner().invoke(app, ["apply", str(saved)], input="")
    assert seen == [("web1/before",)], result.output
