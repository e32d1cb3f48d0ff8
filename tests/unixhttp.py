"""HTTP over unix sockets for test scaffolding, with the standard library only (never lxdplan's
own client, ``lxdplan/providers/``): a connection and a one-shot JSON request to a daemon's
socket, and a threaded server on a socket for the fakes and proxies the tests put in front of
lxdplan (``tests/faults/proxykit.py``, ``tests/unit/test_cluster_lock.py``).

``tests/`` is on ``sys.path`` in every test run (pytest puts the root conftest's directory there).
"""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler


class UnixConnection(http.client.HTTPConnection):
    """An ``http.client`` connection to the server listening on the unix socket ``path``."""

    def __init__(self, path: str, timeout: float):
        super().__init__("lxd", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def request(sock_path: str, method: str, path: str, body=None, timeout: float = 30.0) -> tuple[int, dict]:
    """Send one request; return (HTTP status, decoded JSON envelope or {}).

    Raises ``OSError`` when the socket cannot be reached.
    """
    conn = UnixConnection(sock_path, timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        return resp.status, doc
    finally:
        conn.close()


class Handler(BaseHTTPRequestHandler):
    """A request handler for ``serve``: HTTP/1.1 keep-alive, nothing logged."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(path: str, handler: type[BaseHTTPRequestHandler]) -> socketserver.BaseServer:
    """Serve ``handler`` on a new unix socket at ``path`` from a daemon thread, one thread per
    connection; stop it with ``.shutdown()`` and ``.server_close()``."""
    server = _Server(path, handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server
