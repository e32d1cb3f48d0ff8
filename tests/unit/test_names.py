"""Names are what LXD and Incus accept, per kind; "." and ".." never (a dot segment collapses in
the HTTP client: profile ".." read as GET /1.0), and every name is one quoted path segment."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from lxdplan.errors import ApiError, ValidationError
from lxdplan.kinds.base import api_path
from lxdplan.loader import PATTERN_WORDS, load_text, schema
from lxdplan.providers.actions.members import _cancel
from lxdplan.providers.client import Client, operation_path, path_of
from loaderkit import HEAD  # the loader tests' three-member header: lines 1-6; objects on line 8


# One object per kind, its name (or a reference) given by NAME.
OBJECTS = {
    "member": HEAD.replace("node3", "NAME", 1),
    "profile": HEAD + "profiles:\n  - {name: NAME}\n",
    "project": HEAD + "projects:\n  - {name: NAME}\n",
    "group": HEAD + "cluster_groups:\n  - {name: NAME}\n",
    "pool": HEAD + "storage_pools:\n  - {name: NAME, driver: dir}\n",
    "network": HEAD + "networks:\n  - {name: NAME, type: macvlan}\n",
    "bridge": HEAD + "networks:\n  - {name: NAME}\n",
    "volume": HEAD + "storage_pools:\n  - {name: p, driver: dir}\nstorage_volumes:\n"
                     "  - {pool: p, name: NAME, member: node1}\n",
    "acl": HEAD + "network_acls:\n  - {name: NAME}\n",
    "image": HEAD + "images:\n  - {name: NAME, source: {file: i.tar.xz}}\n",
    "instance": HEAD + "instances:\n  - {name: NAME, image: none}\n",
    "instance image": HEAD + "instances:\n  - {name: c1, image: NAME}\n",
    "instance profile": HEAD + "instances:\n  - {name: c1, image: none, profiles: [NAME]}\n",
    "instance project": HEAD + "instances:\n  - {name: c1, image: none, project: NAME}\n",
}
LINE = {"member": 6, "volume": 10}


def with_name(kind: str, name: str) -> str:
    return OBJECTS[kind].replace("NAME", json.dumps(name))


def errors(kind: str, name: str) -> list[tuple[int | None, str]]:
    try:
        load_text(with_name(kind, name))
    except ValidationError as exc:
        return [(d.line, d.message) for d in exc.diagnostics if d.severity == "error"]
    return []


def refused(kind: str, name: str, *words: str) -> None:
    errs = errors(kind, name)
    line = LINE.get(kind, 8)
    assert any(ln == line and json.dumps(name) in m and all(w in m for w in words)
               for ln, m in errs), errs


@pytest.mark.parametrize("kind", sorted(OBJECTS))
@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_are_refused_for_every_kind(kind, name):
    refused(kind, name, "not")


@pytest.mark.parametrize("kind", sorted(set(OBJECTS) - {"image", "instance image"}))
def test_slashes_are_refused_except_in_image_aliases(kind):
    refused(kind, "a/b")


def test_image_aliases_keep_their_slashes():
    assert errors("image", "debian/12") == []


@pytest.mark.parametrize("kind, name", [
    ("instance", "web_1"), ("instance", "-web"), ("instance", "web-"), ("instance", "1234"),
    ("instance", "w" * 64), ("instance", "wéb"), ("instance", "web.lan"),
    ("acl", "@web"), ("acl", "a.b"),
    ("project", "a_b"), ("project", "*"), ("project", 'a"b'), ("project", "a'b"),
    ("project", "a\\b"), ("project", "prōd"),
    ("group", "a_b"), ("group", "*"),
    ("pool", ".hidden"), ("pool", "-x"), ("pool", "dätä"),
    ("network", "a:b"), ("network", "a?b"), ("network", "a&b"), ("network", "a+b"),
    ("network", "a..b"), ("network", "a\\b"), ("network", "nät"),
    ("volume", "a\\b"),
    ("instance project", "a_b"),
])
def test_names_lxd_refuses_are_refused(kind, name):
    refused(kind, name, "must be")


@pytest.mark.parametrize("kind", ["instance", "profile", "project", "pool", "volume", "member"])
def test_a_name_ending_in_a_newline_is_refused(kind):
    # Python's "$" matches before a final newline; JSON Schema's (ECMA-262) does not.
    refused(kind, "web\n", "must be")


@pytest.mark.parametrize("name", ["x", "bridge-number-16"])
def test_a_bridge_is_named_as_its_interface(name):
    errs = errors("bridge", name)
    assert [ln for ln, m in errs if "a bridge is named as its interface: 2 to 15" in m] == [8], errs
    assert errors("network", name) == []  # a macvlan's name is not an interface's


@pytest.mark.parametrize("kind, name", [
    ("instance", "web-1"), ("instance", "w" * 63), ("instance", "Web1"), ("acl", "web"),
    ("project", "prod-2.eu"), ("group", "gpu"), ("pool", "data_1.x"), ("bridge", "lxdbr0"),
    ("bridge", "br.1"), ("network", "uplink"), ("volume", "web.data"), ("profile", "web.d"),
    ("image", "busybox"), ("member", "node-3.lan"),
])
def test_names_lxd_accepts_load(kind, name):
    assert errors(kind, name) == []


def test_an_instance_name_starting_with_a_digit_warns_that_lxd_5_refuses_it():
    _, warnings = load_text(with_name("instance", "1web"))
    assert [w.line for w in warnings if "LXD 5.0 refuses instance names that start with a "
                                        "digit" in w.message] == [8]
    _, warnings = load_text("backend: incus\n" + with_name("instance", "1web"))
    assert not [w for w in warnings if "digit" in w.message]


def test_every_pattern_of_the_schema_has_words():
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.append(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema())
    assert found and sorted(set(found)) == sorted(PATTERN_WORDS)
    for pattern in found:
        re.compile(pattern)


# -- paths -------------------------------------------------------------------------------------

@pytest.mark.parametrize("build", [api_path, path_of])
def test_a_name_is_one_path_segment_whatever_it_holds(build):
    for name, raw in ((".", "%2E"), ("..", "%2E%2E"), ("a/b", "a%2Fb"), ("a b", "a%20b"),
                      ("a?b#c", "a%3Fb%23c"), ("...", "..."), ("web.1", "web.1")):
        path = build("profiles", name)
        assert path == f"/1.0/profiles/{raw}"
        sent = httpx.Request("GET", "https://node1:8443" + path + "/state").url.raw_path
        assert sent == f"/1.0/profiles/{raw}/state".encode()


@pytest.mark.parametrize("given, path", [
    ("/1.0/operations/abc", "/1.0/operations/abc"),
    ("/1.0/operations/abc?project=p1", "/1.0/operations/abc?project=p1"),
    ("abc", "/1.0/operations/abc"),
    ("a b", "/1.0/operations/a%20b"),
])
def test_an_operation_named_by_a_server_stays_under_operations(given, path):
    assert operation_path(given) == path


@pytest.mark.parametrize("given", [
    "/1.0/operations/../instances/x", "../x", "..", ".", "", "/1.0/operations/..%2Fx",
    "/1.0/instances/x", "/1.0/operations/", "/1.0/operations/a/b",
])
def test_an_operation_outside_operations_is_refused(given):
    with pytest.raises(ValueError, match="not one operation under /1.0/operations/"):
        operation_path(given)


def test_waiting_for_an_escaping_operation_sends_nothing(tmp_path):
    client = Client(f"unix://{tmp_path}/no.socket", member="node2")  # any request would fail
    try:
        with pytest.raises(ApiError, match="node2.*PUT /1.0/cluster: the server named operation "
                                           "'/1.0/operations/../instances/x'"):
            client.wait_operation("/1.0/operations/../instances/x", method="PUT",
                                  path="/1.0/cluster")
    finally:
        client.close()


def test_cancelling_an_escaping_operation_deletes_nothing():
    deleted: list[str] = []

    class Recorder:
        def delete(self, path, **_):
            deleted.append(path)

    assert _cancel(Recorder(), "/1.0/operations/../instances/x?project=default") == 0
    assert _cancel(Recorder(), "../../1.0/instances/x") == 0
    assert deleted == []
