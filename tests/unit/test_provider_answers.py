"""Answers from the cluster that are not what LXD sends (issue 17): the wrong shape, not JSON,
cut off, trickling, endless, an operation that never ends, a connection lost while waiting.

Each is one sentence naming the member, the method and the path, never a traceback and never a
parsed value of the wrong type. A real daemon cannot be made to answer so: the fake server of
test_provider_client serves them (the shapes of real answers are checked on the recorded ones).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from fakelxd import ASYNC, CUT, HOLD, OP, error, op_state, sync
from lxdplan.errors import AnswerError, ApiError, ConnectError
from lxdplan.providers import client as client_module
from lxdplan.providers import parse, shapes

DATA = Path(__file__).parent / "data"
SERVER = {"auth": "trusted", "api_extensions": [], "config": {},
          "environment": {"server": "lxd", "server_name": "node2", "server_clustered": True}}


def raw(status: int, content_type: str, data: bytes, length: int | None = None):
    """An answer written as given (``length``: the Content-Length announced)."""
    def write(handler):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data) if length is None else length))
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()
    return write


def member_item(**fields):
    return {"server_name": "node1", "url": "https://10.0.0.1:8443", "database": True,
            "status": "Online", "message": "Fully operational", "roles": ["database"],
            "failure_domain": "default", "description": "", "config": {}, "groups": ["default"],
            **fields}


# -- the shape of what parses -------------------------------------------------------------------


def recorded():
    for path in sorted(DATA.glob("*/*.json")):
        body = json.loads(path.read_text()).get("body")
        if isinstance(body, dict) and "metadata" in body:
            yield path, json.loads(path.read_text())


@pytest.mark.parametrize("path,answer", list(recorded()), ids=lambda v: getattr(v, "name", ""))
def test_every_recorded_answer_of_a_real_daemon_has_the_expected_shape(path, answer):
    url = urlsplit(answer.get("path") or "/1.0/instances/vm")
    shapes.check_envelope(answer["body"])
    shapes.check_metadata(url.path, dict(parse_qsl(url.query)), answer["body"]["metadata"])


def test_metadata_of_the_wrong_shape_is_one_sentence_naming_member_method_and_path(fake):
    """``metadata: "oops"`` on ``GET /1.0`` was "internal error (AttributeError…)"."""
    fake.script[("GET", "/1.0")] = [sync("oops")]
    with pytest.raises(AnswerError) as exc:
        fake.client.get("/1.0")
    assert str(exc.value) == ("member node2 answered GET /1.0 with a malformed answer: metadata "
                              "is a string, expected an object")
    assert exc.value.member == "node2"


def test_a_string_where_lxd_sends_a_list_is_refused_not_split_into_letters(fake):
    """``roles: "database"`` became the roles d, a, t, a, b, a, s, e."""
    fake.script[("GET", "/1.0/cluster/members")] = [sync([member_item(roles="database")])]
    with pytest.raises(AnswerError) as exc:
        fake.client.get("/1.0/cluster/members", {"recursion": 1})
    assert str(exc.value) == ("member node2 answered GET /1.0/cluster/members with a malformed "
                              "answer: metadata[0].roles is a string, expected a list of strings")
    fake.script[("GET", "/1.0/cluster/members")] = [sync([member_item()])]
    item = fake.client.get("/1.0/cluster/members", {"recursion": 1}).metadata[0]
    assert parse.parse_member(item).roles == ("database",)


@pytest.mark.parametrize("route,params,metadata,problem", [
    ("/1.0/profiles", {"recursion": 1}, [{"description": "no name"}], "metadata[0] has no name"),
    ("/1.0/profiles", {"recursion": 1}, {"name": "x"}, "metadata is an object, expected a list"),
    ("/1.0/profiles", None, [{"name": "x"}], "metadata[0] is an object, expected a string"),
    ("/1.0/profiles/web", None, {"name": "web", "config": {"a": ["b"]}},
     'metadata.config["a"] is a list, expected a string'),
    ("/1.0/profiles/web", None, {"name": "web", "devices": {"eth0": "nic"}},
     'metadata.devices["eth0"] is a string, expected an object'),
    ("/1.0", None, {"environment": {"server_clustered": "yes"}},
     "metadata.environment.server_clustered is a string, expected true or false"),
    ("/1.0/images", {"recursion": 1}, [{"fingerprint": "ab", "aliases": ["x"]}],
     "metadata[0].aliases[0] is a string, expected an object"),
    # the kinds' own collections and fields (their answer_shape)
    ("/1.0/networks/br0/forwards", {"recursion": 1}, [{"description": "no address"}],
     "metadata[0] has no listen_address"),
    ("/1.0/networks/br0/forwards/10.0.0.9", None, {"listen_address": "10.0.0.9", "ports": "80"},
     "metadata.ports is a string, expected a list of objects"),
    ("/1.0/network-zones/lab.example/records", {"recursion": 1}, [{"name": "www", "entries": [1]}],
     "metadata[0].entries[0] is a number, expected an object"),
])
def test_each_known_field_and_listing_has_its_shape(fake, route, params, metadata, problem):
    fake.script[("GET", route)] = [sync(metadata)]
    with pytest.raises(AnswerError, match=r"with a malformed answer: " + problem.replace("[", r"\[")):
        fake.client.get(route, params)


@pytest.mark.parametrize("answer,problem", [
    (raw(200, "text/html", b"<html>welcome</html>"), "HTTP 200 with 20 bytes of text/html"),
    (raw(500, "text/html", b"<h1>Bad gateway</h1>"), "HTTP 500 with 20 bytes of text/html"),
    (raw(200, "application/json", b'{"type": "sync", "metadata": {"conf'),
     "HTTP 200 with 35 bytes of invalid JSON (cut off or corrupt)"),
    (raw(200, "application/json", b""), "HTTP 200 with an empty body, not LXD's JSON"),
    (raw(200, "application/json", b'{"type": "nonsense"}'), "type is 'nonsense'"),
    (raw(200, "application/json", b'["not", "an", "envelope"]'), "the answer is a list"),
])
def test_what_is_not_lxd_json_is_one_sentence(fake, answer, problem):
    fake.script[("GET", "/1.0")] = [answer]
    with pytest.raises(AnswerError) as exc:
        fake.client.get("/1.0")
    assert str(exc.value).startswith("member node2 answered GET /1.0 with a malformed answer: ")
    assert problem in str(exc.value)
    assert fake.count("GET", "/1.0") == 1  # not retried


# -- time and size ------------------------------------------------------------------------------


def test_a_trickling_answer_is_cut_off_at_the_request_deadline(fake, monkeypatch):
    """A byte every 0.05 s never trips a 0.3 s read timeout; the deadline ends it."""
    monkeypatch.setattr(client_module, "PROBE_TIMEOUT", 0.3)
    data = json.dumps({"type": "sync", "metadata": SERVER}).encode()
    stop = threading.Event()

    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for i in range(len(data)):
            if stop.wait(0.05):
                return
            try:
                handler.wfile.write(data[i:i + 1])
                handler.wfile.flush()
            except OSError:
                return

    fake.script[("GET", "/1.0")] = [trickle]
    with pytest.raises(AnswerError) as exc:
        fake.client.get("/1.0")
    stop.set()
    assert str(exc.value) == ("member node2 did not finish answering GET /1.0 within 0.3 s (its "
                              "answer trickled in)")


def test_an_endless_answer_is_refused_at_the_cap_without_being_held(fake, monkeypatch):
    """The body is streamed: past MAX_ANSWER bytes the answer is refused and the connection
    closed, whatever the server announced."""
    monkeypatch.setattr(client_module, "MAX_ANSWER", 1024 * 1024)
    sent = []

    def endless(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(2 * 1024 ** 3))
        handler.end_headers()
        handler.wfile.write(b'{"type": "sync", "metadata": {"description": "')
        chunk = b"x" * 65536
        try:
            for _ in range(2 * 1024 ** 3 // len(chunk)):
                handler.wfile.write(chunk)
                sent.append(len(chunk))
        except OSError:
            pass

    fake.script[("GET", "/1.0")] = [endless]
    with pytest.raises(AnswerError) as exc:
        fake.client.get("/1.0")
    assert str(exc.value) == ("member node2 answered GET /1.0 with more than 1 MiB, more than any "
                              "answer LXD sends: refused")


def test_an_upload_the_member_never_answers_fails_after_the_stall_bound(fake, monkeypatch, tmp_path):
    """An image upload had no read timeout at all: a member that took the file and said nothing
    held the apply forever."""
    monkeypatch.setattr(client_module, "UPLOAD_STALL", 0.3)
    fake.script[("POST", "/1.0/images")] = [HOLD]
    image = tmp_path / "image.tar.xz"
    image.write_bytes(b"\0" * 4096)
    with open(image, "rb") as handle, pytest.raises(ConnectError) as exc:
        fake.client.upload("/1.0/images", content=handle,
                           headers={"Content-Type": "application/octet-stream"})
    assert str(exc.value) == ("member node2 answered nothing to the upload POST /1.0/images for "
                              "0.3 s: its result is unknown; run apply again")


# -- operations ---------------------------------------------------------------------------------


def test_an_operation_running_forever_is_waited_with_backoff_then_cancelled(fake, monkeypatch):
    """A server that answers each wait at once with Running was asked again in a tight loop
    until the operation timeout, and the operation was left running unsaid."""
    fake.client.operation_timeout = 1.5
    fake.script[("POST", "/1.0/instances")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [op_state(103)]
    fake.script[("DELETE", OP)] = [sync(None)]
    with pytest.raises(ApiError) as exc:
        fake.client.post("/1.0/instances", {"name": "c1"})
    assert str(exc.value) == ("node2: POST /1.0/instances did not finish within 1.5 s (operation "
                              "/1.0/operations/abc); it was cancelled; run apply again (it reads "
                              "the cluster first)")
    assert fake.count("DELETE", OP) == 1
    assert fake.count("GET", OP + "/wait") <= 8  # 0.2, 0.4, 0.8 s apart, not thousands


def test_an_operation_that_cannot_be_cancelled_is_named_with_how_to_follow_it(fake):
    fake.client.operation_timeout = 0.5
    fake.script[("PUT", "/1.0/cluster")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [op_state(103)]
    fake.script[("DELETE", OP)] = [(403, {"type": "error", "error": "Operation can't be cancelled",
                                          "error_code": 403})]
    with pytest.raises(ApiError) as exc:
        fake.client.put("/1.0/cluster", {})
    assert ("(operation /1.0/operations/abc); it could not be cancelled (Operation can't be "
            "cancelled): `lxc operation show abc` says how it ends") in str(exc.value)


def test_a_connection_lost_during_an_operation_wait_is_retried_then_named(fake, monkeypatch):
    """Lost for longer than the read retries: one sentence naming the member, the change and its
    operation, whose result is unknown (the change itself is never sent again)."""
    monkeypatch.setattr(client_module, "WAIT_GRACE", 1.0)
    fake.script[("POST", "/1.0/instances")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [CUT]
    with pytest.raises(ConnectError) as exc:
        fake.client.post("/1.0/instances", {"name": "c1"})
    message = str(exc.value)
    assert message.startswith("member node2: the connection was lost while waiting for POST "
                              "/1.0/instances (operation /1.0/operations/abc) and did not come "
                              "back within 1 s (cannot reach member node2 at unix://")
    assert message.endswith("its result is unknown: run apply again once the member is reachable")
    assert fake.count("POST", "/1.0/instances") == 1
    assert fake.count("GET", OP + "/wait") > client_module.GET_ATTEMPTS  # asked again after backoff


def test_a_connection_back_within_the_grace_finishes_the_wait(fake):
    fake.script[("POST", "/1.0/instances")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [CUT] * (client_module.GET_ATTEMPTS + 1) + [op_state(200)]
    assert fake.client.post("/1.0/instances", {"name": "c1"}).metadata["status_code"] == 200


# -- a member that is not ready yet ---------------------------------------------------------------


def test_a_change_refused_as_not_ready_yet_is_asked_again_until_the_member_takes_it(fake):
    """Incus refused an instance create on a member restarted moments before ("Server isn't ready
    yet") and the apply failed; the refusal means nothing was done, so the change is sent again."""
    fake.script[("POST", "/1.0/profiles")] = [error("Server isn't ready yet", 503),
                                              error("Server isn't ready yet", 503), sync({})]
    fake.client.post("/1.0/profiles", {"name": "p"})
    assert [m for m, p, _ in fake.seen if p == "/1.0/profiles"] == ["POST"] * 3


def test_a_read_refused_as_not_ready_yet_is_asked_again_until_the_member_answers(fake, monkeypatch):
    """Right after a member restarted (guide page 09), Incus 6.0.4 refused a plan's read of an
    instance's snapshots "Server isn't ready yet" and the whole plan failed: a read is asked
    again within the same bound as a change."""
    monkeypatch.setattr(client_module, "NOT_READY_PAUSE", 0.01)
    path = "/1.0/instances/c1/snapshots"
    fake.script[("GET", path)] = [error("Server isn't ready yet", 503),
                                  error("Server isn't ready yet", 503), sync([])]
    assert fake.client.get(path, {"recursion": 1}).metadata == []
    assert fake.count("GET", path) == 3


def test_a_read_still_not_ready_after_the_bound_fails_with_the_servers_words(fake, monkeypatch):
    monkeypatch.setattr(client_module, "NOT_READY_WAIT", 0.0)
    fake.script[("GET", "/1.0/instances/c1")] = [error("Server isn't ready yet", 503), sync({})]
    with pytest.raises(ApiError, match="isn't ready yet"):
        fake.client.get("/1.0/instances/c1")
    assert fake.count("GET", "/1.0/instances/c1") == 1


def test_an_operations_wait_failed_as_not_ready_yet_is_its_result_not_asked_again(fake, monkeypatch):
    """Newer servers answer a failed operation's wait with an error envelope: its "not ready
    yet" is what the operation did, and the wait is not repeated."""
    monkeypatch.setattr(client_module, "NOT_READY_PAUSE", 0.01)
    fake.script[("POST", "/1.0/instances")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [error("Server isn't ready yet", 400), op_state(200)]
    with pytest.raises(ApiError, match="isn't ready yet"):
        fake.client.post("/1.0/instances", {"name": "c1"})
    assert fake.count("GET", OP + "/wait") == 1


def test_an_operation_failed_as_not_ready_yet_is_not_sent_again(fake):
    """Incus 6.0.4 failed a create forwarded to a member restarted moments before, at once, with
    "Server isn't ready yet", having made the instance's record: sent again, it was refused as
    existing. Only a refusal of the request itself is asked again."""
    fake.script[("POST", "/1.0/instances")] = [ASYNC, ASYNC]
    fake.script[("GET", OP + "/wait")] = [op_state(400, "Server isn't ready yet"), op_state(200)]
    with pytest.raises(ApiError, match="isn't ready yet"):
        fake.client.post("/1.0/instances", {"name": "c1"})
    assert fake.count("POST", "/1.0/instances") == 1


def test_an_operation_failed_for_another_reason_is_not_sent_again(fake):
    fake.script[("POST", "/1.0/instances")] = [ASYNC, ASYNC]
    fake.script[("GET", OP + "/wait")] = [op_state(400, "Failed creating instance record")]
    with pytest.raises(ApiError, match="Failed creating instance record"):
        fake.client.post("/1.0/instances", {"name": "c1"})
    assert fake.count("POST", "/1.0/instances") == 1


def test_any_other_refusal_of_a_change_is_never_sent_again(fake):
    fake.script[("POST", "/1.0/profiles")] = [error("Profile already exists", 409), sync({})]
    with pytest.raises(ApiError):
        fake.client.post("/1.0/profiles", {"name": "p"})
    assert [m for m, p, _ in fake.seen if p == "/1.0/profiles"] == ["POST"]
