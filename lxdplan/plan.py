"""The plan: plain data produced by the planner and read by renderers and the executor.

A ``Plan`` is an ordered tuple of ``Step``s (dependency order: every step's ``depends_on`` names
earlier steps). ``before``/``after`` hold only the fields that matter for the change; values may be
``Secret`` objects, which renderers print as ``(sensitive)`` and saved plans store by reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

FORMAT_VERSION = "1.0"


class Action(str):
    """A step's action as written in step ids and plan JSON (``create``, ``move``).

    An open set, as ``Kind`` is: the actions every object kind shares are defined here; the
    others where they are planned (membership's in ``lxdplan.membership``, an instance's start,
    stop and move in its kind's module). What the outputs say about one (its sign, verb,
    summary words, lane) is its ``lxdplan.actionspec.ActionSpec``, found through the registry;
    a step of an action its kind does not declare is refused when planned.
    """

    CREATE: ClassVar["Action"]
    UPDATE: ClassVar["Action"]
    DELETE: ClassVar["Action"]
    DEFINE: ClassVar["Action"]
    INSTANTIATE: ClassVar["Action"]

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Action({self.value!r})"


Action.CREATE = Action("create")
Action.UPDATE = Action("update")
Action.DELETE = Action("delete")
Action.DEFINE = Action("define")  # per-member pending definition of a pool or network
Action.INSTANTIATE = Action("instantiate")  # its cluster-wide create after the defines


class Kind(str):
    """An object kind's id, as written in step ids and plan JSON (``storage_pool``).

    An open set: the membership kinds are defined here, every object kind by its module in
    ``lxdplan.kinds`` (``Kind.define``), so a new kind touches no shared table. Compare kinds
    with ``==``; ``Kind(text)`` of an id never defined is refused where a kind is read back.
    """

    _nouns: ClassVar[dict[str, str]] = {}

    SERVER: ClassVar["Kind"]
    MEMBER: ClassVar["Kind"]
    CLUSTER_GROUP: ClassVar["Kind"]
    STORAGE_POOL: ClassVar["Kind"]
    NETWORK: ClassVar["Kind"]
    PROJECT: ClassVar["Kind"]
    PROFILE: ClassVar["Kind"]
    STORAGE_VOLUME: ClassVar["Kind"]
    IMAGE: ClassVar["Kind"]
    INSTANCE: ClassVar["Kind"]

    @classmethod
    def define(cls, value: str, noun: str | None = None) -> "Kind":
        """Register a kind and its noun (``storage pool``: the kind in a sentence), once."""
        if value in cls._nouns:
            raise ValueError(f"the kind {value!r} is defined twice")
        cls._nouns[value] = noun or value.replace("_", " ")
        return cls(value)

    @classmethod
    def known(cls, value: str) -> "Kind":
        """The kind named ``value``; ValueError when no module defined it."""
        if value not in cls._nouns:
            raise ValueError(f"{value!r} is not a kind lxdplan knows")
        return cls(value)

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def noun(self) -> str:
        """``storage pool``, ``cluster group``…: the kind in a sentence."""
        return self._nouns.get(self.value, self.value.replace("_", " "))

    def __repr__(self) -> str:
        return f"Kind({self.value!r})"


Kind.SERVER = Kind.define("server")  # cluster-wide server config
Kind.MEMBER = Kind.define("member")
# The object kinds the layers below the kinds name (``lxdplan.references``, membership steps),
# defined here, once: each one's module in ``lxdplan.kinds`` takes its constant. A kind no lower
# layer names is defined by its module alone (network ACLs).
Kind.CLUSTER_GROUP = Kind.define("cluster_group")
Kind.STORAGE_POOL = Kind.define("storage_pool")
Kind.NETWORK = Kind.define("network")
Kind.PROJECT = Kind.define("project")
Kind.PROFILE = Kind.define("profile")
Kind.STORAGE_VOLUME = Kind.define("storage_volume")
Kind.IMAGE = Kind.define("image")
Kind.INSTANCE = Kind.define("instance")


@dataclass(frozen=True)
class Payload:
    """What the executor needs of a step beyond what is displayed: a frozen dataclass per action
    and kind (or shape), defined next to the rule that plans it. Values may be ``Secret``; maps
    and lists are plain ``dict``/``list`` so a saved plan reads back equal."""

    def as_dict(self) -> dict[str, Any]:
        """The fields, shallow (``Secret`` values stay objects)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Step:
    """One change. ``id`` is unique in the plan and stable for the same inputs.

    ``blocked`` is None when the step can run now, else the one-sentence reason it cannot.
    ``etag`` is the ETag read at plan time, sent as ``If-Match`` by the executor where LXD gives one.
    ``payload`` carries what the executor needs that is not for display (e.g. member_config).
    ``notes`` says more about one changed attribute, by its label in the plan
    (``config["security.secureboot"]``: ``"applied at next start"``).
    """

    id: str
    action: Action
    kind: Kind
    name: str
    member: str | None = None
    depends_on: tuple[str, ...] = ()
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""
    blocked: str | None = None
    etag: str | None = None
    payload: Payload = field(default_factory=Payload)
    notes: dict[str, str] | None = None


@dataclass(frozen=True)
class Unmanaged:
    """A live object lxdplan does not manage and leaves alone, listed for the user."""

    kind: Kind
    name: str
    note: str = ""


@dataclass(frozen=True)
class Plan:
    backend: str
    server_version: str
    steps: tuple[Step, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    diagnostics: tuple[str, ...] = ()  # warnings, one sentence each
    observed_digest: str = ""

    @property
    def changes(self) -> bool:
        return bool(self.steps)


def step_id(kind: Kind, name: str, action: Action, member: str | None = None) -> str:
    """``<kind>/<name>/<action>[/<member>]``, e.g. ``storage_pool/data/define/node2``; member
    steps carry no suffix (``member/node2/join``)."""
    base = f"{kind.value}/{name}/{action.value}"
    return f"{base}/{member}" if member else base
