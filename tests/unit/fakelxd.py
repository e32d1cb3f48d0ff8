"""A fake LXD on a unix socket for the client's fault injection (unit tests): answers scripted
per ``(method, path)``, and the envelopes it answers with. Only what a real daemon cannot be made
to do on demand is faked (a connection cut in the middle of an operation, a 412, error
envelopes); everything else is tested against real LXD and Incus.

The ``fake`` fixture (tests/unit/conftest.py) is a ``FakeLXD`` with a ``Client`` for member node2.
"""

from __future__ import annotations

import json
import threading

import unixhttp

OP = "/1.0/operations/abc"


def sync(metadata, status=200):
    return status, {"type": "sync", "status_code": 200, "metadata": metadata}


def error(message, code):
    return code, {"type": "error", "error": message, "error_code": code, "metadata": None}


def op_state(code, err=""):
    return sync({"id": "abc", "status_code": code, "err": err, "metadata": {"secret": "s"},
                 "status": {200: "Success", 400: "Failure", 103: "Running"}[code]})


ASYNC = (202, {"type": "async", "status_code": 100, "operation": OP + "?project=default",
               "metadata": {"id": "abc", "status_code": 103}})
CUT = "cut"  # close the connection without answering
HOLD = "hold"  # take the request and never answer (a daemon waiting for the others to upgrade)


class FakeLXD:
    """Answers scripted per ``(method, path)``: a list consumed one answer per request. A
    ``path`` with its query answers only that query; one without answers every query."""

    def __init__(self, path: str):
        self.script: dict[tuple[str, str], list] = {}
        self.seen: list[tuple[str, str, dict]] = []
        self.bodies: list[tuple[str, str, bytes]] = []  # (method, path, body) of requests with one
        self.release = threading.Event()  # ends every HOLD (at close)
        fake = self

        class Handler(unixhttp.Handler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    fake.bodies.append((self.command, self.path, self.rfile.read(length)))
                route = self.path.split("?")[0]
                fake.seen.append((self.command, self.path, dict(self.headers)))
                answers = (fake.script.get((self.command, self.path))  # a query of its own
                           or fake.script.get((self.command, route)) or [error("not found", 404)])
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if callable(answer):  # writes its own answer (raw bytes, a trickle, …)
                    answer(self)
                    self.close_connection = True
                    return
                if answer == HOLD:
                    fake.release.wait()
                    self.close_connection = True
                    return
                if answer == CUT:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, body = answer
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if body.get("type") == "sync" and status == 200:
                    self.send_header("ETag", '"e1"')
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = unixhttp.serve(path, Handler)

    def count(self, method: str, route: str) -> int:
        return sum(1 for m, p, _ in self.seen if m == method and p.split("?")[0] == route)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
