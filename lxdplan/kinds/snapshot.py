"""Snapshots of instances and custom volumes, declared on their parent's entry (``snapshots:``).

The entries live in an instance's or a custom volume's entry (``snapshots: [{name, expires_at,
stateful}]``), loaded by the parent's kind (``Instance.snapshots``, ``StorageVolume.snapshots``);
this kind's ``declared`` derives the snapshot objects from them, and its own file section is
empty (its schema fragment refuses entries). Actions: ``create`` (``POST …/snapshots``, then the
name added to the parent's mark) and ``delete`` (the mark dropped after). A snapshot is never
updated: a declared one whose ``expires_at`` (when declared: otherwise LXD's, from the
parent's ``snapshots.expiry``) or ``stateful`` differs is a plan error saying how to replace it.

Ownership: ``user.lxdplan.snapshots`` on the parent, the names lxdplan created, comma-separated
(instance snapshots have no config nor description of their own; a volume snapshot's
description is the user's). Snapshots the mark does not list (``snapshots.schedule``'s, or made
by hand) are listed as unmanaged and never deleted. A parent the plan deletes takes its
snapshots with it: no snapshot step is planned for a parent the file does not declare.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Hashable, Mapping

from lxdplan.actionspec import ActionSpec
from lxdplan.errors import PlanError
from lxdplan.kinds.base import (
    Adoptable,
    DependentReads,
    Request,
    Requested,
    Stage,
    Where,
    api_path,
    payload_of,
)
from lxdplan.kinds.common import DEFAULT, at, scoped
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded
from lxdplan.plan import Action, Kind, Payload, Step, Unmanaged
from lxdplan.state.observed import NOT_SERVING, OFFLINE, UNREACHABLE

if TYPE_CHECKING:
    from lxdplan.desired import Desired
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

OWNER_KEY = "user.lxdplan.snapshots"
# A one-off restore of the parent to a snapshot, asked with ``--restore`` (never from the file).
RESTORE = Action("restore")
# What LXD answers for "never expires" (Go's zero time).
NEVER = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Snapshot:
    """A declared snapshot. ``pool`` is "" for an instance's; ``member`` a volume's member
    ("" otherwise)."""

    name: str
    parent: str = ""
    project: str = DEFAULT
    pool: str = ""
    member: str = ""
    expires_at: str = ""  # as written (RFC 3339), "" for never
    stateful: bool = False
    line: int = 0


@dataclass(frozen=True)
class Write(Payload):
    """A create (``POST`` on the parent's snapshots; the name then added to the parent's
    ``OWNER_KEY``) or a delete (the name dropped from it after)."""

    parent: str
    name: str
    project: str = DEFAULT
    pool: str = ""
    expires_at: str = ""
    stateful: bool = False
    owner_key: str = OWNER_KEY


@dataclass(frozen=True)
class Restore(Write):
    """A restore of the parent to snapshot ``name`` (``PUT`` of the parent with ``restore``);
    ``target`` is the ``--restore`` argument as given, which a saved plan carries to apply."""

    target: str = ""


def instant(value: str) -> datetime.datetime | None:
    """An RFC 3339 time as an aware instant; None for "" and LXD's zero time; ValueError when
    it is no time."""
    if not value or value.startswith("0001-01-01"):
        return None
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(value)
    return parsed


def load_list(c: "Checker", raw: Any, path: tuple, *, parent: str, project: str, pool: str = "",
              member: str = "") -> tuple[Snapshot, ...]:
    """The ``snapshots`` of one parent entry at ``path`` (schema-valid), checked: names unique,
    ``expires_at`` a time with its offset, ``stateful`` on instances only."""
    out: list[Snapshot] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw or ()):
        sp = path + ("snapshots", i)
        name = str(entry.get("name", ""))
        if name in seen:
            c.error(sp + ("name",), f'{_label(path)} declares snapshot "{name}" twice')
        seen.add(name)
        expires = str(entry.get("expires_at", "") or "")
        try:
            instant(expires)
        except ValueError:
            c.error(sp + ("expires_at",), f'{_label(path)} snapshot "{name}": expires_at '
                                          f'"{expires}" is not a time with its offset '
                                          "(RFC 3339, e.g. 2027-01-01T00:00:00Z)")
        if entry.get("stateful") and pool:
            c.error(sp + ("stateful",), f'{_label(path)} snapshot "{name}": a volume snapshot '
                                        "cannot be stateful (only an instance's)")
        out.append(Snapshot(name, parent, project, pool, member, expires,
                            bool(entry.get("stateful", False)), c.src.line(sp) or 0))
    return tuple(out)


def _label(path: tuple) -> str:
    from lxdplan.errors import fmt_path
    return fmt_path(path)


class SnapshotSpec(DependentReads, Adoptable, Requested):
    kind = Kind.define("snapshot", "snapshot")
    section = "snapshots"
    answer_shape = AnswerShape({"instances/[^/]+/snapshots": "name",
                                "storage-pools/[^/]+/volumes/custom/[^/]+/snapshots": "name"},
                               {"stateful": "flag"})
    stage = Stage.AFTER_MEMBERS
    rank, delete_rank, list_rank = 85, 3, 85
    actions = "snapshots"
    payloads = {Action.CREATE: Write, Action.DELETE: Write, RESTORE: Restore}
    action_specs = (
        ActionSpec(RESTORE, "restoring", "restore an instance or a custom volume to one of its "
                   "snapshots (asked with --restore, after the plan's other steps)",
                   count="restore_snapshot", words="to restore"),
    )
    load_rank = 75  # after the instances and volumes that carry them

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        """Nothing: the entries are the parents' (the fragment refuses a section of its own)."""
        return ()

    def file_idents(self, obj) -> list[tuple]:
        return []  # unique per parent: checked where the parent loads (``load_list``)

    def declared(self, desired: "Desired") -> tuple:
        return tuple(s for parent in (*desired.section("instances"),
                                      *desired.section("storage_volumes"))
                     for s in getattr(parent, "snapshots", ()))

    def ident(self, obj) -> tuple:
        return (obj.project, obj.pool, obj.member or "", obj.parent, obj.name)

    def step_ident(self, step: Step) -> tuple:
        p = payload_of(step, Write)
        return (p.project, p.pool, step.member or "", p.parent, p.name)

    def label(self, ident: tuple) -> str:
        project, pool, _member, parent, name = ident
        return scoped(project, "/".join(x for x in (pool, parent, name) if x))

    def live_key(self, ident: tuple) -> str:
        return "/".join(ident)

    # -- planning ------------------------------------------------------------------------------

    def plan(self, ctx: "PlanContext") -> list[str]:
        lives = self.live(ctx.observed)
        noted: set[str] = set()
        for snap in self.declared(ctx.desired):
            name = self.display(snap)
            unread = _unread(ctx, snap)
            if unread:
                if unread not in noted:
                    noted.add(unread)
                    ctx.diagnostics.append(unread)
                continue
            live = lives.get(self.live_key(self.ident(snap)))
            if live is None:
                member = snap.member or None
                after: dict[str, Any] = {}
                if snap.expires_at:
                    after["expires_at"] = snap.expires_at
                if snap.stateful:
                    after["stateful"] = True
                ctx.steps.add(
                    Action.CREATE, self.kind, name, member=member,
                    depends_on=ctx.after_bootstrap() + ctx.joined(member) + _parent_steps(ctx, snap),
                    after=after, reason=f"snapshot {name} is in the file but not in the cluster",
                    blocked=ctx.member_block(member) if member else None,
                    payload=Write(snap.parent, snap.name, snap.project, snap.pool,
                                  snap.expires_at, snap.stateful),
                )
                continue
            _immutable(ctx, snap, live, name)
        return []

    def plan_deletes(self, ctx: "PlanContext") -> None:
        declared = {self.ident(s) for s in self.declared(ctx.desired)}
        parents = _declared_parents(ctx.desired)
        for key, live in sorted(self.live(ctx.observed).items()):
            if self.ident(live) in declared:
                continue
            if (live.project, live.pool, live.member or "", live.parent) not in parents:
                continue  # its parent is not the file's: deleted with it, or not lxdplan's
            name = self.display(live)
            if not live.managed_by_lxdplan:
                ctx.unmanaged.append(Unmanaged(self.kind, name, self.unmanaged_note(live)))
                continue
            ctx.steps.add(
                Action.DELETE, self.kind, name, member=live.member or None,
                depends_on=ctx.after_bootstrap(),
                before=self.delete_before(live),
                reason=f"lxdplan made snapshot {name} and the file no longer declares it",
                blocked=ctx.member_block(live.member) if live.member else None,
                payload=Write(live.parent, live.name, live.project, live.pool),
            )

    def plan_requested(self, ctx: "PlanContext") -> None:
        """One ``restore`` step per ``--restore`` target, after every other step of the plan
        (the parent's and the snapshot's own included)."""
        others = [s.id for s in ctx.steps.all()]
        lives = self.live(ctx.observed)
        for target in dict.fromkeys(ctx.desired.restore):
            snap = resolve_target(ctx.desired, target)
            name = self.display(snap)
            unread = _unread(ctx, snap)
            if unread:
                raise PlanError(f"--restore {target}: {unread.split(';')[0]}, so the "
                                f"snapshot cannot be checked; restore it once the member is back")
            made = [s.id for s in ctx.steps.all() if s.kind == self.kind and s.name == name
                    and s.action == Action.CREATE and s.member == (snap.member or None)]
            live = lives.get(self.live_key(self.ident(snap)))
            what = _parent_words(snap)
            if live is None and not made:
                known = sorted(s.name for s in lives.values()
                               if (s.project, s.pool, s.member, s.parent)
                               == (snap.project, snap.pool, snap.member, snap.parent))
                has = f" (it has {', '.join(known)})" if known else " (it has none)"
                raise PlanError(f"--restore {target}: {what} has no snapshot {snap.name}"
                                f"{has}, and the file does not declare one to take first")
            reason = f"restore {what} to snapshot {snap.name} (--restore {target})"
            reason += _restore_effect(ctx, snap)
            ctx.steps.add(
                RESTORE, self.kind, name, member=snap.member or None,
                depends_on=others, reason=reason,
                payload=Restore(snap.parent, snap.name, snap.project, snap.pool, target=target),
            )

    def delete_before(self, live) -> dict[str, Any]:
        return {"expires_at": live.expires_at} if live.expires_at else {}

    def unmanaged_note(self, live) -> str:
        return "not made by lxdplan (snapshots.schedule or by hand): kept"

    # -- the API -------------------------------------------------------------------------------

    def where(self, step: Step) -> Where:
        p = payload_of(step, Write)
        return _where(p.project, p.pool, p.parent, p.name, step.member)

    def where_declared(self, obj) -> Where:
        """No path of its own: a snapshot is part of its parent, and goes with it.
        ``planner/usage.py`` resolves a ``used_by`` entry naming one to the parent (it skips a
        live object with no path); ``import`` reads the parent (``adopt_where``)."""
        return Where("", "")

    # -- import --------------------------------------------------------------------------------
    # A declared snapshot that exists unmarked (made by hand) is adopted by adding its name to
    # the parent's mark: the parent is read and PATCHed with the ETag of that read.

    def adopt_where(self, obj) -> Where:
        where = _where(obj.project, obj.pool, obj.parent, obj.name, obj.member or None)
        return Where(where.collection, parent_path(where.collection), where.params, where.member)

    def adopt_request(self, obj, md: dict[str, Any]) -> Request:
        where = self.adopt_where(obj)
        raw = str((md.get("config") or {}).get(OWNER_KEY, ""))
        names = [n.strip() for n in raw.split(",") if n.strip()]
        names += [] if obj.name in names else [obj.name]
        return Request("PATCH", where.path, dict(where.params), {"config": {OWNER_KEY: ",".join(names)}})

    # -- export --------------------------------------------------------------------------------

    def export(self, live) -> dict[str, Any] | None:
        """The entry under its parent's ``snapshots`` (managed ones only)."""
        if not live.managed_by_lxdplan:
            return None
        entry: dict[str, Any] = {"name": live.name}
        if live.expires_at:
            entry["expires_at"] = live.expires_at
        if live.stateful:
            entry["stateful"] = True
        return entry

    def export_section(self, observed) -> list[dict[str, Any]]:
        return []  # exported on their parents' entries

    # -- reading it live -----------------------------------------------------------------------
    # Only the declared parents' snapshots matter (a parent the file drops is deleted with its
    # snapshots, or is not lxdplan's), read on the parent's member once the instances' listing
    # says where each instance is: nothing is asked of a member that is offline or does not
    # serve (as for every member-specific read, ``livedata.Get``), and an instance that
    # declares no snapshot and lists none in its mark is not asked at all. Volumes: each
    # declared custom volume (its member is declared), sent at once.

    needs = (("instances", "listing"),)

    @property
    def observed_type(self) -> type:
        return ObservedSnapshot

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        out: dict[Hashable, Get] = {}
        listed = {(item.get("project") or DEFAULT, item.get("name")): item
                  for item in recorded.metadata("instances", "listing") or ()}
        restored = _restored(reading.desired)
        for parent in reading.desired.section("instances"):
            item = listed.get((parent.project, parent.name))
            if item is None:
                continue  # not there yet: its snapshots are taken after it
            if (not parent.snapshots and not _listed((item.get("config") or {}).get(OWNER_KEY, ""))
                    and (parent.project, "", "", parent.name) not in restored):
                continue  # nothing declared, nothing lxdplan took, no restore: nothing to plan
            location = item.get("location") or ""
            member = location if location in reading.members else None
            if member in reading.offline:
                continue
            params = {"recursion": 1, **({"project": parent.project} if parent.project != DEFAULT else {})}
            out[("instance", parent.project, parent.name)] = Get.of(
                api_path("instances", parent.name, "snapshots"), params, member=member)
        for parent in reading.desired.section("storage_volumes"):
            if parent.type != "custom" or (parent.member and (
                    parent.member in reading.offline or parent.member not in reading.members)):
                continue  # a member not in the cluster yet (joined this run) has no volume yet
            params = {"recursion": 1, **({"project": parent.project} if parent.project != DEFAULT else {})}
            out[("volume", parent.project, parent.pool, parent.member or "", parent.name)] = Get.of(
                api_path("storage-pools", parent.pool, "volumes", "custom", parent.name, "snapshots"),
                params, member=parent.member or None)
        return out

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedSnapshot"]:
        marks = _marks(recorded)
        out: dict[str, ObservedSnapshot] = {}
        for key in recorded.of(self.section):
            if not isinstance(key, tuple) or key[0] not in ("instance", "volume"):
                continue
            if key[0] == "instance":
                _, project, parent = key
                pool = member = ""
            else:
                _, project, pool, member, parent = key
            managed = marks.get((project, pool, member, parent), frozenset())
            for item in recorded.metadata(self.section, key) or ():
                snap = parse_snapshot(item, parent, project, pool, member, managed)
                out[self.live_key(self.ident(snap))] = snap
        return out


def resolve_target(desired: "Desired", target: str) -> Snapshot:
    """The snapshot a ``--restore`` target names: ``INSTANCE/SNAPSHOT``,
    ``POOL/VOLUME/SNAPSHOT`` (a custom volume), and with ``PROJECT/`` before either when the
    name is declared in more than one project; ``PlanError`` when it names no declared parent
    or more than one."""
    parts = target.split("/")
    if len(parts) < 2 or not all(parts) or len(parts) > 4:
        raise PlanError(f"--restore {target}: name INSTANCE/SNAPSHOT or POOL/VOLUME/SNAPSHOT "
                        "(PROJECT/ before either when the name is in several projects)")
    *head, snap = parts
    found: list[Snapshot] = []
    for inst in desired.section("instances"):
        if [inst.name] == head or [inst.project, inst.name] == head:
            found.append(Snapshot(snap, inst.name, inst.project))
    for vol in desired.section("storage_volumes"):
        if vol.type == "custom" and ([vol.pool, vol.name] == head
                                     or [vol.project, vol.pool, vol.name] == head):
            found.append(Snapshot(snap, vol.name, vol.project, vol.pool, vol.member or ""))
    if not found:
        raise PlanError(f"--restore {target}: the file declares no instance or custom volume "
                        f"{'/'.join(head)}")
    if len(found) > 1:
        where = sorted({_parent_words(f) + (f" on {f.member}" if f.member else "") for f in found})
        raise PlanError(f"--restore {target} names more than one: {', '.join(where)}; add the "
                        "project before it (PROJECT/...), or restore a volume of a local pool "
                        "by hand (lxc storage volume restore --target MEMBER)")
    return found[0]


def _restored(desired: "Desired") -> set[tuple[str, str, str, str]]:
    """The parents the ``--restore`` targets name (read even when they declare no snapshot)."""
    out = set()
    for target in desired.restore:
        try:
            snap = resolve_target(desired, target)
        except PlanError:
            continue  # said when planned
        out.add((snap.project, snap.pool, snap.member, snap.parent))
    return out


def _parent_words(snap: Snapshot) -> str:
    if snap.pool:
        return f"storage volume {scoped(snap.project, f'{snap.pool}/{snap.parent}')}"
    return f"instance {scoped(snap.project, snap.parent)}"


def _restore_effect(ctx: "PlanContext", snap: Snapshot) -> str:
    """What the servers do beside the restore, for the plan line: a running container is
    stopped, restored and started again (LXD 5.0.2 and Incus 6.0.4 ``driver_lxc.go``
    ``Restore``); a volume an instance running uses is refused (``RestoreCustomVolume``)."""
    if snap.pool:
        return ("; refused while an instance using the volume runs; its config is kept")
    live = next((i for i in ctx.observed.section("instances").values()
                 if (i.project, i.name) == (snap.project, snap.parent)), None)
    said = "; its config comes back as the snapshot has it (the next plan shows the file's)"
    if live is not None and getattr(live, "status", "") in ("Running", "Frozen"):
        return "; it is running: the server stops it, restores it and starts it again" + said
    return said


def exported(observed: Any, project: str, parent: str, pool: str = "", member: str = "") -> list[dict[str, Any]]:
    """The ``snapshots`` entries of one parent's export: the snapshots lxdplan made, oldest
    first (the others are LXD's or the user's, and stay out of the file)."""
    lives = [s for s in observed.section(SPEC.section).values()
             if (s.project, s.pool, s.member, s.parent) == (project, pool, member, parent)]
    return [e for s in sorted(lives, key=lambda s: (s.created_at, s.name))
            if (e := SPEC.export(s)) is not None]


def _where(project: str, pool: str, parent: str, name: str, member: str | None) -> Where:
    params = {"project": project} if project != DEFAULT else {}
    if member:
        params["target"] = member
    if pool:
        base = api_path("storage-pools", pool, "volumes", "custom", parent, "snapshots")
    else:
        base = api_path("instances", parent, "snapshots")
    return Where(base, f"{base}/{name}", params, member)


def parent_path(collection: str) -> str:
    return collection.rsplit("/", 1)[0]  # …/instances/NAME/snapshots -> …/instances/NAME


def _declared_parents(desired: "Desired") -> set[tuple[str, str, str, str]]:
    return ({(i.project, "", "", i.name) for i in desired.section("instances")}
            | {(v.project, v.pool, v.member or "", v.name)
               for v in desired.section("storage_volumes") if v.type == "custom"})


def _parent_steps(ctx: "PlanContext", snap: Snapshot) -> list[str]:
    """The parent's own steps this run (its create, a move): the snapshot is taken after."""
    kind = Kind("storage_volume") if snap.pool else Kind("instance")
    label = scoped(snap.project, f"{snap.pool}/{snap.parent}" if snap.pool else snap.parent)
    return [s.id for s in ctx.steps.all()
            if s.kind == kind and s.name == label and s.action != Action.DELETE]


# Members whose snapshot reads the observer does not send, or that fail as absent.
UNREAD = frozenset({OFFLINE, UNREACHABLE, NOT_SERVING})


def _unread(ctx: "PlanContext", snap: Snapshot) -> str | None:
    """Why the parent's snapshots were not read (it exists on a member that is offline, cannot
    be reached or does not serve), as a note; None when they were, or when the parent does not
    exist or is made again this run (its snapshots are then taken after it). Nothing is planned
    for them meanwhile, as for an instance on such a member (``kinds.placement``)."""
    if _parent_steps(ctx, snap):
        return None
    if snap.pool:
        what = f"storage volume {snap.pool}/{snap.parent}"
        live = ctx.observed.section("storage_volumes").get(
            f"{snap.project}/{snap.pool}/{snap.member}/{snap.parent}")
        member = snap.member
    else:
        what = f"instance {snap.parent}"
        live = next((i for i in ctx.observed.section("instances").values()
                     if (i.project, i.name) == (snap.project, snap.parent)), None)
        member = getattr(live, "location", "") or ""
    if live is None or not member:
        return None
    status = ctx.observed.member_status(member)
    if status not in UNREAD:
        return None
    return (f"snapshots of {scoped(snap.project, what)} are not read: {member} is "
            f"{status.lower()}; they are planned once it is back")


def _immutable(ctx: "PlanContext", snap: Snapshot, live: "ObservedSnapshot", name: str) -> None:
    """A plan error when the live snapshot differs from the declared one."""
    replace = ("a snapshot is never changed in place: to replace it, drop it from the file "
               "and apply, then declare it again, or declare it under a new name")
    # No ``expires_at`` declared: LXD's (the parent's ``snapshots.expiry`` sets one), not compared.
    if snap.expires_at and instant(snap.expires_at) != instant(live.expires_at):
        raise PlanError(f"{at(ctx, snap)}snapshot {name} expires at "
                        f"{live.expires_at or 'never'} and the file says "
                        f"{snap.expires_at or 'never'}; {replace}")
    if snap.stateful != live.stateful:
        raise PlanError(f"{at(ctx, snap)}snapshot {name} is "
                        f"{'stateful' if live.stateful else 'not stateful'} and the file says "
                        f"stateful: {str(snap.stateful).lower()}; {replace}")


def _marks(recorded: Recorded) -> dict[tuple[str, str, str, str], frozenset[str]]:
    """Each parent's ``OWNER_KEY`` (the snapshot names lxdplan made), from the parents'
    listings: instances (``instances``' ``listing``) and volumes (``storage_volumes``' per pool)."""
    out: dict[tuple[str, str, str, str], frozenset[str]] = {}
    for item in recorded.metadata("instances", "listing") or ():
        names = _listed((item.get("config") or {}).get(OWNER_KEY, ""))
        if names:
            out[(item.get("project") or DEFAULT, "", "", item["name"])] = names
    for key, answer in recorded.of("storage_volumes").items():
        if not (isinstance(key, tuple) and key[0] == "volumes") or answer[0] is None:
            continue
        for item in answer[0] or ():
            names = _listed((item.get("config") or {}).get(OWNER_KEY, ""))
            if names and item.get("type", "custom") == "custom":
                out[(item.get("project") or DEFAULT, key[1], item.get("location") or "",
                     item["name"])] = names
    return out


def _listed(raw: str) -> frozenset[str]:
    return frozenset(n.strip() for n in str(raw).split(",") if n.strip())


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedSnapshot:
    name: str
    parent: str
    project: str = DEFAULT
    pool: str = ""
    member: str = ""
    expires_at: str = ""  # "" for never
    stateful: bool = False
    created_at: str = ""
    managed_by_lxdplan: bool = False


def parse_snapshot(item: dict[str, Any], parent: str, project: str, pool: str, member: str,
                   managed: frozenset[str]) -> ObservedSnapshot:
    """One snapshot of a ``…/snapshots?recursion=1`` answer (a volume snapshot's ``name`` is
    ``VOLUME/SNAPSHOT``, an instance snapshot's the snapshot's own)."""
    name = str(item.get("name") or "").rsplit("/", 1)[-1]
    expires = str(item.get("expires_at") or "")
    return ObservedSnapshot(
        name=name, parent=parent, project=project, pool=pool, member=member,
        expires_at="" if not expires or expires.startswith("0001-01-01") else expires,
        stateful=bool(item.get("stateful", False)), created_at=str(item.get("created_at") or ""),
        managed_by_lxdplan=name in managed)


SPEC = SnapshotSpec()
