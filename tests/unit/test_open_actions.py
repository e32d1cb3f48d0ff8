"""Open actions (issue 18 item 3): a kind declares its actions (``lxdplan.actionspec``) and the
summary, renderers, progress, executor lanes and the plan's JSON Schema take them from the
registry. A kind defined here, with an action of its own, needs no edit anywhere else."""

from __future__ import annotations

import json

import jsonschema
import pytest
from kindkit import StubKind

from lxdplan import membership, registry
from lxdplan.actionspec import ActionSpec, Lane
from lxdplan.cli.progress import describe_action, still
from lxdplan.executor import _lane
from lxdplan.kinds.placement import MOVE
from lxdplan.plan import Action, Kind, Payload, Plan, Step
from lxdplan.planner.order import StepList
from lxdplan.render import plan_document, render_markdown, render_text
from lxdplan.render.common import summary_line
from lxdplan.render.planschema import plan_schema

REBUILD = Action("rebuild")


class GadgetSpec(StubKind):
    """A test kind: creates, deletes, and rebuilds of its own, several per member at once."""

    kind = Kind("test_gadget")  # defined by the fixture
    section = "test_gadgets"
    rank = delete_rank = list_rank = load_rank = 991
    payloads = {Action.CREATE: Payload, Action.DELETE: Payload, REBUILD: Payload}
    action_specs = (ActionSpec(REBUILD, "rebuilding", "rebuild a gadget from its image",
                               count="rebuild", words="to rebuild", lane=Lane.MEMBER),)


@pytest.fixture
def gadget(monkeypatch):
    """The test kind in the registry's list, as its line in ``SPECS`` would put it; removed after."""
    Kind.define("test_gadget", "test gadget")
    spec = GadgetSpec()
    monkeypatch.setattr(registry, "SPECS", registry.SPECS + (spec,))
    try:
        yield spec
    finally:
        Kind._nouns.pop("test_gadget", None)


def _step(action: Action, name: str, member: str | None = None) -> Step:
    steps = StepList()
    sid = steps.add(action, Kind("test_gadget"), name, member=member, reason=f"{name} is stale")
    (step,) = [s for s in steps.all() if s.id == sid]
    return step


def test_a_kind_s_own_action_renders_counts_shows_progress_and_validates(gadget):
    rebuild = _step(REBUILD, "g1", "node2")
    plan = Plan("lxd", "5.0.2", steps=(_step(Action.CREATE, "g2"), rebuild,
                                       _step(REBUILD, "g3", "node1")))
    assert summary_line(plan) == "Plan: 1 to add, 0 to change, 0 to destroy, 2 test gadgets to rebuild."
    text = render_text(plan)
    assert '  ± 2. rebuild test gadget "g1" on node2' in text
    assert "| `± rebuild` | test gadget `g1` | node2 |" in render_markdown(plan)

    document = plan_document(plan)
    assert document["summary"]["rebuild"] == 2 and document["summary"]["add"] == 1
    schema = plan_schema()
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(document)))
    assert "test_gadget" in schema["$defs"]["kind"]["enum"]
    assert "rebuild" in schema["properties"]["summary"]["required"]

    assert still(rebuild, 12) == "still rebuilding test gadget g1 on node2... [12s elapsed]"
    assert describe_action(rebuild) == 'rebuild test gadget "g1" on node2'
    assert _lane(rebuild) == "member:node2"  # beside the rebuilds of other members
    assert _lane(_step(Action.CREATE, "g4", "node2")) is None  # the shared create runs alone


def test_a_step_of_an_action_its_kind_does_not_declare_is_impossible(gadget):
    with pytest.raises(KeyError, match="test gadget has no action 'move'"):
        _step(MOVE, "g1", "node2")
    with pytest.raises(KeyError, match="profile has no action 'rebuild'"):
        StepList().add(REBUILD, Kind.PROFILE, "p")
    # and the schema refuses it in a plan's JSON: each kind's steps take its own actions only
    document = plan_document(Plan("lxd", "5.0.2", steps=(_step(REBUILD, "g1", "node2"),)))
    document["steps"][0]["action"] = "move"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(plan_schema()).validate(document)


def test_a_payload_for_an_action_nobody_declares_is_refused_when_the_registry_reads_it(monkeypatch):
    class Broken(GadgetSpec):
        action_specs = ()

    try:
        monkeypatch.setattr(registry, "SPECS", registry.SPECS + (Broken(),))
        with pytest.raises(RuntimeError, match="payload for rebuild, an action it does not declare"):
            registry.actions()
    finally:
        Kind._nouns.pop("test_gadget", None)


def test_two_actions_counted_under_one_key_must_word_it_alike(gadget, monkeypatch):
    class Clash(GadgetSpec):
        kind = Kind.define("test_clash")
        rank = delete_rank = list_rank = load_rank = 992
        action_specs = (ActionSpec(REBUILD, "rebuilding", "rebuild", count="rebuild",
                                   words="to redo"),)

    try:
        monkeypatch.setattr(registry, "SPECS", registry.SPECS + (Clash(),))
        with pytest.raises(RuntimeError, match="counts under 'rebuild'"):
            registry.tallies()
    finally:
        Kind._nouns.pop("test_clash", None)


def _member_step(action: Action, name: str) -> Step:
    return Step(f"member/{name}/{action}", action, Kind.MEMBER, name, member=name)


def test_evacuate_and_restore_are_counted_apart():
    plan = Plan("lxd", "5.0.2", steps=(_member_step(membership.EVACUATE, "n1"),
                                       _member_step(membership.RESTORE, "n2"),
                                       _member_step(membership.RESTORE, "n3")))
    assert summary_line(plan) == ("Plan: 0 to add, 0 to change, 0 to destroy, 1 member to evacuate, "
                                  "2 members to restore.")
    summary = plan_document(plan)["summary"]
    assert (summary["evacuate"], summary["restore"]) == (1, 2)
    assert summary["other"] == 3  # format 1.0's key, kept within 1.x


def test_a_move_says_where_it_goes_while_it_runs():
    move = Step("instance/default/web/move", MOVE, Kind.INSTANCE, "web", member="node2")
    assert still(move, 20) == "still moving instance web to node2... [20s elapsed]"
    assert describe_action(move) == 'move instance "web" to node2'


def test_a_step_of_every_action_every_kind_declares_validates_renders_and_shows_progress():
    steps = tuple(
        Step(f"{kind}/x/{action}", action, kind, "x", member="node1")
        for kind, table in registry.actions().items() for action in table)
    plan = Plan("incus", "6.0.4", steps=steps)
    assert {(s.kind, s.action) for s in steps} >= {
        (Kind.MEMBER, membership.JOIN), (Kind.SERVER, Action.UPDATE), (Kind.INSTANCE, MOVE),
        (Kind.STORAGE_POOL, Action.DEFINE), (Kind("network_zone"), Action.CREATE)}
    jsonschema.Draft202012Validator(plan_schema()).validate(plan_document(plan))
    assert summary_line(plan).startswith("Plan: ")
    assert len(render_text(plan).splitlines()) > len(steps)
    assert all(still(s, 10).startswith("still ") for s in steps)
