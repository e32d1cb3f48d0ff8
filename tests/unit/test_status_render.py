"""`lxdplan status` text: members with problems flagged, pools/networks per member."""

from __future__ import annotations

from dataclasses import replace

import cases
from lxdplan.render.status import render_status
from lxdplan.state.observed import NOT_SERVING, Standalone
from plan_helpers import cluster, desired, fresh, live_members, live_pool


def test_cluster_status_flags_offline_and_unreachable_members():
    observed = cluster(
        members=live_members("n1", "n2", "n3", status={"n2": "Offline"},
                             n1={"version": "5.0.2", "message": "Fully operational"},
                             n3={"message": "Fully operational"}),
        standalone={"n3": Standalone(name="n3", reachable=False, error="connection refused")},
        storage_pools={"data": live_pool(member_status={"n1": "Created", "n2": "Pending"})},
    )
    text = render_status(desired(), observed)
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "Offline !" in lines["n2"]
    assert "Unreachable !" in lines["n3"] and "connection refused" in lines["n3"]
    assert "Fully operational" not in lines["n3"]
    assert "n1=Created, n2=Pending !" in lines["data"]
    assert text.endswith("Attention: n2 is Offline.")


def test_status_before_a_cluster_exists_lists_declared_members():
    text = render_status(desired(), fresh())
    assert text.startswith("No cluster yet: 3 declared member(s)")
    assert "ready to bootstrap or join" in text


def _case(name: str):
    return cases.desired(name), cases.observed(name)


def _rows(text: str) -> dict[str, str]:
    return {line.split()[0]: line for line in text.splitlines() if line.strip()}


def test_lxd_member_listed_online_that_answers_nothing_is_not_serving():
    """LXD 5.0.2 lists a member that waits for an upgrade Online; its own GET /1.0 says nothing."""
    desired_, observed = _case("not_serving_lxd")
    assert observed.not_serving() == {"node2"}
    assert observed.member_status("node2") == NOT_SERVING
    text = render_status(desired_, observed)
    rows = _rows(text)
    assert "Not serving !" in rows["node2"] and "answered nothing to GET /1.0" in rows["node2"]
    assert "Fully operational" not in rows["node2"]
    assert "5.0.2" in rows["node1"] and " 318 " in rows["node1"] and "Online" in rows["node1"]
    assert ("Attention: node2 does not serve its API (it holds every request, as an upgraded "
            "member waiting for the others does).") in text
    assert "Upgrading: upgrade the remaining members to the same version" in text


def test_incus_blocked_members_are_the_older_ones_and_the_online_one_waits():
    desired_, observed = _case("blocked_member_incus")
    assert observed.not_serving() == {"node2"}
    text = render_status(desired_, observed)
    rows = _rows(text)
    assert "Blocked !" in rows["node1"] and "Needs updating to newer version" in rows["node1"]
    assert "Not serving !" in rows["node2"]
    assert ("node2 does not serve its API (it runs a newer version and waits until node1 and "
            "node3, Blocked, are upgraded)") in text
    assert "node1 is Blocked: it runs the older version, needs upgrading and still serves" in text
    assert "Upgrading: " in text


def test_lxd_blocked_member_is_the_upgraded_one_and_skew_is_flagged():
    desired_, observed = _case("blocked_member")
    assert observed.not_serving() == {"node2"}
    text = render_status(desired_, observed)
    assert "node2 is Blocked (upgraded, it waits for the other members" in text
    assert "members run different versions (node1 5.0.2, node2 5.0.3, node3 5.0.2)" in text


def test_a_member_that_answers_serves_whatever_the_word():
    _, observed = _case("blocked_member_incus")
    alone = dict(observed.standalone)
    alone["node2"] = Standalone(name="node2", reachable=True, clustered=True, server_name="node2")
    assert replace(observed, standalone=alone).not_serving() == set()
