"""ETags read after planning, for the objects a step updates only.

Collection listings (``recursion=1``) carry no ETags, so an object's ETag costs one GET of its
own. Reading it for every declared object while observing made a no-change plan grow with the
file (one request per profile, project, group and volume); read here, after the plan, only the
objects an ``update`` step changes pay for it, and the write still goes out with ``If-Match``.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

from lxdplan.plan import Action, Plan, Step
from lxdplan.providers.client import Client
from lxdplan.providers.observe import MISSING
from lxdplan.state.observed import Observed


def read_etags(plan: Plan, observed: Observed, clients: dict[str, Client], *,
               concurrency: int = 8) -> Plan:
    """The plan with the ETag of each object an ``update`` step changes, read now (one GET each,
    in parallel), so the write is sent with ``If-Match`` and a change made outside lxdplan since
    this read stops it. A read that fails leaves the step without an ETag (the write then
    answers for itself)."""
    from lxdplan.registry import find_spec, spec_of

    wanted = [s for s in plan.steps if s.action == Action.UPDATE and s.etag is None
              and not s.blocked and getattr(find_spec(s.kind), "etag_after_plan", False)]
    reader = clients.get(next((m for m, st in observed.standalone.items()
                               if st.reachable and st.trusted and st.clustered), ""), None)
    if not wanted or reader is None:
        return plan

    def read(step: Step) -> str | None:
        where = spec_of(step.kind).where(step)
        alone = observed.standalone.get(where.member or "")  # the member's own endpoint, if it answers
        client = clients[alone.name] if alone is not None and alone.reachable else reader
        params = dict(where.params)
        if where.member:
            params.setdefault("target", where.member)
        try:
            return client.get(where.path, params or None).etag
        except MISSING:
            return None

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(wanted)))) as pool:
        etags = dict(zip((s.id for s in wanted), pool.map(read, wanted)))
    return dataclasses.replace(plan, steps=tuple(
        dataclasses.replace(s, etag=etags[s.id]) if etags.get(s.id) else s for s in plan.steps))
