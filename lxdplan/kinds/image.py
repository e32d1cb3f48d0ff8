"""Images (the seed's "Images"): imported from a file or pulled from a remote server, once.

An image is known by its name, an alias unique per project. Created once, from its source;
then its other ``aliases`` (authoritative), ``public`` and ``auto_update`` are enforced. An
optional ``fingerprint`` pin (a prefix) makes a different image under the name a plan error
(and a different file or remote image at import an apply error, before anything is kept).

Ownership: images have no config map, and their ``properties`` come from the image itself
(an auto-update replaces them), so lxdplan lists the images it manages in the server key
``user.lxdplan.images`` by name (``project/name`` outside the default project), as it does for
cluster groups. The alias moves to the refreshed image on an auto-update; the mark follows it.
How many members hold an image is LXD's ``cluster.images_minimal_replica`` (server config).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

from lxdplan.desired import Secret
from lxdplan.errors import PlanError
from lxdplan.filecheck import names
from lxdplan.kinds.base import (
    Checked,
    DependentReads,
    KindSpec,
    ListedOwner,
    Referring,
    Stage,
    StatusRows,
    Where,
    api_path,
)
from lxdplan.kinds.common import DEFAULT, at, scoped
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, listed_names, project_items, projects_with
from lxdplan.plan import Action, Kind, Payload, Step
from lxdplan.references import Ref
from lxdplan.state.observed import Observed

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

OWNER_KEY = "user.lxdplan.images"


@dataclass(frozen=True)
class ImageSource:
    """Where an image comes from: exactly one of a unified tarball (``file``), a split image
    (``metadata`` + ``rootfs``), or a remote image ``server`` (with ``protocol`` and ``alias`` or
    ``fingerprint``; ``certificate`` is the PEM of an lxd-protocol server). Paths are as written
    in the file (relative ones are relative to the file's directory)."""

    file: str | None = None
    metadata: str | None = None
    rootfs: str | None = None
    server: str | None = None
    protocol: str = "simplestreams"
    alias: str | None = None
    fingerprint: str | None = None
    certificate: str | Secret | None = None


@dataclass(frozen=True)
class Image:
    name: str  # its alias in the cluster (unique per project)
    source: ImageSource = field(default_factory=ImageSource)
    project: str = DEFAULT
    fingerprint: str | None = None  # optional pin (a prefix of the fingerprint)
    aliases: tuple[str, ...] = ()  # more aliases; authoritative
    public: bool = False
    auto_update: bool = False
    line: int = 0


@dataclass(frozen=True)
class Write(Payload):
    """A create (import from ``source``, then aliases and flags) or an update (aliases and
    flags of the image ``fingerprint``). ``source`` holds absolute paths; ``certificate`` may
    be a ``Secret``. ``owner_key``: the server key listing managed images (name added first)."""

    name: str
    project: str = DEFAULT
    source: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""  # create: the pin ("" none); update: the live image
    aliases: list[str] = field(default_factory=list)
    public: bool = False
    auto_update: bool = False
    owner_key: str = OWNER_KEY


@dataclass(frozen=True)
class Delete(Payload):
    fingerprint: str
    project: str = DEFAULT
    owner_key: str = OWNER_KEY


def source_view(source: ImageSource) -> dict[str, Any]:
    """The source as a plan shows it (a certificate is never shown)."""
    view = {k: getattr(source, k) for k in ("file", "metadata", "rootfs", "server", "alias",
                                           "fingerprint") if getattr(source, k)}
    if source.server:
        view["protocol"] = source.protocol
    return view


def source_payload(source: ImageSource, base: str) -> dict[str, Any]:
    """The source as the action reads it: file paths made absolute against ``base``."""
    out: dict[str, Any] = {}
    for key in ("file", "metadata", "rootfs"):
        value = getattr(source, key)
        if value:
            out[key] = value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))
    if source.server:
        out.update(server=source.server, protocol=source.protocol)
        for key in ("alias", "fingerprint", "certificate"):
            if getattr(source, key) is not None:
                out[key] = getattr(source, key)
    return out


class ImageSpec(Checked, Referring, ListedOwner, StatusRows, DependentReads):
    kind = Kind.IMAGE
    section = "images"
    answer_shape = AnswerShape({"images": "fingerprint", "images/aliases": "name"})
    stage = Stage.AFTER_MEMBERS
    rank, delete_rank, list_rank = 70, 8, 70
    owner_key = OWNER_KEY
    actions = "images"
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    load_rank = 60
    twice = "image alias (per project)"

    def load(self, c: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        projects = names(declared, "projects", DEFAULT)
        return tuple(_load(c, items, projects))

    def file_idents(self, obj) -> list[tuple]:
        """An image is declared once by its name and each alias: they share one namespace."""
        return [(obj.project, name) for name in (obj.name, *obj.aliases)]

    def check(self, c: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        """Two entries pinned to one fingerprint (after the aliases' uniqueness)."""
        out = declared.get(self.section, ())
        # LXD keeps one image per fingerprint: two entries pinned to the same one would fight over
        # its aliases and public flag on every apply.
        pinned: dict[tuple[str, str], int] = {}
        for i, img in enumerate(out):
            if not img.fingerprint:
                continue
            key = (img.project, img.fingerprint.lower())
            if key in pinned:
                first = out[pinned[key]]
                c.error(("images", i, "fingerprint"), f'images[{i}] ("{img.name}") pins the same '
                        f'image as images[{pinned[key]}] ("{first.name}"); LXD keeps one image per '
                        f'fingerprint: declare it once, with "{img.name}" among its aliases')
            else:
                pinned[key] = i

    def ident(self, obj) -> tuple[str, ...]:
        return (obj.project, obj.name)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        return (step.payload.project, step.payload.name) if isinstance(step.payload, Write) \
            else tuple(step.name.split("/", 1)) if "/" in step.name else (DEFAULT, step.name)

    def label(self, ident: tuple) -> str:
        return scoped(*ident)  # the project shown when not default

    def refs(self, obj) -> list[Ref]:
        return [Ref(Kind.PROJECT, (obj.project,), ("project",))]

    def find(self, observed, project: str, alias: str):
        """The live image of ``project`` with ``alias``, or None."""
        return next((i for i in observed.section("images").values()
                     if i.project == project and alias in i.aliases), None)

    def plan(self, ctx: "PlanContext") -> list[str]:
        base = os.path.dirname(os.path.abspath(ctx.desired.path))
        for img in self.declared(ctx.desired):
            name = self.display(img)
            live = self.find(ctx.observed, img.project, img.name)
            wanted = {"aliases": sorted(img.aliases), "public": img.public,
                      "auto_update": img.auto_update}
            if live is None:
                ctx.steps.add(
                    Action.CREATE, self.kind, name, depends_on=ctx.after_bootstrap(),
                    after={"source": source_view(img.source),
                           **({"fingerprint": img.fingerprint} if img.fingerprint else {}),
                           **{k: v for k, v in wanted.items() if v}},
                    reason=f"image {name} is in the file but not in the cluster",
                    blocked=ctx.serving_block(f"recording image {name} as managed (a server "
                                              "config write)"),
                    payload=Write(img.name, img.project, source_payload(img.source, base),
                                  (img.fingerprint or "").lower(), sorted(img.aliases),
                                  img.public, img.auto_update),
                )
                continue
            if img.fingerprint and not live.fingerprint.startswith(img.fingerprint.lower()):
                raise PlanError(
                    f"{at(ctx, img)}image {name} in the cluster is {live.fingerprint[:12]} and the "
                    f"file pins {img.fingerprint.lower()[:12]}: import the pinned image under "
                    f"another name and point the instances at it, or update the pin to "
                    f"{live.fingerprint[:12]} if this image is the one you want"
                )
            current = {"aliases": sorted(a for a in live.aliases if a != img.name),
                       "public": live.public, "auto_update": live.auto_update}
            changed = [k for k in wanted if wanted[k] != current[k]]
            if changed:
                ctx.steps.add(
                    Action.UPDATE, self.kind, name, depends_on=ctx.after_bootstrap(),
                    before={k: current[k] for k in changed}, after={k: wanted[k] for k in changed},
                    reason=f"image {name} differs from the file", etag=live.etag,
                    payload=Write(img.name, img.project, {}, live.fingerprint, sorted(img.aliases),
                                  img.public, img.auto_update),
                )
        return []


    def delete_before(self, live) -> dict[str, Any]:
        return {"fingerprint": live.fingerprint, "aliases": sorted(live.aliases)}

    def delete_block(self, ctx: "PlanContext", live) -> str | None:
        return ctx.serving_block(f"dropping image {self.display(live)} from the managed ones "
                                 "(a server config write)")

    def delete_payload(self, live) -> Delete:
        return Delete(live.fingerprint, live.project)

    def unmanaged_note(self, live) -> str:
        return f"{live.fingerprint[:12]}" + ("" if live.aliases else ", no alias")

    def where(self, step: Step) -> Where:
        return self._where(_payload(step).fingerprint, _payload(step).project)

    def where_declared(self, obj) -> Where:
        return self._where(obj.fingerprint or "", obj.project)

    @staticmethod
    def _where(fingerprint: str, project: str) -> Where:
        return Where("/1.0/images", api_path("images", fingerprint) if fingerprint else "",
                     {"project": project} if project != DEFAULT else {})

    def adopt_target(self, obj: Any, observed: Observed) -> Any:
        return self.find(observed, obj.project, obj.name)

    def export(self, live) -> dict[str, Any] | None:
        """No file exists for a live image: it is exported as pulled from the cluster it lives
        in (``server``/``fingerprint``), with a pin, so ``plan`` on the export is empty."""
        if not live.aliases:
            return None  # an image without an alias cannot be declared (its name is an alias)
        entry: dict[str, Any] = {"name": live.name}
        if live.project != DEFAULT:
            entry["project"] = live.project
        entry["source"] = {"server": "https://CHANGE-ME:8443", "protocol": "lxd",
                           "fingerprint": live.fingerprint}
        entry["fingerprint"] = live.fingerprint
        others = sorted(a for a in live.aliases if a != live.name)
        if others:
            entry["aliases"] = others
        if live.public:
            entry["public"] = True
        if live.auto_update:
            entry["auto_update"] = True
        return entry

    def status(self, observed) -> tuple[str, list[list[str]]] | None:
        if not observed.section("images"):
            return None
        replica = observed.config.get("cluster.images_minimal_replica", "3 (default)")
        rows = [["NAME", "FINGERPRINT", "PROJECT", "PUBLIC", "AUTO UPDATE", "MANAGED"]]
        for img in sorted(observed.section("images").values(), key=lambda i: (i.project, i.name)):
            rows.append([", ".join([img.name] + [a for a in img.aliases if a != img.name]),
                         img.fingerprint[:12], img.project, "yes" if img.public else "no",
                         "yes" if img.auto_update else "no",
                         "lxdplan" if img.managed_by_lxdplan else "-"])
        return (f"Images (cluster.images_minimal_replica: {replica}; LXD does not report which "
                "members hold each)", rows)

    # -- reading it live ---------------------------------------------------------------------
    # Images are per project only where the project has its own (``features.images``).

    list_read = Get.listing("/1.0/images")
    needs = (("projects", "listing"),)

    @property
    def observed_type(self) -> type:
        return ObservedImage

    def reads(self, reading: Reading, recorded: Recorded) -> dict[Hashable, Get]:
        return {("project", p): Get.listing("/1.0/images", {"project": p})
                for p in projects_with(recorded, "images")}

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedImage"]:
        managed = listed_names(reading.server_config, OWNER_KEY)
        out = {}
        for project, item in project_items(recorded, self.section):
            img = parse_image(item, project, managed)
            out[f"{img.project}/{img.fingerprint}"] = img
        return out


# -- the file's part -------------------------------------------------------------------------

def _load(c: "Checker", items, projects: set[str]) -> list[Image]:
    """Images from the file (schema-valid items), with the rules the schema cannot say."""
    out = []
    for i, raw in items:
        path = ("images", i)
        src = raw.get("source") or {}
        given = [k for k in ("file", "server") if k in src] + (
            ["metadata/rootfs"] if "metadata" in src or "rootfs" in src else [])
        if len(given) != 1:
            c.error(path + ("source",), f"images[{i}].source takes exactly one of file, "
                                        "metadata + rootfs, or server (found "
                                        f"{', '.join(given) or 'none'})", key=True)
        if ("metadata" in src) != ("rootfs" in src):
            c.error(path + ("source",), f"images[{i}].source: a split image needs both metadata "
                                        "and rootfs", key=True)
        if "server" in src and ("alias" in src) == ("fingerprint" in src):
            c.error(path + ("source",), f"images[{i}].source: a server source takes alias or "
                                        "fingerprint (one of them)", key=True)
        remote_only = [k for k in ("protocol", "alias", "fingerprint", "certificate")
                       if k in src and "server" not in src]
        if remote_only:
            c.error(path + ("source", remote_only[0]),
                    f"images[{i}].source.{remote_only[0]} is for a server source only", key=True)
        project = raw.get("project", DEFAULT)
        if project not in projects:
            c.error(path + ("project",), f'images[{i}] ("{raw.get("name")}") is in project '
                                         f'"{project}", which is not declared in projects')
        aliases = tuple(raw.get("aliases") or ())
        if raw.get("name") in aliases:
            c.error(path + ("aliases",), f'images[{i}].aliases repeats the image\'s name '
                                         f'"{raw.get("name")}"')
        cert = src.get("certificate")
        if isinstance(cert, dict):
            (kind, ref), = cert.items()
            cert = Secret(kind, ref)
        source = ImageSource(file=src.get("file"), metadata=src.get("metadata"),
                             rootfs=src.get("rootfs"), server=src.get("server"),
                             protocol=src.get("protocol", "simplestreams"), alias=src.get("alias"),
                             fingerprint=src.get("fingerprint"), certificate=cert)
        out.append(Image(raw.get("name"), source, project, raw.get("fingerprint"), aliases,
                         bool(raw.get("public", False)), bool(raw.get("auto_update", False)),
                         c.src.line(path) or 0))
    return out


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedImage:
    """An image of one project. ``name`` is the alias lxdplan knows it by: the managed one when
    lxdplan manages it (``user.lxdplan.images``), else its first alias, else its fingerprint."""

    fingerprint: str
    name: str = ""
    project: str = "default"
    aliases: tuple[str, ...] = ()
    public: bool = False
    auto_update: bool = False
    description: str = ""  # properties.description
    type: str = "container"
    size: int = 0
    managed_by_lxdplan: bool = False
    etag: str | None = None


def parse_image(item: dict[str, Any], project: str, managed: frozenset[str]) -> ObservedImage:
    """One image of ``GET /1.0/images?recursion=1`` in ``project``; ``managed`` are the names
    the server key ``user.lxdplan.images`` lists (``project/name`` outside default)."""
    aliases = tuple(a["name"] for a in item.get("aliases") or () if a.get("name"))
    prefix = "" if project == "default" else f"{project}/"
    mine = next((a for a in aliases if f"{prefix}{a}" in managed), None)
    fp = item.get("fingerprint", "")
    return ObservedImage(
        fingerprint=fp,
        name=mine or (aliases[0] if aliases else fp[:12]),
        project=item.get("project") or project,
        aliases=aliases,
        public=bool(item.get("public", False)),
        auto_update=bool(item.get("auto_update", False)),
        description=str((item.get("properties") or {}).get("description", "")),
        type=item.get("type") or "container",
        size=int(item.get("size") or 0),
        managed_by_lxdplan=mine is not None,
    )


def _payload(step: Step) -> Write | Delete:
    """The payload of a step of this kind (one of ``payloads``)."""
    assert isinstance(step.payload, (Write, Delete)), step.payload
    return step.payload


SPEC = ImageSpec()
