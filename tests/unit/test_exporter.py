"""export: the observed cluster written as a file plans empty against the same cluster."""

from __future__ import annotations

import json

import pytest
import yaml

import cases
from lxdplan.registry import observed_from_dict
from lxdplan.exporter import export_document
from lxdplan.loader import load_text
from lxdplan.planner import plan
from lxdplan.desired import Desired
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
    from lxdplan.registry import find_spec
    from lxdplan.plan import Action, Kind

    base = cases.observed("no_change")
    member = next(iter(base.members))
    doc = export_document(base)
    doc["instances"] = [{"name": "c6", "image": "none", "member": member, "state": "stopped"}]
    desired, warnings = load_text(yaml.safe_dump(doc, sort_keys=False), "empty.yaml")
    assert warnings == []
    (step,) = [s for s in plan(desired, base).steps if s.kind == Kind.INSTANCE]
    assert step.action == Action.CREATE and step.after["image"] == "none"
    assert find_spec(Kind.INSTANCE).create_body(step)["source"] == {"type": "none"}


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


# -- an export worth keeping in git (issue 19) --------------------------------------------------

def _observed(patch: dict) -> Observed:
    return observed_from_dict(cases.merge(json.loads(cases.BASE.read_text()), patch))


def _round_trip(observed: Observed, desired=None) -> dict:
    """The export of ``observed``: it loads without a warning and plans no steps."""
    from lxdplan.exporter import render

    doc = export_document(observed, desired=desired)
    loaded, warnings = load_text(render(doc), "export.yaml")
    assert warnings == []
    result = plan(loaded, observed)
    assert result.steps == (), [s.id for s in result.steps]
    return doc


def test_member_address_keys_that_repeat_the_address_are_left_out():
    """core.https_address/cluster.https_address equal to the member's address are what lxdplan
    sets from `address` anyway; a different one (a wildcard listener) stays."""
    observed = _observed({"members": {
        "node2": {"local_config": {"core.https_address": "[::]:8443",
                                   "cluster.https_address": "10.55.0.2:8443"}},
        "node3": {"local_config": {"core.https_address": "10.55.0.3",  # the default port
                                   "core.metrics_address": "10.55.0.3:9100"}}}})
    doc = _round_trip(observed)
    configs = {m["name"]: m.get("config") for m in doc["cluster"]["members"]}
    assert configs == {"node1": None, "node2": {"core.https_address": "[::]:8443"},
                       "node3": {"core.metrics_address": "10.55.0.3:9100"}}


def test_lxds_default_pool_paths_are_left_out_and_chosen_ones_kept():
    observed = _observed({"storage_pools": {
        "data": {"members": {"node1": {"source": "/var/lib/lxd/storage-pools/data"},
                             "node2": {"source": "/var/snap/lxd/common/lxd/storage-pools/data"},
                             "node3": {"source": "/srv/lxd/data-node3"}}},
        "fast": {"name": "fast", "driver": "zfs", "status": "Created", "config": {},
                 "members": {m: {"source": "/var/lib/incus/disks/fast.img", "size": "5GiB",
                                 "zfs.pool_name": "fast"} for m in ("node1", "node2")}
                 | {"node3": {"source": "tank/fast", "zfs.pool_name": "tank/fast"}},
                 "member_status": {m: "Created" for m in ("node1", "node2", "node3")},
                 "locations": ["node1", "node2", "node3"]}}})
    doc = _round_trip(observed)
    pools = {p["name"]: p for p in doc["storage_pools"]}
    assert pools["data"]["members"] == {"node3": {"source": "/srv/lxd/data-node3"}}
    assert pools["fast"]["members"] == {"node3": {"source": "tank/fast", "zfs.pool_name": "tank/fast"}}


def test_the_default_projects_features_are_left_out_other_projects_keep_theirs():
    observed = _observed({"projects": {
        "default": {"config": {"user.team": "ops"}},  # features.* from the base
        "staging": {"name": "staging", "config": {"features.images": "true",
                                                  "features.networks": "true"}}}})
    doc = _round_trip(observed)
    projects = {p["name"]: p.get("config") for p in doc["projects"]}
    assert projects == {"default": {"user.team": "ops"},
                        "staging": {"features.images": True, "features.networks": True}}


@pytest.mark.parametrize("value, written", [
    ("15", 15), ("0", 0), ("-3", -3), ("true", True), ("false", False),
    ("015", "015"), ("-0", "-0"), ("1.5", "1.5"), ("1_000", "1_000"), ("True", "True"),
    ("yes", "yes"), ("0x1f", "0x1f"), ("1e3", "1e3"), ("", ""), ("10GiB", "10GiB"),
    ("12345678901234567890", "12345678901234567890"),
])
def test_values_are_written_as_a_person_would_and_read_back_as_the_same_string(value, written):
    from lxdplan.exporter import human
    from lxdplan.filecheck import normalise

    assert human(value) == written and type(human(value)) is type(written)
    reread = yaml.safe_load(yaml.safe_dump({"v": human(value)}))["v"]
    assert normalise(reread) == value


def test_config_devices_and_member_keys_are_exported_as_plain_yaml():
    from lxdplan.exporter import render

    observed = _observed({"config": {"cluster.offline_threshold": "15"},
                          "members": {"node1": {"local_config": {"core.debug_address": "10.55.0.1:8444"}}},
                          "profiles": {"default/default": {"config": {"limits.cpu": "2",
                                                                       "security.nesting": "true"}}},
                          "networks": {"lxdbr1": {"config": {"ipv4.nat": "false"}}}})
    text = render(_round_trip(observed))
    for line in ("cluster.offline_threshold: 15", "limits.cpu: 2", "security.nesting: true",
                 "ipv4.nat: false"):
        assert line in text
    assert "'" not in text.split("images:")[0]


def test_members_keep_the_clusters_order_or_the_files():
    """The cluster lists its members by id (the bootstrap member first); export -f keeps the
    file's order (members it does not declare after, in the cluster's order)."""
    from lxdplan.desired import Member

    data = json.loads(cases.BASE.read_text())
    data["members"] = {n: data["members"][n] for n in ("node1", "node3", "node2")}
    observed = observed_from_dict(data)
    listed = [m["name"] for m in _round_trip(observed)["cluster"]["members"]]
    assert listed == ["node1", "node3", "node2"]
    desired = cases.desired("no_change")
    assert [m.name for m in desired.members] == ["node1", "node2", "node3"]
    kept = [m["name"] for m in _round_trip(observed, desired)["cluster"]["members"]]
    assert kept == ["node1", "node2", "node3"]
    only_two = Desired(path="x.yaml", members=tuple(
        Member(n, f"10.55.0.{n[-1]}:8443", "https://x") for n in ("node2", "node1")))
    assert [m["name"] for m in export_document(observed, desired=only_two)["cluster"]["members"]] == [
        "node2", "node1", "node3"]


def _image_observed(**images) -> Observed:
    from lxdplan.kinds.image import ObservedImage

    base = cases.observed("no_change")
    return _with(base, images={f"{i.project}/{i.fingerprint}": i for i in (
        ObservedImage(fp, name, project=project, aliases=(name,))
        for name, (fp, project) in images.items())})


def test_an_image_the_file_declares_keeps_the_files_source(tmp_path):
    """export -f: matched by name or alias in the same project, or by the file's fingerprint
    pin; a relative path is made absolute against the file's directory."""
    fp_a, fp_b, fp_c = "a" * 64, "b" * 64, "c" * 64
    observed = _image_observed(busybox=(fp_a, "default"), alpine=(fp_b, "default"),
                               other=(fp_c, "default"))
    text = (cases.CASES / "no_change" / "desired.yaml").read_text() + yaml.safe_dump({"images": [
        {"name": "busybox", "source": {"file": "images/busybox.tar.xz"}},
        {"name": "renamed", "fingerprint": fp_b[:12],
         "source": {"server": "https://images.example:8443", "protocol": "lxd", "alias": "alpine"}},
    ]})
    (tmp_path / "lxdplan.yaml").write_text(text)
    from lxdplan.loader import load

    desired = load(str(tmp_path / "lxdplan.yaml"))[0]
    doc = export_document(observed, desired=desired)
    sources = {i["name"]: i["source"] for i in doc["images"]}
    assert sources["busybox"] == {"file": str(tmp_path / "images" / "busybox.tar.xz")}
    assert sources["alpine"] == {"server": "https://images.example:8443", "protocol": "lxd",
                                 "alias": "alpine"}
    assert sources["other"]["server"] == "https://CHANGE-ME:8443"  # not declared: placeholder
    beside = export_document(observed, desired=desired, out_dir=str(tmp_path))  # the file's dir
    assert beside["images"][0]["source"] == {"file": "images/busybox.tar.xz"}


def test_a_placeholder_is_explained_in_a_comment_and_the_text_loads_back():
    from lxdplan.exporter import render

    observed = _image_observed(busybox=("d" * 64, "default"))
    doc = export_document(observed)
    text = render(doc)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "server: https://CHANGE-ME:8443" in line)
    start = at
    while lines[start - 1].lstrip().startswith("#"):
        start -= 1
    comment = "\n".join(lines[start:at])
    assert start < at and "CHANGE-ME: LXD does not record where this image came from" in comment
    assert lines[at - 1].index("#") == lines[at].index("server")  # at the key's indentation
    assert yaml.safe_load(text) == doc


def test_secret_references_are_named_in_the_header():
    from lxdplan.exporter import render

    observed = _observed({"config": {"loki.auth.password": "s3cret-value"}})
    text = render(export_document(observed))
    assert "s3cret-value" not in text
    header = text.split("version:")[0]
    assert header.startswith("#") and "LXDPLAN_LOKI_AUTH_PASSWORD" in header
    assert "LXDPLAN_" not in render(export_document(cases.observed("no_change"))).split("version:")[0]


def test_export_reads_lxdplan_yaml_by_default(tmp_path, monkeypatch):
    """Neither --endpoint nor -f: the default file, as every other command (it was an error)."""
    from typer.testing import CliRunner

    from lxdplan.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LXDPLAN_FILE", raising=False)
    result = CliRunner().invoke(app, ["export"])
    assert result.exit_code == 1
    assert "lxdplan.yaml" in result.output and "exactly one" not in result.output
    monkeypatch.setenv("LXDPLAN_FILE", str(tmp_path / "elsewhere.yaml"))
    result = CliRunner().invoke(app, ["export"])
    assert "elsewhere.yaml" in result.output
    both = CliRunner().invoke(app, ["export", "-f", "x.yaml", "--endpoint", "https://h:8443"])
    assert both.exit_code == 1 and "exactly one" in both.output
