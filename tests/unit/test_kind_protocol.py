"""The kind protocol (issue 18 item 2): a small core every kind implements, enforced, and
capabilities a kind opts into, which the callers test for instead of calling no-op defaults."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import pytest
from kindkit import StubKind
from plan_helpers import cluster, live_members, live_pool, members

from lxdplan import kinds, registry
from lxdplan.kinds import KindSpec
from lxdplan.loader import load_text
from lxdplan.origin import origin
from lxdplan.plan import Action, Kind, Payload
from lxdplan.planner import plan
from lxdplan.planner.refwalk import refs_of
from lxdplan.providers.adopt import adopt
from lxdplan.render.status import render_status

CAPABILITIES = [getattr(kinds, name) for name in kinds.__all__
                if isinstance(getattr(kinds, name), type) and issubclass(getattr(kinds, name), KindSpec)
                and getattr(kinds, name) is not KindSpec]


@dataclass(frozen=True)
class Gadget:
    name: str
    line: int = 0


@dataclass(frozen=True)
class ObservedGadget:
    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    used_by: tuple[str, ...] = ()
    managed_by_lxdplan: bool = False
    etag: str | None = None


class GadgetSpec(StubKind):
    """A kind with the core alone: no capability."""

    kind = Kind("test_gadget")
    section = "test_gadgets"
    rank = delete_rank = list_rank = load_rank = 991
    payloads = {Action.CREATE: Payload, Action.DELETE: Payload}

    def load(self, checker, items, declared):
        return tuple(Gadget(raw["name"]) for _i, raw in items)

    def export(self, live):
        return {"name": live.name}

    @property
    def observed_type(self):
        return ObservedGadget


@pytest.fixture
def gadget(monkeypatch):
    spec = GadgetSpec()
    monkeypatch.setattr(registry, "SPECS", registry.SPECS + (spec,))
    monkeypatch.setitem(Kind._nouns, "test_gadget", "test gadget")
    return spec


def test_a_kind_that_misses_a_core_method_is_refused_naming_it():
    class Half(KindSpec):
        kind = Kind("test_half")
        section = "test_halves"

        def load(self, checker, items, declared):
            return ()

    with pytest.raises(TypeError, match="abstract methods assemble, export, observed_type, plan, "
                                        "where, where_declared"):
        Half()  # type: ignore[abstract]


def test_a_capability_makes_its_methods_required():
    class Listless(GadgetSpec, kinds.StatusRows):
        pass

    with pytest.raises(TypeError, match="abstract method status"):
        Listless()  # type: ignore[abstract]


def test_a_kind_with_the_core_alone_is_planned_referenced_shown_and_imported(gadget):
    """Every caller leaves a kind without a capability out of that part: no joins wait for it,
    it names nothing, it has no status section, import skips it; its deletes and unmanaged
    objects come from the core's defaults."""
    want = registry.desired(path="f.yaml", members=members("n1"), test_gadgets=(Gadget("kept"),))
    have = registry.observed(clustered=True, server_version="5.0.2", members=live_members("n1"),
                             test_gadgets={"kept": ObservedGadget("kept"),
                                           "old": ObservedGadget("old", managed_by_lxdplan=True),
                                           "theirs": ObservedGadget("theirs", used_by=("/1.0/x",))})
    result = plan(want, have)
    assert [(s.action, s.name) for s in result.steps] == [(Action.DELETE, "old")]
    assert [(u.name, u.note) for u in result.unmanaged] == [("theirs", "used by 1 object")]
    assert refs_of(gadget, Gadget("kept")) == []
    assert "test gadget" not in render_status(want, have)
    assert adopt(None, want, have) == []  # type: ignore[arg-type]  # no request is sent


def test_no_kind_has_a_capability_method_without_opting_into_it():
    """A kind that defines ``status`` (or ``refs``…) without subclassing ``StatusRows`` would be
    skipped silently by the callers: each capability's methods belong to its kinds only."""
    for cap in CAPABILITIES:
        methods = cap.__abstractmethods__ - KindSpec.__abstractmethods__
        for spec in registry.registry():
            for name in methods:
                assert isinstance(spec, cap) or not hasattr(spec, name), (
                    f"{type(spec).__name__} has {name} but is not a {cap.__name__}")


def test_a_step_names_its_object_by_the_same_identity_as_the_file():
    """One identity for declared objects, live objects and steps: a step's ``step_ident`` is its
    object's ``ident``, its name that identity's ``label``. A volume of one name on two members
    of a local pool is two objects: a refused create on node2 points at node2's entry."""
    text = textwrap.dedent("""\
        version: 1
        cluster:
          members:
            - {name: node1, address: "10.9.0.1:8443"}
            - {name: node2, address: "10.9.0.2:8443"}
        storage_pools:
          - {name: data, driver: dir}
        storage_volumes:
          - {pool: data, name: cache, member: node1}
          - {pool: data, name: cache, member: node2}
        profiles:
          - {name: web, config: {limits.cpu: "2"}}
        """)
    desired, _ = load_text(text)
    steps = plan(desired, cluster(("node1", "node2"), storage_pools={"data": live_pool(
        driver="dir", members={"node1": {}, "node2": {}})})).steps
    for step in steps:
        spec = registry.find_spec(step.kind)
        if spec is None:
            continue
        obj = next(o for o in spec.declared(desired) if spec.ident(o) == spec.step_ident(step))
        assert spec.label(spec.step_ident(step)) == step.name == spec.display(obj)
    on_node2 = next(s for s in steps if s.kind == Kind.STORAGE_VOLUME and s.member == "node2")
    assert origin(desired, on_node2) == "lxdplan.yaml:10"
