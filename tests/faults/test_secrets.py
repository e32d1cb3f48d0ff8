"""Secret canaries on real LXD and Incus clusters: known values for every kind of secret, through
every command and output format, must never come out of lxdplan except in the 0600 join preseed.

The servers differ in their secret server keys: LXD 5.0 has ``core.trust_password`` and
``candid.api.key``, Incus 6.0 neither but ``loki.auth.password``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from applykit import cli, client_cmd, write
from labkit import BACKENDS, lab_root, new_name, require_backend
from lxdplan import lab as labapi
from lxdplan.lab.labfile import lab_document

CANARIES = {
    "LXDPLAN_T_TRUST_PW": "canary-trust-password-5b1e",  # core.trust_password {env:}
    "LXDPLAN_T_TOKEN": "canary-trust-token-77c3",  # node3's trust token {env:}
    "LXDPLAN_T_ENV": "canary-instance-env-19af",  # an instance's environment, marked by {env:}
    "LXDPLAN_T_OBJ": "canary-project-secret-a0d4",  # a secret in a project's config
}
FILE_CANARY = "canary-file-secret-3c62"  # the server's secret key (FILE_KEY) {file:}
LIVE_CANARY = "canary-live-db-password-e815"  # instance c1's environment.DB_PASSWORD, set live
LIVE_ROTATED = "canary-live-before-rotation-91d2"  # FILE_KEY live, then rotated
ALL = [*CANARIES.values(), FILE_CANARY, LIVE_CANARY, LIVE_ROTATED]
FILE_KEY = {"lxd": "candid.api.key", "incus": "loki.auth.password"}


def _fingerprint(daemon_dir: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(Path(daemon_dir, "server.crt").read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex()


@pytest.fixture(scope="module", params=BACKENDS)
def secret_lab(request, tmp_path_factory):
    """A 3-member lab: node1 and node2 form the cluster from a file holding a secret of every
    kind; node3 listens on HTTPS and is declared with a wrong trust token (a join that fails)."""
    backend = request.param
    require_backend(backend)
    lab = labapi.up(name=new_name(f"secrets-{backend}"), backend=backend, members=3, root=lab_root())
    workdir = tmp_path_factory.mktemp(f"secrets-{backend}")
    os.chmod(workdir, 0o755)  # so the mode check below is about the files themselves
    secret_file = workdir / "server-key"
    secret_file.write_text(FILE_CANARY + "\n")
    doc = lab_document(lab)
    members = doc["cluster"]["members"]
    node3 = lab.members[2]
    client_cmd(lab, "config", "set", "core.https_address", node3.address, member=2)
    members[2] = {"name": node3.name, "address": node3.address,
                  "endpoint": f"https://{node3.address}",
                  "fingerprint": _fingerprint(node3.daemon_dir),
                  "trust": {"token": {"env": "LXDPLAN_T_TOKEN"}}}
    doc["cluster"]["config"] = {FILE_KEY[backend]: {"file": str(secret_file)}}
    if backend == "lxd":
        doc["cluster"]["config"]["core.trust_password"] = {"env": "LXDPLAN_T_TRUST_PW"}
    doc["projects"] = [{"name": "canary", "config": {"user.canary": {"env": "LXDPLAN_T_OBJ"}}}]
    doc["instances"] = [{"name": "c1", "image": "busybox", "member": members[0]["name"],
                         "state": "stopped",
                         "config": {"environment.APP_GREETING": {"env": "LXDPLAN_T_ENV"}}}]
    formed = copy.deepcopy(doc)
    formed["cluster"]["members"] = members[:2]
    env = {**CANARIES}
    try:
        yield lab, workdir, env, write(formed, workdir / "formed.yaml"), write(doc, workdir / "all.yaml")
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


def _join_token(blob: str) -> bool:
    """``blob`` is a join token: base64 of JSON holding a ``secret``."""
    try:
        return "secret" in json.loads(base64.b64decode(blob + "=" * (-len(blob) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False


def _files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def test_secret_canaries_appear_only_in_the_join_preseed(secret_lab):
    """Secret canaries (trust password and token, {file:} secret, live secret keys, instance environment and project config secrets) through validate, plan in every format and --out, apply --debug and --rotate, import, auth trust, status, export, convert-preseed and a failing join: none leaves lxdplan except in the 0600 join preseed, and every file lxdplan writes is 0600 or in a 0700 directory."""
    lab, workdir, env, formed, everything = secret_lab
    node3 = lab.members[2]
    key = FILE_KEY[lab.backend]
    seen: list[tuple[str, str]] = []

    def run(*args: str) -> object:
        done = cli(*args, env=env)
        seen.append((" ".join(args), done.stdout + done.stderr))
        assert "Traceback" not in done.stderr, f"{args}: {done.stderr}"
        return done

    assert run("validate", "-f", formed).returncode == 0
    applied = run("apply", "-f", formed, "--auto-approve", "--debug")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # Live secrets the file changes: one the file leaves out (removed), one it rotates.
    client_cmd(lab, "config", "set", "c1", "environment.DB_PASSWORD", LIVE_CANARY)
    client_cmd(lab, "config", "set", key, LIVE_ROTATED)

    plan_path = workdir / "saved.plan"
    for fmt in ("text", "json", "markdown"):
        run("plan", "-f", everything, "--format", fmt, "--rotate", key)
    run("plan", "-f", everything, "--out", str(plan_path), "--rotate", key, "--debug")
    assert plan_path.exists()
    unrotated = run("plan", "-f", formed).stdout  # a set key matches its secret reference
    assert key not in unrotated and "environment.DB_PASSWORD" in unrotated
    rotated = run("plan", "-f", everything, "--rotate", key).stdout
    assert f'config["{key}"] = (sensitive) -> (sensitive)' in rotated
    assert 'config["environment.DB_PASSWORD"] = (sensitive)' in rotated
    rotating = run("apply", "-f", formed, "--auto-approve", "--debug", "--rotate", key)
    assert rotating.returncode == 0, rotating.stdout + rotating.stderr
    got = client_cmd(lab, "config", "get", key).stdout.strip()
    assert got == FILE_CANARY, "apply --rotate did not write the secret again"
    failing = run("apply", "-f", everything, "--auto-approve", "--debug")
    assert failing.returncode != 0  # node3's trust token is wrong: its join cannot happen
    assert run("import", "-f", formed, "--debug").returncode == 0
    trusting = run("auth", "trust", "-f", everything, "--debug")
    assert trusting.returncode != 0  # the same wrong token
    status = run("status", "-f", everything)
    assert status.returncode == 0 and "not joined" in status.stdout, status.stdout + status.stderr
    exported = workdir / "exported.yaml"
    run("export", "-f", formed, "-o", str(exported))
    run("export", "-f", formed)
    preseed = workdir / "node3-join.yaml"
    joined = run("join-preseed", lab.members[2].name, "-f", everything, "-o", str(preseed))
    assert joined.returncode == 0, joined.stdout + joined.stderr

    preseed_in = workdir / "boot-preseed.yaml"
    preseed_in.write_text(f"config:\n  core.https_address: {lab.members[0].address}\n"
                          f"  core.trust_password: {CANARIES['LXDPLAN_T_TRUST_PW']}\n"
                          f"  candid.api.key: {FILE_CANARY}\n"
                          "cluster:\n  server_name: node1\n  enabled: true\n")
    converted = workdir / "converted.yaml"
    assert run("convert-preseed", str(preseed_in), "-o", str(converted)).returncode == 0
    assert run("convert-preseed", str(preseed_in)).returncode == 0
    # A join that LXD itself refuses (node3's pool source is a file): the join token lxdplan
    # minted for it, and LXD's words about it, are not printed either.
    failed_join = yaml.safe_load(Path(formed).read_text())
    failed_join["cluster"]["members"].append(
        {"name": node3.name, "address": node3.address, "endpoint": node3.endpoint})
    failed_join["storage_pools"][0]["members"] = {node3.name: {"source": "/etc/hostname"}}
    joining = run("apply", "-f", write(failed_join, workdir / "failed-join.yaml"),
                  "--auto-approve", "--debug")
    assert joining.returncode == 1 and f"join member \"{node3.name}\"" in joining.stdout, (
        joining.stdout + joining.stderr)
    tokens = [(what, blob) for what, text in seen for blob in re.findall(r"[A-Za-z0-9+/=]{60,}", text)
              if _join_token(blob)]
    assert not tokens, f"join tokens printed: {tokens}"
    leaks = [(what, c) for what, text in seen for c in ALL if c in text]
    assert not leaks, f"canaries printed: {leaks}"
    config_dir = Path(os.environ["LXDPLAN_CONFIG_DIR"])
    lock_dir = Path(os.environ["LXDPLAN_LOCK_DIR"])
    written = [p for p in _files_under(workdir, config_dir, lock_dir)
               if p.name not in ("server-key", "boot-preseed.yaml")
               and (p.suffix != ".yaml" or p in (exported, preseed, converted))]
    for path in written:
        if path == preseed:
            continue
        text = path.read_text(errors="replace")
        leaked = [c for c in ALL if c in text]
        assert not leaked, f"{path} holds canaries {leaked}"
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        parent = stat.S_IMODE(path.parent.stat().st_mode)
        assert mode & 0o077 == 0 or parent & 0o077 == 0, f"{path} is {oct(mode)} in a {oct(parent)} directory"
    for path in (exported, converted):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(plan_path.stat().st_mode) == 0o600
    if preseed.exists():
        assert stat.S_IMODE(preseed.stat().st_mode) == 0o600
