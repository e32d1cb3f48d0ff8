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


@pytest.mark.parametrize("name", cases.names())
def test_the_json_form_round_trips_with_each_section_typed_by_its_kind(name):
    data = cases.observed_data(name)
    observed = observed_from_dict(data)
    again = observed.to_dict()
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(observed_from_dict(again).to_dict()))
    assert {k.section for k in registry()} <= set(again)
    for kind in registry():
        assert all(isinstance(o, kind.observed_type) for o in getattr(observed, kind.section).values())
    assert observed_from_dict(again).digest() == observed.digest()
