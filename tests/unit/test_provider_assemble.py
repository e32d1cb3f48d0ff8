"""Assembly of an observed cluster (``lxdplan.providers.assemble`` and each kind's ``assemble``
hook) from answers recorded on real LXD 5.0.2 and Incus 6.0.4 (the recordings of
test_provider_parse): which answers count, with no server and no futures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lxdplan import keys
from lxdplan.registry import find_spec
from lxdplan.kinds.image import OWNER_KEY as IMAGES_KEY
from lxdplan.livedata import Reading, Recorded
from lxdplan.providers.assemble import Answers, assemble
from lxdplan.providers.backend import Backend
from recorded import BACKENDS, rec

VM = json.loads((Path(__file__).parent / "data" / "instances" / "vm.json").read_text())


@pytest.fixture(params=sorted(BACKENDS))
def answers(request) -> Answers:
    v = request.param
    server = rec(v, "server")
    lock = {"name": keys.LOCK_PROFILE, "project": "default", "config": {}, "devices": {}}
    return Answers(
        backend=Backend.from_server(server[0]), server=server, reader="node1", standalone={},
        members=rec(v, "members")[0],
        member_servers={"node2": rec(v, "server_node2")},
        member_etags={"node1": '"m1"'},
        objects=Recorded({
            "cluster_groups": {"listing": rec(v, "groups"), ("etag", ("gpu",)): (None, '"g1"')},
            "storage_pools": {
                "listing": rec(v, "pools"),
                ("view", "data", "node2"): rec(v, "pool_data_node2"),
                ("view", "pend", "node1"): rec(v, "pool_pend_node1"),
                # read ahead of the listing on a member the pool is not on: does not count
                ("view", "pend", "node3"): rec(v, "pool_data_node2"),
            },
            "networks": {
                "listing": rec(v, "networks"),
                ("view", "hcbr1", "node1"): rec(v, "network_hcbr1_node1"),
                ("view", "hcbr1", "node3"): (rec(v, "network_hcbr1_node3")[0], '"other"'),
            },
            "profiles": {
                "listing": (rec(v, "profiles")[0] + [lock], None),
                ("project", "staging"): rec(v, "profiles_staging"),
            },
            "projects": {"listing": rec(v, "projects"),
                         ("etag", ("staging",)): (None, '"p1"')},
            "storage_volumes": {
                ("volumes", "data"): rec(v, "volumes_data"),
                ("etag", ("default", "data", "vol1", "custom", "node2")): (None, '"v1"'),
            },
        }),
    )


def test_members_take_their_own_answer_when_there_is_one(answers):
    observed = assemble(answers)
    assert observed.clustered and observed.config_member == "node1"
    assert observed.members["node2"].version and observed.members["node2"].local_etag
    assert "core.https_address" in observed.members["node2"].local_config
    assert observed.members["node1"].etag == '"m1"'
    # node3 did not answer: no version, no local keys (nothing is planned on them)
    assert observed.members["node3"].version == "" and observed.members["node3"].local_config == {}


def test_pools_take_each_members_view_where_the_pool_is(answers):
    observed = assemble(answers)
    assert observed.storage_pools["data"].members["node2"]["source"]
    assert set(observed.storage_pools["data"].members) == {"node2"}
    assert observed.storage_pools["pend"].status == "Pending"
    assert set(observed.storage_pools["pend"].member_status) == {"node1"}


def test_networks_take_the_first_targeted_etag_and_only_managed_ones(answers):
    observed = assemble(answers)
    net = observed.networks["hcbr1"]
    assert set(net.member_status) == {"node1", "node3"}
    # the ETag of the first view in the listing's order of locations (the order they are read)
    (item,) = [n for n in answers.objects.metadata("networks", "listing") if n["name"] == "hcbr1"]
    first = next(m for m in item["locations"] if m in ("node1", "node3"))
    assert net.etag == answers.objects.etag("networks", ("view", "hcbr1", first))
    assert "lo" not in observed.networks  # the host's own interfaces are not LXD's networks


def test_a_network_with_no_view_takes_the_untargeted_etag_and_ovn_its_one_view():
    item = {"name": "br", "type": "bridge", "managed": True, "status": "Created",
            "locations": ["n1", "n2"], "config": {"ipv4.address": "10.1.1.1/24"}}
    ovn = {"name": "o", "type": "ovn", "managed": True, "status": "Created", "config": {}}
    recorded = Recorded({"networks": {"listing": ([item, ovn], None),
                                      ("etag", "br"): ({}, '"untargeted"'),
                                      ("view", "o", ""): ({"config": {}}, '"ovn"')}})
    nets = find_spec("network").assemble(Reading(desired=None, backend=None), recorded)
    assert nets["br"].etag == '"untargeted"' and nets["br"].members == {}
    assert nets["o"].etag == '"ovn"' and nets["o"].members == {}


def test_the_lock_profile_is_dropped_and_etags_land_on_their_objects(answers):
    observed = assemble(answers)
    assert f"default/{keys.LOCK_PROFILE}" not in observed.profiles
    assert any(key.startswith("staging/") for key in observed.profiles)
    assert observed.cluster_groups["gpu"].etag == '"g1"'
    assert observed.projects["staging"].etag == '"p1"' and observed.projects["default"].etag is None
    (volume,) = observed.storage_volumes.values()
    assert volume.member == "node2" and volume.etag == '"v1"'


def test_volumes_are_read_for_the_listed_pools_only():
    pools = [{"name": "data", "driver": "dir", "locations": ["n1"]}]
    vol = {"name": "v", "type": "custom", "location": "n1", "config": {}}
    recorded = Recorded({
        "storage_pools": {"listing": (pools, None)},
        "storage_volumes": {("volumes", "data"): ([vol, {**vol, "type": "container"}], None),
                            ("volumes", "gone"): ([{**vol, "name": "w"}], None)},
    })
    volumes = find_spec("storage_volume").assemble(Reading(desired=None, backend=None), recorded)
    assert list(volumes) == ["default/data/n1/v"]  # not the container's, not the gone pool's


def test_images_are_managed_by_the_server_key_per_project(answers):
    image = {"fingerprint": "ab" * 32, "aliases": [{"name": "deb"}], "public": True, "size": 3}
    ctx = Reading(desired=None, backend=answers.backend,
                  server_config={IMAGES_KEY: "deb, staging/other"})
    recorded = Recorded({"images": {"listing": ([image], None),
                                    ("project", "staging"): ([image], None)}})
    images = find_spec("image").assemble(ctx, recorded)
    assert images[f"default/{'ab' * 32}"].managed_by_lxdplan
    assert not images[f"staging/{'ab' * 32}"].managed_by_lxdplan  # staging manages "other"
    assert images[f"staging/{'ab' * 32}"].name == "deb"


def test_instances_drop_lxds_keys_and_take_their_etag():
    recorded = Recorded({"instances": {"listing": ([VM], None),
                                       ("etag", ("default", VM["name"])): (None, '"i1"')}})
    inst = find_spec("instance").assemble(Reading(desired=None, backend=None), recorded)
    (key, live), = inst.items()
    assert key == f"default/{VM['name']}" and live.etag == '"i1"'
    assert not any(k.startswith(("image.", "volatile.")) for k in live.config)
    assert live.base_image == VM["config"]["volatile.base_image"]


def test_every_kind_fills_its_section_even_when_nothing_was_read(answers):
    observed = assemble(Answers(backend=answers.backend, server=answers.server, reader="node1",
                                standalone={}, members=answers.members))
    assert observed.images == {} and observed.instances == {} and observed.networks == {}
