"""Cluster addresses versus REST addresses: the bootstrap member's ``cluster.https_address`` and
the comparison of every live member's ``url`` with its declared ``address``."""

from __future__ import annotations

import pytest

from lxdplan import addresses
from lxdplan.errors import PlanError
from lxdplan.planner import plan
from plan_helpers import by_id, cluster, desired, fresh, live_members, members
from loaderkit import HEAD, assert_error, ok


def _boot_config(member_overrides: dict, **standalone_kw) -> dict:
    want = desired(members=members("n1", "n2", "n3", n1=member_overrides))
    return by_id(plan(want, fresh(**standalone_kw)))["member/n1/bootstrap"].payload.config


def test_bootstrap_sets_the_cluster_address_when_the_rest_address_differs():
    config = _boot_config({"address": "10.9.0.1:8444", "config": {"core.https_address": "10.9.0.1:8443"}})
    assert config == {"core.https_address": "10.9.0.1:8443", "cluster.https_address": "10.9.0.1:8444"}


def test_bootstrap_sets_the_cluster_address_beside_a_wildcard_rest_address():
    config = _boot_config({"address": "10.9.0.1:8444", "config": {"core.https_address": "[::]:8443"}})
    assert config == {"core.https_address": "[::]:8443", "cluster.https_address": "10.9.0.1:8444"}
    config = _boot_config({"config": {"core.https_address": ":8443"}})  # same port, still wildcard
    assert config["cluster.https_address"] == "10.9.0.1:8443"


def test_bootstrap_leaves_the_cluster_address_to_lxd_when_both_are_the_same():
    assert _boot_config({}) == {"core.https_address": "10.9.0.1:8443"}
    config = _boot_config({"config": {"core.https_address": "10.9.0.1"}})  # LXD's default port
    assert "cluster.https_address" not in config


def test_bootstrap_replaces_a_stale_cluster_address_left_on_the_member():
    config = _boot_config({}, config={"cluster.https_address": "10.9.0.1:9999"})
    assert config["cluster.https_address"] == "10.9.0.1:8443"


def test_joins_carry_their_cluster_address_in_the_join_not_in_server_config():
    want = desired(members=members("n1", "n2", n2={"address": "10.9.0.2:8444",
                                                   "config": {"core.https_address": "[::]:8443"}}))
    join = by_id(plan(want, fresh(("n1", "n2"))))["member/n2/join"]
    assert join.payload.address == "10.9.0.2:8444"
    assert join.payload.config == {"core.https_address": "[::]:8443"}


def test_a_live_member_whose_cluster_address_differs_is_a_plan_error_naming_it():
    want = desired(members=members("n1", "n2", "n3", n2={"address": "10.9.0.2:8444", "line": 12}))
    with pytest.raises(PlanError) as err:
        plan(want, cluster())
    message = str(err.value)
    assert message.startswith("lxdplan.yaml:12: member n2 has cluster address 10.9.0.2:8443")
    assert "the file says 10.9.0.2:8444" in message and "write address: 10.9.0.2:8443" in message
    assert "n1" not in message and "n3" not in message


def test_every_mismatched_member_is_reported_at_once():
    want = desired(members=members("n1", "n2", "n3", n1={"address": "10.9.0.1:1"},
                                   n3={"address": "10.9.0.3:3"}))
    with pytest.raises(PlanError) as err:
        plan(want, cluster())
    assert [line.split(" has ")[0].split()[-1] for line in str(err.value).splitlines()] == ["n1", "n3"]


def test_the_same_address_written_differently_is_no_change():
    observed = cluster(members=live_members("n1", "n2", n2={"url": "https://[fd00:0::2]:8443"}))
    want = desired(("n1", "n2"), members=members("n1", "n2", n2={"address": "[fd00::2]:8443"}))
    assert plan(want, observed).steps == ()


@pytest.mark.parametrize("a, b, same", [
    ("10.0.0.1:8443", "https://10.0.0.1:8443", True),
    ("10.0.0.1", "10.0.0.1:8443", True),
    ("Node1.Example:8443", "node1.example:8443", True),
    ("[fd00::1]:8443", "[fd00:0:0::1]:8443", True),
    ("10.0.0.1:8444", "10.0.0.1:8443", False),
    ("[::]:8443", "10.0.0.1:8443", False),
])
def test_address_comparison(a, b, same):
    assert addresses.same(a, b) is same


def test_wildcards():
    assert all(addresses.is_wildcard(a) for a in ("[::]:8443", ":8443", "0.0.0.0:8443"))
    assert not addresses.is_wildcard("10.0.0.1:8443")


def test_loader_refuses_a_cluster_address_in_member_config_that_is_not_the_address():
    text = HEAD.replace('- {name: node3, address: "10.0.0.3:8443"}',
                        '- {name: node3, address: "10.0.0.3:8443", config: '
                        '{cluster.https_address: "10.0.0.3:8444"}}')
    assert_error(text, 6, "cluster.https_address", "must be the member's address (10.0.0.3:8443)")
    same = HEAD.replace('- {name: node3, address: "10.0.0.3:8443"}',
                        '- {name: node3, address: "10.0.0.3:8443", config: '
                        '{cluster.https_address: "10.0.0.3:8443"}}')
    desired_state, _ = ok(same)
    assert desired_state.members[2].config == {"cluster.https_address": "10.0.0.3:8443"}
