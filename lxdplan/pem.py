"""Certificates as lxdplan reads them: PEM in files and answers, DER on the wire, SHA-256
fingerprints in lowercase hex (the form LXD and Incus list). One place for both the client's
certificate (providers) and the ones the file declares (the certificates kind)."""

from __future__ import annotations

import base64
import hashlib
import ssl


def der(cert: str | bytes) -> bytes:
    """The DER form of a PEM certificate (str or bytes); DER is returned as given. ValueError when
    PEM armour holds nothing a certificate could be."""
    if isinstance(cert, str):
        cert = cert.encode()
    if cert.lstrip().startswith(b"-----BEGIN"):
        return ssl.PEM_cert_to_DER_cert(cert.decode())
    return cert


def fingerprint(cert: str | bytes) -> str:
    """SHA-256 of a certificate's DER form, lowercase hex; accepts PEM (str/bytes) or DER."""
    return hashlib.sha256(der(cert)).hexdigest()


def declared_der(pem: str | bytes) -> bytes:
    """The DER form of the first X.509 certificate in a PEM file the user gave; ValueError when it
    holds none (a key, garbage inside PEM armour, no armour)."""
    from cryptography import x509  # only for files that declare certificates: start-up stays light
    from cryptography.hazmat.primitives import serialization

    data = pem.encode() if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)


def check_certificate(pem: str | bytes) -> str:
    """The fingerprint of the certificate a user's PEM gives (as ``declared_der``)."""
    return hashlib.sha256(declared_der(pem)).hexdigest()


def der_base64(pem: str | bytes) -> str:
    """The base64 DER a declared certificate is POSTed as (``/1.0/certificates`` takes no PEM)."""
    return base64.b64encode(declared_der(pem)).decode()
