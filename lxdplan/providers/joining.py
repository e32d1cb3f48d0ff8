"""Joins already in flight: a member that is joining this cluster is waited for, never joined again.

A join asked with ``PUT /1.0/cluster`` on the joining member runs as a task inside that member's
daemon and goes on when the client that asked for it dies (LXD-FACTS: "A join started by PUT
/1.0/cluster …"); for a while the member says it is clustered, with the cluster's certificate,
while the cluster's member list does not list it yet. An apply run again at once (a CI retry
after a kill) must wait for that join, read again and go on (``wait_for_joins``).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from lxdplan.errors import ApiError, ConnectError, LxdplanError
from lxdplan.providers.client import Client
from lxdplan.state.observed import OFFLINE

# The description LXD 5.0 and Incus 6.0 give the task a join runs as (operation type ClusterJoin).
JOIN_TASK = "Joining cluster"
JOIN_WAIT = 300.0  # seconds a join in flight is waited for (a join takes seconds; a loaded one more)
POLL = 0.5
NOTE_EVERY = 10.0


def join_running(metadata: Any) -> bool:
    """Whether ``GET /1.0/operations?recursion=1`` of a member lists a running join task."""
    running = (metadata or {}).get("running") if isinstance(metadata, dict) else None
    return any(isinstance(op, dict) and op.get("class") == "task"
               and op.get("description") == JOIN_TASK for op in running or [])


def read_join_running(client: Client) -> bool:
    """The member's own operations say a join runs in it (False when they cannot be read)."""
    try:
        return join_running(client.get("/1.0/operations", {"recursion": 1}).metadata)
    except (ApiError, ConnectError):
        return False


def wait_for_joins(names: list[str], client: Callable[[str], Client],
                   on_note: Callable[[str], None] = lambda text: None, *,
                   timeout: float = JOIN_WAIT, clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until no member of ``names`` runs a join task any more (the cluster then lists it,
    or the join failed and the next read plans it again), or until it cannot be reached (the
    next read shows why). ``on_note`` gets one line at the start and one
    every ``NOTE_EVERY`` seconds. A join still running after ``timeout`` is one sentence naming
    the member and the way out."""
    pending = list(names)
    start = clock()
    on_note(f"waiting for {_and(pending)} to finish joining the cluster (a join an earlier apply "
            "started still runs in its daemon)")
    next_note = start + NOTE_EVERY
    while True:
        for name in list(pending):
            joiner = client(name)
            try:
                joiner.get("/1.0")
            except ConnectError:
                pending.remove(name)  # down (or restarted mid-join): the next read says so
                continue
            if not read_join_running(joiner):
                pending.remove(name)
        if not pending:
            on_note(f"done waiting: {_and(names)} no longer joining ({int(clock() - start)}s)")
            return
        now = clock()
        if now - start >= timeout:
            raise LxdplanError(
                f"{_and(pending)} {'is' if len(pending) == 1 else 'are'} still joining the cluster "
                f"after {int(timeout)} s (a join an earlier apply started; the cluster does not "
                f"list {'it' if len(pending) == 1 else 'them'} yet): check the daemon's log on "
                f"{_and(pending)}, restart {'it' if len(pending) == 1 else 'them'} if the join "
                "hangs, then run apply again")
        if now >= next_note:
            on_note(f"still waiting for {_and(pending)} to finish joining the cluster... "
                    f"[{int(now - start)}s elapsed]")
            next_note += NOTE_EVERY
        sleep(POLL)


# What LXD says when minting a token while it counts no member online: right after the member
# that mints it was restarted, until the heartbeats come back (seen live on LXD 5.0.2).
NO_ONLINE = "no online cluster members"
TOKEN_WAIT = 60.0


def mint_token(cluster: Client, name: str, on_note: Callable[[str], None] = lambda text: None, *,
               timeout: float = TOKEN_WAIT, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep):
    """``POST /1.0/cluster/members`` (a join token for ``name``, not awaited); while the cluster
    counts no member online (its heartbeats not back after a restart) it is asked again, for
    ``timeout`` seconds at most."""
    start = clock()
    noted = False
    while True:
        try:
            return cluster.post("/1.0/cluster/members", {"server_name": name}, wait=False)
        except ApiError as exc:
            if NO_ONLINE not in str(exc).lower() or clock() - start >= timeout:
                raise
            if not noted:
                on_note(f"{cluster.member or 'the cluster'} counts no member online yet (it was "
                        f"restarted moments ago?): asking again for {name}'s join token")
                noted = True
        sleep(1.0)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


HEARTBEAT_WAIT = 60.0  # seconds a member listed Offline that answers is waited for (LXD's
# heartbeat round runs every few seconds; the default offline threshold is 20 s)


def listed_statuses(client: Client) -> dict[str, str]:
    """The cluster's status of each member, through ``client`` (empty when it cannot be read)."""
    try:
        members = client.get("/1.0/cluster/members", {"recursion": 1}).metadata
    except (ApiError, ConnectError):
        return {}
    return {str(m.get("server_name")): str(m.get("status")) for m in members or ()
            if isinstance(m, dict)}


def wait_for_heartbeats(names: list[str], statuses: Callable[[], dict[str, str]],
                        on_note: Callable[[str], None] = lambda text: None, *,
                        timeout: float = HEARTBEAT_WAIT, clock: Callable[[], float] = time.monotonic,
                        sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until the cluster (``statuses``: its listing) no longer lists any of ``names``
    Offline — members that answered their own ``GET /1.0`` as members of it, so the cluster has
    only not seen their heartbeat yet (an apply run again at once after the leader was killed
    and restarted). One line says so. After ``timeout`` it returns: the plan then shows them
    offline, as the cluster does, and blocks what needs them."""
    pending = list(names)
    start = clock()
    on_note(f"{_and(pending)} {'is' if len(pending) == 1 else 'are'} listed offline but "
            f"answer{'s' if len(pending) == 1 else ''}: waiting for the cluster to see "
            f"{'its' if len(pending) == 1 else 'their'} heartbeat (its leader restarted moments "
            "ago?)")
    while True:
        listed = statuses()
        pending = [n for n in pending if listed.get(n, OFFLINE) == OFFLINE]
        if not pending:
            on_note(f"done waiting: the cluster lists {_and(names)} online again "
                    f"({int(clock() - start)}s)")
            return
        if clock() - start >= timeout:
            return
        sleep(POLL)
