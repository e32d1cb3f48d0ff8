"""The two jobs behind `plan` and `apply`: observe → plan, and lock → observe → plan → execute.

No printing here: the CLI passes callbacks for confirmation and progress and renders results.
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from lxdplan.desired import Desired, Member, Secret, secrets_in
from lxdplan.errors import LockError, LxdplanError
from lxdplan.executor import Event, StepResult, execute
from lxdplan.interrupt import Stop
from lxdplan.membership import BOOTSTRAP
from lxdplan.plan import Plan
from lxdplan.state.observed import Observed


class StalePlan(LxdplanError):
    """The saved plan no longer matches the cluster or the file."""


class NotConfirmed(LxdplanError):
    """The user did not answer yes."""


class UnknownState(LxdplanError):
    """lxdplan could read neither the cluster nor the member that would form it."""


def unknown_state(desired: Desired, observed: Observed, *, redeemable: Iterable[str] = ()) -> str | None:
    """Why the cluster's state is unknown, or None when it is known: read through a clustered
    member, or no cluster exists yet, which only the member that would form it (the first
    declared) can say. ``redeemable``: untrusted members whose declared trust apply redeems
    before it reads again (they count as read here; the read after the trust decides)."""
    if observed.clustered or not desired.members:
        return None
    first = desired.members[0].name
    redeemable = set(redeemable)

    def read(name: str) -> bool:
        alone = observed.standalone.get(name)
        return alone is not None and alone.reachable and (alone.trusted or name in redeemable)

    if read(first):
        return None
    down, untrusted, alone = [], [], []
    for m in desired.members:
        st = observed.standalone.get(m.name)
        if st is None or not st.reachable:
            down.append(st.error if st is not None and st.error else f"{m.name} does not answer")
        elif not read(m.name):
            untrusted.append(m.name)
        else:
            alone.append(m.name)
    why = list(down)
    if untrusted:
        verb = "does" if len(untrusted) == 1 else "do"
        why.append(f"{_and(untrusted)} {verb} not trust lxdplan's client certificate")
    if alone:
        verb = "is" if len(alone) == 1 else "are"
        why.append(f"{_and(alone)} {verb} not in a cluster, but only {first}, which would form "
                   "it, can say that none exists")
    sentence = f"the cluster's state is unknown, so nothing can be planned: {'; '.join(why)}"
    if untrusted:
        sentence += (f"; get lxdplan's certificate trusted with `lxdplan auth trust -f "
                     f"{desired.path}`")
        if all((d := desired.member(n)) is not None and d.trust is not None for n in untrusted):
            sentence += " (apply redeems the declared trust itself before it reads the cluster)"
    return sentence


def require_known(desired: Desired, observed: Observed, *, redeemable: Iterable[str] = ()) -> None:
    """Raise ``UnknownState`` when the cluster's state is unknown (``unknown_state``)."""
    why = unknown_state(desired, observed, redeemable=redeemable)
    if why:
        raise UnknownState(why)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


@dataclass
class PlanResult:
    desired: Desired
    observed: Observed
    plan: Plan
    lock_note: str | None = None  # another apply holds the cluster lock (``held_by_another``)


@dataclass
class ApplyResult:
    plan: Plan
    results: list[StepResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. the cluster lock not released


def file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- a plan's read started before the command layer is imported (issue 22) --------------------


@dataclass
class _Early:
    """A file loaded, and its cluster being observed in ``thread``, for the `plan` to come."""

    file: str
    desired: Desired
    warnings: list[Any]
    clients: dict[str, Any]
    thread: threading.Thread
    observed: Observed | None = None  # None until the thread ends, and if the read failed


_early: _Early | None = None


def read_early(file: str, desired: Desired, warnings: list[Any]) -> None:
    """Start observing the cluster of ``desired`` (loaded from ``file`` with ``warnings``) in a
    thread, for a `plan` whose command layer (typer and the CLI modules) is imported next: those
    imports then overlap the servers' answers instead of coming before the first request. Any
    failure leaves nothing behind, and the command reads again as usual, so every message and
    exit code stays its own (``early_load``, ``make_plan``)."""
    global _early
    from lxdplan.providers.observe import PLAN, make_clients, observe

    try:
        clients = make_clients(desired)
    except Exception:  # the command meets the same problem and says it its own way
        return

    def work() -> None:
        try:
            early.observed = observe(desired, detail=PLAN, clients=clients)
        except Exception:  # noqa: S110  (make_plan reads again and raises it as usual)
            pass

    early = _Early(file, desired, list(warnings), clients,
                   threading.Thread(target=work, name="lxdplan-early-read", daemon=True))
    early.thread.start()
    _early = early


def early_load(file: str) -> tuple[Desired, list[Any]] | None:
    """The file ``read_early`` loaded and its warnings, when it loaded ``file``."""
    early = _early
    return (early.desired, early.warnings) if early is not None and early.file == file else None


def _take_early(desired: Desired) -> tuple[dict[str, Any], Observed] | None:
    """The clients and observation ``read_early`` made of ``desired`` (once), or None (another
    file, or a read that failed: its clients are closed)."""
    global _early
    early, _early = _early, None
    if early is None:
        return None
    early.thread.join()
    if early.desired is desired and early.observed is not None:
        return early.clients, early.observed
    for client in early.clients.values():
        client.close()
    return None


def make_plan(desired: Desired, *, force_remove: Iterable[str] = ()) -> PlanResult:
    """Read the live cluster and plan against it (with the read ``read_early`` began, if any)."""
    from lxdplan.planner import plan as compute
    from lxdplan.providers.etags import read_etags
    from lxdplan.providers.observe import PLAN, make_clients, observe

    early = _take_early(desired)
    clients = early[0] if early else make_clients(desired)
    try:
        observed = early[1] if early else observe(desired, detail=PLAN, clients=clients)
        require_known(desired, observed)
        plan = read_etags(compute(desired, observed, force_remove=force_remove), observed, clients)
        note = lock_holder(observed, clients)
    finally:
        for client in clients.values():
            client.close()
    return PlanResult(desired, observed, plan, note)


def lock_holder(observed: Observed, clients: dict) -> str | None:
    """The sentence saying that another apply holds the cluster lock now, or None (no cluster,
    or free): read through the first declared member that answered clustered."""
    from lxdplan.providers.lock import held_by_another

    name = next((n for n, alone in observed.standalone.items()
                 if alone.reachable and alone.clustered and n in clients), None)
    return held_by_another(clients[name]) if observed.clustered and name else None


def check_secrets(plan: Plan, *, trusts: Iterable[Member | None] = ()) -> None:
    """Every secret the steps will send can be read now, so a missing variable stops the apply
    before anything changes instead of half-way through; so can the declared ``trust:`` of the
    members in ``trusts`` (those apply redeems first). (Values are read and dropped: the actions
    read them again when they send them.)"""
    problems: list[str] = []
    wanted: list[tuple[str | None, Secret]] = [
        (None, s) for step in plan.steps if not step.blocked for s in secrets_in(step.payload)]
    wanted += [(m.name, s) for m in trusts if m is not None and m.trust is not None
               for s in secrets_in({"password": m.trust.password, "token": m.trust.token})]
    for member, secret in wanted:
        try:
            secret.resolve()
        except LxdplanError as exc:
            problem = f"member {member}: {exc}" if member else str(exc)
            if problem not in problems:
                problems.append(problem)
    if problems:
        raise LxdplanError("; ".join(problems) + "; nothing was changed")


def awaiting_trust(desired: Desired, observed: Observed) -> list[str]:
    """Members that answer without trusting lxdplan and declare the ``trust:`` apply redeems."""
    return [m.name for m in desired.members if m.trust is not None
            and (alone := observed.standalone.get(m.name)) is not None
            and alone.reachable and not alone.trusted]


def _redeem_and_replan(desired, untrusted, clients, locks, confirm, on_trusted, force_remove,
                       confirmed: Plan) -> tuple[Observed, Plan]:
    """Redeem the declared trusts of ``untrusted``, then observe and plan again under the locks
    (taking the cluster lock if a cluster shows itself only now)."""
    from lxdplan.planner import plan as compute
    from lxdplan.providers.etags import read_etags
    from lxdplan.providers.observe import PLAN, observe, probe
    from lxdplan.providers.trust import redeem_declared

    trusted = redeem_declared(desired, clients, untrusted)
    if locks.cluster is None:
        standalone = probe(desired, clients=clients)
        if any(alone.reachable and alone.clustered for alone in standalone.values()):
            locks.take_cluster_through(standalone, clients)
    observed = observe(desired, detail=PLAN, clients=clients)
    require_known(desired, observed)
    plan = read_etags(compute(desired, observed, force_remove=force_remove), observed, clients)
    on_trusted(trusted, plan)
    known = {s.id for s in confirmed.steps}
    if any(s.id not in known for s in plan.steps):
        check_secrets(plan)
        if not confirm(plan):
            raise NotConfirmed("apply cancelled after the trust was redeemed: no step was run")
    return observed, plan


class ApplyLocks:
    """The locks one apply holds: always a lock on this host (keyed by the first member's
    address), and the cluster lock (through a reachable clustered member) from the moment a
    cluster exists — at the start, or right after this apply bootstraps it. Two applies on one
    host meet at the host lock; applies on different hosts meet at the cluster lock."""

    def __init__(self, desired: Desired, *, break_lock: bool, stop: Stop | None = None):
        from lxdplan.state.hostlock import HostLock

        self.desired = desired
        self.break_lock = break_lock
        self.stop = stop
        self.host = HostLock(desired.members[0].address if desired.members else desired.path)
        self.cluster: Any = None  # a providers.lock.ClusterLock once taken (imported then)
        self.warnings: list[str] = []

    def take_cluster(self, client) -> None:
        from lxdplan.providers.lock import ClusterLock

        if self.cluster is None:
            with self.shield():  # a signal now must not leave a lock nobody knows it holds
                lock = ClusterLock(client, break_lock=self.break_lock, on_lost=self._lost)
                lock.acquire()
                self.cluster = lock

    def _lost(self) -> None:
        """The lease renewal found the lock taken over: start no further step."""
        if self.stop is not None:
            self.stop.event.set()

    def shield(self, *, then_raise: bool = True):
        return self.stop.shield(then_raise=then_raise) if self.stop is not None else nullcontext()

    def take_cluster_through(self, standalone: dict, clients: dict) -> None:
        """The cluster lock through the first declared member that answered clustered."""
        name = next((n for n, alone in standalone.items() if alone.reachable and alone.clustered), None)
        if name is None:
            raise LxdplanError("no declared member of the cluster can be reached to take the apply lock")
        self.take_cluster(clients[name])

    def __enter__(self) -> "ApplyLocks":
        self.host.acquire()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Release both locks. A failure to release the cluster lock never replaces the apply's
        own outcome: it becomes a warning, carried as a note on the error being raised (shown
        after it) or in ``warnings`` when the apply succeeded. The lock left behind names this
        process, so the next apply on this host takes it over at once."""
        try:
            if self.cluster is not None:
                try:
                    with self.shield(then_raise=False):  # the CLI sees stop.signum
                        self.cluster.release()
                except Exception as failure:  # noqa: BLE001 - reported as a warning, below
                    self.warnings.append(
                        f"the cluster lock could not be released ({failure}); the next apply "
                        "from this host takes it over, one from elsewhere needs `--break-lock`"
                    )
                if self.cluster.lost and not isinstance(exc, LockError):
                    self.warnings.append(self.cluster.lost)
        finally:
            self.host.release()
        if exc is not None:
            for warning in self.warnings:
                exc.add_note(warning)


def run_apply(
    desired: Desired,
    *,
    force_remove: Iterable[str] = (),
    saved_digest: str | None = None,
    confirm: Callable[[Plan], bool] = lambda plan: True,
    on_plan: Callable[[Plan], None] = lambda plan: None,
    on_event: Callable[[Event], None] = lambda event: None,
    on_trusted: Callable[[list[str], Plan], None] = lambda names, plan: None,
    on_note: Callable[[str], None] = lambda text: None,
    break_lock: bool = False,
    stop: Stop | None = None,
) -> ApplyResult:
    """Take the lock, plan against the cluster as it is now, confirm, execute.

    With ``saved_digest`` (from a saved plan) the cluster must look exactly as it did when that
    plan was made, else ``StalePlan``.

    A member that does not trust lxdplan yet and declares ``trust:`` is planned as if it did
    (``plan`` never writes). Once confirmed, apply redeems those trusts, reads the cluster again
    and plans again (an untrusted client sees neither config nor cluster): ``on_trusted`` gets the
    members now trusted and that plan; a step the confirmed plan did not have is confirmed again.

    ``stop`` is set by the CLI's SIGINT/SIGTERM handler: while steps run no further one starts,
    the running ones finish, the locks are released and ``Interrupted`` is raised.
    """
    from lxdplan.executor import Outcome
    from lxdplan.planner import plan as compute
    from lxdplan.providers.actions import performer
    from lxdplan.providers.etags import read_etags
    from lxdplan.providers.joining import listed_statuses, wait_for_heartbeats, wait_for_joins
    from lxdplan.providers.observe import PLAN, observe, probe
    from lxdplan.providers.session import Session

    # The host lock comes first: a second apply on this host stops here with a clear sentence
    # instead of reading a cluster the first one is bootstrapping (LXD then refuses the reads).
    # Then only the members' own GET /1.0, to know whether a cluster lock is needed; the full
    # read comes once, under the locks. It uses make_plan's detail, so a saved plan's digest
    # compares like with like.
    stop = stop if stop is not None else Stop()
    locks = ApplyLocks(desired, break_lock=break_lock, stop=stop)
    with locks, Session(desired, Observed()) as session:
        clients = {m.name: session.client(m.name) for m in desired.members}
        standalone = probe(desired, clients=clients)
        if any(alone.reachable and alone.clustered for alone in standalone.values()):
            locks.take_cluster_through(standalone, clients)
        observed = observe(desired, detail=PLAN, clients=clients)
        require_known(desired, observed, redeemable=awaiting_trust(desired, observed))
        session.note = on_note
        if observed.joins_in_progress():
            # A join an earlier apply started (and was killed during) still runs: wait for it,
            # then read again (providers.joining).
            wait_for_joins(observed.joins_in_progress(), session.client, on_note)
            for name in observed.joins_in_progress():
                session.reconnect(name)
            observed = observe(desired, detail=PLAN, clients=clients)
        stale = observed.offline_but_answering()
        if stale:
            # Listed Offline yet answering: the cluster has not seen their heartbeat yet (an
            # apply run again at once after its leader restarted): wait for it, then read again.
            wait_for_heartbeats(stale, lambda: listed_statuses(clients[stale[0]]), on_note)
            observed = observe(desired, detail=PLAN, clients=clients)
        if saved_digest is not None and observed.digest() != saved_digest:
            raise StalePlan("saved plan is stale: the cluster changed since it was made; run plan again")
        plan = read_etags(compute(desired, observed, force_remove=force_remove), observed, clients)
        on_plan(plan)
        if not plan.changes:
            return ApplyResult(plan, warnings=locks.warnings)
        untrusted = awaiting_trust(desired, observed)
        check_secrets(plan, trusts=[desired.member(n) for n in untrusted])
        if not confirm(plan):
            raise NotConfirmed("apply cancelled: nothing was changed")
        if untrusted:
            observed, plan = _redeem_and_replan(desired, untrusted, clients, locks, confirm,
                                                on_trusted, force_remove, plan)
        session.observed = observed

        def event(ev: Event) -> None:
            if (ev.kind == "end" and ev.step.action == BOOTSTRAP
                    and ev.result is not None and ev.result.outcome in (Outcome.DONE, Outcome.SKIPPED)):
                locks.take_cluster(session.client(ev.step.name))
            on_event(ev)

        with locks.shield():
            results = execute(plan.steps, performer(session), on_event=event, stop=stop.event)
            if locks.cluster is not None and locks.cluster.lost:
                raise LockError(f"{locks.cluster.lost}: no step was started after that; run plan "
                                "to see what is left and apply again once the other apply ended")
    return ApplyResult(plan, results, locks.warnings)
