"""`endpoint: remote:NAME` resolved through lxc/incus client configurations written to a temp dir
(the integration tests make them with the real `lxc remote add`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lxdplan.desired import Desired, Member
from lxdplan.providers.certs import ensure_client_cert
from lxdplan.providers.remotes import (
    RemoteError, config_dirs, image_source, member_client, resolve,
)


def make_conf(directory: Path, remotes: dict, *, certs=(), client=True) -> Path:
    directory.mkdir(parents=True)
    (directory / "config.yml").write_text(yaml.safe_dump({"default-remote": "local",
                                                          "remotes": remotes}))
    (directory / "servercerts").mkdir()
    for name in certs:
        (directory / "servercerts" / f"{name}.crt").write_bytes(
            ensure_client_cert(directory / "made" / name).cert_path.read_bytes())
    if client:
        made = ensure_client_cert(directory / "made" / "client")
        (directory / "client.crt").write_bytes(made.cert_path.read_bytes())
        (directory / "client.key").write_bytes(made.key_path.read_bytes())
    return directory


def https(addr: str) -> dict:
    return {"addr": addr, "protocol": "lxd", "auth_type": "tls", "public": False}


def test_search_order_follows_the_backend_and_the_environment(tmp_path):
    home = tmp_path / "home"
    assert config_dirs("lxd", {}, home) == [("lxc", home / ".config/lxc"),
                                            ("lxc", home / "snap/lxd/common/config")]
    assert config_dirs("incus", {"INCUS_CONF": "/x"}, home) == [("incus", Path("/x"))]
    assert config_dirs(None, {"LXD_CONF": "/l"}, home) == [("lxc", Path("/l")),
                                                           ("incus", home / ".config/incus")]


def test_a_remote_gives_its_address_pinned_certificate_and_client_certificate(tmp_path):
    home = tmp_path / "home"
    make_conf(home / ".config/lxc", {"other": https("https://10.0.0.9:8443")})
    snap = make_conf(home / "snap/lxd/common/config", {"n1": https("https://10.0.0.1:8443/")},
                     certs=["n1"])
    remote = resolve("remote:n1", member="node1", backend="lxd", env={}, home=home)
    assert remote.url == "https://10.0.0.1:8443" and remote.tool == "lxc"
    assert remote.config_dir == snap and remote.fingerprint and len(remote.fingerprint) == 64
    assert remote.client_cert.cert_path == snap / "client.crt"
    incus = make_conf(tmp_path / "incus", {"n1": {**https("https://10.0.0.2:8443"),
                                                   "protocol": "incus"}}, certs=["n1"])
    found = resolve("remote:n1", member="node1", backend=None, env={"INCUS_CONF": str(incus),
                    "LXD_CONF": str(tmp_path / "none")}, home=home)
    assert (found.tool, found.url) == ("incus", "https://10.0.0.2:8443")


def test_missing_remote_unpinned_certificate_and_no_client_certificate_are_one_sentence(tmp_path):
    conf = make_conf(tmp_path / "lxc", {"n1": https("https://10.0.0.1:8443"),
                                        "local": {"addr": "unix://"}})
    env = {"LXD_CONF": str(conf)}
    with pytest.raises(RemoteError) as exc:
        resolve("remote:n9", member="node1", backend="lxd", env=env)
    assert str(exc.value) == (
        f"member node1 uses remote n9, which is not a remote of the lxc client configuration "
        f"({conf}): add it with `lxc remote add n9 https://ADDRESS:8443 --token TOKEN`, or set "
        f"the member's endpoint to its https:// URL")
    with pytest.raises(RemoteError) as exc:
        resolve("remote:n1", member="node1", backend="lxd", env=env)
    assert str(exc.value) == (
        f"member node1 uses remote n1 (https://10.0.0.1:8443), whose server certificate is not "
        f"pinned ({conf}/servercerts/n1.crt is missing): add the remote again with `lxc remote "
        f"add`, or declare the member's fingerprint")
    assert resolve("remote:n1", member="node1", backend="lxd", env=env, pinned=True).certificate is None
    with pytest.raises(RemoteError, match="member node1 uses remote local, whose address"):
        resolve("remote:local", member="node1", backend="lxd", env=env)
    bare = make_conf(tmp_path / "bare", {"n1": https("https://10.0.0.1:8443")}, certs=["n1"],
                     client=False)
    with pytest.raises(RemoteError) as exc:
        resolve("remote:n1", member="node1", backend="lxd", env={"LXD_CONF": str(bare)})
    assert str(exc.value) == (f"member node1 uses remote n1, but the lxc client configuration "
                              f"{bare} has no readable client certificate (client.crt and client.key)")


def test_member_client_pins_the_remote_certificate_and_presents_its_client_certificate(
        tmp_path, monkeypatch):
    conf = make_conf(tmp_path / "lxc", {"n1": https("https://10.0.0.1:8443")}, certs=["n1"])
    monkeypatch.setenv("LXD_CONF", str(conf))
    member = Member(name="node1", address="10.0.0.1:8443", endpoint="remote:n1")
    client = member_client(Desired(path="c.yaml", backend="lxd", members=(member,)), member)
    remote = resolve("remote:n1", member="node1", backend="lxd")
    assert client.endpoint == "https://10.0.0.1:8443" and client.pin_file == "c.yaml"
    assert remote.fingerprint in client.pins()
    assert client.cert.cert_path == conf / "client.crt"


def test_an_image_of_a_remote_is_pulled_from_its_address_with_its_pinned_certificate(tmp_path):
    conf = make_conf(tmp_path / "incus", {
        "lab": {**https("https://10.0.0.5:8443/"), "protocol": "incus"},
        "cloud": {"addr": "https://images.example:443", "protocol": "simplestreams"},
        "bare": https("https://10.0.0.6:8443"),
        "local": {"addr": "unix://"}}, certs=["lab"])
    env = {"INCUS_CONF": str(conf)}
    pulled = image_source("lab:busybox", instance="web", backend="incus", env=env)
    assert pulled == {"type": "image", "mode": "pull", "server": "https://10.0.0.5:8443",
                      "alias": "busybox", "protocol": "incus",
                      "certificate": (conf / "servercerts" / "lab.crt").read_text()}
    assert image_source("cloud:debian/12", instance="web", backend="incus", env=env) == {
        "type": "image", "mode": "pull", "server": "https://images.example:443",
        "alias": "debian/12", "protocol": "simplestreams"}
    with pytest.raises(RemoteError) as exc:
        image_source("bare:busybox", instance="web", backend="incus", env=env)
    assert str(exc.value) == (f"instance web: remote bare's server certificate is not pinned "
                              f"({conf}/servercerts/bare.crt is missing): add the remote again "
                              f"with `incus remote add`")
    with pytest.raises(RemoteError, match="instance web: remote local in .* has no https:// address"):
        image_source("local:busybox", instance="web", backend="incus", env=env)
    with pytest.raises(RemoteError, match="instance web: image nowhere:x names remote nowhere, "
                                          "which is not a remote of the client configuration"):
        image_source("nowhere:x", instance="web", backend="incus", env=env)
