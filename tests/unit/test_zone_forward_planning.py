"""Network zones, zone records and network forwards without a server: the file part, the planner
rules, the references networks make to zones, the reads and their assembly, and export."""

from __future__ import annotations

import textwrap

import pytest

from lxdplan.errors import PlanError, ValidationError
from lxdplan.exporter import export_document
from lxdplan.registry import find_spec
from lxdplan.kinds.network_forward import NetworkForward, ObservedNetworkForward
from lxdplan.kinds.network_zone import NetworkZone, ObservedNetworkZone
from lxdplan.kinds.network_zone_record import NetworkZoneRecord, ObservedNetworkZoneRecord
from lxdplan.livedata import Get, Reading, Recorded
from lxdplan.loader import load_text
from lxdplan.plan import Action, Kind
from lxdplan.planner import plan
from lxdplan.sensitive import sensitive_key
from plan_helpers import by_id, cluster, desired, live_net, net
from loaderkit import HEAD  # the loader tests' three-member header

ZONE, RECORD, FORWARD = Kind("network_zone"), Kind("network_zone_record"), Kind("network_forward")
MARKED = {"user.lxdplan.managed": "true"}
PORT = {"protocol": "tcp", "listen_port": "80", "target_address": "10.0.0.5"}


def errors_of(body: str) -> list[tuple[int, str]]:
    with pytest.raises(ValidationError) as info:
        load_text(HEAD + textwrap.dedent(body))
    return [(d.line, d.message) for d in info.value.diagnostics if d.severity == "error"]


def live_zone(name="lab.example", managed=True, **kw) -> ObservedNetworkZone:
    kw.setdefault("config", dict(MARKED) if managed else {})
    return ObservedNetworkZone(name=name, managed_by_lxdplan=managed, **kw)


def live_record(zone="lab.example", name="www", managed=True, **kw) -> ObservedNetworkZoneRecord:
    kw.setdefault("config", dict(MARKED) if managed else {})
    return ObservedNetworkZoneRecord(zone=zone, name=name, managed_by_lxdplan=managed, **kw)


def live_fwd(address="192.0.2.10", member="n1", managed=True, **kw) -> ObservedNetworkForward:
    kw.setdefault("config", dict(MARKED) if managed else {})
    return ObservedNetworkForward(network="br0", listen_address=address, member=member,
                                  managed_by_lxdplan=managed, **kw)


# -- the file --------------------------------------------------------------------------------


def test_the_three_sections_load():
    loaded, _ = load_text(HEAD + textwrap.dedent("""\
        networks:
          - {name: br0, config: {dns.zone.forward: lab.example}}
        network_zones:
          - {name: lab.example, config: {dns.nameservers: ns1.lab.example, peers.p1.address: 192.0.2.1}}
        network_zone_records:
          - {zone: lab.example, name: www, entries: [{type: A, value: 10.0.0.1, ttl: 0}, {type: TXT, value: hi, ttl: 60}]}
        network_forwards:
          - {network: br0, listen_address: 192.0.2.10, member: node2, ports: [{protocol: tcp, listen_port: 80, target_address: 10.0.0.5}]}
        """))
    assert loaded.network_zones[0].name == "lab.example"
    assert loaded.network_zone_records[0].entries == (
        {"type": "A", "value": "10.0.0.1"}, {"type": "TXT", "value": "hi", "ttl": 60})
    (fwd,) = loaded.network_forwards
    assert (fwd.member, fwd.ports, fwd.line) == ("node2", (PORT,), 14)


def test_file_errors_are_one_sentence_at_their_line():
    assert errors_of("""\
        networks:
          - {name: br0, config: {dns.zone.forward: "lab.example,nope"}}
          - {name: ov, type: ovn, config: {network: br0}}
        network_zones:
          - name: lab.example
            config: {dns.bogus: x}
          - {name: "bad..name"}
        network_zone_records:
          - {zone: lab.example, name: www, config: {ttl: "1"}, entries: [{type: A, value: 10.0.0.1}, {type: A, value: " 10.0.0.1"}]}
          - {zone: other.example, name: www}
        network_forwards:
          - {network: br0, listen_address: not-an-ip, member: node1}
          - {network: br0, listen_address: 192.0.2.1}
          - {network: br0, listen_address: 192.0.2.2, member: node9, config: {listen: x}}
          - {network: ov, listen_address: 192.0.2.3, member: node1}
          - {network: gone, listen_address: 192.0.2.4, member: node1}
        """) == [
        (8, 'networks[0].config["dns.zone.forward"] names network zone "nope", which is not '
            "declared in network_zones"),
        (9, 'networks[1].config.network names uplink network "br0", which declares no '
            "ipv4.ovn.ranges (the OVN router takes its uplink address from them)"),
        (12, '"dns.bogus" in network_zones[0].config is not a key a network zone takes '
             "(dns.nameservers, network.nat, peers.NAME.address, peers.NAME.key, user.*)"),
        (13, 'network_zones[1].name: "bad..name" is not a DNS zone name (dot-separated labels '
             "of 1 to 63 ASCII letters, digits, - and _)"),
        (15, '"ttl" in network_zone_records[0].config is not a user.* key (the only keys a '
             "zone record's config takes)"),
        (15, "network_zone_records[0].entries[1] repeats the type and value of "
             "network_zone_records[0].entries[0] (LXD refuses a duplicate record)"),
        (16, 'network_zone_records[1].zone names network zone "other.example", which is not '
             "declared in network_zones"),
        (18, 'network_forwards[0].listen_address: "not-an-ip" is not an IP address (a forward '
             "listens on one)"),
        (19, "network_forwards[1] needs member: a bridge's forward lives on one member of the "
             "cluster, and the file declares 3"),
        (20, 'network_forwards[2] is on member "node9", which is not in cluster.members'),
        (20, '"listen" in network_forwards[2].config is not a key a network forward takes '
             "(target_address, user.*)"),
        (21, 'network_forwards[3] is on OVN network "ov": an OVN network\'s forward is '
             "cluster-wide; remove member"),
        (21, 'network_forwards[3].listen_address: 192.0.2.3 is not in ipv4.routes of uplink '
             'network "br0" (an OVN network listens on its uplink\'s routes)'),
        (22, 'network_forwards[4].network names network "gone", which is not declared in '
             "networks"),
    ]


def test_unknown_keys_are_refused_by_the_schema_at_their_line():
    assert errors_of("""\
        networks:
          - {name: br0}
        network_zones:
          - {name: lab.example, recrods: []}
        network_forwards:
          - {network: br0, listen_address: 192.0.2.1, member: node1, port: []}
        """) == [
        (10, 'unknown key "recrods" in network_zones[0] (known keys: config, description, name)'),
        (12, 'unknown key "port" in network_forwards[0]; did you mean "ports"?')]


def test_a_single_member_file_puts_a_forward_on_that_member_and_peer_keys_are_secrets():
    loaded, _ = load_text("version: 1\ncluster:\n  members:\n    - {name: solo, address: "
                          '"10.0.0.1:8443"}\nnetworks:\n  - {name: br0}\nnetwork_forwards:\n'
                          "  - {network: br0, listen_address: 192.0.2.1}\n")
    assert loaded.network_forwards[0].member == "solo"
    assert sensitive_key("peers.p1.key") and not sensitive_key("peers.p1.address")
    exported = export_document(cluster(network_zones={"z.example": live_zone(
        "z.example", config={"peers.p1.key": "s3cret", "peers.p1.address": "192.0.2.1"})}))
    assert exported["network_zones"][0]["config"] == {
        "peers.p1.address": "192.0.2.1",
        "peers.p1.key": {"env": "LXDPLAN_NETWORK_ZONE_Z_EXAMPLE_PEERS_P1_KEY"}}


# -- planning --------------------------------------------------------------------------------


def test_a_zone_is_created_before_the_network_naming_it_and_deleted_after_it_stops():
    zone = NetworkZone("lab.example", config={"dns.nameservers": "ns1"})
    bridge = net("br0", config={"dns.zone.forward": "lab.example"})
    steps = by_id(plan(desired(networks=(bridge,), network_zones=(zone,)), cluster()))
    create = steps["network_zone/lab.example/create"]
    assert create.payload.config == {"dns.nameservers": "ns1", **MARKED}
    assert any("network_zone/lab.example/create" in s.depends_on
               for sid, s in steps.items() if sid.startswith("network/br0/"))

    observed = cluster(networks={"br0": live_net("br0", config={"dns.zone.reverse.ipv4": "lab.example"},
                                                 managed_by_lxdplan=True)},
                       network_zones={"lab.example": live_zone()},
                       network_zone_records={"lab.example/www": live_record()})
    steps = by_id(plan(desired(networks=(net("br0"),)), observed))
    delete = steps["network_zone/lab.example/delete"]
    assert "network/br0/update" in delete.depends_on
    assert "network_zone_record/lab.example/www/delete" in delete.depends_on


def test_an_incus_join_while_a_bridge_names_a_zone_is_explained():
    zone = NetworkZone("lab.example")
    bridge = net("br0", config={"dns.zone.forward": "lab.example"})
    result = plan(desired(networks=(bridge,), network_zones=(zone,), backend="incus"),
                  cluster(names=("n1",), backend="incus"))
    assert [d for d in result.diagnostics if "network zones" in d] == [
        "Incus refuses to join n2, n3 while network br0 names network zones (the joining member "
        "checks dns.zone.* against its own empty database): apply without those keys first and "
        "add them once the members have joined"]
    lxd = plan(desired(networks=(bridge,), network_zones=(zone,), backend="lxd"),
               cluster(names=("n1",), backend="lxd"))
    assert not [d for d in lxd.diagnostics if "network zones" in d]


def test_a_zone_an_unmanaged_network_names_is_not_deleted_under_it():
    observed = cluster(networks={"hand": live_net("hand", config={"dns.zone.forward": "lab.example"})},
                       network_zones={"lab.example": live_zone()})
    (step,) = plan(desired(), observed).steps
    assert step.blocked == ("network hand (not managed by lxdplan) names it, and LXD does not "
                            "delete a zone in use: remove it from that network's dns.zone.* keys")


def test_zone_config_update_keeps_the_mark_and_carries_the_etag():
    observed = cluster(network_zones={"lab.example": live_zone(
        config={**MARKED, "dns.nameservers": "a"}, etag="z1")})
    result = plan(desired(network_zones=(NetworkZone("lab.example", config={"dns.nameservers": "b"}),)),
                  observed)
    (step,) = result.steps
    assert (step.action, step.etag) == (Action.UPDATE, "z1")
    assert (step.before, step.after) == ({"config": {"dns.nameservers": "a"}},
                                         {"config": {"dns.nameservers": "b"}})
    assert step.payload.config == {"dns.nameservers": "b", **MARKED}


def test_record_entries_compare_in_order_and_a_hand_made_record_is_listed():
    a, b = {"type": "A", "value": "10.0.0.1"}, {"type": "A", "value": "10.0.0.2", "ttl": 60}
    observed = cluster(network_zones={"lab.example": live_zone(managed=False)},
                       network_zone_records={"lab.example/www": live_record(entries=(b, a)),
                                             "lab.example/mail": live_record(name="mail", managed=False)})
    record = NetworkZoneRecord("lab.example", "www", entries=(a, b))
    result = plan(desired(network_zones=(NetworkZone("lab.example"),),
                          network_zone_records=(record,)), observed)
    steps = by_id(result)
    step = steps["network_zone_record/lab.example/www/update"]
    assert step.before == {"entries": {"0": b, "1": a}} and step.after == {"entries": {"0": a, "1": b}}
    assert find_spec(RECORD).put_body(step, {})["entries"] == [a, b]
    assert [(u.kind, u.name) for u in result.unmanaged] == [(RECORD, "lab.example/mail")]
    # The zone itself was not made by lxdplan: its config is enforced, never its deletion.
    assert "network_zone/lab.example/delete" not in steps


def test_a_record_is_created_after_its_zone():
    steps = by_id(plan(desired(network_zones=(NetworkZone("lab.example"),),
                               network_zone_records=(NetworkZoneRecord("lab.example", "www"),)),
                       cluster()))
    assert "network_zone/lab.example/create" in steps[
        "network_zone_record/lab.example/www/create"].depends_on
    body = find_spec(RECORD).create_body(steps["network_zone_record/lab.example/www/create"])
    assert body == {"name": "www", "description": "", "config": MARKED, "entries": []}


def test_a_forward_is_created_on_its_member_after_its_network():
    fwd = NetworkForward("br0", "192.0.2.10", "n2", ports=(PORT,))
    steps = by_id(plan(desired(networks=(net("br0"),), network_forwards=(fwd,)), cluster()))
    step = steps["network_forward/br0/192.0.2.10/create/n2"]
    assert step.member == "n2"
    assert any(d.startswith("network/br0/") for d in step.depends_on)
    where = find_spec(FORWARD).where(step)
    assert (where.collection, where.path, where.params, where.member) == (
        "/1.0/networks/br0/forwards", "/1.0/networks/br0/forwards/192.0.2.10", {"target": "n2"}, "n2")
    assert find_spec(FORWARD).create_body(step) == {
        "listen_address": "192.0.2.10", "description": "", "config": MARKED, "ports": [PORT]}


def test_forward_drift_is_an_update_on_its_member_and_one_on_another_member_a_plan_error():
    observed = cluster(networks={"br0": live_net("br0")}, network_forwards={
        "br0/192.0.2.10@n1": live_fwd(config={**MARKED, "target_address": "10.0.0.9"}, etag="f1")})
    fwd = NetworkForward("br0", "192.0.2.10", "n1", ports=(PORT,))
    (step,) = plan(desired(networks=(net("br0"),), network_forwards=(fwd,)), observed).steps
    assert (step.action, step.member, step.etag) == (Action.UPDATE, "n1", "f1")
    assert step.before == {"config": {"target_address": "10.0.0.9"}}
    assert step.after == {"ports": {"0": PORT}}
    assert find_spec(FORWARD).where(step).params == {"target": "n1"}

    hand = cluster(networks={"br0": live_net("br0")},
                   network_forwards={"br0/192.0.2.10@n3": live_fwd(member="n3", managed=False)})
    with pytest.raises(PlanError, match="is on member n3, not n1: lxdplan does not move"):
        plan(desired(networks=(net("br0"),), network_forwards=(fwd,)), hand)


def test_a_dropped_managed_forward_is_deleted_on_its_member_and_a_hand_made_one_listed():
    observed = cluster(networks={"br0": live_net("br0")}, network_forwards={
        "br0/192.0.2.10@n2": live_fwd(member="n2"),
        "br0/192.0.2.11@n1": live_fwd("192.0.2.11", managed=False)})
    result = plan(desired(networks=(net("br0"),)), observed)
    (step,) = result.steps
    assert (step.id, step.member) == ("network_forward/br0/192.0.2.10/delete/n2", "n2")
    assert find_spec(FORWARD).where(step).params == {"target": "n2"}
    assert [(u.kind, u.name, u.note) for u in result.unmanaged] == [
        (FORWARD, "br0/192.0.2.11", "on n1")]


def test_a_forward_is_deleted_before_its_dropped_network():
    observed = cluster(networks={"br0": live_net("br0", managed_by_lxdplan=True)},
                       network_forwards={"br0/192.0.2.10@n2": live_fwd(member="n2")})
    steps = by_id(plan(desired(), observed))
    (net_delete,) = [s for sid, s in steps.items() if sid.startswith("network/br0/delete")]
    assert "network_forward/br0/192.0.2.10/delete/n2" in net_delete.depends_on


# -- reading it live, and export -------------------------------------------------------------


def reading() -> Reading:
    loaded, _ = load_text(HEAD)
    return Reading(desired=loaded, backend=None, members=("node1",))


def test_records_are_read_per_zone_and_forwards_per_created_bridge():
    recorded = Recorded({
        "network_zones": {"listing": ([{"name": "lab.example", "config": {}}], None)},
        "networks": {"listing": ([
            {"name": "br0", "type": "bridge", "managed": True, "status": "Created"},
            {"name": "eth0", "type": "physical", "managed": False, "status": ""},
            {"name": "br1", "type": "bridge", "managed": True, "status": "Pending"}], None)}})
    assert find_spec(RECORD).reads(reading(), recorded) == {
        ("zone", "lab.example"): Get.listing("/1.0/network-zones/lab.example/records")}
    assert find_spec(FORWARD).reads(reading(), recorded) == {
        ("network", "br0"): Get.listing("/1.0/networks/br0/forwards")}


def test_assemble_reads_location_ttl_and_marks():
    recorded = Recorded({
        "network_zone_records": {("zone", "lab.example"): ([{
            "name": "www", "description": "", "config": MARKED,
            "entries": [{"type": "A", "value": "10.0.0.1"}, {"type": "A", "value": "10.0.0.2", "ttl": 60}]}], None),
            ("etag", ("lab.example", "www")): ({}, "r1")},
        "network_forwards": {("network", "br0"): ([
            {"listen_address": "192.0.2.10", "location": "node2", "description": "", "config": {},
             "ports": [{**PORT, "target_port": "", "description": ""}]},
            {"listen_address": "192.0.2.11", "location": "none", "config": MARKED, "ports": []}], None)}})
    records = find_spec(RECORD).assemble(reading(), recorded)
    www = records["lab.example/www"]
    assert www.managed_by_lxdplan and www.etag == "r1" and www.entries[1]["ttl"] == 60
    forwards = find_spec(FORWARD).assemble(reading(), recorded)
    assert set(forwards) == {"br0/192.0.2.10@node2", "br0/192.0.2.11"}
    assert forwards["br0/192.0.2.10@node2"].ports == (PORT,)
    assert not forwards["br0/192.0.2.10@node2"].managed_by_lxdplan


def test_export_declares_exactly_what_plan_compares():
    observed = cluster(
        networks={"br0": live_net("br0", config={"dns.zone.forward": "lab.example"})},
        network_zones={"lab.example": live_zone(description="lab", config={
            **MARKED, "dns.nameservers": "ns1"})},
        network_zone_records={"lab.example/www": live_record(entries=(
            {"type": "A", "value": "10.0.0.1", "ttl": 60},))},
        network_forwards={"br0/192.0.2.10@n2": live_fwd(member="n2", ports=(PORT,))})
    doc = export_document(observed)
    assert doc["network_zones"] == [{"name": "lab.example", "description": "lab",
                                     "config": {"dns.nameservers": "ns1"}}]
    assert doc["network_zone_records"] == [{"zone": "lab.example", "name": "www", "entries": [
        {"type": "A", "value": "10.0.0.1", "ttl": 60}]}]
    assert doc["network_forwards"] == [{"network": "br0", "listen_address": "192.0.2.10",
                                        "member": "n2", "ports": [PORT]}]
    result = plan(desired(networks=(net("br0", config={"dns.zone.forward": "lab.example"}),),
                          network_zones=(NetworkZone("lab.example", "lab", {"dns.nameservers": "ns1"}),),
                          network_zone_records=(NetworkZoneRecord("lab.example", "www", entries=(
                              {"type": "A", "value": "10.0.0.1", "ttl": 60},)),),
                          network_forwards=(NetworkForward("br0", "192.0.2.10", "n2", ports=(PORT,)),)),
                  observed)
    assert [s.id for s in result.steps] == []


def test_a_saved_plan_reads_the_new_payloads_back_typed(tmp_path):
    from lxdplan.state.observed import Observed
    from lxdplan.state.saved import load_plan, save_plan

    result = plan(desired(networks=(net("br0"),),
                          network_zones=(NetworkZone("lab.example"),),
                          network_zone_records=(NetworkZoneRecord("lab.example", "www", entries=(
                              {"type": "A", "value": "10.0.0.1", "ttl": 60},)),),
                          network_forwards=(NetworkForward("br0", "192.0.2.10", "n2", ports=(PORT,)),)),
                  cluster())
    (tmp_path / "lxdplan.yaml").write_text("version: 1\n")
    save_plan(result, Observed(clustered=True), tmp_path / "lxdplan.yaml", tmp_path / "plan.json")
    saved = by_id(load_plan(tmp_path / "plan.json").plan)
    for sid in ("network_zone/lab.example/create", "network_zone_record/lab.example/www/create",
                "network_forward/br0/192.0.2.10/create/n2"):
        assert saved[sid] == by_id(result)[sid]
