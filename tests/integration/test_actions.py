"""The per-step actions of apply (``lxdplan.providers.actions.perform``) on real LXD and Incus.

One 3-member lab per backend is formed by the actions themselves and reused by the tests of this
module, in file order. Steps are built by hand so these tests pin the payload contract. Every
action is run twice: the second run must find the change already made and return False.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from labkit import BACKENDS, lab_root, new_name, require_backend
from lxdplan import keys
from lxdplan import membership as M
from lxdplan import lab as labapi
from lxdplan.lab import host
from lxdplan.errors import ApiError, LxdplanError, PreconditionFailed
from lxdplan.desired import Secret
from lxdplan.loader import load
from lxdplan.plan import Action, Kind, Step
from lxdplan.providers.actions import members as member_actions
from lxdplan.providers.actions import perform
from lxdplan.registry import payload_type
from lxdplan.providers import pins
from lxdplan.providers.certs import ensure_client_cert
from lxdplan.providers.client import Client, path_of
from lxdplan.providers.session import Session
from lxdplan.state.observed import Observed

A = Action
K = Kind


def step(action: Action, kind: Kind, name: str, member: str | None = None, /, etag=None,
         **payload) -> Step:
    """A step as the planner makes it: its payload typed (a pool's ``driver`` is the payload's
    ``type``, as a network's)."""
    sid = "/".join(x for x in (kind.value, name, action.value, member or "") if x)
    if "driver" in payload:
        payload["type"] = payload.pop("driver")
    return Step(sid, action, kind, name, member=member, etag=etag,
                payload=payload_type(kind, action)(**payload))


def twice(s: Session, st: Step) -> None:
    """The step changes something the first time and finds it done the second time."""
    assert perform(s, st) is True, f"{st.id} changed nothing"
    assert perform(s, st) is False, f"{st.id} was not level-based"


class Cluster:
    """A lab, its desired file, a session and a unix-socket client per member."""

    def __init__(self, lab: labapi.Lab, workdir: Path):
        self.lab = lab
        self.backend = lab.backend
        self.workdir = workdir
        self.desired, _ = load(str(lab.file))
        self.session = Session(self.desired, Observed(backend=lab.backend))
        self.unix = {m.name: Client(m.endpoint, member=m.name) for m in lab.members}
        self.member = {m.name: m for m in lab.members}

    def get(self, path: str, **params) -> dict:
        return self.unix["node1"].get(path, params or None).metadata

    def close(self) -> None:
        self.session.close()
        for c in self.unix.values():
            c.close()


@pytest.fixture(scope="module", params=BACKENDS)
def cluster(request, tmp_path_factory):
    backend = request.param
    require_backend(backend)
    workdir = tmp_path_factory.mktemp(f"actions-{backend}")
    old = os.environ.get("LXDPLAN_CONFIG_DIR")
    os.environ["LXDPLAN_CONFIG_DIR"] = str(workdir / "config")
    lab = labapi.up(name=new_name(f"act-{backend}"), backend=backend, members=3, root=lab_root())
    c = None
    try:
        c = Cluster(lab, workdir)
        yield c
    finally:
        if c is not None:
            c.close()
        labapi.down(lab.name, root=lab_root(), missing_ok=True)
        if old is None:
            os.environ.pop("LXDPLAN_CONFIG_DIR", None)
        else:
            os.environ["LXDPLAN_CONFIG_DIR"] = old


def _objects_for_joins(s: Session) -> list[Step]:
    """The pool and network the joiners must bring member_config for, made before the joins."""
    made = []
    for kind, type_, config in (
        (K.STORAGE_POOL, "dir", {}),
        (K.NETWORK, "bridge", {"ipv4.address": "10.250.7.1/24", "ipv4.nat": "false",
                               "ipv6.address": "none"}),
    ):
        name = "epool" if kind == K.STORAGE_POOL else "ebr0"
        made += [step(A.DEFINE, kind, name, "node1", type=type_, config={}),
                 step(A.INSTANTIATE, kind, name, type=type_, description="",
                      config={**config, keys.OWNER_KEY: "true"}, retry=False)]
    return made


def _bootstrap(cluster) -> Step:
    address = cluster.member["node1"].address
    return step(M.BOOTSTRAP, K.MEMBER, "node1", "node1", server_name="node1", address=address,
                config={"core.https_address": address})


def _join(cluster, name: str) -> Step:
    """``name``'s join, its pool source an empty directory of the test's own."""
    source = cluster.workdir / f"epool-{name}"
    source.mkdir(exist_ok=True)
    member_config = [{"entity": "storage-pool", "name": "epool", "key": "source",
                      "value": str(source)}]
    address = cluster.member[name].address
    return step(M.JOIN, K.MEMBER, name, name, server_name=name, address=address,
                config={"core.https_address": address}, member_config=member_config)


@pytest.fixture
def action_cluster(cluster):
    """The cluster of three that test_bootstrap_then_joins_with_a_leftover_token forms, formed
    here when that test did not run (``-k``). Every action is level-based: when the cluster is
    already formed, these steps find it so and change nothing."""
    for st in [_bootstrap(cluster), *_objects_for_joins(cluster.session),
               _join(cluster, "node2"), _join(cluster, "node3")]:
        perform(cluster.session, st)
    return cluster


def _data_sources(cluster) -> dict[str, Path]:
    sources = {n: cluster.workdir / f"data-{n}" for n in ("node1", "node2", "node3")}
    for path in sources.values():
        path.mkdir(exist_ok=True)
    return sources


def _data_steps(cluster) -> tuple[list[Step], list[Step]]:
    """Pool ``data`` and network ``ebr1``: the defines on every member, then the instantiates."""
    defines = [step(A.DEFINE, K.STORAGE_POOL, "data", n, driver="dir", config={"source": str(p)})
               for n, p in _data_sources(cluster).items()]
    defines += [step(A.DEFINE, K.NETWORK, "ebr1", n, type="bridge", config={})
                for n in ("node1", "node2", "node3")]
    instantiates = [
        step(A.INSTANTIATE, K.STORAGE_POOL, "data", driver="dir", description="data",
             config={"user.e": "1", keys.OWNER_KEY: "true"}, retry=False),
        step(A.INSTANTIATE, K.NETWORK, "ebr1", type="bridge", description="",
             config={"ipv4.address": "none", "ipv6.address": "none", "user.e": "1",
                     keys.OWNER_KEY: "true"}, retry=False),
    ]
    return defines, instantiates


@pytest.fixture
def with_data(action_cluster):
    """The formed cluster with pool ``data`` and network ``ebr1`` as
    test_define_on_each_member_concurrently_then_instantiate makes them (level-based again)."""
    defines, instantiates = _data_steps(action_cluster)
    for st in defines + instantiates:
        perform(action_cluster.session, st)
    return action_cluster


def test_bootstrap_then_joins_with_a_leftover_token(cluster):
    s, m = cluster.session, cluster.member
    twice(s, _bootstrap(cluster))
    env = cluster.get("/1.0")["environment"]
    assert env["server_clustered"] and env["server_name"] == "node1"
    known = pins.scope(pins.host_key(m["node1"].address))  # the cluster's pins, by its first member
    assert known.cluster is not None
    assert known.cluster.fingerprint == env["certificate_fingerprint"]  # learnt over a verified link

    for made in _objects_for_joins(s):
        twice(s, made)

    # An apply killed after minting a token for node3 left it behind: the join revokes it.
    cluster.unix["node1"].post("/1.0/cluster/members", {"server_name": "node3"}, wait=False)
    # A join LXD refuses (a source path that does not exist) leaves the joiner unclustered and
    # no token behind, and the error carries LXD's reason but never the token.
    bad = [{"entity": "storage-pool", "name": "epool", "key": "source",
            "value": str(cluster.workdir / "missing")}]
    with pytest.raises(ApiError, match="doesn't exist") as err:
        perform(s, step(M.JOIN, K.MEMBER, "node2", "node2", server_name="node2",
                        address=m["node2"].address, config={}, member_config=bad))
    assert "eyJ" not in str(err.value)  # base64 of '{"', how every join token starts
    assert not cluster.unix["node2"].get("/1.0").metadata["environment"]["server_clustered"]
    for name in ("node2", "node3"):
        twice(s, _join(cluster, name))
    live = {x["server_name"]: x["status"] for x in cluster.get("/1.0/cluster/members", recursion=1)}
    assert live == {"node1": "Online", "node2": "Online", "node3": "Online"}
    running = cluster.get("/1.0/operations", recursion=1).get("running") or []
    assert [o for o in running if o["class"] == "token"] == []
    for name in ("epool", "ebr0"):
        coll = "storage-pools" if name == "epool" else "networks"
        assert sorted(cluster.get(path_of(coll, name))["locations"]) == ["node1", "node2", "node3"]
    for name in ("node2", "node3"):
        assert cluster.get(path_of("storage-pools", "epool"), target=name)["config"]["source"] \
            == str(cluster.workdir / f"epool-{name}")


def _https_file(lab: labapi.Lab, path: Path) -> str:
    """Trust lxdplan's client certificate on each member (over the unix socket), open HTTPS, and
    write a desired file that reaches the members over pinned HTTPS."""
    pem = ensure_client_cert().cert_path.read_text()
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    members = []
    for member in lab.members:
        with Client(member.endpoint, member=member.name) as unix:
            unix.patch("/1.0", {"config": {"core.https_address": member.address}})
            unix.post("/1.0/certificates", {"type": "client", "certificate": body, "name": "e"})
            fp = unix.get("/1.0").metadata["environment"]["certificate_fingerprint"]
        members.append({"name": member.name, "address": member.address,
                        "endpoint": f"https://{member.address}", "fingerprint": fp})
    path.write_text(yaml.safe_dump({"version": 1, "cluster": {"members": members}}))
    return str(path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bootstrap_and_join_over_pinned_https(backend, make_lab, tmp_path, monkeypatch):
    """The member's certificate changes at bootstrap: lxdplan pins the cluster certificate."""
    monkeypatch.setenv("LXDPLAN_CONFIG_DIR", str(tmp_path / "config"))
    lab = make_lab(backend, members=2)
    desired, diags = load(_https_file(lab, tmp_path / "lxdplan.yaml"))
    assert [d for d in diags if d.severity == "error"] == []
    node1, node2 = desired.members
    with Session(desired, Observed(backend=backend)) as s:
        twice(s, step(M.BOOTSTRAP, K.MEMBER, "node1", "node1", server_name="node1",
                      address=node1.address, config={}))
        twice(s, step(M.JOIN, K.MEMBER, "node2", "node2", server_name="node2",
                      address=node2.address, config={}, member_config=[]))
        env = s.client("node2").get("/1.0").metadata["environment"]
    cluster_fp = env["certificate_fingerprint"]
    assert cluster_fp not in (node1.fingerprint, node2.fingerprint)
    known = pins.scope(pins.scope_of(desired))
    assert known.cluster.fingerprint == cluster_fp and known.accepted == {}  # only what it verified


def test_define_on_each_member_concurrently_then_instantiate(action_cluster):
    cluster, s = action_cluster, action_cluster.session
    sources = _data_sources(cluster)
    defines, instantiates = _data_steps(cluster)
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(lambda st: perform(s, st), defines)) == [True] * 6
    assert cluster.get(path_of("storage-pools", "data"))["status"] == "Pending"
    assert [perform(s, st) for st in defines] == [False] * 6
    for st in instantiates:
        twice(s, st)
    pool = cluster.get(path_of("storage-pools", "data"))
    assert pool["status"] == "Created" and pool["config"][keys.OWNER_KEY] == "true"
    for n, p in sources.items():
        assert cluster.get(path_of("storage-pools", "data"), target=n)["config"]["source"] == str(p)
    assert cluster.get(path_of("networks", "ebr1"))["status"] == "Created"


def test_errored_pool_is_retried_without_cluster_wide_config(action_cluster):
    cluster = action_cluster
    s = cluster.session
    missing = cluster.workdir / "later"  # does not exist yet on node3's side
    for n in ("node1", "node2", "node3"):
        config = {"source": str(missing)} if n == "node3" else {}
        twice(s, step(A.DEFINE, K.STORAGE_POOL, "bad", n, driver="dir", config=config))
    first = step(A.INSTANTIATE, K.STORAGE_POOL, "bad", driver="dir", description="kept",
                 config={"user.e": "2", keys.OWNER_KEY: "true"}, retry=False)
    with pytest.raises(ApiError):
        perform(s, first)
    assert cluster.get(path_of("storage-pools", "bad"))["status"] == "Errored"
    missing.mkdir()
    # The plan made from the Errored state: a retry with no cluster-wide config.
    twice(s, step(A.INSTANTIATE, K.STORAGE_POOL, "bad", driver="dir", description="", config={},
                  retry=True))
    pool = cluster.get(path_of("storage-pools", "bad"))
    assert pool["status"] == "Created" and pool["config"]["user.e"] == "2"
    assert pool["description"] == "kept"
    twice(s, step(A.DELETE, K.STORAGE_POOL, "bad"))
    assert "bad" not in [p["name"] for p in cluster.get("/1.0/storage-pools", recursion=1)]


def test_errored_network_is_retried_without_cluster_wide_config(action_cluster):
    cluster = action_cluster
    s = cluster.session
    ns = cluster.member["node3"].namespace
    netns = ["ip", "netns", "exec", ns, "ip", "link"]
    subprocess.run([*netns, "add", "ebad", "type", "veth", "peer", "name", "ebadp"], check=True)
    for n in ("node1", "node2", "node3"):
        twice(s, step(A.DEFINE, K.NETWORK, "ebad", n, type="bridge", config={}))
    first = step(A.INSTANTIATE, K.NETWORK, "ebad", type="bridge", description="",
                 config={"ipv4.address": "none", "ipv6.address": "none", "user.e": "1",
                         keys.OWNER_KEY: "true"}, retry=False)
    with pytest.raises(ApiError):
        perform(s, first)
    assert cluster.get(path_of("networks", "ebad"))["status"] == "Errored"
    subprocess.run([*netns, "del", "ebad"], check=True)
    twice(s, step(A.INSTANTIATE, K.NETWORK, "ebad", type="bridge", description="", config={},
                  retry=True))
    net = cluster.get(path_of("networks", "ebad"))
    assert net["status"] == "Created" and net["config"]["user.e"] == "1"
    twice(s, step(A.DELETE, K.NETWORK, "ebad"))


def test_pool_and_network_updates_keep_the_other_side(with_data):
    cluster = with_data
    s = cluster.session
    twice(s, step(A.UPDATE, K.STORAGE_POOL, "data", driver="dir", description="data 2",
                  config={"user.e": "3", keys.OWNER_KEY: "true"}))
    assert cluster.get(path_of("storage-pools", "data"), target="node2")["config"]["source"] \
        == str(cluster.workdir / "data-node2")
    # A member-specific key on node2 (an interface inside node2's namespace).
    ns = cluster.member["node2"].namespace
    subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "add", "ext0", "type", "veth",
                    "peer", "name", "ext0p"], check=True)
    net = Client(cluster.member["node2"].endpoint, member="node2").get(path_of("networks", "ebr1"))
    twice(s, step(A.UPDATE, K.NETWORK, "ebr1", "node2", etag=net.etag,
                  config={"bridge.external_interfaces": "ext0"}))
    node2 = cluster.get(path_of("networks", "ebr1"), target="node2")["config"]
    assert node2["bridge.external_interfaces"] == "ext0"
    assert node2["user.e"] == "1"  # a targeted PUT would have wiped the cluster-wide keys
    # Cluster-wide update with the ETag of node2's view (as observe reads it).
    etag = cluster.unix["node1"].get(path_of("networks", "ebr1"), {"target": "node2"}).etag
    twice(s, step(A.UPDATE, K.NETWORK, "ebr1", etag=etag, type="bridge", description="e",
                  config={"ipv4.address": "none", "ipv6.address": "none", "user.e": "2",
                          keys.OWNER_KEY: "true"}))
    assert cluster.get(path_of("networks", "ebr1"), target="node2")["config"][
        "bridge.external_interfaces"] == "ext0"
    stale = step(A.UPDATE, K.NETWORK, "ebr1", etag=etag, type="bridge", description="x",
                 config={"ipv4.address": "none", keys.OWNER_KEY: "true"})
    with pytest.raises(PreconditionFailed, match="network ebr1 changed outside lxdplan"):
        perform(s, stale)


def test_server_config_patch_and_unset(action_cluster, monkeypatch):
    cluster = action_cluster
    s = cluster.session
    monkeypatch.setenv("E_SECRET_VALUE", "s3cret")
    etag = cluster.unix["node1"].get("/1.0").etag
    twice(s, step(A.UPDATE, K.SERVER, "config", etag=etag,
                  config={"user.e.a": "1", "user.e.b": Secret("env", "E_SECRET_VALUE")}))
    config = cluster.get("/1.0")["config"]
    assert config["user.e.a"] == "1" and config["user.e.b"] == "s3cret"
    assert config["core.https_address"] == cluster.member["node1"].address  # untouched
    twice(s, step(A.UPDATE, K.SERVER, "config", config={"user.e.a": None, "user.e.b": None}))
    assert "user.e.a" not in cluster.get("/1.0")["config"]
    etag = cluster.unix["node1"].get("/1.0").etag
    cluster.unix["node2"].patch("/1.0", {"config": {"user.e.d": "out of band"}})
    with pytest.raises(PreconditionFailed, match="changed outside lxdplan since the plan"):
        perform(s, step(A.UPDATE, K.SERVER, "config", etag=etag, config={"user.e.c": "1"}))
    twice(s, step(A.UPDATE, K.SERVER, "config", config={"user.e.d": None}))
    addr = f"{cluster.member['node2'].ip}:9100"
    twice(s, step(A.UPDATE, K.SERVER, "config", "node2", config={"core.metrics_address": addr}))
    node2 = cluster.unix["node2"].get("/1.0").metadata["config"]
    assert node2["core.metrics_address"] == addr
    assert "core.metrics_address" not in cluster.get("/1.0")["config"]
    twice(s, step(A.UPDATE, K.SERVER, "config", "node2", config={"core.metrics_address": None}))


def test_profile_project_volume_lifecycle(with_data):
    cluster = with_data
    s = cluster.session
    twice(s, step(A.CREATE, K.PROJECT, "eproj", name="eproj", description="p",
                  config={"features.profiles": "true", keys.OWNER_KEY: "true"}))
    etag = cluster.unix["node1"].get(path_of("projects", "eproj")).etag
    twice(s, step(A.UPDATE, K.PROJECT, "eproj", etag=etag, description="p2",
                  config={"features.profiles": "true", "user.e": "1", keys.OWNER_KEY: "true"}))
    devices = {"root": {"path": "/", "pool": "data", "type": "disk"}}
    twice(s, step(A.CREATE, K.PROFILE, "eproj/web", name="web", project="eproj", description="w",
                  config={"limits.cpu": "1", keys.OWNER_KEY: "true"}, devices=devices))
    prof = cluster.get(path_of("profiles", "web"), project="eproj")
    assert prof["devices"] == devices and prof["config"][keys.OWNER_KEY] == "true"
    etag = cluster.unix["node1"].get(path_of("profiles", "web"), {"project": "eproj"}).etag
    update = step(A.UPDATE, K.PROFILE, "eproj/web", etag=etag, name="web", project="eproj",
                  description="w2", config={keys.OWNER_KEY: "true"}, devices={})
    twice(s, update)
    assert cluster.get(path_of("profiles", "web"), project="eproj")["devices"] == {}
    with pytest.raises(PreconditionFailed, match="profile eproj/web changed outside lxdplan"):
        perform(s, step(A.UPDATE, K.PROFILE, "eproj/web", etag=etag, name="web",
                        project="eproj", description="w3", config={}, devices={}))
    vol = dict(pool="data", name="vol1", project="default", type="custom")
    twice(s, step(A.CREATE, K.STORAGE_VOLUME, "data/vol1", "node2", **vol,
                  content_type="filesystem", description="v", config={keys.OWNER_KEY: "true"}))
    got = cluster.get(path_of("storage-pools", "data", "volumes", "custom", "vol1"), target="node2")
    assert got["location"] == "node2" and got["config"][keys.OWNER_KEY] == "true"
    twice(s, step(A.UPDATE, K.STORAGE_VOLUME, "data/vol1", "node2", **vol, description="v2",
                  config={"user.e": "1", keys.OWNER_KEY: "true"}))
    twice(s, step(A.DELETE, K.STORAGE_VOLUME, "data/vol1", "node2", **vol))
    twice(s, step(A.DELETE, K.PROFILE, "eproj/web", name="web", project="eproj"))
    twice(s, step(A.DELETE, K.PROJECT, "eproj"))
    assert "eproj" not in [p["name"] for p in cluster.get("/1.0/projects", recursion=1)]


def test_cluster_group_and_member_attributes(action_cluster):
    cluster = action_cluster
    s = cluster.session
    owner = keys.CLUSTER_GROUPS_OWNER_KEY
    twice(s, step(A.CREATE, K.CLUSTER_GROUP, "egpu", name="egpu", description="g", owner_key=owner))
    assert cluster.get("/1.0")["config"][owner] == "egpu"
    live = cluster.unix["node1"].get(path_of("cluster", "members", "node2"))
    twice(s, step(A.UPDATE, K.MEMBER, "node2", "node2", etag=live.etag, description="rack 2",
                  failure_domain="rack2", groups=["default", "egpu"], roles=["event-hub"],
                  config={}))
    got = cluster.get(path_of("cluster", "members", "node2"))
    assert got["failure_domain"] == "rack2" and sorted(got["groups"]) == ["default", "egpu"]
    assert "event-hub" in got["roles"] and set(live.metadata["roles"]) <= set(got["roles"])
    twice(s, step(A.UPDATE, K.MEMBER, "node2", "node2", description="", failure_domain="default",
                  groups=["default"], roles=[], config={}))
    twice(s, step(A.UPDATE, K.CLUSTER_GROUP, "egpu", description="g2", members=[]))
    twice(s, step(A.DELETE, K.CLUSTER_GROUP, "egpu", owner_key=owner))
    assert owner not in cluster.get("/1.0")["config"]


def test_evacuate_and_restore(action_cluster):
    cluster = action_cluster
    s = cluster.session
    twice(s, step(M.EVACUATE, K.MEMBER, "node3", "node3", action="evacuate"))
    assert cluster.get(path_of("cluster", "members", "node3"))["status"] == "Evacuated"
    twice(s, step(M.RESTORE, K.MEMBER, "node3", "node3", action="restore"))
    assert cluster.get(path_of("cluster", "members", "node3"))["status"] == "Online"


def test_force_remove_offline_member_then_graceful_remove(with_data):
    cluster = with_data  # it deletes network ebr1 at the end: made here when run alone
    s = cluster.session
    with pytest.raises(LxdplanError, match="removes only offline members"):
        perform(s, step(M.FORCE_REMOVE, K.MEMBER, "node3", "node3", force=True))
    twice(s, step(A.UPDATE, K.SERVER, "config", config={"cluster.offline_threshold": "11"}))
    pid = cluster.member["node3"].pid
    host.signal_pids([pid], signal.SIGKILL)
    assert host.wait_gone([pid], 10.0) == []
    deadline = time.monotonic() + 60
    while cluster.get(path_of("cluster", "members", "node3"))["status"] != "Offline":
        assert time.monotonic() < deadline, "node3 never became Offline"
        time.sleep(0.5)
    twice(s, step(M.FORCE_REMOVE, K.MEMBER, "node3", "node3", force=True))
    twice(s, step(M.REMOVE, K.MEMBER, "node2", "node2", force=False))
    names = [x["server_name"] for x in cluster.get("/1.0/cluster/members", recursion=1)]
    assert names == ["node1"]
    for kind, name in ((K.NETWORK, "ebr1"), (K.NETWORK, "ebr0"), (K.STORAGE_POOL, "epool")):
        twice(s, step(A.DELETE, kind, name))
    assert member_actions.revoke_join_tokens(cluster.unix["node1"], "node3") == 0
