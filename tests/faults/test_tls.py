"""The fault matrix: certificates and the files that hold them (issue 17).

A member's certificate is accepted when it is its declared fingerprint or the one the user
accepted with ``lxdplan auth trust`` (before it joined), or this cluster's certificate learnt over
a verified connection (after); the pin store keeps them per cluster (``lxdplan.providers.pins``).
Real LXD labs reached over HTTPS where a member is involved; a corrupt pin store is found before
any connection, so that case needs no server.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from applykit import cli, query
from handform import unix
from lxdplan.providers.certs import fingerprint
from lxdplan.providers.client import probe_certificate


def one_error(done: subprocess.CompletedProcess) -> str:
    """The single ``error:`` sentence of a failed command (exit 1, no traceback)."""
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, done.stderr
    return lines[0].removeprefix("error: ")


def listen(lab, **config: str) -> None:
    """Each member listens on its lab address (what `lxd init` leaves), with ``config``."""
    for m in lab.members:
        with unix(m.socket, m.name) as local:
            local.patch("/1.0", {"config": {"core.https_address": m.address, **config}})


def test_a_failed_join_after_auth_trust_reaches_the_member_next_time(make_lab, tmp_path):
    """A failed join when the pins came from auth trust (no declared fingerprints): the next apply reaches the member and converges."""
    lab = make_lab("lxd", 2)
    listen(lab, **{"core.trust_password": "tls-pw"})
    sources = {m.name: tmp_path / f"data-{m.name}" for m in lab.members}
    sources["node1"].mkdir()  # node2's is missing: its join fails creating the pool
    path = tmp_path / "lxdplan.yaml"

    def write(names: list[str]) -> None:
        members = [{"name": m.name, "address": m.address, "endpoint": f"https://{m.address}",
                    "trust": {"password": {"env": "TLS_PW"}}} for m in lab.members if m.name in names]
        path.write_text(yaml.safe_dump({
            "version": 1, "backend": "lxd", "cluster": {"members": members},
            "storage_pools": [{"name": "data", "driver": "dir",
                               "members": {n: {"source": str(s)} for n, s in sources.items()
                                           if n in names}}]}))

    write(["node1", "node2"])
    env = {"LXDPLAN_CONFIG_DIR": str(tmp_path / "config"), "TLS_PW": "tls-pw"}
    trusted = cli("auth", "trust", "-f", str(path), "--yes", env=env)
    assert trusted.returncode == 0 and trusted.stdout.count("certificate accepted") == 2, trusted.stderr

    # The pool exists before node2 joins, so its join carries node2's source (member_config) and
    # fails there (a forming apply joins empty members first).
    write(["node1"])
    formed = cli("apply", "-f", str(path), "--auto-approve", env=env)
    assert formed.returncode == 0, formed.stdout + formed.stderr
    write(["node1", "node2"])
    failed = cli("apply", "-f", str(path), "--auto-approve", env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "(join on node2) failed" in failed.stderr, failed.stderr
    assert [m["server_name"] for m in query(lab, "/1.0/cluster/members?recursion=1")] == ["node1"]

    sources["node2"].mkdir()  # the cause fixed
    again = cli("apply", "-f", str(path), "--auto-approve", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "presented certificate" not in again.stderr
    planned = cli("plan", "-f", str(path), "--detailed-exitcode", env=env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert sorted(m["server_name"] for m in query(lab, "/1.0/cluster/members?recursion=1")) == [
        "node1", "node2"]


def test_a_corrupt_pin_store_is_one_sentence_naming_it(tmp_path):
    """A corrupt known.json (truncated, or not a pin store): one sentence naming the file, exit 1."""
    config = tmp_path / "config"
    config.mkdir()
    store = config / "known.json"
    path = tmp_path / "lxdplan.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "cluster": {"members": [
        {"name": "node1", "address": "127.0.0.1:9", "endpoint": "https://127.0.0.1:9"}]}}))
    env = {"LXDPLAN_CONFIG_DIR": str(config)}
    for text in ('{"version": 2, "clusters": {"127.0.0.1:9": {"clu', "[]"):
        store.write_text(text)
        for command in ("plan", "status"):
            message = one_error(cli(command, "-f", str(path), env=env))
            assert message.startswith(f"the pin store {store} "), message
        assert store.read_text() == text  # left as found


def test_a_corrupt_client_key_is_one_sentence_naming_it(make_lab, tmp_path):
    """A corrupt client key: one sentence naming the file, exit 1."""
    lab = make_lab("lxd", 1)
    listen(lab)
    node = lab.members[0]
    fp = fingerprint(probe_certificate(f"https://{node.address}"))
    path = tmp_path / "lxdplan.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "cluster": {"members": [
        {"name": "node1", "address": node.address, "endpoint": f"https://{node.address}",
         "fingerprint": fp}]}}))
    env = {"LXDPLAN_CONFIG_DIR": str(tmp_path / "config")}
    assert cli("auth", "init", env=env).returncode == 0
    key = Path(env["LXDPLAN_CONFIG_DIR"]) / "client.key"
    key.write_text(key.read_text()[:120] + "\n-----END PRIVATE KEY-----\n")
    os.chmod(key, 0o600)
    message = one_error(cli("plan", "-f", str(path), env=env))
    assert message.startswith(f"the client key {key} cannot be used ("), message
