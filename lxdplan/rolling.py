"""`lxdplan roll`: which members to take out, in which order, and why — plain data, no I/O.

A roll takes one member out at a time (evacuate, the operator's command, wait, restore). The
order is: members that hold no database role, then database stand-bys, then voters, the leader
last of all (each group by name), so the cluster's database loses a voter as late and as rarely
as possible. ``plan_roll`` refuses the whole roll, before anything happens, when taking some
member out would leave fewer running voters than the cluster's quorum, or would empty a failure
domain that holds the only copies of instances the file places there.

The input is ``RollState``: what the provider read (members with roles, status, version, whether
each serves; instances with where they run and how they evacuate; the roll's own record). The
output is a ``RollPlan`` the CLI renders (text or JSON) and ``lxdplan.rollout`` carries out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What a member is, for the order.
NONE, STANDBY, VOTER, LEADER = "none", "stand-by", "voter", "leader"
RANK = {NONE: 0, STANDBY: 1, VOTER: 2, LEADER: 3}
WHY = {
    NONE: "no database role",
    STANDBY: "database stand-by",
    VOTER: "database voter",
    LEADER: "database leader, last of all",
}
# Storage drivers whose volumes every member reaches (an instance on them can move).
REMOTE_DRIVERS = frozenset({"ceph", "cephfs", "cephobject", "powerflex", "lvmcluster"})
# How a member is, as the roll reads it.
SERVING, WAITING, DOWN = "serving", "waiting", "down"


@dataclass(frozen=True)
class RollMember:
    """One cluster member as the roll sees it."""

    name: str
    address: str = ""  # host:port of its cluster address
    roles: tuple[str, ...] = ()
    status: str = "Online"  # the cluster's word (Online, Evacuated, Offline, Blocked…)
    version: str = ""  # read from the member itself; "" when it does not serve
    failure_domain: str = "default"
    health: str = SERVING  # serving | waiting (held requests: upgraded, waits) | down

    @property
    def role(self) -> str:
        if "database-leader" in self.roles:
            return LEADER
        if "database" in self.roles:
            return VOTER
        if "database-standby" in self.roles:
            return STANDBY
        return NONE

    @property
    def evacuated(self) -> bool:
        return self.status in ("Evacuated", "Evacuating")


@dataclass(frozen=True)
class RollInstance:
    name: str
    project: str
    location: str
    status: str  # Running | Stopped …
    evacuate: str = "auto"  # the instance's cluster.evacuate (expanded config)
    pool: str = ""  # its root disk's pool
    pool_driver: str = ""
    fixed_by: str = ""  # the first device that keeps it from moving (``fixed_by``), if any


@dataclass(frozen=True)
class Record:
    """What the roll keeps in the cluster so that a roll run again continues (see
    ``providers.roll``): the members it finished, those it evacuated, the one in hand."""

    command: str = ""
    expect_version: str = ""
    done: tuple[str, ...] = ()
    evacuated: tuple[str, ...] = ()
    current: str = ""
    phase: str = ""  # evacuating | running | ran
    # The command's process while it runs (host, pid, start time): a roll killed meanwhile
    # leaves it running, and the next run waits for it before running the command again.
    host: str = ""
    pid: int = 0
    start: int = 0
    # "member/project/name" of the instances that ran on a member when the roll evacuated it:
    # its restore must leave them running again.
    running: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "expect_version": self.expect_version,
                "done": list(self.done), "evacuated": list(self.evacuated),
                "current": self.current, "phase": self.phase, "host": self.host,
                "pid": self.pid, "start": self.start, "running": list(self.running)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Record":
        return cls(str(data.get("command", "")), str(data.get("expect_version", "")),
                   tuple(data.get("done") or ()), tuple(data.get("evacuated") or ()),
                   str(data.get("current", "")), str(data.get("phase", "")),
                   str(data.get("host", "")), int(data.get("pid") or 0),
                   int(data.get("start") or 0), tuple(data.get("running") or ()))


@dataclass(frozen=True)
class RollState:
    backend: str
    members: tuple[RollMember, ...]
    instances: tuple[RollInstance, ...] = ()
    record: Record | None = None
    # failure domain -> instances the file places on members of that domain only
    declared_in_domain: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def member(self, name: str) -> RollMember | None:
        return next((m for m in self.members if m.name == name), None)


@dataclass(frozen=True)
class Stay:
    """An instance that does not move when its member is evacuated, and what happens to it."""

    instance: str
    what: str


@dataclass(frozen=True)
class RollStep:
    member: str
    address: str
    role: str
    reason: str
    state: str  # "to do" | "done" | "resume: …"
    moves: tuple[str, ...] = ()
    stays: tuple[Stay, ...] = ()


@dataclass(frozen=True)
class RollPlan:
    steps: tuple[RollStep, ...]
    refusals: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    evacuate: bool = True
    expect_version: str = ""

    @property
    def todo(self) -> list[RollStep]:
        return [s for s in self.steps if s.state != "done"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "evacuate": self.evacuate,
            "expect_version": self.expect_version or None,
            "refused": list(self.refusals),
            "notes": list(self.notes),
            "order": [
                {"member": s.member, "address": s.address, "role": s.role, "why": s.reason,
                 "state": s.state, "moves": list(s.moves),
                 "stays": [{"instance": x.instance, "what": x.what} for x in s.stays]}
                for s in self.steps
            ],
        }


def order(members: list[RollMember]) -> list[RollMember]:
    """No database role first, then stand-bys, then voters, the leader last; by name within."""
    return sorted(members, key=lambda m: (RANK[m.role], m.name))


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def done_already(m: RollMember, record: Record | None, expect_version: str) -> bool:
    """A member the roll need not take out: finished by an earlier run of this roll, or already
    serving at the expected version and not evacuated."""
    if record is not None and m.name in record.done:
        return True
    if record is not None and record.current == m.name:
        return False
    return bool(expect_version) and m.health == SERVING and m.version == expect_version \
        and not m.evacuated


def fixed_by(devices: dict[str, dict], backend: str, pools: dict[str, str],
             managed_networks: set[str]) -> str:
    """The first device (by name) that keeps an instance with ``cluster.evacuate: auto`` from
    moving at evacuation, or "" when it moves (stopped, copied to another member, started there,
    moved back at restore). As both servers decide (lxd-5.0.2 and incus-6.0.4
    ``canMigrate``): the root disk always moves, another disk only on a remote pool, a bridged
    NIC only when it names a managed network (Incus also counts a ``parent`` that is one), any
    other device never."""
    for name in sorted(devices):
        dev = devices[name] or {}
        kind = dev.get("type")
        if kind == "disk":
            if dev.get("path") == "/" or pools.get(str(dev.get("pool", ""))) in REMOTE_DRIVERS:
                continue
            if backend == "incus" and dev.get("source") in ("cloud-init:config", "agent:config"):
                continue
        elif kind == "nic":
            if dev.get("network"):
                continue
            if backend == "incus" and dev.get("nictype") == "bridged" \
                    and dev.get("parent") in managed_networks:
                continue
        return name
    return ""


def _stays(state: RollState, member: str) -> tuple[list[str], list[Stay]]:
    moves: list[str] = []
    stays: list[Stay] = []
    for inst in state.instances:
        if inst.location != member:
            continue
        name = inst.name if inst.project in ("", "default") else f"{inst.project}/{inst.name}"
        mode = inst.evacuate or "auto"
        if mode == "stop":
            stays.append(Stay(name, "stopped in place (cluster.evacuate: stop), started again "
                                    "at restore"))
        elif mode in ("migrate", "live-migrate") or not inst.fixed_by:
            moves.append(name)
        else:
            stays.append(Stay(name, f"cannot move (device {inst.fixed_by}, cluster.evacuate: "
                                    "auto): stopped in place, started again at restore"))
    return moves, stays


def quorum_refusal(state: RollState, m: RollMember) -> str | None:
    voters = [v for v in state.members if v.role in (VOTER, LEADER)]
    if m not in voters:
        return None
    needed = len(voters) // 2 + 1
    left = [v for v in voters if v.name != m.name and v.health != DOWN]
    if len(left) >= needed:
        return None
    return (f"taking {m.name} out would leave {len(left)} of the cluster's {len(voters)} "
            f"database voters running, fewer than the {needed} its quorum needs; a cluster needs "
            "3 or more voters to be rolled one member at a time")


def _domain_refusal(state: RollState, m: RollMember) -> str | None:
    declared = state.declared_in_domain.get(m.failure_domain)
    if not declared:
        return None
    peers = [o for o in state.members if o.failure_domain == m.failure_domain and o.name != m.name]
    if not peers or any(o.health != DOWN and not o.evacuated for o in peers):
        return None  # a one-member domain is emptied by any roll: one at a time is the least
    return (f"taking {m.name} out would empty failure domain {m.failure_domain}, which holds the "
            f"only copies of {_and(sorted(declared))} (placed there by the file)")


def plan_roll(state: RollState, *, only: list[str] | None = None, expect_version: str = "",
              evacuate: bool = True) -> RollPlan:
    """The roll for ``state``: every member (or those of ``only``) in order, each marked done
    when an earlier run finished it; refusals when the roll may not start."""
    refusals: list[str] = []
    notes: list[str] = []
    names = [m.name for m in state.members]
    for name in only or ():
        if name not in names:
            refusals.append(f"{name} is not a member of the cluster (members: {_and(names)})")
    chosen = [m for m in state.members if not only or m.name in only]
    record = state.record
    steps: list[RollStep] = []
    for m in order(chosen):
        done = done_already(m, record, expect_version)
        if done:
            st = "done"
        elif record is not None and record.current == m.name and record.phase:
            st = {"evacuating": "resume: evacuating", "running": "resume: command again",
                  "ran": "resume: wait until it serves"}.get(record.phase, "to do")
        else:
            st = "to do"
        moves, stays = _stays(state, m.name) if evacuate and not done else ([], [])
        steps.append(RollStep(m.name, m.address, m.role, WHY[m.role], st, tuple(moves),
                              tuple(stays)))
        if done:
            continue
        resumed = record is not None and (m.name == record.current or m.name in record.done)
        if m.health == DOWN and not resumed:
            refusals.append(f"{m.name} is {m.status if m.status != 'Online' else 'not reachable'}"
                            ": bring it back before rolling")
        # A member the roll stopped at after taking it out (its command ran or was to run) is out
        # already: the domain's other members, evacuated by this roll, are restored at its end.
        out = record is not None and m.name == record.current and record.phase in ("running", "ran")
        for why in (quorum_refusal(state, m), None if out else _domain_refusal(state, m)):
            if why:
                refusals.append(why)
    if record is not None:
        notes.append(f"a roll is half done ({len(record.done)} of {len(state.members)} members "
                     "finished): this run continues it")
    return RollPlan(tuple(steps), tuple(dict.fromkeys(refusals)), tuple(notes), evacuate,
                    expect_version)


def render_text(plan: RollPlan) -> str:
    lines = [f"Roll, one member at a time ({'evacuate' if plan.evacuate else 'no evacuation'}, "
             f"then the command, wait until it serves"
             f"{' at ' + plan.expect_version if plan.expect_version else ''}"
             f"{', restore' if plan.evacuate else ''}):"]
    for i, s in enumerate(plan.steps, 1):
        lines.append(f"  {i}. {s.member} ({s.address}) — {s.reason}"
                     f"{'' if s.state == 'to do' else ' [' + s.state + ']'}")
        if s.moves:
            lines.append(f"       moves away and back: {', '.join(s.moves)}")
        for stay in s.stays:
            lines.append(f"       {stay.instance} {stay.what}")
    for note in plan.notes:
        lines.append(f"Note: {note}.")
    for why in plan.refusals:
        lines.append(f"Refused: {why}.")
    return "\n".join(lines)


def skew(versions: dict[str, str]) -> str | None:
    """One sentence when members run different versions (which are behind), else None."""
    known = {n: v for n, v in versions.items() if v}
    if len(set(known.values())) < 2:
        return None
    newest = max(known.values(), key=_version_key)
    behind = sorted(n for n, v in known.items() if v != newest)
    return (f"members run different versions: {_and(behind)} "
            f"{'is' if len(behind) == 1 else 'are'} behind "
            f"({', '.join(f'{n} {known[n]}' for n in behind)}; newest {newest})")


def _version_key(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in v.replace("-", ".").split("."))

