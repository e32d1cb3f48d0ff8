"""`lxdplan status` as text: members, then each kind's section (``StatusRows.status``)."""

from __future__ import annotations

from lxdplan.desired import Desired
from lxdplan.kinds import StatusRows
from lxdplan.registry import registry
from lxdplan.state.observed import (
    BLOCKED,
    NOT_SERVING,
    OFFLINE,
    ONLINE,
    UNREACHABLE,
    UPGRADE_ADVICE,
    Observed,
)
from lxdplan.state.observed import flag as _flag


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def render_status(desired: Desired, observed: Observed) -> str:
    lines: list[str] = []
    backend = observed.backend.upper() if observed.backend == "lxd" else observed.backend.capitalize()
    if not observed.clustered:
        lines.append(f"No cluster yet: {len(desired.members)} declared member(s), none clustered.")
        rows = [["MEMBER", "REACHABLE", "VERSION", "NOTE"]]
        for member in desired.members:
            alone = observed.standalone.get(member.name)
            reachable = "yes" if alone and alone.reachable else "no"
            note = (alone.error if alone and not alone.reachable else "ready to bootstrap or join")
            rows.append([member.name, reachable, alone.version if alone else "", note])
        lines.extend(_table(rows))
        return "\n".join(lines)

    lines.append(f"Cluster ({backend} {observed.server_version}), {len(observed.members)} member(s):")
    rows = [["MEMBER", "STATUS", "ROLES", "VERSION", "API", "FAILURE DOMAIN", "MESSAGE"]]
    silent = observed.not_serving()
    for name, live in observed.members.items():
        status, message = observed.member_status(name), live.message
        if (status == UNREACHABLE and live.status == ONLINE) or status == NOT_SERVING:
            # The cluster has not noticed (or cannot tell); say what lxdplan saw instead.
            alone = observed.standalone.get(name)
            message = alone.error if alone is not None and alone.error else "answers no request"
        rows.append([
            name, _flag(status), ",".join(live.roles) or "-", live.version or "?",
            str(live.api_level) if live.api_level else "?", live.failure_domain, message,
        ])
    declared_out = [m.name for m in desired.members if m.name not in observed.members]
    for name in declared_out:
        rows.append([name, "not joined", "-", "-", "-", "-", "declared in the file"])
    lines.extend(_table(rows))

    for spec in registry():  # each kind's section (pools, networks, images, instances)
        section = spec.status(observed) if isinstance(spec, StatusRows) else None
        if section is not None:
            title, rows = section
            lines.append("")
            lines.append(f"{title}:")
            lines.extend(_table(rows))
    flagged = [n for n, m in observed.members.items()
               if m.status in (OFFLINE, BLOCKED) and n not in silent]
    notes = [f"{n} is {observed.members[n].status}" for n in flagged
             if observed.members[n].status == OFFLINE]
    notes += [observed.not_serving_reason(n) for n in sorted(silent)]
    notes += [f"{n} is Blocked: it runs the older version, needs upgrading and still serves"
              if observed.backend == "incus" else f"{n} is Blocked"
              for n in flagged if observed.members[n].status == BLOCKED]
    skew = _skew(observed)
    if skew:
        notes.append(skew)
    if notes:
        lines.append("")
        lines.append("Attention: " + "; ".join(notes) + ".")
    if silent or skew or any(observed.members[n].status == BLOCKED for n in flagged):
        lines.append(f"Upgrading: {UPGRADE_ADVICE} (all members must run the same version).")
    return "\n".join(lines)


def _skew(observed: Observed) -> str:
    """One sentence when the members that reported a version or API level differ, else ""."""
    versions = {n: m.version for n, m in observed.members.items() if m.version}
    levels = {n: m.api_level for n, m in observed.members.items() if m.api_level}
    if len(set(versions.values())) < 2 and len(set(levels.values())) < 2:
        return ""
    listing = ", ".join(
        f"{n} {versions.get(n, '?')}" + (f" (API {levels[n]})" if n in levels else "")
        for n in sorted(set(versions) | set(levels))
    )
    from lxdplan.rolling import skew

    behind = skew(versions)
    behind = behind.split(": ", 1)[1].split(" (", 1)[0] if behind else ""
    return f"members run different versions ({listing}){'; ' + behind if behind else ''}"
