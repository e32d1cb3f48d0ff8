"""The network between lxdplan and a real member, and an instance the member cannot start
(issue 17): a link cut during an operation wait for longer than the reads are retried, then
restored; a nic whose parent network is missing. Each fails with one sentence naming the member
or the instance, and the re-run converges with nothing Pending or Errored."""

from __future__ import annotations

import copy

from applykit import apply_ok, assert_converged, cli, query
from proxykit import LINK_DOWN


def nothing_pending(cluster1) -> None:
    for path in ("/1.0/storage-pools?recursion=1", "/1.0/networks?recursion=1"):
        for item in query(cluster1.lab, path):
            if item.get("managed") is False:
                continue  # the host's own interfaces
            assert item.get("status") in (None, "Created"), (path, item["name"], item["status"])


def test_link_cut_during_an_operation_wait(cluster1, proxy):
    """A link cut during an operation wait: one sentence naming the member; the re-run converges.

    The proxy closes every connection from the instance create's first wait on, for longer than
    the wait asks again; the sentence names the change and its operation; once the link is back
    the re-run converges with nothing Pending or Errored."""
    doc = copy.deepcopy(cluster1.doc)
    doc["instances"] = [{"name": "cut1", "image": "busybox"}]
    proxy.when("GET", "/1.0/operations/*", LINK_DOWN)
    done = cli("apply", "-f", cluster1.proxied(doc), "--auto-approve")
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert (f"member {cluster1.member}: the connection was lost while waiting for POST "
            "/1.0/instances (operation /1.0/operations/") in text, text
    assert "its result is unknown: run apply again once the member is reachable" in text, text
    assert proxy.count("POST", "/1.0/instances") == 1  # the change was never sent again
    proxy.clear()  # the link is back
    apply_ok(cluster1.proxied(doc))
    assert_converged(cluster1.proxied(doc))
    assert cluster1.instances()["cut1"]["status"] == "Running"
    nothing_pending(cluster1)
    apply_ok(cluster1.direct(cluster1.doc))
    assert "cut1" not in cluster1.instances()


def test_an_instance_whose_nic_parent_is_missing(cluster1):
    """An instance whose start fails (nic parent missing): apply names it; re-run converges.

    Once the file declares the bridge, the re-run creates it before starting the instance."""
    doc = copy.deepcopy(cluster1.doc)
    doc["instances"] = [{"name": "nic1", "image": "busybox", "devices": {
        "eth1": {"type": "nic", "nictype": "bridged", "parent": "faultbr9", "name": "eth1"}}}]
    done = cli("apply", "-f", cluster1.direct(doc), "--auto-approve")
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert "nic1" in text and "faultbr9" in text, text
    fixed = copy.deepcopy(doc)
    fixed["networks"].append({"name": "faultbr9", "type": "bridge", "config": {
        "ipv4.address": "none", "ipv6.address": "none"}})
    apply_ok(cluster1.direct(fixed))
    assert_converged(cluster1.direct(fixed))
    assert cluster1.instances()["nic1"]["status"] == "Running"
    nothing_pending(cluster1)
    apply_ok(cluster1.direct(cluster1.doc))
    assert "nic1" not in cluster1.instances()
