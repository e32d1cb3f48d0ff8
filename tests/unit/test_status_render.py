"""`lxdplan status` text: members with problems flagged, pools/networks per member."""

from __future__ import annotations

from lxdplan.render.status import render_status
from lxdplan.state.observed import Standalone
from tests.unit.plan_helpers import cluster, desired, fresh, live_members, live_pool


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
