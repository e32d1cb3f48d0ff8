"""An Errored pool or network takes corrected member-specific keys on the members where it is
not created yet (Pending or Errored there), before the retry; where it is Created they stay
immutable (issue 7, item 2)."""

from __future__ import annotations

import pytest

from lxdplan.errors import PlanError
from lxdplan.plan import Action
from lxdplan.planner import plan
from lxdplan.kinds.network import ObservedNetwork
from plan_helpers import by_id, cluster, desired, live_pool, net, pool

SOURCES = {"n1": {"source": "/srv/new-n1"}, "n2": {"source": "/srv/data-n2"},
           "n3": {"source": "/srv/data-n3"}}


@pytest.mark.parametrize("failed_state", ["Pending", "Errored"])  # LXD 5.0.2 reports Pending
def test_errored_pool_takes_a_new_source_where_it_failed_before_the_retry(failed_state):
    live = live_pool(status="Errored", member_status={"n1": failed_state, "n2": "Created",
                                                      "n3": "Created"})
    steps = by_id(plan(desired(storage_pools=(pool(members=SOURCES),)),
                       cluster(storage_pools={"data": live})))
    fix = steps["storage_pool/data/update/n1"]
    assert fix.action == Action.UPDATE and fix.member == "n1" and fix.depends_on == ()
    assert fix.before == {"config": {"source": "/srv/data-n1"}}
    assert fix.payload.config == {"source": "/srv/new-n1"}
    retry = steps["storage_pool/data/instantiate"]
    assert retry.payload.retry is True and retry.depends_on == ("storage_pool/data/update/n1",)
    assert "Errored on n1" in retry.reason
    assert set(steps) == {"storage_pool/data/update/n1", "storage_pool/data/instantiate"}


def test_errored_pool_keeps_source_immutable_where_it_is_created():
    live = live_pool(status="Errored", member_status={"n1": "Pending", "n2": "Created",
                                                      "n3": "Created"})
    members = {**SOURCES, "n2": {"source": "/srv/moved-n2"}}
    with pytest.raises(PlanError, match=r"^lxdplan.yaml:9: storage pool data has source "
                                        r"/srv/data-n2 on n2 .* cannot change source"):
        plan(desired(storage_pools=(pool(members=members, line=9),)),
             cluster(storage_pools={"data": live}))


def test_errored_pool_with_unchanged_keys_is_only_retried():
    live = live_pool(status="Errored", member_status={"n1": "Pending", "n2": "Created",
                                                      "n3": "Created"})
    steps = by_id(plan(desired(storage_pools=(pool(members={"n1": {"source": "/srv/data-n1"}}),)),
                       cluster(storage_pools={"data": live})))
    assert list(steps) == ["storage_pool/data/instantiate"]
    assert steps["storage_pool/data/instantiate"].depends_on == ()


def test_errored_network_fixes_the_failed_member_first_and_created_members_after_the_retry():
    live = ObservedNetwork(
        name="br0", type="physical", status="Errored", etag="E2",
        member_status={"n1": "Created", "n2": "Errored", "n3": "Created"},
        members={"n1": {"parent": "eth1"}, "n2": {"parent": "nosuch0"}, "n3": {"parent": "eth1"}})
    want = desired(networks=(net(type="physical", members={
        "n1": {"parent": "eth2"}, "n2": {"parent": "eth1"}, "n3": {"parent": "eth1"}}),))
    steps = by_id(plan(want, cluster(networks={"br0": live})))
    retry = steps["network/br0/instantiate"]
    assert retry.depends_on == ("network/br0/update/n2",)
    fix = steps["network/br0/update/n2"]
    assert fix.before == {"config": {"parent": "nosuch0"}} and fix.payload.config == {"parent": "eth1"}
    later = steps["network/br0/update/n1"]  # Created there: an ordinary update, after the retry
    assert later.depends_on == ("network/br0/instantiate",)
    assert later.payload.config == {"parent": "eth2"}
    assert "network/br0/update/n3" not in steps


def test_an_unavailable_member_counts_as_created():
    # Created there once (e.g. its source went missing after a restart): source stays immutable.
    live = live_pool(status="Errored", member_status={"n1": "Pending", "n2": "Unavailable",
                                                      "n3": "Created"})
    with pytest.raises(PlanError, match=r"/srv/data-n2 on n2 .* cannot change source"):
        plan(desired(storage_pools=(pool(members={**SOURCES, "n2": {"source": "/srv/x"}}),)),
             cluster(storage_pools={"data": live}))
