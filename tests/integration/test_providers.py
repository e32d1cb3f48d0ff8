"""The providers against real LXD and Incus daemons: observing, pinned HTTPS, `lxdplan auth`."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from handform import form_cluster, trust_token, unix
from lxdplan.desired import Desired, Member
from lxdplan.errors import ApiError, LxdplanError
from lxdplan.kinds.cluster_group import ClusterGroup
from lxdplan.kinds.network import Network
from lxdplan.kinds.profile import Profile
from lxdplan.kinds.project import Project
from lxdplan.kinds.storage_pool import StoragePool
from lxdplan.kinds.storage_volume import StorageVolume
from lxdplan.loader import load
from lxdplan.providers import pins
from lxdplan.providers.certs import fingerprint
from lxdplan.providers.client import Client, probe_certificate
from lxdplan.providers.observe import FULL, PLAN, observe
from lxdplan.planner import plan as compute
from lxdplan.plan import Action, Kind
from lxdplan.workflow import make_plan

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lxdplan", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def write_file(path: Path, members: list[dict], backend: str) -> str:
    path.write_text(yaml.safe_dump({"version": 1, "backend": backend,
                                    "cluster": {"members": members}}, sort_keys=False))
    return str(path)


def test_observe_fresh_lab(lab):
    desired, _ = load(lab.file)
    observed = observe(desired)
    assert not observed.clustered and observed.backend == lab.backend
    assert sorted(observed.standalone) == [m.name for m in lab.members]
    for st in observed.standalone.values():
        assert st.reachable and st.trusted and not st.clustered and st.backend == lab.backend
        assert st.version and st.etag and len(st.certificate_fingerprint) == 64
    assert observed.members == {} and observed.storage_pools == {}
    other = "incus" if lab.backend == "lxd" else "lxd"
    with pytest.raises(LxdplanError) as exc:
        observe(dataclasses.replace(desired, backend=other))
    assert str(exc.value) == (f"{lab.file} declares backend {other}, but member node1 "
                              f"({lab.members[0].endpoint}) runs {lab.backend}")


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_observe_cluster_formed_by_hand(make_lab, backend, tmp_path):
    lab = make_lab(backend)
    form_cluster([(m.name, m.socket, m.address) for m in lab.members])
    c = unix(lab.members[0].socket, "node1")
    for m in lab.members:
        (tmp_path / m.name).mkdir()
        c.post("/1.0/storage-pools", {"name": "data", "driver": "dir",
                                      "config": {"source": str(tmp_path / m.name)}},
               params={"target": m.name})
    c.post("/1.0/storage-pools", {"name": "data", "driver": "dir",
                                  "config": {"user.lxdplan.managed": "true"}})
    c.post("/1.0/storage-pools", {"name": "pend", "driver": "dir"}, params={"target": "node1"})
    c.post("/1.0/profiles", {"name": "web", "config": {"user.lxdplan.managed": "true"},
                             "devices": {"root": {"path": "/", "pool": "data", "type": "disk"}}})
    c.post("/1.0/projects", {"name": "staging", "config": {"features.profiles": "true"}})
    c.post("/1.0/profiles", {"name": "stp"}, params={"project": "staging"})
    c.post("/1.0/storage-pools/data/volumes/custom", {"name": "vol1"}, params={"target": "node2"})
    c.post("/1.0/cluster/groups", {"name": "gpu", "members": ["node2"]})
    c.patch("/1.0", {"config": {"user.lxdplan.cluster_groups": "gpu"}})
    desired = Desired(
        path="hand.yaml", backend=backend,
        members=tuple(Member(name=m.name, address=m.address, endpoint=m.endpoint)
                      for m in lab.members),
        cluster_groups=(ClusterGroup(name="gpu"),), profiles=(Profile(name="web"),),
        projects=(Project(name="staging"),),
        storage_volumes=(StorageVolume(pool="data", name="vol1", member="node2"),),
    )
    obs = observe(desired)
    assert obs.clustered and obs.backend == backend and len(obs.cluster_fingerprint) == 64
    assert sorted(obs.members) == ["node1", "node2", "node3"]
    for m in lab.members:
        seen = obs.members[m.name]
        assert seen.status == "Online" and seen.version == obs.server_version
        assert seen.local_config["core.https_address"] == m.address and seen.local_etag
        assert seen.etag  # declared members get their ETag
    assert "core.https_address" not in obs.config and obs.config_etag and obs.config_member == "node1"
    data = obs.storage_pools["data"]
    assert data.config == {"user.lxdplan.managed": "true"} and data.managed_by_lxdplan
    assert data.members == {m.name: {"source": str(tmp_path / m.name)} for m in lab.members}
    assert set(data.member_status.values()) == {"Created"}
    pend = obs.storage_pools["pend"]
    assert pend.status == "Pending" and list(pend.members) == ["node1"]
    assert obs.profiles["default/web"].managed_by_lxdplan and obs.profiles["default/web"].etag
    assert "staging/stp" in obs.profiles and obs.projects["staging"].etag
    assert obs.cluster_groups["gpu"].managed_by_lxdplan and obs.cluster_groups["gpu"].members == ("node2",)
    vol = obs.storage_volumes["default/data/node2/vol1"]
    assert vol.member == "node2" and vol.etag and not vol.managed_by_lxdplan
    assert obs.standalone["node2"].server_name == "node2"

    if backend == "incus":
        # lxdplan cannot reach node3 itself: its member-specific reads go through the reader.
        gone = tmp_path / "gone.socket"
        cut = dataclasses.replace(desired, members=desired.members[:2] + (
            dataclasses.replace(desired.members[2], endpoint=f"unix://{gone}"),))
        obs = observe(cut)
        assert obs.standalone["node3"].error.startswith(f"cannot reach member node3 at unix://{gone}")
        assert obs.storage_pools["data"].members == data.members
        assert obs.members["node3"].local_config == data_local(lab.members[2])
        return
    # A member that dies is recorded, never fatal: its member-specific reads are left out.
    dead = lab.members[2]
    os.kill(dead.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while dead.alive() and time.monotonic() < deadline:  # alive() treats a zombie as dead
        time.sleep(0.05)
    assert not dead.alive()
    obs = observe(desired)
    assert not obs.standalone["node3"].reachable
    assert obs.standalone["node3"].error.startswith(f"cannot reach member node3 at {dead.endpoint}")
    assert set(obs.storage_pools["data"].members) == {"node1", "node2"}
    assert obs.members["node3"].local_config == {} and obs.members["node3"].version == ""


def data_local(member) -> dict[str, str]:
    return {"core.https_address": member.address, "cluster.https_address": member.address}


def test_https_trust_password_pins_and_bootstrap(make_lab, tmp_path, monkeypatch):
    lab = make_lab("lxd", 1)
    node = lab.members[0]
    unix(node.socket, "node1").patch(
        "/1.0", {"config": {"core.https_address": node.address, "core.trust_password": "hc-pw"}})
    env = {**os.environ, "LXDPLAN_CONFIG_DIR": str(tmp_path / "cfg"), "HC_PW": "hc-pw"}
    member = {"name": "node1", "address": node.address, "endpoint": f"https://{node.address}",
              "trust": {"password": {"env": "HC_PW"}}}
    file = write_file(tmp_path / "lxdplan.yaml", [member], "lxd")

    first = cli("auth", "trust", "-f", file, "--yes", env=env)
    assert first.returncode == 0, first.stderr
    assert "now trusted" in first.stdout and "hc-pw" not in first.stdout + first.stderr
    again = cli("auth", "trust", "-f", file, env=env)  # pinned now: no --yes needed
    assert again.returncode == 0 and "is trusted" in again.stdout, again.stderr

    monkeypatch.setenv("LXDPLAN_CONFIG_DIR", env["LXDPLAN_CONFIG_DIR"])
    desired, _ = load(file)
    assert observe(desired).standalone["node1"].trusted
    # Bootstrap over HTTPS: the member starts serving the cluster certificate.
    client = Client(f"https://{node.address}", member="node1", pin_file=file,
                    scope=pins.scope_of(desired))
    before = client.get("/1.0").metadata["environment"]["certificate"]
    client.put("/1.0/cluster", {"server_name": "node1", "enabled": True})
    cluster_pem = client.adopt_cluster_certificate()
    assert fingerprint(cluster_pem) != fingerprint(before)
    assert client.get("/1.0").metadata["environment"]["server_clustered"]
    client.close()
    obs = observe(desired)
    assert obs.clustered and obs.cluster_fingerprint == fingerprint(cluster_pem)
    assert cli("auth", "trust", "-f", file, env=env).returncode == 0  # the pin survived bootstrap

    # A wrong declared pin (a fresh machine: nothing in the pin store) is one clear sentence.
    wrong = write_file(tmp_path / "wrong.yaml", [{**member, "fingerprint": "ab" * 32}], "lxd")
    env2 = {**env, "LXDPLAN_CONFIG_DIR": str(tmp_path / "cfg2")}
    bad = cli("auth", "trust", "-f", wrong, "--yes", env=env2)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    fp = fingerprint(probe_certificate(f"https://{node.address}"))
    assert bad.stderr.strip().splitlines()[-1] == (
        f"error: member node1 (https://{node.address}) presented certificate {fp[:12]}…, expected "
        f"abababababab…: if the member was reinstalled, update its fingerprint in {wrong}")


def test_https_trust_token_incus(make_lab, tmp_path):
    lab = make_lab("incus", 1)
    node = lab.members[0]
    local = unix(node.socket, "node1")
    local.patch("/1.0", {"config": {"core.https_address": node.address}})
    env = {**os.environ, "LXDPLAN_CONFIG_DIR": str(tmp_path / "cfg"),
           "HC_TOKEN": trust_token(local, "lxdplan-test")}
    member = {"name": "node1", "address": node.address, "endpoint": f"https://{node.address}",
              "trust": {"token": {"env": "HC_TOKEN"}}}
    file = write_file(tmp_path / "lxdplan.yaml", [member], "incus")

    unpinned = cli("auth", "trust", "-f", file, env=env)  # no terminal, no flag: refused
    assert unpinned.returncode == 1 and "which is not pinned" in unpinned.stderr
    assert "Traceback" not in unpinned.stderr
    fp = fingerprint(probe_certificate(f"https://{node.address}"))
    ok = cli("auth", "trust", "-f", file, "--accept-fingerprint", fp, env=env)
    assert ok.returncode == 0 and "now trusted" in ok.stdout, ok.stderr
    assert env["HC_TOKEN"] not in ok.stdout + ok.stderr
    with_pin = write_file(tmp_path / "pinned.yaml", [{**member, "fingerprint": fp.upper()}], "incus")
    env2 = {**env, "LXDPLAN_CONFIG_DIR": str(tmp_path / "cfg")}
    assert cli("auth", "trust", "-f", with_pin, env=env2).returncode == 0


def _steps(plan) -> list[tuple]:
    """A plan's steps without their ETags (a network's ETag may come from another member's view)."""
    return [(s.id, s.action, s.kind, s.name, s.member, s.depends_on, s.before, s.after, s.reason,
             s.blocked, s.payload) for s in plan.steps]


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_plan_detail_reads_only_what_the_planner_compares(make_lab, backend):
    """At PLAN detail a Pending pool still gets its missing defines, an Errored network its retry,
    and a declared member-specific key that drifted its update; members nothing is declared for
    are not read, and the plan equals the one made from a FULL read."""
    lab = make_lab(backend)
    form_cluster([(m.name, m.socket, m.address) for m in lab.members])
    c = unix(lab.members[0].socket, "node1")
    names = [m.name for m in lab.members]
    ns = {m.name: m.namespace for m in lab.members}

    def link(member: str, *args: str) -> None:
        subprocess.run(["ip", "netns", "exec", ns[member], "ip", "link", *args], check=True)

    for name, kind, body in (("data", "storage-pools", {"driver": "dir"}),
                             ("ibr", "networks", {"type": "bridge"}),
                             ("iplain", "networks", {"type": "bridge"}),
                             ("ibad", "networks", {"type": "bridge"})):
        for m in names:
            c.post(f"/1.0/{kind}", {"name": name, **body}, params={"target": m})
    c.post("/1.0/storage-pools", {"name": "data", "driver": "dir"})
    bridge = {"type": "bridge", "config": {"ipv4.address": "none", "ipv6.address": "none"}}
    c.post("/1.0/networks", {"name": "ibr", **bridge})
    c.post("/1.0/networks", {"name": "iplain", **bridge})
    link("node3", "add", "ibad", "type", "veth", "peer", "name", "ibadp")  # the bridge name, taken
    with pytest.raises(ApiError):
        c.post("/1.0/networks", {"name": "ibad", **bridge})
    assert c.get("/1.0/networks/ibad").metadata["status"] == "Errored"
    c.post("/1.0/storage-pools", {"name": "half", "driver": "dir"}, params={"target": "node1"})
    # A member-specific key set by hand on node2: an interface inside node2's namespace.
    for ext in ("iext0", "iext1"):
        link("node2", "add", ext, "type", "veth", "peer", "name", f"{ext}p")
    c.patch("/1.0/networks/ibr", {"config": {"bridge.external_interfaces": "iext0"}},
            params={"target": "node2"})

    def desired(ext: str) -> Desired:
        return Desired(
            path="lean.yaml", backend=backend,
            members=tuple(Member(name=m.name, address=m.address, endpoint=m.endpoint)
                          for m in lab.members),
            storage_pools=(StoragePool(name="data", driver="dir"),
                           StoragePool(name="half", driver="dir")),
            networks=(Network(name="ibr", config=bridge["config"],
                              members={"node2": {"bridge.external_interfaces": ext}}),
                      Network(name="iplain", config=bridge["config"]),
                      Network(name="ibad", config=bridge["config"])),
        )

    same = desired("iext0")
    lean = observe(same, detail=PLAN)
    # Only the member views the planner compares were read.
    assert lean.storage_pools["data"].members == {} and lean.storage_pools["data"].status == "Created"
    assert lean.networks["iplain"].members == {} and lean.networks["iplain"].etag
    assert lean.networks["ibr"].members == {"node2": {"bridge.external_interfaces": "iext0"}}
    assert lean.networks["ibr"].etag
    assert lean.storage_pools["half"].status == "Pending"
    assert list(lean.storage_pools["half"].members) == ["node1"]
    assert lean.networks["ibad"].status == "Errored"
    full = observe(same, detail=FULL)
    assert sorted(lean.networks["ibad"].member_status) == names  # not Created: every member read
    assert lean.networks["ibad"].member_status == full.networks["ibad"].member_status
    assert lean.storage_pools["half"].member_status == full.storage_pools["half"].member_status
    assert sorted(full.storage_pools["data"].members) == names
    assert sorted(full.networks["iplain"].members) == names

    plan = make_plan(same).plan  # the CLI's path: PLAN detail
    assert _steps(plan) == _steps(compute(same, full))
    by = {(s.action, s.kind, s.name, s.member): s for s in plan.steps}
    assert {k for k in by if k[2] == "half"} == {
        (Action.DEFINE, Kind.STORAGE_POOL, "half", "node2"),
        (Action.DEFINE, Kind.STORAGE_POOL, "half", "node3"),
        (Action.INSTANTIATE, Kind.STORAGE_POOL, "half", None),
    }
    retry = by[(Action.INSTANTIATE, Kind.NETWORK, "ibad", None)]
    assert retry.payload.retry and retry.reason.startswith("network ibad is Errored")
    assert not [k for k in by if k[2] in ("ibr", "iplain", "data")]  # they match the file

    drifted = desired("iext1")
    plan = make_plan(drifted).plan
    assert _steps(plan) == _steps(compute(drifted, observe(drifted, detail=FULL)))
    by_key = {(s.action, s.name, s.member): s for s in plan.steps}
    update = by_key[(Action.UPDATE, "ibr", "node2")]
    assert update.before == {"config": {"bridge.external_interfaces": "iext0"}}
    assert update.after == {"config": {"bridge.external_interfaces": "iext1"}}
    assert not [k for k in by_key if k[1] in ("iplain", "data")]
