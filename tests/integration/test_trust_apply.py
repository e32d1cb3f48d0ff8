"""Meeting operators where they are, on real LXD and Incus labs reached over HTTPS only:

- ``endpoint: remote:NAME`` through a client configuration made by the real ``lxc remote add`` /
  ``incus remote add`` with a trust token: plan and apply need no ``lxdplan auth``;
- one ``apply`` from fresh servers (trust password on LXD, trust tokens on Incus, fingerprints
  declared) redeems the declared trust itself and forms the cluster; ``--debug`` shows every
  request and no secret.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from applykit import cli
from handform import trust_token, unix
from labkit import BACKENDS
from lxdplan.providers.certs import fingerprint
from lxdplan.providers.client import probe_certificate


def tool(lab, member, conf: Path, *args: str) -> str:
    """`lxc` / `incus` with the lab member as its local server and ``conf`` as its client
    configuration (never the user's)."""
    if lab.backend == "lxd":
        argv, env = ["lxc", *args], {"LXD_DIR": member.daemon_dir, "LXD_CONF": str(conf)}
    else:
        argv, env = ["incus", *args], {"INCUS_DIR": member.daemon_dir, "INCUS_CONF": str(conf)}
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
    return done.stdout


def write(path: Path, backend: str, members: list[dict], **more) -> str:
    doc = {"version": 1, "backend": backend, "cluster": {"members": members}, **more}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def one_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, done.stderr
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("backend", BACKENDS)
def test_remote_endpoints_from_the_client_configuration(make_lab, backend, tmp_path):
    lab = make_lab(backend, 2)
    conf = tmp_path / "client-conf"
    for m in lab.members:
        # LXD 5.0.2 issues a token only once the member listens on the network.
        unix(m.socket, m.name).patch("/1.0", {"config": {"core.https_address": m.address}})
        if backend == "lxd":
            token = tool(lab, m, conf, "config", "trust", "add", "--name", "operator").split()[-1]
            tool(lab, m, conf, "remote", "add", f"lab-{m.name}", token)  # 5.0.2: no --token flag
        else:
            token = tool(lab, m, conf, "config", "trust", "add", "operator").split()[-1]
            tool(lab, m, conf, "remote", "add", f"lab-{m.name}", f"https://{m.address}",
                 "--token", token, "--accept-certificate")
    assert (conf / "servercerts" / "lab-node2.crt").is_file()
    members = [{"name": m.name, "address": m.address, "endpoint": f"remote:lab-{m.name}"}
               for m in lab.members]
    file = write(tmp_path / "lxdplan.yaml", backend, members,
                 profiles=[{"name": "web", "description": "over the remotes"}])
    own = tmp_path / "lxdplan-config"  # lxdplan's own directory: no certificate of its own
    env = {"LXDPLAN_CONFIG_DIR": str(own), ("LXD_CONF" if backend == "lxd" else "INCUS_CONF"): str(conf)}

    planned = cli("plan", "-f", file, "--detailed-exitcode", env=env)
    assert planned.returncode == 2, planned.stderr
    assert "blocked" not in planned.stdout and "bootstrap" in planned.stdout
    applied = cli("apply", "-f", file, "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = cli("plan", "-f", file, "--detailed-exitcode", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    exported = cli("export", "--endpoint", "remote:lab-node1", env=env)  # as `lxc` would name it
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    assert [m["name"] for m in document["cluster"]["members"]] == ["node1", "node2"]
    assert [p["name"] for p in document["profiles"] if p["name"] == "web"] == ["web"]
    assert not (own / "client.crt").exists()  # the lxc/incus client certificate did it all

    stray = write(tmp_path / "stray.yaml", backend,
                  [{**members[0], "endpoint": "remote:nowhere"}, members[1]])
    message = one_error(cli("plan", "-f", stray, env=env))
    assert message.startswith("member node1 uses remote nowhere, which is not a remote of the ")
    assert str(conf) in message
    (conf / "servercerts" / "lab-node2.crt").unlink()
    message = one_error(cli("plan", "-f", file, env=env))
    assert message.startswith(f"member node2 uses remote lab-node2 (https://{lab.members[1].address}),"
                              f" whose server certificate is not pinned")


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_apply_forms_the_cluster_over_https_from_fresh_servers(make_lab, backend, tmp_path):
    lab = make_lab(backend, 3)
    secrets: dict[str, str] = {}
    members = []
    for i, m in enumerate(lab.members, start=1):
        local = unix(m.socket, m.name)
        if backend == "lxd":  # what an operator's `lxd init` leaves: a listener and a password
            local.patch("/1.0", {"config": {"core.https_address": m.address,
                                            "core.trust_password": "fresh-pw"}})
            secrets["LAB_TRUST_PASSWORD"] = "fresh-pw"
            trust = {"password": {"env": "LAB_TRUST_PASSWORD"}}
        else:  # Incus: a trust token issued on the member itself
            local.patch("/1.0", {"config": {"core.https_address": m.address}})
            secrets[f"NODE{i}_TOKEN"] = trust_token(local, f"lxdplan-{m.name}")
            trust = {"token": {"env": f"NODE{i}_TOKEN"}}
        local.close()
        fp = fingerprint(probe_certificate(f"https://{m.address}"))
        members.append({"name": m.name, "address": m.address, "endpoint": f"https://{m.address}",
                        "fingerprint": fp, "trust": trust})
    file = write(tmp_path / "lxdplan.yaml", backend, members,
                 profiles=[{"name": "web", "description": "formed over HTTPS"}])
    env = {"LXDPLAN_CONFIG_DIR": str(tmp_path / "lxdplan-config"), **secrets}

    # Untrusted, lxdplan cannot tell whether node1 formed a cluster already: plan says so.
    unknown = one_error(cli("plan", "-f", file, "--detailed-exitcode", env=env))
    assert unknown.startswith("the cluster's state is unknown") and "no cluster" not in unknown
    assert "node1, node2 and node3 do not trust lxdplan's client certificate" in unknown
    assert "apply redeems the declared trust itself" in unknown

    applied = cli("apply", "-f", file, "--auto-approve", "--debug", env=env)
    shown = applied.stdout + applied.stderr
    assert applied.returncode == 0, shown
    assert "now trusted by node1, node2, node3" in applied.stdout
    assert "done: join member \"node3\"" in applied.stdout
    for request in ("POST /1.0/certificates -> 201", "PUT /1.0/cluster -> ", "GET /1.0 -> 200",
                    "/wait?timeout=30 -> 200"):
        assert request in applied.stderr, applied.stderr
    assert all(line.startswith("debug: node") for line in applied.stderr.splitlines()), applied.stderr
    for value in secrets.values():
        assert value not in shown

    again = cli("plan", "-f", file, "--detailed-exitcode", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    listed = cli("status", "-f", file, env=env)
    assert listed.returncode == 0 and "node3" in listed.stdout, listed.stderr
