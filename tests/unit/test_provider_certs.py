"""The client certificate and the pin store (no network)."""

from __future__ import annotations

import os
import ssl
import stat

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from lxdplan.providers import pins
from lxdplan.providers.certs import ensure_client_cert, fingerprint, load_client_cert


def test_client_certificate_is_made_once_with_a_private_key_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LXDPLAN_CONFIG_DIR", str(tmp_path / "cfg"))
    old = os.umask(0)  # the key's mode must come from its creation, not from the umask
    try:
        made = ensure_client_cert()
    finally:
        os.umask(old)
    assert made.created and made.cert_path == tmp_path / "cfg" / "client.crt"
    assert stat.S_IMODE(made.key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(made.cert_path.read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp384r1"
    assert cert.subject.rfc4514_string().startswith("CN=lxdplan@")
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 3649
    again = ensure_client_cert()
    assert not again.created and again.fingerprint == made.fingerprint
    assert load_client_cert().fingerprint == made.fingerprint


def test_fingerprint_of_pem_and_der_agree(tmp_path):
    made = ensure_client_cert(tmp_path)
    pem = made.cert_path.read_text()
    assert fingerprint(pem) == fingerprint(ssl.PEM_cert_to_DER_cert(pem)) == made.fingerprint
    assert len(made.fingerprint) == 64 and made.fingerprint == made.fingerprint.lower()


def test_pin_store_keys_by_host_and_port(tmp_path):
    made = ensure_client_cert(tmp_path)
    pem = made.cert_path.read_text()
    pins.remember(["https://10.0.0.1:8443", "10.0.0.2:8443"], certificate=pem, directory=tmp_path)
    pins.remember("https://10.0.0.3:8443", fp="AB:CD", source=pins.ACCEPTED, directory=tmp_path)
    assert pins.lookup("10.0.0.1:8443", tmp_path)["fingerprint"] == made.fingerprint
    assert pins.lookup("https://10.0.0.2:8443/", tmp_path)["source"] == pins.CLUSTER
    assert pins.lookup("https://10.0.0.3:8443", tmp_path)["fingerprint"] == "abcd"
    assert pins.lookup("10.0.0.9:8443", tmp_path) is None
    assert stat.S_IMODE(pins.store_path(tmp_path).stat().st_mode) == 0o600
    pins.forget("10.0.0.3:8443", tmp_path)
    assert pins.lookup("10.0.0.3:8443", tmp_path) is None
