"""Assembly of an observed cluster (``lxdplan.providers.assemble``) from answers recorded on real
LXD 5.0.2 and Incus 6.0.4 (the recordings of test_provider_parse): which answers count, with no
server and no futures."""

from __future__ import annotations

import pytest

from lxdplan import keys
from lxdplan.providers.assemble import Answers, assemble
from lxdplan.providers.backend import Backend
from lxdplan.providers.parse import managed_networks
from test_provider_parse import BACKENDS, rec


@pytest.fixture(params=sorted(BACKENDS))
def answers(request) -> Answers:
    v = request.param
    server = rec(v, "server")
    lock = {"name": keys.LOCK_PROFILE, "project": "default", "config": {}, "devices": {}}
    return Answers(
        backend=Backend.from_server(server[0]), server=server, reader="node1", standalone={},
        members=rec(v, "members")[0],
        member_servers={"node2": rec(v, "server_node2")},
        groups=rec(v, "groups")[0],
        pools=rec(v, "pools")[0],
        networks=managed_networks(rec(v, "networks")[0]),
        pool_views={("data", "node2"): rec(v, "pool_data_node2"),
                    ("pend", "node1"): rec(v, "pool_pend_node1")},
        network_views={("hcbr1", "node1"): rec(v, "network_hcbr1_node1"),
                       ("hcbr1", "node3"): (rec(v, "network_hcbr1_node3")[0], '"other"')},
        profiles=[("default", rec(v, "profiles")[0] + [lock]),
                  ("staging", rec(v, "profiles_staging")[0])],
        projects=rec(v, "projects")[0],
        volumes={"data": rec(v, "volumes_data")[0]},
        etags={("group", "gpu"): '"g1"', ("volume", "default", "data", "node2", "vol1"): '"v1"'},
    )


def test_members_take_their_own_answer_when_there_is_one(answers):
    observed = assemble(answers)
    assert observed.clustered and observed.config_member == "node1"
    assert observed.members["node2"].version and observed.members["node2"].local_etag
    assert "core.https_address" in observed.members["node2"].local_config
    # node3 did not answer: no version, no local keys (nothing is planned on them)
    assert observed.members["node3"].version == "" and observed.members["node3"].local_config == {}


def test_objects_take_each_members_view_and_the_first_targeted_etag(answers):
    observed = assemble(answers)
    assert observed.storage_pools["data"].members["node2"]["source"]
    assert set(observed.storage_pools["data"].members) == {"node2"}
    assert observed.storage_pools["pend"].status == "Pending"
    net = observed.networks["hcbr1"]
    assert set(net.member_status) == {"node1", "node3"}
    assert net.etag == answers.network_views[("hcbr1", "node1")][1]  # read first, counts
    assert "lo" not in observed.networks  # the host's own interfaces are not LXD's networks


def test_the_lock_profile_is_dropped_and_etags_land_on_their_objects(answers):
    observed = assemble(answers)
    assert f"default/{keys.LOCK_PROFILE}" not in observed.profiles
    assert any(key.startswith("staging/") for key in observed.profiles)
    assert observed.cluster_groups["gpu"].etag == '"g1"'
    (volume,) = observed.storage_volumes.values()
    assert volume.member == "node2" and volume.etag == '"v1"'
