"""The file's JSON Schema is assembled from the base and one fragment per kind, named by the
kind's id in ``lxdplan/schema/kinds/`` (``lxdplan.fileschema``): every kind has its fragment, every ``$ref`` resolves, two files
cannot define one name, and a new kind's module and fragment are all the schema needs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lxdplan import fileschema, kinds, loader, registry
from lxdplan.errors import ValidationError

FRAGMENTS = Path(fileschema.__file__).resolve().parent / "schema" / "kinds"


def test_every_kind_has_its_fragment_named_by_its_id_and_no_fragment_is_left_over():
    files = loader.schema_files()
    assert files[0] == ("", fileschema.BASE)
    for kind, (section, path) in zip(registry.registry(), files[1:]):
        assert (section, path) == (kind.section, FRAGMENTS / f"{kind.kind}.schema.json")
        assert path.is_file(), f"{kind.kind}: write its section's schema into {path}"
    assert sorted(FRAGMENTS.glob("*" + fileschema.SUFFIX)) == sorted(p for _, p in files[1:])


def test_every_ref_of_the_published_schema_resolves_and_every_section_is_a_property():
    schema = loader.schema()
    assert fileschema.refs(schema) <= set(schema["$defs"])
    assert list(schema["properties"]) == ["version", "backend", "cluster", *registry.sections()]


def test_a_name_defined_twice_is_refused_naming_both_files():
    base = {"properties": {"version": {}}, "$defs": {"name": {}}}
    with pytest.raises(RuntimeError, match=r"\$defs.name is defined by both base.schema.json and b.schema.json"):
        fileschema.assemble(base, [("bs", Path("b.schema.json"), {"$defs": {"name": {}}})])
    with pytest.raises(RuntimeError, match="section xs is defined by both a.schema.json and b.schema.json"):
        fileschema.assemble(base, [("xs", Path("a.schema.json"), {}), ("xs", Path("b.schema.json"), {})])


def test_a_broken_fragment_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "widget.schema.json"
    bad.write_text("{\"type\": ")
    with pytest.raises(RuntimeError, match="widget.schema.json is not valid JSON"):
        fileschema.read(bad)
    with pytest.raises(RuntimeError, match="missing.schema.json cannot be read"):
        fileschema.read(tmp_path / "missing.schema.json")


WIDGET = '''
from kindkit import StubKind
from lxdplan.plan import Kind


class WidgetSpec(StubKind):
    kind = Kind.define("test_gadget", "test gadget")
    section = "test_gadgets"
    rank = load_rank = delete_rank = list_rank = 991

    def load(self, checker, items, declared):
        return tuple(raw["name"] for _, raw in items)


SPEC = WidgetSpec()
'''
FRAGMENT = {
    "description": "Gadgets, for a test.",
    "type": "array",
    "items": {"type": "object", "additionalProperties": False, "required": ["name"],
              "properties": {"name": {"description": "Its name.", "$ref": "#/$defs/gadget_name"}}},
    "$defs": {"gadget_name": {"description": "A gadget's name.", "type": "string", "minLength": 1}},
}


@pytest.fixture
def gadget(tmp_path, monkeypatch):
    """A kind module and its fragment in a folder of their own, with the kind's registry line."""
    (tmp_path / "gadget_for_test.py").write_text(WIDGET)
    (tmp_path / "test_gadget.schema.json").write_text(json.dumps(FRAGMENT))
    kinds.__path__.append(str(tmp_path))
    monkeypatch.setattr(fileschema, "FRAGMENT_DIRS", [*fileschema.FRAGMENT_DIRS, tmp_path])
    loader.schema.cache_clear()
    try:
        import importlib

        module = importlib.import_module("lxdplan.kinds.gadget_for_test")
        monkeypatch.setattr(registry, "SPECS", registry.SPECS + (module.SPEC,))
        yield module
    finally:
        kinds.__path__.remove(str(tmp_path))
        sys.modules.pop("lxdplan.kinds.gadget_for_test", None)
        from lxdplan.plan import Kind

        Kind._nouns.pop("test_gadget", None)
        loader.schema.cache_clear()


def test_a_new_kind_brings_its_schema_in_its_fragment_alone(gadget):
    schema = loader.schema()
    assert schema["properties"]["test_gadgets"]["description"] == "Gadgets, for a test."
    assert "gadget_name" in schema["$defs"]
    text = ("version: 1\ncluster:\n  members:\n    - {name: node1, address: \"10.0.0.1:8443\"}\n"
            "test_gadgets:\n  - {name: a}\n  - {name: b, colour: red}\n")
    with pytest.raises(ValidationError) as info:
        loader.load_text(text, "g.yaml")
    assert [str(d) for d in info.value.diagnostics if d.severity == "error"] == [
        'g.yaml:7: unknown key "colour" in test_gadgets[1] (known keys: name)']
