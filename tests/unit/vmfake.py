"""A virtual machine served as LXD 5.0.2 or Incus 6.0.4 would, from the answers recorded from
their API documentation and source (``data/instances/vm-answers.json``): no VM runs on the test
machines (no ``vhost_vsock``), so the instance actions are tested against this instead.

``VMServer`` scripts a ``FakeLXD`` (fakelxd.py) with answers computed from the VM's state: a
create, start, stop, migration (``POST`` with ``?target=``), update and delete each change it as
the server does, and it refuses what the server refuses, in the server's words: a config key a
running VM does not take ("Key %q cannot be updated when VM is running", decided by the keys the
recording copies from ``driver_qemu.go``, not by lxdplan's table), the delete of a running
instance, and, when ``can_run`` is False, the type itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakelxd import FakeLXD

ANSWERS = json.loads((Path(__file__).parent / "data" / "instances" / "vm-answers.json").read_text())
SERVERS = ("lxd-5.0.2", "incus-6.0.4")


def recorded(server: str) -> dict[str, Any]:
    """The recorded answers of ``server`` (``lxd-5.0.2`` or ``incus-6.0.4``), ``_source`` notes
    dropped."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k != "_source"}
        return value
    return clean(copy.deepcopy(ANSWERS[server]))


class VMServer:
    """The instances of one cluster, served through ``fake`` (each a recorded VM answer, changed
    as requests arrive); ``requests`` lists ``(method, path, body)`` of the changes asked."""

    def __init__(self, fake: FakeLXD, server: str, *, can_run: bool = True):
        self.fake, self.server, self.can_run = fake, server, can_run
        self.answers = recorded(server)
        self.instances: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.ops = 0
        self.errors: list[str] = []  # the fake's own faults (a test's request it did not expect)
        fake.script[("GET", "/1.0/operations")] = [self._guard(self._operations)]
        fake.script[("GET", "/1.0/images/aliases/debian")] = [self._guard(self._alias)]
        fake.script[("POST", "/1.0/instances")] = [self._guard(self._create)]

    def add(self, name: str = "vm1", **fields: Any) -> dict[str, Any]:
        """The recorded VM as ``name``, with ``fields`` changed (``config`` merged)."""
        inst = copy.deepcopy(self.answers["instance"])
        inst["config"].update(fields.pop("config", {}))
        inst.update(name=name, **fields)
        self._serve(inst)
        return inst

    def _serve(self, inst: dict[str, Any]) -> None:
        self.instances[inst["name"]] = inst
        path = f"/1.0/instances/{inst['name']}"
        self.fake.script[("GET", path)] = [self._guard(self._get)]
        self.fake.script[("PUT", path)] = [self._guard(self._put)]
        self.fake.script[("POST", path)] = [self._guard(self._migrate)]
        self.fake.script[("DELETE", path)] = [self._guard(self._delete)]
        self.fake.script[("PUT", path + "/state")] = [self._guard(self._state)]

    def _guard(self, answer):
        """``answer``, its own faults kept in ``errors`` and answered 500 (not a cut)."""
        def guarded(h) -> None:
            try:
                answer(h)
            except Exception:  # noqa: BLE001 - the test reads them
                self.errors.append(traceback.format_exc())
                _send(h, 500, _error("fake: " + self.errors[-1].splitlines()[-1], 500))
        return guarded

    # -- answers -------------------------------------------------------------------------------

    def _operations(self, h) -> None:
        _send(h, 200, _sync({"running": [], "success": [], "failure": []}))

    def _alias(self, h) -> None:
        _send(h, 200, _sync({"name": "debian", "target": "6d0f5e2b4a1c" + "0" * 50 + "aa"}))

    def _get(self, h) -> None:
        route, _ = _route(h)
        inst = self.instances.get(route.rsplit("/", 1)[1])
        if inst is None:
            _send(h, 404, _error("Instance not found", 404))
            return
        _send(h, 200, _sync(inst), etag=etag(inst))

    def _create(self, h) -> None:
        body = self._body(h)
        query = _route(h)[1]
        if not self.can_run and body.get("type") == "virtual-machine":
            self._failed_op(h, "create", self.answers["errors"]["unsupported"])
            return
        inst = copy.deepcopy(self.answers["instance"])
        inst.update(name=body["name"], type=body.get("type") or "container",
                    description=body.get("description", ""), profiles=body.get("profiles", []),
                    devices=body.get("devices", {}), status="Stopped", status_code=102,
                    location=query.get("target", "node1"))
        own = {k: v for k, v in inst["config"].items() if k.startswith("volatile.")}
        own["volatile.last_state.power"] = "STOPPED"
        if (body.get("source") or {}).get("type") == "none":
            own = {k: v for k, v in own.items() if k != "volatile.base_image"}
            image: dict[str, str] = {}
        else:
            image = {k: v for k, v in inst["config"].items() if k.startswith("image.")}
        inst["config"] = {**image, **own, **body.get("config", {})}
        self._serve(inst)
        self._op(h, "create")

    def _state(self, h) -> None:
        inst, body = self._inst(h), self._body(h)
        running = body["action"] in ("start", "restart")
        inst["status"], inst["status_code"] = ("Running", 103) if running else ("Stopped", 102)
        inst["config"]["volatile.last_state.power"] = "RUNNING" if running else "STOPPED"
        self._op(h, body["action"])

    def _put(self, h) -> None:
        inst, body = self._inst(h), self._body(h)
        if h.headers.get("If-Match") and h.headers["If-Match"] != etag(inst):
            _send(h, 412, _error("ETag doesn't match", 412))
            return
        if inst["status"] == "Running" and inst["type"] == "virtual-machine":
            old, new = inst["config"], body.get("config", {})
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key) and not self._live(key):
                    self._failed_op(h, "update", self.answers["errors"]["running_key"].replace("%q", f'"{key}"'))
                    return
        inst.update(config=body.get("config", {}), devices=body.get("devices", {}),
                    profiles=body.get("profiles", []), description=body.get("description", ""))
        self._op(h, "update")

    def _live(self, key: str) -> bool:
        return key in self.answers["live_keys"] or key.startswith(tuple(self.answers["live_prefixes"]))

    def _migrate(self, h) -> None:
        inst, body, query = self._inst(h), self._body(h), _route(h)[1]
        if not self.can_run:
            self._failed_op(h, "migrate", self.answers["errors"]["unsupported"])
            return
        # instance_post.go: a running instance is stopped for a move between members
        inst.update(location=query["target"], status="Stopped", status_code=102)
        assert body == {"name": inst["name"], "migration": True}, body
        self._op(h, "migrate")

    def _delete(self, h) -> None:
        inst = self._inst(h)
        self.requests.append(("DELETE", h.path, None))
        if inst["status"] == "Running":
            _send(h, 400, _error(self.answers["errors"]["delete_running"], 400))
            return
        del self.instances[inst["name"]]
        self._op(h, "delete")

    # -- helpers -------------------------------------------------------------------------------

    def _inst(self, h) -> dict[str, Any]:
        name = _route(h)[0].split("/")[3]
        return self.instances[name]

    def _body(self, h) -> Any:
        method, path, raw = self.fake.bodies[-1]
        assert (method, path) == (h.command, h.path)
        body = json.loads(raw)
        self.requests.append((h.command, h.path, body))
        return body

    def _op(self, h, what: str, err: str = "") -> None:
        """An async answer whose operation has already ended (``err``: failed)."""
        self.ops += 1
        op = {**self.answers["operation"], "id": f"op{self.ops}",
              "description": self.answers["descriptions"][what],
              "status": "Failure" if err else "Success", "status_code": 400 if err else 200,
              "err": err}
        op_path = f"/1.0/operations/op{self.ops}"
        self.fake.script[("GET", op_path + "/wait")] = [(200, _sync(op))]
        self.fake.script[("GET", op_path)] = [(200, _sync(op))]
        _send(h, 202, {"type": "async", "status": "Operation created", "status_code": 100,
                       "operation": op_path, "metadata": {**op, "status": "Running",
                                                          "status_code": 103, "err": ""}})

    def _failed_op(self, h, what: str, err: str) -> None:
        self._op(h, what, err)


def _route(h) -> tuple[str, dict[str, str]]:
    parts = urlsplit(h.path)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def etag(inst: dict[str, Any]) -> str:
    """As LXD's: a hash of the instance's own parts (its volatile keys too: a stop changes it)."""
    parts = [inst["architecture"], inst["config"], inst["devices"], inst["ephemeral"],
             inst["profiles"]]
    return '"' + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest() + '"'


def _sync(metadata: Any) -> dict[str, Any]:
    return {"type": "sync", "status": "Success", "status_code": 200, "metadata": metadata}


def _error(message: str, code: int) -> dict[str, Any]:
    return {"type": "error", "error": message, "error_code": code, "metadata": None}


def _send(h, status: int, body: dict[str, Any], etag: str | None = None) -> None:
    data = json.dumps(body).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    h.send_header("Connection", "close")  # FakeLXD closes it after a written answer
    if etag:
        h.send_header("ETag", etag)
    h.end_headers()
    h.wfile.write(data)
    h.wfile.flush()
