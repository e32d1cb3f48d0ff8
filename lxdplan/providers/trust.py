"""Getting lxdplan's client certificate trusted by a member: ``auth trust`` and ``apply`` use this.

A member reached over HTTPS is first checked against its pins (``Client.verify_certificate``);
only then is anything sent. ``redeem`` sends the member's declared ``trust:`` (a trust password on
LXD without ``explicit_trust_token``, a trust token otherwise) with ``POST /1.0/certificates`` and
reads ``GET /1.0`` back to see it took. ``redeem_declared`` does that, before ``apply`` plans, for
every reachable member that does not trust lxdplan yet and declares ``trust:``. Nothing here asks
or prints: accepting an unpinned certificate is the CLI's question (``auth trust``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from lxdplan.desired import Desired, Member, Secret
from lxdplan.errors import ApiError, ConnectError, LxdplanError, TrustError
from lxdplan.providers import pins
from lxdplan.providers.backend import Backend
from lxdplan.providers.certs import ensure_client_cert, fingerprint
from lxdplan.providers.client import Client, probe_certificate


@dataclass(frozen=True)
class Presented:
    """The certificate a member presents and whether lxdplan already pins it."""

    certificate: str  # PEM
    fingerprint: str
    pinned: bool


def presented(client: Client) -> Presented:
    """The certificate ``client``'s HTTPS endpoint presents. A declared fingerprint it does not
    match raises the one-sentence mismatch error (no question can accept it then)."""
    try:
        pem = probe_certificate(client.endpoint, client.connect_timeout)
    except OSError as exc:
        raise ConnectError(f"cannot reach member {client.who} at {client.endpoint}: "
                           f"{exc.strerror or exc}", member=client.member) from None
    fp = fingerprint(pem)
    pinned = fp in client.pins()
    if not pinned and client.pin:
        client.verify_certificate(pem)  # raises: expected the declared fingerprint
    return Presented(pem, fp, pinned)


def accept(client: Client, shown: Presented) -> None:
    """Pin a certificate the user accepted (by answer or ``--accept-fingerprint``)."""
    if client.scope is None:
        raise TrustError(f"member {client.who}: no cluster to pin its certificate for")
    pins.remember_accepted(client.scope, client.endpoint, shown.certificate)


def is_trusted(client: Client) -> bool:
    return (client.get("/1.0").metadata or {}).get("auth") == "trusted"


def redeem(desired: Desired, member: Member, client: Client) -> bool:
    """Get the client certificate trusted with ``member``'s declared ``trust:``. False when it is
    trusted already, True when the trust was redeemed now; ``TrustError`` (one sentence naming
    the member) when there is none to send or the member refuses it."""
    if client.scheme == "https" and not client.presents_certificate:
        if client.cert is None:
            ensure_client_cert()  # lxdplan's own, made on first need as `auth init` would
        client.close()  # present it from the next request on
    info = client.get("/1.0").metadata or {}
    if info.get("auth") == "trusted":
        return False
    where = f"member {member.name} ({client.endpoint})"
    entry = member.trust
    if entry is None or (entry.password is None and entry.token is None):
        raise TrustError(f"{where} does not trust lxdplan's client certificate and "
                         f"{desired.path} gives no trust: entry (password or token) for it")
    backend = Backend.from_server(info)
    if entry.token is not None:
        body = backend.trust_request(token=_value(member, entry.token))
    elif not backend.supports_trust_password:
        raise TrustError(f"{where} has no trust password (Incus, LXD 6.1 and newer): give it a "
                         f"trust token in {desired.path}")
    else:
        body = backend.trust_request(password=_value(member, entry.password))
    try:
        client.post("/1.0/certificates", body)
    except ApiError as exc:
        said = getattr(exc, "lxd_message", None) or str(exc)
        if entry.token is not None:
            tool = "incus" if desired.backend == "incus" else "lxc"
            raise TrustError(
                f"{where} refused the trust token given in {desired.path} (\"{said}\"): a token "
                f"works once and expires; issue a new one on the member (`{tool} config trust "
                f"add`) and run auth trust again"
            ) from None
        raise TrustError(f"{where} refused the trust password given in {desired.path} "
                         f"(\"{said}\"): check it against the member's core.trust_password") from None
    if not is_trusted(client):
        raise TrustError(f"{where} accepted the trust request but still does not trust "
                         f"lxdplan's client certificate")
    return True


def _value(member: Member, value: str | Secret | None) -> str | None:
    try:
        return value.resolve() if isinstance(value, Secret) else value
    except LxdplanError as exc:
        raise TrustError(f"member {member.name}: {exc}") from None


def redeem_declared(desired: Desired, clients: dict[str, Client],
                    untrusted: Iterable[str]) -> list[str]:
    """Before ``apply`` plans: redeem the declared ``trust:`` of each member named in
    ``untrusted`` (reachable, its certificate verified against its pins, and not trusting
    lxdplan) that declares one. Returns the members now trusted. Every refusal is collected and
    raised together before anything else changes."""
    done, problems = [], []
    for name in untrusted:
        member = desired.member(name)
        if member is None or member.trust is None:
            continue  # planned blocked, with the command that fixes it
        try:
            if redeem(desired, member, clients[name]):
                done.append(name)
        except LxdplanError as exc:
            problems.append(str(exc))
    if problems:
        raise TrustError("; ".join(problems) + "; no step was run")
    return done
