"""Storage pools and networks: the clustered objects created in two phases.

A ``define`` on each member (``POST ?target=<m>`` with its member-specific keys), then one
``instantiate`` (``POST`` without target, the cluster-wide keys). A create interrupted between
the two is ``Pending`` and resumes; one whose instantiate failed on a member is ``Errored`` and
is retried with no cluster-wide config, as LXD requires, after the corrected member-specific
keys of the members where it is not created yet. Member-specific keys compare only where
declared (LXD fills in the rest); some cannot change once the object exists on the member.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

from lxdplan.compare import (
    config_views,
    desc,
    diff_config,
    diff_declared,
    put_config,
    split_changes,
)
from lxdplan.errors import PlanError, fmt_path
from lxdplan.filecheck import MEMBERS, names
from lxdplan.kinds.base import (
    Adoptable,
    MemberSpecific,
    Request,
    Stage,
    StatusRows,
    Where,
    api_path,
    patch_mark,
)
from lxdplan.kinds.common import at, export_config, owned, put_if, used_by_note
from lxdplan.knownkeys import documented, suggest
from lxdplan.livedata import Get, Reading, Recorded, clean_config, marked, used_by
from lxdplan.plan import Action, Payload, Step
from lxdplan.state.observed import flag

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext


@dataclass(frozen=True)
class Define(Payload):
    """A pending definition on the step's member: its member-specific keys."""

    type: str  # a pool's driver, a network's type
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Instantiate(Payload):
    """The cluster-wide create. ``retry``: the object is Errored: POST again with no
    cluster-wide config and the description as it is."""

    type: str
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # cluster-wide keys + ownership mark
    retry: bool = False


@dataclass(frozen=True)
class Update(Payload):
    """Without a member: the full cluster-wide map to PUT (ownership marks and auto-filled keys
    kept) and the description. With a member: that member's full member-specific map, of which
    the changed keys are PATCHed with ``?target=``."""

    type: str = ""
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delete(Payload):
    """``DELETE`` of the object (no fields)."""


def split_members(c: "Checker", raw: dict, path: tuple, kind: str, member_keys: frozenset[str],
                  member_names: set[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Check a pool's or network's config/members split; return (config, members with keys)."""
    config = c.object_config(raw.get("config"), path + ("config",))
    for k in config:
        if k in member_keys:
            c.error(path + ("config", k), f'"{k}" is member-specific for {kind}: put it under '
                                          f"{fmt_path(path + ('members',))}.<member>", key=True)
    members: dict[str, dict[str, str]] = {}
    for name, cfg in (raw.get("members") or {}).items():
        mp = path + ("members", name)
        if name not in member_names:
            c.error(mp, f'{fmt_path(path + ("members",))} names "{name}", which is not in '
                        f"cluster.members{suggest(name, member_names)}", key=True)
        values = c.plain_config(cfg, mp)
        for k in values:
            if k not in member_keys and not documented(k) and (meant := suggest(k, member_keys)):
                c.error(mp + (k,), f'"{k}" is not a member-specific key of {kind}{meant}', key=True)
            elif k not in member_keys:
                allowed = ", ".join(sorted(member_keys)) or "none"
                c.error(mp + (k,), f'"{k}" is not member-specific for {kind} (member-specific keys: '
                                   f"{allowed}): put it under {fmt_path(path + ('config',))}", key=True)
        if values:
            members[name] = values
    return config, members


_UNFINISHED = ("Pending", "Errored")  # a member's own state before its create succeeded


def _created_on(live, member: str) -> bool:
    """Whether ``member`` has created the object (its own status, else the object's): only
    there are keys such as a pool's ``source`` fixed. A member where it is Pending or Errored
    takes new member-specific keys (``PATCH ?target=``) before the retry."""
    return live.member_status.get(member, live.status) not in _UNFINISHED


class TwoPhaseSpec(MemberSpecific, Adoptable, StatusRows):
    """What pools and networks share; their modules set what differs."""

    stage = Stage.BEFORE_JOINS
    type_field: str  # "driver" | "type"
    collection: str  # "storage-pools" | "networks"
    join_entity: str  # the join's member_config entity: "storage-pool" | "network"
    immutable_member_keys: frozenset[str] = frozenset()
    member_update_etag = True  # send the plan's ETag with a member-specific update
    etag_per_view = False  # the ETag depends on the view (``?target=<m>`` covers m's keys)
    payloads = {Action.DEFINE: Define, Action.INSTANTIATE: Instantiate, Action.UPDATE: Update,
                Action.DELETE: Delete}
    declared_type: type  # the frozen dataclass: (name, type, description, config, members, line)
    default_type: str  # the type when the file gives none
    plural: str  # "pools" | "networks": "dir pools", in messages

    # -- the file ----------------------------------------------------------------------------

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        member_names = names(declared, MEMBERS)
        out = []
        for i, raw in items:
            path = (self.section, i)
            type_ = raw.get(self.type_field, self.default_type)
            raw = self.load_checks(checker, raw, path, type_)
            config, members = split_members(checker, raw, path, f"{type_} {self.plural}",
                                            self.member_keys(type_), member_names)
            key_lines = {(m, k): checker.src.key_line(path + ("members", m, k))
                          for m, values in members.items() for k in values}
            out.append(self.declared_type(raw.get("name"), type_, raw.get("description", ""),
                                          config, members, checker.src.line(path),
                                          key_lines=key_lines))
        return tuple(out)

    def load_checks(self, checker: "Checker", raw: dict, path: tuple, type_: str) -> dict:
        """Rules of one entry before its config is split (may return it without what it
        refused)."""
        return raw

    def type_of(self, obj) -> str:
        return getattr(obj, self.type_field)

    def auto_keys(self, type_: str) -> frozenset[str]:
        """Cluster-wide keys LXD fills in for this driver/type: enforced only when declared."""
        return frozenset()

    def generated_values(self, type_: str) -> dict[str, str]:
        """Cluster-wide keys LXD fills in with a known value: enforced when declared, and an
        undeclared one is removed unless it holds that value (then LXD set it, not someone)."""
        return {}

    def member_keys(self, type_: str) -> frozenset[str]:
        """The member-specific keys of this driver/type."""
        raise NotImplementedError

    def define_targets(self, ctx: "PlanContext", type_: str) -> list[str]:
        """The members a definition is made on: every member present at that point."""
        return ctx.present

    def join_member_config(self, desired, member: str) -> list[dict[str, str]]:
        return [{"entity": self.join_entity, "name": obj.name, "key": key, "value": value}
                for obj in self.declared(desired) if self.joins_with_keys(obj)
                for key, value in sorted(obj.members.get(member, {}).items())]

    def joins_with_keys(self, obj) -> bool:
        return True

    # -- planning ----------------------------------------------------------------------------

    def plan(self, ctx: "PlanContext") -> list[str]:
        """Create, resume and update the declared objects; return the instantiates."""
        made: list[str] = []
        for obj in self.declared(ctx.desired):
            live = self.live_of(ctx.observed, obj)
            type_ = self.type_of(obj)
            if live is None:
                made.append(self._create(ctx, obj, type_))
                continue
            live_type = self.type_of(live)
            if live_type != type_:
                noun, field_ = self.kind.noun, self.type_field
                raise PlanError(
                    f"{at(ctx, obj)}{noun} {self.display(obj)} has {field_} {live_type} and the file says "
                    f"{type_}; LXD cannot change a {noun}'s {field_} in place, so delete "
                    f"and recreate it by hand or keep {field_} {live_type}"
                )
            if live.status == "Pending":
                made.append(self._resume_pending(ctx, obj, live, type_))
            elif live.status == "Errored":
                # Members that have not created it yet take corrected keys before the retry.
                unfinished = [m for m in self.define_targets(ctx, type_)
                              if not _created_on(live, m)]
                fixes = [sid for m in unfinished
                         if (sid := self._member_update(ctx, obj, live, m, pending=True))]
                sid = self._retry_errored(ctx, obj, live, type_, fixes)
                made.append(sid)
                self._updates(ctx, obj, live, type_, after=[sid], skip=unfinished)
            else:
                self._updates(ctx, obj, live, type_, after=[])
        return made

    def _define(self, ctx: "PlanContext", obj, type_: str, member: str, reason: str) -> str:
        config = dict(obj.members.get(member, {}))
        after = [*ctx.after_membership(), *(ctx.joined(member) if member in ctx.joined_first else [])]
        return ctx.steps.add(
            Action.DEFINE, self.kind, self.display(obj), member=member, depends_on=after,
            after={self.type_field: type_, **({"config": config} if config else {})},
            reason=reason, blocked=ctx.member_block(member), payload=Define(type_, config),
        )

    def _instantiate(self, ctx: "PlanContext", obj, type_: str, deps: list[str], reason: str) -> str:
        config = dict(obj.config)
        return ctx.steps.add(
            Action.INSTANTIATE, self.kind, self.display(obj),
            depends_on=ctx.after_membership() + deps,
            after={self.type_field: type_, **desc(obj.description), "config": config},
            reason=reason,
            blocked=ctx.all_members_block(f"creating {self.kind.noun} {self.display(obj)}"),
            payload=Instantiate(type_, obj.description, owned(config)),
        )

    def _create(self, ctx: "PlanContext", obj, type_: str) -> str:
        noun = self.kind.noun
        targets = self.define_targets(ctx, type_)
        if targets:  # members joining first take their definition after their join
            targets = [*targets, *(m for m in ctx.joined_first if m not in targets)]
        defines = [
            self._define(ctx, obj, type_, m, f"{noun} {self.display(obj)} does not exist: define it on "
                         "each member first")
            for m in targets
        ]
        return self._instantiate(ctx, obj, type_, defines,
                                 f"{noun} {self.display(obj)} is in the file but not in the cluster")

    def _resume_pending(self, ctx: "PlanContext", obj, live, type_: str) -> str:
        """A create interrupted between the defines and the instantiate: define what is
        missing, correct declared member keys of existing definitions, then instantiate."""
        noun, deps = self.kind.noun, []
        defined = set(live.member_status) | set(live.members)
        targets = self.define_targets(ctx, type_)
        for member in (m for m in targets if m not in defined):
            deps.append(self._define(ctx, obj, type_, member,
                                     f"{noun} {self.display(obj)} is pending and not yet defined on {member}"))
        for member in (m for m in targets if m in defined):
            sid = self._member_update(ctx, obj, live, member, pending=True)
            if sid:
                deps.append(sid)
        have = ", ".join(sorted(m for m in defined if m in ctx.present)) or "no member"
        return self._instantiate(ctx, obj, type_, deps,
                                 f"{noun} {self.display(obj)} is pending (defined on {have}): finish creating it")

    def _retry_errored(self, ctx: "PlanContext", obj, live, type_: str, deps: list[str]) -> str:
        failed = sorted(m for m, s in live.member_status.items() if s in _UNFINISHED)
        on = f" on {', '.join(failed)}" if failed else ""
        return ctx.steps.add(
            Action.INSTANTIATE, self.kind, self.display(obj),
            depends_on=ctx.after_membership() + deps, before={"status": "Errored"}, after={"status": "Created"},
            reason=(f"{self.kind.noun} {self.display(obj)} is Errored{on}: retry the create without "
                    "cluster-wide config, as LXD requires"),
            blocked=ctx.all_members_block(f"retrying {self.kind.noun} {self.display(obj)}"),
            payload=Instantiate(type_, "", {}, retry=True),
        )

    def _updates(self, ctx: "PlanContext", obj, live, type_: str, *, after: list[str],
                 skip: Sequence[str] = ()) -> None:
        auto, generated = self.auto_keys(type_), self.generated_values(type_)
        changes = diff_config(live.config, obj.config, auto=auto, inherited=generated)
        kept = {k: v for k, v in live.config.items()
                if k not in obj.config and generated.get(k) == v}
        b, a = config_views(changes, live.description, obj.description)
        if b or a:
            ctx.steps.add(
                Action.UPDATE, self.kind, self.display(obj), depends_on=after, before=b, after=a,
                reason=f"cluster-wide config of {self.kind.noun} {self.display(obj)} differs from the file",
                blocked=ctx.all_members_block(f"updating {self.kind.noun} {self.display(obj)}"),
                etag=live.etag,
                payload=Update(type_, obj.description,
                               {**kept, **put_config(live.config, obj.config, auto)}),
            )
        for member in self.define_targets(ctx, type_):
            if member not in skip:
                self._member_update(ctx, obj, live, member, pending=False, after=after)

    def _member_update(self, ctx, obj, live, member, *, pending, after=()) -> str | None:
        if member not in live.members and ctx.member_block(member):
            return None  # its keys could not be read (the member is down): nothing known to differ
        declared = obj.members.get(member, {})
        current = live.members.get(member, {})
        changes = diff_declared(current, declared)
        if not changes:
            return None
        noun = self.kind.noun
        if not pending and _created_on(live, member):
            for key in sorted(changes):
                if key in self.immutable_member_keys and current.get(key) is not None:
                    line = getattr(obj, "key_lines", {}).get((member, key)) or obj.line
                    where = f"{ctx.desired.path}:{line}: " if line else f"{ctx.desired.path}: "
                    raise PlanError(
                        f"{where}{noun} {self.display(obj)} has {key} {current[key]} on {member} and the "
                        f"file says {declared[key]}; LXD cannot change {key} after the {noun} is "
                        f"created: keep {key} {current[key]} for {member}, or declare a new "
                        f"{noun} with the new {key}, or remove {member} from the cluster and join "
                        f"it again (its join defines {self.display(obj)} there anew)"
                    )
        before, new = split_changes(changes)
        return ctx.steps.add(
            Action.UPDATE, self.kind, self.display(obj), member=member, depends_on=list(after),
            before={"config": before} if before else {}, after={"config": new},
            reason=f"{member}'s keys of {noun} {self.display(obj)} differ from the file",
            blocked=ctx.member_block(member),
            etag=live.etag if self.member_update_etag else None,
            payload=Update(config={**current, **declared}),
        )


    def delete_before(self, live) -> dict[str, Any]:
        return {self.type_field: self.type_of(live), **super().delete_before(live)}

    def delete_block(self, ctx: "PlanContext", live) -> str | None:
        return ctx.all_members_block(f"deleting {self.kind.noun} {self.display(live)}")

    def unmanaged_note(self, live) -> str:
        return used_by_note(live.used_by)

    # -- the API -----------------------------------------------------------------------------

    def object_name(self, step: Step) -> str:
        """The name of the object a step acts on (its label may show more: a project)."""
        return step.name

    def where(self, step: Step) -> Where:
        return Where(f"/1.0/{self.collection}", api_path(self.collection, step.name),
                     member=step.member)

    def where_declared(self, obj) -> Where:
        return Where(f"/1.0/{self.collection}", api_path(self.collection, obj.name))

    def adopt_request(self, obj, md: dict[str, Any]) -> Request:
        """The mark alone, cluster-wide (no target): a PUT would have to leave out every
        member's specific keys."""
        return patch_mark(self.where_declared(obj))

    def define_body(self, name: str, type_: str, config: dict) -> dict[str, Any]:
        """The ``POST ?target=`` body of a ``define`` step. (A two-phase kind has no single
        ``create``: it was ``create_body`` with its own signature, which broke the base's.)"""
        return {"name": name, self.type_field: type_, "config": config}

    def status(self, observed) -> tuple[str, list[list[str]]] | None:
        """Each object with its type, its state and each member's."""
        objects = self.live(observed)
        if not objects:
            return None
        rows = [["NAME", "TYPE", "STATE", "PER MEMBER", "MANAGED"]]
        for name, obj in objects.items():
            per_member = ", ".join(f"{m}={flag(s)}" for m, s in sorted(obj.member_status.items())) or "-"
            rows.append([name, str(self.type_of(obj)), flag(obj.status), per_member,
                         "lxdplan" if obj.managed_by_lxdplan else "-"])
        return f"{self.kind.noun.capitalize()}s", rows

    # -- export ------------------------------------------------------------------------------

    def export(self, live) -> dict[str, Any]:
        """Cluster-wide config, and member-specific keys under ``members``."""
        entry: dict[str, Any] = {"name": live.name, self.type_field: self.type_of(live)}
        put_if(entry, "description", live.description)
        put_if(entry, "config", export_config(live.config))
        members = {m: {k: v for k, v in sorted(c.items()) if not self.lxd_default(live, c, k)}
                   for m, c in sorted(live.members.items())}
        put_if(entry, "members", {m: c for m, c in members.items() if c})
        return entry

    def lxd_default(self, live, member_config: Mapping[str, str], key: str) -> bool:
        """Whether a member's ``key`` holds what LXD gives the object there when the key is
        not set (export leaves it out: member-specific keys compare only where declared)."""
        return False

    # -- reading it live ---------------------------------------------------------------------
    # The listing gives the cluster-wide object; each member's view (``?target=``) its specific
    # keys and status. At plan detail (``ctx.lean``) a member's view is read only where the file
    # declares member-specific keys for that member or the object is not Created.

    def listings(self, reading: Reading) -> dict[Hashable, Get]:
        return {"listing": Get.listing(f"/1.0/{self.collection}")}

    def keyed(self, desired) -> dict[str, set[str]]:
        """Members whose view of an object the file's member-specific keys need, by object."""
        return {o.name: {m for m, c in o.members.items() if c} for o in self.declared(desired)}

    def wanted(self, reading: Reading, keyed: dict[str, set[str]], name: str, member: str,
               status: str | None = None) -> bool:
        """Whether to read ``member``'s view of ``name`` (``status`` from the listing; None
        before the listing arrives, when only declared keys justify a read)."""
        if not reading.lean or (status is not None and status != CREATED):
            return True
        return member in keyed.get(name, ())

    def view(self, name: str, member: str) -> Get:
        return Get.of(api_path(self.collection, name), member=member)

    def listed(self, recorded: Recorded) -> list[dict[str, Any]]:
        return recorded.metadata(self.section, "listing", [])

    def views_to_read(self, reading: Reading, items: list[dict[str, Any]]) -> dict[Hashable, Get]:
        """Each member's view of each listed object the detail wants, keyed ``("view", name,
        member)``; members nothing is asked of are left out."""
        keyed = self.keyed(reading.desired)
        return {("view", item["name"], m): self.view(item["name"], m)
                for item in items for m in item.get("locations") or ()
                if m not in reading.offline
                and self.wanted(reading, keyed, item["name"], m, item.get("status", ""))}

    def views(self, recorded: Recorded, item: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The members' views read of a listed object (a view of a member the object is not
        on, read before the listing arrived, does not count)."""
        answers = recorded.of(self.section)
        return dict(sorted((m, answers[("view", item["name"], m)][0] or {})
                           for m in item.get("locations") or ()
                           if ("view", item["name"], m) in answers))


CREATED = "Created"


def two_phase_fields(item: dict[str, Any], specific: frozenset[str],
                     per_member: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The observed fields pools and networks share: cluster-wide config from the collection,
    each member's specific keys and status from its ``?target=`` answer."""
    config = clean_config(item.get("config"))
    members: dict[str, dict[str, str]] = {}
    status: dict[str, str] = {}
    for member, meta in (per_member or {}).items():
        full = clean_config(meta.get("config"))
        members[member] = {k: v for k, v in full.items() if k in specific}
        status[member] = meta.get("status", "")
    return dict(
        name=item["name"],
        description=item.get("description", ""),
        status=item.get("status", ""),
        config={k: v for k, v in config.items() if k not in specific},
        members=members,
        member_status=status,
        locations=tuple(sorted(item.get("locations") or ())),
        used_by=used_by(item),
        managed_by_lxdplan=marked(config),
    )
