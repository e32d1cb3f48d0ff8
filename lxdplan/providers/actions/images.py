"""Images (``lxdplan.kinds.image``): import or pull once, then aliases, ``public``, ``auto_update``.

Level-based like every action: the image's name is listed as managed (server key) before
anything is imported, so an interrupted create never leaves an unowned image; an image whose
fingerprint is already there is not imported again (its aliases are added); a pull that was
cut off is pulled again (LXD keeps one copy per fingerprint).

Imports stream the file(s) from disk (``Client.upload``): a unified tarball as the body, a split
image as the multipart ``metadata`` and ``rootfs`` parts LXD expects. The fingerprint of a file
is computed first, read in chunks, and checked against the pin before anything is sent. A pull
sends ``protocol`` ``lxd`` to LXD and ``incus`` to Incus (the same REST protocol: the file may
name either). Facts: LXD 5.0.2 / Incus 6.0.4 ``POST /1.0/images`` and ``/1.0/images/aliases``.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import ExitStack
from typing import Any

from lxdplan.errors import ApiError, LxdplanError
from lxdplan.kinds.base import payload_of
from lxdplan.kinds.image import Delete, Write
from lxdplan.plan import Action, Step
from lxdplan.providers.actions.common import get_or_none, gone, reveal
from lxdplan.providers.actions.single import mark_owned
from lxdplan.providers.client import Client, path_of
from lxdplan.providers.session import Session

CHUNK = 1 << 20


def file_fingerprint(*paths: str) -> str:
    """What LXD computes for an imported image: the SHA-256 of the file (of metadata then
    rootfs for a split image), read in chunks."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _params(project: str) -> dict[str, str] | None:
    return {"project": project} if project != "default" else None


def _mark(client: Client, step: Step, add: bool) -> bool:
    return mark_owned(client, str(getattr(step.payload, "owner_key")), step.name, add=add)


def _alias_target(client: Client, alias: str, project: str) -> str | None:
    found = get_or_none(client, path_of("images", "aliases", alias), _params(project))
    return ((found.metadata or {}).get("target") or None) if found else None


def _set_aliases(client: Client, fingerprint: str, project: str, wanted: list[str],
                 drop_others: bool) -> bool:
    """Point every alias of ``wanted`` at ``fingerprint``; with ``drop_others`` delete the
    image's other aliases (they are authoritative)."""
    changed = False
    for alias in wanted:
        target = _alias_target(client, alias, project)
        if target == fingerprint:
            continue
        if target is None:
            client.post("/1.0/images/aliases", {"name": alias, "target": fingerprint,
                                                "description": ""}, params=_params(project))
        else:
            client.put(path_of("images", "aliases", alias), {"target": fingerprint,
                                                             "description": ""},
                       params=_params(project))
        changed = True
    if drop_others:
        md = client.get(path_of("images", fingerprint), _params(project)).metadata or {}
        for alias in (a.get("name") for a in md.get("aliases") or ()):
            if alias and alias not in wanted:
                gone(lambda a=alias: client.delete(path_of("images", "aliases", a),  # type: ignore[misc]
                                                   params=_params(project)))  # a: str
                changed = True
    return changed


def _set_flags(client: Client, fingerprint: str, project: str, public: bool,
               auto_update: bool) -> bool:
    answer = client.get(path_of("images", fingerprint), _params(project))
    md = answer.metadata or {}
    if bool(md.get("public")) == public and bool(md.get("auto_update")) == auto_update:
        return False
    body = {"public": public, "auto_update": auto_update,
            "properties": md.get("properties") or {}}
    for key in ("expires_at", "profiles"):
        if key in md:
            body[key] = md[key]
    client.put(path_of("images", fingerprint), body, params=_params(project), etag=answer.etag)
    return True


def _pull_body(s: Session, p: Write) -> dict[str, Any]:
    src = reveal(p.source)
    protocol = src.get("protocol", "simplestreams")
    if protocol in ("lxd", "incus"):
        protocol = "incus" if s.observed.backend == "incus" else "lxd"
    source: dict[str, Any] = {"type": "image", "mode": "pull", "server": src["server"],
                              "protocol": protocol}
    for key in ("alias", "fingerprint", "certificate"):
        if src.get(key):
            source[key] = src[key]
    return {"source": source, "public": p.public, "auto_update": p.auto_update}


def _import_file(client: Client, p: Write, what: str) -> str:
    paths = [p.source["file"]] if "file" in p.source else [p.source["metadata"], p.source["rootfs"]]
    for path in paths:
        if not os.path.isfile(path):
            raise LxdplanError(f"image {what}: the source file {path} does not exist")
    fp = file_fingerprint(*paths)
    if p.fingerprint and not fp.startswith(p.fingerprint):
        raise LxdplanError(f"image {what}: {' + '.join(paths)} has fingerprint {fp[:12]} and the "
                           f"file pins {p.fingerprint[:12]}; nothing was imported")
    if get_or_none(client, path_of("images", fp), _params(p.project)) is not None:
        return fp
    try:
        with ExitStack() as stack:
            handles = [stack.enter_context(open(path, "rb")) for path in paths]
            if len(handles) == 1:
                answer = client.upload("/1.0/images", content=handles[0], params=_params(p.project),
                                       headers={"Content-Type": "application/octet-stream"})
            else:
                answer = client.upload("/1.0/images", params=_params(p.project), files={
                    "metadata": (os.path.basename(paths[0]), handles[0], "application/octet-stream"),
                    "rootfs": (os.path.basename(paths[1]), handles[1], "application/octet-stream"),
                })
    except ApiError:
        # An earlier apply, stopped once its upload was sent, left LXD to finish the import:
        # this one is then refused "Image with same fingerprint already exists" (LXD 5.0.2
        # ``lxd/images.go``, Incus 6.0.4 alike). The image is there: the import is done.
        if get_or_none(client, path_of("images", fp), _params(p.project)) is not None:
            return fp
        raise
    made = ((answer.metadata or {}).get("metadata") or {}).get("fingerprint") or fp
    return made


def create(s: Session, step: Step) -> bool:
    p = payload_of(step, Write)
    client = s.cluster()
    changed = _mark(client, step, add=True)
    existing = _alias_target(client, p.name, p.project)
    if existing and (not p.fingerprint or existing.startswith(p.fingerprint)):
        fp = existing
    elif "server" in p.source:
        answer = client.post("/1.0/images", reveal(_pull_body(s, p)), params=_params(p.project))
        fp = ((answer.metadata or {}).get("metadata") or {}).get("fingerprint", "")
        if not fp:
            raise LxdplanError(f"image {step.name}: the pull from {p.source['server']} did not say "
                               "which image it made")
        if p.fingerprint and not fp.startswith(p.fingerprint):
            if _alias_target(client, p.name, p.project) is None:
                gone(lambda: client.delete(path_of("images", fp), params=_params(p.project)))
            raise LxdplanError(f"image {step.name}: {p.source['server']} served {fp[:12]} and the "
                               f"file pins {p.fingerprint[:12]}; the pulled image was not kept")
        changed = True
    else:
        fp = _import_file(client, p, step.name)
        changed = True
    changed |= _set_aliases(client, fp, p.project, [p.name] + list(p.aliases), drop_others=False)
    changed |= _set_flags(client, fp, p.project, p.public, p.auto_update)
    return changed


def update(s: Session, step: Step) -> bool:
    p = payload_of(step, Write)
    client = s.cluster()
    fp = _alias_target(client, p.name, p.project) or p.fingerprint
    changed = _set_aliases(client, fp, p.project, [p.name] + list(p.aliases), drop_others=True)
    return _set_flags(client, fp, p.project, p.public, p.auto_update) or changed


def delete(s: Session, step: Step) -> bool:
    p = payload_of(step, Delete)
    client = s.cluster()
    deleted = (get_or_none(client, path_of("images", p.fingerprint), _params(p.project)) is not None
               and gone(lambda: client.delete(path_of("images", p.fingerprint),
                                              params=_params(p.project))))
    return _mark(client, step, add=False) or deleted


HANDLERS = {Action.CREATE: create, Action.UPDATE: update, Action.DELETE: delete}
