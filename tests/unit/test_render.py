"""Renderers: text, JSON (schema-valid), markdown; secrets never shown; colour only on request."""

from __future__ import annotations

import json

import jsonschema

from lxdplan.desired import Secret
from lxdplan.payloads import ServerUpdate
from lxdplan import membership
from lxdplan.kinds.placement import MOVE
from lxdplan.plan import Action, Kind, Plan, Step, Unmanaged
from lxdplan.render import plan_document, render_json, render_markdown, render_text
from lxdplan.render.planschema import plan_schema

SCHEMA = plan_schema()  # what `lxdplan schema --plan` prints

PLAN = Plan(
    backend="lxd", server_version="5.0.2",
    steps=(
        Step("server/config/update", Action.UPDATE, Kind.SERVER, "config",
             before={"config": {"images.x": "1"}},
             after={"config": {"images.x": "2", "core.trust_password": Secret("env", "PW")}},
             reason="cluster-wide server config differs from the file",
             payload=ServerUpdate({"core.trust_password": Secret("env", "PW")})),
        Step("network/br0/define/n2", Action.DEFINE, Kind.NETWORK, "br0", member="n2",
             after={"type": "bridge", "config": {"parent": "eth1"}}, reason="r",
             blocked="n2 is offline"),
        Step("member/n3/join", membership.JOIN, Kind.MEMBER, "n3", member="n3",
             depends_on=("network/br0/define/n2",), after={"address": "10.0.0.3:8443"},
             reason="n3 is in the file but not in the cluster"),
        Step("profile/p/delete", Action.DELETE, Kind.PROFILE, "p", before={"config": {"a": "b"}},
             reason="r|pipe"),
    ),
    unmanaged=(Unmanaged(Kind.STORAGE_POOL, "local", "used by 2 objects"),),
    diagnostics=("n2 is offline",),
)


def test_text_reads_like_terraform_and_flags_blocked_steps():
    text = render_text(PLAN)
    assert "\033[" not in text
    assert '  ~ 1. update server config\n' in text
    assert '      ~ config["images.x"] = "1" -> "2"\n' in text
    assert '      + config["core.trust_password"] = (sensitive)\n' in text
    assert '  ± 2. define network "br0" on n2\n' in text
    assert "      ! blocked: n2 is offline\n" in text
    assert '  - 4. delete profile "p"\n' in text and '      - config["a"] = "b"\n' in text
    assert "  storage pool local (used by 2 objects)\n" in text
    assert "Warnings:\n  ! n2 is offline\n" in text
    assert text.endswith("Plan: 0 to add, 1 to change, 1 to destroy, 1 member to join.\n"
                         "1 step is blocked and cannot run now (reasons above).\n")


def test_colour_only_when_asked():
    coloured = render_text(PLAN, colour=True)
    assert "\033[33m~\033[0m 1. update server config" in coloured


def test_steps_print_in_the_order_they_run_with_one_legend():
    """An object's steps stay where they run (1, 3 for n3 here), each line naming its object;
    the signs are explained once, only those the plan uses."""
    steps = (
        Step("member/n3/join", membership.JOIN, Kind.MEMBER, "n3", member="n3",
             after={"address": "10.0.0.3:8443"}, reason="join"),
        Step("member/n1/update", Action.UPDATE, Kind.MEMBER, "n1", before={"roles": []},
             after={"roles": ["event-hub"]}, reason="roles"),
        Step("member/n3/update", Action.UPDATE, Kind.MEMBER, "n3", before={"groups": []},
             after={"groups": ["gpu"]}, reason="groups"),
        Step("instance/c1/move", MOVE, Kind.INSTANCE, "c1", member="n2",
             before={"member": "n1"}, after={"member": "n2"}, reason="move"),
    )
    text = render_text(Plan("lxd", "5.0.2", steps=steps))
    lines = [line for line in text.splitlines() if line[2:3] in "+~-±" and line[4:5].isdigit()]
    assert lines == ['  ± 1. join member "n3"', '  ~ 2. update member "n1"',
                     '  ~ 3. update member "n3"', '  ± 4. move instance "c1" to n2']
    assert text.count("Signs:") == 1
    assert "(Signs: + create or add, ~ change, ± the step named (join, move, start…))" in text
    assert "numbered order" not in text


def test_no_change_line():
    assert render_text(Plan("lxd", "5.0.2")) == "No changes. The cluster matches the file.\n"


def test_json_is_schema_valid_and_hides_secrets():
    document = json.loads(render_json(PLAN))
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    assert document["changes"] is True and document["summary"]["blocked"] == 1
    assert document["steps"][0]["after"]["config"]["core.trust_password"] == "(sensitive)"
    assert document["steps"][2]["depends_on"] == ["network/br0/define/n2"]
    assert "PW" not in json.dumps(document["steps"][0])
    empty = plan_document(Plan("incus", "6.0.4"))
    jsonschema.Draft202012Validator(SCHEMA).validate(empty)
    assert empty["changes"] is False and empty["backend"] == {"server": "incus", "version": "6.0.4"}


def test_markdown_has_summary_table_and_fenced_details():
    md = render_markdown(PLAN)
    assert "**Plan: 0 to add, 1 to change, 1 to destroy, 1 member to join.**" in md
    assert "| 2 | `± define` | network `br0` | n2 | r **Blocked:** n2 is offline |" in md
    assert "r\\|pipe" in md
    assert "```diff\n" in md and "(sensitive)" in md and "\033[" not in md
