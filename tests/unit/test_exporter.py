"""export: the observed cluster written as a file plans empty against the same cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import cases
from lxdplan.exporter import export_document
from lxdplan.loader import load_text
from lxdplan.planner import plan
from lxdplan.state.observed import Observed



@pytest.mark.parametrize("case", ["no_change", "drift", "unmanaged"])
def test_export_round_trip_plans_no_steps(case):
    observed = cases.observed(case)
    text = yaml.safe_dump(export_document(observed), sort_keys=False)
    desired, _warnings = load_text(text, f"{case}-export.yaml")
    result = plan(desired, observed)
    assert result.steps == (), [s.id for s in result.steps]
    assert result.unmanaged == ()


def test_export_puts_member_specific_keys_under_members_and_drops_lxdplan_keys():
    observed = cases.observed("no_change")
    doc = export_document(observed)
    for pool in doc.get("storage_pools", []):
        assert "source" not in pool.get("config", {})
    for section in ("storage_pools", "networks", "profiles", "projects"):
        for obj in doc.get(section, []):
            assert not any(k.startswith("user.lxdplan.") for k in obj.get("config", {}))
    assert "core.trust_password" not in doc["cluster"].get("config", {})


def _with(observed: Observed, **sections) -> Observed:
    fields = {f: getattr(observed, f) for f in ("backend", "server_version", "api_extensions",
                                                 "clustered", "cluster_fingerprint", "config",
                                                 "members", "standalone")}
    return Observed(objects={**observed.objects, **sections}, **fields)


def test_instances_made_by_hand_export_their_image_by_its_declared_name_or_none():
    """`lxc launch busybox c1` names the image by fingerprint (volatile.base_image) and the same
    export declares that image under its alias: the instance uses that name. `lxc init --empty`
    has no image at all: `image: none`. The export validates without a warning and plans empty."""
    from lxdplan.kinds.image import ObservedImage
    from lxdplan.kinds.instance import ObservedInstance

    fp = "d" * 64
    base = cases.observed("no_change")
    member = next(iter(base.members))
    observed = _with(base, images={f"default/{fp}": ObservedImage(fp, "busybox", aliases=("busybox",))},
                     instances={
                         "default/c1": ObservedInstance("c1", location=member, status="Running",
                                                        profiles=("default",), base_image=fp),
                         "default/c6": ObservedInstance("c6", location=member, status="Stopped",
                                                        profiles=("default",)),
                     })
    doc = export_document(observed)
    images = {i["name"]: i["image"] for i in doc["instances"]}
    assert images == {"c1": "busybox", "c6": "none"}
    desired, warnings = load_text(yaml.safe_dump(doc, sort_keys=False), "export.yaml")
    assert warnings == []
    result = plan(desired, observed)
    assert result.steps == (), [s.id for s in result.steps]


def test_an_instance_with_image_none_is_created_with_no_source():
    from lxdplan.kinds import spec
    from lxdplan.plan import Action, Kind

    base = cases.observed("no_change")
    member = next(iter(base.members))
    doc = export_document(base)
    doc["instances"] = [{"name": "c6", "image": "none", "member": member, "state": "stopped"}]
    desired, warnings = load_text(yaml.safe_dump(doc, sort_keys=False), "empty.yaml")
    assert warnings == []
    (step,) = [s for s in plan(desired, base).steps if s.kind == Kind.INSTANCE]
    assert step.action == Action.CREATE and step.after["image"] == "none"
    assert spec(Kind.INSTANCE).create_body(step)["source"] == {"type": "none"}


def test_an_instance_of_a_project_without_its_own_images_names_one_of_default():
    """A project with features.images false draws images from default: the instance names that
    image and validate looks for it there (it warned that the image was not declared)."""
    from lxdplan.kinds.image import ObservedImage
    from lxdplan.kinds.instance import ObservedInstance
    from lxdplan.kinds.project import ObservedProject

    fp = "e" * 64
    base = cases.observed("no_change")
    member = next(iter(base.members))
    observed = _with(base, images={f"default/{fp}": ObservedImage(fp, "busybox", aliases=("busybox",))},
                     projects={"shared": ObservedProject("shared", config={"features.images": "false",
                                                                           "features.profiles": "false"})},
                     instances={"shared/c1": ObservedInstance("c1", "shared", location=member,
                                                              status="Running", profiles=("default",),
                                                              base_image=fp)})
    doc = export_document(observed)
    assert doc["instances"] == [{"name": "c1", "project": "shared", "image": "busybox",
                                 "member": member, "profiles": ["default"]}]
    desired, warnings = load_text(yaml.safe_dump(doc, sort_keys=False), "export.yaml")
    assert warnings == []
