"""The pure parsers of lxdplan.providers.parse (servers, members) and of each kind module ("reading
it live"), on JSON recorded from real LXD 5.0.2 and Incus 6.0.4.

Recorded from a 3-member cluster formed by hand (tests/integration/handform.py) holding a dir pool
``data`` with a per-member ``source``, a pool ``pend`` pending on node1 only, an Errored bridge
``hcbr1`` (no dnsmasq on the recording host), profiles in ``default`` and ``staging``, a custom
volume on node2 and a cluster group ``gpu``. Each file is ``{"path", "etag", "body"}``.
"""

from __future__ import annotations

import pytest

from lxdplan import keys
from lxdplan.kinds.cluster_group import parse_group
from lxdplan.kinds.network import managed_networks, parse_network
from lxdplan.kinds.profile import parse_profile
from lxdplan.kinds.project import parse_project
from lxdplan.kinds.storage_pool import parse_pool
from lxdplan.kinds.storage_volume import parse_volume
from lxdplan.livedata import clean_config, listed_names, names_of
from lxdplan.providers import parse
from lxdplan.providers.backend import Backend
from recorded import BACKENDS, rec


@pytest.fixture(params=sorted(BACKENDS))
def version(request) -> str:
    return request.param


def test_server_is_parsed_with_string_values_and_no_volatile(version):
    meta, etag = rec(version, "server")
    st = parse.parse_server("node1", meta, etag)
    assert (st.reachable, st.trusted, st.clustered, st.server_name) == (True, True, True, "node1")
    assert st.backend == BACKENDS[version]
    assert st.version == version.split("-")[1]
    assert st.etag == etag and etag
    assert len(st.certificate_fingerprint) == 64
    assert all(isinstance(v, str) for v in st.config.values())
    if version.startswith("lxd"):
        assert st.config["core.trust_password"] == "true"  # LXD reports it as a boolean


def test_server_config_splits_member_local_keys(version):
    meta, _ = rec(version, "server_node2")
    wide, local = parse.split_server_config(meta["config"], BACKENDS[version])
    assert local == {"cluster.https_address": meta["config"]["cluster.https_address"],
                     "core.https_address": meta["config"]["core.https_address"]}
    assert wide["images.auto_update_interval"] == "15"
    assert listed_names(wide, keys.CLUSTER_GROUPS_OWNER_KEY) == {"gpu"}


def test_backend_facts_come_from_api_extensions(version):
    meta, _ = rec(version, "server")
    backend = Backend.from_server(meta)
    if version.startswith("incus"):
        assert backend.join_token_field == "cluster_token"
        assert not backend.supports_trust_password
        assert backend.trust_request(token="T") == {"type": "client", "trust_token": "T"}
        assert backend.all_projects_profiles
    else:
        assert backend.join_token_field == "cluster_password"
        assert backend.supports_trust_password
        assert backend.trust_request(password="P") == {"type": "client", "password": "P"}
        assert not backend.all_projects_profiles
    newer = Backend("lxd", "6.1", frozenset({"explicit_trust_token"}))
    assert newer.join_token_field == "cluster_token" and not newer.supports_trust_password
    untrusted = Backend.from_server({"auth": "untrusted", "api_extensions": ["certificate_token"]})
    assert untrusted.name == ""
    assert untrusted.trust_request(token="T") == {"type": "client", "password": "T", "trust_token": "T"}


def test_members(version):
    items, _ = rec(version, "members")
    members = {m.name: m for m in (parse.parse_member(i) for i in items)}
    assert sorted(members) == ["node1", "node2", "node3"]
    assert members["node1"].status == "Online"
    assert "database-leader" in members["node1"].roles
    assert "gpu" in members["node2"].groups and members["node1"].groups == ("default",)
    assert members["node1"].url.startswith("https://")


def test_pool_splits_member_specific_keys_and_status(version):
    items, _ = rec(version, "pools")
    node2, _ = rec(version, "pool_data_node2")
    pools = {p["name"]: p for p in items}
    data = parse_pool(pools["data"], {"node2": node2})
    assert data.config == {"user.lxdplan.managed": "true"}  # no `source`: it is member-specific
    assert data.members == {"node2": {"source": node2["config"]["source"]}}
    assert data.member_status == {"node2": "Created"}
    assert data.managed_by_lxdplan and data.status == "Created"
    pend_node1, _ = rec(version, "pool_pend_node1")
    pend = parse_pool(pools["pend"], {"node1": pend_node1})
    assert (pend.status, pend.locations, pend.member_status) == ("Pending", ("node1",), {"node1": "Pending"})
    assert not pend.managed_by_lxdplan


def test_networks_drop_unmanaged_interfaces(version):
    items, _ = rec(version, "networks")
    managed = managed_networks(items)
    assert [n["name"] for n in managed] == ["hcbr1"]
    assert any(not n["managed"] for n in items)  # the recording did hold host interfaces
    node3, etag = rec(version, "network_hcbr1_node3")
    net = parse_network(managed[0], {"node3": node3}, etag)
    assert net.status == "Errored" and net.member_status == {"node3": "Pending"}
    assert net.config["ipv4.address"] == "192.168.77.1/24"
    assert net.members == {"node3": {}} and net.etag == etag


def test_profiles_projects_groups_volumes(version):
    profiles, _ = rec(version, "profiles")
    web = next(parse_profile(p) for p in profiles if p["name"] == "web")
    assert web.devices == {"root": {"path": "/", "pool": "data", "type": "disk"}}
    assert web.managed_by_lxdplan and web.project == "default"
    staging, _ = rec(version, "profiles_staging")
    assert {parse_profile(p, project="staging").project for p in staging} == {"staging"}
    projects = {p.name: p for p in (parse_project(i) for i in rec(version, "projects")[0])}
    assert projects["staging"].managed_by_lxdplan and not projects["default"].managed_by_lxdplan
    groups, _ = rec(version, "groups")
    parsed = {g.name: g for g in (parse_group(i, frozenset({"gpu"})) for i in groups)}
    assert parsed["gpu"].members == ("node2",) and parsed["gpu"].managed_by_lxdplan
    assert not parsed["default"].managed_by_lxdplan
    volumes, _ = rec(version, "volumes_data")
    vol = parse_volume(volumes[0], "data")
    assert (vol.name, vol.member, vol.project, vol.managed_by_lxdplan) == ("vol1", "node2", "default", True)
    assert parse_volume({**volumes[0], "type": "container"}, "data") is None


def test_clean_config_strips_volatile():
    assert clean_config({"volatile.uuid": "x", "a": 1, "b": False, "c": None}) == {
        "a": "1", "b": "false", "c": ""}


def test_names_of_a_listing_without_recursion():
    assert names_of(["/1.0/storage-pools/data", "/1.0/storage-pools/a%20b", 3]) == ["data", "a b"]
    assert names_of(None) == []
