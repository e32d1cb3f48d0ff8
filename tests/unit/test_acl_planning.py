"""Network ACLs without a server: the file part, the planner rules, the references other kinds'
objects make to them, the reads and their assembly, and export."""

from __future__ import annotations

import textwrap

import pytest

from lxdplan.errors import ValidationError
from lxdplan.exporter import export_document
from lxdplan.registry import find_spec
from lxdplan.kinds.network_acl import NetworkACL, ObservedNetworkACL, normalise_rule
from lxdplan.kinds.profile import ObservedProfile, Profile
from lxdplan.kinds.project import ObservedProject, Project
from lxdplan.livedata import Get, Reading, Recorded
from lxdplan.loader import load_text
from lxdplan.plan import Action, Kind
from lxdplan.planner import plan
from plan_helpers import by_id, cluster, desired, live_net, net
from loaderkit import HEAD  # the loader tests' three-member header

WEB = ({"action": "allow", "state": "enabled", "protocol": "tcp", "destination_port": "80,443"},)


def errors_of(body: str) -> list[tuple[int, str]]:
    with pytest.raises(ValidationError) as info:
        load_text(HEAD + textwrap.dedent(body))
    return [(d.line, d.message) for d in info.value.diagnostics if d.severity == "error"]


def live_acl(name="web-in", project="default", managed=True, **kw) -> ObservedNetworkACL:
    config = {"user.lxdplan.managed": "true"} if managed else {}
    return ObservedNetworkACL(name=name, project=project, config=config,
                              managed_by_lxdplan=managed, **kw)


# -- the file --------------------------------------------------------------------------------


def test_rules_load_as_lxd_stores_them():
    loaded, _ = load_text(HEAD + textwrap.dedent("""\
        network_acls:
          - name: web-in
            ingress:
              - {action: allow, protocol: tcp, destination_port: " 80 , 443", icmp_code: 0}
              - {action: drop, source: "192.0.2.1, 192.0.2.2", state: logged}
        """))
    (acl,) = loaded.network_acls
    assert acl.project == "default" and acl.line == 8
    assert acl.ingress == (
        {"action": "allow", "state": "enabled", "protocol": "tcp", "destination_port": "80,443",
         "icmp_code": "0"},
        {"action": "drop", "state": "logged", "source": "192.0.2.1,192.0.2.2"})


def test_file_errors_name_the_line():
    assert errors_of("""\
        projects:
          - {name: flat}
        networks:
          - {name: br0, config: {security.acls: "web-in,nope"}}
        network_acls:
          - name: web-in
            config: {limits.x: "1"}
            egress:
              - {action: allow, destination: 192.0.2.1}
              - {action: allow, destination: " 192.0.2.1", state: enabled}
          - {name: web-in, project: flat}
        """) == [
        (10, 'networks[0].config["security.acls"] names network ACL "nope", which is not '
             "declared in network_acls"),
        (13, '"limits.x" in network_acls[0].config is not a user.* key (the only keys an '
             "ACL's config takes)"),
        (16, "network_acls[0].egress[1] repeats network_acls[0].egress[0] (LXD refuses a rule "
             "given twice in one direction)"),
        (17, 'network_acls[1] is in project "flat", whose config does not set '
             'features.networks: "true" (without it the project uses the default project\'s ACLs)'),
    ]


def test_a_nic_names_the_acls_of_its_projects_network_project():
    errors = errors_of("""\
        projects:
          - {name: own, config: {features.networks: "true"}}
          - {name: flat}
        network_acls:
          - {name: shared}
          - {name: mine, project: own}
        profiles:
          - {name: a, project: own, devices: {eth0: {type: nic, network: n, security.acls: "mine,shared"}}}
          - {name: b, project: flat, devices: {eth0: {type: nic, network: n, security.acls: "shared,mine"}}}
        """)
    acl_errors = [e for e in errors if "network ACL" in e[1]]
    assert acl_errors == [
        (14, 'profiles[0].devices.eth0["security.acls"] names network ACL "own/shared", which '
             "is not declared in network_acls"),
        (15, 'profiles[1].devices.eth0["security.acls"] names network ACL "mine", which is not '
             "declared in network_acls"),
    ]


# -- planning --------------------------------------------------------------------------------


def test_create_carries_the_mark_and_the_rules_in_order():
    acl = NetworkACL("web-in", description="web", config={"user.team": "a"}, ingress=WEB)
    result = plan(desired(network_acls=(acl,)), cluster())
    step = by_id(result)["network_acl/web-in/create"]
    assert step.after == {"description": "web", "config": {"user.team": "a"},
                          "ingress": {"0": dict(WEB[0])}}
    body = find_spec(Kind("network_acl")).create_body(step)
    assert body == {"name": "web-in", "description": "web",
                    "config": {"user.team": "a", "user.lxdplan.managed": "true"},
                    "ingress": [dict(WEB[0])], "egress": []}


def test_rules_compare_in_order_and_as_lxd_normalised():
    rule2 = {"action": "drop", "state": "enabled", "source": "192.0.2.0/24"}
    declared = NetworkACL("web-in", ingress=(normalise_rule({"action": "allow", "protocol": "tcp",
                                                             "destination_port": "80, 443"}),
                                             rule2))
    same = live_acl(ingress=WEB + (rule2,))
    assert plan(desired(network_acls=(declared,)), cluster(network_acls={"default/web-in": same})).steps == ()
    swapped = live_acl(ingress=(rule2,) + WEB, etag="e1")
    result = plan(desired(network_acls=(declared,)), cluster(network_acls={"default/web-in": swapped}))
    (step,) = result.steps
    assert (step.action, step.etag) == (Action.UPDATE, "e1")
    assert step.before == {"ingress": {"0": rule2, "1": dict(WEB[0])}}
    assert step.after == {"ingress": {"0": dict(WEB[0]), "1": rule2}}
    assert step.payload.ingress == [dict(WEB[0]), rule2]
    assert step.payload.config == {"user.lxdplan.managed": "true"}  # the mark is kept


def test_unmanaged_is_listed_and_a_dropped_managed_one_deleted_after_its_users():
    observed = cluster(
        networks={"br0": live_net("br0", config={"security.acls": "old"},
                                  managed_by_lxdplan=True)},
        network_acls={"default/old": live_acl("old"),
                      "default/hand": live_acl("hand", managed=False, used_by=("/1.0/networks/x",))})
    result = plan(desired(networks=(net("br0"),)), observed)
    steps = by_id(result)
    assert "network_acl/old/delete" in steps and "network_acl/hand/delete" not in steps
    assert "network/br0/update" in steps["network_acl/old/delete"].depends_on
    assert [(u.kind, u.name, u.note) for u in result.unmanaged] == [
        (Kind("network_acl"), "hand", "used by 1 object")]


def test_a_projects_acl_comes_after_the_project_and_before_the_profile_naming_it():
    project = Project("own", config={"features.networks": "true"})
    acl = NetworkACL("mine", project="own")
    profile = Profile("p", project="own", devices={"eth0": {"type": "nic", "network": "n",
                                                            "security.acls": "mine"}})
    steps = by_id(plan(desired(projects=(project,), network_acls=(acl,), profiles=(profile,)),
                       cluster()))
    assert "project/own/create" in steps["network_acl/own/mine/create"].depends_on
    assert "network_acl/own/mine/create" in steps["profile/own/p/create"].depends_on


def test_a_profile_dropping_an_acl_is_updated_before_the_delete():
    observed = cluster(
        projects={"own": ObservedProject("own", config={"features.networks": "true"})},
        profiles={"own/p": ObservedProfile("p", project="own", managed_by_lxdplan=True,
                                           devices={"eth0": {"type": "nic", "network": "n",
                                                             "security.acls": "mine"}})},
        network_acls={"own/mine": live_acl("mine", project="own")})
    profile = Profile("p", project="own", devices={"eth0": {"type": "nic", "network": "n"}})
    project = Project("own", config={"features.networks": "true"})
    steps = by_id(plan(desired(projects=(project,), profiles=(profile,)), observed))
    assert "profile/own/p/update" in steps["network_acl/own/mine/delete"].depends_on


# -- reading it live, and export -------------------------------------------------------------

PROJECTS = [{"name": "default", "config": {"features.networks": "true"}},
            {"name": "own", "config": {"features.networks": "true"}},
            {"name": "flat", "config": {"features.profiles": "true"}}]
# GET /1.0/network-acls?recursion=1 as LXD 5.0.2 answers it (no "project" field; Incus adds it).
LISTED = [{"name": "web-in", "description": "", "ingress": [{
    "action": "allow", "source": "", "destination": "", "protocol": "tcp", "source_port": "",
    "destination_port": "80,443", "icmp_type": "", "icmp_code": "", "description": "",
    "state": "enabled"}], "egress": [], "config": {"user.lxdplan.managed": "true"},
    "used_by": ["/1.0/networks/br0"]}]


def reading(**kw) -> Reading:
    loaded, _ = load_text(HEAD + "network_acls:\n  - {name: web-in}\n")
    return Reading(desired=loaded, backend=None, members=("node1",), **kw)


def test_reads_list_the_default_project_and_each_with_its_own_networks():
    kind = find_spec(Kind("network_acl"))
    assert kind.listings(reading()) == {"listing": Get.listing("/1.0/network-acls")}
    recorded = Recorded({"projects": {"listing": (PROJECTS, None)}})
    assert kind.reads(reading(), recorded) == {
        ("project", "own"): Get.listing("/1.0/network-acls", {"project": "own"})}
    assert kind.early_reads(reading(lean=False), Recorded()) == {
        ("etag", ("default", "web-in")): Get.of("/1.0/network-acls/web-in")}


def test_assemble_takes_the_project_from_the_listing_and_drops_empty_fields():
    kind = find_spec(Kind("network_acl"))
    recorded = Recorded({"network_acls": {
        "listing": (LISTED, None),
        ("project", "own"): ([{**LISTED[0], "name": "x", "project": "own", "config": {}}], None),
        ("etag", ("default", "web-in")): ({}, "e7")}})
    out = kind.assemble(reading(), recorded)
    assert set(out) == {"default/web-in", "own/x"}
    assert out["default/web-in"].ingress == WEB and out["default/web-in"].etag == "e7"
    assert out["default/web-in"].managed_by_lxdplan and not out["own/x"].managed_by_lxdplan
    assert out["own/x"].project == "own" and out["own/x"].used_by == ("/1.0/networks/br0",)


def test_export_declares_exactly_what_plan_compares():
    observed = cluster(network_acls={
        "default/web-in": live_acl(description="web", ingress=WEB),
        "own/x": live_acl("x", project="own", egress=WEB)},
        projects={"own": ObservedProject("own", config={"features.networks": "true"})})
    doc = export_document(observed)
    assert doc["network_acls"] == [
        {"name": "web-in", "description": "web", "ingress": [dict(WEB[0])]},
        {"name": "x", "project": "own", "egress": [dict(WEB[0])]}]
    loaded, _ = load_text(HEAD + "projects:\n  - {name: own, config: {features.networks: 'true'}}\n"
                          + "network_acls:\n" + "".join(
                              f"  - {entry}\n" for entry in doc["network_acls"]))
    result = plan(desired(projects=loaded.projects, network_acls=loaded.network_acls), observed)
    assert [s.id for s in result.steps] == []


def test_a_saved_plan_reads_the_acl_payload_back_typed(tmp_path):
    from lxdplan.state.observed import Observed
    from lxdplan.state.saved import load_plan, save_plan

    acl = NetworkACL("mine", project="own", egress=WEB)
    result = plan(desired(projects=(Project("own", config={"features.networks": "true"}),),
                          network_acls=(acl,)), cluster())
    (tmp_path / "lxdplan.yaml").write_text("version: 1\n")
    save_plan(result, Observed(clustered=True), tmp_path / "lxdplan.yaml", tmp_path / "plan.json")
    saved = load_plan(tmp_path / "plan.json")
    step = by_id(saved.plan)["network_acl/own/mine/create"]
    assert step == by_id(result)["network_acl/own/mine/create"]
    assert find_spec(Kind("network_acl")).where(step).params == {"project": "own"}
