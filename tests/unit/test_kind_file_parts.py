"""The file side of the kind registry: ``Desired`` holds every kind's section, and a kind
module plus its registry line loads, checks and de-duplicates its part of the file (issue 8)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest

from lxdplan import kinds, registry
from lxdplan.desired import Desired
from lxdplan.kinds.network import Network
from lxdplan.plan import Kind
from lxdplan.validation import build
from lxdplan.yamlsource import parse

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_section_reads_as_an_attribute_empty_when_not_given():
    bridge = Network("br0")
    desired = registry.desired(path="f.yaml", networks=(bridge,))
    sections = [spec.section for spec in registry.registry()]
    assert list(desired.objects) == sections
    assert desired.networks == (bridge,)
    for section in sections:
        if section != "networks":
            assert getattr(desired, section) == ()


def test_a_section_no_kind_has_is_refused():
    with pytest.raises(TypeError, match="no_such_kinds"):  # never a kind's section
        registry.desired(path="f.yaml", no_such_kinds=())
    with pytest.raises(AttributeError, match="no_such_kinds"):
        _ = registry.desired(path="f.yaml").no_such_kinds


def test_a_plain_desired_holds_the_sections_its_caller_gives():
    bridge = Network("br0")
    desired = Desired(path="f.yaml", networks=(bridge,))
    assert list(desired.objects) == ["networks"]
    assert desired.section("networks") == (bridge,) and desired.section("profiles") == ()
    with pytest.raises(AttributeError, match="profiles"):
        _ = desired.profiles
    assert desired == Desired(path="f.yaml", networks=(bridge,), profiles=())


def test_replace_keeps_the_objects_and_equality_sees_them():
    desired = Desired(path="f.yaml", networks=(Network("br0"),))
    other = dataclasses.replace(desired, backend="incus")
    assert other.backend == "incus" and other.networks == desired.networks
    assert dataclasses.replace(other, backend=None) == desired
    assert Desired(path="f.yaml") != desired


def test_the_plan_schema_lists_the_membership_kinds_and_every_registered_kind():
    from lxdplan.render.planschema import base, plan_schema

    listed = plan_schema()["$defs"]["kind"]["enum"]
    assert sorted(listed) == sorted([Kind.SERVER, Kind.MEMBER] + [s.kind for s in registry.registry()])
    # the file in git is the base: it names no kind, so a new kind edits it not
    assert "enum" not in base()["$defs"]["kind"]
    assert "test_widget" not in json.dumps(base())


WIDGET_MODULE = '''
from dataclasses import dataclass

from lxdplan.filecheck import MEMBERS, names
from kindkit import StubKind
from lxdplan.plan import Kind


@dataclass(frozen=True)
class Widget:
    name: str
    member: str | None = None
    line: int = 0


class WidgetSpec(StubKind):
    collection = "widgets"
    kind = Kind.define("test_widget", "test widget")
    section = "test_widgets"
    rank = load_rank = 990

    def load(self, checker, items, declared):
        members = names(declared, MEMBERS)
        out = []
        for i, raw in items:
            if raw.get("member") not in members:
                checker.error((self.section, i, "member"),
                              f"test_widgets[{i}] is on a member not in cluster.members")
            out.append(Widget(raw.get("name"), raw.get("member"), checker.src.line((self.section, i))))
        return tuple(out)

    def export(self, live):
        return {"name": live.name}

    @property
    def observed_type(self):
        return Widget


SPEC = WidgetSpec()
'''


@pytest.fixture
def widget_kind(tmp_path, monkeypatch):
    """A kind module from a folder of its own, with its line in the registry; removed after."""
    (tmp_path / "widget_for_test.py").write_text(WIDGET_MODULE)
    kinds.__path__.append(str(tmp_path))
    try:
        module = importlib.import_module("lxdplan.kinds.widget_for_test")
        monkeypatch.setattr(registry, "SPECS", registry.SPECS + (module.SPEC,))
        yield module
    finally:
        kinds.__path__.remove(str(tmp_path))
        sys.modules.pop("lxdplan.kinds.widget_for_test", None)
        Kind._nouns.pop("test_widget", None)


def test_a_new_kind_module_alone_loads_checks_and_deduplicates_its_section(widget_kind):
    src, diags = parse(textwrap.dedent("""\
        version: 1
        cluster:
          members:
            - {name: node1, address: "10.0.0.1:8443"}
        test_widgets:
          - {name: a, member: node1}
          - {name: a, member: node9}
        """), "w.yaml")
    assert diags == []
    desired, found = build(src)
    Widget = widget_kind.Widget
    assert desired.test_widgets == (Widget("a", "node1", 6), Widget("a", "node9", 7))
    assert desired.networks == ()
    errors = [(d.line, d.message) for d in found if d.severity == "error"]
    assert errors == [
        (7, "test_widgets[1] is on a member not in cluster.members"),
        (7, "test widget is declared twice (test_widgets[1].name repeats test_widgets[0].name, "
            "line 6)"),
    ]
