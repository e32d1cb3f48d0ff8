"""Certificates: the cluster's trust store, the clients lxdplan manages (``certificates:``).

An entry names a client by ``name`` and gives its PEM from a file (``certificate: {file:
PATH}``, relative to the lxdplan file) or inline (``certificate: {pem: ...}``, what ``export``
writes), read when the file loads, since its fingerprint is the certificate's identity, its
``type`` (``client`` | ``metrics``), ``restricted`` and ``projects``, and on Incus a
``description`` (LXD 5.0 has none). The API names a certificate by its fingerprint (SHA-256 of
its DER: ``/1.0/certificates/<fingerprint>``), and so does lxdplan: a declared certificate is
the live one with its fingerprint. A changed PEM under the same name is a replacement: the new
certificate is created, then the old one (managed) deleted, and the plan says so. ``name``,
``type``, ``restricted`` and ``projects`` (and ``description``) are PUT whole with an empty
``certificate`` (which LXD 5.0.2 and Incus 6.0.4 read as "keep it"; ``doCertificateUpdate``); a
POST takes the certificate as base64 DER, a GET gives PEM.

Ownership: certificates have no config, so lxdplan lists the fingerprints of those it manages in
the server key ``user.lxdplan.certificates`` (written before the create, dropped after the
delete), as images and cluster groups are listed. Others are listed as unmanaged and never
removed; ``server`` certificates (the members' own) are not listed at all. The certificates
lxdplan presents (its own client certificate and the one each connection uses:
``Observed.client_fingerprints``) are never deleted nor restricted: a plan error says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from lxdplan.errors import PlanError, fmt_path
from lxdplan.kinds.base import (
    Checked,
    KindSpec,
    ListedOwner,
    Referring,
    SingleRequests,
    Stage,
    StatusRows,
    Where,
    api_path,
    payload_of,
)
from lxdplan.kinds.common import at, leave_after, put_if
from lxdplan.livedata import AnswerShape, Get, Reading, Recorded, listed_names
from lxdplan.pem import check_certificate, der_base64
from lxdplan.plan import Action, Kind, Payload, Step, Unmanaged
from lxdplan.references import Ref

if TYPE_CHECKING:
    from lxdplan.filecheck import Checker
    from lxdplan.kinds.context import PlanContext

OWNER_KEY = "user.lxdplan.certificates"
TYPES = ("client", "metrics")


@dataclass(frozen=True)
class Certificate:
    name: str
    type: str = "client"
    file: str = ""  # as written in the lxdplan file
    pem: str = ""  # the certificate as read (public data)
    fingerprint: str = ""  # SHA-256 of its DER, lowercase hex
    restricted: bool = False
    projects: tuple[str, ...] = ()
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class Write(Payload):
    """A create (``certificate``: base64 DER; the fingerprint is listed as managed first) or an
    update (``certificate`` empty: kept)."""

    fingerprint: str
    name: str
    type: str = "client"
    restricted: bool = False
    projects: list[str] | None = None
    description: str | None = None  # None: the server has no description (LXD)
    certificate: str = ""
    owner_key: str = OWNER_KEY


@dataclass(frozen=True)
class Delete(Payload):
    fingerprint: str
    owner_key: str = OWNER_KEY


class CertificateSpec(Checked, Referring, SingleRequests, ListedOwner, StatusRows):
    kind = Kind.define("certificate", "certificate")
    section = "certificates"
    answer_shape = AnswerShape({"certificates": "fingerprint"},
                               {"restricted": "flag", "projects": "strings", "certificate": "string"})
    etag_after_plan = True
    stage = Stage.BEFORE_JOINS
    rank, delete_rank, list_rank = 90, 2, 90
    owner_key = OWNER_KEY
    actions = "certificates"
    payloads = {Action.CREATE: Write, Action.UPDATE: Write, Action.DELETE: Delete}
    load_rank = 80  # after the projects they name
    twice = "certificate name"

    def load(self, checker: "Checker", items, declared: Mapping[str, tuple]) -> tuple:
        base = os.path.dirname(os.path.abspath(checker.src.path))
        out: list[Certificate] = []
        seen: dict[str, int] = {}
        for i, raw in items:
            path = (self.section, i)
            given = raw.get("certificate") or {}
            file = str(given.get("file") or "")
            full = file if os.path.isabs(file) else os.path.normpath(os.path.join(base, file))
            fp = pem = ""
            try:
                if "pem" in given:
                    data = str(given["pem"]).encode()
                else:
                    with open(full, "rb") as fh:
                        data = fh.read()
                fp = check_certificate(data)
                pem = data.decode()
            except OSError as exc:
                checker.error(path + ("certificate",), f"{fmt_path(path + ('certificate',))}: cannot "
                              f"read {file} ({exc.strerror or exc})")
            except ValueError:
                checker.error(path + ("certificate",), f"{fmt_path(path + ('certificate',))}: "
                              f"{file or 'the inline pem'} holds no PEM certificate")
            if fp and fp in seen:
                checker.error(path + ("certificate",), f"{fmt_path(path)} gives the same certificate "
                              f"as {self.section}[{seen[fp]}]; LXD trusts a certificate once")
            elif fp:
                seen[fp] = i
            out.append(Certificate(
                str(raw.get("name") or ""), raw.get("type", "client"), file, pem, fp,
                bool(raw.get("restricted", False)), tuple(raw.get("projects") or ()),
                raw.get("description", ""), checker.src.line(path) or 0))
        return tuple(out)

    def check(self, checker: "Checker", declared: Mapping[str, tuple],
              specs: Sequence[KindSpec]) -> None:
        self.check_refs(checker, declared, specs, [Kind.PROJECT])

    def refs(self, obj) -> list[Ref]:
        return [Ref(Kind.PROJECT, (p,), ("projects", i)) for i, p in enumerate(obj.projects)]

    # The identity is the fingerprint (what the API names a certificate by, the key of the live
    # map, what the server key lists: ``display``); the file's names are unique too
    # (``file_idents``). Steps are named by the certificate's name, not the label.
    def ident(self, obj) -> tuple[str, ...]:
        return (obj.fingerprint,)

    def step_ident(self, step: Step) -> tuple[str, ...]:
        p = step.payload
        assert isinstance(p, (Write, Delete)), p
        return (p.fingerprint,)

    def file_idents(self, obj) -> list[tuple]:
        return [(obj.name,)]

    def adopt_label(self, obj) -> str:
        return f"certificate {obj.name} ({obj.fingerprint[:12]})"

    # -- planning ------------------------------------------------------------------------------

    def plan(self, ctx: "PlanContext") -> list[str]:
        backend = ctx.desired.backend or ctx.observed.backend
        live_all = self.live(ctx.observed)
        presented = set(getattr(ctx.observed, "client_fingerprints", ()) or ())
        for cert in self.declared(ctx.desired):
            if cert.description and backend != "incus":
                raise PlanError(f"{at(ctx, cert)}certificate {cert.name} has a description, and "
                                "LXD keeps none for certificates (Incus does): drop it")
            description = cert.description if backend == "incus" else None
            wanted = {"name": cert.name, "type": cert.type, "restricted": cert.restricted,
                      "projects": sorted(cert.projects)}
            if description is not None:
                wanted["description"] = description
            live = live_all.get(cert.fingerprint)
            if live is None:
                old = [c for c in live_all.values() if c.name == cert.name and c.managed_by_lxdplan]
                reason = (f"certificate {cert.name} is in the file but not in the cluster" if not old
                          else f"certificate {cert.name} has a new PEM ({cert.fingerprint[:12]}): it "
                               f"replaces {', '.join(c.fingerprint[:12] for c in old)} (created first, "
                               "then the old one deleted)")
                ctx.steps.add(
                    Action.CREATE, self.kind, cert.name, depends_on=ctx.after_bootstrap(),
                    after={"fingerprint": cert.fingerprint,
                           **({"certificate": cert.file} if cert.file else {}),
                           **{k: v for k, v in wanted.items()
                              if k != "name" and v not in ("", [], False)}},
                    reason=reason,
                    blocked=ctx.serving_block(f"recording certificate {cert.name} as managed "
                                              "(a server config write)"),
                    payload=Write(cert.fingerprint, cert.name, cert.type, cert.restricted,
                                  sorted(cert.projects), description, der_base64(cert.pem)),
                )
                continue
            current = {"name": live.name, "type": live.type, "restricted": live.restricted,
                       "projects": sorted(live.projects)}
            if description is not None:
                current["description"] = live.description
            changed = [k for k in wanted if wanted[k] != current[k]]
            if not changed:
                continue
            if live.fingerprint in presented and (cert.restricted or cert.type != "client"):
                raise PlanError(f"{at(ctx, cert)}certificate {cert.name} is the one lxdplan "
                                "connects with: restricting it or making it a metrics "
                                "certificate would lock lxdplan out; trust lxdplan with another "
                                "certificate first")
            ctx.steps.add(
                Action.UPDATE, self.kind, cert.name, depends_on=ctx.after_bootstrap(),
                before={k: current[k] for k in changed}, after={k: wanted[k] for k in changed},
                reason=f"certificate {cert.name} differs from the file", etag=live.etag,
                payload=Write(cert.fingerprint, cert.name, cert.type, cert.restricted,
                              sorted(cert.projects), description),
            )
        return []

    def plan_deletes(self, ctx: "PlanContext") -> None:
        declared = {c.fingerprint: c for c in self.declared(ctx.desired)}
        by_name = {c.name: c for c in declared.values()}
        presented = set(getattr(ctx.observed, "client_fingerprints", ()) or ())
        for live in self.live(ctx.observed).values():
            if live.fingerprint in declared:
                continue
            name = live.name or live.fingerprint[:12]
            if not live.managed_by_lxdplan:
                ctx.unmanaged.append(Unmanaged(self.kind, name, self.unmanaged_note(live)))
                continue
            if live.fingerprint in presented:
                raise PlanError(f"{ctx.desired.path}: certificate {name} ({live.fingerprint[:12]}) "
                                "is the one lxdplan connects with and the file no longer declares "
                                "it: lxdplan never deletes it; declare it again, or remove it "
                                "yourself once lxdplan connects with another")
            new = by_name.get(live.name)
            waits = ctx.steps.ids(kind=self.kind, action=Action.CREATE) if new else []
            sid = ctx.steps.add(
                Action.DELETE, self.kind, name, depends_on=waits,
                before=self.delete_before(live),
                reason=(f"certificate {name} is replaced by {new.fingerprint[:12]}" if new else
                        f"lxdplan manages certificate {name} and the file no longer declares it"),
                blocked=ctx.serving_block(f"dropping certificate {name} from the managed ones "
                                          "(a server config write)"),
                etag=live.etag, payload=Delete(live.fingerprint),
            )
            leave_after(ctx, sid, None)

    def delete_before(self, live) -> dict[str, Any]:
        before: dict[str, Any] = {"fingerprint": live.fingerprint, "type": live.type}
        if live.restricted:
            before["restricted"] = True
        if live.projects:
            before["projects"] = sorted(live.projects)
        return before

    def unmanaged_note(self, live) -> str:
        return f"{live.type}, {live.fingerprint[:12]}"

    # -- the API -------------------------------------------------------------------------------

    def where(self, step: Step) -> Where:
        p = step.payload
        assert isinstance(p, (Write, Delete)), p
        return self._where(p.fingerprint)

    def where_declared(self, obj) -> Where:
        return self._where(obj.fingerprint)

    @staticmethod
    def _where(fingerprint: str) -> Where:
        return Where("/1.0/certificates", api_path("certificates", fingerprint))

    def create_body(self, step: Step) -> dict[str, Any]:
        p = payload_of(step, Write)
        body: dict[str, Any] = {"name": p.name, "type": p.type, "restricted": p.restricted,
                                "projects": list(p.projects or []), "certificate": p.certificate}
        if p.description is not None:
            body["description"] = p.description
        return body

    def put_body(self, step: Step, live: dict[str, Any]) -> dict[str, Any]:
        p = payload_of(step, Write)
        body: dict[str, Any] = {"name": p.name, "type": p.type, "restricted": p.restricted,
                                "projects": list(p.projects or []), "certificate": ""}
        if p.description is not None:
            body["description"] = p.description
        return body

    def holds(self, live: dict[str, Any], body: dict[str, Any]) -> bool:
        return (live.get("name") == body["name"] and live.get("type") == body["type"]
                and bool(live.get("restricted")) == body["restricted"]
                and sorted(live.get("projects") or []) == sorted(body["projects"])
                and ("description" not in body
                     or (live.get("description") or "") == body["description"]))

    # -- export --------------------------------------------------------------------------------

    def export(self, live) -> dict[str, Any] | None:
        """The entry, its PEM inline (``certificate: {pem: ...}``: the export stays one file)."""
        entry: dict[str, Any] = {"name": live.name or live.fingerprint[:12], "type": live.type,
                                 "certificate": {"pem": live.certificate}}
        if live.restricted:
            entry["restricted"] = True
        put_if(entry, "projects", sorted(live.projects))
        put_if(entry, "description", live.description)
        return entry

    def status(self, observed) -> tuple[str, list[list[str]]] | None:
        live = self.live(observed)
        if not live:
            return None
        rows = [["NAME", "TYPE", "FINGERPRINT", "RESTRICTED", "PROJECTS", "MANAGED"]]
        for c in sorted(live.values(), key=lambda c: (c.name, c.fingerprint)):
            rows.append([c.name, c.type, c.fingerprint[:12], "yes" if c.restricted else "no",
                         ", ".join(c.projects) or "-", "lxdplan" if c.managed_by_lxdplan else "-"])
        return "Certificates", rows

    # -- reading it live -----------------------------------------------------------------------

    list_read = Get.listing("/1.0/certificates")

    @property
    def observed_type(self) -> type:
        return ObservedCertificate

    def assemble(self, reading: Reading, recorded: Recorded) -> dict[str, "ObservedCertificate"]:
        managed = listed_names(reading.server_config, OWNER_KEY)
        out = {}
        for item in recorded.metadata(self.section, "listing") or ():
            if item.get("type") not in TYPES:
                continue  # the members' own server certificates: LXD's
            cert = parse_certificate(item, managed)
            out[cert.fingerprint] = cert
        return out


# -- reading it live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedCertificate:
    fingerprint: str
    name: str = ""
    type: str = "client"
    restricted: bool = False
    projects: tuple[str, ...] = ()
    description: str = ""
    certificate: str = ""  # PEM
    managed_by_lxdplan: bool = False
    etag: str | None = None


def parse_certificate(item: dict[str, Any], managed: frozenset[str]) -> ObservedCertificate:
    fp = str(item.get("fingerprint") or "").lower()
    return ObservedCertificate(
        fingerprint=fp, name=str(item.get("name") or ""), type=str(item.get("type") or "client"),
        restricted=bool(item.get("restricted", False)),
        projects=tuple(sorted(item.get("projects") or ())),
        description=str(item.get("description") or ""),
        certificate=str(item.get("certificate") or ""),
        managed_by_lxdplan=fp in managed)


SPEC = CertificateSpec()
