"""Each kind declares the shape of its answers (``KindSpec.answer_shape``: the collections it
lists with their identity field, its objects' own fields); ``providers.shapes`` checks answers
against the membership's table plus theirs, and loads the kinds only when an answer needs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lxdplan import registry
from lxdplan.livedata import AnswerShape
from lxdplan.providers import shapes


def test_a_kind_s_collections_and_fields_are_checked_without_editing_shapes():
    gadget = AnswerShape({"gadgets/[^/]+/parts": "serial"}, fields={"bolts": "objects"})
    collections, fields = shapes.table([gadget])
    identity = [ident for pattern, ident in collections if pattern.match("/1.0/gadgets/g1/parts")]
    assert identity == ["serial"]
    assert not any(pattern.match("/1.0/gadgets/g1/parts/p1") for pattern, _ in collections)
    with pytest.raises(shapes.Malformed, match=r"metadata\.bolts is a string, expected a list of objects"):
        shapes.check_object({"serial": "1", "bolts": "m8"}, "metadata", fields=fields)
    shapes.check_object({"serial": "1", "bolts": "m8"}, "metadata")  # the shared table alone


def test_every_kind_declares_its_collections_and_none_is_claimed_twice():
    seen: dict[str, str] = {}
    for kind in registry.registry():
        assert kind.answer_shape.collections, f"{kind.kind} declares no collection"
        for pattern in kind.answer_shape.collections:
            assert pattern not in seen, f"{pattern}: {seen[pattern]} and {kind.kind}"
            seen[pattern] = kind.kind
    assert not set(seen) & set(shapes.MEMBERSHIP_COLLECTIONS)


def test_two_types_for_one_field_are_refused():
    with pytest.raises(RuntimeError, match="field ports of LXD's answers is given two types"):
        shapes.table([AnswerShape(fields={"ports": "objects"}), AnswerShape(fields={"ports": "strings"})])
    with pytest.raises(RuntimeError, match="field name of LXD's answers is given two types"):
        shapes.table([AnswerShape(fields={"name": "objects"})])


def test_checking_the_server_s_own_answer_does_not_load_the_kinds():
    code = ("import sys\nfrom lxdplan.providers import shapes\n"
            "shapes.check_metadata('/1.0', None, {'environment': {'server_clustered': True}})\n"
            "print('lxdplan.registry' in sys.modules)\n"
            "shapes.check_metadata('/1.0/networks/br0/forwards', {'recursion': 1}, [])\n"
            "print('lxdplan.registry' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
