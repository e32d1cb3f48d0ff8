"""`lxdplan auth init` and `lxdplan auth trust`: the client certificate and getting it trusted."""

from __future__ import annotations

import sys
from typing import List

import typer

from lxdplan.cli.app import DEBUG_OPTION, FILE_OPTION, VERSION_OPTION, app
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
    _debug_log: bool = DEBUG_OPTION,
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
    """Pin the member's certificate (asking, or as the options say), then redeem its trust:
    the work is ``lxdplan.providers.trust``'s; this says what happens."""
    from lxdplan.errors import TrustError
    from lxdplan.providers import trust
    from lxdplan.providers.remotes import member_client

    client = member_client(desired, member)
    with client:
        if client.scheme != "https":
            out(f"{member.name}: {member.endpoint} is a unix socket, trusted already")
            return
        shown = trust.presented(client)
        out(f"{member.name} ({client.endpoint}) certificate fingerprint: {shown.fingerprint}")
        if not shown.pinned:
            fp = shown.fingerprint
            if not (yes or fp in accepted or _ask(member.name, fp)):
                raise TrustError(
                    f"member {member.name} ({client.endpoint}) presented certificate {fp[:12]}…, "
                    f"which is not pinned: accept it on a terminal, with --accept-fingerprint {fp}, "
                    f"or declare it as the member's fingerprint in {file}"
                )
            trust.accept(client, shown)
            out(f"{member.name}: certificate accepted and pinned")
        if trust.redeem(desired, member, client):
            out(f"{member.name}: lxdplan's client certificate is now trusted")
        else:
            out(f"{member.name}: lxdplan's client certificate is trusted")


def _ask(name: str, fp: str) -> bool:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    return typer.confirm(f"Accept the certificate of {name} with fingerprint {fp}?", default=False)
