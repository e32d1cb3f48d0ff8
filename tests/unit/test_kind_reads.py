"""The reads each kind declares (``listings``, ``early_reads``, ``reads``: pure, on recorded
answers) and the order the observer sends them in, checked with a client that answers from the
recordings of test_provider_parse and futures that run only when waited on (so what was sent
before a listing was first waited on is exact, with no threads and no timing)."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace

import pytest

from lxdplan.kinds import EarlyReads
from lxdplan.registry import registry, find_spec
from lxdplan.livedata import Get, Reading, Recorded
from lxdplan.loader import load_text
from lxdplan.providers.client import NoAnswer, Response
from lxdplan.providers import shapes
from lxdplan.providers.observe import FULL, PLAN, _Observer
from lxdplan.errors import ApiError, ConnectError

FILE = """
version: 1
cluster:
  members:
    - {name: node1, address: 10.55.0.1:8443}
    - {name: node2, address: 10.55.0.2:8443}
    - {name: node3, address: 10.55.0.3:8443}
storage_pools:
  - name: data
    driver: dir
    members:
      node2: {source: /srv/data-node2}
networks:
  - {name: plain, type: bridge}
  - name: keyed
    type: bridge
    members:
      node1: {bridge.external_interfaces: eth9}
projects:
  - name: staging
    config: {features.profiles: "true", features.images: "true"}
profiles:
  - {name: web}
storage_volumes:
  - {pool: data, name: vol1, member: node2}
"""
DESIRED, _ = load_text(FILE, "cluster.yaml")
MEMBERS = ("node1", "node2", "node3")
DATA = Path(__file__).parent / "data" / "lxd-5.0.2"


def rec(name: str):
    return json.loads((DATA / f"{name}.json").read_text())["body"]["metadata"]


def ctx(lean: bool = True, offline=(), every_project: bool = False) -> Reading:
    return Reading(desired=DESIRED, backend=SimpleNamespace(all_projects_profiles=every_project,
                                                   has=lambda extension: True),
                   lean=lean, members=MEMBERS, offline=frozenset(offline))


def listing(items) -> tuple:
    return (items, None)


NETS = [{"name": "plain", "type": "bridge", "managed": True, "status": "Created",
         "locations": list(MEMBERS)},
        {"name": "keyed", "type": "bridge", "managed": True, "status": "Created",
         "locations": list(MEMBERS)},
        {"name": "half", "type": "bridge", "managed": True, "status": "Pending",
         "locations": ["node2", "node3"]},
        {"name": "o", "type": "ovn", "managed": True, "status": "Created"}]


def test_networks_at_plan_detail_read_declared_keys_views_and_one_untargeted_etag():
    early = find_spec("network").early_reads(ctx(), Recorded())
    assert early == {("view", "keyed", "node1"): Get.of("/1.0/networks/keyed", member="node1"),
                     ("etag", "plain"): Get.of("/1.0/networks/plain")}
    late = find_spec("network").reads(ctx(), Recorded({"networks": {"listing": listing(NETS)}}))
    assert set(late) == {("view", "keyed", "node1"), ("etag", "plain"),
                         ("view", "half", "node2"), ("view", "half", "node3"), ("view", "o", "")}


def test_networks_at_full_detail_read_every_members_view():
    early = find_spec("network").early_reads(ctx(lean=False), Recorded())
    assert set(early) == {("view", n, m) for n in ("plain", "keyed") for m in MEMBERS}


def test_an_offline_members_view_is_not_asked_and_the_etag_comes_untargeted():
    late = find_spec("network").reads(ctx(offline={"node1"}),
                                 Recorded({"networks": {"listing": listing(NETS[:2])}}))
    assert late == {("etag", "plain"): Get.of("/1.0/networks/plain"),
                    ("etag", "keyed"): Get.of("/1.0/networks/keyed")}


def test_pools_read_views_from_the_cheap_name_list_then_from_the_listing():
    pools = find_spec("storage_pool")
    names = Recorded({"storage_pools": {"names": listing(["/1.0/storage-pools/data"])}})
    assert pools.early_reads(ctx(), names) == {
        ("view", "data", "node2"): Get.of("/1.0/storage-pools/data", member="node2")}
    listed = Recorded({"storage_pools": {"listing": listing(rec("pools"))}})
    assert set(pools.reads(ctx(), listed)) == {("view", "data", "node2"), ("view", "pend", "node1")}
    assert pools.listings(ctx())["listing"].required and not pools.listings(ctx())["names"].required


def test_volumes_are_listed_per_pool_and_their_etags_read_at_full_detail_only():
    volumes = find_spec("storage_volume")
    names = Recorded({"storage_pools": {"names": listing(["/1.0/storage-pools/data"])}})
    every = {"recursion": 1, "all-projects": "true"}
    assert volumes.early_reads(ctx(), names) == {
        ("volumes", "data"): Get.of("/1.0/storage-pools/data/volumes", every)}
    full = volumes.early_reads(ctx(lean=False), names)
    assert full[("etag", ("default", "data", "vol1", "custom", "node2"))] == Get.of(
        "/1.0/storage-pools/data/volumes/custom/vol1", member="node2")


def test_profiles_and_images_list_each_project_with_its_own_collection():
    projects = Recorded({"projects": {"listing": listing(rec("projects"))}})  # staging: profiles
    assert find_spec("profile").reads(ctx(), projects) == {
        ("project", "staging"): Get.listing("/1.0/profiles", {"project": "staging"})}
    assert find_spec("profile").reads(ctx(every_project=True), projects) == {}
    assert find_spec("profile").listings(ctx(every_project=True))["listing"] == Get.listing(
        "/1.0/profiles", {"all-projects": "true"})
    assert find_spec("image").reads(ctx(), projects) == {}  # staging has no images of its own there


def test_etags_of_declared_objects_are_read_while_observing_at_full_detail_only():
    names = Recorded({"storage_pools": {"names": listing(["/1.0/storage-pools/data"])}})
    lean = {kind.section: [k for k in kind.early_reads(ctx(), names) if k[0] == "etag"]
            for kind in registry() if isinstance(kind, EarlyReads)}
    assert {s: keys for s, keys in lean.items() if keys} == {"networks": [("etag", "plain")]}
    profile = find_spec("profile").early_reads(ctx(lean=False), Recorded())
    assert profile == {("etag", ("default", "web")): Get.of("/1.0/profiles/web")}


# -- the observer: what it sends, and when ---------------------------------------------------


class LazyFuture(Future):
    """Runs when first waited on, in the waiting thread; remembers how many reads had been
    submitted by then."""

    def __init__(self, pool: "LazyPool", fn, args):
        super().__init__()
        self.pool, self.fn, self.args, self.index = pool, fn, args, len(pool.futures)
        self.forced_at: int | None = None

    def _force(self) -> None:
        if self.forced_at is None:
            self.forced_at = len(self.pool.futures)
            self.pool.running.append(self)
            try:
                self.set_result(self.fn(*self.args))
            except BaseException as exc:  # recorded as the read's outcome
                self.set_exception(exc)
            finally:
                self.pool.running.pop()

    def result(self, timeout=None):
        self._force()
        return super().result(timeout)

    def exception(self, timeout=None):
        self._force()
        return super().exception(timeout)


class LazyPool:
    def __init__(self):
        self.futures: list[LazyFuture] = []
        self.running: list[LazyFuture] = []

    def submit(self, fn, *args):
        fut = LazyFuture(self, fn, args)
        self.futures.append(fut)
        return fut


class Recording:
    """A member's endpoint answering from the recordings; each read is logged with the future
    that made it."""

    scheme = "unix"

    def __init__(self, name: str, pool: LazyPool, log: list, offline: set[str]):
        self.name, self.pool, self.log, self.offline = name, pool, log, offline
        self.endpoint, self.serving = f"unix:///{name}", True

    def get(self, path, params=None, not_ready_wait=None):
        params = {k: v for k, v in (params or {}).items() if v is not None}
        self.log.append((path, params, self.pool.running[-1]))
        if self.name in self.offline and path == "/1.0" and "target" not in params:
            raise ConnectError(f"{self.name} is down", member=self.name)
        return Response(200, self.answer(path, params), '"e"')

    def answer(self, path, params):
        if path == "/1.0":
            meta = rec("server")
            meta["environment"]["server_name"] = params.get("target", self.name)
            return meta
        if path.endswith("/volumes"):
            return rec("volumes_data")
        members = [{**m, "status": "Offline" if m["server_name"] in self.offline else m["status"]}
                   for m in rec("members")]
        recorded = {
            "/1.0/cluster/members": members if params else {},
            "/1.0/storage-pools": rec("pools") if params else ["/1.0/storage-pools/data"],
            "/1.0/networks": NETS[:2], "/1.0/cluster/groups": rec("groups"),
            "/1.0/projects": rec("projects"), "/1.0/profiles": rec("profiles"),
        }
        if path in recorded:
            return recorded[path]
        if shapes.listing_identity(path) is not None:
            return []  # any other collection a kind lists (a new kind's too): empty
        return {"config": {}, "status": "Created"}


def observe_lazily(detail: str, offline: set[str] = frozenset()):
    pool, log = LazyPool(), []
    clients = {m: Recording(m, pool, log, set(offline)) for m in MEMBERS}
    observed = _Observer(DESIRED, clients, pool, detail).run()
    return observed, log


def sent(log, path: str, **params):
    return [fut for p, prm, fut in log if p == path and all(prm.get(k) == v for k, v in params.items())]


@pytest.mark.parametrize("detail", [PLAN, FULL])
def test_member_views_are_sent_before_the_listings_are_waited_for(detail):
    observed, log = observe_lazily(detail)
    (nets,) = sent(log, "/1.0/networks", recursion=1)
    (pools,) = sent(log, "/1.0/storage-pools", recursion=1)
    views = sent(log, "/1.0/networks/keyed", target="node1") + sent(
        log, "/1.0/storage-pools/data", target="node2")
    assert len(views) == 2
    assert all(v.index < nets.forced_at and v.index < pools.forced_at for v in views)
    assert set(observed.networks["keyed"].members) == ({"node1"} if detail == PLAN else set(MEMBERS))


def test_each_read_is_sent_once_and_none_to_an_offline_member():
    _observed, log = observe_lazily(PLAN, offline={"node3"})
    reads = [(p, tuple(sorted(prm.items()))) for p, prm, _fut in log if p != "/1.0"]
    assert len(reads) == len(set(reads))
    assert not [r for r in reads if dict(r[1]).get("target") == "node3"]


class Failing(Recording):
    """A recording whose reads of ``fail`` ((path, target) -> exception) fail."""

    fail: dict = {}

    def get(self, path, params=None, not_ready_wait=None):
        error = self.fail.get((path, (params or {}).get("target")))
        if error is not None:
            self.log.append((path, dict(params or {}), self.pool.running[-1]))
            raise error
        return super().get(path, params)


def observe_failing(fail: dict):
    pool, log = LazyPool(), []
    clients = {m: Failing(m, pool, log, set()) for m in MEMBERS}
    for c in clients.values():
        c.fail = fail
    return _Observer(DESIRED, clients, pool, PLAN).run()


def test_a_view_read_as_not_found_is_absent_and_any_other_failure_stops_the_observation():
    view = ("/1.0/storage-pools/data", "node2")
    gone = observe_failing({view: ApiError("not found", member="node2", status=404)})
    assert "node2" not in gone.storage_pools["data"].members
    # A server error, a dropped connection or a member that answers nothing is no evidence the
    # pool is missing there: planning on it would add the member's source again.
    dropped = ConnectError("cannot reach member node2: Server disconnected", member="node2",
                           mid_request=True)
    for error in (ApiError("LXD refused GET: Internal Server Error", member="node2", status=500), dropped,
                  NoAnswer("node2 answered nothing", member="node2")):
        with pytest.raises(type(error)):
            observe_failing({view: error})


def test_a_member_that_cannot_be_connected_to_is_read_as_down():
    down = ConnectError("cannot reach member node2: Connection refused", member="node2")
    observed = observe_failing({("/1.0/storage-pools/data", "node2"): down})
    assert "node2" not in observed.storage_pools["data"].members


class Patience(Recording):
    """A recording that notes how long each ``GET /1.0`` forwarded to a member may be asked again
    while refused as not ready."""

    waits: dict = {}

    def get(self, path, params=None, not_ready_wait=None):
        if path == "/1.0" and (params or {}).get("target"):
            self.waits[params["target"]] = not_ready_wait
        return super().get(path, params)


def test_a_leaving_members_own_view_is_asked_once():
    """Incus refuses a read forwarded to a member it cannot reach as "not ready" for as long as
    the member is down, and a dead evacuated member is listed Evacuated, not Offline: the view
    of a member the file no longer declares is asked once, not for the client's not-ready wait
    (which stays the default for everything else)."""
    pool, log = LazyPool(), []
    two = dataclasses.replace(DESIRED, members=DESIRED.members[:2])
    clients = {m: Patience(m, pool, log, set()) for m in ("node1", "node2")}
    Patience.waits = {}
    _Observer(two, clients, pool, PLAN).run()
    assert Patience.waits == {"node3": 0.0}


def test_a_declared_member_whose_endpoint_is_down_is_asked_once_through_another():
    """A member whose daemon died is listed Online until the offline threshold passes; its own
    endpoint refuses the connection. Its view, read through another member, is asked once."""
    pool, log = LazyPool(), []
    clients = {"node1": Patience("node1", pool, log, set()),
               "node2": Patience("node2", pool, log, {"node2"}),  # its own GET /1.0 fails
               "node3": Patience("node3", pool, log, set())}
    Patience.waits = {}
    _Observer(DESIRED, clients, pool, PLAN).run()
    assert Patience.waits == {"node2": 0.0}
