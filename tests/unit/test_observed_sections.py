"""``Observed`` holds each kind's objects by the registry: attribute access, keywords, and the
JSON form of golden cases and saved plans (sections at top level, typed by the kind)."""

from __future__ import annotations

import dataclasses
import json

import pytest

import cases
from lxdplan.registry import observed_from_dict, registry
from lxdplan.registry import observed as registry_observed
from lxdplan.kinds.network import ObservedNetwork
from lxdplan.state.observed import Observed


def test_every_kinds_section_is_an_attribute_empty_when_nothing_was_seen():
    observed = registry_observed(networks={"br": ObservedNetwork("br", "bridge")})
    assert observed.networks["br"].type == "bridge"
    assert all(getattr(observed, k.section) == {} for k in registry() if k.section != "networks")
    assert Observed() == Observed(networks={}) == registry_observed()
    with pytest.raises(TypeError, match="widgets"):
        registry_observed(widgets={})
    with pytest.raises(AttributeError):
        registry_observed().widgets  # noqa: B018 (the access is the test)
    plain = Observed(networks={"br": ObservedNetwork("br", "bridge")})
    assert list(plain.objects) == ["networks"] and plain.section("images") == {}


def test_replace_keeps_the_sections():
    observed = Observed(networks={"br": ObservedNetwork("br", "bridge")})
    moved = dataclasses.replace(observed, backend="incus")
    assert moved.backend == "incus" and moved.networks == observed.networks


def _missing(given, out, where="") -> list[str]:
    """Where ``out`` lost or changed something ``given`` holds: every key of a dict given is in
    ``out`` with its value (``out`` may add fields at their defaults); anything else is equal."""
    if isinstance(given, dict) and isinstance(out, dict):
        return [m for k, v in given.items() for m in
                ([f"{where}.{k} (dropped)"] if k not in out else _missing(v, out[k], f"{where}.{k}"))]
    if isinstance(given, list) and isinstance(out, list) and len(given) == len(out):
        return [m for i, (g, o) in enumerate(zip(given, out)) for m in _missing(g, o, f"{where}[{i}]")]
    return [] if given == out else [f"{where}: {given!r} became {out!r}"]


def test_a_round_trip_that_drops_or_changes_a_value_is_caught():
    given = {"a": {"b": 1, "c": [1, {"d": 2}]}}
    assert _missing(given, {"a": {"b": 1, "c": [1, {"d": 2, "e": 0}], "f": ""}}) == []
    assert _missing({"a": {"b": 1}}, {"a": {}}) == [".a.b (dropped)"]
    assert _missing({"a": [1, 2]}, {"a": [2, 1]}) == [".a[0]: 1 became 2", ".a[1]: 2 became 1"]


@pytest.mark.parametrize("name", cases.names())
def test_the_json_form_round_trips_with_each_section_typed_by_its_kind(name):
    """The JSON form read and written again holds everything the case's input holds (the input
    leaves fields at their defaults out, which the written form spells out), and reads back to
    the same state."""
    data = cases.observed_data(name)
    observed = observed_from_dict(data)
    again = observed.to_dict()
    assert _missing(data, json.loads(json.dumps(again))) == []
    assert observed_from_dict(json.loads(json.dumps(again))) == observed
    assert {k.section for k in registry()} <= set(again)
    for kind in registry():
        assert all(isinstance(o, kind.observed_type) for o in observed.section(kind.section).values())
    assert observed_from_dict(again).digest() == observed.digest()
