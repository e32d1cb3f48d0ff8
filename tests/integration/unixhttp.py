"""A tiny HTTP client over a daemon's unix socket, for test scaffolding that must not depend on
lxdplan's own client (``lxdplan/providers/``): it sends one request and reads a JSON answer,
with the standard library only.
"""

from __future__ import annotations

import http.client
import json
import socket


class _UnixConnection(http.client.HTTPConnection):
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
    conn = _UnixConnection(sock_path, timeout)
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

