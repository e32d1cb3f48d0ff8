"""`lxdplan convert-preseed`: the seed's own preseeds, the separate-address variant, errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from lxdplan.loader import load
from lxdplan.providers.certs import ensure_client_cert, fingerprint

DATA = Path(__file__).parent / "data" / "preseed"
SEED_BOOTSTRAP = DATA / "seed-bootstrap.yaml"
SEED_JOIN = DATA / "seed-join.yaml"  # the seed's join example, certificate elided as "..."


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lxdplan", "convert-preseed", *args],
                          capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def certificate(tmp_path) -> str:
    """A real PEM certificate, written the way the seed tells operators to (blank lines between
    its lines, so YAML folding keeps the line breaks)."""
    made = ensure_client_cert(tmp_path / "cert")
    return made.cert_path.read_text()


def seed_join_with(cert_pem: str, tmp_path: Path) -> Path:
    """The seed's join preseed with its elided certificate replaced by a real one."""
    text = SEED_JOIN.read_text()
    start, end = text.index('"-----BEGIN'), text.index('-----END CERTIFICATE-----\n"') + 27
    spaced = "\n\n".join(cert_pem.strip().splitlines())
    path = tmp_path / "join.yaml"
    path.write_text(text[:start] + '"' + spaced + '\n"' + text[end:])
    return path


def convert_to(tmp_path: Path, *inputs: Path | str, extra: tuple[str, ...] = ()) -> tuple[dict, str]:
    out = tmp_path / "lxdplan.yaml"
    done = run(*map(str, inputs), "-o", str(out), *extra)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    return yaml.safe_load(text), text + done.stderr + done.stdout


def test_seed_bootstrap_preseed_becomes_a_valid_file(tmp_path):
    doc, text = convert_to(tmp_path, SEED_BOOTSTRAP)
    assert "sekret" not in text
    assert doc["cluster"]["members"] == [{
        "name": "node1", "address": "10.55.60.171:8443",
        "trust": {"password": {"env": "LXD_TRUST_PASSWORD"}},
    }]
    assert doc["cluster"]["config"] == {
        "core.trust_password": {"env": "LXD_TRUST_PASSWORD"}, "images.auto_update_interval": "15",
    }
    assert [p["name"] for p in doc["storage_pools"]] == ["default"]
    assert doc["networks"][0]["config"] == {"ipv4.address": "192.168.100.14/24", "ipv6.address": "none"}
    assert doc["profiles"][0]["devices"]["eth0"]["parent"] == "lxdbr0"
    desired, _warnings = load(str(tmp_path / "lxdplan.yaml"))
    assert [m.name for m in desired.members] == ["node1"]


def test_seed_join_preseed_adds_the_member_and_pins_the_cluster_certificate(tmp_path, certificate):
    join = seed_join_with(certificate, tmp_path)
    doc, text = convert_to(tmp_path, SEED_BOOTSTRAP, join)
    assert "sekret" not in text
    node1, node2 = doc["cluster"]["members"]
    assert node1["fingerprint"] == fingerprint(certificate)
    assert node2 == {"name": "node2", "address": "10.55.60.155:8443"}
    # `value: ""` leaves the dir pool's path to LXD: no member-specific key is declared.
    assert doc["storage_pools"] == [{"name": "default", "driver": "dir"}]
    load(str(tmp_path / "lxdplan.yaml"))


def test_seed_join_preseed_as_printed_is_a_yaml_error_with_its_line(tmp_path):
    done = run(str(SEED_BOOTSTRAP), str(SEED_JOIN))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{SEED_JOIN}:12: YAML syntax error" in done.stderr


def test_member_config_becomes_member_specific_keys(tmp_path):
    boot = tmp_path / "boot.yaml"
    boot.write_text(textwrap.dedent("""\
        config: {core.https_address: "10.1.0.1:8443"}
        storage_pools:
        - {name: data, driver: dir, config: {source: /srv/data1}}
        networks:
        - {name: up, type: bridge, config: {bridge.external_interfaces: eth1, ipv4.address: none}}
        cluster: {server_name: n1, enabled: true}
        """))
    join = tmp_path / "n2.yaml"
    join.write_text(textwrap.dedent("""\
        config: {core.https_address: "10.1.0.2:8443"}
        cluster:
          server_name: n2
          enabled: true
          server_address: 10.1.0.2:8443
          cluster_address: 10.1.0.1:8443
          cluster_token: c2VjcmV0
          member_config:
          - {entity: storage-pool, name: data, key: source, value: /srv/data2}
          - {entity: network, name: up, key: bridge.external_interfaces, value: eth2}
        """))
    doc, text = convert_to(tmp_path, boot, join)
    assert "c2VjcmV0" not in text and "cluster_token dropped" in text
    assert doc["storage_pools"] == [{
        "name": "data", "driver": "dir",
        "members": {"n1": {"source": "/srv/data1"}, "n2": {"source": "/srv/data2"}},
    }]
    assert doc["networks"][0]["members"] == {
        "n1": {"bridge.external_interfaces": "eth1"}, "n2": {"bridge.external_interfaces": "eth2"},
    }
    assert doc["networks"][0]["config"] == {"ipv4.address": "none"}
    assert [m["address"] for m in doc["cluster"]["members"]] == ["10.1.0.1:8443", "10.1.0.2:8443"]
    assert all("config" not in m for m in doc["cluster"]["members"])  # REST = cluster address


def test_separate_rest_and_cluster_addresses(tmp_path):
    """The seed's last section: a virtual REST address, the cluster address apart."""
    boot = tmp_path / "boot.yaml"
    boot.write_text(textwrap.dedent("""\
        config:
          core.trust_password: sekret
          core.https_address: my.lxd.cluster:8443
          cluster.https_address: 10.55.60.171:8443
        cluster: {server_name: node1, enabled: true}
        """))
    doc, _ = convert_to(tmp_path, boot)
    assert doc["cluster"]["members"][0]["address"] == "10.55.60.171:8443"
    assert doc["cluster"]["members"][0]["config"] == {"core.https_address": "my.lxd.cluster:8443"}


def test_what_cannot_be_expressed_is_named_with_file_and_line(tmp_path):
    boot = tmp_path / "boot.yaml"
    boot.write_text(textwrap.dedent("""\
        config: {core.https_address: "[::]:8443"}
        certificates: []
        cluster: {server_name: n1, enabled: true}
        """))
    join = tmp_path / "join.yaml"
    join.write_text(textwrap.dedent("""\
        cluster:
          server_name: n2
          server_address: 10.1.0.2:8443
          cluster_address: 10.1.0.1:8443
          member_config:
          - {entity: storage-pool, name: nope, key: source, value: /x}
        """))
    done = run(str(boot), str(join))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{boot}:2: preseed key certificates cannot be expressed" in done.stderr
    assert f"{boot}:1: member n1 has no cluster address" in done.stderr


def test_join_problems_are_named(tmp_path):
    boot = tmp_path / "boot.yaml"
    boot.write_text("config: {core.https_address: 10.1.0.1:8443}\ncluster: {server_name: n1, enabled: true}\n")
    join = tmp_path / "join.yaml"
    join.write_text(textwrap.dedent("""\
        cluster:
          server_name: n2
          server_address: 10.1.0.2:8443
          cluster_address: 10.9.9.9:8443
          member_config:
          - {entity: storage-pool, name: nope, key: source, value: /x}
        """))
    done = run(str(boot), str(join))
    assert done.returncode == 1
    assert f"{join}:4: cluster.cluster_address 10.9.9.9:8443 is not the address of a member" in done.stderr
    assert f"{join}:6: cluster.member_config[0] names storage pool nope" in done.stderr


def test_incus_has_no_trust_password(tmp_path):
    done = run(str(SEED_BOOTSTRAP), "--backend", "incus")
    assert done.returncode == 1
    assert f"{SEED_BOOTSTRAP}:2: preseed key config.core.trust_password does not exist on Incus" in done.stderr


def test_a_standalone_dump_needs_a_name(tmp_path):
    dump = tmp_path / "dump.yaml"
    dump.write_text("config: {core.https_address: 10.1.0.1:8443}\nnetworks: []\nstorage_pools:\n"
                    "- {name: default, driver: dir, config: {source: /var/lib/lxd/storage-pools/default}}\n"
                    "profiles: []\nprojects: []\ncluster: null\n")
    done = run(str(dump))
    assert done.returncode == 1 and "pass --name NAME" in done.stderr
    doc, _ = convert_to(tmp_path, dump, extra=("--name", "solo"))
    assert doc["storage_pools"][0]["members"] == {"solo": {"source": "/var/lib/lxd/storage-pools/default"}}


def test_custom_volumes_of_a_dump_live_on_the_member(tmp_path):
    dump = tmp_path / "dump.yaml"
    dump.write_text(textwrap.dedent("""\
        config: {core.https_address: 10.1.0.1:8443}
        storage_pools: [{name: p, driver: dir}]
        storage_volumes:
        - {name: web, pool: p, type: custom, content_type: filesystem, config: {size: 1GiB}}
        - {name: c1, pool: p, type: container}
        cluster: null
        """))
    doc, _ = convert_to(tmp_path, dump, extra=("--name", "n1"))
    assert doc["storage_volumes"] == [{"pool": "p", "name": "web", "member": "n1", "config": {"size": "1GiB"}}]


def test_a_builtin_objects_missing_description_is_the_servers_own(tmp_path):
    """The seed's preseed gives the default profile devices and no description: LXD keeps its
    built-in one, so the file says it (a trust password means LXD before 6.1)."""
    doc, _ = convert_to(tmp_path, SEED_BOOTSTRAP)
    assert doc["profiles"][0]["name"] == "default"
    assert doc["profiles"][0]["description"] == "Default LXD profile"
    preseed = tmp_path / "incus.yaml"
    preseed.write_text(textwrap.dedent("""\
        config: {core.https_address: 10.0.0.1:8443}
        profiles: [{name: default, devices: {root: {path: /, pool: p, type: disk}}}, {name: web}]
        projects: [{name: default, config: {features.images: "true"}}]
        storage_pools: [{name: p, driver: dir}]
        cluster: {server_name: node1, enabled: true}
        """))
    doc, _ = convert_to(tmp_path, preseed, extra=("--backend", "incus"))
    assert [p.get("description") for p in doc["profiles"]] == ["Default Incus profile", None]
    assert doc["projects"][0]["description"] == "Default Incus project"
    doc, said = convert_to(tmp_path, preseed)
    assert "description" not in doc["profiles"][0]
    assert "profile default has no description in the preseed" in said
