"""The two jobs behind `plan` and `apply`: observe → plan, and lock → observe → plan → execute.

No printing here: the CLI passes callbacks for confirmation and progress and renders results.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from lxdplan.desired import Desired
from lxdplan.errors import LxdplanError
from lxdplan.executor import Event, StepResult, execute
from lxdplan.plan import Plan
from lxdplan.state.observed import Observed


class StalePlan(LxdplanError):
    """The saved plan no longer matches the cluster or the file."""


class NotConfirmed(LxdplanError):
    """The user did not answer yes."""


@dataclass
class PlanResult:
    desired: Desired
    observed: Observed
    plan: Plan


@dataclass
class ApplyResult:
    plan: Plan
    results: list[StepResult] = field(default_factory=list)


def file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_plan(desired: Desired, *, force_remove: Iterable[str] = ()) -> PlanResult:
    """Read the live cluster and plan against it."""
    from lxdplan.planner import plan as compute
    from lxdplan.providers.observe import observe

    observed = observe(desired)
    return PlanResult(desired, observed, compute(desired, observed, force_remove=force_remove))


@contextlib.contextmanager
def apply_lock(desired: Desired, observed: Observed, *, break_lock: bool) -> Iterator[None]:
    """The cluster lock when a cluster exists (through a reachable clustered member), else a
    lock on this host keyed by the first member's address."""
    from lxdplan.providers.lock import ClusterLock
    from lxdplan.providers.observe import make_clients
    from lxdplan.state.hostlock import HostLock

    if not observed.clustered:
        with HostLock(desired.members[0].address if desired.members else desired.path):
            yield
        return
    clients = make_clients(desired)
    try:
        ordered = sorted(
            (name for name, alone in observed.standalone.items() if alone.reachable and alone.clustered),
            key=lambda n: observed.members.get(n) is None or observed.members[n].status != "Online",
        )
        if not ordered:
            raise LxdplanError("no declared member of the cluster can be reached to take the apply lock")
        with ClusterLock(clients[ordered[0]], break_lock=break_lock):
            yield
    finally:
        for client in clients.values():
            client.close()


def run_apply(
    desired: Desired,
    *,
    force_remove: Iterable[str] = (),
    saved_digest: str | None = None,
    confirm: Callable[[Plan], bool] = lambda plan: True,
    on_plan: Callable[[Plan], None] = lambda plan: None,
    on_event: Callable[[Event], None] = lambda event: None,
    break_lock: bool = False,
) -> ApplyResult:
    """Take the lock, plan against the cluster as it is now, confirm, execute.

    With ``saved_digest`` (from a saved plan) the cluster must look exactly as it did when that
    plan was made, else ``StalePlan``.
    """
    from lxdplan.planner import plan as compute
    from lxdplan.providers.actions import perform
    from lxdplan.providers.observe import observe
    from lxdplan.providers.session import Session

    first = observe(desired)
    if saved_digest is not None and first.digest() != saved_digest:
        raise StalePlan("saved plan is stale: the cluster changed since it was made; run plan again")
    with apply_lock(desired, first, break_lock=break_lock):
        observed = observe(desired)
        if saved_digest is not None and observed.digest() != saved_digest:
            raise StalePlan("saved plan is stale: the cluster changed since it was made; run plan again")
        plan = compute(desired, observed, force_remove=force_remove)
        on_plan(plan)
        if not plan.changes:
            return ApplyResult(plan)
        if not confirm(plan):
            raise NotConfirmed("apply cancelled: nothing was changed")
        with Session(desired, observed) as session:
            results = execute(plan.steps, lambda step: perform(session, step), on_event=on_event)
    return ApplyResult(plan, results)
