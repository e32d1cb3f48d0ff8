"""The support table of README.md: per kind and per server, what lxdplan does and whether a
test runs it live (issue 21, item 5).

The operations come from the registry (``lxdplan.registry``): a kind creates, updates and
deletes when it has those steps' payloads (a two-phase kind creates by ``define``), it repairs
drift when it has an update step, it exports unless its ``export`` returns nothing, and it
imports when it is ``Adoptable``. The membership kinds (members, server config) are
``membership.ACTIONS`` for the steps and ``SUPPORT`` for the rest. What no code can tell, which
servers run a kind and the integration test module that proves it live, is declared once, in
``SUPPORT`` below, one row per kind (plus a few variants of one, such as virtual machines): a
new kind fails ``tests/unit/test_support_table.py`` until it has a row there and README's
table is regenerated.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from lxdplan import membership, registry
from lxdplan.kinds.base import Adoptable, KindSpec
from lxdplan.plan import Action, Kind

SERVERS = ("LXD 5.0", "Incus 6.0")
OPERATIONS = ("create", "update", "delete", "drift", "export", "import")
MEMBERSHIP = ("member", "server")  # the kinds ``membership.ACTIONS`` declares, not ``SPECS``


class Live(enum.Enum):
    """How one server runs a kind: an integration test runs it on that server, nothing does
    (the machine cannot), or the server has no such object."""

    TESTED = "tested live"
    UNTESTED = "not tested live"
    UNSUPPORTED = "not supported"


BOTH = {s: Live.TESTED for s in SERVERS}
NEITHER = {s: Live.UNTESTED for s in SERVERS}


@dataclass(frozen=True)
class Support:
    """One row: the kind (a registry id, or ``member``/``server``), how README names it and
    where its objects are declared, each server's ``Live``, the integration test modules
    (``tests/integration/…``) that run it live, and the text each must contain (the kind's
    section as the tests write it, or what makes the variant: ``"ovn"``). ``ops`` are the
    operations no code tells (the membership kinds' export and import). ``recorded``: the unit
    test modules (``tests/unit/…``) that run it on answers recorded from the servers' API
    documentation and source, for a kind no test can run live here."""

    kind: str
    label: str
    declared: str
    mentions: str
    servers: Mapping[str, Live] = field(default_factory=lambda: dict(BOTH))
    tests: tuple[str, ...] = ()
    ops: Mapping[str, bool] = field(default_factory=dict)
    recorded: tuple[str, ...] = ()


SUPPORT: tuple[Support, ...] = (
    Support("member", "members", "`cluster: members:`", "members", tests=("test_apply.py",),
            ops={"export": True, "import": False}),
    Support("server", "server config", "`cluster: config:`", "config", tests=("test_apply.py",),
            ops={"export": True, "import": False}),
    Support("cluster_group", "cluster groups", "`cluster_groups:`", "cluster_groups",
            tests=("test_instances.py",)),
    Support("project", "projects", "`projects:`", "projects", tests=("test_apply.py",)),
    Support("storage_pool", "storage pools", "`storage_pools:`", "storage_pools",
            tests=("test_apply.py",)),
    Support("network_acl", "network ACLs", "`network_acls:`", "network_acls",
            tests=("test_network_acls.py",)),
    Support("network_zone", "network zones", "`network_zones:`", "network_zones",
            tests=("test_network_zones.py",)),
    Support("network_zone_record", "network zone records", "`network_zone_records:`",
            "network_zone_records", tests=("test_network_zones.py",)),
    Support("network", "networks (bridge)", "`networks:`", "networks", tests=("test_apply.py",)),
    Support("network", "networks (OVN)", "`networks:` `type: ovn`", '"ovn"',
            tests=("test_ovn_lab.py", "test_ovn_kinds.py")),
    Support("network_forward", "network forwards", "`network_forwards:`", "network_forwards",
            tests=("test_network_zones.py",)),
    Support("network_forward", "network forwards (OVN)", "`network_forwards:` on `type: ovn`",
            "network_forwards", tests=("test_ovn_kinds.py",)),
    # LXD 5.0.2 has no network_load_balancer API extension: a plan error names the member.
    Support("network_load_balancer", "network load balancers (OVN)", "`network_load_balancers:`",
            "network_load_balancers",
            servers={"LXD 5.0": Live.UNSUPPORTED, "Incus 6.0": Live.TESTED},
            tests=("test_ovn_kinds.py",)),
    Support("network_peer", "network peers (OVN)", "`network_peers:`", "network_peers",
            tests=("test_ovn_kinds.py",)),
    Support("profile", "profiles", "`profiles:`", "profiles", tests=("test_apply.py",)),
    Support("storage_volume", "storage volumes", "`storage_volumes:`", "storage_volumes",
            tests=("test_plan_checks.py", "test_roundtrip.py")),
    Support("image", "images", "`images:`", "images", tests=("test_instances.py",)),
    Support("instance", "instances (containers)", "`instances:`", "instances",
            tests=("test_instances.py",)),
    # This machine's kernel has no vhost_vsock: both servers refuse the type (README, "Virtual
    # machines"); create, start, stop, move, delete, export and the keys a running VM refuses
    # run on recorded answers.
    Support("instance", "instances (virtual machines)", "`instances:` `type: virtual-machine`",
            "virtual-machine", servers=NEITHER, recorded=("test_vm_recorded.py",)),
    Support("snapshot", "snapshots", "`snapshots:` of an instance or custom volume", "snapshots",
            tests=("test_snapshots.py",)),
    Support("certificate", "certificates (trust store)", "`certificates:`", "certificates",
            tests=("test_certificates.py",)),
)


def kind_operations(spec: KindSpec) -> dict[str, bool]:
    """What lxdplan does with an object kind, read from its spec."""
    steps = set(spec.payloads)
    return {"create": bool(steps & {Action.CREATE, Action.DEFINE}),
            "update": Action.UPDATE in steps,
            "delete": Action.DELETE in steps,
            "drift": Action.UPDATE in steps,
            "export": spec.exports,
            "import": isinstance(spec, Adoptable)}


def membership_operations(kind: str, declared: Mapping[str, bool]) -> dict[str, bool]:
    """What lxdplan does with members or server config: the steps ``membership.ACTIONS``
    declares, the rest as ``declared``."""
    steps = {s.action for s in membership.ACTIONS[Kind(kind)]}
    found = {"create": bool(steps & {membership.BOOTSTRAP, membership.JOIN}),
             "update": Action.UPDATE in steps,
             "delete": membership.REMOVE in steps,
             "drift": Action.UPDATE in steps}
    return {op: found[op] if op in found else declared[op] for op in OPERATIONS}


def operations(row: Support, specs: Sequence[KindSpec]) -> dict[str, bool]:
    """A row's operations; KeyError for a kind the registry does not have."""
    if row.kind in MEMBERSHIP:
        return membership_operations(row.kind, row.ops)
    found = next((s for s in specs if s.kind == row.kind), None)
    if found is None:
        raise KeyError(f"the support table names {row.kind!r}, a kind the registry does not have")
    return kind_operations(found)


def missing(rows: Sequence[Support], specs: Sequence[KindSpec]) -> list[str]:
    """The kinds of ``specs`` and the membership kinds that have no row."""
    have = {r.kind for r in rows}
    return [k for k in (*MEMBERSHIP, *(s.kind for s in specs)) if k not in have]


def table(rows: Sequence[Support] = SUPPORT, specs: Sequence[KindSpec] | None = None) -> str:
    """README's support table, as Markdown (no trailing newline)."""
    specs = registry.registry() if specs is None else specs
    head = ["kind", "declared in", *OPERATIONS, *SERVERS, "tested by"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        ops = operations(row, specs)
        cells = [row.label, row.declared, *("yes" if ops[op] else "no" for op in OPERATIONS),
                 *(row.servers[s].value for s in SERVERS),
                 ", ".join([*(f"`tests/integration/{t}`" for t in row.tests),
                            *(f"`tests/unit/{t}` (recorded answers)" for t in row.recorded)])
                 or "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
