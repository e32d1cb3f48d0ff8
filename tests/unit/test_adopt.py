"""`lxdplan import`: each declared object is read where the file declares it (project, target)
and marked with its kind's one adoption request, sent with the ETag of that read."""

from __future__ import annotations

import pytest

from lxdplan.errors import PreconditionFailed
from lxdplan.kinds.image import Image, ObservedImage
from lxdplan.kinds.instance import Instance, ObservedInstance
from lxdplan.kinds.network_acl import NetworkACL, ObservedNetworkACL
from lxdplan.kinds.profile import ObservedProfile, Profile
from lxdplan.kinds.storage_volume import ObservedVolume, StorageVolume
from lxdplan.providers.adopt import adopt
from lxdplan.providers.client import Response
from plan_helpers import cluster, desired, live_pool, pool

MARK = {"user.lxdplan.managed": "true"}


class Recorder:
    """Answers every GET with ``read`` (and an ETag naming the path and query); records sends."""

    def __init__(self, read: dict | None = None, refuse: bool = False):
        self.read, self.refuse = read or {}, refuse
        self.gets: list[tuple] = []
        self.sent: list[tuple] = []

    def get(self, path, params=None, **_):
        self.gets.append((path, params))
        return Response(200, dict(self.read), etag=f"etag {path} {params}")

    def send(self, method, path, json=None, params=None, etag=None, **_):
        if self.refuse:
            raise PreconditionFailed("precondition failed", status=412)
        self.sent.append((method, path, params, json, etag))
        return Response(200, {})

    def patch(self, path, json=None, params=None, etag=None, **_):
        return self.send("PATCH", path, json, params, etag)


def test_an_instance_in_a_project_is_patched_there_with_the_etag_just_read():
    d = desired(instances=(Instance("web1", "busybox", project="staging"),))
    o = cluster(instances={
        "default/web1": ObservedInstance("web1", "default"),
        "staging/web1": ObservedInstance("web1", "staging"),
    })
    client = Recorder({"config": {"limits.cpu": "1"}, "profiles": ["default"]})
    assert adopt(client, d, o) == ["instance staging/web1"]
    assert client.gets == [("/1.0/instances/web1", {"project": "staging"})]
    assert client.sent == [("PATCH", "/1.0/instances/web1", {"project": "staging"},
                            {"config": MARK}, "etag /1.0/instances/web1 {'project': 'staging'}")]


def test_a_profile_a_volume_and_an_acl_in_a_project_are_put_whole_there():
    d = desired(profiles=(Profile("web", project="staging"),),
                storage_pools=(pool("data"),),
                storage_volumes=(StorageVolume("data", "vol1", member="n2", project="staging"),),
                network_acls=(NetworkACL("in", project="staging"),))
    o = cluster(profiles={"staging/web": ObservedProfile("web", project="staging")},
                storage_pools={"data": live_pool("data", managed_by_lxdplan=True)},
                storage_volumes={"x": ObservedVolume("data", "vol1", member="n2", project="staging")},
                network_acls={"staging/in": ObservedNetworkACL("in", project="staging")})
    read = {"description": "d", "config": {"k": "v"}, "devices": {"root": {"type": "disk"}},
            "ingress": [{"action": "allow"}], "egress": []}
    client = Recorder(read)
    adopt(client, d, o)
    sent = {path: (method, params, body, etag) for method, path, params, body, etag in client.sent}
    method, params, body, etag = sent["/1.0/profiles/web"]
    assert (method, params) == ("PUT", {"project": "staging"})
    assert body["config"] == {"k": "v", **MARK} and body["devices"] == read["devices"]
    assert etag == "etag /1.0/profiles/web {'project': 'staging'}"
    method, params, body, _ = sent["/1.0/storage-pools/data/volumes/custom/vol1"]
    assert (method, params) == ("PUT", {"project": "staging", "target": "n2"})
    method, params, body, _ = sent["/1.0/network-acls/in"]
    assert (method, params, body["ingress"]) == ("PUT", {"project": "staging"}, read["ingress"])


def test_an_object_changed_while_it_is_marked_is_one_sentence():
    d = desired(profiles=(Profile("web", project="staging"),))
    o = cluster(profiles={"staging/web": ObservedProfile("web", project="staging")})
    with pytest.raises(PreconditionFailed, match="profile staging/web changed while lxdplan "
                                                 "import marked it; run import again"):
        adopt(Recorder(refuse=True), d, o)


def test_an_image_of_a_project_is_listed_by_project_with_the_server_configs_etag():
    fp = "f" * 64
    d = desired(images=(Image("busybox", project="staging"),))
    o = cluster(images={f"default/{fp}": ObservedImage(fp, "busybox", aliases=("busybox",)),
                        f"staging/{fp}": ObservedImage(fp, "busybox", "staging", ("busybox",))})
    client = Recorder({"config": {"user.lxdplan.images": "other"}})
    assert adopt(client, d, o) == ["image staging/busybox"]
    assert client.sent == [("PATCH", "/1.0", None,
                            {"config": {"user.lxdplan.images": "other,staging/busybox"}},
                            "etag /1.0 None")]


def test_a_hand_made_snapshot_the_file_declares_is_added_to_its_parents_mark():
    """A snapshot's mark is its parent's ``user.lxdplan.snapshots`` (issue 21 item 2): import
    reads the parent where it is and PATCHes the list with the snapshot added, with that ETag."""
    from lxdplan.kinds.snapshot import ObservedSnapshot, Snapshot

    d = desired(instances=(Instance("web1", "busybox", project="staging", snapshots=(
        Snapshot("hand", "web1", project="staging"), Snapshot("mine", "web1", project="staging"))),),
                storage_pools=(pool("data"),),
                storage_volumes=(StorageVolume("data", "vol", member="n2", snapshots=(
                    Snapshot("v1", "vol", pool="data", member="n2"),)),))
    o = cluster(instances={"staging/web1": ObservedInstance("web1", "staging", managed_by_lxdplan=True,
                                                            config=dict(MARK))},
                storage_pools={"data": live_pool(managed_by_lxdplan=True, config=dict(MARK))},
                storage_volumes={"default/data/n2/vol": ObservedVolume("data", "vol", member="n2",
                                                                       managed_by_lxdplan=True)},
                snapshots={"staging///web1/hand": ObservedSnapshot("hand", "web1", "staging"),
                           "staging///web1/mine": ObservedSnapshot("mine", "web1", "staging",
                                                                   managed_by_lxdplan=True),
                           "default/data/n2/vol/v1": ObservedSnapshot("v1", "vol", pool="data",
                                                                      member="n2")})
    client = Recorder({"config": {"user.lxdplan.snapshots": "mine"}})
    assert adopt(client, d, o) == ["snapshot staging/web1/hand", "snapshot data/vol/v1"]
    vol = "/1.0/storage-pools/data/volumes/custom/vol"
    assert client.sent == [
        ("PATCH", "/1.0/instances/web1", {"project": "staging"},
         {"config": {"user.lxdplan.snapshots": "mine,hand"}},
         "etag /1.0/instances/web1 {'project': 'staging'}"),
        ("PATCH", vol, {"target": "n2"}, {"config": {"user.lxdplan.snapshots": "mine,v1"}},
         f"etag {vol} {{'target': 'n2'}}")]
