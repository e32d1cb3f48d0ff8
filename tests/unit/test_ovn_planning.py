"""The OVN kinds without a server: forwards of OVN networks (cluster-wide, listening in the
uplink's routes) and network peers (file rules, planning, requests, reads, export)."""

from __future__ import annotations

import dataclasses

import pytest

from loaderkit import doc, errors_of
from lxdplan.errors import PlanError
from lxdplan.exporter import export_document
from lxdplan.kinds.network_forward import NetworkForward, ObservedNetworkForward
from lxdplan.kinds.network_peer import NetworkPeer, ObservedNetworkPeer
from lxdplan.livedata import Get, Reading, Recorded
from lxdplan.loader import load_text
from lxdplan.plan import Action, Kind
from lxdplan.planner import plan
from lxdplan.registry import find_spec
from plan_helpers import by_id, cluster, desired, live_net, net

FORWARD, PEER = Kind("network_forward"), Kind("network_peer")
MARKED = {"user.lxdplan.managed": "true"}
NETS = """\
        networks:
          - {name: UPLINK, config: {ipv4.address: 10.1.0.1/24, ipv4.routes: "192.0.2.0/27", ipv4.ovn.ranges: 10.1.0.100-10.1.0.120}}
          - {name: ov, type: ovn, config: {network: UPLINK}}
          - {name: ov2, type: ovn, config: {network: UPLINK}}
"""  # lines 7-10


def ovn(name="ov", **kw):
    return net(name, type="ovn", config={"network": "UPLINK"}, **kw)


def live_ovn(name="ov", **kw):
    kw.setdefault("config", {"network": "UPLINK"})
    return dataclasses.replace(live_net(name, members=(), **kw), type="ovn")


def reading() -> Reading:
    loaded, _ = load_text(doc())
    return Reading(desired=loaded, backend=None, members=("node1",))


# -- forwards on OVN networks ----------------------------------------------------------------


def test_an_ovn_forward_takes_no_member_on_a_three_member_file():
    loaded, _ = load_text(doc(NETS + """\
        network_forwards:
          - {network: ov, listen_address: 192.0.2.5, config: {target_address: 10.0.0.5}}
        """))
    (fwd,) = loaded.network_forwards
    assert (fwd.network, fwd.member, fwd.line) == ("ov", "", 12)


def test_ovn_forward_file_errors_name_their_line():
    assert errors_of(doc(NETS + """\
          - {name: eth, type: physical}
        network_forwards:
          - {network: ov, listen_address: 192.0.2.5, member: node1}
          - {network: ov, listen_address: 198.51.100.1}
          - {network: eth, listen_address: 192.0.2.6, member: node1}
        """)) == [
        (13, 'network_forwards[0] is on OVN network "ov": an OVN network\'s forward is '
             "cluster-wide; remove member"),
        (14, 'network_forwards[1].listen_address: 198.51.100.1 is not in ipv4.routes of uplink '
             'network "UPLINK" (an OVN network listens on its uplink\'s routes)'),
        (15, 'network_forwards[2] is on network "eth" of type physical; lxdplan manages '
             "forwards of bridges and OVN networks"),
    ]


def test_an_ovn_forward_is_created_with_no_target_after_its_network():
    fwd = NetworkForward("ov", "192.0.2.5", config={"target_address": "10.0.0.5"})
    steps = by_id(plan(desired(networks=(ovn(),), network_forwards=(fwd,)), cluster()))
    step = steps["network_forward/ov/192.0.2.5/create"]
    assert step.member is None
    assert any(d.startswith("network/ov/") for d in step.depends_on)
    where = find_spec(FORWARD).where(step)
    assert (where.path, where.params, where.member) == (
        "/1.0/networks/ov/forwards/192.0.2.5", {}, None)


def test_an_ovn_forward_drift_is_an_update_without_target():
    observed = cluster(networks={"ov": live_ovn(managed_by_lxdplan=True)}, network_forwards={
        "ov/192.0.2.5": ObservedNetworkForward("ov", "192.0.2.5", config={
            **MARKED, "target_address": "10.0.0.9"}, managed_by_lxdplan=True, etag="e")})
    fwd = NetworkForward("ov", "192.0.2.5", config={"target_address": "10.0.0.5"})
    (step,) = plan(desired(networks=(ovn(),), network_forwards=(fwd,)), observed).steps
    assert (step.action, step.member, step.etag) == (Action.UPDATE, None, "e")
    assert find_spec(FORWARD).where(step).params == {}


def test_forwards_are_read_for_created_bridges_and_ovn_networks():
    recorded = Recorded({"networks": {"listing": ([
        {"name": "br0", "type": "bridge", "managed": True, "status": "Created"},
        {"name": "ov", "type": "ovn", "managed": True, "status": "Created"},
        {"name": "ph", "type": "physical", "managed": True, "status": "Created"}], None)}})
    assert find_spec(FORWARD).reads(reading(), recorded) == {
        ("network", "br0"): Get.listing("/1.0/networks/br0/forwards"),
        ("network", "ov"): Get.listing("/1.0/networks/ov/forwards")}
    assert find_spec(PEER).reads(reading(), recorded) == {
        ("network", "ov"): Get.listing("/1.0/networks/ov/peers")}


# -- network peers ---------------------------------------------------------------------------


def test_peers_load_and_their_file_errors_name_their_line():
    loaded, _ = load_text(doc(NETS + """\
        network_peers:
          - {network: ov, name: to-ov2, target_network: ov2, config: {user.a: b}}
        """))
    assert loaded.network_peers == (
        NetworkPeer("ov", "to-ov2", "ov2", "default", "", {"user.a": "b"}, 12),)
    assert errors_of(doc(NETS + """\
        network_peers:
          - {network: UPLINK, name: p1, target_network: ov}
          - {network: ov, name: p2, target_network: ov}
          - {network: ov, name: p3, target_network: UPLINK, config: {size: "1"}}
          - {network: gone, name: p4, target_network: ov}
          - {network: ov, name: p5, target_network: elsewhere, target_project: other}
          - {network: ov, name: p5, target_network: ov2}
        """)) == [
        (12, 'network_peers[0] is on network "UPLINK" of type bridge; a network peer links OVN '
             "networks"),
        (13, 'network_peers[1] peers network "ov" with itself'),
        (14, 'network_peers[2] targets network "UPLINK" of type bridge; a peer targets an OVN '
             "network"),
        (14, '"size" in network_peers[2].config is not a key a network peer takes (user.*)'),
        (15, 'network_peers[3].network names network "gone", which is not declared in networks'),
        (17, "network peer is declared twice (network_peers[5].name repeats "
             "network_peers[4].name, line 16)"),
    ]


def test_a_peer_is_created_after_both_networks_and_deleted_before_them():
    peer = NetworkPeer("ov", "to-ov2", "ov2", description="east-west")
    steps = by_id(plan(desired(networks=(ovn(), ovn("ov2")), network_peers=(peer,)), cluster()))
    step = steps["network_peer/ov/to-ov2/create"]
    assert any(d.startswith("network/ov/") for d in step.depends_on)
    assert any(d.startswith("network/ov2/") for d in step.depends_on)
    spec = find_spec(PEER)
    where = spec.where(step)
    assert (where.collection, where.path, where.params) == (
        "/1.0/networks/ov/peers", "/1.0/networks/ov/peers/to-ov2", {})
    assert spec.create_body(step) == {
        "name": "to-ov2", "description": "east-west", "config": MARKED,
        "target_project": "default", "target_network": "ov2"}

    observed = cluster(networks={"ov": live_ovn(managed_by_lxdplan=True),
                                 "ov2": live_ovn("ov2", managed_by_lxdplan=True)},
                       network_peers={"ov/to-ov2": ObservedNetworkPeer(
                           "ov", "to-ov2", "ov2", config=dict(MARKED), managed_by_lxdplan=True)})
    steps = by_id(plan(desired(), observed))
    for gone in ("ov", "ov2"):
        (delete,) = [s for sid, s in steps.items() if sid.startswith(f"network/{gone}/delete")]
        assert "network_peer/ov/to-ov2/delete" in delete.depends_on


def test_peer_drift_is_an_update_and_a_changed_target_a_plan_error():
    live = ObservedNetworkPeer("ov", "p", "ov2", config={**MARKED, "user.x": "hand"},
                               status="Pending", managed_by_lxdplan=True, etag="p1")
    observed = cluster(networks={"ov": live_ovn(), "ov2": live_ovn("ov2")},
                       network_peers={"ov/p": live})
    nets = (ovn(), ovn("ov2"), ovn("ov3"))
    (step,) = plan(desired(networks=nets[:2], network_peers=(NetworkPeer("ov", "p", "ov2"),)),
                   observed).steps
    assert (step.action, step.etag, step.before) == (Action.UPDATE, "p1",
                                                     {"config": {"user.x": "hand"}})
    assert step.payload.config == MARKED
    with pytest.raises(PlanError, match="targets default/ov2, not default/ov3: a peer's target "
                                        "cannot change"):
        plan(desired(networks=nets, network_peers=(NetworkPeer("ov", "p", "ov3", line=9),)),
             observed)


def test_peers_assemble_and_export_as_declared():
    recorded = Recorded({"network_peers": {
        ("network", "ov"): ([
            {"name": "p", "description": "d", "config": MARKED, "target_project": "default",
             "target_network": "ov2", "status": "Created"},
            {"name": "q", "config": {}, "target_project": "other", "target_network": "x",
             "status": "Pending"}], None),
        ("etag", ("ov", "p")): ({}, "e1")}})
    peers = find_spec(PEER).assemble(reading(), recorded)
    assert set(peers) == {"ov/p", "ov/q"}
    assert peers["ov/p"].managed_by_lxdplan and peers["ov/p"].etag == "e1"
    assert not peers["ov/q"].managed_by_lxdplan
    exported = export_document(cluster(network_peers=peers))
    assert exported["network_peers"] == [
        {"network": "ov", "name": "p", "target_network": "ov2", "description": "d"},
        {"network": "ov", "name": "q", "target_network": "x", "target_project": "other"}]


# -- network load balancers ------------------------------------------------------------------

LB = Kind("network_load_balancer")
BACKEND = {"name": "b1", "target_address": "10.0.0.5", "target_port": "8080"}
LB_PORT = {"protocol": "tcp", "listen_port": "80", "target_backend": ["b1"]}


def with_lb_extension(observed):
    return dataclasses.replace(observed, api_extensions=("network_load_balancer",))


def test_load_balancers_load_and_their_file_errors_name_their_line():
    loaded, _ = load_text(doc(NETS + """\
        network_load_balancers:
          - network: ov
            listen_address: 192.0.2.7
            backends: [{name: b1, target_address: 10.0.0.5, target_port: 8080}]
            ports: [{protocol: tcp, listen_port: 80, target_backend: [b1]}]
        """))
    (lb,) = loaded.network_load_balancers
    assert (lb.backends, lb.ports, lb.line) == ((BACKEND,), (LB_PORT,), 12)
    assert errors_of(doc(NETS + """\
        network_load_balancers:
          - {network: UPLINK, listen_address: 192.0.2.8}
          - {network: ov, listen_address: 198.51.100.8, config: {x: "1"}}
          - network: ov
            listen_address: 192.0.2.9
            backends: [{name: b1, target_address: 10.0.0.5}, {name: b1, target_address: 10.0.0.6}]
            ports: [{protocol: tcp, listen_port: 80, target_backend: [b2]}]
        """)) == [
        (12, 'network_load_balancers[0] is on network "UPLINK" of type bridge; lxdplan manages '
             "load balancers of OVN networks"),
        (13, 'network_load_balancers[1].listen_address: 198.51.100.8 is not in ipv4.routes of '
             'uplink network "UPLINK" (an OVN network listens on its uplink\'s routes)'),
        (13, '"x" in network_load_balancers[1].config is not a key a network load balancer '
             "takes (user.*)"),
        (16, 'network_load_balancers[2].backends[1] repeats backend "b1"'),
        (17, 'network_load_balancers[2].ports[0].target_backend names backend "b2", which is '
             "not in network_load_balancers[2].backends"),
    ]


def test_a_load_balancer_is_created_after_its_network_with_both_lists():
    from lxdplan.kinds.network_load_balancer import NetworkLoadBalancer
    lb = NetworkLoadBalancer("ov", "192.0.2.7", backends=(BACKEND,), ports=(LB_PORT,))
    steps = by_id(plan(desired(networks=(ovn(),), network_load_balancers=(lb,)),
                       with_lb_extension(cluster())))
    step = steps["network_load_balancer/ov/192.0.2.7/create"]
    assert any(d.startswith("network/ov/") for d in step.depends_on)
    spec = find_spec(LB)
    assert spec.where(step).path == "/1.0/networks/ov/load-balancers/192.0.2.7"
    assert spec.create_body(step) == {"listen_address": "192.0.2.7", "description": "",
                                      "config": MARKED, "backends": [BACKEND], "ports": [LB_PORT]}


def test_a_server_without_the_extension_is_one_plan_error_naming_the_member():
    from lxdplan.kinds.network_load_balancer import NetworkLoadBalancer
    lb = NetworkLoadBalancer("ov", "192.0.2.7", line=12)
    observed = dataclasses.replace(cluster(), config_member="n2")
    with pytest.raises(PlanError) as info:
        plan(desired(networks=(ovn(),), network_load_balancers=(lb,)), observed)
    assert str(info.value) == (
        "lxdplan.yaml:12: network load balancer ov/192.0.2.7 needs the network_load_balancer "
        "API extension, which the server of member n2 (lxd 5.0.2) does not have")


def test_load_balancer_drift_in_either_list_is_one_update_sending_both():
    from lxdplan.kinds.network_load_balancer import NetworkLoadBalancer, ObservedNetworkLoadBalancer
    live = ObservedNetworkLoadBalancer(
        "ov", "192.0.2.7", config=dict(MARKED), backends=({**BACKEND, "target_port": "9"},),
        ports=(LB_PORT,), managed_by_lxdplan=True, etag="l1")
    observed = with_lb_extension(cluster(networks={"ov": live_ovn()},
                                         network_load_balancers={"ov/192.0.2.7": live}))
    lb = NetworkLoadBalancer("ov", "192.0.2.7", backends=(BACKEND,), ports=(LB_PORT,))
    (step,) = plan(desired(networks=(ovn(),), network_load_balancers=(lb,)), observed).steps
    assert (step.action, step.etag) == (Action.UPDATE, "l1")
    assert step.before == {"backends": {"0": {**BACKEND, "target_port": "9"}}}
    assert step.after == {"backends": {"0": BACKEND}}
    spec = find_spec(LB)
    body = spec.put_body(step, {})
    assert body == {"description": "", "config": MARKED, "backends": [BACKEND],
                    "ports": [LB_PORT]}
    assert spec.holds({"description": "", "config": MARKED, "backends": [BACKEND],
                       "ports": [{**LB_PORT, "description": ""}]}, body)
    assert not spec.holds({"description": "", "config": MARKED, "backends": [],
                           "ports": [LB_PORT]}, body)


class _Facts:
    name = "incus"
    all_projects_profiles = True

    def __init__(self, *extensions: str) -> None:
        self.extensions = extensions

    def has(self, extension: str) -> bool:
        return extension in self.extensions


def test_load_balancers_are_read_only_where_the_server_has_them_and_export():
    recorded = Recorded({"networks": {"listing": ([
        {"name": "ov", "type": "ovn", "managed": True, "status": "Created"},
        {"name": "br0", "type": "bridge", "managed": True, "status": "Created"}], None)}})
    loaded, _ = load_text(doc())
    spec = find_spec(LB)
    assert spec.reads(Reading(desired=loaded, backend=_Facts(), members=("n1",)), recorded) == {}
    with_ext = Reading(desired=loaded, backend=_Facts("network_load_balancer"), members=("n1",))
    assert spec.reads(with_ext, recorded) == {
        ("network", "ov"): Get.listing("/1.0/networks/ov/load-balancers")}
    answers = Recorded({"network_load_balancers": {("network", "ov"): ([{
        "listen_address": "192.0.2.7", "description": "", "config": {"user.a": "b"},
        "backends": [{**BACKEND, "description": ""}],
        "ports": [{**LB_PORT, "description": ""}]}], None)}})
    lbs = spec.assemble(with_ext, answers)
    assert lbs["ov/192.0.2.7"].backends == (BACKEND,) and not lbs["ov/192.0.2.7"].managed_by_lxdplan
    assert export_document(cluster(network_load_balancers=lbs))["network_load_balancers"] == [
        {"network": "ov", "listen_address": "192.0.2.7", "config": {"user.a": "b"},
         "backends": [BACKEND], "ports": [LB_PORT]}]


def test_mutually_peered_networks_are_deleted_after_their_peers_without_a_cycle():
    def peered(name, other):
        return live_ovn(name, managed_by_lxdplan=True, used_by=(f"/1.0/networks/{other}",))
    peers = {"ov/a": ObservedNetworkPeer("ov", "a", "ov2", config=dict(MARKED), status="Created",
                                         managed_by_lxdplan=True),
             "ov2/b": ObservedNetworkPeer("ov2", "b", "ov", config=dict(MARKED), status="Created",
                                          managed_by_lxdplan=True)}
    observed = cluster(networks={"ov": peered("ov", "ov2"), "ov2": peered("ov2", "ov")},
                       network_peers=peers)
    steps = by_id(plan(desired(), observed))
    for gone in ("ov", "ov2"):
        (delete,) = [s for sid, s in steps.items() if sid.startswith(f"network/{gone}/delete")]
        assert {"network_peer/ov/a/delete", "network_peer/ov2/b/delete"} <= set(delete.depends_on)
        assert not any(d.startswith("network/") for d in delete.depends_on)
        assert delete.blocked is None

    hand = dict(peers, **{"ov2/b": dataclasses.replace(peers["ov2/b"], managed_by_lxdplan=False,
                                                      config={})})
    observed = cluster(networks={"ov": peered("ov", "ov2"), "ov2": live_ovn("ov2")},
                       network_peers=hand)
    steps = by_id(plan(desired(), observed))
    (delete,) = [s for sid, s in steps.items() if sid.startswith("network/ov/delete")]
    assert delete.blocked == ("network peer ov2/b links it, and the server does not delete a "
                              "peered network: drop the peer (or delete it by hand) first")


def test_an_ovn_uplink_is_a_bridge_with_ovn_ranges_or_a_physical_network():
    assert errors_of(doc("""\
        networks:
          - {name: br0, config: {ipv4.address: 10.1.0.1/24}}
          - {name: br6, config: {ipv4.address: none, ipv6.address: fd00::1/64}}
          - {name: ph, type: physical}
          - {name: ov, type: ovn, config: {network: br0}}
          - {name: ov2, type: ovn, config: {network: ov}}
          - {name: ov3, type: ovn, config: {network: br6}}
          - {name: ov4, type: ovn, config: {network: ph}}
        """)) == [
        (11, 'networks[3].config.network names uplink network "br0", which declares no '
             "ipv4.ovn.ranges (the OVN router takes its uplink address from them)"),
        (12, 'networks[4].config.network names network "ov" of type ovn; an OVN network\'s '
             "uplink is a bridge or a physical network"),
    ]
