"""Instances (the seed's "Containers"): placed on a member, a cluster group, or where LXD likes.

Actions: ``create`` (started when it should run), ``update`` (config, devices, profiles and
description, PUT whole), ``start``, ``stop``, ``move`` (stop, migrate with ``?target=``, start
again when it should run) and ``delete`` (stopped first). ``image``, ``type`` and ``project``
are fixed at creation: a change is a plan error saying how to replace the instance.
``volatile.*`` and ``image.*`` are LXD's own and never compared.

lxdplan records what it knows in the instance's config: ``user.lxdplan.managed`` (ownership)
and ``user.lxdplan.image`` (the file's ``image`` at creation, so a changed ``image:`` is seen).

Where an instance lives, and when it moves, is ``lxdplan.kinds.placement``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping

from lxdplan import keys, references
from lxdplan.actionspec import CREATE, DELETE, ActionSpec, Lane
from lxdplan.compare import comparable, desc, diff_config, diff_devices, put_config, shown
from lxdplan.errors import PlanError
from lxdplan.filecheck import MEMBERS
from lxdplan.filecheck import names as names_of
from lxdplan.kinds import placement
from lxdplan.kinds.base import (
    Adoptable,
    EtagReads,
    OnMembers,
    Referring,
    Request,
    SingleRequests,
    Stage,
    StatusRows,
    Where,
    in_project,
    patch_mark,
    payload_of,
)
from lxdplan.kinds.common import DEFAULT, at, export_config, owned, put_if, scoped
from lxdplan.kinds.placement import MOVE
from lxdplan.kinds.snapshot import Snapshot, load_list
from lxdplan.kinds.snapshot import exported as snapshot_entries
from lxdplan.knownkeys import suggest
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, clean_config, marked, with_etag
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.references import Ref

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

START = Action("start")
STOP = Action("stop")
IMAGE_KEY = "user.lxdplan.image"
NO_IMAGE = "none"  # ``image: none``: created with no source (``lxc init --empty``, a VM for an ISO)


@dataclass(frozen=True)
class Instance:
    name: str
    image: str | None = None  # used at creation only
    project: str = DEFAULT
    type: str = "container"  # container | virtual-machine
    member: str | None = None  # placement: a member, or a cluster group, or neither
    group: str | None = None
    profiles: tuple[str, ...] = (DEFAULT,)
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    state: str = "running"  # running | stopped
    description: str = ""
    line: int = 0
    snapshots: tuple[Snapshot, ...] = ()  # declared snapshots (``kinds.snapshot``)


@dataclass(frozen=True)
class Write(Payload):
    """A create (``POST /1.0/instances`` with ``?target=`` ``target``: a member, ``@group`` or
    "" for LXD's choice; then started when ``start``) or an update (the declared parts to PUT;
    the action keeps what LXD wrote itself)."""

    name: str
    project: str = DEFAULT
    type: str = "container"
    image: str = ""
    target: str = ""
    profiles: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    start: bool = False
    fresh_etag: bool = False  # an update after a move in the same run: the plan's ETag is old
    restart: bool = False  # an update a running instance refuses: stopped, updated, started again


@dataclass(frozen=True)
class Change(Payload):
    """start / stop / delete (stopped first); a move to ``target`` (a member or ``@group``),
    started again when ``start``."""

    name: str
    project: str = DEFAULT
    target: str = ""
    start: bool = False


_TYPE_WORDS = {"virtual-machine": "virtual machine"}


def _label(key: str) -> str:
    """The plan's label of a config key, or of a device's ``devices.NAME.size`` (the whole
    device is one line)."""
    if key.startswith("devices.") and key.endswith(".size"):
        return f'devices["{key[len("devices."):-len(".size")]}"]'
    return f'config["{key}"]'


def _devices(devices: dict) -> dict[str, dict]:
    return {k: dict(v) for k, v in devices.items()}


class InstanceSpec(Referring, OnMembers, SingleRequests, Adoptable, StatusRows, EtagReads):
    kind = Kind.INSTANCE
    section = "instances"
    answer_shape = AnswerShape({"instances": "name"})
    stage = Stage.AFTER_MEMBERS
    rank, delete_rank, list_rank = 80, 5, 80
    actions = "instances"
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, START: Change, STOP: Change,
                MOVE: Change, Action.DELETE: Change}
    # Launches, starts, stops and deletes run in their member's lane (LXD serves them
    # independently; ``executor.PER_MEMBER``); a start and a move send the declared config.
    action_specs = (
        replace(CREATE, lane=Lane.MEMBER),
        ActionSpec(START, "starting", "start a stopped instance", count="start",
                   words="to start", lane=Lane.MEMBER, writes=True),
        ActionSpec(STOP, "stopping", "stop a running instance", count="stop", words="to stop",
                   lane=Lane.MEMBER),
        ActionSpec(MOVE, "moving", "move an instance to another member (stopped, migrated, "
                   "started again)", count="move", words="to move", toward="to", writes=True),
        replace(DELETE, lane=Lane.MEMBER),
    )
    load_rank = 70
    twice = "instance (per project)"

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        names: dict[str, Any] = {
            "members": names_of(declared, MEMBERS),
            "groups": names_of(declared, "cluster_groups", DEFAULT),
            "projects": names_of(declared, "projects", DEFAULT),
            "profiles": {(p.project, p.name) for p in declared.get("profiles", ())},
            "images": {(img.project, n) for img in declared.get("images", ())
                       for n in (img.name, *img.aliases)},
            # a project without its own images (features.images: false) uses default's
            "image_projects": {p.name: DEFAULT for p in declared.get("projects", ())
                               if str(p.config.get("features.images", "")).lower() == "false"},
            "pools": names_of(declared, "storage_pools"),
            "networks": names_of(declared, "networks"),
            "network_scope": references.network_scope(declared),
        }
        return tuple(_load(checker, items, names))

    def ident(self, obj) -> tuple[str, ...]:
        return (obj.project, obj.name)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        return (_payload(step).project, _payload(step).name)

    def label(self, ident: tuple) -> str:
        return scoped(*ident)  # the project shown when not default

    def live_member(self, live) -> str | None:
        return live.location or None

    def refs(self, obj) -> list[Ref]:
        refs = references.profile_refs(obj.project, obj.devices)
        refs += [Ref(Kind.PROFILE, (obj.project, p), ("profiles", i))
                 for i, p in enumerate(obj.profiles)]
        image = obj.image if isinstance(obj, Instance) else obj.config.get(IMAGE_KEY)
        if image and image != NO_IMAGE:
            refs.append(Ref(Kind.IMAGE, (obj.project, image), ("image",), False))
        group = getattr(obj, "group", None)
        if group:
            refs.append(Ref(Kind.CLUSTER_GROUP, (group,), ("group",)))
        return refs

    def removal_block(self, ctx: "PlanContext", member: str) -> str | None:
        return placement.removal_block(self, ctx, member)

    # -- planning ----------------------------------------------------------------------------

    def plan(self, ctx: "PlanContext") -> list[str]:
        lives = self.live(ctx.observed)
        for inst in self.declared(ctx.desired):
            live = lives.get(self.live_key(self.ident(inst)))
            if live is None:
                self._check_project(ctx, inst)
                self._create(ctx, inst)
            else:
                self._converge(ctx, inst, live)
        return []

    def _check_project(self, ctx: "PlanContext", inst) -> None:
        declared = {self.ident(i) for i in self.declared(ctx.desired)}
        for other in self.live(ctx.observed).values():
            if (other.name == inst.name and other.managed_by_lxdplan
                    and self.ident(other) not in declared):
                raise PlanError(
                    f"{at(ctx, inst)}instance {inst.name} is in project {other.project} and the "
                    f"file says {inst.project}; LXD cannot move an instance between projects in "
                    f"place: to replace it, delete it first (drop it from the file and apply), "
                    f"then declare it in {inst.project}"
                )

    def _create(self, ctx: "PlanContext", inst, after: tuple[str, ...] = (), reason: str = "") -> None:
        name = self.display(inst)
        blocked, waits = None, list(after)
        if inst.member:
            blocked = ctx.member_block(inst.member) if inst.member in ctx.observed.members else None
            away, waits = placement.away(ctx, inst.member)
            if away and not blocked:
                blocked = f"{inst.member} is {away}: restore it (state: online) to place {name} there"
        target = inst.member or (f"@{inst.group}" if inst.group else "")
        if inst.group:
            waits += placement.group_updates(ctx, inst.group)
        config = {**owned(inst.config), IMAGE_KEY: inst.image}
        ctx.steps.add(
            Action.CREATE, self.kind, name, member=inst.member,
            depends_on=ctx.after_bootstrap() + ctx.joined(inst.member) + waits,
            after={"type": inst.type, "image": inst.image,
                   **({"member": inst.member} if inst.member else {}),
                   **({"group": inst.group} if inst.group else {}),
                   "profiles": list(inst.profiles), "config": dict(inst.config),
                   "devices": _devices(inst.devices), "state": inst.state,
                   **desc(inst.description)},
            reason=reason or f"instance {name} is in the file but not in the cluster",
            blocked=blocked,
            payload=Write(inst.name, inst.project, inst.type, inst.image, target,
                          list(inst.profiles), config, _devices(inst.devices), inst.description,
                          start=inst.state == "running"),
        )

    def _converge(self, ctx: "PlanContext", inst, live) -> None:
        name, where = self.display(inst), live.location
        if live.type != inst.type:
            raise PlanError(
                f"{at(ctx, inst)}instance {name} is a {live.type} and the file says {inst.type}; "
                f"LXD cannot change an instance's type: to replace it, drop {name} from the file "
                f"and apply (it is deleted), then declare it again as a {inst.type}"
            )
        recorded = live.config.get(IMAGE_KEY)
        if recorded and inst.image and recorded != inst.image:
            raise PlanError(
                f"{at(ctx, inst)}instance {name} was created from image {recorded} and the file "
                f"says {inst.image}; an instance's image is used at creation only: write image: "
                f"{recorded} to keep it, or replace it: drop {name} from the file and apply (it "
                f"is deleted), then declare it again with image {inst.image}"
            )
        if where in ctx.forced_out:  # the cluster forgets it with its member: made again
            self._create(ctx, inst, after=(ctx.forced_out[where],), reason=(
                f"instance {name} is on {where}, which is removed with force: the cluster "
                "forgets it there, so it is created again"))
            return
        away, waits = placement.away(ctx, where) if where else (None, [])
        if away:
            ctx.diagnostics.append(f"instance {name} is on {where}, which is {away}: it is left "
                                   f"as it is until {where} is back (state: online restores it)")
            return
        deps = ctx.after_bootstrap() + waits
        move = placement.plan_move(self, ctx, inst, where, deps)
        running = live.status in ("Running", "Frozen")
        later, refused = self._while_running(ctx, inst, live) if running and not move else ([], [])
        action = None
        if inst.state == "running" and not running:
            action = START
        elif inst.state == "stopped" and running:
            action = STOP
        update = self._update(ctx, inst, live, deps, move, later=later, restart=refused)
        if move:
            return  # the move stops it and starts it again when it should run
        if action:
            self._state_step(ctx, inst, live, action, deps + ([update] if update else []))

    def _state_step(self, ctx: "PlanContext", inst, live, action: Action, deps: list[str]) -> str:
        name = self.display(inst)
        return ctx.steps.add(
            action, self.kind, name, member=live.location,
            depends_on=deps,
            before={"state": live.status}, after={"state": inst.state},
            reason=f"instance {name} is {live.status.lower()} and the file wants it {inst.state}",
            blocked=ctx.member_block(live.location),
            payload=Change(inst.name, inst.project),
        )

    def _while_running(self, ctx: "PlanContext", inst, live) -> tuple[list[str], list[str]]:
        """The changed config keys of a running instance its server applies only at its next
        start and those it refuses while it runs (``lxdplan.keys.while_running``)."""
        backend = ctx.desired.backend or ctx.observed.backend or "lxd"
        hugepages = str(inst.config.get("limits.memory.hugepages", "")).lower() == "true"
        later: list[str] = []
        refused: list[str] = []
        for dev, new in inst.devices.items():
            old = live.devices.get(dev) or {}
            if (new.get("type") == "disk" and new.get("path") == "/" and old
                    and old.get("size") != new.get("size")
                    and keys.root_size_while_running(inst.type) == keys.NEXT_START):
                later.append(f"devices.{dev}.size")
        for k, (old, new) in diff_config(live.config, inst.config).items():
            how = keys.while_running(backend, inst.type, k, None if old is None else str(old),
                                     None if new is None else str(new), hugepages=hugepages)
            if how == keys.NEXT_START:
                later.append(k)
            elif how == keys.REFUSED:
                refused.append(k)
        return later, refused

    def _update(self, ctx: "PlanContext", inst, live, deps: list[str], move: str | None, *,
                later: list[str] | tuple[str, ...] = (),
                restart: list[str] | tuple[str, ...] = ()) -> str | None:
        """The update of config, description, profiles and devices (after the move, if any,
        which leaves it on another member); its id, or None when they match. ``later``: the
        config keys its running server applies at its next start; ``restart``: those it refuses
        while running, so the update stops the instance and starts it again (when the file
        wants it running). Both are marked on their lines and named in the reason."""
        name, where = self.display(inst), live.location
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for k, (old, new) in diff_config(live.config, inst.config).items():
            if old is not None:
                before.setdefault("config", {})[k] = old
            if new is not None:
                after.setdefault("config", {})[k] = new
        if live.description != inst.description:
            before["description"], after["description"] = live.description, inst.description
        if tuple(live.profiles) != tuple(inst.profiles):
            before["profiles"], after["profiles"] = list(live.profiles), list(inst.profiles)
        dev_before, dev_after = diff_devices(live.devices, inst.devices)
        if dev_before:
            before["devices"] = dev_before
        if dev_after:
            after["devices"] = dev_after
        if not (before or after):
            return None
        reason = f"instance {name} differs from the file"
        notes: dict[str, str] = {}
        if restart:
            server = "Incus" if (ctx.desired.backend or ctx.observed.backend) == "incus" else "LXD"
            listed = ", ".join(restart)
            again = " and starts it again" if inst.state == "running" else ""
            reason += (f"; {server} refuses {listed} while a {_TYPE_WORDS.get(inst.type, inst.type)} "
                       f"runs, so the update stops it{again}")
            what = "restarts the instance" if again else "stops the instance first"
            notes = {f'config["{k}"]': what for k in restart}
        elif later:
            verb = "takes" if len(later) == 1 else "take"
            reason += f"; {', '.join(later)} {verb} effect when it next starts"
            notes = {_label(k): ("size " if k.startswith("devices.") else "")
                     + "applied at next start" for k in later}
        return ctx.steps.add(
            Action.UPDATE, self.kind, name, member=None if move else where,
            depends_on=deps + ([move] if move else []),
            before=before, after=after, reason=reason,
            blocked=ctx.member_block(where), etag=live.etag,
            payload=Write(inst.name, inst.project, inst.type, inst.image, "",
                          list(inst.profiles), put_config(live.config, inst.config),
                          _devices(inst.devices), inst.description, fresh_etag=bool(move),
                          start=bool(restart) and inst.state == "running", restart=bool(restart)),
            notes=notes,
        )


    def delete_before(self, live) -> dict[str, Any]:
        return {"member": live.location, "state": live.status, **desc(live.description),
                "config": shown(live.config)}

    def delete_block(self, ctx: "PlanContext", live) -> str | None:
        return ctx.member_block(live.location) if live.location else None

    def delete_payload(self, live) -> Change:
        return Change(live.name, live.project)

    def unmanaged_note(self, live) -> str:
        return f"on {live.location}, {live.status.lower()}" if live.location else live.status.lower()

    # -- the API -----------------------------------------------------------------------------

    def where(self, step: Step) -> Where:
        return in_project("instances", _payload(step).name, _payload(step).project)

    def where_declared(self, obj) -> Where:
        return in_project("instances", obj.name, obj.project)

    def adopt_request(self, obj, md: dict[str, Any]) -> Request:
        """The mark alone, in the instance's project: a PUT without its profiles would drop them."""
        return patch_mark(self.where_declared(obj))

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        return {"name": p.name, "type": p.type, "description": p.description,
                "profiles": list(p.profiles), "config": dict(p.config),
                "devices": p.devices, "source": image_source(p.image)}

    def put_body(self, step: Step, live: dict[str, Any]) -> dict[str, Any]:
        """The declared parts, with what LXD wrote itself (``volatile.*``, ``image.*``) and the
        rest of the instance (architecture, ephemeral, stateful) as just read."""
        p = payload_of(step, Write)
        own = {k: v for k, v in (live.get("config") or {}).items()
               if k.startswith(("volatile.", "image."))}
        return {"architecture": live.get("architecture", ""), "ephemeral": live.get("ephemeral", False),
                "stateful": live.get("stateful", False), "description": p.description,
                "profiles": list(p.profiles), "config": {**own, **p.config}, "devices": p.devices}

    def holds(self, live: dict[str, Any], body: dict[str, Any]) -> bool:
        def mine(config: Mapping[str, Any] | None) -> dict[str, Any]:
            return {k: v for k, v in comparable(config).items() if not k.startswith("image.")}

        devices = {d: comparable(v) for d, v in (live.get("devices") or {}).items()}
        return ((live.get("description") or "") == (body["description"] or "")
                and list(live.get("profiles") or []) == body["profiles"]
                and mine(live.get("config")) == mine(body["config"])
                and devices == {d: comparable(v) for d, v in body["devices"].items()})

    def export_section(self, observed) -> list[dict[str, Any]]:
        """Each instance names its image as the export declares it (the name of the image with
        its ``volatile.base_image`` fingerprint in the project it draws images from)."""
        named = {(img.project, img.fingerprint): img.name
                 for img in observed.section("images").values() if img.aliases}
        out = []
        for live in self.live(observed).values():
            entry = self.export(live, named)
            put_if(entry, "snapshots", snapshot_entries(observed, live.project, live.name))
            out.append(entry)
        return out

    def export(self, live, images: Mapping[tuple[str, str], str] | None = None) -> dict[str, Any]:
        """``images``: exported image names by (project, fingerprint). An instance lxdplan did
        not create names its image by that name, else by fingerprint; one created with no
        image (``lxc init --empty``) has ``image: none``."""
        entry: dict[str, Any] = {"name": live.name}
        if live.project != DEFAULT:
            entry["project"] = live.project
        if live.type != "container":
            entry["type"] = live.type
        images = images or {}
        fp = live.base_image
        entry["image"] = (live.config.get(IMAGE_KEY) or images.get((live.project, fp))
                          or images.get((DEFAULT, fp)) or fp or NO_IMAGE)
        if live.location:
            entry["member"] = live.location
        entry["profiles"] = list(live.profiles)
        put_if(entry, "config", export_config({k: v for k, v in live.config.items()
                                               if k != IMAGE_KEY}))
        put_if(entry, "devices", {d: dict(sorted(c.items()))
                                  for d, c in sorted(live.devices.items())})
        if live.status not in ("Running", "Frozen"):
            entry["state"] = "stopped"
        put_if(entry, "description", live.description)
        return entry

    def status(self, observed) -> tuple[str, list[list[str]]] | None:
        if not observed.section("instances"):
            return None
        rows = [["NAME", "TYPE", "MEMBER", "STATE", "PROJECT", "MANAGED"]]
        for inst in sorted(observed.section("instances").values(), key=lambda i: (i.project, i.name)):
            rows.append([inst.name, inst.type, inst.location or "-", inst.status, inst.project,
                         "lxdplan" if inst.managed_by_lxdplan else "-"])
        return "Instances", rows

    # -- reading it live ---------------------------------------------------------------------

    list_read = Get.listing("/1.0/instances", {"all-projects": "true"})

    @property
    def observed_type(self) -> type:
        return ObservedInstance

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedInstance"]:
        out = {}
        for item in recorded.metadata(self.section, "listing", []):
            inst = parse_instance(item)
            out[self.live_key(self.ident(inst))] = with_etag(
                inst, recorded.etag(self.section, ("etag", self.ident(inst))))
        return out


def image_source(image: str) -> dict[str, str]:
    """The ``source`` of a create: none for ``image: none``, else the image by its alias (the
    action resolves fingerprints and remotes)."""
    return {"type": "none"} if image == NO_IMAGE else {"type": "image", "alias": image}


# -- the file's part -------------------------------------------------------------------------

def _load(c: "Checker", items, names: dict[str, Any]) -> list[Instance]:
    """Instances from the file (schema-valid items), their references checked against
    ``names``: members, cluster_groups, projects, profiles ((project, name)), images
    ((project, name)), storage_pools, networks."""
    out = []
    for i, raw in items:
        path, name = ("instances", i), raw.get("name")
        label = f'instances[{i}] ("{name}")'
        if isinstance(name, str) and name[:1].isdigit() and _data(c).get("backend") != "incus":
            c.warning(path + ("name",), f"{label}: LXD 5.0 refuses instance names that start "
                                        f"with a digit (newer LXD and Incus accept them)")
        project = raw.get("project", DEFAULT)
        member, group = raw.get("member"), raw.get("group")
        if member is not None and group is not None:
            c.error(path + ("group",), f"{label} takes member or group, not both")
        if member is not None and member not in names["members"]:
            c.error(path + ("member",), f'{label} is placed on member "{member}", which is not in '
                                        f'cluster.members{suggest(member, names["members"])}')
        if group is not None and group not in names["groups"]:
            c.error(path + ("group",), f'{label} is placed on group "{group}", which is not '
                                       "declared in cluster_groups")
        if project not in names["projects"]:
            c.error(path + ("project",), f'{label} is in project "{project}", which is not '
                                         "declared in projects")
        profiles = tuple(raw.get("profiles", ["default"]) or ())
        for j, p in enumerate(profiles):
            if p != "default" and (project, p) not in names["profiles"]:
                c.error(path + ("profiles", j), f'{label} uses profile "{p}", which is not '
                                                f"declared in profiles (project {project})")
        image = raw.get("image")
        if image and ":" in image and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*:.+", image):
            c.error(path + ("image",), f'{label} uses image "{image}": a remote image is '
                                       "REMOTE:ALIAS, a remote of the lxc/incus client configuration")
        image_project = names["image_projects"].get(project, project)
        if (image and image != NO_IMAGE and (image_project, image) not in names["images"]
                and ":" not in image):
            c.warning(path + ("image",), f'{label} uses image "{image}", which is not declared in '
                                         "images: it must exist in the cluster when the instance "
                                         "is created")
        devices: dict[str, dict[str, str]] = {}
        for dev_name, dev in (raw.get("devices") or {}).items():
            dp = path + ("devices", dev_name)
            c.device_name(dp)
            values = c.plain_config(dev, dp)
            devices[dev_name] = values
            if "type" not in values:
                c.error(dp, f"{label} device {dev_name} has no type (disk, nic, ...)")
            if "pool" in values and values["pool"] not in names["pools"]:
                c.error(dp + ("pool",), f'{label} device {dev_name} uses storage pool '
                                        f'"{values["pool"]}", which is not declared in storage_pools')
            idents, own = names["network_scope"]
            if "network" in values and (net := references.nic_network(
                    project, values["network"], own)) not in idents:
                c.error(dp + ("network",), f'{label} device {dev_name} uses network '
                                           f'"{values["network"]}", which is not declared in '
                                           f"networks{references.network_scope_note(net)}")
        config = c.object_config(raw.get("config"), path + ("config",))
        for k in config:
            if k.startswith("image."):
                c.error(path + ("config", k), f'"{k}" in {label} is a key LXD sets itself from the '
                                              "image (image.*); remove it", key=True)
        out.append(Instance(name, image, project, raw.get("type", "container"), member, group,
                            profiles, config, devices, raw.get("state", "running"),
                            raw.get("description", ""), c.src.line(path) or 0,
                            load_list(c, raw.get("snapshots"), path, parent=name or "",
                                      project=project)))
    return out


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedInstance:
    """An instance; ``config`` without ``volatile.*`` and ``image.*`` (LXD's own), ``devices``
    its own (not the profiles'), ``base_image`` from ``volatile.base_image``."""

    name: str
    project: str = "default"
    type: str = "container"
    location: str = ""  # the member it is on
    status: str = "Stopped"  # Running | Stopped | Frozen | Error
    profiles: tuple[str, ...] = ()
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    description: str = ""
    base_image: str = ""
    managed_by_lxdplan: bool = False
    etag: str | None = None


def parse_instance(item: dict[str, Any], etag: str | None = None) -> ObservedInstance:
    """One instance of ``GET /1.0/instances?recursion=1``: its own config and devices (not the
    expanded ones), without LXD's own keys (``volatile.*``, ``image.*``)."""
    raw = item.get("config") or {}
    config = {k: v for k, v in clean_config(raw).items() if not k.startswith("image.")}
    return ObservedInstance(
        name=item["name"],
        project=item.get("project") or "default",
        type=item.get("type") or "container",
        location=item.get("location") or "",
        status=item.get("status") or "",
        profiles=tuple(item.get("profiles") or ()),
        config=config,
        devices={d: clean_config(dev) for d, dev in (item.get("devices") or {}).items()},
        description=item.get("description", ""),
        base_image=str(raw.get("volatile.base_image", "")),
        managed_by_lxdplan=marked(config),
        etag=etag,
    )


def _data(c: "Checker") -> dict[str, Any]:
    """The whole file's data (a mapping once the schema passed)."""
    data = c.src.data
    return data if isinstance(data, dict) else {}


def _payload(step: Step) -> Write | Change:
    """The payload of a step of this kind (one of ``payloads``)."""
    assert isinstance(step.payload, (Write, Change)), step.payload
    return step.payload


SPEC = InstanceSpec()
