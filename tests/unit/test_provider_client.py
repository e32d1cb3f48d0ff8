"""Fault injection for lxdplan.providers.client: a tiny fake server on a unix socket (fakelxd.py).

Only what a real daemon cannot be made to do on demand lives here (a connection cut in the middle
of an operation, a 412, error envelopes); everything else is tested against real LXD and Incus.
"""

from __future__ import annotations

import pytest

from fakelxd import ASYNC, CUT, HOLD, OP, error, op_state, sync
from lxdplan.errors import ApiError, ConnectError, PreconditionFailed
from lxdplan.providers import client as client_module
from lxdplan.providers.client import Client, NoAnswer



def test_operation_wait_survives_a_connection_cut(fake):
    fake.script[("POST", "/1.0/storage-pools")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [CUT, op_state(200)]
    answer = fake.client.post("/1.0/storage-pools", {"name": "p"})
    assert answer.metadata["metadata"] == {"secret": "s"}
    assert fake.count("POST", "/1.0/storage-pools") == 1  # the change itself was sent once
    assert fake.count("GET", OP + "/wait") == 2
    wait_path = [p for m, p, _ in fake.seen if p.startswith(OP)][-1]
    assert "project=default" in wait_path and "timeout=" in wait_path


def test_running_operation_is_waited_again(fake):
    fake.script[("PUT", "/1.0/cluster")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [op_state(103), op_state(200)]
    assert fake.client.put("/1.0/cluster", {}).metadata["status_code"] == 200


def test_failed_operation_answered_200_like_lxd_502(fake):
    fake.script[("POST", "/1.0/storage-pools")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [op_state(400, "Source path doesn't exist")]
    with pytest.raises(ApiError) as exc:
        fake.client.post("/1.0/storage-pools", {"name": "p"})
    assert str(exc.value) == "node2: LXD refused POST /1.0/storage-pools: Source path doesn't exist"


def test_failed_operation_answered_with_error_envelope_like_incus(fake):
    fake.script[("POST", "/1.0/instances")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [(200, {"type": "error", "error": "Image not provided",
                                                 "error_code": 500})]
    with pytest.raises(ApiError) as exc:
        fake.client.post("/1.0/instances", {})
    assert str(exc.value) == "node2: LXD refused POST /1.0/instances: Image not provided"


def test_error_envelope_500_is_quoted_and_not_retried(fake):
    fake.script[("POST", "/1.0/networks")] = [error("Network is already pending", 500)]
    with pytest.raises(ApiError) as exc:
        fake.client.post("/1.0/networks", {"name": "n"})
    assert str(exc.value) == "node2: LXD refused POST /1.0/networks: Network is already pending"
    assert exc.value.status == 500 and exc.value.member == "node2"
    assert fake.count("POST", "/1.0/networks") == 1


def test_etag_is_sent_and_412_becomes_precondition_failed(fake):
    fake.script[("PUT", "/1.0/profiles/web")] = [error("ETag doesn't match", 412)]
    with pytest.raises(PreconditionFailed) as exc:
        fake.client.put("/1.0/profiles/web", {"config": {}}, etag='"e0"')
    assert "node2" in str(exc.value) and "ETag" in str(exc.value)
    headers = [h for m, p, h in fake.seen if m == "PUT"][0]
    assert headers.get("If-Match") == '"e0"'


def test_get_is_retried_after_a_cut_but_a_change_is_not(fake):
    fake.script[("GET", "/1.0")] = [CUT, sync({"auth": "trusted"})]
    answer = fake.client.get("/1.0")
    assert answer.metadata == {"auth": "trusted"} and answer.etag == '"e1"'
    fake.script[("PATCH", "/1.0")] = [CUT, sync({})]
    with pytest.raises(ConnectError) as exc:
        fake.client.patch("/1.0", {"config": {}})
    assert "cannot reach member node2 at unix://" in str(exc.value)
    assert fake.count("PATCH", "/1.0") == 1


def test_a_read_that_gets_no_answer_fails_once_as_no_answer(fake, monkeypatch):
    """A member that takes the request and says nothing is given up on after the state timeout,
    without a retry (a timeout already waited long enough)."""
    monkeypatch.setattr(client_module, "PROBE_TIMEOUT", 0.3)
    monkeypatch.setattr(client_module, "STATE_TIMEOUT", 0.4)
    fake.script[("GET", "/1.0")] = [HOLD]
    fake.script[("GET", "/1.0/storage-pools")] = [HOLD]
    with pytest.raises(NoAnswer) as exc:
        fake.client.get("/1.0")
    assert str(exc.value) == (f"member node2 ({fake.client.endpoint}) accepted the connection but "
                              "answered nothing to GET /1.0 within 0.3 s")
    with pytest.raises(NoAnswer, match="to GET /1.0/storage-pools within 0.4 s"):
        fake.client.get("/1.0/storage-pools", {"recursion": 1})
    assert fake.count("GET", "/1.0") == 1 and fake.count("GET", "/1.0/storage-pools") == 1
    assert isinstance(exc.value, ConnectError)  # callers that record unreachable members see it


def test_a_read_the_busy_database_refused_is_asked_again_and_a_served_member_gets_time(fake, monkeypatch):
    """LXD answers a read it could not start a transaction for with an error (its database is
    busy, as at 500 objects on 2 cores): asked again. Other errors are not retried. Once the
    member answered its GET /1.0, its other reads get the long bound, not the state bound."""
    monkeypatch.setattr(client_module, "STATE_TIMEOUT", 0.3)
    busy = error("Failed to begin transaction: context deadline exceeded", 500)
    fake.script[("GET", "/1.0/networks")] = [busy, sync([])]
    fake.script[("GET", "/1.0/profiles")] = [error("not authorized", 403), sync([])]
    fake.script[("GET", "/1.0")] = [sync({"config": {}})]
    assert fake.client.get("/1.0/networks").metadata == []
    assert fake.count("GET", "/1.0/networks") == 2
    with pytest.raises(ApiError, match="not authorized"):
        fake.client.get("/1.0/profiles")
    assert fake.count("GET", "/1.0/profiles") == 1
    assert not fake.client.serving
    fake.client.get("/1.0")
    assert fake.client.serving


def test_unreachable_member_is_one_sentence(tmp_path):
    client = Client(f"unix://{tmp_path}/missing.socket", member="node3")
    with pytest.raises(ConnectError) as exc:
        client.get("/1.0")
    assert str(exc.value).startswith(f"cannot reach member node3 at unix://{tmp_path}/missing.socket: ")
    assert "\n" not in str(exc.value)


def test_bad_endpoint_scheme_is_refused():
    with pytest.raises(ConnectError, match="member node1 has endpoint http://x"):
        Client("http://x:8443", member="node1")


def test_a_held_certificate_is_trusted_only_when_pinned(tmp_path, monkeypatch):
    """The certificate a connection may trust without a pre-flight handshake: one held for the
    endpoint (the pin store's, a remote's servercerts file) whose fingerprint is a pin."""
    from lxdplan.providers import pins
    from lxdplan.providers.certs import ensure_client_cert, fingerprint

    monkeypatch.setenv("LXDPLAN_CONFIG_DIR", str(tmp_path / "config"))
    stored = ensure_client_cert(tmp_path / "a").cert_path.read_text()
    remote = ensure_client_cert(tmp_path / "b").cert_path.read_text()
    pins.remember_accepted("10.0.0.1:8443", "https://10.0.0.1:8443", stored)
    assert Client("https://10.0.0.1:8443", member="n1",
                  scope="10.0.0.1:8443").known_certificate() == stored
    assert Client("https://10.0.0.1:8443", member="n1",
                  scope="10.7.7.7:8443").known_certificate() is None  # another cluster's file
    assert Client("https://10.0.0.2:8443", member="n2",
                  scope="10.0.0.1:8443").known_certificate() is None
    held = Client("https://10.0.0.2:8443", member="n2", certificates=[remote],
                  extra_pins=[fingerprint(remote)])
    assert held.known_certificate() == remote
    unpinned = Client("https://10.0.0.2:8443", member="n2", certificates=[remote])
    assert unpinned.known_certificate() is None  # held but not pinned: checked the usual way
    assert Client("https://10.0.0.1:8443", member="n1", scope="10.0.0.1:8443",
                  use_store=False).known_certificate() is None
