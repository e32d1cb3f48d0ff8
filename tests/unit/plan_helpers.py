"""Small builders of Desired/Observed for the planner's unit tests."""

from __future__ import annotations

from lxdplan.desired import Desired, Member
from lxdplan.kinds.network import Network, ObservedNetwork
from lxdplan.kinds.storage_pool import ObservedPool, StoragePool
from lxdplan.state.observed import Observed, ObservedMember, Standalone


def _host(name: str, position: int) -> str:
    """A member's address follows its name (n2 is 10.9.0.2 wherever it stands in a list), so a
    file that drops a member keeps the others' addresses as the live cluster has them."""
    digits = name.lstrip("abcdefghijklmnopqrstuvwxyz")
    return f"10.9.0.{int(digits) if digits.isdigit() else position}"


def members(*names: str, **overrides) -> tuple[Member, ...]:
    out = []
    for i, name in enumerate(names, 1):
        host = _host(name, i)
        extra = {"address": f"{host}:8443", "endpoint": f"https://{host}:8443",
                 **overrides.get(name, {})}
        out.append(Member(name=name, **extra))
    return tuple(out)


def live_members(*names: str, status: dict | None = None, **overrides) -> dict[str, ObservedMember]:
    status = status or {}
    out = {}
    for i, name in enumerate(names, 1):
        fields = {"url": f"https://{_host(name, i)}:8443", "status": status.get(name, "Online"),
                  "roles": ("database",), **overrides.get(name, {})}
        out[name] = ObservedMember(name=name, **fields)
    return out


def cluster(names=("n1", "n2", "n3"), **kw) -> Observed:
    kw.setdefault("members", live_members(*names))
    return Observed(clustered=True, server_version="5.0.2", **kw)


def desired(names=("n1", "n2", "n3"), **kw) -> Desired:
    kw.setdefault("members", members(*names))
    return Desired(path="lxdplan.yaml", **kw)


def fresh(names=("n1", "n2", "n3"), **standalone_kw) -> Observed:
    return Observed(standalone={
        n: Standalone(name=n, reachable=True, backend="lxd", version="5.0.2", **standalone_kw)
        for n in names
    })


def pool(name="data", driver="dir", **kw) -> StoragePool:
    return StoragePool(name=name, driver=driver, **kw)


def live_pool(name="data", driver="dir", members=("n1", "n2", "n3"), **kw) -> ObservedPool:
    kw.setdefault("member_status", {m: "Created" for m in members})
    kw.setdefault("members", {m: {"source": f"/srv/{name}-{m}"} for m in members})
    return ObservedPool(name=name, driver=driver, **kw)


def net(name="br0", **kw) -> Network:
    return Network(name=name, **kw)


def live_net(name="br0", members=("n1", "n2", "n3"), **kw) -> ObservedNetwork:
    kw.setdefault("member_status", {m: "Created" for m in members})
    kw.setdefault("members", {m: {} for m in members})
    return ObservedNetwork(name=name, type="bridge", **kw)


def by_id(plan) -> dict:
    return {s.id: s for s in plan.steps}
