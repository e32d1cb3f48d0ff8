"""The client certificate and the pin store (no network)."""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import sys

import pytest

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from lxdplan.errors import LxdplanError
from lxdplan.providers import pins
from lxdplan.providers.certs import ensure_client_cert, fingerprint, load_chain, load_client_cert


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


def test_pin_store_keeps_each_clusters_pins_apart(tmp_path):
    """Pins are per cluster: what one cluster's scope holds is never offered to another's, and
    the cluster certificate never replaces a certificate the user accepted for a member."""
    accepted = ensure_client_cert(tmp_path / "a").cert_path.read_text()
    cluster = ensure_client_cert(tmp_path / "b").cert_path.read_text()
    newer = ensure_client_cert(tmp_path / "c").cert_path.read_text()
    pins.remember_accepted("10.0.0.1:8443", "https://10.0.0.2:8443", accepted, tmp_path)
    pins.remember_cluster("10.0.0.1:8443", cluster, tmp_path)
    mine = pins.scope("10.0.0.1:8443", tmp_path)
    assert [p.fingerprint for p in mine.for_endpoint("10.0.0.2:8443/")] == [
        fingerprint(accepted), fingerprint(cluster)]
    assert [p.fingerprint for p in mine.for_endpoint("https://10.0.0.3:8443")] == [fingerprint(cluster)]
    assert pins.scope("10.9.9.9:8443", tmp_path).for_endpoint("https://10.0.0.2:8443") == []
    pins.remember_cluster("10.0.0.1:8443", newer, tmp_path)  # a new bootstrap: a new cluster
    again = pins.scope("10.0.0.1:8443", tmp_path)
    assert [p.fingerprint for p in again.for_endpoint("10.0.0.2:8443")] == [
        fingerprint(accepted), fingerprint(newer)]
    assert stat.S_IMODE(pins.store_path(tmp_path).stat().st_mode) == 0o600


def test_a_version_1_pin_store_widens_nothing(tmp_path):
    """The old store (one map by address, shared by every cluster) is not read."""
    old = ensure_client_cert(tmp_path / "a").cert_path.read_text()
    pins.store_path(tmp_path).write_text(json.dumps({"version": 1, "hosts": {
        "10.0.0.2:8443": {"fingerprint": fingerprint(old), "certificate": old, "source": "cluster"}}}))
    assert pins.scope("10.0.0.1:8443", tmp_path).for_endpoint("10.0.0.2:8443") == []


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"version": 7, "clusters": {}}',
                                  '{"version": 2, "clusters": {"a:8443": {"cluster": {"x": 1}}}}',
                                  '{"version": 2, "clusters": {"a:8443": {"cluster": '
                                  '{"fingerprint": "ab", "certificate": "-----BEGIN CERTIFICATE-----\\nxx"}}}}'])
def test_a_corrupt_pin_store_is_one_sentence_naming_it(tmp_path, text):
    path = pins.store_path(tmp_path)
    path.write_text(text)
    with pytest.raises(LxdplanError) as info:
        pins.scope("a:8443", tmp_path)
    message = str(info.value)
    assert message.startswith(f"the pin store {path} ") and "\n" not in message
    with pytest.raises(LxdplanError):  # nor is it overwritten
        pins.remember_cluster("a:8443", ensure_client_cert(tmp_path / "a").cert_path.read_text(), tmp_path)
    assert path.read_text() == text


def test_pin_store_writes_from_many_processes_lose_nothing(tmp_path):
    """Read-modify-write under a flock, replaced atomically: 8 processes each pinning 5
    members at once leave all 40 pins."""
    pem = ensure_client_cert(tmp_path / "a").cert_path.read_text()
    (tmp_path / "cert.pem").write_text(pem)
    code = ("import sys; from pathlib import Path; from lxdplan.providers import pins\n"
            "pem = Path(sys.argv[2], 'cert.pem').read_text()\n"
            "for j in range(5):\n"
            "    pins.remember_accepted('c:8443', f'10.0.{sys.argv[1]}.{j}:8443', pem, Path(sys.argv[2]))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i), str(tmp_path)]) for i in range(8)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 8
    assert len(pins.scope("c:8443", tmp_path).accepted) == 40
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_corrupt_client_key_is_one_sentence_naming_it(tmp_path):
    made = ensure_client_cert(tmp_path)
    made.key_path.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(LxdplanError) as info:
        load_chain(ssl.create_default_context(), made)
    assert str(info.value).startswith(f"the client key {made.key_path} cannot be used (")
    made.cert_path.write_text("-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n")
    with pytest.raises(LxdplanError, match=f"the client certificate {made.cert_path} cannot be read"):
        load_client_cert(tmp_path)
