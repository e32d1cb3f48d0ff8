"""The network between lxdplan and a real member, and an instance the member cannot start
(issue 17): a link cut during an operation wait for longer than the reads are retried, then
restored; a nic whose parent network is missing. Each fails with one sentence naming the member
or the instance, and the re-run converges with nothing Pending or Errored."""

from __future__ import annotations

import copy

from applykit import cli, query
from proxykit import LINK_DOWN, apply_ok, converged


def nothing_pending(formed) -> None:
    for path in ("/1.0/storage-pools?recursion=1", "/1.0/networks?recursion=1"):
        for item in query(formed.lab, path):
            if item.get("managed") is False:
                continue  # the host's own interfaces
            assert item.get("status") in (None, "Created"), (path, item["name"], item["status"])


def test_link_cut_during_an_operation_wait(formed, proxy):
    """A link cut during an operation wait: one sentence naming the member; the re-run converges.

    The proxy closes every connection from the instance create's first wait on, for longer than
    the wait asks again; the sentence names the change and its operation; once the link is back
    the re-run converges with nothing Pending or Errored."""
    doc = copy.deepcopy(formed.doc)
    doc["instances"] = [{"name": "cut1", "image": "busybox"}]
    proxy.when("GET", "/1.0/operations/*", LINK_DOWN)
    done = cli("apply", "-f", formed.proxied(doc), "--auto-approve")
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert (f"member {formed.member}: the connection was lost while waiting for POST "
            "/1.0/instances (operation /1.0/operations/") in text, text
    assert "its result is unknown: run apply again once the member is reachable" in text, text
    assert proxy.count("POST", "/1.0/instances") == 1  # the change was never sent again
    proxy.clear()  # the link is back
    apply_ok(formed.proxied(doc))
    converged(formed.proxied(doc))
    assert formed.instances()["cut1"]["status"] == "Running"
    nothing_pending(formed)
    apply_ok(formed.direct(formed.doc))
    assert "cut1" not in formed.instances()


def test_an_instance_whose_nic_parent_is_missing(formed):
    """An instance whose start fails (nic parent missing): apply names it; re-run converges.

    Once the file declares the bridge, the re-run creates it before starting the instance."""
    doc = copy.deepcopy(formed.doc)
    doc["instances"] = [{"name": "nic1", "image": "busybox", "devices": {
        "eth1": {"type": "nic", "nictype": "bridged", "parent": "faultbr9", "name": "eth1"}}}]
    done = cli("apply", "-f", formed.direct(doc), "--auto-approve")
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert "nic1" in text and "faultbr9" in text, text
    fixed = copy.deepcopy(doc)
    fixed["networks"].append({"name": "faultbr9", "type": "bridge", "config": {
        "ipv4.address": "none", "ipv6.address": "none"}})
    apply_ok(formed.direct(fixed))
    converged(formed.direct(fixed))
    assert formed.instances()["nic1"]["status"] == "Running"
    nothing_pending(formed)
    apply_ok(formed.direct(formed.doc))
    assert "nic1" not in formed.instances()
