"""References between objects order the steps: what is named comes first, users are deleted first."""

from __future__ import annotations

from lxdplan import references
from lxdplan.kinds.cluster_group import ClusterGroup
from lxdplan.kinds.network import Network, ObservedNetwork
from lxdplan.kinds.profile import Profile, ObservedProfile
from lxdplan.kinds.project import Project, ObservedProject
from lxdplan.kinds.storage_volume import StorageVolume
from lxdplan.plan import Kind
from lxdplan.planner import plan
from plan_helpers import by_id, cluster, desired, fresh, live_net, live_pool, net, pool


def order(result) -> list[str]:
    return [s.id for s in result.steps]


def before(result, first: str, then: str) -> bool:
    ids = order(result)
    return ids.index(first) < ids.index(then)


def test_the_table_reads_every_kind_of_reference():
    refs = references.project_refs({
        "restricted.networks.uplinks": "up1, up2",
        "restricted.networks.subnets": "up3:192.0.2.0/24,up1:198.51.100.0/24",
        "restricted.cluster.groups": "gpu",
        "restricted.networks.zones": "zone1",
        "restricted.networks.access": "br9",
    })
    assert [(r.kind, r.name, r.certain) for r in refs] == [
        (Kind.NETWORK, "up1", True), (Kind.NETWORK, "up2", True), (Kind.NETWORK, "br9", False),
        (Kind.CLUSTER_GROUP, "gpu", True), (Kind.NETWORK, "up3", True), (Kind.NETWORK, "up1", True)]
    assert [(r.name, r.certain, r.at) for r in references.network_refs(
        "ovn1", {"network": "uplink", "ipv4.ovn.ranges": "10.0.0.10-10.0.0.20"},
        {"n1": {"parent": "br0"}})] == [("uplink", True, ("config", "network")),
                                        ("br0", False, ("members", "n1", "parent"))]
    devices = {"root": {"type": "disk", "path": "/", "pool": "data"},
               "srv": {"type": "disk", "path": "/srv", "pool": "data", "source": "custom/web"},
               "eth0": {"type": "nic", "network": "br0"},
               "eth1": {"type": "nic", "nictype": "bridged", "parent": "hostbr"},
               "eth2": {"type": "nic", "nictype": "macvlan", "parent": "eth0"}}
    assert [(r.kind, r.name, r.certain) for r in references.profile_refs("p", devices)] == [
        (Kind.PROJECT, "p", True), (Kind.STORAGE_POOL, "data", True),
        (Kind.STORAGE_POOL, "data", True), (Kind.STORAGE_VOLUME, "data/web", False),
        (Kind.NETWORK, "br0", True), (Kind.NETWORK, "p/br0", False),  # p's own, if it has
        (Kind.NETWORK, "hostbr", False)]


def test_project_naming_a_new_network_and_group_is_created_after_them():
    want = desired(
        cluster_groups=(ClusterGroup("gpu"),),
        networks=(net("peerup", config={"ipv4.routes": "192.0.2.0/24"}),),
        projects=(Project("p", config={"restricted.networks.subnets": "peerup:192.0.2.0/24",
                                       "restricted.cluster.groups": "gpu"}),),
    )
    for observed in (cluster(), fresh()):
        result = plan(want, observed)
        steps = by_id(result)
        assert {"network/peerup/instantiate", "cluster_group/gpu/create"} <= set(
            steps["project/p/create"].depends_on)
        assert before(result, "network/peerup/instantiate", "project/p/create")


def test_ovn_network_comes_after_its_uplink_and_a_profile_after_its_volume():
    want = desired(
        storage_pools=(pool(),),
        networks=(Network("ovn1", type="ovn", config={"network": "uplink"}),
                  Network("uplink", type="physical", members={"n1": {"parent": "eth1"}})),
        storage_volumes=(StorageVolume("data", "web", member="n1"),
                         StorageVolume("data", "web", member="n2")),
        profiles=(Profile("web", devices={"srv": {"type": "disk", "path": "/srv", "pool": "data",
                                                  "source": "web"}}),),
    )
    result = plan(want, cluster())
    assert before(result, "network/uplink/instantiate", "network/ovn1/instantiate")
    deps = by_id(result)["profile/web/create"].depends_on
    assert {"storage_pool/data/instantiate", "storage_volume/data/web/create/n1",
            "storage_volume/data/web/create/n2"} <= set(deps)


def test_a_change_that_starts_using_a_changed_object_waits_for_that_change():
    live = ObservedProject("p", config={}, managed_by_lxdplan=True)
    want = desired(networks=(net("peerup", config={"ipv4.routes": "192.0.2.0/24"}),),
                   projects=(Project("p", config={"restricted.networks.subnets":
                                                  "peerup:192.0.2.0/24"}),))
    result = plan(want, cluster(networks={"peerup": live_net("peerup")}, projects={"p": live}))
    assert "network/peerup/update" in by_id(result)["project/p/update"].depends_on
    assert before(result, "network/peerup/update", "project/p/update")


def test_users_are_deleted_or_changed_before_what_they_used():
    observed = cluster(
        storage_pools={"old": live_pool("old", managed_by_lxdplan=True)},
        networks={"peerup": live_net("peerup", managed_by_lxdplan=True),
                  "keep": live_net("keep", managed_by_lxdplan=True)},
        projects={"p": ObservedProject("p", config={"restricted.networks.uplinks": "peerup"},
                                       managed_by_lxdplan=True)},
        profiles={"default/web": ObservedProfile("web", managed_by_lxdplan=True, devices={
            "root": {"type": "disk", "path": "/", "pool": "old"}})},
    )
    want = desired(networks=(net("keep"),), profiles=(Profile("web"),))
    result = plan(want, observed)
    steps = by_id(result)
    assert "project/p/delete" in steps["network/peerup/delete"].depends_on
    assert before(result, "project/p/delete", "network/peerup/delete")
    # the profile stays but stops using the pool: its update goes before the pool's delete
    assert "profile/web/update" in steps["storage_pool/old/delete"].depends_on
    assert before(result, "profile/web/update", "storage_pool/old/delete")
    assert "network/keep/delete" not in steps


def test_a_user_of_a_blocked_object_is_blocked_too():
    from plan_helpers import live_members
    observed = cluster(members=live_members("n1", "n2", "n3", status={"n3": "Offline"}))
    want = desired(networks=(net("peerup"),),
                   projects=(Project("p", config={"restricted.networks.uplinks": "peerup"}),))
    steps = by_id(plan(want, observed))
    assert steps["network/peerup/instantiate"].blocked
    assert steps["project/p/create"].blocked == ("waits for network/peerup/instantiate, which "
                                                 "is blocked")


def test_unrelated_objects_gain_no_edges():
    observed = cluster(networks={"other": ObservedNetwork("other", "bridge",
                                                          managed_by_lxdplan=True)})
    result = plan(desired(projects=(Project("p"),)), observed)
    assert by_id(result)["network/other/delete"].depends_on == ()
    assert by_id(result)["project/p/create"].depends_on == ()


def test_only_pools_and_networks_wait_for_a_removal():
    from plan_helpers import live_members
    observed = cluster(("n1", "n2", "n3", "n4"), members=live_members("n1", "n2", "n3", "n4"))
    want = desired(networks=(net("br1"),), projects=(Project("p"),),
                   profiles=(Profile("web", devices={"eth0": {"type": "nic", "network": "br1"}}),))
    steps = by_id(plan(want, observed))
    assert "member/n4/remove" in steps["network/br1/instantiate"].depends_on
    assert steps["project/p/create"].depends_on == ()  # a failed removal does not hold it
    assert steps["profile/web/create"].depends_on == ("network/br1/instantiate",)


from loaderkit import HEAD  # noqa: E402  (the loader tests' three-member header)


def diagnostics(body: str) -> list[tuple[int | None, str, str]]:
    """Every error and warning of the file, as (line, severity, message), sorted by line."""
    from lxdplan.errors import ValidationError
    from lxdplan.loader import load_text

    try:
        _desired, found = load_text(HEAD + body)
    except ValidationError as exc:
        found = exc.diagnostics
    return sorted((d.line, d.severity, d.message) for d in found)


def test_the_validator_refuses_certain_references_to_undeclared_objects():
    found = diagnostics(
        "networks:\n"
        "  - {name: peerup}\n"                                            # 8
        "  - {name: ovn1, type: ovn, config: {network: uplink}}\n"        # 9
        "projects:\n"
        "  - name: p\n"
        "    config:\n"
        "      restricted.networks.uplinks: peerup,nope\n"                # 13
        "      restricted.networks.subnets: 'gone:192.0.2.0/24'\n"       # 14
        "      restricted.cluster.groups: default,gpu\n"                  # 15
        "      restricted.networks.access: project-own-net\n"             # 16: not certain
    )
    assert found == [
        (9, "error", 'networks[1].config.network names network "uplink", which is not declared '
                     "in networks"),
        (13, "error", 'projects[0].config["restricted.networks.uplinks"] names network "nope", '
                      "which is not declared in networks"),
        (14, "error", 'projects[0].config["restricted.networks.subnets"] names network "gone", '
                      "which is not declared in networks"),
        (15, "error", 'projects[0].config["restricted.cluster.groups"] names cluster group "gpu", '
                      "which is not declared in cluster_groups"),
    ]


def test_a_profile_naming_an_undeclared_volume_is_a_warning():
    found = diagnostics(
        "storage_pools:\n  - {name: data, driver: dir}\n"
        "storage_volumes:\n  - {pool: data, name: web, member: node1}\n"
        "profiles:\n  - name: p\n    devices:\n"
        "      a: {type: disk, path: /a, pool: data, source: web}\n"      # 14: declared
        "      b: {type: disk, path: /b, pool: data, source: logs}\n"     # 15
    )
    assert found == [(15, "warning", 'profiles[0].devices.b.source uses storage volume "logs" of '
                                     'pool "data", which is not declared in storage_volumes: it '
                                     "must exist in the pool before the profile is applied")]
