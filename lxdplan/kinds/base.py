"""What every object kind module provides: the ``KindSpec`` interface and its defaults.

Names: a ``Kind`` (``lxdplan.plan``) is a kind's id (``storage_pool``, as in step ids and plan
JSON); a ``KindSpec`` is everything lxdplan knows about that kind. A kind module
(``lxdplan/kinds/<kind>.py``) defines one ``KindSpec`` subclass instance named ``SPEC``; the
registry (``lxdplan.registry``) lists them and looks one up by id (``spec_of``, ``find_spec``).
The loader, observer, planner, executor, exporter, adopter and renderers loop over the registry
instead of naming kinds; a kind sees the planner only through ``lxdplan.kinds.context``. The
planner rules and everything else here are pure; the API calls that carry a step out live in
``lxdplan.providers.actions`` and read the kind's paths and bodies.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Iterable, Mapping, Protocol, Sequence, TypeVar, runtime_checkable

from lxdplan.actionspec import ActionSpec
from lxdplan.compare import desc, same_config, shown
from lxdplan.desired import Desired
from lxdplan.errors import fmt_path
from lxdplan.keys import OWNER_KEY, OWNER_VALUE
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, etag_reads, segment
from lxdplan.membership import REMOVE
from lxdplan.plan import Action, Kind, Payload, Step, Unmanaged
from lxdplan.state.observed import Observed

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext
    from lxdplan.references import Ref


P = TypeVar("P", bound=Payload)


@runtime_checkable
class Described(Protocol):
    """An update payload the default ``put_body`` sends: description and config."""

    description: str
    config: Mapping[str, Any]


class Stage(enum.Enum):
    """When a kind's creates and updates are planned, relative to membership (see
    ``lxdplan.planner``): before the joins (joiners bring the member-specific keys of pools and
    networks) or after the members' attribute updates (volumes wait for their member's join)."""

    BEFORE_JOINS = 1
    AFTER_MEMBERS = 2


@dataclass(frozen=True)
class Where:
    """Where one object lives in the API: its collection (for ``POST``), its path, the query
    (``project``, ``target``) and the member whose endpoint should be asked (None: any)."""

    collection: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    member: str | None = None


@dataclass(frozen=True)
class Request:
    """One change to send: method, path, query (``project``, ``target``) and JSON body."""

    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any]


class KindSpec(ABC):
    """One kind of LXD object: the core every kind implements. A kind's class sets the class
    attributes, implements the abstract methods (mypy and ``abc`` refuse a kind that misses one)
    and opts into the capabilities below (``Checked``, ``Referring``, ``SingleRequests``…) by
    subclassing them instead of ``KindSpec`` itself (each is a ``KindSpec``): callers test
    ``isinstance(spec, Capability)``, so a kind without one is simply left out of that part
    (no no-op defaults to override), and the capability's abstract methods become required.

    ``section`` is the file's key and the field of ``Desired`` and ``Observed`` holding the
    objects; ``rank`` orders kinds in the registry (creates/updates are planned in that order
    within their ``stage``), ``delete_rank`` orders the deletes of managed objects the file
    dropped, ``list_rank`` the list of unmanaged objects. Step ids and the references between
    objects do the real ordering (``lxdplan.planner.dependencies``); ranks only make the plan
    read the same way every time (``lxdplan.registry`` checks them unique).
    """

    kind: Kind
    section: str
    stage: Stage = Stage.BEFORE_JOINS
    rank: int = 0
    delete_rank: int = 0
    list_rank: int = 0
    # The module of ``lxdplan.providers.actions`` that carries out this kind's steps when they
    # fit neither the single- nor the two-phase shape (its ``HANDLERS``: action -> handler).
    actions: str | None = None
    payloads: Mapping[Action, type[Payload]] = {}
    keep: frozenset[str] = frozenset()  # names never deleted nor listed unmanaged ("default")
    # Config keys of its objects whose values are secrets (fnmatch patterns: ``peers.*.key``):
    # masked in every output, exported as references (``lxdplan.sensitive``, via the registry).
    secret_keys: frozenset[str] = frozenset()
    # The collections it lists and its objects' own fields, as the providers check answers.
    answer_shape: AnswerShape = AnswerShape()
    # Whether an update's ETag is read after planning, for the objects a step updates only
    # (``providers.etags``), instead of for every declared object while observing (``EtagReads``):
    # collection listings (``recursion=1``) carry no ETags, and a no-change plan needs none.
    etag_after_plan: bool = False
    # The kind's actions beyond the shared ones it has payloads for (``actionspec.SHARED``),
    # or a shared one shown or run differently (a lane of its own): verb, sign, summary count
    # and words, lane (``lxdplan.actionspec``). The registry joins them with the shared ones.
    action_specs: tuple[ActionSpec, ...] = ()

    # -- the file ----------------------------------------------------------------------------
    # Each kind loads and checks its own section (``lxdplan.validation.build`` walks the
    # registry in ``load_rank`` order; every diagnostic names its file and line). Membership
    # (``cluster:``) loads between the kinds of negative ``load_rank`` (what members name:
    # cluster groups) and the others, which may name members.
    load_rank: int = 0
    twice: str = ""  # what the "declared twice" message calls it ("" for the noun)

    @abstractmethod
    def load(self, checker: "Checker", items: Iterable[tuple[int, dict]],
             declared: Mapping[str, tuple]) -> tuple:
        """The declared objects of this kind's section, in file order. ``items`` are the
        schema-valid entries as (index, mapping); ``declared`` holds what loaded before, by
        section, and the members (``filecheck.MEMBERS``). The rules the schema cannot say are
        reported through ``checker``; uniqueness (``file_idents``) is checked after."""

    def file_idents(self, obj: Any) -> list[tuple]:
        """The identities the file may declare only once (the last item ``None``: not checked)."""
        return [self.ident(obj)]

    def known(self, declared: Mapping[str, tuple]) -> set[tuple]:
        """The identities a reference to this kind may name: the declared objects' and the
        built-in ones (``keep``, as ``(name,)``: for kinds known by their name alone)."""
        return {self.ref_ident(self.ident(obj)) for obj in declared.get(self.section, ())} | {
            (name,) for name in self.keep}

    # -- the file and the live state ---------------------------------------------------------

    def declared(self, desired: Desired) -> tuple:
        """The declared objects, in file order."""
        return desired.section(self.section)

    def live(self, observed: Observed) -> Mapping[str, Any]:
        """The observed objects, by key."""
        return observed.section(self.section)

    # -- identity ----------------------------------------------------------------------------
    # One identity per object, a tuple: what makes a declared and a live object the same one
    # (``ident``), the same for a step's object (``step_ident``); the rest derive from it: the
    # text a plan shows (``label``, ``display``), what a reference names (``ref_ident``), the
    # key of ``Observed``'s map (``live_key``) and of an ETag read (``("etag", ident)``).

    def ident(self, obj: Any) -> tuple:
        """The identity of a declared or observed object (default: its name)."""
        return (obj.name,)

    def step_ident(self, step: Step) -> tuple:
        """The identity of the object a step acts on, as ``ident`` gives it: a step carries no
        object, only its payload, member and label (default: the label, which is the name)."""
        return (step.name,)

    def label(self, ident: tuple) -> str:
        """The text a plan shows for an identity (``staging/web`` for a profile of project
        staging); also a step's ``name``. Default: the parts joined by ``/``."""
        return "/".join(ident)

    def display(self, obj: Any) -> str:
        """``label`` of the object's identity."""
        return self.label(self.ident(obj))

    def ref_ident(self, ident: tuple) -> tuple:
        """What a reference to the object names (``lxdplan.references``): the identity, unless
        a reference cannot know all of it (a volume's member and type)."""
        return ident

    def live_key(self, ident: tuple) -> str:
        """The key of ``Observed``'s map for an identity (default: the parts joined by ``/``);
        part of the observed state's JSON form, so kept stable."""
        return "/".join(ident)

    def live_of(self, observed: Observed, obj: Any) -> Any:
        """The live object that is the declared ``obj`` (None: not in the cluster)."""
        return self.live(observed).get(self.live_key(self.ident(obj)))

    # -- planning (pure) ---------------------------------------------------------------------

    @abstractmethod
    def plan(self, ctx: "PlanContext") -> list[str]:
        """Plan creates and updates of the declared objects; return the ids of the steps that
        make objects exist (joins wait for those of ``MemberSpecific`` kinds)."""

    def plan_deletes(self, ctx: "PlanContext") -> None:
        """Plan deletes of managed objects the file dropped; list the unmanaged ones. Default:
        ``plan_deletes`` below, shaped by the ``delete_*`` hooks and ``unmanaged_note``."""
        plan_deletes(ctx, self)

    def delete_waits(self, ctx: "PlanContext") -> list[str]:
        """Steps a delete of this kind waits for beyond its users (default: none)."""
        return []

    def delete_before(self, live: Any) -> dict[str, Any]:
        """What a delete step shows of the object (default: description and config)."""
        return {**desc(live.description), "config": shown(live.config)}

    def delete_block(self, ctx: "PlanContext", live: Any) -> str | None:
        """Why a delete must not run (the step is planned blocked), or None (default)."""
        return None

    def delete_payload(self, live: Any) -> Payload:
        """The payload of a delete step (default: the kind's ``Action.DELETE`` payload type)."""
        return self.payloads.get(Action.DELETE, Payload)()

    def unmanaged_note(self, live: Any) -> str:
        """The note beside an unmanaged object in the plan (default: how many use it)."""
        return used_by_note(live.used_by)

    # LXD lists users that use the object only through other users it lists (an instance through
    # its profiles: expanded devices); those are judged by the users they go through.
    users_through_others = True

    def user_blocks(self, live: Any, path: str, project: str) -> bool:
        """Whether a user LXD lists in the live object's ``used_by`` (its API path and project)
        stops the object's delete; False for users LXD removes with it. Default: every one."""
        return True

    # -- the API (read by lxdplan.providers) -------------------------------------------------

    @abstractmethod
    def where(self, step: Step) -> Where:
        """Where the object of ``step`` lives."""

    @abstractmethod
    def where_declared(self, obj: Any) -> Where:
        """Where a declared object lives (ETag reads, adoption)."""

    # -- export ------------------------------------------------------------------------------

    # False for a kind ``lxdplan export`` leaves out (its ``export`` then returns None); the
    # README's support table reads it.
    exports: bool = True

    @abstractmethod
    def export(self, live: Any) -> dict[str, Any] | None:
        """The file entry that declares ``live`` as it is (None: not exported)."""

    def export_section(self, observed: Observed) -> list[dict[str, Any]]:
        """The section's entries (default: ``export`` of each live object); a kind whose
        entries name other kinds' objects as the export declares them overrides it."""
        return [e for live in self.live(observed).values() if (e := self.export(live)) is not None]

    # -- reading it live ---------------------------------------------------------------------
    # The observer (``providers.observe``) sends, for every kind: its ``listings`` at once; the
    # ``early_reads`` of an ``EarlyReads`` kind once the members are known and its
    # ``early_needs`` answered, before the listings return; the ``reads`` of a ``DependentReads``
    # kind once its ``needs`` are answered. Keys are the kind's own (any hashable); needs name
    # ``(section, key)``, of any kind. The answers are recorded per kind (``livedata.Recorded``)
    # and ``assemble`` builds the observed objects: pure.

    @property
    @abstractmethod
    def observed_type(self) -> type:
        """The frozen dataclass of an observed object (``Observed``'s JSON form reads it)."""

    list_read: Get | None = None  # the collection listing (``Get.listing``), if one suffices

    def listings(self, reading: Reading) -> dict[Hashable, Get]:
        """The collection reads, sent at once (key ``"listing"`` for the main one)."""
        return {"listing": self.list_read} if self.list_read else {}

    @abstractmethod
    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, Any]:
        """The observed objects, by ``Observed`` key, from the recorded answers."""


# -- capabilities: what a kind opts into by subclassing -------------------------------------


class Checked(KindSpec):
    """A kind with file rules that need every kind loaded (references to declared objects)."""

    @abstractmethod
    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        """Report what is wrong through ``checker`` (``declared`` holds every section, ``specs``
        is the registry)."""


class Referring(KindSpec):
    """A kind whose objects name objects of other kinds (``lxdplan.references``): the planner
    orders steps by them and blocks deletes of what they use."""

    @abstractmethod
    def refs(self, obj: Any) -> list["Ref"]:
        """The references a declared or observed object makes."""

    def check_refs(self, checker: "Checker", declared: Mapping[str, tuple],
                   specs: Sequence[KindSpec], kinds: Iterable[Kind]) -> None:
        """Certain references (``refs``) of the declared objects to objects of ``kinds`` must
        name declared objects: LXD refuses an unknown name, or lxdplan would delete the object
        under its user. For a ``Checked`` kind's ``check``."""
        targets = {k.kind: k for k in specs if k.kind in kinds}
        known = {kind: target.known(declared) for kind, target in targets.items()}
        for i, obj in enumerate(declared.get(self.section, ())):
            for ref in self.refs(obj):
                if not ref.certain or ref.kind not in known or ref.ident in known[ref.kind]:
                    continue
                where = (self.section, i) + ref.at
                checker.error(where, f'{fmt_path(where)} names {ref.kind.noun} "{ref.name}", '
                                     f"which is not declared in {targets[ref.kind].section}",
                              key=True)


class NamedByOthers(KindSpec):
    """A kind whose module knows the keys by which objects of other kinds name its objects (a
    network ACL in a network's or a nic's ``security.acls``):
    ``lxdplan.planner.refwalk.refs_of`` adds them to that object's own ``refs``."""

    @abstractmethod
    def refs_into(self, kind: Kind, obj: Any) -> list["Ref"]:
        """The references an object of another ``kind`` makes to objects of this one."""


class SingleRequests(KindSpec):
    """A kind whose create is one ``POST`` and whose update is one ``PUT`` of the object read
    just before (``providers.actions.single``)."""

    @abstractmethod
    def create_body(self, step: Step) -> dict[str, Any]:
        """The ``POST`` body of a ``create`` step."""

    def put_body(self, step: Step, live: dict[str, Any]) -> dict[str, Any]:
        """The ``PUT`` body of an ``update`` step, given the object as just read (default: the
        payload's description and config)."""
        payload = step.payload
        assert isinstance(payload, Described), payload
        return {"description": payload.description, "config": payload.config}

    def holds(self, live: dict[str, Any], body: dict[str, Any]) -> bool:
        """Whether the object as just read already matches ``body`` (the update is skipped)."""
        return ((live.get("description") or "") == (body["description"] or "")
                and same_config(live.get("config"), body["config"]))


class MemberSpecific(KindSpec):
    """A kind with member-specific keys (pools, networks: ``TwoPhaseSpec``): a joining member
    brings its keys of the objects that exist already in the join's ``member_config``; the
    kind's new objects are planned after the joins and defined on the joiners too
    (``PlanContext.joined_first``), or, when joining first is not safe, the joins wait for the
    steps that create them (``plan``'s return) and carry the keys of all of them
    (``planner.members.choose_order``)."""

    @abstractmethod
    def join_member_config(self, desired: Desired, member: str) -> list[dict[str, str]]:
        """Entries of a join's ``member_config`` for ``member``."""


class OnMembers(KindSpec):
    """A kind whose objects live on one member (volumes, instances, per-member forwards): their
    steps run there, and a member that holds them cannot leave the cluster."""

    @abstractmethod
    def live_member(self, live: Any) -> str | None:
        """The member a live object lives on (None: not on one)."""

    def removal_block(self, ctx: "PlanContext", member: str) -> str | None:
        """Why removing ``member`` from the cluster must wait (objects of this kind that pin
        it), or None. Asked by the membership rules before any kind plans. Default: the
        objects on it that lxdplan will not delete; the managed ones it deletes first."""
        return removal_pins(ctx, self, member)


class StatusRows(KindSpec):
    """A kind with a section in ``lxdplan status``."""

    @abstractmethod
    def status(self, observed: Observed) -> tuple[str, list[list[str]]] | None:
        """The section's title and table rows (header first), or None."""


class EarlyReads(KindSpec):
    """A kind with reads that need not wait for the listings (see ``KindSpec``'s reading)."""

    early_needs: tuple[tuple[str, Hashable], ...] = ()

    @abstractmethod
    def early_reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        """The reads, once the members are known and ``early_needs`` answered."""


class EtagReads(EarlyReads):
    """A kind whose listings carry no ETags: at full detail each declared object is read for
    its ETag while observing (``livedata.etag_reads``)."""

    def early_reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        return etag_reads(self, reading)


class DependentReads(KindSpec):
    """A kind with reads decided by answers (per-project listings, per-member views)."""

    needs: tuple[tuple[str, Hashable], ...] = ()

    @abstractmethod
    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        """The reads, once ``needs`` are answered."""


class Requested(KindSpec):
    """A kind with one-off actions the command line asks for (``--restore``), never planned
    from the file alone: the planner asks for them after every other step is planned."""

    @abstractmethod
    def plan_requested(self, ctx: "PlanContext") -> None:
        """Add the steps ``ctx.desired`` asks for (its ``restore`` targets), each after the
        plan's own; a ``PlanError`` naming a request that cannot be honoured."""


class Adoptable(KindSpec):
    """A kind whose live objects ``lxdplan import`` marks as managed when the file declares them
    (``providers.adopt``): by ``adopt_request``, or, for a ``ListedOwner``, by listing their
    names in the server key."""

    def adopt_request(self, obj: Any, md: dict[str, Any]) -> Request:
        """The request that marks the declared object ``obj``, read as ``md`` from
        ``adopt_where(obj)`` (its path and query): the adopter sends it with the ETag of
        that read (``If-Match``). Default: a ``PUT`` of its writable fields as read with the
        mark added to its config (LXD 5.0 treats a project ``PATCH``'s config as the whole
        config); a kind with more writable fields sends them back (network ACLs: their rules),
        one whose ``PUT`` would drop fields it does not send ``PATCH``es the mark alone."""
        where = self.where_declared(obj)
        body = {"description": md.get("description", ""),
                "config": {**(md.get("config") or {}), OWNER_KEY: OWNER_VALUE}}
        if "devices" in md:
            body["devices"] = md["devices"]
        return Request("PUT", where.path, dict(where.params), body)

    def adopt_where(self, obj: Any) -> Where:
        """Where the object carrying ``obj``'s mark is read and sent ``adopt_request``: the
        object itself (``where_declared``), unless its mark is another object's (snapshots:
        their parent's)."""
        return self.where_declared(obj)

    def adopt_target(self, obj: Any, observed: Observed) -> Any:
        """The live object a declared one adopts (None: nothing to adopt)."""
        if obj.name in self.keep:
            return None
        return self.live_of(observed, obj)

    def adopt_label(self, obj: Any) -> str:
        """The object in ``import``'s report and errors."""
        return f"{self.kind.noun} {self.display(obj)}"


class ListedOwner(Adoptable):
    """A kind whose objects have no config to carry the ownership mark (cluster groups,
    images): lxdplan lists the names it manages in a server key instead."""

    owner_key: str  # the server key listing managed objects


def member_of(spec: KindSpec, live: Any) -> str | None:
    """The member ``live`` lives on, for a kind ``OnMembers``; else None."""
    return spec.live_member(live) if isinstance(spec, OnMembers) else None


def in_project(collection: str, name: str, project: str) -> Where:
    """Where object ``name`` of a project-scoped collection lives (``profiles``, ``instances``):
    ``?project=`` only outside the default project."""
    return Where(f"/1.0/{collection}", api_path(collection, name),
                 {"project": project} if project != "default" else {})


def api_path(*segments: str) -> str:
    """``api_path("storage-pools", name)`` -> ``/1.0/storage-pools/<quoted name>``."""
    return "/1.0/" + "/".join(segment(s) for s in segments)


def payload_of(step: Step, cls: type[P]) -> P:
    """``step.payload``, checked to be the planned type (a saved plan reads back typed)."""
    if not isinstance(step.payload, cls):
        raise TypeError(f"step {step.id} carries {type(step.payload).__name__}, not {cls.__name__}")
    return step.payload


def patch_mark(where: Where) -> Request:
    """A ``PATCH`` of the ownership mark alone at ``where`` (the object's other fields kept)."""
    return Request("PATCH", where.path, dict(where.params), {"config": {OWNER_KEY: OWNER_VALUE}})


# -- planner pieces every kind uses (``lxdplan.kinds.common`` re-exports them) ------------

def used_by_note(used_by: tuple) -> str:
    n = len(used_by)
    return f"used by {n} object{'s' if n != 1 else ''}" if n else ""


def plan_deletes(ctx: "PlanContext", spec: "KindSpec") -> None:
    """Delete the managed objects of ``spec``'s kind that the file no longer declares; list the
    unmanaged ones. (Their users go first: ``lxdplan.planner.dependencies``.)"""
    declared = {spec.ident(o) for o in spec.declared(ctx.desired)}
    for live in spec.live(ctx.observed).values():
        if spec.ident(live) in declared or live.name in spec.keep:
            continue
        name, member = spec.display(live), member_of(spec, live)
        if member in ctx.forced_out:
            continue  # forgotten with its member (the force removal's reason names it)
        if not live.managed_by_lxdplan:
            ctx.unmanaged.append(Unmanaged(spec.kind, name, spec.unmanaged_note(live)))
            continue
        sid = ctx.steps.add(
            Action.DELETE, spec.kind, name, member=member,
            depends_on=spec.delete_waits(ctx), before=spec.delete_before(live),
            reason=f"lxdplan manages {spec.kind.noun} {name} and the file no longer declares it",
            blocked=spec.delete_block(ctx, live), etag=live.etag,
            payload=spec.delete_payload(live),
        )
        leave_after(ctx, sid, member)


def leave_after(ctx: "PlanContext", sid: str, member: str | None) -> None:
    """Make a graceful removal of ``member`` planned in this run wait for step ``sid`` (the
    delete of something that lives on it: LXD refuses to remove a member that still holds
    instances or custom volumes)."""
    for removal in ctx.steps.all():
        if (removal.kind, removal.action, removal.name) == (Kind.MEMBER, REMOVE, member):
            ctx.steps.add_dependency(removal.id, sid)


def removal_pins(ctx: "PlanContext", spec: "KindSpec", member: str) -> str | None:
    """Why ``member`` cannot leave because of ``spec``'s objects on it that lxdplan will not
    delete (not managed, so never deleted; a declared one cannot be on a member the file
    drops), or None. LXD refuses to remove a member that still holds them."""
    declared = {spec.ident(o) for o in spec.declared(ctx.desired)}
    pins = sorted(spec.display(live) for live in spec.live(ctx.observed).values()
                  if member_of(spec, live) == member and not live.managed_by_lxdplan
                  and spec.ident(live) not in declared)
    if not pins:
        return None
    noun = spec.kind.noun + ("s" if len(pins) > 1 else "")
    it = "it" if len(pins) == 1 else "them"
    return (f"{member} still holds {noun} {and_list(pins)} (not managed by lxdplan), and LXD "
            f"does not remove a member that holds {it}: delete or move {it} yourself")


def and_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
