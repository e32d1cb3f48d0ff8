"""Whether the members reach each other again after one of them restarted.

A member restarted moments ago serves its own API at once, but the others' links to it come
back only at their next heartbeat. Until then Incus 6.0.4 refuses whatever a member must ask of
it — a request forwarded with ``?target=`` or to the member holding an instance, an image
fetched from it, a migration: at once with "Server isn't ready yet" once the member found it
unreachable, else after 10 s with "Missing event connection with target cluster member"
(``EventListenerWait`` in ``internal/server/cluster/events.go``; seen live both ways on an apply
right after a restart). A refused change did nothing and is asked again (``client.NOT_READY``);
a failed *operation* may have done part of its work, and a read failed so fails its step. Such
a step waits here, then runs again from its re-read (actions are level-based).

The signal is the one Incus checks: a read forwarded through member A to member B
(``GET /1.0?target=B``) goes through once A's link to B is back.
"""

from __future__ import annotations

import time

from lxdplan.errors import ApiError, LxdplanError
from lxdplan.providers.client import NOT_READY, Client
from lxdplan.providers.session import Session
from lxdplan.state.observed import OFFLINE

LINKS_WAIT = 60.0  # seconds; a heartbeat comes every few seconds
PAUSE = 1.0
LINK_DOWN = (NOT_READY, "missing event connection with target cluster member")


def link_down(exc: BaseException) -> bool:
    """Whether a refusal says a member's link to another member is not back yet."""
    text = str(exc).lower()
    return any(words in text for words in LINK_DOWN)


def wait_links(s: Session, *, wait: float | None = None) -> bool:
    """Until every declared member that lxdplan reaches forwards a read to every other member
    the cluster does not list Offline: True; False when some link is still down after ``wait``
    seconds (``LINKS_WAIT``), or the cluster cannot be read."""
    try:
        listed = s.cluster().get("/1.0/cluster/members", {"recursion": 1}).metadata or []
    except LxdplanError:
        return False
    names = [m.get("server_name", "") for m in listed if m.get("status") != OFFLINE]
    pending = {(a, b) for a in names for b in names
               if a != b and s.desired.member(a) is not None}
    deadline = time.monotonic() + (LINKS_WAIT if wait is None else wait)
    while True:
        pending = {(a, b) for a, b in pending if not _forwards(s, a, b)}
        if not pending:
            return True
        if time.monotonic() >= deadline:
            return False
        s.note(f"waiting for {len(pending)} link(s) between members to come back "
               f"(e.g. {sorted(pending)[0][0]} to {sorted(pending)[0][1]})")
        time.sleep(PAUSE)


def _forwards(s: Session, via: str, target: str) -> bool:
    """Whether a read forwarded through ``via`` to ``target`` goes through. Only a refusal
    that says the link is down counts; any other answer is not this wait's concern."""
    try:
        client: Client = s.client(via)
        client.get("/1.0", {"target": target})
    except ApiError as exc:
        return not link_down(exc)
    except LxdplanError:
        return True  # ``via`` itself is unreachable: the step's own request says so
    return True
