"""Certificates (``lxdplan.kinds.certificate``): trust, change, drop a client certificate.

Level-based: the fingerprint is listed as managed (server key ``user.lxdplan.certificates``)
before the certificate is trusted, so an interrupted create never leaves an unowned one, and
dropped from it after the delete; a certificate already trusted is not posted again. The key
lists fingerprints, not names (names are not unique in LXD's trust store), so the generic
server-key handlers (which list a step's name) do not fit. Facts: LXD 5.0.2
``lxd/certificates.go``, Incus 6.0.4 ``cmd/incusd/certificates.go``: POST takes base64 DER,
PUT with an empty ``certificate`` keeps it.
"""

from __future__ import annotations

from lxdplan.kinds.base import payload_of
from lxdplan.kinds.certificate import SPEC, Delete, Write
from lxdplan.plan import Action, Step
from lxdplan.providers.actions.common import get_or_none, gone, precondition
from lxdplan.providers.actions.single import mark_owned
from lxdplan.providers.session import Session


def create(s: Session, step: Step) -> bool:
    p = payload_of(step, Write)
    where, client = SPEC.where(step), s.cluster()
    changed = mark_owned(client, p.owner_key, p.fingerprint, add=True)
    if get_or_none(client, where.path) is not None:
        return changed
    client.post(where.collection, SPEC.create_body(step))
    return True


def update(s: Session, step: Step) -> bool:
    where, client = SPEC.where(step), s.cluster()
    md = client.get(where.path).metadata or {}
    body = SPEC.put_body(step, md)
    if SPEC.holds(md, body):
        return False
    with precondition(step):
        client.put(where.path, body, etag=step.etag)
    return True


def delete(s: Session, step: Step) -> bool:
    p = payload_of(step, Delete)
    where, client = SPEC.where(step), s.cluster()
    deleted = (get_or_none(client, where.path) is not None
               and gone(lambda: client.delete(where.path)))
    return mark_owned(client, p.owner_key, p.fingerprint, add=False) or deleted


HANDLERS = {Action.CREATE: create, Action.UPDATE: update, Action.DELETE: delete}
