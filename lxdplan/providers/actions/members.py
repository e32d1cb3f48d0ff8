"""Membership and server config: bootstrap, join, remove, member attributes, evacuate/restore,
cluster-wide and member-local server config. Each action re-reads first (level-based)."""

from __future__ import annotations

import base64
import json
from typing import Any

from lxdplan import keys
from lxdplan.compare import diff_server
from lxdplan.desired import SENSITIVE
from lxdplan.errors import ApiError, ConnectError, LxdplanError, PreconditionFailed, TrustError
from lxdplan.kinds.base import payload_of
from lxdplan.livedata import clean_config
from lxdplan.membership import FORCE_REMOVE
from lxdplan.payloads import Bootstrap, Join, MemberState, MemberUpdate, Remove, ServerUpdate
from lxdplan.plan import Step
from lxdplan.providers import joining
from lxdplan.providers.actions.common import get_or_none, gone, precondition, reveal
from lxdplan.providers.backend import Backend
from lxdplan.providers.certs import fingerprint
from lxdplan.providers.client import Client, operation_path, path_of, short
from lxdplan.providers.parse import local_keys
from lxdplan.providers.session import Session
from lxdplan.state.observed import EVACUATED, OFFLINE, ONLINE


def _changes(live: dict[str, Any] | None, wanted: dict[str, Any] | None) -> dict[str, Any]:
    """The server keys to PATCH so ``wanted`` holds (``None`` = unset, sent as ``""``)."""
    changes = diff_server(clean_config(live), wanted or {})
    return {k: ("" if new is None else new) for k, (_old, new) in changes.items()}


def _patch_server(client: Client, step: Step, changes: dict[str, Any], params=None) -> None:
    with precondition(step):
        client.patch("/1.0", {"config": reveal(changes)}, params=params, etag=step.etag)


# -- bootstrap and join ---------------------------------------------------------------------------

def bootstrap(s: Session, step: Step) -> bool:
    """Set the first member's server config, then ``PUT /1.0/cluster`` to form the cluster."""
    name = step.member or step.name
    server_name = payload_of(step, Bootstrap).server_name
    client = s.client(name)
    meta = s.server(name, fresh=True)
    env = meta.get("environment") or {}
    if env.get("server_clustered"):
        if env.get("server_name") != server_name:
            raise LxdplanError(
                f"member {name} already belongs to a cluster as {env.get('server_name')}; "
                f"it cannot bootstrap one as {server_name}"
            )
        _adopt_cluster(s, name, meta)
        return False
    changes = _changes(meta.get("config"), payload_of(step, Bootstrap).config)
    if changes:
        _patch_server(client, step, changes)
    client.put("/1.0/cluster", {"server_name": server_name, "enabled": True})
    _adopt_cluster(s, name, _read_after_change(s, name))
    return True


def _read_after_change(s: Session, name: str) -> dict[str, Any]:
    """``GET /1.0`` right after the member's certificate changed, over the connection verified
    before (the new certificate cannot be checked against the old pin on a new connection)."""
    try:
        return s.server(name, fresh=True)
    except (ConnectError, TrustError):
        raise TrustError(
            f"member {name} changed its certificate when it joined the cluster and lxdplan lost "
            f"the verified connection before reading the new one; run `lxdplan auth trust -f "
            f"{s.desired.path}` to accept the cluster certificate, then apply again"
        ) from None


def _adopt_cluster(s: Session, name: str, meta: dict[str, Any]) -> None:
    """Pin the cluster certificate (read over a verified connection) and reconnect."""
    cert = (meta.get("environment") or {}).get("certificate") or ""
    s.pin_cluster_certificate(cert)
    s.reconnect(name)
    s.use_cluster(name)


def join(s: Session, step: Step) -> bool:
    """Join one member with a fresh join token minted on the cluster (never retried)."""
    name = step.member or step.name
    p = payload_of(step, Join)
    joiner = s.client(name)
    meta = s.server(name, fresh=True)
    env = meta.get("environment") or {}
    if joining.read_join_running(joiner) or (
            env.get("server_clustered") and env.get("server_name") == name):
        # A join in flight (an earlier apply was killed during it): wait, never join again.
        joining.wait_for_joins([name], s.client, s.note)
        s.reconnect(name)
        listed = [u.rsplit("/", 1)[-1] for u in s.cluster().get("/1.0/cluster/members").metadata or []]
        if name in listed:
            return False
        meta = s.server(name, fresh=True)
        env = meta.get("environment") or {}
        if env.get("server_clustered"):
            raise LxdplanError(
                f"member {name} says it belongs to the cluster as {name}, but the cluster does not "
                f"list it (a join that did not finish); reset {name}'s daemon (a fresh, unclustered "
                "one) and run apply again")
    if env.get("server_clustered"):
        raise LxdplanError(
            f"member {name} already belongs to a cluster as {env.get('server_name')}; it cannot "
            f"join as {name}"
        )
    cluster = s.cluster()
    names = [u.rsplit("/", 1)[-1] for u in cluster.get("/1.0/cluster/members").metadata or []]
    if name in names:
        raise LxdplanError(
            f"the cluster already lists a member named {name}, but {joiner.endpoint} is not "
            f"clustered; remove the stale member {name} from the cluster first"
        )
    _drop_join_leftovers(joiner, cluster)
    revoke_join_tokens(cluster, name)
    cluster_env = s.server(cluster.member or "", fresh=True).get("environment") or {}
    cert = cluster_env.get("certificate") or ""
    cluster_fp = fingerprint(cert) if cert else ""
    if cluster.server_fingerprint and cluster.server_fingerprint != cluster_fp:
        raise TrustError(
            f"member {cluster.who} presented certificate {short(cluster.server_fingerprint)} but "
            f"reports cluster certificate {short(cluster_fp)}; refusing to join {name}"
        )
    op = joining.mint_token(cluster, name, s.note)
    operation = op.operation or ""
    sent = False
    try:
        md = (op.metadata or {}).get("metadata") or {}
        if md.get("fingerprint") != cluster_fp:
            raise TrustError(
                f"the join token for {name} names certificate {short(md.get('fingerprint', ''))}, "
                f"but the cluster serves {short(cluster_fp)}; refusing to join"
            )
        token = encode_join_token(md)
        changes = _changes(meta.get("config"), p.config)
        if changes:
            _patch_server(joiner, step, changes)
        declared = s.desired.member(name)
        address = p.address or (declared.address if declared else "")
        body = Backend.from_server(meta).join_request(
            server_name=name,
            server_address=address,
            cluster_address=_cluster_address(s, cluster, md.get("addresses") or []),
            cluster_certificate=cert,
            token=token,
            member_config=reveal(list(p.member_config)),
        )
        sent = True
        try:
            joiner.put("/1.0/cluster", body)
        except ApiError as exc:
            message = str(exc).replace(token, SENSITIVE)
            if md.get("secret"):
                message = message.replace(md["secret"], SENSITIVE)
            raise ApiError(message, member=name, status=exc.status) from None
    except BaseException as exc:
        # A join cut off mid-way may still complete on the server: leave its token alone then
        # (the next apply finds the member joined, or revokes the token before minting another).
        if not sent or isinstance(exc, ApiError):
            _cancel(cluster, operation)
        raise
    s.pin_cluster_certificate(cert)
    s.reconnect(name)
    return True


def _drop_join_leftovers(joiner: Client, cluster: Client) -> None:
    """Delete what a failed join left on the (still unclustered) joining member.

    A join that fails part-way through creating the cluster's pools and networks (seen live on
    Incus 6.0: a non-empty ``source``) leaves the ones it made on the joiner, and the next join
    then fails on them ("Config key "source" is cluster member specific"). Only objects that
    carry lxdplan's ownership mark (copied from the cluster's definition), are unused, and
    share a name with a cluster object are removed: nothing a user made by hand.
    """
    for coll in ("storage-pools", "networks"):
        try:
            local = joiner.get(f"/1.0/{coll}", {"recursion": 1}).metadata or []
            theirs = {o.get("name") for o in cluster.get(f"/1.0/{coll}", {"recursion": 1}).metadata or []}
        except ApiError:
            continue
        for obj in local:
            config = obj.get("config") or {}
            if (obj.get("name") in theirs and obj.get("managed", True)
                    and config.get(keys.OWNER_KEY) == keys.OWNER_VALUE and not obj.get("used_by")):
                gone(lambda: joiner.delete(path_of(coll, obj["name"])))


def encode_join_token(md: dict[str, Any]) -> str:
    """The join token (base64 JSON) from the token operation's metadata."""
    token = {
        "server_name": md.get("serverName"),
        "fingerprint": md.get("fingerprint"),
        "addresses": md.get("addresses") or [],
        "secret": md.get("secret"),
        "expires_at": md.get("expiresAt", "0001-01-01T00:00:00Z"),
    }
    return base64.b64encode(json.dumps(token).encode()).decode()


def revoke_join_tokens(cluster: Client, name: str) -> int:
    """Cancel join tokens for ``name`` left by an earlier, interrupted apply. Join tokens are
    running operations of class ``token`` (LXD 5.0 and Incus 6.0 alike)."""
    ops = cluster.get("/1.0/operations", {"recursion": 1}).metadata or {}
    count = 0
    for op in ops.get("running") or []:
        if op.get("class") == "token" and (op.get("metadata") or {}).get("serverName") == name:
            count += _cancel(cluster, str(op.get("id") or ""))
    return count


def _cancel(client: Client, operation: str) -> int:
    if not operation:
        return 0
    try:
        path = operation_path(operation).split("?")[0]
        return 1 if gone(lambda: client.delete(path)) else 0
    except (ApiError, ConnectError, ValueError):
        return 0  # best effort: an unused token expires on its own


def _cluster_address(s: Session, cluster: Client, addresses: list[str]) -> str:
    declared = s.desired.member(cluster.member or "")
    if declared is not None and (declared.address in addresses or not addresses):
        return declared.address
    return addresses[0]


# -- membership changes ---------------------------------------------------------------------------

def remove(s: Session, step: Step) -> bool:
    """Graceful removal, or with force (only of an offline member) for ``force-remove``."""
    name = step.member or step.name
    force = step.action == FORCE_REMOVE
    cluster = s.cluster(avoid=name)
    path = path_of("cluster", "members", name)
    live = get_or_none(cluster, path)
    if live is None:
        return False
    status = (live.metadata or {}).get("status", "")
    if force and status != OFFLINE:
        raise LxdplanError(
            f"member {name} is {status or 'not offline'}, and lxdplan removes only offline members "
            f"with force; plan again"
        )
    try:
        if not gone(lambda: cluster.delete(path, params={"force": 1} if force else None)):
            return False
    except ApiError:
        if force or not payload_of(step, Remove).force_if_unreachable or _answers(cluster, name):
            raise
        # An evacuated member the cluster cannot reach: force_remove allowed removing it with force.
        if not gone(lambda: cluster.delete(path, params={"force": 1})):
            return False
    s.reconnect(name)
    return True


# How long a read forwarded to an evacuated member whose graceful removal failed is asked again
# while refused "not ready" (Incus's word for a member it cannot reach, and for one restarted
# moments ago, until the next heartbeat reaches it) before it is deemed unreachable.
ANSWERS_WAIT = 10.0


def _answers(cluster: Client, name: str) -> bool:
    """Whether the cluster reaches member ``name`` (a read forwarded to it)."""
    try:
        cluster.get("/1.0", {"target": name}, not_ready_wait=ANSWERS_WAIT)
    except (ApiError, ConnectError):
        return False
    return True


def update_member(s: Session, step: Step) -> bool:
    """Description, failure domain, groups and assignable roles (database roles kept as read).

    The plan's ETag guards against changes made outside lxdplan, but an earlier step of this
    very apply (a join or a removal) makes LXD rebalance the members' database roles, which
    moves the ETag. So the member is read again, and the step stops only when a field it sends
    (description, failure domain, groups, assignable roles, config) moved since the plan;
    otherwise it writes with the fresh ETag and the fresh database roles."""
    name = step.member or step.name
    p = payload_of(step, MemberUpdate)
    cluster = s.cluster()
    path = path_of("cluster", "members", name)
    live = cluster.get(path)
    md = live.metadata or {}
    now = _member_fields(md)
    db_roles = [r for r in (md.get("roles") or []) if r in keys.DATABASE_ROLES]
    wanted = {
        "description": p.description or "",
        "failure_domain": p.failure_domain or "default",
        "groups": sorted(p.groups or now["groups"]) or ["default"],
        "roles": sorted(r for r in p.roles if r not in keys.DATABASE_ROLES),
        "config": now["config"],
    }
    if all(now[k] == wanted[k] for k in ("description", "failure_domain", "groups", "roles")):
        return False
    if step.etag and live.etag != step.etag:
        # as the plan read it: what it sends, but the old value of each field it changes
        planned = _member_fields({**p.as_dict(), **(step.before or {})})
        moved = [k for k in planned if planned[k] != now[k]]
        if moved:
            raise PreconditionFailed(
                f"member {name} changed outside lxdplan since the plan ({', '.join(moved)}); "
                "run plan again", member=name, status=412)
    with precondition(step):
        cluster.put(path, {**wanted, "roles": db_roles + wanted["roles"]}, etag=live.etag)
    return True


def _member_fields(md: dict[str, Any]) -> dict[str, Any]:
    """What ``update_member`` sends, as compared: database roles left out (LXD's own)."""
    return {
        "description": md.get("description") or "",
        "failure_domain": md.get("failure_domain") or "default",
        "groups": sorted(md.get("groups") or ["default"]),
        "roles": sorted(r for r in (md.get("roles") or []) if r not in keys.DATABASE_ROLES),
        "config": dict(md.get("config") or {}),
    }


# What LXD 5.0.2 and Incus 6.0.4 call their evacuate and restore tasks (operationtype).
MEMBER_STATE_TASKS = ("Evacuating cluster member", "Restoring cluster member")


def change_state(s: Session, step: Step) -> bool:
    """Evacuate or restore a member (``POST …/state``, awaited)."""
    name = step.member or step.name
    action = payload_of(step, MemberState).action
    cluster = s.cluster()
    _settle_member_states(s, cluster)
    status = (cluster.get(path_of("cluster", "members", name)).metadata or {}).get("status", "")
    if action == "evacuate" and status in (EVACUATED, "Evacuating"):
        return False
    if action == "restore" and status == ONLINE:
        return False
    cluster.post(path_of("cluster", "members", name, "state"), {"action": action})
    return True


def _settle_member_states(s: Session, cluster: Client) -> None:
    """Wait for an evacuation or restore still running (an earlier apply, stopped during one,
    left it to the daemon). Both set the member's status as they start (``api_cluster.go``), so
    the status alone would say done while instances are still stopped or moved; their
    operations name no resource, so any running one is waited for."""
    try:
        ops = cluster.get("/1.0/operations", {"recursion": 1}).metadata or {}
    except ApiError:
        return
    for op in ops.get("running") or []:
        if not isinstance(op, dict) or op.get("class") != "task" \
                or op.get("description") not in MEMBER_STATE_TASKS or not op.get("id"):
            continue
        s.note(f"waiting for an earlier {op['description'].split()[0].lower()} of a member to end")
        try:
            cluster.wait_operation(str(op["id"]))
        except ApiError:
            pass  # it failed: the status read next says what is left


# -- server config --------------------------------------------------------------------------------

def update_server(s: Session, step: Step) -> bool:
    """Cluster-wide keys (``PATCH /1.0`` on the member whose ETag the plan read) or one member's
    local keys (``PATCH /1.0?target=<member>``). Only changed keys are sent; never a full PUT."""
    payload = payload_of(step, ServerUpdate)
    if payload.refresh:
        return refresh_views(s, payload.config, payload.refresh)
    wanted = payload.config
    if step.member:
        client, params = s.at(step.member), {"target": step.member}
        live = client.get("/1.0", params).metadata or {}
        local = local_keys(s.observed.backend)
        config = {k: v for k, v in (live.get("config") or {}).items() if k in local}
    else:
        client, params = _config_client(s, step), None
        live = client.get("/1.0").metadata or {}
        config = live.get("config") or {}
    changes = _changes(config, wanted)
    if not changes:
        return False
    if not step.member and config.get(keys.LEGACY_LOCK_KEY):
        changes[keys.LEGACY_LOCK_KEY] = ""  # an earlier version's lock: cleared while writing anyway
    _patch_server(client, step, changes, params)
    return True


def _config_client(s: Session, step: Step) -> Client:
    member = s.observed.config_member
    if step.etag and member and s.desired.member(member) is not None:
        try:
            return s.at(member)
        except (ApiError, ConnectError):
            pass
    return s.cluster()


def refresh_views(s: Session, wanted: dict[str, Any], members: list[str]) -> bool:
    """Every member in ``members`` shows ``wanted`` (cluster-wide keys) in its own ``GET /1.0``.

    LXD 5.0.2 keeps each member's view in memory and a member that joined after the keys were
    written lacks them; a cluster-wide ``PATCH /1.0``, even of no key, makes the member that
    takes it notify every other one, which then loads the whole cluster-wide config from the
    database (seen live). So: read every view, write nothing when all hold, else send that
    empty PATCH once and read the views that differed again. A member that cannot be read is
    left for the next plan (it shows its view there)."""
    stale = _stale(s, wanted, members)
    if not stale:
        return False
    s.cluster().patch("/1.0", {"config": {}})
    still = _stale(s, wanted, stale)
    if still:
        names = ", ".join(still)
        raise LxdplanError(
            f"{names} still {'shows' if len(still) == 1 else 'show'} cluster-wide server config "
            f"that differs from the file after a cluster-wide write made every member load it "
            f"again; restart the daemon of {names} (it loads the config when it starts) and run "
            f"apply again")
    return True


def _stale(s: Session, wanted: dict[str, Any], members: list[str]) -> list[str]:
    """The members whose own view of the keys in ``wanted`` differs from it."""
    local = local_keys(s.observed.backend)
    out = []
    for name in members:
        try:
            live = s.at(name).get("/1.0", {"target": name}).metadata or {}
        except (ApiError, ConnectError):
            continue
        view = {k: v for k, v in clean_config(live.get("config")).items() if k not in local}
        if diff_server(view, {k: v for k, v in wanted.items() if k not in local}):
            out.append(name)
    return out
