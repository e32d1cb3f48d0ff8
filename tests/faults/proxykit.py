"""A small HTTP proxy on a unix socket in front of a real lab member's unix socket, and the formed
one-member cluster it stands in front of, for the fault cases about answers and the network.

The proxy forwards every request to the member and passes its answer back, except for requests
a rule chooses: those it answers wrongly (a wrong-shape ``metadata``, HTML, cut-off JSON, a
trickle, an endless body, an operation that stays Running) or not at all (the link is cut: the
connection is closed at once). Everything else is the real daemon's answer.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable

import pytest
import unixhttp
import yaml

from applykit import apply_ok, query, write
from labkit import BACKENDS, lab_root, new_name, require_backend
from lxdplan import lab as labapi
from lxdplan.lab.labfile import lab_document

HOP = ("connection", "content-length", "transfer-encoding", "keep-alive")
Answer = tuple[int, list[tuple[str, str]], bytes]
Action = Callable[[BaseHTTPRequestHandler, Answer], None]
CUT = "cut"  # close this connection without an answer
LINK_DOWN = "link down"  # from this request on, close every connection (until ``clear``)


@dataclass
class Rule:
    method: str
    route: str  # a path without its query; a trailing "*" matches a prefix
    action: Action | str
    times: int | None = None  # None: every matching request

    def matches(self, method: str, route: str) -> bool:
        if method != self.method or self.times == 0:
            return False
        return route.startswith(self.route[:-1]) if self.route.endswith("*") else route == self.route


@dataclass
class AnswerProxy:
    """Listens on ``socket``; forwards to ``upstream``. ``rules`` decide which answers go wrong;
    ``seen`` lists ``(method, path)`` of every request; ``sent`` counts the body bytes the
    proxy wrote for wrong answers (to show an endless body was not read whole)."""

    socket: str
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)
    sent: int = 0
    down: bool = False  # the link is cut: every connection is closed at once (``LINK_DOWN``)

    def start(self) -> "AnswerProxy":
        proxy = self

        class Handler(unixhttp.Handler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                route = self.path.split("?")[0]
                proxy.seen.append((self.command, self.path))
                rule = next((r for r in proxy.rules if r.matches(self.command, route)), None)
                if rule is not None and rule.times is not None:
                    rule.times -= 1
                if rule is not None and rule.action == LINK_DOWN:
                    proxy.down = True
                if proxy.down or (rule is not None and rule.action == CUT):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                answer = proxy.forward(self.command, self.path, dict(self.headers), body)
                if rule is None:
                    reply(self, *answer)
                else:
                    # A wrong answer ends its connection, and says so ("Connection: close"):
                    # a client that reused it for its next request would meet a connection
                    # closed without an answer, a fault the test did not ask for.
                    self.close_connection = True
                    rule.action(self, answer)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = unixhttp.serve(self.socket, Handler)
        return self

    def forward(self, method: str, path: str, headers: dict, body: bytes | None) -> Answer:
        conn = unixhttp.UnixConnection(self.upstream, timeout=300)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP}
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            return resp.status, [(k, v) for k, v in resp.getheaders()], resp.read()
        finally:
            conn.close()

    def when(self, method: str, route: str, action: Action | str, times: int | None = None) -> None:
        self.rules.append(Rule(method, route, action, times))

    def clear(self) -> None:
        """Forward everything again (the link is back)."""
        self.rules.clear()
        self.down = False

    def count(self, method: str, route: str) -> int:
        return sum(1 for m, p in self.seen if m == method and p.split("?")[0].startswith(route))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def reply(handler, status: int, headers: list[tuple[str, str]], data: bytes,
          length: int | None = None) -> None:
    handler.send_response(status)
    for key, value in headers:
        if key.lower() not in HOP:
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data) if length is None else length))
    if handler.close_connection:
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()


# -- wrong answers (actions) ----------------------------------------------------------------------


def metadata(change: Callable) -> Action:
    """The real answer with its ``metadata`` replaced by ``change(metadata)``."""
    def act(handler, answer: Answer) -> None:
        status, headers, data = answer
        body = json.loads(data)
        body["metadata"] = change(body["metadata"])
        reply(handler, status, headers, json.dumps(body).encode())
    return act


def html(status: int) -> Action:
    def act(handler, answer: Answer) -> None:
        reply(handler, status, [("Content-Type", "text/html")],
              b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>")
    return act


def truncated(handler, answer: Answer) -> None:
    """The first half of the real answer, with a Content-Length that says so."""
    status, headers, data = answer
    reply(handler, status, headers, data[: len(data) // 2])


def trickle(every: float) -> Action:
    """The real answer, one byte every ``every`` seconds, until the client hangs up."""
    def act(handler, answer: Answer) -> None:
        status, headers, data = answer
        reply(handler, status, headers, b"", length=len(data))
        for i in range(len(data)):
            time.sleep(every)
            try:
                handler.wfile.write(data[i:i + 1])
                handler.wfile.flush()
            except OSError:
                return
    return act


def endless(proxy: AnswerProxy, size: int = 2 * 1024 ** 3) -> Action:
    """A body announced as ``size`` bytes (2 GB) and streamed until the client hangs up."""
    def act(handler, answer: Answer) -> None:
        status, headers, _data = answer
        reply(handler, status, headers, b'{"type": "sync", "metadata": {"description": "',
              length=size)
        chunk = b"x" * 65536
        try:
            for _ in range(size // len(chunk)):
                handler.wfile.write(chunk)
                proxy.sent += len(chunk)
        except OSError:
            return
    return act


def running(handler, answer: Answer) -> None:
    """An operation's wait answered at once with the operation still Running."""
    status, headers, data = answer
    body = json.loads(data)
    if isinstance(body.get("metadata"), dict):
        body["metadata"].update(status="Running", status_code=103, err="")
    reply(handler, 200, headers, json.dumps(body).encode())


# -- the cluster behind the proxy -----------------------------------------------------------------


class Formed:
    """A formed one-member cluster (pool, bridge, default profile, busybox image), its file,
    and a proxy in front of its member with a file that reaches the member through it."""

    def __init__(self, lab, workdir: Path):
        self.lab, self.workdir = lab, workdir
        self.doc = lab_document(lab)
        self.path = write(self.doc, workdir / "direct.yaml")
        self.proxy = AnswerProxy(str(workdir / "proxy.socket"), lab.members[0].socket).start()

    @property
    def member(self) -> str:
        return self.lab.members[0].name

    def proxied(self, doc: dict | None = None) -> str:
        """A file (``doc``, default the cluster's) whose member is reached through the proxy."""
        doc = yaml.safe_load(yaml.safe_dump(doc or self.doc))
        doc["cluster"]["members"][0]["endpoint"] = f"unix://{self.proxy.socket}"
        return write(doc, self.workdir / "proxied.yaml")

    def direct(self, doc: dict) -> str:
        return write(doc, self.workdir / "direct.yaml")

    def instances(self) -> dict[str, dict]:
        return {i["name"]: i for i in query(self.lab, "/1.0/instances?recursion=1")}


def one_sentence(done, *parts: str) -> str:
    """A failed run: exit 1, one error line holding ``parts``, no traceback, no internal error."""
    assert done.returncode == 1, f"exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    err = done.stderr.strip()
    assert "Traceback" not in err and "internal error" not in err, err
    assert "Plan:" not in done.stdout, done.stdout  # nothing was planned from the answer
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    for part in parts:
        assert part in errors[0], err
    return errors[0]


@pytest.fixture(scope="session", params=BACKENDS)
def cluster1(request, tmp_path_factory):
    """A one-member cluster per backend, formed by ``apply``, with a proxy in front of it."""
    require_backend(request.param)
    lab = labapi.up(name=new_name(f"ans-{request.param}"), backend=request.param, members=1,
                    root=lab_root())
    cluster = None
    try:
        cluster = Formed(lab, tmp_path_factory.mktemp(f"answers-{request.param}"))
        apply_ok(cluster.path)
        yield cluster
    finally:
        if cluster is not None:
            cluster.proxy.close()
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


@pytest.fixture
def proxy(cluster1):
    """The formed cluster's proxy, forwarding everything again after the test."""
    cluster1.proxy.clear()
    cluster1.proxy.seen.clear()
    cluster1.proxy.sent = 0
    yield cluster1.proxy
    cluster1.proxy.clear()
