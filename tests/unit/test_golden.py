"""Golden plans: ``tests/cases/<name>/`` holds desired.yaml (its first comment says what the case
shows), observed.json (a patch on the shared observed state: ``cases.py``) and the expected
``plan.txt`` and ``plan.json`` — or ``error.txt`` when the planner must refuse. An optional
``args.json`` gives ``force_remove``.

``plan.json`` holds ``"observed_digest": "(masked)"``: the digest is a hash of the whole observed
state, so any change to what is observed (a new kind, a new field) would rewrite every golden
plan for that one line; its stability is pinned once, in
``test_the_observed_digest_is_pinned_once``.

Regenerate with ``LXDPLAN_UPDATE_GOLDEN=1 pytest tests/unit/test_golden.py``: a file that differs
is rewritten and its test skipped (nothing was compared), so read every changed line with
``git diff tests/cases`` before keeping it; a run without the variable compares again.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest

import cases
from lxdplan.registry import observed_from_dict
from lxdplan.errors import PlanError
from lxdplan.planner import plan
from lxdplan.render import render_json, render_text
from lxdplan.render.planschema import plan_schema

SCHEMA = plan_schema()  # what `lxdplan schema --plan` prints
UPDATE = os.environ.get("LXDPLAN_UPDATE_GOLDEN") == "1"
_DIGEST = re.compile(r'^(  "observed_digest": )"[0-9a-f]{64}"(,?)$', re.M)
# A saved plan holds this digest and apply refuses it when the cluster's differs: a change of the
# digest's recipe makes every saved plan stale. Change this value only on purpose.
NO_CHANGE_DIGEST = "8a3c37a01a3649fb56361a8eaf82222a97aafe3da7b0fe1c343dc69ebc032206"


def masked(document: str) -> str:
    """The JSON plan with its observed state's digest masked (exactly one, at top level)."""
    out, count = _DIGEST.subn(r'\1"(masked)"\2', document)
    assert count == 1, "a JSON plan has exactly one top-level observed_digest"
    return out


def _check(path: Path, actual: str, rewritten: list[str]) -> None:
    """Compare ``actual`` with the golden file as it was before this run (never with itself)."""
    expected = path.read_text(encoding="utf-8") if path.exists() else None
    if UPDATE and actual != expected:
        path.write_text(actual, encoding="utf-8")
        rewritten.append(path.name)
        return
    assert expected is not None, f"{path} is missing; run with LXDPLAN_UPDATE_GOLDEN=1"
    assert actual == expected


def _first_comment(text: str) -> str:
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    return first.lstrip("# ").strip() if first.startswith("#") else ""


@pytest.mark.parametrize("case", cases.names())
def test_golden(case: str) -> None:
    folder = cases.CASES / case
    assert _first_comment((folder / "desired.yaml").read_text()), (
        f"{folder / 'desired.yaml'} must start with a comment saying what the case shows")
    desired, observed = cases.desired(case), cases.observed(case)
    args = json.loads((folder / "args.json").read_text()) if (folder / "args.json").exists() else {}
    rewritten: list[str] = []
    if (folder / "error.txt").exists():
        with pytest.raises(PlanError) as err:
            plan(desired, observed, **args)
        _check(folder / "error.txt", f"{err.value}\n", rewritten)
    else:
        result = plan(desired, observed, **args)
        _check(folder / "plan.txt", render_text(result, colour=False), rewritten)
        document = render_json(result)
        _check(folder / "plan.json", masked(document), rewritten)
        jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(document))
        assert plan(desired, observed, **args) == result, "the planner must be deterministic"
    if rewritten:
        pytest.skip(f"rewrote {case}/{', '.join(rewritten)}: read the diff before keeping it")


def test_the_observed_digest_is_pinned_once():
    """The digest of one case's observed state is a known value (the golden plans mask it), it
    ignores the order the state was read in, and it changes with what was observed."""
    observed = cases.observed("no_change")
    assert observed.digest() == NO_CHANGE_DIGEST
    document = json.loads(render_json(plan(cases.desired("no_change"), observed)))
    assert document["observed_digest"] == NO_CHANGE_DIGEST
    data = cases.observed_data("no_change")
    shuffled = json.loads(json.dumps({k: data[k] for k in reversed(list(data))}))
    assert observed_from_dict(shuffled).digest() == NO_CHANGE_DIGEST
    data["members"]["node1"]["version"] = "5.0.3"
    assert observed_from_dict(data).digest() != NO_CHANGE_DIGEST


def test_merge_patch_overlays_the_shared_observed_state():
    base = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}
    assert cases.merge(base, {"a": {"c": None, "f": 3}, "d": [3], "e": None}) == {
        "a": {"b": 1, "f": 3}, "d": [3]}


def test_plans_hide_internal_fields_and_say_a_move_restarts():
    """A join shows what the member gets, not which token field the API call uses; a move says
    that it stops the instance and starts it again (issue 19)."""
    joined = plan(cases.desired("join_member"), cases.observed("join_member"))
    join = next(s for s in joined.steps if s.action.value == "join")
    assert "token_field" not in join.after and "token_field" not in render_text(joined)
    assert join.payload.token_field == "cluster_password"  # still used by the join itself
    moved = plan(cases.desired("instance_move"), cases.observed("instance_move"))
    move = next(s for s in moved.steps if s.action.value == "move")
    assert move.reason.endswith("the move stops it and starts it again there")


def test_keys_the_file_leaves_out_follow_one_rule():
    """README "Keys the file leaves out": built-in descriptions and the values LXD generates are
    kept (and sent back in a PUT), anything else set live is removed (tests/cases/omitted_keys)."""

    desired = cases.desired("omitted_keys")
    data = cases.observed_data("omitted_keys")
    data["networks"]["lxdbr1"]["config"]["user.note"] = "by hand"
    result = plan(desired, observed_from_dict(data))
    changed = {(s.kind, s.name): s for s in result.steps}
    assert set(changed) == {("network", "lxdbr1"), ("network", "lxdbr2"), ("profile", "web")}
    lxdbr1, lxdbr2 = changed[("network", "lxdbr1")], changed[("network", "lxdbr2")]
    assert lxdbr1.before == {"config": {"user.note": "by hand"}} and lxdbr1.after == {}
    assert lxdbr1.payload.config["ipv4.nat"] == "true"  # LXD's value, kept in the PUT
    assert "ipv4.nat" not in lxdbr2.payload.config  # someone's value, removed
    assert changed[("profile", "web")].after == {"description": ""}
