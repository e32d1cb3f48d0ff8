"""`lxdplan lab`: real daemons come up, are reported, validate, form a cluster, and leave no trace."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lxdplan import lab as labapi
from lxdplan.errors import LabError
from lxdplan.lab import host

from labkit import lab_root, require_backend
from unixhttp import request
from lxdplan.lab.model import bridge_name


def cli(*args: str, env: dict[str, str], cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lxdplan", *args], env=env, capture_output=True, text=True,
                          cwd=cwd)


def assert_no_trace(state: dict) -> None:
    """Nothing of the lab recorded in ``state`` (a state.json document) is left on the host."""
    daemons = state["members"] + ([state["image_server"]] if state.get("image_server") else [])
    assert [m["pid"] for m in daemons if host.pid_alive(m["pid"])] == []
    assert set(host.namespaces()) & {m["namespace"] for m in daemons} == set()
    assert not host.link_exists(state["bridge"])
    assert [m["veth"] for m in daemons if host.link_exists(m["veth"])] == []
    assert host.mounts_under(state["dir"]) == []
    assert not Path(state["dir"]).exists()


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_lab_up_status_down_leaves_nothing_behind(backend, lab_name, lab_env, tmp_path):
    require_backend(backend)
    name = lab_name("hyg")
    up = cli("lab", "up", "--name", name, "--backend", backend, "--members", "2", env=lab_env, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    labdir = lab_root() / name
    state = json.loads((labdir / "state.json").read_text())
    # the file is written where the user works, the default of every other command
    assert "Desired-state file: lxdplan.yaml\n" in up.stdout and "Next: lxdplan plan\n" in up.stdout
    assert (tmp_path / "lxdplan.yaml").read_text() == (labdir / "lxdplan.yaml").read_text()
    dir_env = "LXD_DIR" if backend == "lxd" else "INCUS_DIR"
    assert f"export {dir_env}={state['members'][0]['daemon_dir']}" in up.stdout
    assert state["backend"] == backend and len(state["members"]) == 2
    for m in state["members"]:
        assert host.pid_alive(m["pid"])
        assert m["namespace"] in host.namespaces()
        # no default route inside a member's namespace
        routes = host.run("ip", "netns", "exec", m["namespace"], "ip", "route").stdout
        assert "default" not in routes and m["ip"] in host.run(
            "ip", "netns", "exec", m["namespace"], "ip", "-br", "addr").stdout

    status = cli("lab", "status", "--name", name, env=lab_env)
    assert status.returncode == 0, status.stderr
    for m in state["members"]:
        line = next(ln for ln in status.stdout.splitlines() if ln.startswith(m["name"] + " "))
        assert line.split() == [m["name"], str(m["pid"]), "alive", m["address"], m["namespace"]]

    again = cli("lab", "up", "--name", name, "--backend", backend, "--members", "2", env=lab_env, cwd=tmp_path)
    assert again.returncode == 0 and "is already up" in again.stdout

    down = cli("lab", "down", "--name", name, env=lab_env)
    assert down.returncode == 0, down.stderr
    assert_no_trace(state)
    gone = cli("lab", "status", "--name", name, env=lab_env)
    assert gone.returncode == 1 and gone.stderr.startswith(f"error: there is no lab named {name}")


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_lab_image_server_serves_the_busybox_image_to_the_members(backend, lab_name, lab_env):
    """`lab up --image-server`: a standalone daemon on the lab bridge serves the lab's busybox
    image publicly; a member pulls it from there over HTTPS (pinned to the server's certificate)."""
    require_backend(backend)
    name = lab_name("img")
    up = cli("lab", "up", "--name", name, "--backend", backend, "--members", "1", "--image-server",
             "-o", str(lab_root() / name / "lxdplan.yaml"), env=lab_env)
    assert up.returncode == 0, up.stderr
    state = json.loads((lab_root() / name / "state.json").read_text())
    server = state["image_server"]
    assert host.pid_alive(server["pid"]) and server["namespace"] in host.namespaces()
    assert f"Image server: https://{server['address']}" in up.stdout
    status = cli("lab", "status", "--name", name, env=lab_env)
    assert "images " in status.stdout and server["address"] in status.stdout

    lab = labapi.find(name, lab_root())
    body = {"source": {"type": "image", "mode": "pull", "server": lab.image_server_url,
                       "protocol": backend, "alias": "busybox",  # Incus calls its protocol incus
                       "certificate": Path(lab.image_server_certificate).read_text()},
            "aliases": [{"name": "pulled"}]}
    client = "lxc" if backend == "lxd" else "incus"
    env = {**os.environ, ("LXD_DIR" if backend == "lxd" else "INCUS_DIR"): lab.members[0].daemon_dir}
    pulled = subprocess.run([client, "query", "--wait", "-X", "POST", "/1.0/images", "--data",
                             json.dumps(body)], env=env, capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    shown = subprocess.run([client, "image", "list", "--format", "json"], env=env, capture_output=True,
                           text=True, check=True)
    images = json.loads(shown.stdout)
    assert [i["fingerprint"] for i in images] == [state["image_fingerprint"]]
    assert images[0]["aliases"][0]["name"] == "pulled"

    down = cli("lab", "down", "--name", name, env=lab_env)
    assert down.returncode == 0, down.stderr
    assert_no_trace(state)


def test_a_running_lab_grows_and_keeps_the_users_file(lab_name, lab_env, tmp_path):
    """`lab up --members 3` on a 2-member lab starts node3; the user's edited lxdplan.yaml is kept
    (lab up says what to add to it), `lab env` points lxc at a member, and lab down leaves the
    user's file alone."""
    require_backend("lxd")
    name = lab_name("grow")
    env = {**lab_env, "LXDPLAN_LAB": name}
    assert cli("lab", "up", "--members", "2", env=env, cwd=tmp_path).returncode == 0
    mine = tmp_path / "lxdplan.yaml"
    mine.write_text(mine.read_text() + "# my edits\n")
    grown = cli("lab", "up", "--members", "3", env=env, cwd=tmp_path)
    assert grown.returncode == 0, grown.stderr
    lab = labapi.find(name, lab_root())
    node3 = lab.members[2]
    assert [m.name for m in lab.members] == ["node1", "node2", "node3"] and node3.alive()
    assert "is up: node3 started in" in grown.stdout
    assert "lxdplan.yaml has edits of yours and is kept as it is" in grown.stdout
    assert (f"    - {{name: node3, address: {node3.address}, endpoint: {node3.endpoint}}}"
            in grown.stdout)
    assert mine.read_text().endswith("# my edits\n")
    assert node3.endpoint in Path(lab.dir, "lxdplan.yaml").read_text()
    exported = cli("lab", "env", "--member", "node3", env=env)
    assert exported.stdout == f"export LXD_DIR={node3.daemon_dir}\n"
    shown = subprocess.run(["bash", "-c", f'eval "$1"; lxc info | grep -c "server_pid: {node3.pid}$"',
                            "x", exported.stdout], capture_output=True, text=True)
    assert shown.stdout.strip() == "1", shown.stderr
    shrink = cli("lab", "up", "--members", "2", env=env, cwd=tmp_path)
    assert shrink.returncode == 1 and "cannot shrink" in shrink.stderr
    assert cli("lab", "down", env=env).returncode == 0
    assert mine.read_text().endswith("# my edits\n")


def test_lab_down_removes_a_broken_lab_without_its_state(make_lab, lab_env):
    lab = make_lab("lxd", members=2)
    state = json.loads(Path(lab.dir, "state.json").read_text())
    os.kill(lab.members[0].pid, signal.SIGKILL)
    host.wait_gone([lab.members[0].pid], 10)
    Path(lab.dir, "state.json").unlink()  # the second daemon now runs with no record of its pid
    down = cli("lab", "down", "--name", lab.name, env=lab_env)
    assert down.returncode == 0, down.stderr
    assert_no_trace(state)


def test_lab_up_cleans_up_when_it_fails_midway(lab_name):
    require_backend("lxd")
    name = lab_name("fail")
    with pytest.raises(LabError, match="did not become ready within 0 s"):
        labapi.up(name=name, backend="lxd", members=2, root=lab_root(), timeout=0)
    assert [ns for ns in host.namespaces() if ns.startswith(f"lxdplan-{name}-")] == []
    assert not host.link_exists(bridge_name(name))
    assert not (lab_root() / name).exists()


def test_lab_up_refuses_a_name_in_use_with_other_settings(lxd_lab):
    with pytest.raises(LabError, match=f"a lab named {lxd_lab.name} already runs with lxd:"):
        labapi.up(name=lxd_lab.name, backend="incus", root=lab_root())
    with pytest.raises(LabError, match="has 3 members and cannot shrink to 2"):
        labapi.up(name=lxd_lab.name, backend="lxd", members=2, root=lab_root())


def test_lab_file_validates(lab, lab_env):
    result = cli("validate", "-f", lab.file, env=lab_env)
    assert result.returncode == 0, result.stderr
    assert f"{lab.file}: valid (3 members" in result.stdout
    doc = yaml.safe_load(Path(lab.file).read_text())
    assert doc["backend"] == lab.backend
    assert [(m["name"], m["address"], m["endpoint"]) for m in doc["cluster"]["members"]] == [
        (m.name, m.address, f"unix://{m.daemon_dir}/unix.socket") for m in lab.members
    ]


# --- forming a cluster by hand from the lab's file: the proof that the file is usable ---------


def call(sock: str, method: str, path: str, body=None, wait: bool = True):
    """One REST call over a unix socket; waits for async operations and raises on any error."""
    status, doc = request(sock, method, path, body)
    assert doc.get("type") != "error" and status < 400, f"{method} {path}: {status} {doc.get('error')}"
    if doc.get("type") != "async":
        return doc.get("metadata")
    if not wait:
        return doc["metadata"]  # e.g. a join-token operation, which stays Running until used
    _, done = request(sock, "GET", doc["operation"] + "/wait?timeout=60", timeout=90)
    md = done.get("metadata") or {}
    assert done.get("type") != "error" and md.get("status_code") == 200, f"{method} {path}: {done}"
    return md


def join_token(leader_sock: str, name: str) -> str:
    md = call(leader_sock, "POST", "/1.0/cluster/members", {"server_name": name}, wait=False)["metadata"]
    token = {"server_name": md["serverName"], "fingerprint": md["fingerprint"],
             "addresses": md["addresses"], "secret": md["secret"], "expires_at": md["expiresAt"]}
    return base64.b64encode(json.dumps(token).encode()).decode()


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_lab_file_forms_a_cluster_by_hand(backend, make_lab):
    lab = make_lab(backend)
    doc = yaml.safe_load(Path(lab.file).read_text())
    members = doc["cluster"]["members"]
    sock = {m["name"]: m["endpoint"].removeprefix("unix://") for m in members}
    first, leader = members[0], sock[members[0]["name"]]

    server = call(leader, "GET", "/1.0")
    assert server["environment"]["server"] == doc["backend"]
    call(leader, "PATCH", "/1.0", {"config": {"core.https_address": first["address"]}})
    call(leader, "PUT", "/1.0/cluster", {"server_name": first["name"], "enabled": True})
    cluster_cert = call(leader, "GET", "/1.0")["environment"]["certificate"]
    # LXD 5.0 takes the join token in cluster_password; Incus (and LXD with explicit_trust_token)
    # in cluster_token.
    newer = "explicit_trust_token" in server["api_extensions"] or server["environment"]["server"] == "incus"
    token_field = "cluster_token" if newer else "cluster_password"
    for m in members[1:]:
        token = join_token(leader, m["name"])
        call(sock[m["name"]], "PATCH", "/1.0", {"config": {"core.https_address": m["address"]}})
        call(sock[m["name"]], "PUT", "/1.0/cluster", {
            "server_name": m["name"], "enabled": True, "server_address": m["address"],
            "cluster_address": first["address"], "cluster_certificate": cluster_cert,
            "member_config": [], token_field: token,
        })
    listed = call(leader, "GET", "/1.0/cluster/members?recursion=1")
    assert sorted((x["server_name"], x["status"]) for x in listed) == [
        (m["name"], "Online") for m in members
    ]

    for kind, objs, typ in (("storage-pools", doc["storage_pools"], "driver"), ("networks", doc["networks"], "type")):
        for obj in objs:
            for m in members:  # define: member-specific keys only (none here)
                call(leader, "POST", f"/1.0/{kind}?target={m['name']}",
                     {"name": obj["name"], typ: obj[typ], "config": obj.get("members", {}).get(m["name"], {})})
            call(leader, "POST", f"/1.0/{kind}", {"name": obj["name"], typ: obj[typ], "config": obj.get("config", {})})
            got = call(leader, "GET", f"/1.0/{kind}/{obj['name']}")
            assert got["status"] == "Created" and sorted(got["locations"]) == sorted(sock)
    for profile in doc["profiles"]:
        call(leader, "PUT", f"/1.0/profiles/{profile['name']}",
             {"description": profile["description"], "config": {}, "devices": profile["devices"]})
        got = call(leader, "GET", f"/1.0/profiles/{profile['name']}")
        assert (got["description"], got["devices"]) == (profile["description"], profile["devices"])
    # the bridge really exists inside every member's namespace, with the declared address
    for m in lab.members:
        addr = host.run("ip", "netns", "exec", m.namespace, "ip", "-br", "addr", "show", "lxdbr0").stdout
        assert doc["networks"][0]["config"]["ipv4.address"] in addr


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_lab_from_the_walkthrough_example_applies_and_converges(backend, lab_name, lab_env):
    """The README's main job: the example fitted to a lab, planned, applied, then no changes."""
    require_backend(backend)
    name = lab_name("ex")
    up = cli("lab", "up", "--name", name, "--backend", backend, "--from",
             "examples/seed-walkthrough.yaml", "-o", str(lab_root() / name / "lxdplan.yaml"), env=lab_env)
    assert up.returncode == 0, up.stderr
    labdir = lab_root() / name
    doc = yaml.safe_load((labdir / "lxdplan.yaml").read_text())
    state = json.loads((labdir / "state.json").read_text())
    assert [m["address"] for m in doc["cluster"]["members"]] == [m["address"] for m in state["members"]]
    assert "core.trust_password" not in doc["cluster"].get("config", {})
    data = next(p for p in doc["storage_pools"] if p["name"] == "data")
    for keys in data["members"].values():
        assert Path(keys["source"]).is_dir() and keys["source"].startswith(str(labdir))
    node1 = state["members"][0]["namespace"]
    assert host.run("ip", "netns", "exec", node1, "ip", "link", "show", "veth-up1", check=False).returncode == 0
    file = str(labdir / "lxdplan.yaml")
    applied = cli("apply", "-f", file, "--auto-approve", env=lab_env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = cli("plan", "-f", file, "--detailed-exitcode", env=lab_env)
    assert again.returncode == 0 and "No changes." in again.stdout, again.stdout + again.stderr
    # the seed's "Containers": c1 on node2 (--target node2), c2 on group storage (node1 only)
    status = cli("status", "-f", file, env=lab_env).stdout
    rows = {line.split()[0]: line.split() for line in status.splitlines()
            if line.startswith(("c1 ", "c2 "))}
    assert rows["c1"][1:4] == ["container", "node2", "Running"], status
    assert rows["c2"][1:4] == ["container", "node1", "Running"], status
