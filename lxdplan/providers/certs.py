"""The client certificate lxdplan presents to LXD/Incus, and certificate fingerprints.

The certificate is ECDSA P-384, self-signed, CN ``lxdplan@<hostname>``, valid about ten years, kept
in the config directory (``$LXDPLAN_CONFIG_DIR`` or ``~/.config/lxdplan``) as ``client.crt`` and
``client.key``. The key file is created with mode 0600; it never exists with wider permissions.
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from lxdplan.errors import LxdplanError
from lxdplan.files import write_private
from lxdplan.pem import fingerprint

__all__ = ["fingerprint"]  # callers take it from here with the client's certificate

CERT_NAME = "client.crt"
KEY_NAME = "client.key"
VALID_DAYS = 3650


def config_dir() -> Path:
    """Where lxdplan keeps its certificate and pin store."""
    env = os.environ.get("LXDPLAN_CONFIG_DIR")
    return Path(env) if env else Path.home() / ".config" / "lxdplan"


@dataclass(frozen=True)
class ClientCert:
    """Paths of the client certificate and key, and the certificate's fingerprint."""

    cert_path: Path
    key_path: Path
    fingerprint: str
    created: bool = False  # True when this call made it


def normalize_fingerprint(value: str) -> str:
    """A fingerprint as users write it (any case, optional colons/spaces) in lxdplan's form."""
    return value.replace(":", "").replace(" ", "").strip().lower()


def load_client_cert(directory: Path | None = None) -> ClientCert | None:
    """The existing certificate, or None when ``auth init`` has not made one yet."""
    directory = directory or config_dir()
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        return ClientCert(cert_path, key_path, fingerprint(cert_path.read_bytes()))
    except (OSError, ValueError) as exc:
        raise LxdplanError(f"the client certificate {cert_path} cannot be read "
                           f"({getattr(exc, 'strerror', None) or exc}): restore it, or move the "
                           f"pair away and run `lxdplan auth init`") from None


def load_chain(ctx: ssl.SSLContext, cert: ClientCert) -> None:
    """Present ``cert`` on connections made with ``ctx``; a certificate or key file that cannot
    be used is one sentence naming that file."""
    try:
        ctx.load_cert_chain(str(cert.cert_path), str(cert.key_path))
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise LxdplanError(f"the client {_culprit(cert)} cannot be used "
                           f"({getattr(exc, 'strerror', None) or getattr(exc, 'reason', None) or exc}): "
                           f"restore it, or move the pair away and run `lxdplan auth init` "
                           f"(the members then need to trust the new certificate)") from None


def _culprit(cert: ClientCert) -> str:
    """Which of the pair is broken (the key unless the certificate alone fails to load)."""
    try:
        ssl.PEM_cert_to_DER_cert(cert.cert_path.read_text(encoding="ascii"))
    except (OSError, ValueError, UnicodeDecodeError):
        return f"certificate {cert.cert_path}"
    return f"key {cert.key_path}"


def ensure_client_cert(directory: Path | None = None) -> ClientCert:
    """Reuse the client certificate if present, else make one (key written 0600 from creation)."""
    directory = directory or config_dir()
    existing = load_client_cert(directory)
    if existing:
        return existing
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise LxdplanError(f"cannot create the config directory {directory}: {exc.strerror}") from None
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"lxdplan@{socket.gethostname()}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(key, hashes.SHA384())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_path, cert_path = directory / KEY_NAME, directory / CERT_NAME
    try:
        for stale in (key_path, cert_path):  # half a pair: never reuse a file's old permissions
            stale.unlink(missing_ok=True)
        write_private(key_path, key_pem, what="lxdplan's client key")
        write_private(cert_path, cert_pem, what="lxdplan's client certificate")
    except OSError as exc:
        raise LxdplanError(f"cannot write the client certificate in {directory}: {exc.strerror}") from None
    return ClientCert(cert_path, key_path, fingerprint(cert_pem), created=True)

