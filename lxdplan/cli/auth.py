"""`lxdplan auth init` and `lxdplan auth trust`: the client certificate and getting it trusted."""

from __future__ import annotations

import sys
from typing import List

import typer

from lxdplan.cli.app import FILE_OPTION, VERSION_OPTION, app
from lxdplan.cli.output import error, out
from lxdplan.errors import LxdplanError, ValidationError

auth = typer.Typer(help="Make the client certificate and get it trusted by each member.",
                   no_args_is_help=True)
app.add_typer(auth, name="auth")


@auth.command("init")
def init(_version: bool = VERSION_OPTION) -> None:
    """Make lxdplan's client certificate (reused when it exists); print its path and fingerprint."""
    from lxdplan.providers.certs import ensure_client_cert

    try:
        cert = ensure_client_cert()
    except LxdplanError as exc:
        error(str(exc))
        raise typer.Exit(1)
    out(f"{'Created' if cert.created else 'Using existing'} client certificate {cert.cert_path}")
    out(f"Key: {cert.key_path} (mode 0600)")
    out(f"Fingerprint: {cert.fingerprint}")


@auth.command("trust")
def trust(
    file: str = FILE_OPTION,
    accept_fingerprint: List[str] = typer.Option(
        [], "--accept-fingerprint", help="Accept a member certificate with this SHA-256 fingerprint "
        "(repeatable); for scripts."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Accept every unpinned member certificate "
                             "without asking (trust on first use)."),
    _version: bool = VERSION_OPTION,
) -> None:
    """Pin each member's certificate and get lxdplan's client certificate trusted by it."""
    from lxdplan.loader import load
    from lxdplan.providers.certs import ensure_client_cert, normalize_fingerprint

    try:
        desired, _warnings = load(file)
        cert = ensure_client_cert()
    except ValidationError as exc:
        for diag in exc.diagnostics:
            error(str(diag))
        raise typer.Exit(1)
    except LxdplanError as exc:
        error(str(exc))
        raise typer.Exit(1)
    if cert.created:
        out(f"Created client certificate {cert.cert_path} ({cert.fingerprint})")
    accepted = {normalize_fingerprint(f) for f in accept_fingerprint}
    failed = 0
    for member in desired.members:
        try:
            _trust_member(desired, member, file, accepted, yes)
        except LxdplanError as exc:
            error(str(exc))
            failed += 1
    if failed:
        raise typer.Exit(1)


def _trust_member(desired, member, file: str, accepted: set[str], yes: bool) -> None:
    from lxdplan.desired import Secret
    from lxdplan.errors import ApiError, ConnectError, TrustError
    from lxdplan.providers import pins
    from lxdplan.providers.backend import Backend
    from lxdplan.providers.certs import fingerprint
    from lxdplan.providers.client import Client, probe_certificate

    if not member.endpoint.startswith("https://"):
        out(f"{member.name}: {member.endpoint} is a unix socket, trusted already")
        return
    try:
        pem = probe_certificate(member.endpoint)
    except OSError as exc:
        raise ConnectError(f"cannot reach member {member.name} at {member.endpoint}: "
                           f"{exc.strerror or exc}", member=member.name) from None
    fp = fingerprint(pem)
    out(f"{member.name} ({member.endpoint}) certificate fingerprint: {fp}")
    client = Client(member.endpoint, member=member.name, pin=member.fingerprint, pin_file=file)
    with client:
        if fp not in client.pins():
            if member.fingerprint:
                client.verify_certificate(pem)  # raises the one-sentence mismatch error
            if not (yes or fp in accepted or _ask(member.name, fp)):
                raise TrustError(
                    f"member {member.name} ({member.endpoint}) presented certificate {fp[:12]}…, "
                    f"which is not pinned: accept it on a terminal, with --accept-fingerprint {fp}, "
                    f"or declare it as the member's fingerprint in {file}"
                )
            pins.remember(member.endpoint, certificate=pem, source=pins.ACCEPTED)
            out(f"{member.name}: certificate accepted and pinned")
        info = client.get("/1.0").metadata or {}
        if info.get("auth") == "trusted":
            out(f"{member.name}: lxdplan's client certificate is trusted")
            return
        entry = member.trust
        if entry is None or (entry.password is None and entry.token is None):
            raise TrustError(
                f"member {member.name} ({member.endpoint}) does not trust lxdplan's client "
                f"certificate and {file} gives no trust: entry (password or token) for it"
            )
        backend = Backend.from_server(info)

        def value(v):
            try:
                return v.resolve() if isinstance(v, Secret) else v
            except LxdplanError as exc:
                raise TrustError(f"member {member.name}: {exc}") from None

        if entry.token is not None:
            body = backend.trust_request(token=value(entry.token))
        elif not backend.supports_trust_password:
            raise TrustError(
                f"member {member.name} ({member.endpoint}) has no trust password (Incus, LXD 6.1 "
                f"and newer): give it a trust token in {file}"
            )
        else:
            body = backend.trust_request(password=value(entry.password))
        try:
            client.post("/1.0/certificates", body)
        except ApiError as exc:
            said = getattr(exc, "lxd_message", None) or str(exc)
            if entry.token is not None:
                raise TrustError(
                    f"member {member.name} ({member.endpoint}) refused the trust token given in "
                    f"{file} (\"{said}\"): a token works once and expires; issue a new one on the "
                    f"member (`{_tool(desired)} config trust add`) and run auth trust again"
                ) from None
            raise TrustError(
                f"member {member.name} ({member.endpoint}) refused the trust password given in "
                f"{file} (\"{said}\"): check it against the member's core.trust_password"
            ) from None
        if (client.get("/1.0").metadata or {}).get("auth") != "trusted":
            raise TrustError(f"member {member.name} ({member.endpoint}) accepted the trust request "
                             f"but still does not trust lxdplan's client certificate")
        out(f"{member.name}: lxdplan's client certificate is now trusted")


def _tool(desired) -> str:
    return "incus" if desired.backend == "incus" else "lxc"


def _ask(name: str, fp: str) -> bool:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    return typer.confirm(f"Accept the certificate of {name} with fingerprint {fp}?", default=False)
