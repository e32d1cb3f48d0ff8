"""The trust store (``certificates:``) on real LXD and Incus.

One 1-member lab per backend (module scope); the scenario is one test per backend:
- one apply forms the cluster and trusts the declared certificates (a restricted client and a
  metrics one) in the same run, after the bootstrap; the plan is then empty;
- a changed name, ``restricted`` and ``projects`` is one update;
- a change made through the API outside lxdplan shows in the plan and apply puts it back;
- a certificate trusted by hand is listed as unmanaged and left alone;
- a new PEM under a name replaces the certificate (created first, the old one deleted);
- the export plans empty and ``import`` of it adopts the hand-made one;
- lxdplan's own client certificate, once declared and then dropped, is a plan error;
- dropping a managed one (the adopted one too) deletes it and its fingerprint leaves
  ``user.lxdplan.certificates``;
- ``lxdplan trust-token NAME`` writes a token for a named client (0600) the server holds.
Certificates are generated here (``cryptography``); no key is written anywhere.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import os
import ssl
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from applykit import apply_ok, assert_converged, cli, client_cmd, one_error, plan_json, query, write
from labkit import BACKENDS, lab_root, start_lab
from lxdplan import lab as labapi

OWNER_KEY = "user.lxdplan.certificates"


def make_cert(cn: str, key: ec.EllipticCurvePrivateKey | None = None) -> tuple[str, str, str]:
    """(PEM, fingerprint, base64 DER) of a new self-signed certificate (its key dropped unless
    given)."""
    key = key or ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA384()))
    der = cert.public_bytes(serialization.Encoding.DER)
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            cert.fingerprint(hashes.SHA256()).hex(), base64.b64encode(der).decode())


def trusted(lab) -> dict[str, dict]:
    return {c["fingerprint"]: c for c in query(lab, "/1.0/certificates?recursion=1")
            if c["type"] != "server"}


def owned(lab) -> set[str]:
    raw = (query(lab, "/1.0")["config"] or {}).get(OWNER_KEY, "")
    return {n for n in raw.split(",") if n}


@pytest.fixture(scope="module", params=BACKENDS)
def cert_lab(request, tmp_path_factory):
    lab = start_lab(request.param, f"crt-{request.param}", 1)
    try:
        yield lab, tmp_path_factory.mktemp(f"crt-{request.param}")
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


def test_certificates_bootstrap_change_drift_replace_export_adopt_and_delete(cert_lab):
    lab, workdir = cert_lab
    path = str(workdir / "lxdplan.yaml")
    incus = lab.backend == "incus"
    (ci_pem, ci_fp, _), (mon_pem, mon_fp, _) = make_cert("ci"), make_cert("mon")
    (workdir / "ci.crt").write_text(ci_pem)
    (workdir / "mon.crt").write_text(mon_pem)
    m = lab.members[0]
    ci = {"name": "ci", "type": "client", "certificate": {"file": "ci.crt"},
          "restricted": True, "projects": ["p1"]}
    if incus:
        ci["description"] = "the CI runner"
    doc = {"version": 1, "backend": lab.backend,
           "cluster": {"members": [{"name": m.name, "address": m.address, "endpoint": m.endpoint}]},
           "projects": [{"name": "p1"}],
           "certificates": [ci, {"name": "mon", "type": "metrics",
                                 "certificate": {"file": str(workdir / "mon.crt")}}]}
    write(doc, Path(path))

    # Formed and trusted in one apply, the certificates after the bootstrap.
    out = apply_ok(path)
    assert out.index("done: bootstrap") < out.index('done: create certificate "ci"'), out
    live = trusted(lab)
    assert live[ci_fp]["name"] == "ci" and live[ci_fp]["restricted"] is True
    assert live[ci_fp]["projects"] == ["p1"] and live[mon_fp]["type"] == "metrics"
    if incus:
        assert live[ci_fp]["description"] == "the CI runner"
    assert owned(lab) == {ci_fp, mon_fp}
    assert_converged(path)

    # A changed name, restricted and projects: one update.
    doc = copy.deepcopy(doc)
    doc["certificates"][0].update(name="ci-runner", restricted=False, projects=[])
    write(doc, Path(path))
    steps = plan_json(path)["steps"]
    assert [(s["action"], s["kind"], s["name"]) for s in steps] == [
        ("update", "certificate", "ci-runner")]
    assert steps[0]["before"] == {"name": "ci", "restricted": True, "projects": ["p1"]}
    apply_ok(path)
    assert (trusted(lab)[ci_fp]["name"], trusted(lab)[ci_fp]["restricted"]) == ("ci-runner", False)
    assert_converged(path)

    # Drift made through the API outside lxdplan shows in the plan; apply puts it back.
    client_cmd(lab, "query", "-X", "PATCH", f"/1.0/certificates/{ci_fp}", "--data",
               json.dumps({"restricted": True, "projects": ["p1"]}))
    steps = plan_json(path)["steps"]
    assert [(s["action"], s["name"], s["before"]) for s in steps] == [
        ("update", "ci-runner", {"restricted": True, "projects": ["p1"]})]
    apply_ok(path)
    assert trusted(lab)[ci_fp]["restricted"] is False
    assert_converged(path)

    # Trusted by hand: listed, never deleted.
    hand_pem, hand_fp, hand_der = make_cert("hand")
    client_cmd(lab, "query", "-X", "POST", "/1.0/certificates", "--data", json.dumps(
        {"name": "hand", "type": "client", "certificate": hand_der}))
    listed = assert_converged(path)
    assert "certificate hand" in listed, listed
    apply_ok(path)
    assert hand_fp in trusted(lab)

    # A new PEM under a name: the new one is trusted first, then the old one deleted.
    new_pem, new_fp, _ = make_cert("ci-2")
    (workdir / "ci.crt").write_text(new_pem)
    steps = plan_json(path)["steps"]
    assert [(s["action"], s["name"]) for s in steps] == [
        ("create", "ci-runner"), ("delete", "ci-runner")], steps
    assert "replaces" in steps[0]["reason"] and steps[0]["id"] in steps[1]["depends_on"]
    apply_ok(path)
    assert ci_fp not in trusted(lab) and new_fp in trusted(lab)
    assert owned(lab) == {new_fp, mon_fp}
    assert_converged(path)

    # The export plans empty; importing it adopts the hand-made one.
    exported = workdir / "exported.yaml"
    done = cli("export", "-f", path, "-o", str(exported))
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(exported.read_text())
    assert {c["name"] for c in data["certificates"]} == {"ci-runner", "mon", "hand"}
    assert_converged(str(exported))
    done = cli("import", "-f", str(exported))
    assert done.returncode == 0, done.stderr
    assert owned(lab) == {new_fp, mon_fp, hand_fp}
    assert_converged(str(exported))

    # lxdplan's own client certificate: trusted when declared, never deleted when dropped.
    # (The adopted hand-made one, which this file does not declare, is deleted now.)
    assert cli("auth", "init").returncode == 0
    own = Path(os.environ["LXDPLAN_CONFIG_DIR"]) / "client.crt"
    with_own = copy.deepcopy(doc)
    with_own["certificates"].append({"name": "lxdplan", "certificate": {"file": str(own)}})
    write(with_own, Path(path))
    out = apply_ok(path)
    assert 'done: delete certificate "hand"' in out and 'done: create certificate "lxdplan"' in out
    assert hand_fp not in trusted(lab) and hand_fp not in owned(lab)
    write(doc, Path(path))
    error = one_error(cli("plan", "-f", path))
    assert "is the one lxdplan connects with" in error and "never deletes it" in error, error

    # Dropping a managed one deletes it; the key forgets it.
    doc = copy.deepcopy(with_own)
    doc["certificates"] = [c for c in doc["certificates"] if c["name"] != "mon"]
    write(doc, Path(path))
    out = apply_ok(path)
    assert 'done: delete certificate "mon"' in out
    assert mon_fp not in trusted(lab) and new_fp in trusted(lab) and mon_fp not in owned(lab)
    assert_converged(path)

    # A trust token for a named client, written 0600; the server holds it until it is redeemed.
    token_path = workdir / "laptop.token"
    done = cli("trust-token", "laptop", "-f", path, "-o", str(token_path))
    assert done.returncode == 0, done.stderr
    assert token_path.stat().st_mode & 0o777 == 0o600
    token = json.loads(base64.b64decode(token_path.read_text().strip()))
    assert token["client_name"] == "laptop" and token["secret"] and token["addresses"]
    ops = query(lab, "/1.0/operations?recursion=1")
    pending = [o for group in ops.values() for o in group if o.get("class") == "token"]
    assert any((o["metadata"] or {}).get("secret") == token["secret"] for o in pending)
    assert token["secret"] not in done.stdout + done.stderr
    # A client redeems it over HTTPS with its own certificate (key in the test's temp dir).
    key = ec.generate_private_key(ec.SECP384R1())
    laptop_pem, laptop_fp, _ = make_cert("laptop", key)
    (workdir / "laptop.crt").write_text(laptop_pem)
    (workdir / "laptop.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    field = "trust_token" if incus else "password"
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # the test's client only
    tls.load_cert_chain(workdir / "laptop.crt", workdir / "laptop.key")
    with httpx.Client(verify=tls, timeout=30) as https:
        answer = https.post(f"https://{m.address}/1.0/certificates",
                            json={"type": "client", field: token_path.read_text().strip()})
    assert answer.status_code in (200, 201), answer.text
    assert trusted(lab)[laptop_fp]["name"] == "laptop"
    assert "certificate laptop" in assert_converged(path)  # trusted by hand: listed
