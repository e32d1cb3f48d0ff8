"""OVN networks of a project with ``features.networks`` (issue 21 item 4): the file, the plan,
the reads, export, and what a nic in such a project names."""

from __future__ import annotations

import dataclasses

from loaderkit import doc, errors_of
from lxdplan.exporter import export_document
from lxdplan.kinds.network import parse_network
from lxdplan.livedata import Get, Reading, Recorded
from lxdplan.loader import load_text
from lxdplan.plan import Action, Kind
from lxdplan.planner import plan
from lxdplan.registry import find_spec
from plan_helpers import cluster, desired, live_net

MARKED = {"user.lxdplan.managed": "true"}
BASE = """\
        networks:
          - {name: UPLINK, config: {ipv4.address: 10.1.0.1/24, ipv4.ovn.ranges: 10.1.0.100-10.1.0.120}}
          - {name: ov, type: ovn, project: tenant, config: {network: UPLINK}}
        projects:
          - name: tenant
            config: {features.networks: "true", restricted: "true", restricted.networks.uplinks: UPLINK}
          - {name: plain}
"""  # lines 7-13
SPEC = find_spec(Kind.NETWORK)


def net_steps(desired, live) -> list:
    """The network steps of a plan (the helpers' members differ from the file's)."""
    return [s for s in plan(desired, live).steps if s.kind == Kind.NETWORK]


def loaded(extra: str = ""):
    desired, _ = load_text(doc(BASE + extra))
    return desired


def live_tenant_ov(**kw):
    kw.setdefault("config", {"network": "UPLINK", **MARKED})
    return dataclasses.replace(live_net("ov", members=(), managed_by_lxdplan=True, **kw),
                               type="ovn", project="tenant", status="Created")


def observed(**networks):
    return cluster(networks={"UPLINK": live_net(
        "UPLINK", managed_by_lxdplan=True, status="Created",
        config={"ipv4.address": "10.1.0.1/24", "ipv4.ovn.ranges": "10.1.0.100-10.1.0.120",
                **MARKED}), **networks}, projects=_projects())


def _projects():
    from lxdplan.kinds.project import ObservedProject
    return {"tenant": ObservedProject("tenant", config={
        "features.networks": "true", "restricted": "true",
        "restricted.networks.uplinks": "UPLINK", **MARKED}, managed_by_lxdplan=True),
        "plain": ObservedProject("plain", config=dict(MARKED), managed_by_lxdplan=True)}


def test_a_project_network_loads_with_its_project_and_identity():
    net = loaded().networks[1]
    assert (net.project, net.name, net.type) == ("tenant", "ov", "ovn")
    assert SPEC.ident(net) == ("tenant", "ov") and SPEC.display(net) == "tenant/ov"
    assert SPEC.ident(loaded().networks[0]) == ("UPLINK",)  # default's keep their identity


def test_a_network_outside_default_is_an_ovn_network_of_a_project_with_networks():
    assert errors_of(doc(BASE + """\
          - {name: other}
        """).replace("  - {name: ov, type: ovn, project: tenant, config: {network: UPLINK}}\n", """\
  - {name: ov, type: ovn, project: tenant, config: {network: UPLINK}}
  - {name: ov2, type: ovn, project: plain, config: {network: UPLINK}}
  - {name: ov3, type: ovn, project: nowhere, config: {network: UPLINK}}
  - {name: br1, project: tenant}
""")) == [
        (10, 'networks[2] is in project "plain", whose config does not set features.networks: '
             "\"true\" (without it the project uses the default project's networks)"),
        (11, 'networks[3] is in project "nowhere", which is not declared in projects'),
        (12, 'networks[4] is a bridge network in project "tenant"; a project\'s own networks '
             "are OVN networks (other types live in the default project only)"),
    ]


def test_the_same_name_in_two_projects_is_two_networks():
    text = doc(BASE).replace("- {name: ov, type: ovn, project: tenant", "- {name: UPLINK, type: ovn, project: tenant")
    desired, _ = load_text(text)
    assert [SPEC.display(n) for n in desired.networks] == ["UPLINK", "tenant/UPLINK"]


def test_a_project_network_is_created_with_one_post_in_its_project():
    steps = plan(loaded(), observed()).steps
    (step,) = [s for s in steps if s.kind == Kind.NETWORK]
    assert (step.action, step.name, step.member) == (Action.INSTANTIATE, "tenant/ov", None)
    where = SPEC.where(step)
    assert (where.collection, where.path, where.params) == (
        "/1.0/networks", "/1.0/networks/ov", {"project": "tenant"})
    assert SPEC.object_name(step) == "ov"


def test_a_project_network_in_sync_plans_nothing_and_drift_is_an_update_there():
    assert net_steps(loaded(), observed(**{"tenant/ov": live_tenant_ov()})) == []
    drifted = live_tenant_ov(config={"network": "UPLINK", "user.x": "y", **MARKED}, etag="e1")
    (step,) = net_steps(loaded(), observed(**{"tenant/ov": drifted}))
    assert (step.action, step.name, step.etag) == (Action.UPDATE, "tenant/ov", "e1")
    assert SPEC.where(step).params == {"project": "tenant"}


def test_a_dropped_project_network_is_deleted_in_its_project():
    desired, _ = load_text(doc(BASE).replace(
        "  - {name: ov, type: ovn, project: tenant, config: {network: UPLINK}}\n", ""))
    (step,) = net_steps(desired, observed(**{"tenant/ov": live_tenant_ov()}))
    assert (step.action, step.name) == (Action.DELETE, "tenant/ov")
    assert SPEC.where(step).params == {"project": "tenant"}


def test_project_networks_are_read_per_project_with_networks_and_assembled():
    reading = Reading(desired=loaded(), backend=None, members=("node1",))
    recorded = Recorded({
        "networks": {"listing": ([], None)},
        "projects": {"listing": ([
            {"name": "default", "config": {"features.networks": "true"}},
            {"name": "tenant", "config": {"features.networks": "true"}},
            {"name": "plain", "config": {}}], None)}})
    assert SPEC.reads(reading, recorded) == {
        ("project", "tenant"): Get.listing("/1.0/networks", {"project": "tenant"}),
        ("pview", "tenant", "ov"): Get.of("/1.0/networks/ov", {"project": "tenant"})}
    item = {"name": "ov", "type": "ovn", "managed": True, "status": "Created",
            "config": {"network": "UPLINK", **MARKED}, "locations": ["node1"]}
    answers = Recorded({"networks": {
        "listing": ([], None), ("project", "tenant"): ([item, {"name": "lo", "managed": False}], None),
        ("pview", "tenant", "ov"): (item, "etag-ov")}})
    live = SPEC.assemble(reading, answers)
    assert list(live) == ["tenant/ov"]
    assert (live["tenant/ov"].project, live["tenant/ov"].etag) == ("tenant", "etag-ov")


def test_a_project_network_exports_with_its_project_and_plans_nothing_after():
    live = parse_network({"name": "ov", "type": "ovn", "managed": True, "status": "Created",
                          "config": {"network": "UPLINK", "bridge.mtu": "1442"}},
                         project="tenant")
    (entry,) = export_document(cluster(networks={"tenant/ov": live}))["networks"]
    assert entry == {"name": "ov", "project": "tenant", "type": "ovn",
                     "config": {"network": "UPLINK", "bridge.mtu": 1442}}


NIC_PROFILES = """\
        profiles:
          - {name: p1, project: tenant, devices: {eth0: {type: nic, network: ov}}}
          - {name: p2, project: plain, devices: {eth0: {type: nic, network: UPLINK}}}
          - {name: p3, project: tenant, devices: {eth0: {type: nic, network: UPLINK}}}
          - {name: p4, devices: {eth0: {type: nic, network: ov}}}
"""  # lines 15-18


def test_a_nic_names_its_projects_network_where_the_project_has_its_own():
    assert errors_of(doc(BASE + NIC_PROFILES)) == [
        (17, 'profiles[2].devices.eth0 uses network "UPLINK", which is not declared in networks '
             '(project "tenant", which has networks of its own)'),
        (18, 'profiles[3].devices.eth0 uses network "ov", which is not declared in networks'),
    ]
    assert errors_of(doc(BASE + """\
        instances:
          - {name: c1, project: tenant, image: NONE, devices: {eth0: {type: nic, network: UPLINK}}}
          - {name: c2, project: tenant, image: NONE, devices: {eth0: {type: nic, network: ov}}}
        """)) == [(15, 'instances[0] ("c1") device eth0 uses network "UPLINK", which is not '
                       'declared in networks (project "tenant", which has networks of its own)')]


def test_a_profile_on_a_project_network_is_created_after_it():
    desired, _ = load_text(doc(BASE + NIC_PROFILES.split("\n")[0] + "\n" + NIC_PROFILES.split("\n")[1] + "\n"))
    steps = {s.name: s for s in plan(desired, observed()).steps}
    net_step = steps["tenant/ov"]
    assert net_step.id in steps["tenant/p1"].depends_on


def test_an_ovn_network_is_created_after_the_cluster_wide_server_config():
    """The northbound connection written in the same apply comes first (seen live: LXD 5.0.2
    fails the create with "database connection failed" otherwise); a bridge does not wait."""
    file = loaded()
    wanted = desired(networks=file.networks, projects=file.projects,
                     config={"network.ovn.northbound_connection": "tcp:10.0.0.9:6641"})
    steps = {s.id: s for s in plan(wanted, cluster(projects=_projects())).steps}
    (server,) = [s for s in steps.values() if s.kind == Kind.SERVER]
    assert server.id in steps["network/tenant/ov/instantiate"].depends_on
    assert server.id not in steps["network/UPLINK/instantiate"].depends_on


def test_a_project_network_named_as_a_default_bridge_leaves_its_member_reads_alone():
    text = doc(BASE.replace("{name: ov, type: ovn", "{name: UPLINK, type: ovn")).replace(
        "ipv4.ovn.ranges: 10.1.0.100-10.1.0.120}}",
        "ipv4.ovn.ranges: 10.1.0.100-10.1.0.120}, members: {node1: {bridge.external_interfaces: eth9}}}")
    desired, _ = load_text(text)
    assert SPEC.keyed(desired) == {"UPLINK": {"node1"}}


def test_a_forward_on_a_network_declared_only_in_a_project_is_a_file_error():
    assert errors_of(doc(BASE + """\
        network_forwards:
          - {network: ov, listen_address: 192.0.2.5}
        """)) == [(15, 'network_forwards[0].network names network "ov", which is not declared '
                       "in networks")]
