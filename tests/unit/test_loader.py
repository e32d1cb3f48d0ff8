"""The desired-state loader: every validation rule, failing (exact line, message) and passing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loaderkit import HEAD, assert_error, doc, errors_of, ok
from lxdplan.desired import Secret
from lxdplan.errors import LxdplanError, ValidationError
from lxdplan.loader import load

ROOT = Path(__file__).resolve().parents[2]


# -- the file itself -----------------------------------------------------------------------------

def test_minimal_valid_file_loads_with_lines():
    desired, warnings = ok(doc())
    assert [m.name for m in desired.members] == ["node1", "node2", "node3"]
    assert [m.line for m in desired.members] == [4, 5, 6]
    assert desired.members[0].endpoint == "https://10.0.0.1:8443"
    assert warnings == []


@pytest.mark.parametrize("text", ["", "# nothing here\n", "~\n"])
def test_empty_file(text):
    assert_error(text, None, "the file is empty")


def test_root_must_be_mapping():
    assert_error("- a\n- b\n", 1, "top level must be a mapping", "not a list")


def test_yaml_syntax_error_has_line():
    assert_error(doc("networks:\n  - name: a: b\n"), 8, "YAML syntax error", "quote a value that holds")


def test_duplicate_keys_are_errors():
    text = doc("""\
        storage_pools:
          - name: a
            driver: dir
            driver: zfs
        """)
    assert_error(text, 10, 'duplicate key "driver" in storage_pools[0]', "first at line 9")


def test_invalid_utf8(tmp_path):
    f = tmp_path / "lxdplan.yaml"
    f.write_bytes(HEAD.encode() + b"# caf\xe9\n")
    with pytest.raises(ValidationError) as info:
        load(str(f))
    assert info.value.diagnostics[0].line == 7
    assert "not valid UTF-8" in info.value.diagnostics[0].message


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(LxdplanError, match="no such file; create it or pass -f FILE"):
        load(path)


def test_version_must_be_1():
    assert_error(doc().replace("version: 1", "version: 2"), 1, "version must be 1")


def test_backend_values():
    assert_error(doc("backend: lxc\n"), 7, "backend must be lxd or incus")
    assert ok(doc("backend: incus\n"))[0].backend == "incus"


def test_unknown_key_with_suggestion():
    assert_error(doc("stroage_pools: []\n"), 7,
                 'unknown key "stroage_pools" at the top level; did you mean "storage_pools"?')


def test_unknown_nested_key():
    assert_error(doc("storage_pools:\n  - {name: a, driver: dir, descripton: x}\n"), 8,
                 'unknown key "descripton" in storage_pools[0]', 'did you mean "description"?')


def test_missing_required_key():
    assert_error(doc("storage_pools:\n  - name: a\n"), 8, "storage_pools[0].driver is missing")


def test_type_error_in_plain_words():
    assert_error(doc("storage_pools:\n  - {name: a, driver: dir, config: {size: [1]}}\n"), 8,
                 'storage_pools[0].config.size must be a string, number or boolean, not a list')


def test_all_errors_reported_at_once():
    text = doc("""\
        stroage_pools: []
        storage_pools:
          - {name: a, driver: dir, config: {source: /x}}
        profiles:
          - name: default
            devices: {root: {type: disk, path: /, pool: nope}}
        """)
    lines = sorted(ln for ln, _ in errors_of(text))
    assert lines == [7, 9, 12]


# -- members -------------------------------------------------------------------------------------

def test_zero_members_is_error():
    assert_error("version: 1\ncluster:\n  members: []\n", 3, "cluster.members is empty")


def test_fewer_than_three_members_warns():
    desired, warnings = ok("version: 1\ncluster:\n  members:\n    - {name: a, address: 'h:1'}\n")
    assert [(w.line, w.message) for w in warnings] == [
        (3, "1 member(s): the cluster cannot survive losing a member (3 or more keep quorum)")]


def test_duplicate_member_names():
    text = HEAD + "    - {name: node1, address: '10.0.0.4:8443'}\n"
    assert_error(text, 7, "member is declared twice", "line 4")


@pytest.mark.parametrize("address", ["10.0.0.9", "http://h:1", "[fd00::1]", "h:99999"])
def test_bad_address(address):
    text = doc().replace('"10.0.0.3:8443"', f'"{address}"')
    assert_error(text, 6, "cluster.members[2].address must be host:port")


def test_ipv6_address_and_endpoints():
    text = doc().replace('"10.0.0.3:8443"', '"[fd00::3]:8443", endpoint: "unix:///run/lxd.socket"')
    m = ok(text)[0].members[2]
    assert (m.address, m.endpoint) == ("[fd00::3]:8443", "unix:///run/lxd.socket")


def test_remote_endpoint_is_accepted():
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", endpoint: "remote:lab-n3"')
    m = ok(text)[0].members[2]
    assert (m.address, m.endpoint) == ("10.0.0.3:8443", "remote:lab-n3")


@pytest.mark.parametrize("endpoint", ["http://h:1", "unix://rel", "https://h", "tcp://h:1",
                                      "remote:", "remote:a b"])
def test_bad_endpoint(endpoint):
    text = doc().replace('"10.0.0.3:8443"', f'"10.0.0.3:8443", endpoint: "{endpoint}"')
    assert_error(text, 6, "cluster.members[2].endpoint must be https://host:port or unix:///")


def test_fingerprint_normalised_and_checked():
    fp = ":".join(["AB"] * 32)
    m = ok(doc().replace('"10.0.0.3:8443"', f'"10.0.0.3:8443", fingerprint: "{fp}"'))[0].members[2]
    assert m.fingerprint == "ab" * 32
    assert_error(doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", fingerprint: "abc"'), 6,
                 "64 hex digits")


def test_state_values():
    assert_error(doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", state: gone'), 6,
                 "cluster.members[2].state must be online or evacuated")
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", state: evacuated')
    assert ok(text)[0].members[2].state == "evacuated"


def test_roles():
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", roles: [database]')
    assert_error(text, 6, 'role "database" is assigned by LXD itself')
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", roles: [gpu]')
    assert_error(text, 6, 'unknown role "gpu"')
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", roles: [event-hub]')
    assert ok(text)[0].members[2].roles == ("event-hub",)


def test_groups_must_be_declared():
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", groups: [default, gpu]')
    assert_error(text, 6, 'is in group "gpu", which is not declared in cluster_groups')
    desired, _ = ok(text + "cluster_groups:\n  - {name: gpu}\n")
    assert desired.members[2].groups == ("default", "gpu")
    assert desired.cluster_groups[0].line == 8


def test_empty_groups_is_error():
    assert_error(doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", groups: []'), 6,
                 "may not be empty")


def test_duplicate_cluster_groups():
    assert_error(doc("cluster_groups:\n  - {name: g}\n  - {name: g}\n"), 9, "cluster group is declared twice")


def test_member_config_only_member_local_keys():
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", config: {images.auto_update_interval: 6}')
    assert_error(text, 6, '"images.auto_update_interval" is a cluster-wide server key',
                 "put it under cluster.config")
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", config: {core.https_address: ":8443"}')
    assert ok(text)[0].members[2].config == {"core.https_address": ":8443"}


def test_trust():
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", trust: {token: {env: T3}}')
    assert ok(text)[0].members[2].trust.token == Secret("env", "T3")
    both = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", trust: {password: {env: P}, token: {env: T}}')
    assert_error(both, 6, "takes password or token, not both")
    incus = doc("backend: incus\n").replace('"10.0.0.3:8443"', '"10.0.0.3:8443", trust: {password: {env: P}}')
    assert_error(incus, 6, "Incus has no trust password")


# -- server config -------------------------------------------------------------------------------

def server(config: str) -> str:
    return HEAD.replace("cluster:\n", f"cluster:\n  config:\n{textwrap.indent(config, '    ')}")


def test_member_local_key_in_cluster_config():
    assert_error(server("core.https_address: ':8443'\n"), 4, '"core.https_address" is a member-local',
                 "cluster.members[i].config")


def test_server_values_normalised_secrets_and_null():
    desired, _ = ok(server("images.auto_update_interval: 15\ncore.trust_password: {env: PW}\n"
                           "user.flag: true\nuser.ratio: 1.5\nuser.two: 2.0\nimages.remote_cache_expiry: null\n"))
    assert desired.config == {"images.auto_update_interval": "15", "core.trust_password": Secret("env", "PW"),
                              "user.flag": "true", "user.ratio": "1.5", "user.two": "2.0",
                              "images.remote_cache_expiry": None}


def test_scalars_keep_the_text_lxd_needs():
    desired, _ = ok(server("user.a: 0755\nuser.b: 1.10\nuser.c: 2024-01-01\nuser.d: yes\nuser.e: -3\n"))
    assert desired.config == {"user.a": "0755", "user.b": "1.10", "user.c": "2024-01-01",
                              "user.d": "true", "user.e": "-3"}


def test_plain_text_trust_password_warns():
    text = doc().replace('"10.0.0.3:8443"', '"10.0.0.3:8443", trust: {password: hunter2}')
    _, warnings = ok(text)
    assert [(w.line, w.severity) for w in warnings] == [(6, "warning")]
    assert "plain text" in warnings[0].message


def test_yaml_anchors_merge_and_x_keys():
    text = """\
        x-member: &m {address: "10.0.0.1:8443", failure_domain: rack1}
        version: 1
        cluster:
          members:
            - {<<: *m, name: n1}
            - {<<: *m, name: n2, address: "10.0.0.2:8443"}
            - {<<: *m, name: n3, address: "10.0.0.3:8443"}
        """
    desired, _ = ok(textwrap.dedent(text))
    assert [(m.name, m.address, m.failure_domain) for m in desired.members][1] == ("n2", "10.0.0.2:8443", "rack1")


def test_unknown_tag_is_an_error():
    assert_error(doc("x-a: !foo bar\n"), 7, "YAML error", "!foo")


def test_secret_shape():
    assert_error(server("core.trust_password: {env: A, file: b}\n"), 4,
                 "must be a secret written as {env: NAME} or {file: PATH}")
    assert_error(server("core.trust_password: {vault: x}\n"), 4, "must be a secret")


def test_trust_password_not_in_incus():
    text = server("core.trust_password: {env: PW}\n").replace("version: 1\n", "version: 1\nbackend: incus\n")
    assert_error(text, 5, '"core.trust_password" does not exist in Incus')


def test_volatile_keys_rejected():
    assert_error(server("volatile.x: y\n"), 4, '"volatile.x" in cluster.config is a key LXD sets itself')
    assert_error(doc("projects:\n  - {name: p, config: {volatile.x: y}}\n"), 8, "volatile")


def test_lxdplan_own_keys_rejected():
    assert_error(doc("networks:\n  - {name: n, config: {user.lxdplan.managed: 'true'}}\n"), 8,
                 '"user.lxdplan.managed" in networks[0].config is a key lxdplan keeps for itself')


def test_null_only_in_server_config():
    assert_error(doc("projects:\n  - {name: p, config: {limits.cpu: null}}\n"), 8,
                 "null is only allowed in server config")


def test_secrets_in_object_configs_not_in_devices():
    desired, _ = ok(doc("projects:\n  - {name: p, config: {user.x: {env: X}}}\n"))
    assert desired.projects[0].config["user.x"] == Secret("env", "X")
    assert_error(doc("profiles:\n  - name: p\n    devices: {d: {type: disk, path: {env: X}}}\n"),
                 9, "secrets are accepted in config maps and a member's trust, not in devices")


def test_force_remove():
    text = HEAD.replace("cluster:\n", "cluster:\n  force_remove: [node4, node2]\n")
    assert_error(text, 3, 'force_remove lists "node2", which is still in cluster.members')
    assert ok(HEAD.replace("cluster:\n", "cluster:\n  force_remove: [node4]\n"))[0].force_remove == ("node4",)


# -- pools and networks --------------------------------------------------------------------------

def test_pool_member_specific_key_in_config():
    text = doc("storage_pools:\n  - {name: a, driver: dir}\n  - name: b\n    driver: dir\n"
               "    config: {source: /x}\n")
    assert_error(text, 11, '"source" is member-specific for dir pools: put it under storage_pools[1].members.<member>')


def test_pool_cluster_wide_key_under_members():
    text = doc("storage_pools:\n  - name: a\n    driver: zfs\n    members:\n      node1: {volume.size: 1GiB}\n")
    assert_error(text, 11, '"volume.size" is not member-specific for zfs pools',
                 "put it under storage_pools[0].config")


def test_pool_members_must_be_declared():
    text = doc("storage_pools:\n  - name: a\n    driver: dir\n    members:\n      node9: {source: /x}\n")
    assert_error(text, 11, 'storage_pools[0].members names "node9", which is not in cluster.members')


def test_pool_valid_and_members_without_keys_dropped():
    text = doc("""\
        storage_pools:
          - name: data
            driver: zfs
            config: {volume.size: 10GiB}
            members:
              node1: {source: /dev/vdb, size: 20}
              node2: {}
        """)
    pool = ok(text)[0].storage_pools[0]
    assert pool.config == {"volume.size": "10GiB"}
    assert pool.members == {"node1": {"source": "/dev/vdb", "size": "20"}}
    assert pool.line == 8


def test_a_driver_no_server_has_is_refused():
    # (it used to pass, with the union of member keys, and LXD refused it at apply)
    text = doc("storage_pools:\n  - name: a\n    driver: newfs\n    members:\n      node1: {zfs.pool_name: x}\n")
    assert_error(text, 9, '"newfs" is not a storage driver of LXD or Incus')


def test_duplicate_pools():
    assert_error(doc("storage_pools:\n  - {name: a, driver: dir}\n  - {name: a, driver: zfs}\n"), 9,
                 "storage pool is declared twice")


def test_network_split_and_ovn():
    text = doc("networks:\n  - name: br\n    config: {bridge.external_interfaces: eth1}\n")
    assert_error(text, 9, '"bridge.external_interfaces" is member-specific for bridge networks',
                 "networks[0].members.<member>")
    text = doc("networks:\n  - name: o\n    type: ovn\n    members: {node1: {parent: x}}\n")
    assert_error(text, 10, "OVN networks take no members")
    text = doc("networks:\n  - name: br\n    members: {node2: {bridge.external_interfaces: eth1}}\n")
    net = ok(text)[0].networks[0]
    assert (net.type, net.members) == ("bridge", {"node2": {"bridge.external_interfaces": "eth1"}})


def test_duplicate_networks():
    assert_error(doc("networks:\n  - {name: n}\n  - {name: n}\n"), 9, "network is declared twice")


# -- profiles, projects, volumes -----------------------------------------------------------------

def test_profile_references():
    base = "storage_pools:\n  - {name: p, driver: dir}\nnetworks:\n  - {name: br}\nprofiles:\n  - name: default\n    devices:\n"
    assert_error(doc(base + "      root: {type: disk, path: /, pool: q}\n"), 14, 'uses storage pool "q"')
    assert_error(doc(base + "      eth0: {type: nic, parent: br9}\n"), 14, 'has parent "br9"')
    # A bridged nic may use a host bridge LXD does not manage: a warning, not an error.
    _desired, warnings = ok(doc(base + "      eth0: {type: nic, nictype: bridged, parent: br9}\n"))
    assert [(w.line, "must be a bridge that exists on every member's host" in w.message)
            for w in warnings] == [(14, True)]
    assert_error(doc(base + "      eth0: {type: nic, network: br9}\n"), 14, 'uses network "br9"')
    assert_error(doc(base + "      x: {path: /y}\n"), 14, "profiles[0].devices.x.type is missing")
    good = doc(base + "      root: {type: disk, path: /, pool: p}\n"
                      "      eth0: {type: nic, nictype: bridged, parent: br}\n"
                      "      eth1: {type: nic, nictype: macvlan, parent: enp5s0}\n")
    profile = ok(good)[0].profiles[0]
    assert profile.devices["root"] == {"type": "disk", "path": "/", "pool": "p"}


def test_profiles_unique_per_project():
    text = doc("projects:\n  - {name: s}\nprofiles:\n  - {name: a}\n  - {name: a, project: s}\n")
    assert [p.project for p in ok(text)[0].profiles] == ["default", "s"]
    assert_error(doc("profiles:\n  - {name: a}\n  - {name: a}\n"), 9, "profile (per project) is declared twice")
    assert_error(doc("profiles:\n  - {name: a, project: x}\n"), 8, 'is in project "x", which is not declared')


def test_projects_unique():
    assert_error(doc("projects:\n  - {name: s}\n  - {name: s}\n"), 9, "project is declared twice")


def test_volumes():
    base = "storage_pools:\n  - {name: data, driver: dir}\nstorage_volumes:\n"
    good = doc(base + "  - {pool: data, name: web, member: node1, config: {size: 1GiB}}\n"
                      "  - {pool: data, name: web, member: node2}\n")
    vols = ok(good)[0].storage_volumes
    assert [(v.member, v.line) for v in vols] == [("node1", 10), ("node2", 11)]
    assert_error(doc(base + "  - {pool: data, name: web, member: node1}\n  - {pool: data, name: web, member: node1}\n"),
                 11, "storage volume (per project, pool and member) is declared twice")
    assert_error(doc(base + "  - {pool: nope, name: web, member: node1}\n"), 10, 'storage pool "nope"')
    assert_error(doc(base + "  - {pool: data, name: web, member: node9}\n"), 10, 'on member "node9"')
    assert_error(doc(base + "  - {pool: data, name: web}\n"), 10, "local to each member: add member")


# -- examples and the CLI ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["seed-walkthrough.yaml", "minimal.yaml"])
def test_examples_validate(name):
    desired, warnings = load(str(ROOT / "examples" / name))
    assert desired.members
    if name == "minimal.yaml":
        assert [w.message for w in warnings] == [
            "1 member(s): the cluster cannot survive losing a member (3 or more keep quorum)"]
    else:
        assert warnings == []
        assert desired.storage_pools[1].members["node2"] == {"source": "/var/lib/lxdplan-data/node2"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lxdplan", "validate", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_cli_reports_every_error_with_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(doc("stroage_pools: []\nnetworks:\n  - {name: n, config: {parent: x}, type: macvlan}\n"
                     "profiles:\n  - {name: p, project: nope}\n"))
    result = run_cli("-f", str(f))
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    lines = [ln for ln in output.splitlines() if f"{f}:" in ln]
    assert [ln.split(f"{f}:")[1].split(":")[0] for ln in lines] == ["7", "9", "11"]


def test_cli_valid_and_missing(tmp_path):
    result = run_cli("-f", str(ROOT / "examples" / "seed-walkthrough.yaml"))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    missing = run_cli("-f", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr


def test_two_images_pinned_to_one_fingerprint_are_an_error():
    fp = "ab" * 32
    text = doc(f"""
        images:
          - {{name: a, source: {{file: a.tar.xz}}, fingerprint: "{fp}"}}
          - {{name: b, source: {{file: b.tar.xz}}, fingerprint: "{fp}"}}
        """)
    errors = errors_of(text)
    assert any('pins the same image as images[0] ("a")' in message for _line, message in errors), errors


def test_a_secret_key_in_plain_text_is_a_warning():
    text = HEAD.replace("cluster:\n", "cluster:\n  config: {candid.api.key: plain}\n")
    text += "instances:\n  - {name: c, image: i, config: {environment.DB_PASSWORD: x}}\n"
    _, warnings = ok(text.replace("version: 1\n", "version: 1\nimages:\n  - {name: i, source: {file: i.tar}}\n"))
    messages = [w.message for w in warnings]
    assert any('cluster.config["candid.api.key"] holds a secret written in plain text' in m
               for m in messages), messages
    assert any("environment.DB_PASSWORD" in m and "plain text" in m for m in messages), messages
