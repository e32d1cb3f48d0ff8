"""Instances (``lxdplan.kinds.instance``): create, update, start, stop, move, delete.

Level-based: each action reads the instance first and does only what is left, so an apply
killed during a launch or a move finishes it on the next run without a second instance. An
operation of LXD's still running on the instance (a move the killed apply started: the server
carries it on) is waited for before anything else is asked of it.

Facts (LXD 5.0.2 and Incus 6.0.4, shared/LXD-FACTS.md): ``POST /1.0/instances?target=node2`` or
``?target=@group`` places it; a container on a local pool moves only stopped, with
``POST /1.0/instances/<n>?target=<member>`` and ``{"name": <n>, "migration": true}``.
A stop asks the container to shut down (30 s), then forces it. A member that cannot run the
instance's type (no ``vhost_vsock`` for a virtual machine) refuses the create or the move with
"Instance type "virtual-machine" is not supported on this server: …" (``instance_utils.go`` of
both): the refusal is said as that member's, not as the member the request went through.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from lxdplan.errors import ApiError, PreconditionFailed
from lxdplan.kinds.base import SingleRequests, payload_of
from lxdplan.kinds.instance import NO_IMAGE, START, STOP, Change, Write
from lxdplan.kinds.placement import MOVE
from lxdplan.plan import Action, Kind, Step
from lxdplan.providers.actions.common import get_or_none, gone, precondition, reveal
from lxdplan.providers.client import Client, path_of
from lxdplan.providers.session import Session
from lxdplan.registry import spec_of

STOP_TIMEOUT = 30
# A server with this extension (Incus 6.0; not LXD 5.0.2) starts an instance in its create's own
# operation (``"start": true``): a launch is one operation instead of a create and a start, and
# two reads (operations, the instance) and the start's request fewer, on a busy member.
CREATE_START = "instance_create_start"
RUNNING = ("Running", "Frozen")
UNSUPPORTED = "is not supported on this server"  # LXD's and Incus's words for a type it cannot run
TYPE_NAMES = {"container": "containers", "virtual-machine": "virtual machines"}


def _at(step: Step) -> tuple[str, dict[str, str] | None]:
    p = step.payload
    assert isinstance(p, (Write, Change)), p
    return path_of("instances", p.name), ({"project": p.project} if p.project != "default" else None)


def _read(client: Client, step: Step) -> dict[str, Any] | None:
    path, params = _at(step)
    _settle(client, path, params)
    found = get_or_none(client, path, params)
    return (found.metadata or {}) if found else None


def _settle(client: Client, path: str, params: dict[str, str] | None) -> None:
    """Wait for LXD's running operations on this instance (their outcome is read after)."""
    try:
        ops = client.get("/1.0/operations", {"recursion": 1, **(params or {})}).metadata or {}
    except ApiError:
        return
    for op in ops.get("running") or []:
        if op.get("class") != "task":
            continue
        touched = [u.split("?")[0] for u in (op.get("resources") or {}).get("instances") or ()]
        if path in touched:
            try:
                client.wait_operation(op["id"])
            except ApiError:
                pass  # it failed: the state read next says what is left


def _state(client: Client, step: Step, action: str) -> None:
    path, params = _at(step)
    if action == "start":
        client.put(f"{path}/state", {"action": "start", "timeout": STOP_TIMEOUT}, params=params)
        return
    try:
        client.put(f"{path}/state", {"action": "stop", "timeout": STOP_TIMEOUT}, params=params)
    except ApiError:
        md = (client.get(path, params).metadata or {})
        if md.get("status") in RUNNING:  # it did not shut down in time
            client.put(f"{path}/state", {"action": "stop", "force": True}, params=params)


def create(s: Session, step: Step) -> bool:
    p = payload_of(step, Write)
    client = s.cluster()
    live = _read(client, step)
    changed = False
    if live is None:
        body = _spec().create_body(step)
        if p.image != NO_IMAGE:  # else no source: the kind's body says so
            body["source"] = _image_source(s, client, p)
        params = {**(_at(step)[1] or {}), **({"target": p.target} if p.target else {})}
        start_now = p.start and CREATE_START in s.observed.api_extensions
        if start_now:
            body["start"] = True
        try:
            client.post("/1.0/instances", reveal(body), params=params or None)
        except ApiError as exc:
            _cannot_run(client, exc, p.name, p.type, p.target, "created")
        if start_now:  # the create's operation started it: nothing is left to read or ask
            return True
        changed = True
        live = {}  # just created, so stopped: no operations of its own to wait for, no read
    return _started(client, step, p, live) or changed


def _started(client: Client, step: Step, p: Write | Change, live: dict[str, Any]) -> bool:
    """Start the instance when it should run and does not (a launch, a move): True if started."""
    if p.start and live.get("status") not in RUNNING:
        _state(client, step, "start")
        return True
    return False


def _image_source(s: Session, client: Client, p: Write) -> dict[str, str]:
    """``REMOTE:ALIAS``: pulled from that remote of the client configuration; else an alias the
    cluster holds, else a fingerprint (or its prefix)."""
    image, project = p.image, p.project
    if ":" in image:
        from lxdplan.providers.remotes import image_source

        backend = s.observed.backend or s.desired.backend or "lxd"
        return image_source(image, instance=p.name, backend=backend)
    params = {"project": project} if project != "default" else None
    if get_or_none(client, path_of("images", "aliases", image), params) is None \
            and re.fullmatch(r"[0-9a-fA-F]{12,64}", image):
        return {"type": "image", "fingerprint": image}
    return {"type": "image", "alias": image}


def _spec() -> SingleRequests:
    """The instances' spec, whose create and update bodies these handlers send."""
    spec = spec_of(Kind.INSTANCE)
    assert isinstance(spec, SingleRequests), spec
    return spec


def update(s: Session, step: Step) -> bool:
    p = payload_of(step, Write)
    client = s.cluster()
    path, params = _at(step)
    _settle(client, path, params)
    answer = client.get(path, params)
    spec = _spec()
    body = spec.put_body(step, answer.metadata or {})
    if spec.holds(answer.metadata or {}, body):
        return _started(client, step, p, answer.metadata or {}) if p.restart else False
    etag = answer.etag if p.fresh_etag else step.etag
    if p.restart and (answer.metadata or {}).get("status") in RUNNING:
        # A running VM refuses these keys: stopped first. The stop rewrites LXD's volatile
        # keys, so the ETag to send is the one read after it, once the plan's still held.
        with precondition(step):
            if etag and answer.etag and etag != answer.etag:
                raise PreconditionFailed("the ETag changed", member=client.member, status=412)
        _state(client, step, "stop")
        answer = client.get(path, params)
        body, etag = spec.put_body(step, answer.metadata or {}), answer.etag
    with precondition(step):
        client.put(path, reveal(body), params=params, etag=etag)
    return _started(client, step, p, answer.metadata or {}) or True


def start(s: Session, step: Step) -> bool:
    client = s.cluster()
    live = _read(client, step)
    if live is None or live.get("status") in RUNNING:
        return False
    _state(client, step, "start")
    return True


def stop(s: Session, step: Step) -> bool:
    client = s.cluster()
    live = _read(client, step)
    if live is None or live.get("status") not in RUNNING:
        return False
    _state(client, step, "stop")
    return True


def move(s: Session, step: Step) -> bool:
    """Stop, migrate with ``?target=``, start again when it should run; each part only when
    it is still to do."""
    p = payload_of(step, Change)
    client = s.cluster()
    live = _read(client, step)
    if live is None:
        return False
    changed = False
    if not _arrived(client, live.get("location", ""), p.target):
        if live.get("status") in RUNNING:
            _state(client, step, "stop")
        path, params = _at(step)
        try:
            client.post(path, {"name": p.name, "migration": True},
                        params={**(params or {}), "target": p.target})
        except ApiError as exc:
            _cannot_run(client, exc, p.name, live.get("type", ""), p.target, "moved")
        changed = True
        live = _read(client, step) or {}
    return _started(client, step, p, live) or changed


def _cannot_run(client: Client, exc: ApiError, name: str, kind: str, target: str,
                done: str) -> NoReturn:
    """Re-raise ``exc``; when it is a member refusing the instance's type, as one sentence naming
    that member (the request may have gone through another one)."""
    said = getattr(exc, "lxd_message", "")
    if UNSUPPORTED not in said:
        raise exc
    if not target:
        who, member = "the member LXD chose for it", None
    elif target.startswith("@"):
        who, member = f"the member of group {target[1:]} LXD chose for it", None
    else:
        who, member = f"member {target}", target
    what = TYPE_NAMES.get(kind, f"instances of type {kind}")
    raise ApiError(
        f"{who} cannot run {what}, so instance {name} was not {done} ({client.label} says: "
        f"{said}): declare it on a member that can run them, or drop it from the file",
        member=member or exc.member, status=exc.status,
    ) from None


def _arrived(client: Client, location: str, target: str) -> bool:
    if not target.startswith("@"):
        return location == target
    group = get_or_none(client, path_of("cluster", "groups", target[1:]))
    return location in ((group.metadata or {}).get("members") or ()) if group else False


def delete(s: Session, step: Step) -> bool:
    client = s.cluster()
    live = _read(client, step)
    if live is None:
        return False
    if live.get("status") in RUNNING:
        path, params = _at(step)
        client.put(f"{path}/state", {"action": "stop", "force": True}, params=params)
    path, params = _at(step)
    return gone(lambda: client.delete(path, params=params))


HANDLERS = {Action.CREATE: create, Action.UPDATE: update, START: start, STOP: stop,
            MOVE: move, Action.DELETE: delete}
