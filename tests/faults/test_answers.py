"""Malformed answers from a real member, served by a proxy that corrupts the answers it is told to
(issue 17): each ends in one sentence naming the member, the method and the path, never a plan
built on it and never a traceback; without the corruption the same file plans no change."""

from __future__ import annotations

import copy

import pytest

from applykit import apply_ok, assert_converged, cli
from proxykit import endless, html, metadata, one_sentence, running, trickle, truncated


def plan(cluster1):
    return cli("plan", "-f", cluster1.proxied())


def test_a_clean_proxy_changes_nothing(cluster1, proxy):
    """No corruption: the cluster read through the proxy plans no change."""
    assert_converged(cluster1.proxied())
    assert proxy.count("GET", "/1.0/cluster/members") >= 1


def test_wrong_shape_metadata_of_the_server(cluster1, proxy):
    """GET /1.0 answering metadata "oops": one sentence naming the member, no internal error."""
    proxy.when("GET", "/1.0", metadata(lambda md: "oops"))
    one_sentence(plan(cluster1), f"member {cluster1.member} answered GET /1.0 with a malformed answer: "
                               "metadata is a string, expected an object")


def test_roles_as_a_string_is_refused_not_split_into_letters(cluster1, proxy):
    """A member's roles as the string "database": refused naming the field, no wrong plan."""
    def roles(members):
        members[0]["roles"] = "database"
        return members

    proxy.when("GET", "/1.0/cluster/members", metadata(roles))
    one_sentence(plan(cluster1), f"member {cluster1.member} answered GET /1.0/cluster/members with a "
                               "malformed answer: metadata[0].roles is a string, expected a list")


@pytest.mark.parametrize("status", [200, 500])
def test_html_instead_of_json(cluster1, proxy, status):
    """An HTML page (200 or 500) where a listing was asked: one sentence, not a missing object."""
    proxy.when("GET", "/1.0/profiles", html(status))
    one_sentence(plan(cluster1), f"member {cluster1.member} answered GET /1.0/profiles with a "
                               f"malformed answer: HTTP {status} with ", "text/html")


def test_truncated_json(cluster1, proxy):
    """Half of the pools listing, its length consistent: one sentence naming member and path."""
    proxy.when("GET", "/1.0/storage-pools", truncated)
    one_sentence(plan(cluster1), f"member {cluster1.member} answered GET /1.0/storage-pools with a "
                               "malformed answer: HTTP 200 with ", "bytes of invalid JSON")


def test_a_trickling_body(cluster1, proxy):
    """GET /1.0 trickling a byte every 0.1 s: cut off at the request's deadline, one sentence."""
    proxy.when("GET", "/1.0", trickle(0.1))
    one_sentence(plan(cluster1), f"member {cluster1.member} did not finish answering GET /1.0 within "
                               "5 s (its answer trickled in)")


def test_a_two_gigabyte_body(cluster1, proxy):
    """A 2 GB members listing: streamed and refused at the size cap, never read whole."""
    proxy.when("GET", "/1.0/cluster/members", endless(proxy))
    one_sentence(plan(cluster1), f"member {cluster1.member} answered GET /1.0/cluster/members with "
                               "more than 64 MiB")
    assert proxy.sent < 256 * 1024 ** 2


def test_an_operation_running_forever(cluster1, proxy):
    """An operation Running forever: the apply names member, change and operation; re-run converges.

    The proxy answers every wait of the instance create with Running; after
    LXDPLAN_OPERATION_TIMEOUT the operation is cancelled (or named when LXD cannot cancel it)."""
    doc = copy.deepcopy(cluster1.doc)
    doc["instances"] = [{"name": "slow1", "image": "busybox", "state": "stopped"}]
    proxy.when("GET", "/1.0/operations/*", running)
    done = cli("apply", "-f", cluster1.proxied(doc), "--auto-approve",
               env={"LXDPLAN_OPERATION_TIMEOUT": "3"})
    assert done.returncode == 1, done.stdout + done.stderr
    text = done.stdout + done.stderr
    assert f"{cluster1.member}: POST /1.0/instances did not finish within 3 s (operation " \
           "/1.0/operations/" in text
    assert "Traceback" not in text and "internal error" not in text
    assert proxy.count("DELETE", "/1.0/operations/") == 1  # asked to cancel it
    proxy.clear()
    cli("apply", "-f", cluster1.direct(doc), "--auto-approve")
    assert_converged(cluster1.path)
    assert cluster1.instances()["slow1"]["status"] == "Stopped"
    cleanup = copy.deepcopy(cluster1.doc)
    apply_ok(cluster1.direct(cleanup))
    assert "slow1" not in cluster1.instances()
